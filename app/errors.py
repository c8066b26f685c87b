"""Error classes that carry their HTTP status and a stable code. Services raise these; one
handler (app.http.errors) turns them into the one JSON error body."""

from __future__ import annotations

from typing import Any


class AurumError(Exception):
    """An expected condition with a status, a machine code and a message a person can act on."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class BadRequest(AurumError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AurumError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AurumError):
    status_code = 403
    code = "forbidden"


class NotFound(AurumError):
    status_code = 404
    code = "not_found"


class Conflict(AurumError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(AurumError):
    status_code = 412
    code = "precondition_failed"


class InvalidInput(AurumError):
    status_code = 422
    code = "validation_error"


class TooManyRequests(AurumError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(AurumError):
    status_code = 503
    code = "unavailable"
