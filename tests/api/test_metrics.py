"""GET /metrics in one process (no PROMETHEUS_MULTIPROC_DIR): the exposition names every metric."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import MINIMAL


def test_metrics_are_served_without_a_key_and_count_requests(client, post_email):
    post_email(MINIMAL)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {"smsp_http_requests", "smsp_provider_attempts", "smsp_provider_latency_seconds", "smsp_circuit_open",
            "smsp_probes", "smsp_all_circuits_open"} <= set(families)
    routes = {sample.labels.get("route") for sample in families["smsp_http_requests"].samples}
    assert "/email" in routes


def test_unmatched_paths_share_one_label(client):
    client.get("/no/such/path/12345")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'route="unmatched"' in text and "/no/such/path/12345" not in text
