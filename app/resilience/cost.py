"""Spend per provider: requests this month x cost per 1,000, against a monthly budget, with
the month-end projection at the current rate. Counted in Redis under
`<provider>:cost:monthly:YYYY-MM` (every attempt, like the quotas), so every replica adds to
one figure."""

from __future__ import annotations

import calendar
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.monitoring.metrics import EXTERNAL_COST_BUDGET_USD, EXTERNAL_COST_USD
from app.resilience.config import CostConfig

log = logging.getLogger(__name__)

_KEY_TTL_SECONDS = 40 * 86_400  # a month and a bit, so last month's figure stays readable
SLA_TOLERANCE = 0.10  # "cost within 10 % of budget"


def cost_key(provider: str, now: datetime) -> str:
    return f"{provider}:cost:monthly:{now:%Y-%m}"


def month_fraction(now: datetime) -> float:
    """How much of the calendar month (UTC) has passed, in (0, 1]."""
    days = calendar.monthrange(now.year, now.month)[1]
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return max((now - start).total_seconds() / (days * 86_400), 1e-6)


@dataclass
class CostTracker:
    redis: Redis
    provider: str
    config: CostConfig
    # Set by PATCH /v1/admin/external/costs/{provider}; None means the file's budget.
    budget_override_usd: float | None = None
    _local_requests: int = 0
    _redis_retry_at: float = 0.0

    @property
    def budget_usd(self) -> float | None:
        if self.budget_override_usd is not None:
            return self.budget_override_usd
        return self.config.monthly_budget_usd

    @property
    def degraded(self) -> bool:
        return self._redis_retry_at > 0

    async def record(self, requests: int = 1, *, now: datetime | None = None) -> None:
        """Count attempts; never fails a provider call because Redis is down."""
        now = now or datetime.now(UTC)
        if time.monotonic() >= self._redis_retry_at:
            try:
                key = cost_key(self.provider, now)
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.incrby(key, requests)
                    pipe.expire(key, _KEY_TTL_SECONDS)
                    await pipe.execute()
                self._redis_retry_at = 0.0
                return
            except (RedisError, OSError):
                log.warning("cost counter unavailable; counting in process", exc_info=True)
                self._redis_retry_at = time.monotonic() + 1.0
        self._local_requests += requests

    async def requests_this_month(self, now: datetime) -> int:
        try:
            raw = await self.redis.get(cost_key(self.provider, now))
            return int(raw or 0) + self._local_requests
        except (RedisError, OSError):
            return self._local_requests

    async def report(self, *, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        requests = await self.requests_this_month(now)
        rate = self.config.cost_per_1000_requests_usd
        spent = requests * rate / 1000
        projected = spent / month_fraction(now)
        budget = self.budget_usd
        EXTERNAL_COST_USD.labels(self.provider).set(spent)
        if budget is not None:
            EXTERNAL_COST_BUDGET_USD.labels(self.provider).set(budget)
        status = "no_budget"
        within = None
        if budget is not None:
            within = projected <= budget * (1 + SLA_TOLERANCE)
            status = "over" if spent > budget else ("at_risk" if projected > budget else "ok")
        return {
            "provider": self.provider,
            "month": f"{now:%Y-%m}",
            "requests": requests,
            "cost_per_1000_requests_usd": rate,
            "spent_usd": round(spent, 4),
            "monthly_budget_usd": budget,
            "budget_source": "override" if self.budget_override_usd is not None else "config",
            "percent_of_budget": round(100 * spent / budget, 2) if budget else None,
            "projected_month_end_usd": round(projected, 4),
            "projected_percent_of_budget": round(100 * projected / budget, 2) if budget else None,
            "within_budget_tolerance": within,
            "status": status,
            "degraded": self.degraded,
        }
