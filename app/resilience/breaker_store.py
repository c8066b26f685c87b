"""Where a circuit breaker's state lives: one Lua script over Redis (shared by every replica),
or this process's memory while Redis is unreachable. Both run the same transitions.

Keys per provider: hash `resilience:breaker:<p>` (the record below; "" means unset), list
`resilience:breaker:<p>:events` (newest first, trimmed to MAX_EVENTS JSON events) and hash
`resilience:breaker:<p>:window` (the failure-rate window: WINDOW_BUCKETS buckets of
`window_seconds / WINDOW_BUCKETS` each, fields `<bucket>:n` calls and `<bucket>:f` failures;
stale buckets are deleted when read and the key expires after two windows of silence).

Each operation is one EVALSHA: read the record, apply time-based transitions (OPEN→HALF_OPEN
once `open_until` has passed, forced-open and disabled TTLs back to CLOSED), do the operation,
write what changed, return the record as JSON. Time comes from the caller's clock, so the Redis
and in-memory machines agree and tests can drive either; replicas' clocks differ by
milliseconds, against open periods of seconds to hours.

Results are counted against the generation (`gen`, +1 on every transition) that admitted the
call: a late result from before the breaker opened, or from an earlier probe round, changes
nothing. A result reported without a permit counts against the current state.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from redis.asyncio import Redis

from app.resilience.breaker_local import LocalMachine
from app.resilience.config import BreakerConfig

MAX_EVENTS = 100
WINDOW_BUCKETS = 60

Op = Literal["before", "success", "failure", "release", "force_open", "disable", "reset", "read"]

_SCRIPT = """
local key, events_key, window_key = KEYS[1], KEYS[2], KEYS[3]
local op, now, now_iso = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local actor, reason, ttl = ARGV[4], ARGV[5], tonumber(ARGV[6])
local replica, permit_gen, permit_probe = ARGV[7], tonumber(ARGV[8]), ARGV[9] == "1"
local failure_threshold, open_seconds = tonumber(ARGV[10]), tonumber(ARGV[11])
local rate_threshold, window_seconds = tonumber(ARGV[12]), tonumber(ARGV[13])
local minimum_calls, max_probes = tonumber(ARGV[14]), tonumber(ARGV[15])
local success_threshold, probe_lease = tonumber(ARGV[16]), tonumber(ARGV[17])
local max_events, buckets = tonumber(ARGV[18]), tonumber(ARGV[19])

local r, dirty = {}, {}
local flat = redis.call("HGETALL", key)
for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
local function num(f)
    local v = r[f]
    if v == nil or v == "" then return nil end
    return tonumber(v)
