"""bench/intake.py's pure parts: the batches it posts pass the service's SendGrid verifier as distinct events, and
its table says what it measured."""
import time

from bench import intake
from fakeproviders.signing import SendGridSigner
from sendmailproxy.events.sendgrid import SendGridWebhook, load_public_key


def test_each_batch_verifies_and_holds_new_events_only():
    signer = SendGridSigner()
    webhook = SendGridWebhook(load_public_key(signer.public_key), max_age=300)
    batches = intake._batches(signer, 3)
    verdicts = [webhook.receive(*batches.get_nowait(), time.time()) for _ in range(3)]
    ids = [event.id for verdict in verdicts for event in verdict.events]
    assert len(ids) == len(set(ids)) == 3 * intake.BATCH
    assert not any(event.suppresses for verdict in verdicts for event in verdict.events)


def _run(per_second: int) -> dict:
    return {"batches": 10, "stored": per_second * 10, "errors": 0, "seconds": 10.0, "per_second": per_second,
            "ran_out": False, "cpu_us_per_event": 150.0, "p50_ms": 40.0}


def test_render_shows_each_stores_median_range_and_the_ratio_to_the_goal():
    results = {"seconds": 10, "reps": 3, "batch": 100, "clients": 8, "workers": 2, "threads": 32, "cores": 2,
               "date": "2026-12-03", "load_at_start": [1.5, 1, 1], "load_at_end": [2.5, 2, 2],
               "stores": {"SQLite": {"runs": [_run(4000), _run(6000), _run(5500)], "posted": 155000,
                                     "counted": 155000},
                          "Redis": {"runs": [_run(3000), _run(2500), _run(2000)], "posted": 75000,
                                    "counted": 75000}}}
    text = intake.render(results)
    assert "| SQLite | 5,500 (4,000-6,000) | 150 | 40.0 | 0 | 155,000 | 155,000 | 1.10 |" in text
    assert "| Redis | 2,500 (2,000-3,000) |" in text and "| 0.50 |" in text
    assert "load average 1.5 at the start, 2.5 at the end" in text
    assert "floor" not in text
    results["stores"]["Redis"]["runs"][0]["ran_out"] = True
    assert "its rate is a floor" in intake.render(results)
