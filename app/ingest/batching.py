"""Splitting a collector's rows into ingest batches; each batch is its own transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

MAX_BATCH_SIZE = 100_000


def effective_batch_size(configured: int, flag_configuration: Mapping[str, Any] | None) -> int:
    """The provider file's `ingest.batch_size`, unless the `external_ingest` flag's
    configuration overrides it (`{"batch_size": 500}`); an unusable override is ignored."""
    override = (flag_configuration or {}).get("batch_size")
    if isinstance(override, int) and not isinstance(override, bool) and override >= 1:
        return min(override, MAX_BATCH_SIZE)
    return max(1, min(configured, MAX_BATCH_SIZE))


def batches(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` rows (rows of one series stay in order)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
