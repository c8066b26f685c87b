"""One JSON error body for every 4xx/5xx:
`{"error": "<code>", "message": "...", "request_id": "...", "details": ...}`."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from app.errors import AurumError
from app.observability.context import current_request_id

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    431: "headers_too_large",
    500: "internal_error",
    503: "unavailable",
}


def error_body(
    status: int, message: str, *, code: str | None = None, details: Any = None
) -> dict[str, Any]:
    return {
        "error": code or _CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_")),
        "message": message,
        "request_id": current_request_id(),
        "details": jsonable_encoder(details),
    }


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(status, message, code=code, details=details)
    return JSONResponse(body, status_code=status, headers=headers)


async def send_error(
    send: Send,
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Any = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """The error body from pure ASGI middleware, which answers before FastAPI is reached."""
    body = json.dumps(error_body(status, message, code=code, details=details)).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body",)] or ["body"]
    return ".".join(parts)


def describe_validation_errors(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """A sentence naming each bad field, and a compact list for `details`."""
    details = []
    sentences = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            position = loc[-1] if loc and isinstance(loc[-1], int) else None
            where = f" at character {position}" if position is not None else ""
            reason = err.get("ctx", {}).get("error", "invalid JSON")
            sentences.append(f"the request body is not valid JSON{where}: {reason}")
            details.append({"field": "body", "message": "invalid JSON", "position": position})
            continue
        field = _field_name(loc[1:] if loc and loc[0] in ("query", "path", "header") else loc)
        where = f"{loc[0]} parameter " if loc and loc[0] in ("query", "path", "header") else ""
        msg = err.get("msg", "is invalid")
        sentences.append(f"{where}'{field}': {msg}")
        details.append({"field": field, "location": loc[0] if loc else None, "message": msg})
    return "Invalid request: " + "; ".join(sentences), details


async def _aurum_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AurumError)
    if exc.status_code >= 500:
        log.error("%s: %s", exc.code, exc.message)
    return error_response(
        exc.status_code, exc.message, code=exc.code, details=exc.details, headers=exc.headers
    )


def _unparseable_body(exc: StarletteHTTPException) -> JSONResponse | None:
    """FastAPI reports a body that `json.loads` cannot even decode (not UTF-8/16/32 text, or
    nested past the interpreter's recursion limit) as a bare 400, while any other malformed
    JSON is a 422: answer both like malformed JSON. The cause is the parser's exception."""
    cause = exc.__cause__
    if exc.status_code != 400 or not isinstance(cause, UnicodeDecodeError | RecursionError):
        return None
    if isinstance(cause, RecursionError):
        why = "it is nested too deeply"
    else:
        bad = cause.object[cause.start : cause.start + 1]
        why = f"it is not UTF-8 text (byte {cause.start} is {bad!r})"
    message = f"Invalid request: the request body is not valid JSON: {why}."
    details = [{"field": "body", "message": "invalid JSON", "position": None}]
    return error_response(422, message, details=details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    unparseable = _unparseable_body(exc)
    if unparseable is not None:
        return unparseable
    status = exc.status_code
    if status == 404 and exc.detail in (None, "Not Found"):
        docs = getattr(request.app, "docs_url", None)  # None when AURUM_API_DOCS_ENABLED is off
        hint = f"; see {docs} for the API." if docs else "."
        message = f"No route {request.method} {request.url.path}{hint}"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
    # An HTTPException raised while the body is read may carry details (app.http.nul_bytes).
    details = getattr(exc, "details", None)
    return error_response(status, message, details=details, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, details = describe_validation_errors(list(exc.errors()))
    return error_response(422, message, details=details)


# PostgreSQL unreachable (refused, reset, timed out, shutting down) or the pool exhausted: the
# request cannot be served now, and another try may be; never an internal error. The psycopg
# ones come from the read API's own pool (app/db/read_pool.py; its PoolTimeout is one).
DATABASE_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("PostgreSQL unavailable: %s", type(getattr(exc, "orig", exc) or exc).__name__)
    return error_response(
        503,
        "PostgreSQL is unreachable or saturated; retry in a few seconds. Health of the "
        "dependencies: GET /ready.",
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AurumError, _aurum_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for failure in DATABASE_UNAVAILABLE:
        app.add_exception_handler(failure, _database_unavailable)
