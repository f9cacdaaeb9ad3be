"""The log of a real gunicorn at DEBUG level, after each provider met every outcome class: what it shows and hides.

One gunicorn per provider (it is the only one configured, so every message goes to it) sends a message whose
bodies and attachment hold a unique marker through each fault of the fake, waits for a probe under that fault,
and lets the circuit close again. The tests then read its whole log, stdout and stderr.
"""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

import pytest

from fakeproviders import FAKES
from sendmailproxy.probe import OPERATOR_MUST_ACT
from testkit.harness import API_KEY, Gunicorn
from testkit.polling import wait_until

pytestmark = pytest.mark.functional

# What only a provider's own requests carry, from its fake's options: every provider in FAKES needs an entry.
PROVIDER_SECRETS = {
    "mailgun": lambda options: [options["mailgun_key"],
                                base64.b64encode(f"api:{options['mailgun_key']}".encode()).decode()],
    "sendgrid": lambda options: [options["sendgrid_key"]],
    # SigV4 sends the key id in the clear, but never the secret; a session token would be a secret too.
    "ses": lambda options: [o for o in (options["ses_secret_access_key"], options["ses_session_token"]) if o],
    "postmark": lambda options: [options["postmark_token"]],
    # The password, and AUTH PLAIN's and LOGIN's base64 of it.
    "smtp": lambda options: [options["smtp_password"], base64.b64encode(
        f"\0{options['smtp_user']}\0{options['smtp_password']}".encode()).decode(),
        base64.b64encode(options["smtp_password"].encode()).decode()],
}
NEVER_LOGGED = [API_KEY, "Authorization: Basic", "Bearer"]  # the client's key; any Authorization header
MARKER = f"marker-{uuid.uuid4().hex}"
MESSAGE = {
    "subject": "the marker is in the bodies and the attachment",
    "plaintextbody": f"text {MARKER}",
    "htmlbody": f"<p>{MARKER}</p>",
    "attachments": [{"filename": "a.txt", "content": base64.b64encode(MARKER.encode()).decode()}],
}


@dataclass(frozen=True)
class Case:
    name: str
    fault: dict
    status: int  # what the client is told
    level: str | None = None  # of the attempt's line, when the circuit opens (and probes follow)


CASES = [
    Case("accepted", {"mode": "ok"}, 200),
    Case("rejected", {"mode": "status", "status": 400}, 422),
    Case("401", {"mode": "status", "status": 401}, 502, "ERROR"),  # a key to rotate: what operators alert on
    Case("403", {"mode": "status", "status": 403}, 502, "ERROR"),
    Case("429", {"mode": "status", "status": 429, "retry_after_s": 0}, 502, "WARNING"),
    Case("stopped", {"mode": "stopped"}, 502, "WARNING"),
    Case("503", {"mode": "status", "status": 503}, 502, "WARNING"),
    Case("reset", {"mode": "reset"}, 502, "WARNING"),
    Case("malformed", {"mode": "malformed"}, 502, "WARNING"),
    Case("hang", {"mode": "hang"}, 504, "WARNING"),
]

# Where a provider says the same thing differently: Postmark refuses a caller's message with a 422 (ErrorCode 300).
PROVIDER_FAULTS = {("postmark", "rejected"): {"mode": "status", "status": 422}}
# An SMTP relay's nearest fault for each case (a greeting or AUTH fault also ends the connection the service keeps).
PROVIDER_FAULTS.update({("smtp", case): fault for case, fault in {
    "rejected": {"mode": "refuse", "at": "final", "status": 554},
    "401": {"mode": "refuse", "at": "auth", "status": 535},
    "403": {"mode": "refuse", "at": "mail", "status": 530, "text": "5.7.0 Authentication required"},
    "429": {"mode": "refuse", "at": "mail", "status": 454, "text": "4.7.0 Throttling failure"},
    "503": {"mode": "greeting", "status": 421},
    "reset": {"mode": "drop_in_data"},
    "malformed": {"mode": "garbled"},
}.items()})

