"""The curve: one column per shape, one row per measure, and the targets judged at the largest
shape measured. Printed as text; written as JSON or Markdown (by the file's suffix)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Cell = float | int | str | None


def progress(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


@dataclass
class Column:
    """One shape's figures, keyed by the measure's name (see MEASURES)."""

    shape: str
    values: dict[str, Cell] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    measure: str
    text: str
    met: Callable[[Cell], bool]


def _fmt(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


# (key, label) in the order printed.
MEASURES = [
    ("series", "series"),
    ("rows", "rows"),
    ("build_s", "build time, s (this shape's synthetic rows)"),
    ("ingest_rows_per_s", "ingest rows/s (app.runner, bulk FRED series)"),
    ("ingest_vs_small", "ingest vs small"),
    ("validation_rows", "validation: rows the ingest added"),
    ("validation_s", "validation after ingest, s"),
    ("validation_peak_mb", "  peak RSS of the service, MB"),
    ("validation_baseline_mb", "  RSS before the ingest, MB"),
    ("sla_single_ms", "SLA 30d uncached, one request, ms"),
    ("sla_p50_ms", "SLA 30d, 8 clients, p50 ms"),
    ("sla_p99_ms", "SLA 30d, 8 clients, p99 ms"),
    ("sla_answered", "SLA 30d, 8 clients all answered"),
    ("health_single_ms", "health uncached, one request, ms"),
    ("health_p50_ms", "health, 8 clients, p50 ms"),
    ("health_p99_ms", "health, 8 clients, p99 ms"),
    ("health_answered", "health, 8 clients all answered"),
    ("read_rps", "read API uncached page, req/s"),
    ("bare_rps", "bare FastAPI same bytes, req/s"),
    ("read_ratio", "read API / bare"),
    ("read_p50_ms", "read API p50 ms"),
    ("read_p99_ms", "read API p99 ms"),
    ("load_average", "machine load average (1 min) at the end"),
]


def _num(value: Cell) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _below(limit: float) -> Callable[[Cell], bool]:
    return lambda v: (n := _num(v)) is not None and n < limit


def _at_least(limit: float) -> Callable[[Cell], bool]:
    return lambda v: (n := _num(v)) is not None and n >= limit


TARGETS = [
    Target("validation_s", "validation after ~1,500-row ingest < 5 s", _below(5.0)),
    Target("validation_peak_mb", "validation peak memory < 1 GB", _below(1024.0)),
    Target("sla_single_ms", "SLA 30d uncached < 300 ms", _below(300.0)),
    Target("sla_answered", "SLA 30d: 8 clients all answered", lambda v: v == "yes"),
    Target("health_single_ms", "health overview uncached < 50 ms", _below(50.0)),
    Target("read_ratio", "read API uncached >= 0.30 of bare", _at_least(0.30)),
    Target("read_p99_ms", "read API p99 < 25 ms", _below(25.0)),
    Target("ingest_vs_small", "ingest rows/s >= 0.8 of small", _at_least(0.8)),
]


def render(columns: list[Column], notes: list[str]) -> str:
    width = max(len(label) for _, label in MEASURES) + 2
    cell = max(14, *(len(c.shape) + 2 for c in columns))
    lines = ["bench/scale: the curve", ""]
    lines.append(f"{'measure':<{width}}" + "".join(f"{c.shape:>{cell}}" for c in columns))
    for key, label in MEASURES:
        lines.append(
            f"{label:<{width}}" + "".join(f"{_fmt(c.values.get(key)):>{cell}}" for c in columns)
        )
    if columns:
        last = columns[-1]
        lines += ["", f"targets at the largest shape measured ({last.shape}):"]
        for target in TARGETS:
            value = last.values.get(target.measure)
            verdict = "met" if target.met(value) else "NOT MET"
            lines.append(f"  {target.text:<42} {_fmt(value):>10}  {verdict}")
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


def verdicts(columns: list[Column]) -> list[dict[str, Any]]:
    if not columns:
        return []
    last = columns[-1]
    return [
        {"target": t.text, "shape": last.shape, "value": last.values.get(t.measure),
         "met": t.met(last.values.get(t.measure))}
        for t in TARGETS
    ]  # fmt: skip


def markdown(columns: list[Column], notes: list[str]) -> str:
    lines = ["| measure | " + " | ".join(c.shape for c in columns) + " |"]
    lines.append("|---|" + "---|" * len(columns))
    for key, label in MEASURES:
        cells = " | ".join(_fmt(c.values.get(key)) for c in columns)
        lines.append(f"| {label.strip()} | {cells} |")
    lines += ["", "| target | value | verdict |", "|---|---|---|"]
    for v in verdicts(columns):
        lines.append(f"| {v['target']} | {_fmt(v['value'])} | {'met' if v['met'] else 'not met'} |")
    lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def write(path: Path, columns: list[Column], notes: list[str]) -> None:
    if path.suffix.lower() in {".md", ".markdown"}:
        path.write_text(markdown(columns, notes))
        return
    body = {
        "shapes": [{"shape": c.shape, **c.values} for c in columns],
        "targets": verdicts(columns),
        "notes": notes,
    }
    path.write_text(json.dumps(body, indent=2) + "\n")
