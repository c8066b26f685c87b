"""Every Prometheus metric the service exports is named here, and only here.

Labels are route templates, provider names and dependency names: never raw paths or other
user input, so cardinality stays bounded. No label may be named like one Prometheus attaches
to every scraped series (`job`, `instance`, and the ServiceMonitor's `namespace`, `service`,
`pod`, `container`, `endpoint`): Prometheus would rename ours `exported_<name>` and the alerts
would group by the scrape's value instead (hence `job_id`).
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

# Reads sent to the primary instead of the read replica (AURUM_DATABASE_READ_URL), by why:
# `unreachable` or `lag` (over AURUM_DATABASE_READ_MAX_LAG_SECONDS). Counted per read.
DB_READ_FALLBACK = Counter(
    f"{PREFIX}_db_read_fallback_total",
    "Reads answered by the primary because the read replica was unreachable or lagging.",
    ["reason"],
)
DB_REPLICA_LAG = Gauge(
    f"{PREFIX}_db_replica_lag_seconds",
    "The read replica's replay lag at its last check (0 when no WAL waits to be replayed).",
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


# Provider cost (app/resilience/cost.py).
EXTERNAL_COST_USD = Gauge(
    f"{PREFIX}_external_cost_usd",
    "Spend this calendar month (UTC) per provider: requests x cost per 1,000.",
    ["provider"],
)
EXTERNAL_COST_BUDGET_USD = Gauge(
    f"{PREFIX}_external_cost_budget_usd",
    "Monthly budget per provider (the file's, or an operator's override).",
    ["provider"],
)


# Outbound rate limits and quotas (app/resilience).
EXTERNAL_RATELIMIT_WAIT_SECONDS = Histogram(
    f"{PREFIX}_external_ratelimit_wait_seconds",
    "Delay the outbound rate limiter imposed before a provider request (0 when it went at once).",
    ["provider"],
    buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
EXTERNAL_RATELIMIT_THROTTLED = Counter(
    f"{PREFIX}_external_ratelimit_throttled_total",
    "Throttle signals (429 or a throttle body) reported to the outbound rate limiter.",
    ["provider"],
)
EXTERNAL_RATELIMIT_WAIT_EXCEEDED = Counter(
    f"{PREFIX}_external_ratelimit_wait_exceeded_total",
    "Provider requests refused because the limiter's wait would have exceeded max_wait.",
    ["provider"],
)
EXTERNAL_RATELIMIT_FALLBACK = Counter(
    f"{PREFIX}_external_ratelimit_fallback_total",
    "Outbound limiter decisions made in process memory (at this replica's share of the limit) "
    "because Redis was unreachable.",
    ["provider"],
)
EXTERNAL_RATELIMIT_EFFECTIVE_RPS = Gauge(
    f"{PREFIX}_external_ratelimit_effective_rps",
    "Requests per second the outbound limiter allows now: configured or overridden rate times "
    "the adaptive multiplier (before any quota throttling).",
    ["provider"],
)
EXTERNAL_RATELIMIT_DEGRADED = Gauge(
    f"{PREFIX}_external_ratelimit_degraded",
    "1 while this replica's outbound limiter or quota (part) counts in memory because Redis "
    "is unreachable.",
    ["provider", "part"],
)
EXTERNAL_QUOTA_USED = Gauge(
    f"{PREFIX}_external_quota_used",
    "Provider requests counted in the current quota window (window: daily or hourly, UTC).",
    ["provider", "window"],
)
EXTERNAL_QUOTA_LIMIT = Gauge(
    f"{PREFIX}_external_quota_limit",
    "Provider request limit of the quota window (absent when unlimited).",
    ["provider", "window"],
)
EXTERNAL_QUOTA_LEVEL = Gauge(
    f"{PREFIX}_external_quota_level",
    "Quota level of the window: 0 ok, 1 warning, 2 critical, 3 exhausted.",
    ["provider", "window"],
)
# The provider file's quota alert levels (quota.warn_percent / critical_percent as ratios), so
# one alert rule compares each provider's use with its own levels.
EXTERNAL_QUOTA_WARN_RATIO = Gauge(
    f"{PREFIX}_external_quota_warn_ratio",
    "Share of a quota window at which the provider's quota level becomes warning (file).",
    ["provider"],
)
EXTERNAL_QUOTA_CRITICAL_RATIO = Gauge(
    f"{PREFIX}_external_quota_critical_ratio",
    "Share of a quota window at which the provider's quota level becomes critical (file).",
    ["provider"],
)
EXTERNAL_QUOTA_EXHAUSTED = Counter(
    f"{PREFIX}_external_quota_exhausted_total",
    "Provider requests refused because a quota window was exhausted.",
    ["provider", "window"],
)
EXTERNAL_QUOTA_FALLBACK = Counter(
    f"{PREFIX}_external_quota_fallback_total",
    "Quota decisions made in process memory (at this replica's share) because Redis was "
    "unreachable.",
    ["provider"],
)


# Circuit breakers and retries (app/resilience). `provider` is a configured provider name,
# `state` one of closed/open/half_open/forced_open/disabled, `reason` one of five values.
EXTERNAL_BREAKER_STATE = Gauge(
    f"{PREFIX}_external_circuit_breaker_state",
    "1 for the state each provider's circuit breaker is in (as this replica last saw it), "
    "0 for the other states.",
    ["provider", "state"],
)
EXTERNAL_BREAKER_TRANSITIONS = Counter(
    f"{PREFIX}_external_circuit_breaker_transitions_total",
    "Circuit breaker state changes made by this replica.",
    ["provider", "from_state", "to_state"],
)
EXTERNAL_BREAKER_REFUSED = Counter(
    f"{PREFIX}_external_circuit_breaker_refused_total",
    "Provider calls refused because the circuit breaker was open, forced open or half-open "
    "with every probe slot taken.",
    ["provider"],
)
EXTERNAL_BREAKER_STORE_FALLBACK = Counter(
    f"{PREFIX}_external_circuit_breaker_store_fallback_total",
    "Circuit breaker operations run in process memory because Redis was unreachable.",
    ["provider"],
)
EXTERNAL_RETRIES = Counter(
    f"{PREFIX}_external_retries_total",
    "Provider call attempts retried, by why: throttled, server_error, timeout, connection, "
    "body_error.",
    ["provider", "reason"],
)


# Declared outages (app/outages): every replica re-reads the open ones several times a second.
EXTERNAL_OUTAGE_OPEN = Gauge(
    f"{PREFIX}_external_outage_open",
    "1 while an operator-declared outage of the provider is open, 0 otherwise.",
    ["provider"],
)


# The guarded client (app/resilience/client.py).
EXTERNAL_REQUESTS = Counter(
    f"{PREFIX}_external_requests_total",
    "Provider call attempts by outcome: success, retryable, throttled, permanent.",
    ["provider", "outcome"],
)
EXTERNAL_REQUEST_DURATION = Histogram(
    f"{PREFIX}_external_request_duration_seconds",
    "Duration of one provider call attempt (p95 derivable).",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0),
)


# Ingest pipeline and outbox relay. `kind` is new/changed/unchanged/rejected; `topic` is one of
# the configured aurum.ref.* topics (bounded by the provider list).
INGEST_ROWS = Counter(
    f"{PREFIX}_ingest_rows_total",
    "Observation rows through the ingest pipeline in committed batches, by provider and kind.",
    ["provider", "kind"],
)
INGEST_BATCH_SECONDS = Histogram(
    f"{PREFIX}_ingest_batch_seconds",
    "Duration of one ingest batch (preparing: checks and formatting; writing: COPY, upsert, "
    "outbox, checkpoints), before commit.",
    ["provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
OUTBOX_PENDING = Gauge(
    f"{PREFIX}_outbox_pending",
    "Unsent kafka_outbox rows, counted in PostgreSQL by every replica (Kafka on or off).",
)
OUTBOX_LAG_SECONDS = Gauge(
    f"{PREFIX}_outbox_lag_seconds",
    "Age of the oldest unsent kafka_outbox row (0 when none is pending), from PostgreSQL.",
)
OUTBOX_SENT = Counter(
    f"{PREFIX}_outbox_sent_total",
    "Outbox rows delivered to Kafka (acknowledged by the broker) and marked sent.",
    ["topic"],
)
OUTBOX_FAILED = Counter(
    f"{PREFIX}_outbox_failed_total",
    "Outbox deliveries that failed or went unconfirmed; the rows stay unsent and are retried.",
    ["topic"],
)

# The embedded scheduler and its runs.
SCHEDULER_IS_LEADER = Gauge(
    f"{PREFIX}_scheduler_is_leader",
    "1 on the replica that holds the scheduler lock and runs jobs, 0 on followers.",
)
SCHEDULER_HEARTBEAT = Gauge(
    f"{PREFIX}_scheduler_heartbeat_timestamp_seconds",
    "When the leader last confirmed its lock (Unix time); stale means no replica runs jobs.",
)
JOB_RUNS = Counter(
    f"{PREFIX}_job_runs_total",
    "Finished job runs by job and outcome (succeeded, failed, cancelled, skipped).",
    ["job_id", "outcome"],
)
JOB_RUN_DURATION = Histogram(
    f"{PREFIX}_job_run_duration_seconds",
    "Duration of finished job runs.",
    ["job_id"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600),
)
JOB_LAST_SUCCESS = Gauge(
    f"{PREFIX}_job_last_success_timestamp_seconds",
    "When each job last finished successfully (Unix time).",
    ["job_id"],
)
JOB_CONSECUTIVE_FAILURES = Gauge(
    f"{PREFIX}_job_consecutive_failures",
    "Failed runs in a row per job (0 after a success).",
    ["job_id"],
)
JOB_AUTO_PAUSED = Gauge(
    f"{PREFIX}_job_auto_paused",
    "1 while a job is paused because it failed too many times in a row: page on it.",
    ["job_id"],
)
JOB_RUNS_ABANDONED = Counter(
    f"{PREFIX}_job_runs_abandoned_total",
    "Runs marked abandoned because their replica died (new leader, or heartbeat stopped).",
    ["job_id"],
)

# Data validation (app/quality). `outcome` is passed, failed or errored.
EXTERNAL_QUALITY_SCORE = Gauge(
    f"{PREFIX}_external_quality_score",
    "Quality score of each provider's last validation run (0..1): the severity-weighted share "
    "of its expectations that passed (error counts 3, warning 1).",
    ["provider"],
)
EXTERNAL_VALIDATION_RUNS = Counter(
    f"{PREFIX}_external_validation_runs_total",
    "Validation runs finished by this replica, by outcome: passed, failed, errored.",
    ["provider", "outcome"],
)
EXTERNAL_VALIDATION_SECONDS = Histogram(
    f"{PREFIX}_external_validation_seconds",
    "Duration of one validation run (Great Expectations against PostgreSQL).",
    ["provider"],
    buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)

# Runtime flags and the read API's cache.
FLAG_APPLIED = Counter(
    f"{PREFIX}_flag_applied_total",
    "Flag versions this replica applied to its in-memory snapshot, by how it learnt of them.",
    ["source"],  # pubsub | reconcile | start
)
FLAG_PROPAGATION_SECONDS = Histogram(
    f"{PREFIX}_flag_propagation_seconds",
    "From a flag change's commit (on any replica) to this replica applying it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FLAG_SYNC_FAILURES = Counter(
    f"{PREFIX}_flag_sync_failures_total",
    "Subscriber or reconcile rounds that failed (Redis or PostgreSQL unreachable).",
    ["part"],  # subscribe | reconcile | ack | expire
)
READ_CACHE_RESULTS = Counter(
    f"{PREFIX}_read_cache_results_total",
    "Read API responses by cache outcome.",
    ["result"],  # HIT | MISS | STALE
)

# Health and SLA (app/health). `dataset` is a configured series id: bounded by the provider file.
EXTERNAL_DATA_LAST_SUCCESS = Gauge(
    f"{PREFIX}_external_data_last_success_timestamp",
    "When each dataset last finished a successful ingest (Unix time): a committed batch that "
    "completed it, or a run that found it current. Staleness = time() - this.",
    ["provider", "dataset"],
)
