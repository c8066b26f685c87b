"""COPY's text format for checked rows, built here a chunk at a time.

Building the text in Python costs less than psycopg's `write_row`, which adapts every field of
every row on its own. The common chunk has no tab, newline, carriage return or backslash in
any field (dates, numbers, plain labels), so it is formatted without escaping and then
verified by counting delimiters, which runs in C. Only a chunk that fails the count is
formatted again with every field escaped. A NULL is `\\N`; while formatting, NUL stands in
for it, since the row checks admit no NUL in any text field or in the metadata.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.ingest.rows import ValidRow

NULL = "\\N"
_NUL = "\x00"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
OBSERVATION_COLUMNS = "series_id, obs_date, period_label, value, raw_value, units, metadata"
_TABS_PER_ROW = 6  # seven columns


def field(value: str | None) -> str:
    """One text field, escaped for COPY."""
    if value is None:
        return NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def plain(text: str, lines: int, tabs_per_line: int) -> bool:
    """True when `text` (formatted without escaping, NULLs as NUL) holds exactly the
    delimiters its `lines` lines put there: no field contains one, nor a backslash or CR."""
    return (
        text.count("\n") == lines
        and text.count("\t") == lines * tabs_per_line
        and "\\" not in text
        and "\r" not in text
    )


def observation_lines(rows: Sequence[ValidRow], prefix: str = "") -> str:
    """The rows as COPY lines of OBSERVATION_COLUMNS, each after `prefix`: the leading
    columns' COPY text, already escaped, ending with a tab."""
    text = "".join(
        [
            f"{prefix}{r.series_id}\t{r.obs_date.isoformat()}\t{r.period_label}\t"
            f"{_NUL if r.value is None else repr(r.value)}\t"
            f"{_NUL if r.raw_value is None else r.raw_value}\t"
            f"{_NUL if r.units is None else r.units}\t{r.metadata_json}\n"
            for r in rows
        ]
    )
    if plain(text, len(rows), _TABS_PER_ROW + prefix.count("\t")):
        return text.replace(_NUL, NULL)
    return "".join(
        [
            f"{prefix}{field(r.series_id)}\t{r.obs_date.isoformat()}\t{field(r.period_label)}\t"
            f"{NULL if r.value is None else repr(r.value)}\t{field(r.raw_value)}\t"
            f"{field(r.units)}\t{field(r.metadata_json)}\n"
            for r in rows
        ]
    )
