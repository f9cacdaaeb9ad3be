"""The admin API on the suppression list: its own keys (each auth case a test), and reading, adding and lifting."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from prometheus_client import REGISTRY

from sendmailproxy.config import Config
from sendmailproxy.store.redis import RedisBackend
from sendmailproxy.suppression import open_suppressions
from sendmailproxy.suppression.store import Entry
from testkit.ports import free_port
from tests.api.support import KEY, MINIMAL, OLD_KEY

ADMIN_KEY = "admin-key-0123456789abcdef"
OLD_ADMIN_KEY = "admin-key-previous-fedcba9876"  # still valid during a rotation
ADMIN = {"X-API-KEY": ADMIN_KEY}
BOUNCED = Entry("bounced@example.com", "bounced", "sendgrid", "2026-12-03T13:23:06Z", "ev_" + "1" * 32)
# Every admin route, with a body that would succeed for a PUT.
ROUTES = [("GET", "/suppressions", None), ("GET", "/suppressions/bounced@example.com", None),
          ("PUT", "/suppressions/new@example.com", {"reason": "asked"}),
          ("DELETE", "/suppressions/bounced@example.com", None)]


@pytest.fixture
def config(config: Config) -> Config:
    return dataclasses.replace(config, admin_api_keys=(ADMIN_KEY, OLD_ADMIN_KEY))


@pytest.fixture
def suppressions(app):
    store = app.extensions["sendmailproxy"].suppressions
    store.add(BOUNCED)
    return store


def call(client, method: str, path: str, body=None, headers=ADMIN):
    return client.open(path, method=method, json=body, headers=headers)


def added(reason: str) -> float:
    return REGISTRY.get_sample_value("smsp_suppressions_added_total", {"reason": reason}) or 0.0


def lifted() -> float:
    return REGISTRY.get_sample_value("smsp_suppressions_lifted_total") or 0.0


# Auth: each case a test, on every route.

@pytest.mark.parametrize("method, path, body", ROUTES)
def test_no_key_is_401(client, suppressions, method, path, body):
    assert call(client, method, path, body, headers={}).status_code == 401
    assert suppressions.lookup(["bounced@example.com", "new@example.com"]) == {"bounced@example.com": BOUNCED}


@pytest.mark.parametrize("client_key", [KEY, OLD_KEY])
@pytest.mark.parametrize("method, path, body", ROUTES)
def test_a_client_key_is_403(client, suppressions, method, path, body, client_key):
    response = call(client, method, path, body, headers={"X-API-KEY": client_key})
    assert response.status_code == 403 and "client API key" in response.get_json()["message"]
    assert suppressions.lookup(["bounced@example.com", "new@example.com"]) == {"bounced@example.com": BOUNCED}


@pytest.mark.parametrize("wrong", ["admin-key-0123456789abcdeF", "x", ADMIN_KEY + " ", f"{ADMIN_KEY},{OLD_ADMIN_KEY}"])
@pytest.mark.parametrize("method, path, body", ROUTES)
def test_an_unknown_key_is_401(client, suppressions, method, path, body, wrong):
    response = call(client, method, path, body, headers={"X-API-KEY": wrong})
    assert response.status_code == 401 and wrong not in response.get_data(as_text=True)
    assert suppressions.lookup(["bounced@example.com", "new@example.com"]) == {"bounced@example.com": BOUNCED}


@pytest.mark.parametrize("admin_key", [ADMIN_KEY, OLD_ADMIN_KEY])
@pytest.mark.parametrize("method, path, body", ROUTES)
def test_every_admin_key_of_a_rotation_works(client, suppressions, method, path, body, admin_key):
    assert call(client, method, path, body, headers={"X-API-KEY": admin_key}).status_code in (200, 201, 204)


@pytest.mark.parametrize("headers", [{}, {"X-API-KEY": KEY}, {"X-API-KEY": ADMIN_KEY}])
@pytest.mark.parametrize("method, path, body", ROUTES)
def test_with_no_admin_key_configured_everyone_gets_403(app, config, method, path, body, headers):
    app.extensions["sendmailproxy"] = dataclasses.replace(
        app.extensions["sendmailproxy"], config=dataclasses.replace(config, admin_api_keys=()))
    response = call(app.test_client(), method, path, body, headers=headers)
    assert response.status_code == 403 and "SMSP_ADMIN_API_KEY" in response.get_json()["message"]


def test_an_admin_key_cannot_send_mail(client):
    assert client.post("/email", json=MINIMAL, headers=ADMIN).status_code == 401


# Reading, adding, lifting.

def test_get_answers_the_entry_ignoring_case(client, suppressions):
    response = call(client, "GET", "/suppressions/Bounced@EXAMPLE.com")
    assert response.status_code == 200 and response.get_json() == BOUNCED.to_json()


def test_get_of_an_unlisted_address_is_404(client, suppressions):
    response = call(client, "GET", "/suppressions/fine@example.com")
    assert response.status_code == 404 and "not on the suppression list" in response.get_json()["message"]


def test_put_lists_by_hand_and_twice_is_once(client, suppressions):
    before = added("manual")
    first = call(client, "PUT", "/suppressions/Ann@Example.com", {"reason": "Asked by phone (ticket 4711)"})
    assert first.status_code == 201 and first.headers["Location"] == "/suppressions/ann@example.com"
    entry = first.get_json()
    assert {k: v for k, v in entry.items() if k != "since"} == {
        "address": "ann@example.com", "reason": "manual", "provider": None, "event_id": None,
        "note": "Asked by phone (ticket 4711)"}
    again = call(client, "PUT", "/suppressions/ann@example.com", {"reason": "again"})
    assert again.status_code == 200 and again.get_json() == entry
    assert added("manual") == before + 1
    assert call(client, "GET", "/suppressions/ann@example.com").get_json() == entry


def test_put_on_an_address_listed_by_a_bounce_keeps_the_bounce(client, suppressions):
    response = call(client, "PUT", "/suppressions/bounced@example.com", {"reason": "to be sure"})
    assert response.status_code == 200 and response.get_json() == BOUNCED.to_json()


def test_delete_lifts_and_the_address_gets_mail_again(client, suppressions, providers):
    before = lifted()
    assert client.post("/email", json={**MINIMAL, "toaddress": "bounced@example.com"},
                       headers={"X-API-KEY": KEY}).status_code == 422
    response = call(client, "DELETE", "/suppressions/BOUNCED@example.com")
    assert response.status_code == 204 and response.get_data() == b""
    assert call(client, "DELETE", "/suppressions/bounced@example.com").status_code == 404
    assert lifted() == before + 1
    assert client.post("/email", json={**MINIMAL, "toaddress": "bounced@example.com"},
                       headers={"X-API-KEY": KEY}).status_code == 200
    assert len(providers[0].sent) == 1


def test_an_address_with_a_slash_works_percent_encoded(client):
    assert call(client, "PUT", "/suppressions/a%2Fb@example.com", {"reason": "r"}).status_code == 201
    assert call(client, "GET", "/suppressions/a%2Fb@example.com").get_json()["address"] == "a/b@example.com"
    assert call(client, "DELETE", "/suppressions/a%2Fb@example.com").status_code == 204


def test_the_list_pages_by_address_and_gives_the_same_cursor_back_at_the_end(client, suppressions):
    for name in ("erin", "carl", "dana", "ann"):
        call(client, "PUT", f"/suppressions/{name}@example.com", {"reason": "r"})
    first = call(client, "GET", "/suppressions?limit=2").get_json()
    assert [e["address"] for e in first["suppressions"]] == ["ann@example.com", "bounced@example.com"]
    second = call(client, "GET", f"/suppressions?limit=2&after={first['next']}").get_json()
    assert [e["address"] for e in second["suppressions"]] == ["carl@example.com", "dana@example.com"]
    third = call(client, "GET", f"/suppressions?after={second['next']}").get_json()
    assert [e["address"] for e in third["suppressions"]] == ["erin@example.com"]
    end = call(client, "GET", f"/suppressions?after={third['next']}").get_json()
    assert end == {"suppressions": [], "next": third["next"]}
    assert call(client, "GET", "/suppressions").get_json()["suppressions"][1] == BOUNCED.to_json()


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
                                          ("limit=-1", "limit"), ("limit=", "limit"), ("after=%25%25", "after"),
                                          ("after=_w", "after")])
def test_a_bad_query_is_422_naming_the_parameter(client, suppressions, query, field):
    response = call(client, "GET", f"/suppressions?{query}")
    assert response.status_code == 422 and list(response.get_json()["errors"]) == [field]


@pytest.mark.parametrize("method, body", [("GET", None), ("PUT", {"reason": "r"}), ("DELETE", None)])
@pytest.mark.parametrize("address", ["not-an-address", "Ann <ann@example.com>", "ann@example.com,bob@example.com",
                                     "a@b", "x" * 250 + "@example.com", "an n@example.com", "ann@example.com."])
def test_a_path_that_is_not_one_address_is_422(client, method, body, address):
    response = call(client, method, f"/suppressions/{address}", body)
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["address"]


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "a\nb"}, {"reason": 7},
                                  {"reason": "r", "provider": "ses"}])
def test_a_put_body_that_breaks_the_schema_is_422(client, body):
    response = call(client, "PUT", "/suppressions/ann@example.com", body)
    assert response.status_code == 422 and response.get_json()["errors"]
    assert call(client, "GET", "/suppressions/ann@example.com").status_code == 404


def test_a_put_body_not_json_is_415_and_too_large_is_413(client):
    assert client.put("/suppressions/ann@example.com", data="reason=r", headers=ADMIN,
                      content_type="application/x-www-form-urlencoded").status_code == 415
    assert call(client, "PUT", "/suppressions/ann@example.com", {"reason": "r" * 5000}).status_code == 413


def test_changes_are_logged_with_the_keys_hint_never_the_key(client, capfd):
    capfd.readouterr()
    call(client, "PUT", "/suppressions/ann@example.com", {"reason": "asked"})
    call(client, "DELETE", "/suppressions/ann@example.com", headers={"X-API-KEY": OLD_ADMIN_KEY})
    out = capfd.readouterr().out
    assert ADMIN_KEY not in out and OLD_ADMIN_KEY not in out
    lines = [json.loads(line) for line in out.splitlines()]
    changes = [(line["message"], line["address"], line["admin_key"]) for line in lines
               if line["message"].startswith("suppression ")]
    assert changes == [("suppression added", "ann@example.com", hashlib.sha256(ADMIN_KEY.encode()).hexdigest()[:8]),
                       ("suppression lifted", "ann@example.com",
                        hashlib.sha256(OLD_ADMIN_KEY.encode()).hexdigest()[:8])]


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_a_store_outage_is_a_503(app, client, method, path, body):
    unreachable = open_suppressions(RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=1))
    app.extensions["sendmailproxy"] = dataclasses.replace(app.extensions["sendmailproxy"], suppressions=unreachable)
    response = call(client, method, path, body)
    assert response.status_code == 503 and response.get_json()["code"] == "suppression_store_unavailable"
    assert response.headers["Retry-After"] == "1"
