"""Log lines are written in batches, but never lost and never held back for long."""

from __future__ import annotations

import io
import logging
import time

from app.observability.handlers import FLUSH_SECONDS, BatchedStreamHandler


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("aurum.test", level, __file__, 1, message, None, None)


def test_info_lines_are_written_by_the_flusher_and_warnings_at_once() -> None:
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream)
    try:
        handler.handle(_record(logging.INFO, "first"))
        handler.handle(_record(logging.INFO, "second"))
        deadline = time.monotonic() + 20 * FLUSH_SECONDS
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(FLUSH_SECONDS / 4)
        assert stream.getvalue() == "first\nsecond\n"
        handler.handle(_record(logging.INFO, "third"))
        handler.handle(_record(logging.WARNING, "careful"))
        assert stream.getvalue() == "first\nsecond\nthird\ncareful\n"  # in order, at once
    finally:
        handler.close()


def test_closing_writes_what_is_pending() -> None:
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream)
    handler.handle(_record(logging.INFO, "last words"))
    handler.close()
    assert stream.getvalue() == "last words\n"
