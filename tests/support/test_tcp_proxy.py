"""The proxy the outage tests put between a service and Redis or PostgreSQL, driven from
synchronous code as the scenario suite does with a service in a subprocess."""

from __future__ import annotations

import pytest
import redis as redis_sync

from tests.support.tcp_proxy import ProxyThread, redis_target


def test_stall_hangs_calls_and_resume_answers_them(redis_url: str) -> None:
    host, port = redis_target(redis_url)
    with ProxyThread(host, port) as proxy:
        client = redis_sync.Redis.from_url(proxy.url_for(redis_url), socket_timeout=0.3)
        assert client.ping()
        proxy.stall()
        with pytest.raises(redis_sync.exceptions.TimeoutError):
            client.ping()  # accepted, never answered: the caller's own timeout fires
        proxy.resume()
        assert redis_sync.Redis.from_url(proxy.url_for(redis_url), socket_timeout=1).ping()
        proxy.cut()
        with pytest.raises(redis_sync.exceptions.ConnectionError):
            redis_sync.Redis.from_url(proxy.url_for(redis_url), socket_timeout=1).ping()
        proxy.restore()  # the same port: a client configured with it reconnects
        assert redis_sync.Redis.from_url(proxy.url_for(redis_url), socket_timeout=1).ping()
