"""What the guarded client needs to know about one provider (from
config/external_providers.yml). The resilience package never learns which provider it serves
beyond this name."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateConfig:
    """Requests spaced in time: `requests_per_second` sustained, up to `burst` at once."""

    requests_per_second: float
    burst: int = 1
    # Adaptive: on a throttle signal the effective rate is multiplied by `decrease_factor`
    # (never below `min_fraction` of the configured rate); after `recover_after_seconds`
    # without one it grows back by `recover_step` of the configured rate each time.
    adaptive: bool = True
    decrease_factor: float = 0.5
    min_fraction: float = 0.1
    recover_after_seconds: float = 30.0
    recover_step: float = 0.1


@dataclass(frozen=True)
class QuotaConfig:
    daily: int | None = None
    hourly: int | None = None
    warn_ratio: float = 0.75
    critical_ratio: float = 0.90


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5  # consecutive failures that open the breaker
    open_seconds: float = 1800.0
    failure_rate_threshold: float = 0.5  # or this share of failures over the window...
    window_seconds: float = 60.0
    minimum_calls: int = 20  # ...once the window holds at least this many calls
    half_open_max_calls: int = 2  # probes let through while HALF_OPEN
    success_threshold: int = 2  # consecutive probe successes that close it


@dataclass(frozen=True)
class RetryConfig:
    attempts: int = 3  # total attempts, the first included
    backoff_factor: float = 2.0
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class CostConfig:
    cost_per_1000_requests_usd: float = 0.0
    monthly_budget_usd: float | None = None


@dataclass(frozen=True)
class ResilienceConfig:
    provider: str
    rate: RateConfig
    quota: QuotaConfig = field(default_factory=QuotaConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    # Replicas sharing the provider's limit; each takes 1/replicas of it while Redis is down.
    replicas: int = 1
