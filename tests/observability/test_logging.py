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
