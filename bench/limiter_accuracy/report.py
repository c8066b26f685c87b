"""What one run measured, and how it is printed."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from bench.limiter_accuracy.stats import percentile


def progress(message: str) -> None:
    """A progress line on stderr, so stdout carries only the report."""
    print(f"[limiter_accuracy] {message}", file=sys.stderr, flush=True)


@dataclass
class Phase:
    """One phase: what the fake provider saw, and what the workers measured."""

    name: str
    duration: float
    provider: dict[str, Any]  # the fake provider's report
    workers: list[dict[str, Any]]

    def samples(self, key: str) -> list[float]:
        return [value for worker in self.workers for value in worker[key]]

    @property
    def arrivals(self) -> int:
        return int(self.provider["arrivals"])

    @property
    def max_in_1s(self) -> int:
        return int(self.provider["max_in_1s"])

    def ms(self, key: str, q: float) -> float:
        return 1000 * percentile(self.samples(key), q)


@dataclass
class Report:
    rate: float
    burst: int
    processes: int
    concurrency: int
    margin: float
    redis: str
    shared: Phase
    naive: Phase
    notes: list[str] = field(default_factory=list)

    @property
    def bound(self) -> float:
        """The most a GCRA of this rate and burst lets into any 1 s window."""
        return self.rate + self.burst - 1

    @property
    def utilisation(self) -> float:
        return self.shared.arrivals / (self.rate * self.shared.duration)

    def render(self) -> str:
        shared, naive = self.shared, self.naive
        seconds = shared.provider["per_second"]
        bound_ok = shared.max_in_1s <= self.bound
        util_ok = self.utilisation >= 0.95
        rows = [
            (
                "limit",
                f"{self.rate:g} requests/s, burst {self.burst} (bound in any 1 s window: "
                f"{self.bound:g})",
            ),
            (
                "load",
                f"{self.processes} processes x {self.concurrency} loops, as fast as allowed; "
                f"Redis {self.redis}",
            ),
            ("", ""),
            ("(b) shared limiter", f"{shared.duration:g} s, margin {self.margin:.0%}"),
            (
                "  max requests in any 1 s window",
                f"{shared.max_in_1s}  [{'PASS' if bound_ok else 'MISS'}: target <= {self.bound:g}]",
            ),
            ("  arrivals", f"{shared.arrivals}"),
            (
                "  utilisation",
                f"{self.utilisation:.1%}  [{'PASS' if util_ok else 'MISS'}: target >= 95%]",
            ),
            (
                "  per wall-clock second",
                f"min {min(seconds, default=0)}, max "
                f"{max(seconds, default=0)} over {len(seconds)} whole seconds",
            ),
            (
                "  limiter added latency p50 / p99",
                f"{shared.ms('overheads', 50):.2f} / "
                f"{shared.ms('overheads', 99):.2f} ms  (time in acquire beyond the intended wait)",
            ),
            (
                "  of which the script round-trip",
                f"{shared.ms('round_trips', 50):.2f} / "
                f"{shared.ms('round_trips', 99):.2f} ms  (one EVALSHA per acquire)",
            ),
            ("  intended wait p50", f"{shared.ms('waits', 50):.1f} ms"),
            ("", ""),
            (
                "(a) naive per-process limiter",
                f"{naive.duration:g} s, each process at the full rate, nothing shared",
            ),
            ("  max requests in any 1 s window", f"{naive.max_in_1s}"),
            ("  ratio to the limit", f"{naive.max_in_1s / self.rate:.2f}x"),
            ("  ratio (a) / (b), max in 1 s", f"{naive.max_in_1s / max(1, shared.max_in_1s):.2f}x"),
        ]
        width = max(len(label) for label, _ in rows)
        lines = ["bench/limiter_accuracy", ""]
        lines += [f"{label:<{width}}  {value}".rstrip() for label, value in rows]
        if self.notes:
            lines += ["", *(f"note: {note}" for note in self.notes)]
        return "\n".join(lines)
