"""Refuse a request whose request line and headers exceed a size with 431, while reading them.

uvicorn's httptools protocol (llhttp) has no limit on the header section: a 16 MB header was
read whole into memory before the app saw the request, and the ASGI app cannot refuse what it
is only handed once complete. This protocol counts the bytes received while a request's head
is still incomplete, and measures the parsed request line and headers once complete, and
answers `431 Request Header Fields Too Large` (in the JSON error shape, `Connection: close`)
as soon as either passes the limit: at most one read past the limit is ever buffered, and the
app is never called. (uvicorn's other parser, h11, has `h11_max_incomplete_event_size`, but it
answers a plain-text 400 and is not the parser this service runs on.)
"""

from __future__ import annotations

import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.http.errors import error_body

log = logging.getLogger(__name__)

DEFAULT_MAX_HEADER_BYTES = 65_536
_STATUS_LINE = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


def too_large_message(limit: int) -> str:
    return (
        f"The request line and headers are larger than the limit of {limit} bytes "
        "(AURUM_MAX_HEADER_BYTES); send fewer or smaller headers."
    )


class HeaderLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a cap on each request's head (`max_header_bytes`,
    set on a subclass by `header_limited`)."""

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # a connection starts with a request's head
        self._read_in_head = 0  # bytes read while the head was incomplete
        self._head_size = 0  # the parsed request line and headers
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_head and not self._refused and not self.transport.is_closing():
            # A head arriving over several reads: refused before it is complete. (A read that
            # also ended the previous request's body counts whole: a slight overcount.)
            self._read_in_head += len(data)
            if self._read_in_head > self.max_header_bytes:
                self._refuse()

    # Parser callbacks (called from `data_received`).
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._read_in_head = 0
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        # A head that arrived in one read is measured here, before the app is called.
        self._in_head = False
        if not self._refused and self._head_size > self.max_header_bytes:
            self._refuse()
        if not self._refused:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _refuse(self) -> None:
        self._refused = True
        limit = self.max_header_bytes
        log.warning(
            "request head over %d bytes refused with 431",
            limit,
            extra={"client": self.client[0] if self.client else None},
        )
        body = json.dumps(
            error_body(431, too_large_message(limit), details={"limit_bytes": limit})
        ).encode()
        head = [_STATUS_LINE]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: " + str(len(body)).encode() + b"\r\n")
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def header_limited(max_header_bytes: int) -> type[HeaderLimitedHttpTools]:
    """The protocol class for uvicorn's `http=` with this limit."""
    return type(
        "HeaderLimitedHttpTools",
        (HeaderLimitedHttpTools,),
        {"max_header_bytes": max_header_bytes},
    )
