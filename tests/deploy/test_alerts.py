"""The Prometheus alert rules (deploy/alerts.yaml): valid PromQL, over metrics the app registers."""
from __future__ import annotations

import re

import pytest
from prometheus_client.metrics import MetricWrapperBase

from sendmailproxy import metrics
from tests.deploy.support import DEPLOY, load_one

# The series a metric of each type exposes, by suffix of its name.
SERIES_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("", "_bucket", "_count", "_sum")}


def exposed_series() -> set[str]:
    """The name of every series the app's metrics (sendmailproxy/metrics.py) expose."""
    names = set()
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            for family in metric.describe():
                names |= {family.name + suffix for suffix in SERIES_SUFFIXES[family.type]}
    return names


@pytest.fixture(scope="module")
def alert_rules() -> dict[str, dict]:
    doc = load_one(DEPLOY / "alerts.yaml")
    assert set(doc) == {"groups"}
    rules: dict[str, dict] = {}
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit", "labels"}
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert "alert" in rule and "record" not in rule
            assert rule["alert"] not in rules, f"duplicate alert {rule['alert']}"
            rules[rule["alert"]] = rule
    return rules


def test_alert_rules_are_well_formed(alert_rules):
    try:
        import promql_parser
    except ImportError:
        pytest.fail("promql-parser missing: install requirements-dev.txt")
    known = exposed_series()
    assert "smsp_http_requests_total" in known and "smsp_provider_latency_seconds_bucket" in known
    for name, rule in alert_rules.items():
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, name
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        promql_parser.parse(rule["expr"])  # raises ValueError on bad PromQL
        if "for" in rule:
            assert re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", str(rule["for"])), name
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        unknown = set(re.findall(r"\bsmsp_[a-z_]+", rule["expr"])) - known
        assert not unknown, f"{name} uses metrics the app doesn't expose: {unknown}"


def test_bad_promql_is_rejected():
    import promql_parser

    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(smsp_http_requests_total[5m]) by")


def test_expected_alerts(alert_rules):
    assert {"SendmailproxyCircuitOpen", "SendmailproxyAllCircuitsOpen"} <= set(alert_rules)
    circuit = alert_rules["SendmailproxyCircuitOpen"]
    assert re.sub(r"\s+", "", circuit["expr"]) == "maxby(provider)(smsp_circuit_open)==1"
    assert circuit["for"] == "5m"
    all_open = alert_rules["SendmailproxyAllCircuitsOpen"]["expr"]
    assert "increase(smsp_all_circuits_open_total[5m])" in all_open and "> 0" in all_open
    five_xx = [r for r in alert_rules.values() if 'status=~"5.."' in r["expr"]]
    assert five_xx and "smsp_http_requests_total" in five_xx[0]["expr"]
