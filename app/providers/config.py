"""`config/external_providers.yml`: schema, loading, and errors that name the key and line.

The running configuration is replaced only by a file that validates completely, so a bad edit
followed by a reload leaves the service on the last good configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from app.resilience.config import (
    BreakerConfig,
    CostConfig,
    QuotaConfig,
    RateConfig,
    ResilienceConfig,
    RetryConfig,
)

ProviderName = Literal["fred", "eia", "noaa", "worldbank"]
PROVIDER_NAMES: tuple[str, ...] = ("fred", "eia", "noaa", "worldbank")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimitSection(_Strict):
    requests_per_second: float = Field(gt=0, le=1000)
    burst: int = Field(default=1, ge=1, le=1000)


class QuotaSection(_Strict):
    daily: int | None = Field(default=None, ge=1)
    hourly: int | None = Field(default=None, ge=1)
    warn_percent: float = Field(default=75, gt=0, le=100)
    critical_percent: float = Field(default=90, gt=0, le=100)

    @model_validator(mode="after")
    def _warn_below_critical(self) -> QuotaSection:
        if self.warn_percent >= self.critical_percent:
            raise ValueError("warn_percent must be below critical_percent")
        return self


class CostSection(_Strict):
    per_1000_requests_usd: float = Field(default=0, ge=0)
    monthly_budget_usd: float | None = Field(default=None, ge=0)


class BreakerSection(_Strict):
    failure_threshold: int = Field(ge=1, le=1000)
    open_minutes: float = Field(gt=0, le=24 * 60)


class BreakerDefaults(_Strict):
    failure_rate_percent: float = Field(default=50, gt=0, le=100)
    window_seconds: float = Field(default=60, gt=0, le=3600)
    minimum_calls: int = Field(default=20, ge=1)
    half_open_max_calls: int = Field(default=2, ge=1)
    success_threshold: int = Field(default=2, ge=1)


class RetrySection(_Strict):
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_factor: float = Field(default=2, ge=1, le=10)
    base_delay_seconds: float = Field(default=0.5, ge=0, le=60)
    max_delay_seconds: float = Field(default=30, ge=0, le=600)
    timeout_seconds: float = Field(default=30, gt=0, le=600)


class IngestSection(_Strict):
    batch_size: int = Field(default=500, ge=1, le=100_000)
    workers: int = Field(default=4, ge=1, le=64)


def _valid_schedule(value: str) -> str:
    from app.jobs.triggers import parse_schedule

    parse_schedule(value)
    return value


Schedule = Annotated[str, AfterValidator(_valid_schedule)]


class JobsSection(_Strict):
    """Service-wide jobs (the runbooks' monitoring cadence) and retention."""

    staleness: Schedule = "every 15m"
    quality: Schedule = "every 1h"
    cost: Schedule = "every 6h"
    daily_report: Schedule = "0 9 * * *"
    retention: Schedule = "30 4 * * *"
    # Creates observation partitions ahead and empties the DEFAULT partition
    # (maintenance.partitions), before retention.
    partitions: Schedule = "15 4 * * *"
    probe: Schedule = "every 1m"
    # Declared outages past their ttl_seconds resolve themselves (monitor.outage_expiry).
    outage_expiry: Schedule = "every 30s"
    # After an outage's backfill, stored data is compared with the provider's
    # (monitor.outage_completeness).
    outage_completeness: Schedule = "every 60s"
    outbox_relay_seconds: float = Field(default=1.0, gt=0, le=60)
    # Raw external data is kept five years (runbook default); older observations are deleted.
    retention_days: int = Field(default=1826, ge=30)
    # Yearly observation partitions kept ready beyond the current year: the ingest accepts
    # dates up to ten years ahead, so none lands in the DEFAULT partition.
    partitions_ahead_years: int = Field(default=11, ge=1, le=50)
    # Outbox rows already published are deleted this long after they were sent.
    outbox_retention_days: int = Field(default=7, ge=1)


class Defaults(_Strict):
    replicas: int = Field(default=1, ge=1, le=1000)
    retry: RetrySection = RetrySection()
    circuit_breaker: BreakerDefaults = BreakerDefaults()


class ProviderSection(_Strict):
    display_name: str
    enabled: bool = True
    base_url: str = Field(pattern=r"^https?://")
    mirror_url: str | None = Field(default=None, pattern=r"^https?://")
    credential_setting: str | None = None
    rate_limit: RateLimitSection
    quota: QuotaSection = QuotaSection()
    cost: CostSection = CostSection()
    circuit_breaker: BreakerSection
    retry: RetrySection | None = None
    ingest: IngestSection = IngestSection()
    # `ingest` (and for EIA `bulk`): a crontab line in UTC or `every <duration>`.
    schedule: dict[str, Schedule] = Field(default_factory=dict)
    kafka_topics: dict[str, str] = Field(default_factory=dict)
    datasets: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def series_ids(self) -> list[str]:
        """The configured datasets' ids, in file order."""
        return [str(d.get("series_id") or d.get("id")) for d in self.datasets]


class ProvidersConfig(_Strict):
    defaults: Defaults = Defaults()
    jobs: JobsSection = JobsSection()
    providers: dict[ProviderName, ProviderSection]

    def resilience(self, name: str) -> ResilienceConfig:
        """The guarded client's view of one provider."""
        section = self.providers[name]  # type: ignore[index]
        retry = section.retry or self.defaults.retry
        breaker = self.defaults.circuit_breaker
        return ResilienceConfig(
            provider=name,
            rate=RateConfig(
                requests_per_second=section.rate_limit.requests_per_second,
                burst=section.rate_limit.burst,
            ),
            quota=QuotaConfig(
                daily=section.quota.daily,
                hourly=section.quota.hourly,
                warn_ratio=section.quota.warn_percent / 100,
                critical_ratio=section.quota.critical_percent / 100,
            ),
            breaker=BreakerConfig(
                failure_threshold=section.circuit_breaker.failure_threshold,
                open_seconds=section.circuit_breaker.open_minutes * 60,
                failure_rate_threshold=breaker.failure_rate_percent / 100,
                window_seconds=breaker.window_seconds,
                minimum_calls=breaker.minimum_calls,
                half_open_max_calls=breaker.half_open_max_calls,
                success_threshold=breaker.success_threshold,
            ),
            retry=RetryConfig(
                attempts=retry.attempts,
                backoff_factor=retry.backoff_factor,
                base_delay_seconds=retry.base_delay_seconds,
                max_delay_seconds=retry.max_delay_seconds,
                timeout_seconds=retry.timeout_seconds,
            ),
            cost=CostConfig(
                cost_per_1000_requests_usd=section.cost.per_1000_requests_usd,
                monthly_budget_usd=section.cost.monthly_budget_usd,
            ),
            replicas=self.defaults.replicas,
        )


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resolve_config_path(path: Path) -> Path:
    """A relative path is looked up in the working directory, then in the project root (so
    `aurum serve` started elsewhere, as the benchmarks do, still finds `config/`)."""
    if path.is_absolute() or path.exists():
        return path
    candidate = PROJECT_ROOT / path
    return candidate if candidate.exists() else path


class ProviderConfigError(ValueError):
    """The file is unusable; the message names the file, line and key."""


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_provider_config(path: Path) -> ProvidersConfig:
    path = resolve_config_path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProviderConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        # libyaml's loader when PyYAML has it: a file of 20,000 datasets loads in a second
        # instead of half a minute (line numbers for errors come from the same parser).
        document = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProviderConfigError(f"{path}{where}: not valid YAML: {problem}") from exc
    try:
        return ProvidersConfig.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        key = ".".join(str(part) for part in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f":{line}" if line else ""
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ProviderConfigError(f"{path}{where}: {key}: {first['msg']}{more}") from exc


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node on `loc` (the key's line when the value is
    missing)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    line, node = key_node.start_mark.line + 1, value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
