"""The Lua scripts of the Redis engine: each request-path write is one
script, so it is atomic on the server and costs one round trip.

Every key a script touches carries the same ``{user id}`` hash tag, so on
Redis Cluster each script runs inside one slot. Scripts that walk a user's
sessions build the session keys from ``ARGV[1]`` (the user's key prefix,
which already carries the tag): they are members of the user's sorted set,
so they are not known before the script runs, and the tag keeps them on the
script's slot.

Session hash fields: sid uid salt gen cat rat lat iexp aexp lip ua llip lua jkt
rvat rvr (absent = NULL). Optional text arrives as ``""`` for NULL or as
``"v" .. value``, so an empty string and NULL stay distinct.
"""

from __future__ import annotations

# Shared helpers, prepended to the scripts that set optional fields.
_SETOPT = """
local function setopt(key, field, arg)
  if arg == '' then
    redis.call('HDEL', key, field)
  else
    redis.call('HSET', key, field, string.sub(arg, 2))
  end
end
"""

# KEYS[1] new session hash, KEYS[2] user zset.
# ARGV: 1 session key prefix, 2 now, 3 max sessions, 4 ttl ms, 5 sid,
#       6 last_used_at, 7.. field/value pairs of the new hash.
CREATE = """
local now = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local evicted = {}
if max > 0 then
  local live = {}
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local f = redis.call('HMGET', ARGV[1] .. sid, 'rvat', 'iexp', 'aexp', 'lat', 'cat')
    if f[3] == false or f[1] ~= false then
      redis.call('ZREM', KEYS[2], sid)
    elseif tonumber(f[2]) > now and tonumber(f[3]) > now then
      table.insert(live, {sid, tonumber(f[4]), tonumber(f[5])})
    end
  end
  if #live >= max then
    -- Least recently used first; ties by creation time, then id (as
    -- keyturn.core.sessions.lru_victims).
    table.sort(live, function(a, b)
      if a[2] ~= b[2] then return a[2] < b[2] end
      if a[3] ~= b[3] then return a[3] < b[3] end
      return a[1] < b[1]
    end)
    for i = 1, #live - max + 1 do
      local sid = live[i][1]
      redis.call('HSET', ARGV[1] .. sid, 'rvat', ARGV[2], 'rvr', 'evicted')
      redis.call('ZREM', KEYS[2], sid)
      table.insert(evicted, sid)
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return evicted
"""

# The compare-and-set. KEYS[1] session hash, KEYS[2] user zset, KEYS[3] the
# user's credential version hash (same slot): a session born under an older
# version never rotates, checked in this same script.
# ARGV: 1 expected generation, 2 now, 3 new idle expiry, 4 ip, 5 user agent,
#       6 sid, 7 new generation, 8 wall-clock time the request was sent,
#       9 deadline (when the requester stops waiting).
# By Redis's own clock: a script that runs after its deadline (Redis was
# stalled while it sat in the socket) does nothing, since the client has been
# answered 503 and will retry; and the grace window starts when the rotation
# commits (``now`` plus the time the script waited).
ROTATE = _SETOPT + """
local t = redis.call('TIME')
local clock = tonumber(t[1]) + tonumber(t[2]) / 1000000
if clock > tonumber(ARGV[9]) then
  return 0
end
local f = redis.call('HMGET', KEYS[1], 'gen', 'rvat', 'iexp', 'cv')
if f[1] ~= ARGV[1] or f[2] ~= false or tonumber(f[3]) <= tonumber(ARGV[2]) then
  return 0
end
if (f[4] or '0') ~= (redis.call('HGET', KEYS[3], 'v') or '0') then
  return 0
end
local rat = string.format('%.6f', tonumber(ARGV[2]) + math.max(0, clock - tonumber(ARGV[8])))
redis.call('HSET', KEYS[1], 'gen', ARGV[7], 'rat', rat, 'lat', ARGV[2], 'iexp', ARGV[3])
setopt(KEYS[1], 'llip', ARGV[4])
setopt(KEYS[1], 'lua', ARGV[5])
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[6])
return 1
"""

# KEYS[1] the user's credential version hash, KEYS[2] the session to keep
# (a key of the same user if none). ARGV: 1 now, 2 keep ('' = none).
BUMP = """
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'at', ARGV[1])
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'cv', v)
end
return v
"""

# KEYS[1] session hash, KEYS[2] user zset. ARGV: 1 now, 2 reason, 3 sid.
# The hash stays (until its TTL) so a later reuse is still recognised.
REVOKE = """
local f = redis.call('HMGET', KEYS[1], 'gen', 'rvat')
if f[1] == false or f[2] ~= false then
  return 0
end
redis.call('HSET', KEYS[1], 'rvat', ARGV[1], 'rvr', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[3])
return 1
"""

# KEYS[1] user zset. ARGV: 1 session key prefix, 2 now, 3 reason, 4 keep ('' = none).
REVOKE_USER = """
local now = tonumber(ARGV[2])
local ids = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[1] .. sid
  local f = redis.call('HMGET', k, 'rvat', 'aexp')
  if f[2] == false or f[1] ~= false then
    redis.call('ZREM', KEYS[1], sid)
  elseif sid ~= ARGV[4] and tonumber(f[2]) > now then
    redis.call('HSET', k, 'rvat', ARGV[2], 'rvr', ARGV[3])
    redis.call('ZREM', KEYS[1], sid)
    table.insert(ids, sid)
  end
end
return ids
"""

# KEYS[1] user zset. ARGV: 1 session key prefix. Most recently used first;
# members whose hash has expired are dropped on the way.
LIST = """
local out = {}
for _, sid in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HGETALL', ARGV[1] .. sid)
  if #h == 0 then
    redis.call('ZREM', KEYS[1], sid)
  else
    table.insert(out, h)
  end
end
return out
"""

# KEYS[1] session hash, KEYS[2] user zset. ARGV: 1 now, 2 sid.
PURGE = """
local aexp = redis.call('HGET', KEYS[1], 'aexp')
if aexp and tonumber(aexp) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
