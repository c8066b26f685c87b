"""Which limits apply to a path: a default rule and path-prefix rules from settings, written in
slowapi's limit syntax (`100/60 seconds;20/1 second`, `500/hour`) and parsed by `limits`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond, parse_many

from app.settings import Settings

DEFAULT_RULE = "default"


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """Every limit in `text`, all enforced together, shortest window first.

    "100 per 60 s with burst 20" reads as two limits: 100 per 60 seconds AND 20 per 1 second.
    Shortest first, because a request refused by the burst limit then does not also spend
    the longer window's budget."""
    items = parse_many(text)
    if any(item.amount < 1 for item in items):
        raise ValueError(f"{text!r}: every limit must allow at least 1 request")
    return tuple(sorted(items, key=lambda item: item.get_expiry()))


def describe(item: RateLimitItem) -> str:
    """`100 per 60 seconds`, `20 per 1 second`, `500 per 1 hour`."""
    unit = item.GRANULARITY.name + ("s" if item.multiples != 1 else "")
    return f"{item.amount} per {item.multiples} {unit}"


@dataclass(frozen=True, slots=True)
class Rule:
    """`name` is `default` or the path prefix: bounded by configuration, so it may label
    metrics and take part in storage keys."""

    name: str
    prefix: str
    limits: tuple[RateLimitItem, ...]


class RuleSet:
    """Matches a path to its rule before routing: exempt paths first, then the longest
    matching prefix, then the default rule."""

    def __init__(
        self, default: Rule, prefixed: Iterable[Rule], exempt_paths: Iterable[str] = ()
    ) -> None:
        self.default = default
        self.prefixed = tuple(sorted(prefixed, key=lambda rule: len(rule.prefix), reverse=True))
        self.exempt_paths = frozenset(exempt_paths)

    @classmethod
    def from_settings(cls, settings: Settings) -> RuleSet:
        return cls.build(
            settings.rate_limit_default,
            settings.rate_limit_rules,
            settings.rate_limit_exempt_paths,
        )

    @classmethod
    def build(
        cls, default: str, rules: Mapping[str, str], exempt_paths: Iterable[str] = ()
    ) -> RuleSet:
        return cls(
            Rule(DEFAULT_RULE, "", parse_limits(default)),
            [Rule(prefix, prefix, parse_limits(text)) for prefix, text in rules.items()],
            exempt_paths,
        )

    @property
    def all(self) -> tuple[Rule, ...]:
        return (self.default, *self.prefixed)

    def match(self, path: str) -> Rule | None:
        """The rule for `path`, or None when the path is exempt."""
        if path in self.exempt_paths:
            return None
        for rule in self.prefixed:
            if path.startswith(rule.prefix):
                return rule
        return self.default


def per_second_limit(rps: float) -> RateLimitItem:
    """An override of `rps` requests per second as a limit: whole requests per second when
    rps >= 1 (rounded), one request per ceil(1/rps) seconds below that."""
    if not math.isfinite(rps) or rps <= 0:
        raise ValueError(f"rps must be a positive number, got {rps!r}")
    if rps >= 1:
        return RateLimitItemPerSecond(round(rps), 1)
    return RateLimitItemPerSecond(1, math.ceil(1 / rps))


def with_override(
    limits: tuple[RateLimitItem, ...], override: RateLimitItem | None
) -> tuple[RateLimitItem, ...]:
    """The override replaces the burst limits (windows of one second or less) and is added to
    rules that have none; the longer windows stay as configured."""
    if override is None:
        return limits
    kept = [item for item in limits if item.get_expiry() > 1]
    return tuple(sorted([override, *kept], key=lambda item: item.get_expiry()))


def share_of(limits: tuple[RateLimitItem, ...], replicas: int) -> tuple[RateLimitItem, ...]:
    """Each replica's share of a shared limit (rounded up, at least 1), for the per-process
    fallback: with `replicas` counting separately, the total stays near the shared limit."""
    if replicas <= 1:
        return limits
    return tuple(
        type(item)(max(1, math.ceil(item.amount / replicas)), item.multiples, item.namespace)
        for item in limits
    )
