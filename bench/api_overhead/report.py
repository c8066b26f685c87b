"""What one load run measured, and the report that compares the two servers."""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass

TARGET_RATIO = 0.60
TARGET_P99_MS = 25.0
# The naive reference stack (slowapi's BaseHTTPMiddleware + decorator, the instrumentator, a header
# dependency, in-memory limits), measured on this class of machine.
REFERENCE = "naive stack 0.26 of bare (1,955 vs 7,550 req/s)"


def progress(message: str) -> None:
    """A progress line on stderr, so stdout carries only the report."""
    print(f"[api_overhead] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Measurement:
    """One load run against one server. Latencies are in milliseconds."""

    requests: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_200: int = 0
    errors: int = 0

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Measurement:
        return cls(
            requests=int(str(data["requests"])),
            elapsed_s=float(str(data["elapsed_s"])),
            rps=float(str(data["rps"])),
            p50_ms=float(str(data["p50_ms"])),
            p99_ms=float(str(data["p99_ms"])),
            non_200=int(str(data.get("non_200", 0))),
            errors=int(str(data.get("errors", 0))),
        )


def mean_of(runs: list[Measurement]) -> Measurement:
    """The runs' mean (requests/s, percentiles); counters are summed."""
    count = len(runs)
    return Measurement(
        requests=sum(run.requests for run in runs),
        elapsed_s=sum(run.elapsed_s for run in runs),
        rps=sum(run.rps for run in runs) / count,
        p50_ms=sum(run.p50_ms for run in runs) / count,
        p99_ms=sum(run.p99_ms for run in runs) / count,
        non_200=sum(run.non_200 for run in runs),
        errors=sum(run.errors for run in runs),
    )


@dataclass(frozen=True)
class Report:
    path: str
    connections: int
    duration: int
    loadgen: str
    bare_runs: list[Measurement]
    real: Measurement
    real_setup: str  # what (b) runs with, e.g. "API key, Redis rate limit, metrics"
    notes: list[str]

    @property
    def bare(self) -> Measurement:
        return mean_of(self.bare_runs)

    @property
    def ratio(self) -> float:
        return self.real.rps / self.bare.rps if self.bare.rps else 0.0

    def render(self) -> str:
        bare, real = self.bare, self.real
        lines = [
            f"api_overhead  path={self.path}  connections={self.connections}  "
            f"duration={self.duration}s  loadgen={self.loadgen}",
        ]
        for index, run in enumerate(self.bare_runs, start=1):
            if len(self.bare_runs) > 1:
                lines.append(_row(f"bare FastAPI (a) run {index}:", run))
        label = "bare FastAPI (a) mean:" if len(self.bare_runs) > 1 else "bare FastAPI (a):"
        lines.append(_row(label, bare))
        lines.append(_row("real app (b):", real) + f"  ({self.real_setup})")
        ratio_ok = self.ratio >= TARGET_RATIO
        p99_ok = real.p99_ms < TARGET_P99_MS
        lines.append(
            f"  {'ratio b/a:':<24}{self.ratio:.2f}   (target >= {TARGET_RATIO:.2f}) "
            f"{_verdict(ratio_ok)}   p99(b) {real.p99_ms:.1f} ms "
            f"(target < {TARGET_P99_MS:.0f} ms) {_verdict(p99_ok)}"
        )
        lines.append(f"  {'reference:':<24}{REFERENCE}")
        for run_name, run in (("(a)", bare), ("(b)", real)):
            if run.non_200 or run.errors:
                lines.append(
                    f"  WARNING: {run_name} answered {run.non_200} non-200 responses and had "
                    f"{run.errors} connection errors during measurement"
                )
        for note in self.notes:
            lines.extend(
                textwrap.wrap(note, 98, initial_indent="  note: ", subsequent_indent=" " * 8)
            )
        return "\n".join(lines)


def _row(label: str, run: Measurement) -> str:
    return (
        f"  {label:<24}{run.rps:>8,.0f} req/s   p50 {run.p50_ms:.1f} ms   p99 {run.p99_ms:.1f} ms"
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
