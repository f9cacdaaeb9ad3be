"""GET /events: the key, paging by cursor, the filters, and a clear JSON error for a bad query or a store down."""
from __future__ import annotations

import dataclasses

import pytest

from sendmailproxy.events import open_events
from sendmailproxy.events.model import Event
from sendmailproxy.store import open_backend
from testkit.ports import free_port
from testkit.redisserver import RedisServer, redis_server  # noqa: F401 - a fixture
from tests.api.support import KEY, OLD_KEY


@pytest.fixture(params=["sqlite", "redis"])
def events(request, app, tmp_path):
    """The app's events store, on a fresh SQLite file or a real redis-server (their cursors differ)."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/events.sqlite3"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.url
    store = open_events(open_backend(url))
    _use(app, store)
    return store


def _use(app, store) -> None:
    service = app.extensions["sendmailproxy"]
    app.extensions["sendmailproxy"] = dataclasses.replace(service, events=store)


def event(n: int, message_id: str = "<m1@mg.example.com>", recipient: str = "ann@example.com") -> Event:
    return Event(id=f"ev_{n:032d}", type="delivered", provider="mailgun", message_id=message_id,
                 recipient=recipient, occurred_at="2026-12-03T13:23:06Z", reason="250 OK",
                 metadata={"order": str(n)}, tags=("orders",))


def read(client, key: str = KEY, **query):
    return client.get("/events", query_string=query, headers={"X-API-KEY": key})


def ids(response) -> list[str]:
    return [item["id"] for item in response.get_json()["events"]]


@pytest.mark.parametrize("headers", [{}, {"X-API-KEY": "wrong"}], ids=["no key", "wrong key"])
def test_the_feed_needs_an_api_key(client, events, headers):
    events.add([event(1)])
    response = client.get("/events", headers=headers)
    assert response.status_code == 401
    assert "events" not in response.get_json()


def test_either_key_of_a_rotation_reads_the_feed(client, events):
    events.add([event(1)])
    assert ids(read(client, OLD_KEY)) == ids(read(client)) == [event(1).id]


def test_an_empty_feed_answers_no_events_and_a_cursor_that_reads_on(client, events):
    empty = read(client).get_json()
    assert empty["events"] == []
    events.add([event(1)])
    assert ids(read(client, after=empty["next"])) == [event(1).id]


def test_events_come_whole_in_the_order_received(client, events):
    events.add([event(2)])
    events.add([event(1), event(3, recipient="bob@example.com")])
    response = read(client)
    assert ids(response) == [event(2).id, event(1).id, event(3).id]
    assert response.get_json()["events"][0] == {
        "id": event(2).id, "type": "delivered", "provider": "mailgun", "message_id": "<m1@mg.example.com>",
        "recipient": "ann@example.com", "occurred_at": "2026-12-03T13:23:06Z", "reason": "250 OK",
        "metadata": {"order": "2"}, "tags": ["orders"]}


def test_next_as_after_reads_only_newer_events_and_none_gives_the_cursor_back(client, events):
    events.add([event(n) for n in range(5)])
    first = read(client, limit=2).get_json()
    second = read(client, limit=2, after=first["next"]).get_json()
    third = read(client, limit=2, after=second["next"]).get_json()
    seen = [item["id"] for page in (first, second, third) for item in page["events"]]
    assert seen == [event(n).id for n in range(5)]
    drained = read(client, after=third["next"]).get_json()
    assert drained == {"events": [], "next": third["next"]}
    events.add([event(5)])
    assert ids(read(client, after=third["next"])) == [event(5).id]


def test_limit_defaults_to_100_and_takes_up_to_1000(client, events):
    events.add([event(n) for n in range(1001)])
    assert len(ids(read(client))) == 100
    assert len(ids(read(client, limit=1000))) == 1000
    assert ids(read(client, limit=1)) == [event(0).id]


def test_filters_by_message_and_by_recipient_ignoring_case(client, events):
    events.add([event(1), event(2, message_id="<m2@mg.example.com>"), event(3, recipient="bob@example.com"),
                event(4, message_id="<m2@mg.example.com>", recipient="bob@example.com")])
    assert ids(read(client, message_id="<m2@mg.example.com>")) == [event(2).id, event(4).id]
    assert ids(read(client, recipient="BOB@Example.com")) == [event(3).id, event(4).id]
    assert ids(read(client, message_id="<m2@mg.example.com>", recipient="bob@example.com")) == [event(4).id]
    assert ids(read(client, message_id="<unknown@mg.example.com>")) == []


def test_a_filtered_cursor_reads_on_in_the_same_filter(client, events):
    events.add([event(1, recipient="bob@example.com"), event(2), event(3, recipient="bob@example.com")])
    first = read(client, recipient="bob@example.com", limit=1).get_json()
    assert ids(read(client, recipient="bob@example.com", after=first["next"])) == [event(3).id]


# id: (query, the parameter `errors` must name)
BAD_QUERIES = {
    "limit 0": ({"limit": "0"}, "limit"),
    "limit 1001": ({"limit": "1001"}, "limit"),
    "negative limit": ({"limit": "-1"}, "limit"),
    "limit not a number": ({"limit": "ten"}, "limit"),
    "fractional limit": ({"limit": "1.5"}, "limit"),
    "limit with a space": ({"limit": " 10"}, "limit"),
    "limit with an underscore": ({"limit": "1_0"}, "limit"),
    "huge limit": ({"limit": "9" * 40}, "limit"),
    "empty limit": ({"limit": ""}, "limit"),
    "limit twice": ({"limit": ["1", "2"]}, "limit"),
    "unknown parameter": ({"recipeint": "ann@example.com"}, "recipeint"),
    "empty recipient": ({"recipient": ""}, "recipient"),
    "empty after": ({"after": ""}, "after"),
    "a cursor the feed did not give": ({"after": "yesterday"}, "after"),
    "a cursor with a newline": ({"after": "1\n"}, "after"),
    "a sequence number past SQLite's integers": ({"after": "9223372036854775808"}, "after"),
    "a stream id past Redis's": ({"after": "18446744073709551616-0"}, "after"),
    "the largest stream id, with none after it": ({"after": "18446744073709551615-18446744073709551615"}, "after"),
}


@pytest.mark.parametrize("query, parameter", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_a_bad_query_is_422_naming_the_parameter(client, events, query, parameter):
    events.add([event(1)])
    response = read(client, **query)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["message"] == "The query is invalid; see errors."
    assert parameter in response.get_json()["errors"], response.get_json()


def test_a_store_that_cannot_be_reached_is_a_503_to_retry(client, app):
    _use(app, open_events(open_backend(f"redis://127.0.0.1:{free_port()}/0")))  # nothing listens there
    response = read(client)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json() == {"message": "The events store cannot be reached; retry later.",
                                   "code": "events_store_unavailable", "retry_after": 1}


def test_the_key_is_checked_before_the_query_and_the_store(client, app):
    _use(app, open_events(open_backend(f"redis://127.0.0.1:{free_port()}/0")))
    assert client.get("/events?limit=0").status_code == 401
    assert read(client, limit=0).status_code == 422
