"""The /docs page in headless Chromium: it renders the spec offline and "Try it out" sends a real email."""
from __future__ import annotations

import contextlib
import json
from urllib.parse import urlsplit

import pytest
import websocket

from testkit.harness import API_KEY

pytestmark = pytest.mark.functional

PROVIDERS = ("mailgun", "sendgrid")
RESPONSE = ".opblock-post .live-responses-table .response"  # the row Swagger UI adds for the answer received


@contextlib.contextmanager
def evidence_on_failure(page, service, tmp_path):
    """On failure, keep a screenshot of the page and show the service's log."""
    try:
        yield
    except BaseException:
        try:
            print(f"screenshot of the page: {page.screenshot(tmp_path / 'docs-failure.png')}")
        except (AssertionError, OSError, websocket.WebSocketException) as error:  # the browser itself broke
            print(f"no screenshot: {error!r}")
        print(f"--- {service.log_path} (tail) ---\n{service.log_tail()}")
        raise


def assert_only_loopback_requests(page, service):
    """The browser fetched nothing from any host but the service: no CDN, no validator badge."""
    foreign = [request["url"] for request in page.requests_sent()
               if urlsplit(request["url"]).scheme not in ("data", "blob")
               and urlsplit(request["url"]).hostname != "127.0.0.1"]
    assert foreign == [], f"the browser requested other hosts than {service.url}"


def operations_shown(page) -> list[str]:
    """The operations the page lists, as "METHOD /path"."""
    return page.evaluate("""Array.from(document.querySelectorAll('.opblock-summary')).map(summary =>
        summary.querySelector('.opblock-summary-method').textContent + ' ' +
        summary.querySelector('.opblock-summary-path').textContent.replace(/\\u200b/g, ''))""")


def test_docs_renders_every_operation_without_a_key(page, service, tmp_path):
    with evidence_on_failure(page, service, tmp_path):
        page.open(service.url + "/docs")
        page.wait_until("document.querySelectorAll('.opblock-summary').length > 0", "operations to render")

        assert {"POST /email", "GET /healthcheck"} <= set(operations_shown(page))
        assert_only_loopback_requests(page, service)


def test_try_it_out_sends_an_email_with_the_authorized_key(page, service, tmp_path):
    with evidence_on_failure(page, service, tmp_path):
        page.open(service.url + "/docs")
        page.click(".auth-wrapper .authorize", "Authorize")
        page.type_into(".auth-container input", API_KEY)
        page.click(".auth-btn-wrapper .authorize", "Authorize")
        page.click(".auth-btn-wrapper .btn-done", "Close")

        page.click(".opblock-post .opblock-summary-control", "/email")
        page.click(".opblock-post .try-out__btn", "Try it out")
        page.click(".opblock-post .execute", "Execute")
        status = page.text_of(f"{RESPONSE} .response-col_status")

        sent = [request for request in page.requests_sent() if request["method"] == "POST"]
        assert [request["url"] for request in sent] == [service.url + "/email"], "not sent to the same origin"
        assert {name.lower(): value for name, value in sent[0]["headers"].items()}.get("x-api-key") == API_KEY
        assert status == "200", page.text_of(RESPONSE)
        body = json.loads(page.text_of(f"{RESPONSE} .response-col_description pre"))
        assert body["provider"] in PROVIDERS
        assert_only_loopback_requests(page, service)
