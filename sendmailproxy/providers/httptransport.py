"""How an HTTP adapter sends: one pooled session each, one POST, and exceptions turned into one outcome per call.

What each answer means is in httpanswers.py; each adapter's `_classify` reads it there.
"""
from __future__ import annotations

import abc
import functools
import os
from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter

from sendmailproxy.message import Message, probe_message
from sendmailproxy.providers.base import NOT_ACCEPTED, Outcome, Provider, ProviderOptions
from sendmailproxy.providers.httpanswers import TRANSPORT_ERRORS, transport_outcome
from sendmailproxy.providers.reasons import redact, truncate
from sendmailproxy.version import __version__

USER_AGENT = f"sendmailproxy/{__version__}"


class UnsignedError(Exception):
    """A call could not be authenticated (no credentials, or they could not be refreshed): it was not sent."""


class PinnedPoolAdapter(HTTPAdapter):
    """An HTTPAdapter that resolves a URL's connection pool and request target once, not on every call.

    On each send HTTPAdapter parses the URL three times, selects the proxy twice and looks the pool up in
    urllib3's PoolManager under its lock: about 40 µs a call, the same answer every time for one URL and one
    set of TLS and proxy settings until `close`. The caches take no lock: threads that miss at once compute
    the same answer, and the PoolManager hands them its one pool.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pools: dict[tuple, Any] = {}
        self._targets: dict[tuple, str] = {}

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: dict[str, str] | None = None, cert: Any = None) -> Any:
        key = (request.url, verify, cert, tuple(proxies.items()) if proxies else ())
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = super().get_connection_with_tls_context(request, verify, proxies, cert)
        return pool

    def request_url(self, request: requests.PreparedRequest, proxies: dict[str, str] | None) -> str:
        key = (request.url, tuple(proxies.items()) if proxies else ())
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = super().request_url(request, proxies)
        return target

    def close(self) -> None:
        self._pools, self._targets = {}, {}
        super().close()


def build_session(base_url: str, pool_size: int) -> requests.Session:
    """A session pooling a keep-alive connection per thread, with the environment's settings read once, now."""
    session = requests.Session()
    adapter = PinnedPoolAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # With trust_env on, requests re-reads proxy variables, netrc and CA variables on every call, and proxy
    # bypass checks are slow; the answer cannot change for a fixed base URL, so compute it once here.
    session.trust_env = False
    proxy = requests.utils.select_proxy(base_url, requests.utils.get_environ_proxies(base_url))
    session.proxies = {urlparse(base_url).scheme: proxy} if proxy else {}
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


class HttpProvider(Provider):
    """What every HTTP adapter shares: the session, the POST, and exceptions converted where they enter.

    A subclass gives `_payload` (the message as request arguments) and `_classify` (an answer as an outcome),
    and sets its auth on `self._session` in `__init__` (or signs each call in `_sign`); `_post` does the rest,
    taking no lock of ours or of the session's (tests/api/test_send_path_locks.py).
    """

    def __init__(self, options: ProviderOptions, base_url: str, path: str, secret: str):
        self._session = build_session(base_url, options.pool_size)
        self._adapter = self._session.get_adapter(base_url)
        # What Session.send would hand the adapter on each call, as build_session resolved it.
        self._transport = {"proxies": self._session.proxies, "verify": self._session.verify,
                           "cert": self._session.cert}
        self._base_url = base_url
        self._url = base_url + path
        self._timeout = (options.timeout, options.timeout)
        self.max_send_seconds = sum(self._timeout)
        self._secret = secret
        self._probe_message = probe_message(options.poll_address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    def send(self, message: Message) -> Outcome:
        """Send a real message."""
        return self._post(self._payload(message, test_mode=False))

    def probe(self) -> Outcome:
        """Send the poll message in the provider's no-delivery mode."""
        return self._post(self._payload(self._probe_message, test_mode=True))

    @abc.abstractmethod
    def _payload(self, message: Message, test_mode: bool) -> dict[str, Any]:
        """The `data`, `files`, `json` and `headers` arguments of a `requests.Request` that carry this message."""

    @abc.abstractmethod
    def _classify(self, response: requests.Response) -> Outcome:
        """The outcome of an HTTP answer."""

    @functools.cached_property
    def _template(self) -> requests.PreparedRequest:
        # URL, headers and auth are the same for every call: prepared once (after the subclass set its auth),
        # then copied and given a body.
        return self._session.prepare_request(requests.Request("POST", self._url))

    def _sign(self, prepared: requests.PreparedRequest) -> None:
        """Authenticate this one call, for providers whose signature covers the body (SigV4).

        The others authenticate once, in the template. Raises UnsignedError when it cannot.
        """

    def _post(self, request: dict[str, Any]) -> Outcome:
        prepared = self._template.copy()
        prepared.headers.update(request.get("headers", ()))
        prepared.prepare_body(request.get("data"), request.get("files"), request.get("json"))
        try:
            self._sign(prepared)
            # Straight to the pooled adapter: Session.send would resolve proxies again, dispatch hooks, set up
            # redirects, and store each answer's cookies in the session's jar under a lock every thread shares.
            response = self._adapter.send(prepared, timeout=self._timeout, **self._transport)
            # Read whole, as Session.send does: the connection goes back to the pool, and a body cut short
            # raises here, a transport error like any other.
            response.content  # noqa: B018
        except UnsignedError as error:  # nothing left this process
            outcome = Outcome(NOT_ACCEPTED, truncate(f"could not sign the request: {error}"), operator_must_act=True)
        except TRANSPORT_ERRORS as error:
            outcome = transport_outcome(error)
        else:
            outcome = self._classify(response)
        return redact(outcome, self._secret)
