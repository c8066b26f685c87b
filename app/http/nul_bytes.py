"""Refuse a NUL character in any string of a request with a 422 naming the field.

PostgreSQL text cannot hold NUL (U+0000): psycopg refuses such a parameter, so a NUL that
reached a query was a 500 (or, on the read API, a 503 "database unavailable"). Rather than
each route checking its strings, this pure ASGI middleware checks all of them, before any
route code runs:

- the path (a `%00` in a path parameter such as a series id names that parameter),
- the query string (names the parameter),
- the header values (names the header),
- the body, as the route reads it: the last chunk is only handed over once the whole body
  was checked, and a JSON string (key or value) holding `\\u0000` names its field.

It sits before authentication, so a NUL in a credential header never reaches a key lookup.
The path, query and header checks are substring tests on the request's bytes; the body is
only parsed here when it contains a NUL or the `\\u0000` escape.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import send_error

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ADVICE = "contains a NUL character (\\u0000 or %00), which is not allowed; remove it"


class NulInBody(HTTPException):
    """Raised from `receive` when the body holds a NUL; FastAPI re-raises HTTPExceptions from
    body parsing, so the app's handler answers the 422 (with `details`)."""

    def __init__(self, field: str) -> None:
        super().__init__(422, _message("body field", field))
        self.details = [{"field": field, "location": "body", "message": _ADVICE}]


def _message(where: str, field: str) -> str:
    return f"Invalid request: {where} '{field}' {_ADVICE}."


def _path_field(scope: Scope) -> str:
    """The path parameter holding the NUL, from the route the path matches ('path' if none)."""
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        for name, value in child.get("path_params", {}).items():
            if isinstance(value, str) and "\x00" in value:
                return str(name)
    return "path"


def _query_field(query: bytes) -> str | None:
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\\u0000")
    return None


def _json_field(value: Any, path: tuple[str, ...] = ()) -> str | None:
    """The dotted path of the first string (key or value) holding a NUL, if any."""
    if isinstance(value, str):
        return (".".join(path) or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return ".".join((*path, key.replace("\x00", "\\u0000")))
            found = _json_field(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _json_field(item, (*path, str(index)))
            if found is not None:
                return found
    return None


def body_field(body: bytes) -> str | None:
    """The field of a JSON body that holds a NUL; None when there is none (or the body is not
    JSON, which the route's own parsing reports)."""
    if b"\\u0000" not in body and 0 not in body:  # UTF-16/32 JSON has raw zero bytes
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return _json_field(document)


def _checked(receive: Receive) -> Receive:
    chunks: list[bytes] = []

    async def receive_checked() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                field = body_field(b"".join(chunks))
                chunks.clear()
                if field is not None:
                    raise NulInBody(field)
        return message

    return receive_checked


class NulByteGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _outside_body(scope)
        if found is not None:
            location, field = found
            details = [{"field": field, "location": location, "message": _ADVICE}]
            await send_error(send, 422, _message(f"{location} parameter", field), details=details)
            return
        if scope["method"] in _BODY_METHODS:
            receive = _checked(receive)
        await self.app(scope, receive, send)


def _outside_body(scope: Scope) -> tuple[str, str] | None:
    """(location, field) of a NUL in the path, query string or headers."""
    if "\x00" in scope["path"]:
        return "path", _path_field(scope)
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or 0 in query:
        field = _query_field(query)
        if field is not None:
            return "query", field
    for name, value in scope["headers"]:
        if 0 in value:  # a zero byte (`int in bytes` is a plain memchr, faster than `bytes in`)
            return "header", name.decode("latin-1")
    return None
