"""The control API: switch faults at run time and read back what the fake providers received."""

import asyncio
import json
import time
from urllib.parse import parse_qs

from .http11 import Reply, Request, json_reply
from .records import Store
from .server import FaultError, ProviderEndpoint, next_request, send
from .webhooks import WebhookRequest, keys_of, post, post_webhooks

MAX_CONTROL_BODY = 1024 * 1024


class ControlApi:
    """Routes for tests: faults, messages, stats, health, and webhooks posted on demand."""

    def __init__(self, endpoints: dict[str, ProviderEndpoint], store: Store):
        self.endpoints, self.store = endpoints, store
        self._routes = {
            ("healthz",): {"GET": self._health},
            ("faults",): {"GET": self._faults, "DELETE": self._reset_faults},
            ("messages",): {"GET": self._messages, "DELETE": self._clear},
            ("stats",): {"GET": self._stats},
            ("webhooks",): {"POST": self._webhooks},
            ("webhooks", "keys"): {"GET": self._webhook_keys},
            ("sns", "subscriptions"): {"POST": self._subscribe, "GET": self._subscriptions},
        }

    async def serve(self, reader, writer) -> None:
        while (request := await next_request(reader, writer, MAX_CONTROL_BODY)) is not None:
            await send(writer, await self.handle(request), request.keep_alive)
            if not request.keep_alive:
                return

    async def handle(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if parts[0] == "faults" and len(parts) == 2:
            if parts[1] not in self.endpoints:
                return _error(404, f"unknown provider {parts[1]!r}")
            methods = {"PUT": self._set_fault}
        else:
            methods = self._routes.get(tuple(parts))
        if methods is None:
            return _error(404, f"no route {request.path}")
        if request.method not in methods:
            return _error(405, f"use {' or '.join(methods)}")
        try:
            return await methods[request.method](request, *parts[1:])
        except (FaultError, ValueError) as exc:  # ValueError: a JSON body that does not parse
            return _error(400, str(exc))
        except OSError as exc:  # a stopped provider could not bind its port again
            return _error(409, f"cannot listen again: {exc}")

    async def _health(self, request) -> Reply:
        return json_reply(200, {"status": "ok"})

    async def _faults(self, request) -> Reply:
        return json_reply(200, {name: e.fault.describe() for name, e in self.endpoints.items()})

    async def _set_fault(self, request, provider: str) -> Reply:
        endpoint = self.endpoints[provider]
        params = json.loads(request.body or b"{}")
        if not isinstance(params, dict):
            raise FaultError("the body must be a JSON object")
        fault = endpoint.parse_fault(params)
        await endpoint.set_fault(fault)
        return json_reply(200, fault.describe())

    async def _reset_faults(self, request) -> Reply:
        for endpoint in self.endpoints.values():
            await endpoint.set_fault(endpoint.parse_fault({"mode": "ok"}))
        return await self._faults(request)

    async def _messages(self, request) -> Reply:
        query = {k: v[-1] for k, v in parse_qs(request.query).items()}
        provider = query.get("provider")
        if provider is not None and provider not in self.endpoints:
            raise ValueError(f"unknown provider {provider!r}")
        probes = query.get("probes")
        if probes not in (None, "true", "false"):
            raise ValueError("probes must be true or false")
        probe = None if probes is None else probes == "true"
        return json_reply(200, {"messages": self.store.messages(provider, probe)})

    async def _clear(self, request) -> Reply:
        self.store.clear()
        return Reply(204)

    async def _stats(self, request) -> Reply:
        return json_reply(200, self.store.stats())

    async def _webhooks(self, request) -> Reply:
        """Post the provider's signed webhook for a recorded message; answer what the receiver answered."""
        params = json.loads(request.body or b"{}")
        if not isinstance(params, dict):
            raise ValueError("the body must be a JSON object")
        record = next((m for m in self.store.messages() if m["id"] == params.get("message_id")), None)
        if record is None:
            return _error(404, f"no recorded message {params.get('message_id')!r}")
        api = self.endpoints[record["provider"]].api
        if not hasattr(api, "webhook_posts"):
            return _error(400, f"{record['provider']} has no webhooks")
        return json_reply(200, {"posts": await post_webhooks(api, WebhookRequest(params, record))})

    async def _webhook_keys(self, request, _keys) -> Reply:
        return json_reply(200, keys_of(self.endpoints))

    async def _subscribe(self, request, _subscriptions) -> Reply:
        """SNS subscribing an HTTPS endpoint: post it the signed SubscriptionConfirmation ({"url",
        "signature_version"}); the endpoint confirms by GETting its SubscribeURL."""
        params = json.loads(request.body or b"{}")
        if not isinstance(params, dict) or not isinstance(params.get("url"), str):
            raise ValueError("the body must be a JSON object with the url to subscribe")
        if params.get("signature_version", "1") not in ("1", "2"):
            raise ValueError('signature_version must be "1" or "2"')
        topic = self.endpoints["ses"].api.sns
        body = topic.subscription_confirmation(params["url"], time.time(), params.get("signature_version", "1"))
        headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "SubscriptionConfirmation",
                   "x-amz-sns-topic-arn": topic.topic_arn}
        return json_reply(200, {"posts": [await asyncio.to_thread(post, params["url"], body, headers)]})

    async def _subscriptions(self, request, _subscriptions) -> Reply:
        return json_reply(200, {"confirmed": list(self.endpoints["ses"].api.sns.confirmed)})


def _error(status: int, message: str) -> Reply:
    return json_reply(status, {"error": message})
