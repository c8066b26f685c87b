"""The PrometheusRule and the Grafana dashboard in k8s/ name only metrics the service exports
(app/monitoring/metrics.py), and every alert has a severity and a runbook link."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.metrics import MetricWrapperBase

from app.monitoring import metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "k8s" / "prometheus-rules.yaml"
DASHBOARD = ROOT / "k8s" / "grafana-dashboard.json"

# Metrics a rule may name before the service exports them (none now).
PENDING: set[str] = set()

FUNCTIONS = {
    "abs",
    "absent",
    "avg",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp_max",
    "clamp_min",
    "count",
    "count_over_time",
    "delta",
    "deriv",
    "floor",
    "histogram_quantile",
    "increase",
    "irate",
    "label_replace",
    "max",
    "max_over_time",
    "min",
    "min_over_time",
    "predict_linear",
    "quantile",
    "rate",
    "resets",
    "round",
    "scalar",
    "sort",
    "stddev",
    "sum",
    "sum_over_time",
    "time",
    "timestamp",
    "topk",
    "bottomk",
    "vector",
}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool"}  # fmt: skip
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "info": ("_info",),
    "summary": ("_count", "_sum", "_created"),
}


def exported() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            base = value._name
            names |= {base + suffix for suffix in SUFFIXES[str(value._type)]}
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers left once strings, label matchers,
    grouping clauses, ranges and functions are taken out."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\boffset\s+\w+", "", text)
    idents = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {i for i in idents if i not in FUNCTIONS | KEYWORDS and not re.fullmatch(r"e\d*", i)}


def _alerts() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    assert doc["kind"] == "PrometheusRule"
    return [rule for group in doc["spec"]["groups"] for rule in group["rules"]]


def test_every_rule_expression_names_an_exported_metric() -> None:
    known = exported() | PENDING
    for rule in _alerts():
        names = metric_names(str(rule["expr"]))
        assert names, rule["alert"]
        assert names <= known, f"{rule['alert']}: unknown {sorted(names - known)}"


def test_every_alert_has_a_severity_and_a_runbook() -> None:
    alerts = _alerts()
    for rule in alerts:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]  # type: ignore[index]
        assert str(rule["annotations"]["runbook_url"]).startswith("https://")  # type: ignore[index]
    names = {rule["alert"] for rule in alerts}
    assert {
        "ExternalQuotaNearDailyLimit", "ExternalRequestRateSpike", "ExternalErrorRateHigh",
        "ExternalLatencyHigh", "ExternalDataStale", "ExternalDataQualityLow",
        "SchedulerHeartbeatMissing", "ExternalCircuitBreakerOpen", "JobAutoPaused",
        "JobRunAbandoned",
    } <= names  # fmt: skip


def test_the_dashboard_queries_only_exported_metrics() -> None:
    known = exported() | PENDING
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert panels
    for panel in panels:
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names and names <= known, f"{panel['title']}: {sorted(names - known)}"


def test_the_parser_finds_metric_names() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (provider, le) (rate(x_bucket{a="b"}[5m]))) > 20 '
        "and on(provider) y_total offset 1d"
    )
    assert metric_names(expr) == {"x_bucket", "y_total"}


# Labels Prometheus attaches to every scraped series: `job` and `instance` always, the rest
# through the ServiceMonitor's service discovery. A metric label of the same name is renamed
# `exported_<name>` on ingestion (honorLabels is off), so rules grouping by it see the scrape's.
TARGET_LABELS = {"job", "instance", "namespace", "service", "pod", "container", "endpoint"}


def test_no_metric_label_collides_with_a_scrape_target_label() -> None:
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            clash = set(value._labelnames) & TARGET_LABELS
            assert not clash, f"{value._name} has label(s) {sorted(clash)}: Prometheus renames them"


def test_the_service_monitor_does_not_honor_exported_labels() -> None:
    doc = yaml.safe_load((ROOT / "k8s" / "servicemonitor.yaml").read_text())
    # With honorLabels a colliding label would silently replace the target's `job`, merging
    # every replica's series; the collision test above keeps it unnecessary.
    assert not any(endpoint.get("honorLabels") for endpoint in doc["spec"]["endpoints"])
