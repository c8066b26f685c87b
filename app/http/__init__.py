"""The HTTP edge: ASGI middleware and the one error body."""
