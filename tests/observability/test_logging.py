"""Logs are one JSON object per line, carrying the request id and replica."""

from __future__ import annotations

import json
import logging

import pytest

from app.observability.context import request_id_var
from app.observability.logging import JsonFormatter


def test_json_lines_carry_request_id_replica_and_extra_fields() -> None:
    formatter = JsonFormatter("replica-a")
    record = logging.makeLogRecord(
        {"name": "aurum.test", "levelname": "INFO", "msg": "hello %s", "args": ("world",)}
    )
    record.provider = "fred"
    token = request_id_var.set("req-123")
    try:
        entry = json.loads(formatter.format(record))
    finally:
        request_id_var.reset(token)
    assert entry["message"] == "hello world"
    assert entry["request_id"] == "req-123"
    assert entry["replica"] == "replica-a"
    assert entry["provider"] == "fred"


def test_exceptions_are_kept_inside_the_json_line() -> None:
    formatter = JsonFormatter("r")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


async def test_each_request_writes_an_access_line_with_its_id(
    client,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    with caplog.at_level(logging.INFO, logger="aurum.access"):
        response = await client.get("/health")
    lines = [r for r in caplog.records if r.name == "aurum.access"]
    assert lines, "no access log line"
    assert lines[-1].status == 200  # type: ignore[attr-defined]
    assert lines[-1].path == "/health"  # type: ignore[attr-defined]
    assert response.headers["x-request-id"]


def test_queued_access_lines_match_the_formatted_record() -> None:
    """The access line rendered from its fields is the line `format` makes of the record."""
    import io

    from app.observability.handlers import BatchedStreamHandler

    formatter = JsonFormatter("replica-a")
    created, request_id, path = 1_795_000_000.25, "abc123", '/v1/admin/"quoted"/é'
    record = logging.makeLogRecord(
        {
            "name": "aurum.access",
            "levelname": "INFO",
            "levelno": logging.INFO,
            "msg": "%s %s %s",
            "args": ("GET", path, 200),
            "created": created,
            "request_id": request_id,
        }
    )
    record.method, record.path, record.status, record.duration_ms = "GET", path, 200, 1.25
    expected = formatter.format(record)
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream)
    handler.setFormatter(formatter)
    handler.defer_access((created, request_id, "GET", path, 200, 1.25))
    handler.close()
    written = stream.getvalue().splitlines()
    assert written == [expected]
    assert json.loads(written[0])["path"] == path


async def test_the_batched_handler_receives_access_lines_without_records(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    import io

    from app.observability.handlers import BatchedStreamHandler
    from tests.support.apps import client_for

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream)
    handler.setFormatter(JsonFormatter("replica-a"))
    try:
        async with client_for(settings) as client:
            root.handlers[:] = [handler]
            root.setLevel(logging.INFO)
            response = await client.get("/health")
            handler.flush()
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
        handler.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "aurum.access"]
    assert access[-1]["path"] == "/health"
    assert access[-1]["status"] == 200
    assert access[-1]["request_id"] == response.headers["x-request-id"]
    assert access[-1]["message"] == "GET /health 200"
