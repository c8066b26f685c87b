"""The service's HTTP API as the operator commands call it: one httpx client, path segments
encoded (EIA ids hold `/`), the change reason sent as `X-Change-Reason`, and every failure
turned into a one-line `CliError` carrying the API's own message."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from app.cli.ops.connection import Connection
from app.cli.ops.exits import CliError, Exit

TIMEOUT_SECONDS = 60.0  # a breaker reset, a resume or an outage resolve probe the provider


def segment(value: str) -> str:
    """One path segment, `/` included, percent-encoded."""
    return quote(value, safe="")


def path(*parts: str) -> str:
    """`/v1/...` followed by the given segments, each encoded (the first is the literal base)."""
    base, *rest = parts
    return "/".join([base.rstrip("/"), *(segment(part) for part in rest)])


class Api:
    def __init__(self, connection: Connection, *, transport: httpx.BaseTransport | None = None):
        self.connection = connection
        headers = {"User-Agent": "aurum-cli", **connection.headers()}
        self._http = httpx.Client(
            base_url=connection.url, headers=headers, timeout=TIMEOUT_SECONDS, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def get(self, url: str, *, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", url, params=params).json()

    def text(self, url: str, *, accept: str) -> str:
        return self.request("GET", url, headers={"Accept": accept}).text

    def send(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        reason: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers = {"X-Change-Reason": reason} if reason else {}
        response = self.request(method, url, json=body, headers=headers, params=params)
        return response.json() if response.content else None

    def request(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, url, json=json, headers=headers, params=clean)
        except httpx.TimeoutException:
            raise CliError(
                f"{self.connection.url} did not answer {method} {url} within {TIMEOUT_SECONDS:g}s",
                Exit.UNAVAILABLE,
            ) from None
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the service at {self.connection.url} ({_reason(exc)}); "
                "set AURUM_API_URL or --profile",
                Exit.UNAVAILABLE,
            ) from None
        if response.status_code >= 400:
            raise api_error(response, self.connection, method, url)
        return response


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _message(response: httpx.Response) -> tuple[str, Any]:
    """The one JSON error body's message (app/http/errors.py) and details."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return (response.text.strip().splitlines() or [response.reason_phrase])[0], None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"], body.get("details")
    return response.text.strip()[:200], None


def _fields(details: Any) -> str:
    """A 422's `details` as `field: message; ...` when the message does not already say it."""
    if not isinstance(details, list):
        return ""
    parts = []
    for item in details[:5]:
        if isinstance(item, dict) and item.get("field") and item.get("message"):
            parts.append(f"{item['field']}: {item['message']}")
    return "; ".join(parts)


def api_error(response: httpx.Response, connection: Connection, method: str, url: str) -> CliError:
    status = response.status_code
    message, details = _message(response)
    if status == 422:
        fields = _fields(details)
        if fields and fields not in message:
            message = f"{message} ({fields})"
    if status == 401:
        message = f"{message} [credential: {connection.source}]"
    if status == 429 and response.headers.get("Retry-After"):
        message = f"{message} (retry after {response.headers['Retry-After']} s)"
    if status == 404 and message.startswith("No route "):
        message = f"{message} (this version of the service does not have this API)"
    code = Exit.UNAVAILABLE if status >= 500 else Exit.REFUSED
    return CliError(f"HTTP {status}: {message}", code)
