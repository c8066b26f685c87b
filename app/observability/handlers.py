"""A stream handler that writes log lines in batches.

One access line per request made the write (a system call, and a flush) part of every
request's cost on the event loop; `bench/api_overhead` measured the access line as the largest
single cost left in the stack. Here lines are collected in memory and written together: when
`FLUSH_BYTES` have piled up, at once for a WARNING or worse (errors are never held back), and
otherwise by a background thread every `FLUSH_SECONDS`, and at exit (`logging.shutdown`).
What a hard kill (SIGKILL) can lose is at most the last `FLUSH_SECONDS` of INFO lines.
"""

from __future__ import annotations

import logging
import threading
from typing import TextIO

FLUSH_SECONDS = 0.2
FLUSH_BYTES = 64 * 1024


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    terminator = "\n"

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._size = 0
        self._closed = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_periodically, name="log-flusher", daemon=True
        )
        self._flusher.start()

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
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            if self._pending:
                text = self.terminator.join(self._pending) + self.terminator
                self._pending.clear()
                self._size = 0
                try:
                    self.stream.write(text)
                except Exception:  # a closed or broken stream: never fail the caller for it
                    return
            super().flush()

    def close(self) -> None:
        self._closed.set()
        self.flush()
        super().close()

    def _flush_periodically(self) -> None:
        while not self._closed.wait(FLUSH_SECONDS):
            if self._pending:
                self.flush()
