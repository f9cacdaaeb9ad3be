"""GET /metrics in one process (no PROMETHEUS_MULTIPROC_DIR): the exposition names every metric and counts."""
from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sendmailproxy import metrics
from sendmailproxy.providers.base import Outcome, OutcomeKind
from tests.api.support import MINIMAL


def scrape(client) -> list:
    """The metric families of GET /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return list(text_string_to_metric_families(response.get_data(as_text=True)))


def value(families, name: str, **labels) -> float:
    return sum(sample.value for family in families for sample in family.samples
               if sample.name == name and sample.labels == labels)


def test_metrics_are_served_without_a_key_and_count_this_request(client, post_email):
    # The registry is process-wide and earlier tests counted too: only the difference is this request's.
    before = scrape(client)
    post_email(MINIMAL)
    after = scrape(client)

    assert {family.name for family in after} >= {"smsp_http_requests", "smsp_provider_attempts",
                                                 "smsp_provider_latency_seconds", "smsp_circuit_open",
                                                 "smsp_probes", "smsp_all_circuits_open"}
    for name, labels in [("smsp_http_requests_total", {"route": "/email", "method": "POST", "status": "200"}),
                         ("smsp_provider_attempts_total", {"provider": "mailgun", "outcome": "accepted"}),
                         ("smsp_provider_latency_seconds_count", {"provider": "mailgun"})]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name


@pytest.mark.parametrize("kind", list(OutcomeKind), ids=lambda kind: kind.value)
def test_each_provider_attempt_is_counted_under_its_outcome(client, post_email, providers, kind):
    providers[0].outcome = Outcome(kind, reason="scripted", message_id="<1@mailgun>")
    before = scrape(client)
    post_email(MINIMAL)
    after = scrape(client)

    moved = {outcome.value: value(after, "smsp_provider_attempts_total", provider="mailgun", outcome=outcome.value)
             - value(before, "smsp_provider_attempts_total", provider="mailgun", outcome=outcome.value)
             for outcome in OutcomeKind}
    assert moved == {outcome.value: int(outcome is kind) for outcome in OutcomeKind}


def test_unmatched_paths_share_one_label(client):
    client.get("/no/such/path/12345")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'route="unmatched"' in text and "/no/such/path/12345" not in text


@pytest.mark.parametrize("method", ["BREW", "PROPFIND", "OPTIONS", "PATCH"])
def test_methods_the_api_does_not_serve_share_one_label(client, method):
    # A client picks the method: counted under its own name, each new one would be a new series.
    before = scrape(client)
    assert client.open("/email", method=method).status_code == 405
    after = scrape(client)
    labels = {"route": "unmatched", "method": "other", "status": "405"}
    assert value(after, "smsp_http_requests_total", **labels) == value(before, "smsp_http_requests_total", **labels) + 1
    counted = {sample.labels["method"] for family in after for sample in family.samples
               if sample.name == "smsp_http_requests_total"}
    assert counted <= metrics.HTTP_METHODS | {"other"}


def test_every_method_the_api_serves_has_its_own_label(app, client):
    served = {method for rule in app.url_map.iter_rules() for method in rule.methods} - {"OPTIONS"}
    assert served == metrics.HTTP_METHODS
    before = scrape(client)
    client.head("/healthcheck")
    labels = {"route": "/healthcheck", "method": "HEAD", "status": "200"}
    assert value(scrape(client), "smsp_http_requests_total", **labels) == value(
        before, "smsp_http_requests_total", **labels) + 1
