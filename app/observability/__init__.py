"""Logs and request context."""
