"""docs/push.md's verification example, run as written against what the relay sends."""
from __future__ import annotations

import re
import time

from sendmailproxy.push import notification
from sendmailproxy.push.settings import decode_secret
from testkit.harness import ROOT
from tests.push.conftest import event, new_secret


def example_app(secret: str, handled: list, seen: set):
    """The Flask app of the page's Python example, with this test's secret and its two helpers."""
    [code] = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "push.md").read_text(), re.S)
    namespace = {"__name__": "docs_push_example", "__file__": __file__, "handle": lambda type, data: handled.append((type, data)),
                 "already_seen": lambda webhook_id: webhook_id in seen or seen.add(webhook_id)}
    exec(code.replace('"whsec_..."', repr(secret)), namespace)  # noqa: S102 - our own documentation
    return namespace["app"]


def test_the_example_accepts_our_push_once_and_refuses_a_forgery():
    secret, handled, seen = new_secret(), [], set()
    client = example_app(secret, handled, seen).test_client()
    body = notification.body(event(1, type="bounced"))
    headers = notification.headers([decode_secret(secret)], event(1).id, int(time.time()), body)
    assert client.post("/hooks/email", data=body, headers=headers).status_code == 204
    assert client.post("/hooks/email", data=body, headers=headers).status_code == 204  # a duplicate: skipped
    assert handled == [("email.bounced", event(1, type="bounced").to_json())]
    forged = notification.headers([decode_secret(new_secret())], event(2).id, int(time.time()), body)
    assert client.post("/hooks/email", data=body, headers=forged).status_code == 400
