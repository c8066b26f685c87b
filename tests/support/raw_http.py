"""Requests written straight to a socket, for what an HTTP client library would refuse to
send or an in-process ASGI client would never parse."""

from __future__ import annotations

import socket


def send_head(
    port: int, header_bytes: int, *, path: str = "/", chunk: int = 65_536
) -> tuple[bytes, int]:
    """Send a GET with one header of `header_bytes` (stopping when the server answers or
    closes); returns (the response, bytes sent)."""
    request_line = f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode()
    head = request_line + b"X-Big: " + b"a" * header_bytes + b"\r\n\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            while sent < len(head):
                sent += sock.send(head[sent : sent + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = b""
        try:
            while data := sock.recv(65_536):
                response += data
                if b"\r\n\r\n" in response and response.startswith(b"HTTP/1.1 200"):
                    break
        except ConnectionResetError:
            pass
    return response, sent
