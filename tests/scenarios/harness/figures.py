"""The times a scenario module measured: a JSON file in its directory and a table on stdout
(shown with `-s`)."""

from __future__ import annotations

import json
from pathlib import Path

Figures = dict[str, dict[str, float | None]]


def report_figures(measured: Figures, path: Path, title: str) -> None:
    """Write `measured` (row label -> column -> seconds) to `path` and print it as a table,
    one column per name any row has; rows with nothing measured are left out."""
    path.write_text(json.dumps(measured, indent=2))
    columns = list(dict.fromkeys(c for row in measured.values() for c in row))
    width = max((len(label) for label in measured), default=8) + 1
    lines = [f"{title} (seconds), also in {path}:", " " * width + "  ".join(columns)]
    for label, row in measured.items():
        if not row:
            continue
        cells = [f"{row.get(c) if row.get(c) is not None else '-':>{len(c)}}" for c in columns]
        lines.append(f"{label:<{width}}" + "  ".join(cells))
    print("\n" + "\n".join(lines))
