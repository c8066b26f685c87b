"""Every Prometheus metric the service exports is named here, and only here.

Labels are route templates, provider names and dependency names: never raw paths or other
user input, so cardinality stays bounded.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

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


# HTTP metrics, with the names and labels prometheus-fastapi-instrumentator uses, so its
# dashboards and queries work unchanged. Recorded by app.monitoring.http_metrics.
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "Total number of requests by method, status and handler.",
    ["method", "status", "handler"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Latency with only a few buckets by handler. Made to be only used if aggregation by "
    "handler is important.",
    ["method", "handler"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def render_metrics() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
