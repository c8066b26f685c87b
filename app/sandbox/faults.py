"""Faults injected at run time through `/_sandbox/faults`, and the per-endpoint request counts."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

PROVIDERS = ("fred", "eia", "noaa", "worldbank")


class FaultKind(StrEnum):
    LATENCY = "latency"  # wait delay_seconds, then answer normally
    STATUS = "status"  # an HTTP error status (default 503) with the provider's error body
    TIMEOUT = "timeout"  # wait delay_seconds (default 60) before answering: longer than clients
    MALFORMED = "malformed"  # HTTP 200 with a body that is not JSON
    ERROR_200 = "error_200"  # the provider's own error envelope sent with HTTP 200
    TRUNCATED = "truncated"  # the normal answer cut in half
    THROTTLE = "throttle"  # 429 (or `status`) with Retry-After and the provider's throttle body


class InvalidFault(ValueError):
    pass


@dataclass
class FaultRule:
    id: int
    kind: FaultKind
    provider: str | None = None  # None: every provider
    path: str | None = None  # substring of the path below the provider's base URL
    status: int | None = None
    delay_seconds: float | None = None
    retry_after: int | None = 1
    count: int | None = None  # requests still to affect; None: until cleared
    probability: float = 1.0
    fired: int = 0

    def matches(self, provider: str, path: str) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        return self.path is None or self.path in path

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_rule(body: Any, rule_id: int) -> FaultRule:
    if not isinstance(body, dict):
        raise InvalidFault("body must be a JSON object")
    unknown = set(body) - {
        "kind",
        "provider",
        "path",
        "status",
        "delay_seconds",
        "retry_after",
        "count",
        "probability",
    }
    if unknown:
        raise InvalidFault(f"unknown fields: {', '.join(sorted(unknown))}")
    try:
        kind = FaultKind(str(body.get("kind")))
    except ValueError:
        raise InvalidFault(f"kind must be one of {', '.join(k.value for k in FaultKind)}") from None
    provider = body.get("provider")
    if provider is not None and provider not in PROVIDERS:
        raise InvalidFault(f"provider must be one of {', '.join(PROVIDERS)}")
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise InvalidFault("count must be a positive integer or null")
    probability = body.get("probability", 1.0)
    if not isinstance(probability, int | float) or not 0 < probability <= 1:
        raise InvalidFault("probability must be in (0, 1]")
    status = body.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise InvalidFault("status must be an HTTP status code")
    delay = body.get("delay_seconds")
    if delay is not None and (not isinstance(delay, int | float) or delay < 0):
        raise InvalidFault("delay_seconds must be >= 0")
    retry_after = body.get("retry_after", 1)
    if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
        raise InvalidFault("retry_after must be a non-negative integer or null")
    path = body.get("path")
    if path is not None and not isinstance(path, str):
        raise InvalidFault("path must be a string")
    return FaultRule(
        id=rule_id,
        kind=kind,
        provider=provider,
        path=path,
        status=status,
        delay_seconds=None if delay is None else float(delay),
        retry_after=retry_after,
        count=count,
        probability=float(probability),
    )


class FaultInjector:
    """Rules in the order added; the first matching rule with requests left fires."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._rng = random.Random(seed)  # noqa: S311 - which request a fault hits, not crypto
        self._lock = threading.Lock()

    def add(self, body: Any) -> FaultRule:
        with self._lock:
            rule = parse_rule(body, self._next_id)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self) -> int:
        with self._lock:
            n = len(self._rules)
            self._rules.clear()
            return n

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def take(self, provider: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if not rule.matches(provider, path):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.probability < 1 and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
            return None


class RequestStats:
    """Requests per provider and endpoint template (faulted and throttled ones included)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def hit(self, provider: str, endpoint: str) -> None:
        with self._lock:
            self._counts[(provider, endpoint)] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_provider: Counter[str] = Counter()
            by_endpoint: dict[str, int] = {}
            for (provider, endpoint), n in sorted(self._counts.items()):
                by_provider[provider] += n
                by_endpoint[f"{provider}:{endpoint}"] = n
            return {
                "total": sum(by_provider.values()),
                "by_provider": dict(by_provider),
                "by_endpoint": by_endpoint,
            }
