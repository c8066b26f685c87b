"""The OpenAPI document declares every error a route really answers, with the one error body.

FastAPI lists a route's success code and, for routes with parameters, a 422 with its own
validation schema, which is not what this service sends. `declare_errors` makes the document
state the real contract, from facts about each route rather than per-route lists:

- 422 (every route: a malformed input, a NUL in any string, app.http.nul_bytes),
- 401 and 403 under an access policy (app.auth.policy, enforced by path prefix),
- 429 where the rate limiter counts the path,
- 413 for routes that take a body (AURUM_MAX_BODY_BYTES),
- 404 for routes with path parameters (the id, provider or name they name may not exist),
- 412 for routes taking `If-Match`,
- 503 for `/ready` and the read API (an uncached page while PostgreSQL is down),
- plus what a route declares itself with `responses=error_responses(409, ...)`.

Every 4xx/5xx response in the document gets the `ErrorBody` schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

DESCRIPTIONS = {
    401: "No credential, or an invalid or expired one",
    403: "The credential's role may not do this",
    404: "What the path names does not exist",
    409: "The request conflicts with the current state",
    412: "If-Match does not match the current version",
    413: "The request body is larger than AURUM_MAX_BODY_BYTES",
    422: "A parameter or body field is invalid (the message and details name it)",
    429: "Rate limited; see Retry-After and the RateLimit-* headers",
    503: "A dependency is unavailable; retry shortly",
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


class ErrorBody(BaseModel):
    """The one JSON body of every 4xx and 5xx response."""

    error: str = Field(description="A stable code: not_found, validation_error, rate_limited...")
    message: str = Field(description="What went wrong and what to do; names the field at fault")
    request_id: str | None = Field(description="The X-Request-ID of the request, for the logs")
    details: Any = Field(
        default=None, description="Context: for 422 a list of {field, location, message}"
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers these errors beyond the ones every route has."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


PathTest = Callable[[str], bool]


def _statuses(route: APIRoute, protected: PathTest, rate_limited: PathTest) -> set[int]:
    path = route.path_format
    statuses = {422}
    if protected(path):
        statuses |= {401, 403}
    if rate_limited(path):
        statuses.add(429)
    if route.body_field is not None:
        statuses.add(413)
    if route.param_convertors:  # path parameters
        statuses.add(404)
    if any(
        isinstance(param.field_info, params.Header) and param.alias.lower() == "if-match"
        for param in get_flat_params(route.dependant)
    ):
        statuses.add(412)
    if path == "/ready" or path.startswith("/v1/external/"):
        statuses.add(503)
    return statuses


def declare_errors(app: FastAPI, *, protected: PathTest, rate_limited: PathTest) -> None:
    """Make `app.openapi()` declare each route's error responses with `ErrorBody`;
    `protected` and `rate_limited` say whether a path template needs credentials and is
    counted by the rate limiter."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for route in app.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in route.methods or ():
                operation = document["paths"][route.path_format].get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                for status in sorted(_statuses(route, protected, rate_limited)):
                    responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
                for code, response in responses.items():
                    if code[0] in "45":
                        response["content"] = {"application/json": {"schema": _ERROR_REF}}
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        if "#/components/schemas/HTTPValidationError" not in repr(document["paths"]):
            for name in _FASTAPI_422_SCHEMAS:  # FastAPI's own 422 body, now used by nothing
                schemas.pop(name, None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
