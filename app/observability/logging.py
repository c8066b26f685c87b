"""Structured logs: one JSON object per line on stdout, carrying the request id and replica."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from app.observability.access import ACCESS_LOGGER
from app.observability.context import current_request_id
from app.observability.handlers import AccessFields, BatchedStreamHandler
from app.settings import LogFormat, Settings

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record. It runs once per request (the access line), so it skips
    the costly parts of the obvious version: the JSON encoder is built once, not per call, and
    the timestamp's date and time are formatted once per second.

    Records are formatted on the calling thread (a QueueHandler with a formatting thread was
    measured slower here: formatting still needs the GIL, and handing it back and forth with
    the event loop's thread cost more per request than it moved); the lines are written in
    batches (BatchedStreamHandler)."""

    def __init__(self, replica_id: str) -> None:
        super().__init__()
        self.replica_id = replica_id
        self._encode = json.JSONEncoder(default=str, separators=(",", ":")).encode
        self._second: tuple[int, str] = (-1, "")  # one tuple, swapped whole: thread-safe

    def _timestamp(self, created: float) -> str:
        whole = int(created)
        second = self._second
        if second[0] != whole:
            text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            second = self._second = (whole, text)
        return f"{second[1]}.{int((created - whole) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
            "replica": self.replica_id,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).strip()
        return self._encode(entry)

    def access_line(self, fields: AccessFields) -> str:
        """The line `format` writes for the access record of app.observability.access, built
        directly from its fields (same keys, same order, same encoding)."""
        created, request_id, method, path, status, duration_ms = fields
        text = encode_basestring_ascii
        return (
            f'{{"ts":"{self._timestamp(created)}","level":"info","logger":"{ACCESS_LOGGER}",'
            f'"message":{text(f"{method} {path} {status}")},"request_id":{text(request_id)},'
            f'"replica":{text(self.replica_id)},"method":{text(method)},"path":{text(path)},'
            f'"status":{status},"duration_ms":{duration_ms!r}}}'
        )


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request_id = current_request_id()
        prefix = f"[{request_id[:8]}] " if request_id else ""
        line = f"{record.levelname:<7} {record.name}: {prefix}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info)).strip()
        return line

    def access_line(self, fields: AccessFields) -> str:
        _, request_id, method, path, status, _ = fields
        return f"INFO    {ACCESS_LOGGER}: [{request_id[:8]}] {method} {path} {status}"


def configure_logging(settings: Settings) -> None:
    handler = BatchedStreamHandler(sys.stdout)
    formatter: logging.Formatter
    if settings.log_format is LogFormat.JSON:
        formatter = JsonFormatter(settings.replica_id)
    else:
        formatter = ConsoleFormatter()
    handler.setFormatter(formatter)
    # Neither format shows thread or process names: don't look them up for every record (the
    # access line is one record per request).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for previous in root.handlers:
        if isinstance(previous, BatchedStreamHandler):
            previous.close()  # configured again: write what it holds, stop its thread
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Uvicorn's own handlers would print plain text; route its loggers through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # replaced by app.http.middleware
    # Great Expectations logs hundreds of registry lines at INFO on its first import.
    for noisy in ("httpx", "httpcore", "alembic.runtime.migration", "great_expectations"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
