"""The collector runs ahead of the writes, but batches arrive in order, a collector error
arrives after the batches before it, and a consumer that stops cancels the collector."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from app.jobs.collect import fetched_ahead
from app.providers.base import Batch


def _batch(n: int) -> Batch:
    return Batch(rows=[n], checkpoints=[])  # type: ignore[list-item]


async def test_batches_arrive_in_order_while_the_collector_runs_ahead() -> None:
    produced: list[int] = []

    async def collector() -> AsyncIterator[Batch]:
        for n in range(10):
            produced.append(n)
            yield _batch(n)

    seen = []
    async with contextlib.aclosing(fetched_ahead(collector(), 3)) as batches:
        async for batch in batches:
            await asyncio.sleep(0.005)  # a write
            seen.append(batch.rows[0])
            assert len(produced) - len(seen) <= 3 + 1  # never more than `depth` ahead
    assert seen == list(range(10))


async def test_a_collector_error_arrives_after_the_batches_before_it() -> None:
    async def collector() -> AsyncIterator[Batch]:
        yield _batch(1)
        yield _batch(2)
        raise ValueError("malformed page")

    seen = []
    with pytest.raises(ValueError, match="malformed page"):
        async with contextlib.aclosing(fetched_ahead(collector(), 5)) as batches:
            async for batch in batches:
                seen.append(batch.rows[0])
    assert seen == [1, 2]


async def test_a_consumer_that_stops_cancels_the_collector() -> None:
    closed = asyncio.Event()

    async def collector() -> AsyncIterator[Batch]:
        try:
            for n in range(1000):
                yield _batch(n)
        finally:
            closed.set()

    with pytest.raises(RuntimeError):
        async with contextlib.aclosing(fetched_ahead(collector(), 2)) as batches:
            async for _ in batches:
                raise RuntimeError("write failed")
    await asyncio.wait_for(closed.wait(), 1)
