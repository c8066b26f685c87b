"""The breaker's Lua script (breaker_store._SCRIPT) rewritten over a dict, for the time Redis is
unreachable. Kept line for line next to the script so a change to one is made to the other;
the breaker tests run every transition against both."""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.resilience.breaker_store import Step
    from app.resilience.config import BreakerConfig


class LocalMachine:
    """One provider's record, window buckets and events in memory."""

    def __init__(
        self, fields: dict[str, Any], *, replica: str | None, max_events: int, buckets: int
    ) -> None:
        self.r = dict(fields)
        self.window_buckets: dict[int, list[int]] = {}  # bucket -> [calls, failures]
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.replica = replica
        self.buckets = buckets

    def _num(self, f: str) -> float | None:
        v = self.r.get(f)
        return None if v is None or v == "" else float(v)

    def _int(self, f: str) -> int:
        return int(self._num(f) or 0)

    def run(self, step: Step, config: BreakerConfig, probe_lease: float) -> dict[str, Any]:
        self.step, self.config = step, config
        self.transitions: list[list[str]] = []
        now, reason = step.now, step.reason or ""
        self.state = str(self.r.get("state") or "closed")
        self._advance(probe_lease)
        current = step.permit_gen is None or step.permit_gen == self._int("gen")
        admitted = probe = False
        calls = failures = 0
        op = step.op
        if op == "before":
            if self.state in ("closed", "disabled"):
                admitted = True
            elif self.state == "half_open" and self._int("probes") < config.half_open_max_calls:
                admitted = probe = True
                self.r["probes"], self.r["probe_at"] = self._int("probes") + 1, now
        elif op in ("success", "failure") and self.state != "disabled":
            if op == "failure":
                self.r["last_failure"], self.r["last_failure_at"] = reason, now
            if current and self.state == "closed" and op == "success":
                self.r["failures"] = 0
                calls, failures = self._window(1, 0)
            elif current and self.state == "closed":
                consecutive = self._int("failures") + 1
                self.r["failures"] = consecutive
                calls, failures = self._window(1, 1)
                if consecutive >= config.failure_threshold:
                    self._move("open", f"{consecutive} consecutive failures (last: {reason})")
                elif (
                    calls >= config.minimum_calls
                    and failures >= config.failure_rate_threshold * calls
                ):
                    self._move(
                        "open",
                        f"failure rate {math.floor(100 * failures / calls)}% ({failures} of "
                        f"{calls} calls in {config.window_seconds:g}s; last: {reason})",
                    )
            elif current and self.state == "half_open":
                self.r["probes"] = max(0, self._int("probes") - 1)
                successes = self._int("successes") + 1
                if op == "failure":
                    self._move("open", f"probe call failed: {reason}")
                elif successes >= config.success_threshold:
                    self._move("closed", f"{successes} consecutive successful probes")
                else:
                    self.r["successes"] = successes
        elif op == "release":
            if current and step.permit_probe and self.state == "half_open":
                self.r["probes"] = max(0, self._int("probes") - 1)
        elif op == "force_open":
            self._move("forced_open", reason, step.actor)
        elif op == "disable":
            self._move("disabled", reason, step.actor)
        elif op == "reset":
            self._move("closed", reason, step.actor)
        if op in ("force_open", "disable", "reset", "read"):
            calls, failures = self._window(0, 0)
        return {
            "record": dict(self.r),
            "admitted": admitted,
            "probe": probe,
            "transitions": self.transitions,
            "calls": calls,
            "failures": failures,
        }

    def _move(self, to: str, why: str, who: str = "system") -> None:
        now, ttl, r = self.step.now, self.step.ttl, self.r
        source, self.state = self.state, to
        r.update(state=to, gen=self._int("gen") + 1, changed_at=now, reason=why, actor=who)
        r.update(successes=0, probes=0, probe_at="")
        if to in ("closed", "disabled"):
            r.update(failures=0, opened_at="", open_until="")
            self.window_buckets.clear()
        elif to == "open":
            r.update(opened_at=now, open_until=now + self.config.open_seconds)
        elif to == "forced_open":
            r.update(opened_at=now, open_until="")
        r["forced_until"] = now + ttl if to == "forced_open" and ttl is not None else ""
        r["disabled_until"] = now + ttl if to == "disabled" and ttl is not None else ""
        event = {"time": self.step.now_iso, "from": source, "to": to, "reason": why or None}
        self.events.appendleft({**event, "actor": who, "replica": self.replica})
        self.transitions.append([source, to])

    def _advance(self, probe_lease: float) -> None:
        now = self.step.now
        forced, disabled = self._num("forced_until"), self._num("disabled_until")
        if self.state == "open" and now >= (self._num("open_until") or 0):
            self._move("half_open", "open period ended; admitting probe calls")
        elif self.state == "forced_open" and forced is not None and now >= forced:
            self._move("closed", "forced open expired")
        elif self.state == "disabled" and disabled is not None and now >= disabled:
            self._move("closed", "disable expired")
        elif (
            self.state == "half_open"
            and self._int("probes") > 0
            and now - (self._num("probe_at") or 0) > probe_lease
        ):
            self.r["probes"] = 0  # probes that never reported: their task died mid-call

    def _window(self, add_calls: int, add_failures: int) -> tuple[int, int]:
        width = self.config.window_seconds / self.buckets
        current = math.floor(self.step.now / width)
        for bucket in [b for b in self.window_buckets if b <= current - self.buckets]:
            del self.window_buckets[bucket]
        calls = sum(counts[0] for counts in self.window_buckets.values())
        failures = sum(counts[1] for counts in self.window_buckets.values())
        if add_calls > 0:
            counts = self.window_buckets.setdefault(current, [0, 0])
            counts[0] += add_calls
            counts[1] += add_failures
        return calls + add_calls, failures + add_failures
