"""The Lua scripts the Redis backend runs: each call one atomic step on Redis's own clock.

Counter layout (every key under the backend's prefix, all expiring on their own):
    {check key}            a sliding window: sorted set of "entry|weight" by time (ms)
    {check key}:sum        the weights in that set (both expire a window after the last)
    {check key}            requests in flight (TTL refreshed at each admission)
    {check key}:{period}   spend of one day or month in billionths (TTL past the period)
    {prefix}circuits       hash: circuit key -> open until (ms, Redis clock)
"""

from __future__ import annotations

#: KEYS: the checks' keys. ARGV[1]: "1" to commit, ARGV[2]: the request's entry id; then per
#: check: kind, limit, cost, arg, ttl. Returns {failed index or -1, then per check 3
#: strings: used (window) or value, ms to wait (-1: never fits), ms to reset}.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function weight(member) return tonumber(string.match(member, '|(%d+)$')) end
local function used_of(log, width)
  local sum = log .. ':sum'
  local gone = redis.call('ZRANGEBYSCORE', log, '-inf', now - width)
  if #gone > 0 then
    local w = 0
    for _, m in ipairs(gone) do w = w + weight(m) end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - width)
    redis.call('DECRBY', sum, w)
  end
  if redis.call('ZCARD', log) == 0 then
    redis.call('DEL', sum)
    return 0
  end
  return tonumber(redis.call('GET', sum) or '0')
end
local failed = -1
local out = {}
for i, key in ipairs(KEYS) do
  local a = 2 + (i - 1) * 5
  local kind, limit, cost, arg = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), ARGV[a + 4]
  if kind == 'w' then
    local width = tonumber(arg) * 1000
    local used = used_of(key, width)
    local wait, reset = 0, 0
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if #newest > 0 then reset = tonumber(newest[2]) + width - now end
    if used + cost > limit then
      if failed < 0 then failed = i - 1 end
      if cost > limit then
        wait = -1
      else
        wait = width
        local left = used
        local oldest = redis.call('ZRANGE', key, 0, 999, 'WITHSCORES')
        for j = 1, #oldest, 2 do
          left = left - weight(oldest[j])
          if left + cost <= limit then
            wait = tonumber(oldest[j + 1]) + width - now
            break
          end
        end
      end
    end
    out[#out + 1] = string.format('%d', used)
    out[#out + 1] = string.format('%d', wait)
    out[#out + 1] = string.format('%d', reset)
  else
    local name = key
    if kind == 's' then name = key .. ':' .. arg end
    local value = tonumber(redis.call('GET', name) or '0')
    if failed < 0 and ((kind == 'c' and value + 1 > limit) or (kind == 's' and value >= limit)) then
      failed = i - 1
    end
    out[#out + 1] = string.format('%d', value)
    out[#out + 1] = '0'
    out[#out + 1] = '0'
  end
end
if failed < 0 and ARGV[1] == '1' then
  for i, key in ipairs(KEYS) do
    local a = 2 + (i - 1) * 5
    local kind, cost, arg, ttl = ARGV[a + 1], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
    if kind == 'w' then
      local ms = tonumber(arg) * 1000 + 1000
      redis.call('ZADD', key, now, ARGV[2] .. '|' .. cost)
      redis.call('INCRBY', key .. ':sum', cost)
      redis.call('PEXPIRE', key, ms)
      redis.call('PEXPIRE', key .. ':sum', ms)
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
    local score = redis.call('ZSCORE', key, arg)
    if score then  -- not yet slid out: correct the reservation in place
      local id, old = string.match(arg, '^(.*)|(%d+)$')
      local new = math.max(0, tonumber(old) + tonumber(delta))
      redis.call('ZREM', key, arg)
      redis.call('ZADD', key, score, id .. '|' .. string.format('%d', new))
      redis.call('INCRBY', key .. ':sum', new - tonumber(old))
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
