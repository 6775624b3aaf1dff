"""The Lua scripts the Redis backend runs: each call one atomic step on Redis's own clock.

Counter layout (every key under the backend's prefix, all expiring on their own):
    {check key}:{bucket}   a sliding window's count in one fixed window (TTL two windows)
    {check key}            requests in flight (TTL refreshed at each admission)
    {check key}:{period}   spend of one day or month in billionths (TTL past the period)
    {prefix}circuits       hash: circuit key -> open until (ms, Redis clock)
"""

from __future__ import annotations

#: KEYS: the checks' keys. ARGV[1]: "1" to commit; then per check: kind, limit, cost, arg,
#: ttl. Returns {failed index or -1, then per check 4 strings: bucket, prev, cur, fraction
#: (window) or "0", value, "0", "0"}.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local failed = -1
local out = {}
for i, key in ipairs(KEYS) do
  local a = 1 + (i - 1) * 5
  local kind, limit, cost, arg = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), ARGV[a + 4]
  if kind == 'w' then
    local width = tonumber(arg)
    local bucket = math.floor(now / width)
    local prev = tonumber(redis.call('GET', key .. ':' .. string.format('%d', bucket - 1)) or '0')
    local cur = tonumber(redis.call('GET', key .. ':' .. string.format('%d', bucket)) or '0')
    local fraction = now / width - bucket
    if failed < 0 and prev * (1 - fraction) + cur + cost > limit then failed = i - 1 end
    out[#out + 1] = string.format('%d', bucket)
    out[#out + 1] = tostring(prev)
    out[#out + 1] = tostring(cur)
    out[#out + 1] = string.format('%.6f', fraction)
  else
    local name = key
    if kind == 's' then name = key .. ':' .. arg end
    local value = tonumber(redis.call('GET', name) or '0')
    if failed < 0 and ((kind == 'c' and value + 1 > limit) or (kind == 's' and value >= limit)) then
      failed = i - 1
    end
    out[#out + 1] = '0'
    out[#out + 1] = tostring(value)
    out[#out + 1] = '0'
    out[#out + 1] = '0'
  end
end
if failed < 0 and ARGV[1] == '1' then
  for i, key in ipairs(KEYS) do
    local a = 1 + (i - 1) * 5
    local kind, cost, ttl = ARGV[a + 1], ARGV[a + 3], ARGV[a + 5]
    if kind == 'w' then
      local name = key .. ':' .. out[(i - 1) * 4 + 1]
      redis.call('INCRBY', name, cost)
      redis.call('EXPIRE', name, ttl)
    elseif kind == 'c' then
      redis.call('INCR', key)
      redis.call('EXPIRE', key, ttl)
    end
  end
end
table.insert(out, 1, failed)
return out
"""

#: KEYS: the counters' keys. ARGV per key: kind, delta, arg, ttl.
SETTLE = """
for i, key in ipairs(KEYS) do
  local a = (i - 1) * 4
  local kind, delta, arg, ttl = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  if kind == 'c' then
    if redis.call('INCRBY', key, delta) < 0 then redis.call('SET', key, 0) end
    redis.call('EXPIRE', key, ttl)
  elseif kind == 'w' then
    local name = key .. ':' .. arg
    if redis.call('EXISTS', name) == 1 and redis.call('INCRBY', name, delta) < 0 then
      redis.call('SET', name, 0, 'KEEPTTL')
    end
  else
    local name = key .. ':' .. arg
    redis.call('INCRBY', name, delta)
    redis.call('EXPIRE', name, ttl)
  end
end
return 1
"""

#: KEYS[1]: the circuits hash. ARGV: circuit key, milliseconds open.
PUBLISH_OPEN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untl = now + tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if untl > old then redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', untl)) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

#: KEYS[1]: the circuits hash. Returns {key, ms left, ...}; forgets the closed ones.
OPEN_CIRCUITS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local left = tonumber(all[i + 1]) - now
  if left > 0 then
    out[#out + 1] = all[i]
    out[#out + 1] = string.format('%d', left)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
"""
