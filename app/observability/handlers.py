"""A stream handler that writes log lines in batches.

One access line per request made the write (a system call, and a flush) part of every
request's cost on the event loop; `bench/api_overhead` measured the access line as the largest
single cost left in the stack. Here lines are collected in memory and written together: when
`FLUSH_LINES` have piled up, at once for a WARNING or worse (errors are never held back), and
otherwise by a background thread every `FLUSH_SECONDS`, and at exit (`logging.shutdown`).
What a hard kill (SIGKILL) can lose is at most the last `FLUSH_SECONDS` of INFO lines.

Access lines can also be queued as their fields (`defer_access`, see
app/observability/access.py) and rendered only when written, by the formatter's
`access_line`; they keep their place among the other lines.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any, Protocol, TextIO

FLUSH_SECONDS = 0.2
FLUSH_LINES = 256

# created, request id, method, path, status, duration in ms
AccessFields = tuple[float, str, str, str, int, float]


class AccessFormatter(Protocol):
    def access_line(self, fields: AccessFields) -> str: ...


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    terminator = "\n"

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        # Appended to by any thread without the lock (deque appends are atomic); drained
        # under the lock, so lines are written in order.
        self._pending: deque[str | AccessFields] = deque()
        self._closed = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_periodically, name="log-flusher", daemon=True
        )
        self._flusher.start()

    @property
    def access_formatter(self) -> AccessFormatter | None:
        """The formatter, when it can render queued access fields."""
        formatter: Any = self.formatter
        return formatter if hasattr(formatter, "access_line") else None

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (Handler.handle).
        try:
            line = self.format(record)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        if record.levelno >= logging.WARNING or len(self._pending) >= FLUSH_LINES:
            self.flush()

    def defer_access(self, fields: AccessFields) -> None:
        """Queue an access line as its fields; rendered when written."""
        self._pending.append(fields)
        if len(self._pending) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            if self._pending:
                try:
                    self.stream.write(self._drain())
                except Exception:  # a closed or broken stream: never fail the caller for it
                    return
            super().flush()

    def _drain(self) -> str:
        formatter = self.access_formatter
        lines = []
        pending = self._pending
        for _ in range(len(pending)):  # what is queued now; later lines wait for the next
            item = pending.popleft()
            if isinstance(item, str):
                lines.append(item)
            elif formatter is not None:
                lines.append(formatter.access_line(item))
        return self.terminator.join(lines) + self.terminator if lines else ""

    def close(self) -> None:
        self._closed.set()
        self.flush()
        super().close()

    def _flush_periodically(self) -> None:
        while not self._closed.wait(FLUSH_SECONDS):
            if self._pending:
                self.flush()