# README.md's Logs section: the fields of each kind of line, beyond those of every line.
EVERY_LINE = {"time", "level", "logger", "message"}
DOCUMENTED = {
    ("sendmailproxy.api", "request"): {"method", "path", "status", "duration_ms", "request_id", "client_ip",
                                       "attempts", "provider", "provider_status", "provider_ms"},
    ("sendmailproxy.dispatch", "provider attempt"): {"provider", "outcome", "provider_status", "duration_ms",
                                                     "reason"},
    ("sendmailproxy.probe", "probe"): {"provider", "outcome", "reason", "generation", "next_probe_in_s"},
    ("sendmailproxy.probe", OPERATOR_MUST_ACT): {"provider", "outcome", "reason", "generation", "next_probe_in_s"},
    ("sendmailproxy.circuits", "circuit open"): {"provider", "from", "to", "reason", "generation"},
    ("sendmailproxy.circuits", "circuit closed"): {"provider", "from", "to", "reason", "generation"},
}


@dataclass
class Run:
    """One provider's gunicorn, stopped, and the log offsets each case began and ended at."""

    provider: str
    service: Gunicorn
    phases: dict[str, tuple[int, int]]

    def records(self, case: Case, logger: str) -> list[dict]:
        start, end = self.phases[case.name]
        return [r for r in self.service.log_records(start, end)
                if r["logger"] == logger and r.get("provider") == self.provider]


@pytest.fixture(scope="module", params=sorted(FAKES))
def run(request, start_module_service, fake) -> Run:
    provider = request.param
    service = start_module_service(SMSP_PROVIDERS=provider, WEB_CONCURRENCY=1, SMSP_LOG_OUTPUT_DEBUG="true",
                                   SMSP_POLL_INTERVAL=0.1, SMSP_POLL_MAX_INTERVAL=0.5,
                                   SMSP_PROVIDER_TIMEOUT=0.5)

    def circuit() -> dict:
        [circuit] = service.circuits(provider).values()
        return circuit

    fake.control.reset_faults()
    fake.control.clear()
    phases = {}
    for case in CASES:
        start = service.log_offset()
        fake.control.set_fault(provider, **PROVIDER_FAULTS.get((provider, case.name), case.fault))
        assert service.send(**MESSAGE).status_code == case.status, case
        if case.level:
            wait_until(lambda: circuit()["probes"] >= 1, f"{case.name}: a probe under the fault", 15)
        phases[case.name] = start, service.log_offset()
        fake.control.reset_faults()
        wait_until(lambda: circuit()["state"] == "closed", f"{case.name}: the circuit to close again", 15)
    service.stop()
    return Run(provider, service, phases)


def test_no_secret_and_no_message_body_is_logged(run, fake):
    log = run.service.log_path.read_text()
    delivered = fake.control.messages(run.provider)
    assert [m["text"] for m in delivered] == [MESSAGE["plaintextbody"]], "the marker must go through the service"
    forbidden = [MARKER, MESSAGE["attachments"][0]["content"], *NEVER_LOGGED,
                 *PROVIDER_SECRETS[run.provider](fake.options)]
    assert [secret for secret in forbidden if secret in log] == []


def test_every_line_is_json_with_the_documented_fields_gunicorns_own_included(run):
    records = run.service.log_records()  # fails on the first line that is not a JSON object

    assert [r for r in records if not EVERY_LINE <= set(r)] == []
    assert {"gunicorn.error", *(logger for logger, _ in DOCUMENTED)} <= {r["logger"] for r in records}
    for record in records:
        fields = DOCUMENTED.get((record["logger"], record["message"]), set())
        assert fields <= set(record), record


@pytest.mark.parametrize("case", [case for case in CASES if case.level], ids=lambda case: case.name)
def test_attempts_and_probes_are_error_lines_only_when_they_need_an_operator(run, case):
    attempts = run.records(case, "sendmailproxy.dispatch")
    probes = run.records(case, "sendmailproxy.probe")

    assert attempts and probes
    assert {r["level"] for r in attempts} == {case.level}
    # A probe may pass where the send failed (SendGrid's sandbox answers 200 to what is a bad 200 for mail).
    assert {r["level"] == "ERROR" for r in probes} == {case.level == "ERROR"}
