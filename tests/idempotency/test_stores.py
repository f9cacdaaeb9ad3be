"""The store contract, run against SQLite and a real redis-server: one owner per key, fenced writes, expiry."""
from __future__ import annotations

import threading
import time


from sendmailproxy.idempotency.store import Abandoned, Finished, InFlight, Mismatch, Reserved

LONG = 60.0  # a lease or TTL no test outlives
SHORT = 0.2  # one a test waits out
KEY, FINGERPRINT = "k" * 64, "f" * 64


def wait_out(seconds: float) -> None:
    time.sleep(seconds + 0.1)


def test_a_new_key_is_reserved_and_its_repeat_is_in_flight(store):
    assert isinstance(store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG), Reserved)
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == InFlight()


def test_a_finished_answer_is_replayed_to_the_same_message_only(store):
    claim = store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG)
    assert store.mark_sending(KEY, claim.owner, "mailgun")
    assert store.finish(KEY, claim.owner, 200, '{"id":"1"}', LONG)
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == Finished(200, '{"id":"1"}')
    assert store.reserve(KEY, "another message", "mailgun", LONG, LONG) == Mismatch()


def test_a_different_message_is_a_mismatch_while_in_flight_too(store):
    store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG)
    assert store.reserve(KEY, "another message", "mailgun", LONG, LONG) == Mismatch()


def test_a_released_key_can_be_reserved_again(store):
    claim = store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG)
    assert store.release(KEY, claim.owner)
    assert isinstance(store.reserve(KEY, "any message now", "mailgun", LONG, LONG), Reserved)


def test_keys_are_independent(store):
    assert isinstance(store.reserve("a" * 64, FINGERPRINT, "mailgun", LONG, LONG), Reserved)
    assert isinstance(store.reserve("b" * 64, FINGERPRINT, "mailgun", LONG, LONG), Reserved)


def test_only_the_owner_writes(store):
    claim = store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG)
    assert not store.mark_sending(KEY, "not-the-owner", "mailgun")
    assert not store.finish(KEY, "not-the-owner", 200, "{}", LONG)
    assert not store.release(KEY, "not-the-owner")
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == InFlight()
    assert store.finish(KEY, claim.owner, 422, '{"message":"no"}', LONG)


def test_reservation_race_has_exactly_one_winner(make_store):
    # 32 threads, each with its own client (and so its own connection), released at once.
    stores = [make_store() for _ in range(32)]
    start = threading.Barrier(len(stores))
    claims = [None] * len(stores)

    def reserve(index: int) -> None:
        start.wait()
        claims[index] = stores[index].reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [claim for claim in claims if isinstance(claim, Reserved)]
    assert len(winners) == 1, claims
    assert claims.count(InFlight()) == len(stores) - 1


def test_a_record_is_forgotten_after_its_ttl(store):
    claim = store.reserve(KEY, FINGERPRINT, "mailgun", SHORT, LONG)
    assert store.finish(KEY, claim.owner, 200, "{}", SHORT)
    wait_out(SHORT)
    assert isinstance(store.reserve(KEY, "any message now", "mailgun", LONG, LONG), Reserved)


def test_the_ttl_runs_after_the_lease_so_an_unfinished_record_outlives_it(store):
    store.reserve(KEY, FINGERPRINT, "mailgun", LONG, SHORT)
    wait_out(SHORT)
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == InFlight()


def test_a_lease_that_runs_out_makes_the_outcome_unknown_for_good(store):
    claim = store.reserve(KEY, FINGERPRINT, "mailgun", SHORT, LONG)
    assert store.mark_sending(KEY, claim.owner, "sendgrid")  # failed over: sendgrid may have it now
    wait_out(SHORT)
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == Abandoned("sendgrid")
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == Abandoned("sendgrid")
    # Fenced: the late owner can neither send again, nor record its answer, nor free the key for a re-send.
    assert not store.mark_sending(KEY, claim.owner, "mailgun")
    assert not store.finish(KEY, claim.owner, 200, "{}", LONG)
    assert not store.release(KEY, claim.owner)
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == Abandoned("sendgrid")


def test_an_owner_past_its_lease_keeps_the_key_until_another_request_gives_it_up(store):
    claim = store.reserve(KEY, FINGERPRINT, "mailgun", SHORT, LONG)
    wait_out(SHORT)
    assert store.mark_sending(KEY, claim.owner, "sendgrid")
    assert store.finish(KEY, claim.owner, 200, '{"id":"1"}', LONG)
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == Finished(200, '{"id":"1"}')


def test_the_abandoned_answer_names_the_provider_the_reservation_named(store):
    store.reserve(KEY, FINGERPRINT, "mailgun", SHORT, LONG)
    wait_out(SHORT)
    assert store.reserve(KEY, FINGERPRINT, "sendgrid", LONG, LONG) == Abandoned("mailgun")


def test_a_finished_record_cannot_be_released(store):
    claim = store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG)
    store.finish(KEY, claim.owner, 200, "{}", LONG)
    assert not store.release(KEY, claim.owner)
    assert store.reserve(KEY, FINGERPRINT, "mailgun", LONG, LONG) == Finished(200, "{}")


def test_reachable(store):
    assert store.reachable()
