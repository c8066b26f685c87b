"""Read request bodies as JSON even when curl calls them form data.

The runbooks send JSON with `curl -d '{...}'`, and curl labels such a body
`application/x-www-form-urlencoded` unless told otherwise. No route here takes form data, so
that label is relabelled `application/json`; a body that is not JSON still gets the 422 that
says so. Pure ASGI: only the header list is touched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_FORM = b"application/x-www-form-urlencoded"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class JsonBodyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            headers = scope["headers"]
            for index, (name, value) in enumerate(headers):
                if name == b"content-type" and value.split(b";", 1)[0].strip().lower() == _FORM:
                    scope = dict(scope)
                    scope["headers"] = [
                        *headers[:index],
                        (b"content-type", b"application/json"),
                        *headers[index + 1 :],
                    ]
                    break
        await self.app(scope, receive, send)
