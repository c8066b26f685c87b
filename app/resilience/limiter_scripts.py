"""The outbound limiter's Lua scripts: each operation is one atomic EVALSHA (one round-trip).

Times are Redis server time (TIME, microseconds since the epoch), never a client's clock, so
replicas with skewed clocks agree. Timestamps are stored with %d: Lua's tostring would write
1.7e15 as "1.7e+15". Floats are returned as strings (Redis truncates Lua numbers to integers).

Keys, per provider and credential:
  resilience:limiter:<provider>:<credential>   string: the GCRA TAT (µs); expires once past
  resilience:adaptive:<provider>:<credential>  hash: multiplier, throttled_at, decreased_at,
                                               recovered_at, blocked_until (µs); a day's TTL
  resilience:overrides:<provider>              hash: requests_per_second, burst (no TTL)

The arithmetic mirrors app/resilience/local_limiter.py (LocalGcra, AdaptiveState).
"""

from __future__ import annotations

# KEYS: bucket, adaptive, overrides.
# ARGV: configured rps, configured burst, adaptive (1/0), min_fraction, throttle factor,
#       margin, max wait (µs).
# Returns: granted (1/0), wait µs, multiplier, blocked µs from now, override rps or "",
#          override burst or "".
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local o = redis.call('HMGET', KEYS[3], 'requests_per_second', 'burst')
local rps = tonumber(o[1] or ARGV[1])
local burst = tonumber(o[2] or ARGV[2])
local a = redis.call('HMGET', KEYS[2], 'multiplier', 'blocked_until')
local mult = 1
if ARGV[3] == '1' and a[1] then
    mult = math.max(tonumber(a[1]), tonumber(ARGV[4]))
end
local blocked = tonumber(a[2] or '0')
local interval = 1000000 * (1 + tonumber(ARGV[6])) / (rps * mult * tonumber(ARGV[5]))
local tau = (burst - 1) * interval
local base = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if blocked > now then
    base = math.max(base, blocked + tau)
end
local wait = math.max(0, base - tau - now)
local granted = 0
if wait <= tonumber(ARGV[7]) then
    granted = 1
    local tat = base + interval
    redis.call('SET', KEYS[1], string.format('%d', tat),
        'PX', math.ceil((tat - now) / 1000) + 1000)
end
return {granted, math.floor(wait), tostring(mult), math.floor(math.max(0, blocked - now)),
    o[1] or '', o[2] or ''}
"""

# KEYS: adaptive.
# ARGV: adaptive (1/0), decrease_factor, min_fraction, cooldown µs, retry_after µs (-1: none),
#       TTL seconds.
# Returns: cut (1/0), multiplier, blocked µs from now.
THROTTLED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local a = redis.call('HMGET', KEYS[1], 'multiplier', 'decreased_at', 'blocked_until')
local mult = tonumber(a[1] or '1')
local cut = 0
if ARGV[1] == '1' then
    redis.call('HSET', KEYS[1], 'throttled_at', string.format('%d', now))
    if not a[2] or now - tonumber(a[2]) >= tonumber(ARGV[4]) then
        mult = math.max(mult * tonumber(ARGV[2]), tonumber(ARGV[3]))
        redis.call('HSET', KEYS[1], 'multiplier', tostring(mult),
            'decreased_at', string.format('%d', now))
        cut = 1
    end
end
local blocked = tonumber(a[3] or '0')
local retry_after = tonumber(ARGV[5])
if retry_after >= 0 and now + retry_after > blocked then
    blocked = now + retry_after
    redis.call('HSET', KEYS[1], 'blocked_until', string.format('%d', blocked))
end
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[6])
end
return {cut, tostring(mult), math.floor(math.max(0, blocked - now))}
"""

# KEYS: adaptive.
# ARGV: recover_after µs, recover_step, TTL seconds.
# Returns: multiplier, µs until the next step may happen (0 at full rate).
RECOVERED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local a = redis.call('HMGET', KEYS[1], 'multiplier', 'throttled_at', 'recovered_at')
if not a[1] then
    return {'1', 0}
end
local mult = tonumber(a[1])
local due = math.max(tonumber(a[2] or '0'), tonumber(a[3] or '0')) + tonumber(ARGV[1])
if now >= due then
    mult = math.min(1, mult + tonumber(ARGV[2]))
    if mult >= 1 - 1e-9 then
        mult = 1
        redis.call('HDEL', KEYS[1], 'multiplier')
    else
        redis.call('HSET', KEYS[1], 'multiplier', tostring(mult))
    end
    redis.call('HSET', KEYS[1], 'recovered_at', string.format('%d', now))
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    due = now + tonumber(ARGV[1])
end
if mult >= 1 then
    return {'1', 0}
end
return {tostring(mult), math.floor(due - now)}
"""

# KEYS: bucket, adaptive, overrides. Read-only.
# Returns: now µs, TAT µs or "", {multiplier, throttled_at, recovered_at, blocked_until},
#          {override rps, override burst} (missing fields are nil).
STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return {string.format('%d', now), redis.call('GET', KEYS[1]) or '',
    redis.call('HMGET', KEYS[2], 'multiplier', 'throttled_at', 'recovered_at', 'blocked_until'),
    redis.call('HMGET', KEYS[3], 'requests_per_second', 'burst')}
"""
