"""One outcome from many batches: a history validated chunk by chunk reports each expectation
once, as if it had run on every row at once (counts summed, a few unexpected values kept)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from app.quality.engine import PARTIAL_UNEXPECTED, ExpectationOutcome, SuiteOutcome, outcome_of
from app.quality.suites import ExpectationSpec

_SUMMED = ("element_count", "unexpected_count", "missing_count")


@dataclass
class OutcomeMerger:
    """Folds chunk outcomes in as they come, so memory holds one entry per expectation."""

    mostly: dict[str, float] = field(default_factory=dict)
    _merged: dict[str, ExpectationOutcome] = field(default_factory=dict)

    @classmethod
    def for_specs(cls, specs: Iterable[ExpectationSpec]) -> OutcomeMerger:
        mostly = {
            spec.meta.id: float(spec.kwargs["mostly"])
            for spec in specs
            if isinstance(spec.kwargs.get("mostly"), int | float)
        }
        return cls(mostly=mostly)

    def add(self, outcome: SuiteOutcome | Iterable[ExpectationOutcome]) -> None:
        items = outcome.results if isinstance(outcome, SuiteOutcome) else outcome
        for item in items:
            seen = self._merged.get(item.id)
            self._merged[item.id] = item if seen is None else _combine(seen, item)

    def result(self) -> SuiteOutcome:
        return outcome_of([self._settle(item) for item in self._merged.values()])

    def _settle(self, item: ExpectationOutcome) -> ExpectationOutcome:
        """A `mostly` expectation is judged on the summed counts: each chunk alone may pass
        or fail where the whole would not."""
        mostly = self.mostly.get(item.id)
        percent = item.observed.get("unexpected_percent")
        if mostly is None or item.exception is not None or not isinstance(percent, float):
            return item
        return replace(item, success=percent <= (1.0 - mostly) * 100.0 + 1e-9)


def _combine(first: ExpectationOutcome, other: ExpectationOutcome) -> ExpectationOutcome:
    observed = dict(first.observed)
    extra = other.observed
    for key in _SUMMED:
        if isinstance(observed.get(key), int) and isinstance(extra.get(key), int):
            observed[key] = observed[key] + extra[key]
    value, more = observed.get("observed_value"), extra.get("observed_value")
    if isinstance(value, int) and isinstance(more, int) and not isinstance(value, bool):
        observed["observed_value"] = value + more  # unexpected rows: a count
    elif first.success and not other.success:
        observed["observed_value"] = more  # an aggregate: keep the failing chunk's
    if isinstance(extra.get("partial_unexpected_list"), list):
        kept = list(observed.get("partial_unexpected_list") or [])
        observed["partial_unexpected_list"] = (kept + extra["partial_unexpected_list"])[
            :PARTIAL_UNEXPECTED
        ]
    observed["details"] = _details(observed.get("details"), extra.get("details"))
    if observed["details"] is None:
        del observed["details"]
    counted = int(observed.get("element_count") or 0) - int(observed.get("missing_count") or 0)
    if isinstance(observed.get("unexpected_count"), int) and counted > 0:
        observed["unexpected_percent"] = 100.0 * observed["unexpected_count"] / counted
    return replace(
        first,
        success=first.success and other.success,
        observed=observed,
        exception=first.exception or other.exception,
    )


def _details(first: Any, other: Any) -> Any:
    if isinstance(first, dict) and isinstance(other, dict) and "unexpected_rows" in first:
        rows = list(first.get("unexpected_rows") or []) + list(other.get("unexpected_rows") or [])
        return {**first, "unexpected_rows": rows[:PARTIAL_UNEXPECTED]}
    return first if first is not None else other
