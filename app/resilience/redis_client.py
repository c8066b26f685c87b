"""The service's Redis client: once Redis fails to answer, calls fail at once for a moment.

A stalled Redis (a SIGSTOPped or wedged server: connections hang, nothing is refused) costs
each call its whole timeout. A request that makes several Redis calls one after another (the
inbound limiter, the health view's reads, one breaker read per provider) then adds those
timeouts up, well past the request budget. Here the first call that times out (or cannot
connect) marks Redis unreachable for `cooldown` seconds, shared by every connection of the
client: meanwhile every call raises `ConnectionError` at once, and callers use their fallback
(last-known state, in-process counting). After the cooldown the next call tries Redis again,
so at most one call per cooldown pays a timeout while the stall lasts, and recovery needs no
probe of its own.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

_FAILURES = (RedisTimeoutError, RedisConnectionError, TimeoutError, OSError)


class Reachability:
    """Whether Redis answered lately; shared by every connection of one pool."""

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self._until = 0.0
        self._reason = ""

    def check(self) -> None:
        remaining = self._until - time.monotonic()
        if remaining > 0:
            raise RedisConnectionError(
                f"Redis did not answer ({self._reason}); not tried again for {remaining:.1f}s"
            )

    def trip(self, exc: BaseException) -> None:
        self._until = time.monotonic() + self.cooldown
        self._reason = type(exc).__name__


class _FailFastPool(ConnectionPool):
    def __init__(self, *args: Any, reachability: Reachability, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reachability = reachability
        base = self.connection_class

        class FailFastConnection(base):  # type: ignore[valid-type,misc]
            async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
                # Each attempt of redis-py's connect retry comes here, not only the first.
                reachability.check()
                try:
                    await super().connect_check_health(*args, **kwargs)
                except _FAILURES as exc:
                    reachability.trip(exc)
                    raise

            async def read_response(self, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await super().read_response(*args, **kwargs)
                except RedisTimeoutError as exc:
                    # Only a read bounded by the socket timeout: a pub/sub read with its own
                    # timeout is allowed to find nothing.
                    if kwargs.get("timeout") is None and len(args) < 2:
                        reachability.trip(exc)
                    raise

        self.connection_class = FailFastConnection

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        self.reachability.check()
        await super().ensure_connection(connection)


def build_redis(url: str, *, timeout: float, cooldown: float) -> Redis:
    """A client whose calls take at most `timeout`, and fail at once for `cooldown` seconds
    after one did not get an answer. A timed-out call is not retried (redis-py's default
    policy would try it 4 times); a refused or reset connection is, once."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "health_check_interval": 30,
    }
    reference = ConnectionPool.from_url(url, **options)
    pool = _FailFastPool(
        connection_class=reference.connection_class,
        reachability=Reachability(cooldown),
        **reference.connection_kwargs,
    )
    return Redis(connection_pool=pool)
