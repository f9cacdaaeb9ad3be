"""Chaos with retries: clients retry with their Idempotency-Key while Mailgun goes through faults, across two
pods sharing one redis-server. Afterwards every key was delivered at most once, and exactly once if its client
was ever told 200."""
from __future__ import annotations

import collections
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests

from testkit.polling import wait_until

pytestmark = pytest.mark.functional

PODS, WORKERS, THREADS, CLIENTS = 2, 2, 8, 12
PROVIDER_TIMEOUT, POLL_INTERVAL = 1.0, 0.5
FAULT_SECONDS, OK_SECONDS = 1.5, 0.5
# Mailgun's faults, each alone (Sendgrid takes over what provably was not sent), then both providers stopped:
# nothing is sent anywhere, so keys are released and their retries send once the providers are back.
FAULTS = [{"mailgun": ("hang", {})}, {"mailgun": ("lost_reply", {})}, {"mailgun": ("reset", {})},
          {"mailgun": ("status", {"status": 503})}, {"mailgun": ("stopped", {}), "sendgrid": ("stopped", {})}]
MAX_ATTEMPTS = 40  # per key; the store's answers end a key's retries long before
RETRY_PAUSE = 0.1
CLIENT_WALL_CLOCK = 120  # clients stop by themselves even if the test body dies
REQUEST_TIMEOUT = PROVIDER_TIMEOUT * 2 + 10
RETRY_ON = {409, 502, 503, 504}


@dataclass
class Key:
    """One message a client wants sent, and every answer its attempts got (None: a connection error)."""

    key: str
    answers: list[tuple[int | None, bool, dict | None]] = field(default_factory=list)  # status, replayed, body

    @property
    def subject(self) -> str:
        return f"idem-chaos-{self.key}"


class RetryingClients:
    """CLIENTS threads; each sends new messages, retrying each with its key on a random pod until it is settled."""

    def __init__(self, pods):
        self.pods = pods
        self.keys: list[list[Key]] = [[] for _ in range(CLIENTS)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)]

    def __enter__(self) -> "RetryingClients":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(MAX_ATTEMPTS * (REQUEST_TIMEOUT + RETRY_PAUSE))
        assert not any(t.is_alive() for t in self.threads), "a client thread did not stop"

    def _run(self, client: int) -> None:
        deadline = time.monotonic() + CLIENT_WALL_CLOCK
        sessions = [requests.Session() for _ in self.pods]
        while not self.stop.is_set() and time.monotonic() < deadline:
            key = Key(uuid.uuid4().hex)
            self.keys[client].append(key)
            for _ in range(MAX_ATTEMPTS):  # a key is finished even after stop, as a real client would
                pod = random.randrange(len(self.pods))
                if not self._attempt(self.pods[pod], sessions[pod], key):
                    break
                time.sleep(RETRY_PAUSE)

    @staticmethod
    def _attempt(pod, session: requests.Session, key: Key) -> bool:
        """One try; whether to try again."""
        try:
            response = pod.send(session, timeout=REQUEST_TIMEOUT, request_headers={"Idempotency-Key": key.key},
                                subject=key.subject)
        except requests.RequestException:
            key.answers.append((None, False, None))
            return True
        replay = response.headers.get("Idempotent-Replayed") == "true"
        key.answers.append((response.status_code, replay, response.json()))
        # A replayed 502/504 is the key's final word: the outcome is unknown and will never be sent again.
        return response.status_code in RETRY_ON and not replay

    def all_keys(self) -> list[Key]:
        return [key for keys in self.keys for key in keys]


def test_retries_with_keys_deliver_at_most_once_and_exactly_once_when_told_200(start_service, clean_fake,
                                                                             redis_server):
    fake = clean_fake
    env = dict(WEB_CONCURRENCY=WORKERS, SMSP_THREADS=THREADS, SMSP_PROVIDER_TIMEOUT=PROVIDER_TIMEOUT,
               SMSP_POLL_INTERVAL=POLL_INTERVAL, SMSP_IDEMPOTENCY_STORE=redis_server.url)
    pods = [start_service(**env) for _ in range(PODS)]
    with RetryingClients(pods) as clients:
        time.sleep(OK_SECONDS)
        for faults in FAULTS:
            for provider, (mode, params) in faults.items():
                fake.control.set_fault(provider, mode, **params)
            time.sleep(FAULT_SECONDS)
            fake.control.reset_faults()
            for pod in pods:
                for provider in faults:
                    wait_until(lambda: set(pod.circuit_states(provider).values()) == {"closed"},
                               "every circuit to close after the fault", 15, 0.1)
            time.sleep(OK_SECONDS)
    keys = clients.all_keys()
    records = collections.defaultdict(list)
    for record in fake.control.messages(probes=False):
        records[record["subject"]].append(record)
    figures = analyse(keys, records, fake.control.stats()["mailgun"]["by_status"])
    print(f"\nidempotency chaos: {figures}")

    assert figures["problems"] == [], figures["problems"][:10]
    assert figures["keys"] > 100 and figures["retried"] > 0
    # Every path the promise depends on was run: a delivered message whose answer was lost, kept and replayed;
    # an ambiguous outcome replayed instead of re-sent; a released key re-sent after "nothing sent".
    assert figures["lost_reply_deliveries"] > 0 and figures["replayed_unknown"] > 0
    assert figures["sent_after_a_retry"] > 0


def analyse(keys: list[Key], records: dict[str, list[dict]], mailgun_statuses: dict) -> dict:
    problems = []
    statuses = collections.Counter()
    figures = collections.Counter()
    for key in keys:
        delivered = records.get(key.subject, [])
        oks = [body for status, _, body in key.answers if status == 200]
        statuses.update(str(status or "transport") for status, _, _ in key.answers)
        if len(delivered) > 1:
            problems.append(f"{key.key} delivered {len(delivered)} times: {key.answers}")
        if oks:
            if len(delivered) != 1:
                problems.append(f"{key.key} told 200 but delivered {len(delivered)} times: {key.answers}")
            elif any((body["provider"], body["id"]) != (delivered[0]["provider"], delivered[0]["id"]) for body in oks):
                problems.append(f"{key.key}: a 200 names another delivery: {oks} vs {delivered}")
        unexpected = {status for status, _, _ in key.answers} - {None, 200} - RETRY_ON
        if unexpected:
            problems.append(f"{key.key}: unexpected statuses {unexpected}: {key.answers}")
        figures["retried"] += len(key.answers) > 1
        figures["replayed_unknown"] += any(replay and status in (502, 504) for status, replay, _ in key.answers)
        figures["sent_after_a_retry"] += bool(oks) and len(key.answers) > 1 and not any(
            replay for _, replay, _ in key.answers)
    extra = set(records) - {key.subject for key in keys}
    if extra:
        problems.append(f"{len(extra)} deliveries no client asked for")
    return {"keys": len(keys), "statuses": dict(statuses), "retried": figures["retried"],
            "replayed_unknown": figures["replayed_unknown"], "sent_after_a_retry": figures["sent_after_a_retry"],
            "lost_reply_deliveries": mailgun_statuses.get("lost_reply", 0), "problems": problems}
