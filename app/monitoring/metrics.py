"""Every Prometheus metric the service exports is named here, and only here.

Labels are route templates, provider names and dependency names: never raw paths or other
user input, so cardinality stays bounded.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    generate_latest,
)
from prometheus_fastapi_instrumentator import Instrumentator

PREFIX = "aurum"

BUILD_INFO = Info(f"{PREFIX}_build", "Version and replica of this process.")

DEPENDENCY_UP = Gauge(
    f"{PREFIX}_dependency_up",
    "1 when the dependency answered its last readiness check, 0 when it did not.",
    ["dependency"],
)
DEPENDENCY_CHECK_SECONDS = Gauge(
    f"{PREFIX}_dependency_check_seconds",
    "Latency of the last readiness check of each dependency.",
    ["dependency"],
)

# Inbound rate limiting. `rule` is `default` or a configured path prefix: bounded by settings.
RATELIMIT_REJECTIONS = Counter(
    f"{PREFIX}_ratelimit_rejections_total",
    "Requests refused with 429 by the inbound rate limiter, by rule.",
    ["rule"],
)
RATELIMIT_STORE_FALLBACK = Counter(
    f"{PREFIX}_ratelimit_store_fallback_total",
    "Rate-limit decisions made in process memory because the limiter's Redis was unreachable.",
)


def instrument_http(app: FastAPI) -> None:
    """HTTP request count, latency and sizes labelled by route template (`handler`);
    unmatched paths are grouped under `none`.

    Each app gets its own registry for these: the instrumentator silently records nothing
    when its metrics already exist in a shared registry (a second app in one process)."""
    registry = CollectorRegistry()
    Instrumentator(
        should_group_status_codes=False,
        should_ignore_untemplated=False,
        should_group_untemplated=True,
        excluded_handlers=["/metrics"],
        registry=registry,
    ).instrument(app, metric_namespace="", metric_subsystem="")
    app.state.http_metrics_registry = registry


def render_metrics(app: FastAPI) -> tuple[bytes, str]:
    """The exposition body (process-wide metrics, then this app's HTTP metrics)."""
    body = generate_latest(REGISTRY) + generate_latest(app.state.http_metrics_registry)
    return body, CONTENT_TYPE_LATEST
