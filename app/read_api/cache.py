"""The read API's response cache (the `external_read_cache` flag).

One Redis key per request (path and query): the body, its ETag and until when it is fresh.
Each replica also keeps the fresh pages it served in memory (LocalPages, bounded, LRU) until
the same moment, so a hot page costs no Redis round-trip at all; entries are only ever
time-bound (nothing invalidates them early), so the local copy answers exactly as Redis would.
The key itself lives for AURUM_READ_CACHE_STALE_SECONDS, much longer than the flag's
`ttl_seconds`, so a copy past its freshness is still there to serve, marked STALE, while
PostgreSQL fails. One GET per request either way: HIT, or MISS then a SET.

A page's load waits for PostgreSQL at most AURUM_DB_REQUEST_TIMEOUT_SECONDS (a stalled server
answers nothing, and cancelling the query would wait for it too): past that the load is left
to end in the background and the page is served STALE, or answers the documented 503.
Concurrent requests for one page share one load, and while an abandoned load of that page has
not ended the next request does not start another (app/monitoring/pending_checks.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from app.db.read_pool import UNAVAILABLE as READ_POOL_UNAVAILABLE
from app.errors import ServiceUnavailable
from app.monitoring.metrics import READ_CACHE_RESULTS
from app.monitoring.pending_checks import PendingChecks

log = logging.getLogger(__name__)

KEY_PREFIX = "aurum:readcache:v1"
# Its results counter, one child per result (looking a child up by label costs per request).
HITS, MISSES, STALE_SERVED = (READ_CACHE_RESULTS.labels(r) for r in ("HIT", "MISS", "STALE"))
DATABASE_FAILURES = (SQLAlchemyError, *READ_POOL_UNAVAILABLE, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    etag: str
    cache: str  # HIT | MISS | STALE


Entry = tuple[float, str, bytes]  # fresh until (epoch seconds), ETag, body


class LocalPages:
    """This replica's in-memory copies of fresh pages, at most `capacity` (0: none)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._pages: OrderedDict[str, Entry] = OrderedDict()

    def get(self, key: str, now: float) -> Entry | None:
        entry = self._pages.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._pages[key]
            return None
        self._pages.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry) -> None:
        if self.capacity <= 0:
            return
        self._pages[key] = entry
        self._pages.move_to_end(key)
        while len(self._pages) > self.capacity:
            self._pages.popitem(last=False)


def etag_of(body: bytes) -> str:
    # Weak: the gzip middleware may re-encode the bytes on the way out.
    return f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def matches_etag(if_none_match: str | None, etag: str) -> bool:
    """`If-None-Match` against a weak ETag (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


def cache_key(tenant_id: str, path: str, query: str) -> str:
    """`path` as the server decoded it (the scope's `path`): `%2F` and `/` in a series id
    are one page and one key."""
    digest = hashlib.blake2b(f"{path}?{query}".encode(), digest_size=16).hexdigest()
    return f"{KEY_PREFIX}:{tenant_id}:{digest}"


async def _get(redis: Redis, key: str) -> Entry | None:
    try:
        raw = await redis.get(key)
    except (RedisError, OSError) as exc:
        log.warning("read cache unavailable, reading PostgreSQL: %s", exc)
        return None
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    header, _, body = text.partition("\n")
    fresh_until, _, etag = header.partition(" ")
    try:
        return float(fresh_until), etag, body.encode()
    except ValueError:
        return None


async def _put(
    redis: Redis, key: str, body: bytes, etag: str, ttl_seconds: float, stale_seconds: int
) -> None:
    value = f"{time.time() + ttl_seconds:.3f} {etag}\n{body.decode()}"
    try:
        await redis.set(key, value, ex=max(int(stale_seconds), int(ttl_seconds) + 1))
    except (RedisError, OSError) as exc:
        log.warning("read cache unavailable, response not cached: %s", exc)


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(
        "The database is unavailable and no cached copy of this page exists; retry shortly "
        "(operators: turn on the external_read_cache flag to serve cached pages in outages)",
        details={"error": type(exc).__name__},
        headers={"Retry-After": "5"},
    )


async def cached_page(
    redis: Redis,
    local: LocalPages,
    key: str,
    load: Callable[[], Awaitable[bytes]],
    *,
    ttl_seconds: float | None,
    stale_seconds: int,
    loads: PendingChecks,
    load_timeout: float,
) -> Page:
    """The page from the cache while fresh (HIT), else from `load` (MISS), else, when `load`
    fails on the database or gets no answer within `load_timeout` seconds, the stale copy
    (STALE). `ttl_seconds` None: the cache is off. `loads`: this replica's page loads."""

    async def tagged() -> tuple[bytes, str]:
        body = await load()
        return body, etag_of(body)

    async def bounded() -> tuple[bytes, str]:
        # The ETag is hashed once per load, and shared with its load by concurrent requests.
        return await loads.run(key, tagged, load_timeout)

    if ttl_seconds is None:
        try:
            body, etag = await bounded()
        except DATABASE_FAILURES as exc:
            raise _unavailable(exc) from exc
        MISSES.inc()
        return Page(body, etag, "MISS")
    now = time.time()
    entry = local.get(key, now) or await _get(redis, key)
    if entry is not None and entry[0] > now:
        local.put(key, entry)
        HITS.inc()
        return Page(entry[2], entry[1], "HIT")
    try:
        body, etag = await bounded()
    except DATABASE_FAILURES as exc:
        if entry is None:
            raise _unavailable(exc) from exc
        log.warning("database failed (%s); serving a stale cached page", type(exc).__name__)
        STALE_SERVED.inc()
        return Page(entry[2], entry[1], "STALE")
    local.put(key, (time.time() + ttl_seconds, etag, body))
    await _put(redis, key, body, etag, ttl_seconds, stale_seconds)
    MISSES.inc()
    return Page(body, etag, "MISS")
