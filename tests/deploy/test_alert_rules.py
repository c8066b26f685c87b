"""The PrometheusRule and the Grafana dashboard in k8s/ name only metrics the service exports
(app/monitoring/metrics.py); every alert has a severity, a runbook link and the runbook's
`for:`; promtool proves each alert fires and resolves and each runbook metric name is
recorded with the right value (tests/deploy/rules-tests/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from app.monitoring import metrics
from tests.deploy import promtool_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "k8s" / "prometheus-rules.yaml"
DASHBOARD = ROOT / "k8s" / "grafana-dashboard.json"

# Metrics a rule may name before the service exports them (none now).
PENDING: set[str] = set()

FUNCTIONS = {
    "abs",
    "absent",
    "absent_over_time",
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


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    assert doc["kind"] == "PrometheusRule"
    return [rule for group in doc["spec"]["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, object]]:
    return [rule for rule in _rules() if "alert" in rule]


def test_every_rule_expression_names_an_exported_metric() -> None:
    known = exported() | PENDING
    for rule in _rules():
        name = rule.get("alert") or rule.get("record")
        names = metric_names(str(rule["expr"]))
        assert names, name
        assert names <= known, f"{name}: unknown {sorted(names - known)}"


# Each alert's `for:`: the runbooks' where they set one (fred-/eia-pipeline-runbook.md: quota
# 5m, request rate 10m, error rate 5m, latency 5m, staleness 5m, quality 10m); the scheduler's
# 15 minutes (external-outage-runbook.md) are in its expression, so it fires at once.
FOR = {
    "ExternalQuotaWarning": "5m",
    "ExternalQuotaCritical": "5m",
    "ExternalRequestRateSpike": "10m",
    "ExternalErrorRateHigh": "5m",
    "ExternalLatencyHigh": "5m",
    "ExternalCircuitBreakerOpen": "1m",
    "ExternalProviderOutageDeclared": None,
    "ExternalDataStale": "5m",
    "ExternalDataStaleWeekly": "5m",
    "ExternalDataQualityLow": "10m",
    "ExternalCostOverBudget": "30m",
    "SchedulerHeartbeatMissing": None,
    "JobAutoPaused": None,
    "JobRunAbandoned": None,
    "OutboxLagHigh": "10m",
}
# The team's runbooks (file names without .md); each alert links one, with a section.
RUNBOOKS = {
    "external-data-runbook",
    "external-outage-runbook",
    "{{ $labels.provider }}-pipeline-runbook",  # fred- and eia-pipeline-runbook
}


def test_every_alert_has_a_severity_a_runbook_and_the_runbook_timing() -> None:
    alerts = _alerts()
    for rule in alerts:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]  # type: ignore[index]
        url = str(rule["annotations"]["runbook_url"])  # type: ignore[index]
        match = re.fullmatch(r"https://runbooks\.aurum\.invalid/(.+)#[a-z0-9-]+", url)
        assert match and match[1] in RUNBOOKS, (rule["alert"], url)
        assert rule.get("for") == FOR[str(rule["alert"])], rule["alert"]
    assert {rule["alert"] for rule in alerts} == set(FOR)


def test_no_alert_groups_by_a_scrape_target_label() -> None:
    for rule in _alerts():
        text = str(rule["expr"]) + json.dumps(rule["annotations"])
        assert "$labels.job }}" not in text and "$labels.instance" not in text, rule["alert"]
        for grouping in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", str(rule["expr"])):
            labels = {label.strip() for label in grouping.split(",")}
            assert not labels & TARGET_LABELS, (rule["alert"], grouping)


def test_the_dashboard_queries_only_exported_metrics() -> None:
    known = exported() | PENDING
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert panels
    for panel in panels:
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names and names <= known, f"{panel['title']}: {sorted(names - known)}"
    for annotation in dashboard.get("annotations", {}).get("list", []):
        names = metric_names(annotation["expr"])
        assert names and names <= known, f"{annotation['name']}: {sorted(names - known)}"


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


# The metric names the team's runbooks use (fred-/eia-pipeline-runbook.md,
# external-outage-runbook.md), provided by recording rules.
RUNBOOK_NAMES = {
    f"{provider}_{name}"
    for provider in ("fred", "eia")
    for name in (
        "requests_total", "errors_total", "request_duration_p95", "quality_score",
        "last_ingestion_timestamp", "cost_total",
    )
} | {"external_data_last_success_timestamp"}  # fmt: skip


def _rule_tests() -> list[dict[str, object]]:
    return [yaml.safe_load(path.read_text()) for path in promtool_rules.test_files()]


def test_every_runbook_metric_name_is_recorded_and_tested() -> None:
    recorded = {str(rule["record"]) for rule in _rules() if "record" in rule}
    assert recorded == RUNBOOK_NAMES
    tested = {
        str(case["expr"])
        for doc in _rule_tests()
        for group in doc["tests"]  # type: ignore[union-attr]
        for case in group.get("promql_expr_test", [])
    }
    assert tested >= RUNBOOK_NAMES


def test_every_alert_has_a_case_that_fires_and_a_later_one_that_resolves() -> None:
    fires: dict[str, list[int]] = {}
    quiet: dict[str, list[int]] = {}
    for doc in _rule_tests():
        for group in doc["tests"]:  # type: ignore[union-attr]
            for case in group.get("alert_rule_test", []):
                minutes = _minutes(str(case["eval_time"]))
                target = fires if case.get("exp_alerts") else quiet
                target.setdefault(str(case["alertname"]), []).append(minutes)
    for name in FOR:
        assert name in fires, f"no promtool case shows {name} firing"
        assert any(q > min(fires[name]) for q in quiet.get(name, [])), (
            f"no promtool case shows {name} resolving"
        )


def _minutes(duration: str) -> int:
    units = {"d": 1440, "h": 60, "m": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhm])", duration))


def test_promtool_checks_the_rules_and_every_case_passes() -> None:
    binary = promtool_rules.promtool()
    if binary is None:
        pytest.skip(f"*** {promtool_rules.MISSING} ***")
    result = promtool_rules.run(binary)
    assert result.returncode == 0, result.stdout + result.stderr