end
local function set(f, v) r[f] = v; dirty[#dirty + 1] = f end
local function none(v) if v == "" then return cjson.null end return v end
local state = r.state or "closed"
if state == "" then state = "closed" end
local transitions = {}

local function move(to, why, who)
    local from = state
    state = to
    set("state", to); set("gen", (num("gen") or 0) + 1); set("changed_at", now)
    set("reason", why); set("actor", who)
    set("successes", 0); set("probes", 0); set("probe_at", "")
    if to == "closed" or to == "disabled" then
        set("failures", 0); set("opened_at", ""); set("open_until", "")
        redis.call("DEL", window_key)
    elseif to == "open" then
        set("opened_at", now); set("open_until", now + open_seconds)
    elseif to == "forced_open" then
        set("opened_at", now); set("open_until", "")
    end
    set("forced_until", (to == "forced_open" and ttl) and now + ttl or "")
    set("disabled_until", (to == "disabled" and ttl) and now + ttl or "")
    redis.call("LPUSH", events_key, cjson.encode({time = now_iso, from = from, to = to,
        reason = none(why), actor = who, replica = none(replica)}))
    redis.call("LTRIM", events_key, 0, max_events - 1)
    transitions[#transitions + 1] = {from, to}
end

local function advance()
    if state == "open" and now >= (num("open_until") or 0) then
        move("half_open", "open period ended; admitting probe calls", "system")
    elseif state == "forced_open" and num("forced_until") and now >= num("forced_until") then
        move("closed", "forced open expired", "system")
    elseif state == "disabled" and num("disabled_until") and now >= num("disabled_until") then
        move("closed", "disable expired", "system")
    elseif state == "half_open" and (num("probes") or 0) > 0
            and now - (num("probe_at") or 0) > probe_lease then
        set("probes", 0) -- probes that never reported: their replica died mid-call
    end
end

local function window(add_calls, add_failures)
    local width = window_seconds / buckets
    local current = math.floor(now / width)
    local calls, failures, stale = 0, 0, {}
    local fields = redis.call("HGETALL", window_key)
    for i = 1, #fields, 2 do
        local bucket, kind = string.match(fields[i], "^(%d+):(%a)$")
        if bucket == nil or tonumber(bucket) <= current - buckets then
            stale[#stale + 1] = fields[i]
        elseif kind == "f" then
            failures = failures + tonumber(fields[i + 1])
        else
            calls = calls + tonumber(fields[i + 1])
        end
    end
    if #stale > 0 then redis.call("HDEL", window_key, unpack(stale)) end
    if add_calls > 0 then
        local name = string.format("%.0f", current)
        redis.call("HINCRBY", window_key, name .. ":n", add_calls)
        if add_failures > 0 then redis.call("HINCRBY", window_key, name .. ":f", add_failures) end
        redis.call("PEXPIRE", window_key, math.ceil(window_seconds * 2000))
    end
    return calls + add_calls, failures + add_failures
end

advance()
local current = permit_gen == nil or permit_gen == (num("gen") or 0)
local admitted, probe, calls, failures = false, false, 0, 0
if op == "before" then
    if state == "closed" or state == "disabled" then
        admitted = true
    elseif state == "half_open" and (num("probes") or 0) < max_probes then
        admitted, probe = true, true
        set("probes", (num("probes") or 0) + 1); set("probe_at", now)
    end
elseif (op == "success" or op == "failure") and state ~= "disabled" then
    if op == "failure" then set("last_failure", reason); set("last_failure_at", now) end
    if current and state == "closed" and op == "success" then
        if (num("failures") or 0) > 0 then set("failures", 0) end
        calls, failures = window(1, 0)
    elseif current and state == "closed" then
        local consecutive = (num("failures") or 0) + 1
        set("failures", consecutive)
        calls, failures = window(1, 1)
        if consecutive >= failure_threshold then
            move("open", string.format("%d consecutive failures (last: %s)", consecutive,
                reason), "system")
        elseif calls >= minimum_calls and failures >= rate_threshold * calls then
            move("open", string.format("failure rate %d%% (%d of %d calls in %gs; last: %s)",
                math.floor(100 * failures / calls), failures, calls, window_seconds, reason),
                "system")
        end
    elseif current and state == "half_open" then
        set("probes", math.max(0, (num("probes") or 0) - 1))
        if op == "failure" then
            move("open", "probe call failed: " .. reason, "system")
        elseif (num("successes") or 0) + 1 >= success_threshold then
            move("closed", string.format("%d consecutive successful probes",
                (num("successes") or 0) + 1), "system")
        else
            set("successes", (num("successes") or 0) + 1)
        end
    end
elseif op == "release" then
    if current and permit_probe and state == "half_open" then
        set("probes", math.max(0, (num("probes") or 0) - 1))
    end
elseif op == "force_open" then
    move("forced_open", reason, actor)
elseif op == "disable" then
    move("disabled", reason, actor)
elseif op == "reset" then
    move("closed", reason, actor)
end
if op == "force_open" or op == "disable" or op == "reset" or op == "read" then
    calls, failures = window(0, 0)
end

if #dirty > 0 then
    local args, seen = {}, {}
    for _, f in ipairs(dirty) do
        if not seen[f] then
            seen[f] = true; args[#args + 1] = f; args[#args + 1] = r[f]
        end
    end
    redis.call("HSET", key, unpack(args))
end
return cjson.encode({record = r, admitted = admitted, probe = probe,
    transitions = transitions, calls = calls, failures = failures})
"""


def _number(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True)
class Record:
    """A breaker's stored state (the Redis hash, typed)."""

    state: str = "closed"
    gen: int = 0
    changed_at: float | None = None
    reason: str | None = None
    actor: str | None = None
    opened_at: float | None = None
    open_until: float | None = None
    forced_until: float | None = None
    disabled_until: float | None = None
    failures: int = 0
    successes: int = 0
    probes: int = 0
    probe_at: float | None = None
    last_failure: str | None = None
    last_failure_at: float | None = None

    @classmethod
    def from_fields(cls, raw: Mapping[str, Any]) -> Record:
        counts = {f: int(_number(raw.get(f)) or 0) for f in ("gen", "failures", "successes")}
        return cls(
            state=_text(raw.get("state")) or "closed",
            changed_at=_number(raw.get("changed_at")),
            reason=_text(raw.get("reason")),
            actor=_text(raw.get("actor")),
            opened_at=_number(raw.get("opened_at")),
            open_until=_number(raw.get("open_until")),
            forced_until=_number(raw.get("forced_until")),
            disabled_until=_number(raw.get("disabled_until")),
            probes=int(_number(raw.get("probes")) or 0),
            probe_at=_number(raw.get("probe_at")),
            last_failure=_text(raw.get("last_failure")),
            last_failure_at=_number(raw.get("last_failure_at")),
            **counts,
        )

    def to_fields(self) -> dict[str, Any]:
        return {k: "" if v is None else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Step:
    """One operation on a breaker, as both machines take it."""

    op: Op
    now: float
    now_iso: str
    actor: str = "system"
    reason: str | None = None
    ttl: float | None = None
    permit_gen: int | None = None  # the generation that admitted the call, when known
    permit_probe: bool = False


@dataclass(frozen=True)
class StepResult:
    record: Record
    admitted: bool = False
    probe: bool = False
    transitions: list[tuple[str, str]] = field(default_factory=list)
    window_calls: int = 0
    window_failures: int = 0

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> StepResult:
        return cls(
            record=Record.from_fields(raw.get("record") or {}),
            admitted=bool(raw.get("admitted")),
            probe=bool(raw.get("probe")),
            # cjson encodes an empty Lua table as {}: no transitions.
            transitions=[(str(a), str(b)) for a, b in (raw.get("transitions") or [])],
            window_calls=int(raw.get("calls") or 0),
            window_failures=int(raw.get("failures") or 0),
        )


def breaker_key(provider: str) -> str:
    return f"resilience:breaker:{provider}"


class RedisStore:
    """A provider's breaker in Redis: one script call per operation."""

    def __init__(self, redis: Redis, provider: str, *, replica: str | None) -> None:
        self.redis = redis
        self.key = breaker_key(provider)
        self.events_key = f"{self.key}:events"
        self.window_key = f"{self.key}:window"
        self.replica = replica
        self._script = redis.register_script(_SCRIPT)

    async def run(self, step: Step, config: BreakerConfig, probe_lease: float) -> StepResult:
        args = _script_args(step, config, probe_lease, self.replica)
        raw = await self._script(keys=[self.key, self.events_key, self.window_key], args=args)
        return StepResult.from_json(json.loads(raw))

    async def queue_read(
        self, pipe: Any, now: float, config: BreakerConfig, probe_lease: float
    ) -> None:
        """run()'s "read" queued on a pipeline (the health view's one round-trip); parse the
        reply with parse()."""
        stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        step = Step(op="read", now=now, now_iso=stamp.replace("+00:00", "Z"), actor="system",
                    reason=None, ttl=None, permit_gen=None, permit_probe=False)  # fmt: skip
        args = _script_args(step, config, probe_lease, self.replica)
        await self._script(
            keys=[self.key, self.events_key, self.window_key], args=args, client=pipe
        )

    @staticmethod
    def parse(raw: Any) -> StepResult:
        return StepResult.from_json(json.loads(raw))

    async def events(self, limit: int) -> list[dict[str, Any]]:
        return [json.loads(item) for item in await self.redis.lrange(self.events_key, 0, limit - 1)]


def _script_args(
    step: Step, config: BreakerConfig, probe_lease: float, replica: str | None
) -> list[str | int | float]:
    return [
        step.op,
        repr(step.now),
        step.now_iso,
        step.actor,
        step.reason or "",
        "" if step.ttl is None else repr(float(step.ttl)),
        replica or "",
        "" if step.permit_gen is None else step.permit_gen,
        int(step.permit_probe),
        config.failure_threshold,
        repr(float(config.open_seconds)),
        repr(float(config.failure_rate_threshold)),
        repr(float(config.window_seconds)),
        config.minimum_calls,
        config.half_open_max_calls,
        config.success_threshold,
        repr(float(probe_lease)),
        MAX_EVENTS,
        WINDOW_BUCKETS,
    ]


class LocalStore:
    """A provider's breaker in this process's memory, while Redis is unreachable; starts from
    the last record this process read from Redis."""

    def __init__(self, seed: Record | None, *, replica: str | None) -> None:
        self.machine = LocalMachine(
            seed.to_fields() if seed else {},
            replica=replica,
            max_events=MAX_EVENTS,
            buckets=WINDOW_BUCKETS,
        )
        self.event_log: deque[dict[str, Any]] = self.machine.events

    async def run(self, step: Step, config: BreakerConfig, probe_lease: float) -> StepResult:
        return StepResult.from_json(self.machine.run(step, config, probe_lease))

    async def events(self, limit: int) -> list[dict[str, Any]]:
        return list(self.event_log)[:limit]
