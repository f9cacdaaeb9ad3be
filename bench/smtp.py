"""Scenario 6: the SMTP provider against the fake relay at 0 ms, next to Mailgun over HTTP, with and without
connection reuse; the three services run side by side, interleaved."""
from __future__ import annotations

import contextlib
from pathlib import Path

from bench.measure import measure
from bench.report import _cells, _ratios  # the tables of the other scenarios
from bench.servers import email_target, gunicorn_cpu, service, service_env, start
from testkit.harness import Gunicorn


def scenario(logs: Path, connections: int, *, fake, **run) -> dict:
    """Each service's wrk runs (see bench.measure), by the names in bench.report.LABELS."""
    with contextlib.ExitStack() as stack:
        per_message = Gunicorn(service_env(fake, SMSP_PROVIDERS="smtp"), logs / "service-smtp-per-message.log",
                               app="bench.baselines.smtp_per_message:app")
        servers = {"mailgun": start(stack, service(fake, logs, "service-mailgun", SMSP_PROVIDERS="mailgun")),
                   "smtp": start(stack, service(fake, logs, "service-smtp", SMSP_PROVIDERS="smtp")),
                   "smtp per message": start(stack, per_message)}
        return measure({name: email_target(server) for name, server in servers.items()}, connections,
                       cpu={name: gunicorn_cpu(server) for name, server in servers.items()}, fake=fake, **run)


def render(results: dict) -> list[str]:
    """Scenario 6's table and ratios, as markdown lines that follow bench.report's."""
    rows, s = _cells(results["smtp"])
    smtp, mailgun, per_message = s["smtp"], s["mailgun"], s["smtp per message"]
    return ["", f"### 6. SMTP relay, latency 0 ms, {results['settings']['light_connections']} connections", "",
            "The fake relay is aiosmtpd (STARTTLS with a throwaway CA, AUTH PLAIN) in the fake providers' process. "
            "A reused connection costs RSET, MAIL, RCPT, DATA and the message: five round trips. A new one "
            "adds TCP, the greeting, EHLO, STARTTLS with its TLS handshake, EHLO again and AUTH.", "", *rows,
            *_ratios([
                ("SMTP (reused) / Mailgun over HTTP, req/s", smtp["rps"] / mailgun["rps"], ""),
                ("SMTP reused / a connection per message, req/s", smtp["rps"] / per_message["rps"],
                 "(what reuse buys)"),
                ("a connection per message / reused, CPU per request", per_message["cpu_ms"] / smtp["cpu_ms"], ""),
            ])]

