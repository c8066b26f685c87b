"""Token leases: most requests are decided in this process's memory, while the counters stay
in Redis shared by every replica.

A Redis round-trip per request is most of what inbound limiting costs (client work on the event
loop, and Redis itself competing for the CPU). So when a caller is busy and far from its limits,
one call takes a *lease*: up to `want` tokens charged at once to every window of its rule (the
first is the request's own), and the following requests spend the rest here with no I/O.

The bound, per caller and rule:

- Never more than a limit allows: tokens are charged in Redis before they are spent, and a
  lease ends at the earliest reset of its windows.
- A lease takes at most 1/`LEASE_SHARE` of the tightest window's remaining budget, and lives
  at most `LEASE_MAX_AGE` seconds. So near a limit leases shrink to one token: each request is
  counted in Redis, exactly as without leasing (a 5/minute or 20/second limit is always
  exact: 20 // 16 leaves no room for a lease). Far from it, a caller may be refused early by
  at most the unused tokens other replicas hold: under `replicas * remaining / LEASE_SHARE`.
- Unused tokens of a lease that aged out are given back in the caller's next call in the same
  windows; `want` follows the caller's rate (doubles while leases run out, drops to what was
  used when one ages out), so a slow caller gets single tokens and wastes nothing.
- `RateLimit-Remaining` is this replica's view: the Redis count when the lease was granted,
  plus its own unused tokens; other replicas' use shows up within `LEASE_MAX_AGE`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from limits import RateLimitItem

from app.ratelimit.storage import Counted, SharedWindows

LEASE_MAX_AGE = 0.2  # seconds a lease may be spent: bounds how stale other replicas' view is
LEASE_SHARE = 16  # a lease takes at most 1/16 of the remaining budget of the tightest window
MAX_LEASE = 4096
# A refund is sent only this long before the windows' reset, so it never reaches a new window.
_REFUND_MARGIN = 0.05


@dataclass(slots=True)
class Lease:
    """What this process holds for one (rule, caller): tokens to spend, and what the headers
    need. `base` is the tightest limit's remaining budget in Redis after the grant."""

    item: RateLimitItem | None = None
    base: int = 0
    tokens: int = 0
    used: int = 0
    granted: int = 0
    granted_at: float = 0.0
    expires: float = 0.0  # epoch seconds: the lease's age limit or its windows' reset
    reset_at: float = 0.0  # the tightest limit's reset
    windows_end: float = 0.0  # the earliest reset among its windows
    want: int = 1
    fetching: asyncio.Future[None] | None = field(default=None)


# The outcome handed back to the limiter: (tightest limit, remaining, reset epoch), or None
# when the counts are those of a refused request (the caller then reads them as before).
Spent = tuple[RateLimitItem, int, float]


class LeaseTable:
    """Leases per (rule, caller key) over a SharedWindows storage."""

    MIN_SWEEP = 1024

    def __init__(self, storage: SharedWindows) -> None:
        self.storage = storage
        self._leases: dict[tuple[str, str], Lease] = {}
        self._sweep_at = self.MIN_SWEEP

    def clear(self) -> None:
        self._leases.clear()

    def spend(self, rule: str, caller: str) -> Spent | None:
        """A token from a live lease, with no I/O; None when there is none to spend."""
        lease = self._leases.get((rule, caller))
        if lease is None or lease.tokens <= 0 or lease.item is None:
            return None
        if time.time() >= lease.expires:
            return None
        lease.tokens -= 1
        lease.used += 1
        return lease.item, lease.base + lease.tokens, lease.reset_at

    async def fetch(
        self,
        rule: str,
        caller: str,
        keys: Sequence[str],
        items: Sequence[RateLimitItem],
    ) -> Counted | Spent:
        """Count this request in Redis, taking a lease when the caller's pace and budget allow.
        Returns the raw counts (to be read as for any single request) or, when another request
        was already fetching a lease that still had a token for this one, that token."""
        key = (rule, caller)
        while True:
            lease = self._leases.get(key)
            if lease is None:
                lease = self._leases[key] = Lease()
                if len(self._leases) >= self._sweep_at:
                    self._sweep()
            if lease.fetching is None:
                break
            # One fetch per caller at a time: the others wait for its lease and spend from it.
            await asyncio.shield(lease.fetching)
            spent = self.spend(rule, caller)
            if spent is not None:
                return spent
        now = time.time()
        want, refund = self._plan(lease, now)
        lease.fetching = asyncio.get_running_loop().create_future()
        lease.tokens = 0
        try:
            counts = await self.storage.incr_windows(keys, items, want=want, refund=refund)
        finally:
            fetching, lease.fetching = lease.fetching, None
            fetching.set_result(None)
        self._granted(lease, items, counts)
        return counts

    def _plan(self, lease: Lease, now: float) -> tuple[int, int]:
        """(tokens to ask for, unused tokens to give back) for the caller's next call."""
        unused = lease.granted - 1 - lease.used if lease.granted > 1 else 0
        refund = unused if unused > 0 and now < lease.windows_end - _REFUND_MARGIN else 0
        if lease.item is not None and lease.granted > 0:
            if unused <= 0 and now - lease.granted_at < LEASE_MAX_AGE:
                lease.want = min(MAX_LEASE, lease.want * 2)  # all spent before it aged
            else:
                lease.want = max(1, lease.used + 1)  # aged out: ask for what was used
        budget = (lease.base + refund) // LEASE_SHARE if lease.item is not None else 0
        return max(1, min(lease.want, budget)), refund

    def _granted(self, lease: Lease, items: Sequence[RateLimitItem], counts: Counted) -> None:
        allowed = len(counts) == len(items) and all(
            count.hits <= item.amount for item, count in zip(items, counts, strict=True)
        )
        lease.used = 0
        lease.granted = counts.granted if allowed else 0
        if not allowed or len(counts) != len(items):
            lease.item = None  # refused: the next call counts exactly again
            lease.tokens = 0
            return
        now = time.time()
        tightest = min(
            zip(items, counts, strict=True), key=lambda pair: pair[0].amount - pair[1].hits
        )
        lease.item = tightest[0]
        lease.base = tightest[0].amount - tightest[1].hits
        lease.reset_at = tightest[1].reset_at
        lease.windows_end = min(count.reset_at for count in counts)
        lease.tokens = counts.granted - 1
        lease.granted_at = now
        lease.expires = min(now + LEASE_MAX_AGE, lease.windows_end)

    def _sweep(self) -> None:
        now = time.time()
        for key, lease in list(self._leases.items()):
            if lease.fetching is None and lease.windows_end <= now:
                del self._leases[key]
        self._sweep_at = max(self.MIN_SWEEP, 2 * len(self._leases))
