"""The Lua scripts of the Redis engine: each request-path operation is one
script, so it is atomic on the server and costs one round trip.

Every key a script touches carries the same ``{user id}`` hash tag, so on
Redis Cluster each script runs inside one slot. KEYS[1] is the user's hash
of unrevoked sessions ``p:{uid}:s`` (field = session id, value = the packed
session of ``keyturn.stores.redis.layout``), KEYS[2] the sorted set of the
previous layout, KEYS[3] the user's credential version. A revoked session
leaves the hash for a key of its own, ``p:{uid}:r:<sid>`` (``REV .. sid``),
that expires with the session: it is kept only so that a later reuse is
recognised, and listing or evicting never reads it.

Sessions of the previous layout (a hash per session, ``ARGV[1] .. sid``,
the unrevoked ones listed in that sorted set) are moved when a script first
touches them (``adopt_user``, ``fetch``). Keys a script builds (from
``KEYS[1]`` or ``ARGV[1]``) carry the user's tag, so they stay on the
script's slot.
"""

from __future__ import annotations

from keyturn.stores.redis.layout import LUA as _CODEC

# Shared by every script: the codec, retiring a revoked session to its own
# key, and the move from the previous layout.
_COMMON = _CODEC + """
local REV = string.sub(KEYS[1], 1, -2) .. 'r:'
local function retire(sid, s, now)
  redis.call('HDEL', KEYS[1], sid)
  local ttl = math.max(1, math.floor((s.aexp - now) * 1000))
  redis.call('SET', REV .. sid, encode(s), 'PX', ttl)
end
local function adopt(old, sid)
  local h = redis.call('HGETALL', old .. sid)
  if #h == 0 then return end
  local s = from_legacy(h)
  local ttl = redis.call('PTTL', old .. sid)
  if s.rvat ~= nil then
    if ttl > 0 then redis.call('SET', REV .. sid, encode(s), 'PX', ttl) end
  else
    redis.call('HSET', KEYS[1], sid, encode(s))
    if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then
      redis.call('PEXPIRE', KEYS[1], ttl)
    end
  end
  redis.call('DEL', old .. sid)
end
local function adopt_user(old)
  if redis.call('EXISTS', KEYS[2]) == 1 then
    for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do adopt(old, sid) end
    redis.call('DEL', KEYS[2])
  end
end
local function find(sid)
  return redis.call('HGET', KEYS[1], sid) or redis.call('GET', REV .. sid)
end
local function fetch(old, sid)
  local v = find(sid)
  if v then return v end
  adopt_user(old)
  adopt(old, sid)
  return find(sid)
end
"""

# ARGV: 1 old prefix, 2 now, 3 max sessions, 4 ttl ms, 5 sid, 6 the user's
# claims and scope as the login read them ('' = none; written to KEYS[3]
# only if none are stored: see SessionStore.set_grants), 7.. the new
# session (``layout.fields``). Sessions past their absolute expiry leave the
# hash on the way: all of them when the limit makes the script read every
# session anyway, else a few at random (so each login costs O(1), and a hash
# with ended sessions is cleaned faster than logins fill it).
CREATE = _COMMON + """
adopt_user(ARGV[1])
local now = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local live = {}
local all
if max > 0 then
  all = redis.call('HGETALL', KEYS[1])
else
  all = redis.call('HRANDFIELD', KEYS[1], 8, 'WITHVALUES')
end
for i = 1, #all, 2 do
  local s = decode(all[i + 1])
  if s.aexp <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif s.rvat == nil and s.iexp > now then
    table.insert(live, {all[i], s})
  end
end
local evicted = {}
if max > 0 and #live >= max then
  -- Least recently used first; ties by creation time, then id (as
  -- keyturn.core.sessions.lru_victims).
  table.sort(live, function(a, b)
    if a[2].lat ~= b[2].lat then return a[2].lat < b[2].lat end
    if a[2].cat ~= b[2].cat then return a[2].cat < b[2].cat end
    return a[1] < b[1]
  end)
  for i = 1, #live - max + 1 do
    local sid, s = live[i][1], live[i][2]
    s.rvat, s.rvr = now, 'evicted'
    retire(sid, s, now)
    table.insert(evicted, sid)
  end
end
if ARGV[6] ~= '' then
  redis.call('HSETNX', KEYS[3], 'x', ARGV[6])
end
local s = from_args(7)
if s.rvat ~= nil then
  redis.call('SET', REV .. ARGV[5], encode(s), 'PX', ARGV[4])
else
  redis.call('HSET', KEYS[1], ARGV[5], encode(s))
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
  end
end
return evicted
"""

# The compare-and-set. KEYS[3] the user's credential version hash (same
# slot): a session born under an older version never rotates, checked in
# this same script, which also returns the user's claims and scope (field
# ``x``): {1, x or nil} when it rotates, 0 when not.
# ARGV: 1 old prefix, 2 expected generation, 3 now, 4 new idle expiry, 5 ip,
#       6 user agent, 7 sid, 8 new generation, 9 wall-clock time the request
#       was sent, 10 deadline (when the requester stops waiting).
# By Redis's own clock: a script that runs after its deadline (Redis was
# stalled while it sat in the socket) does nothing, since the client has been
# answered 503 and will retry; and the grace window starts when the rotation
# commits (``now`` plus the time the script waited).
ROTATE = _COMMON + """
local t = redis.call('TIME')
local clock = tonumber(t[1]) + tonumber(t[2]) / 1000000
if clock > tonumber(ARGV[10]) then
  return 0
end
local v = fetch(ARGV[1], ARGV[7])
if not v then
  return 0
end
local s = decode(v)
local now = tonumber(ARGV[3])
if s.gen ~= tonumber(ARGV[2]) or s.rvat ~= nil or s.iexp <= now then
  return 0
end
local cv = redis.call('HMGET', KEYS[3], 'v', 'x')
if s.cv ~= tonumber(cv[1] or '0') then
  return 0
end
s.gen, s.lat, s.iexp = tonumber(ARGV[8]), now, tonumber(ARGV[4])
s.rat = now + math.max(0, clock - tonumber(ARGV[9]))
local ip, ua = opt(ARGV[5]), opt(ARGV[6])
if ip == s.llip and ua == s.lua then
  -- The usual refresh, from where the last one came: only the header
  -- changes, and the rest of the value is kept as it is.
  v = encode_header(v, s)
else
  s.llip, s.lua = ip, ua
  v = encode(s)
end
redis.call('HSET', KEYS[1], ARGV[7], v)
return {1, cv[2]}
"""

# KEYS[3] the user's credential version hash. ARGV: 1 old prefix, 2 now,
# 3 the session to keep ('' = none): it is stamped with the new version.
BUMP = _COMMON + """
local v = redis.call('HINCRBY', KEYS[3], 'v', 1)
redis.call('HSET', KEYS[3], 'at', ARGV[2])
if ARGV[3] ~= '' then
  local raw = fetch(ARGV[1], ARGV[3])
  if raw then
    local s = decode(raw)
    s.cv = v
    if s.rvat ~= nil then
      redis.call('SET', REV .. ARGV[3], encode(s), 'KEEPTTL')
    else
      redis.call('HSET', KEYS[1], ARGV[3], encode(s))
    end
  end
end
return v
"""

# ARGV: 1 old prefix, 2 now, 3 reason, 4 sid. The session stays (until its
# absolute expiry, in a key of its own) so a later reuse is still recognised.
REVOKE = _COMMON + """
local v = fetch(ARGV[1], ARGV[4])
if not v then
  return 0
end
local s = decode(v)
if s.rvat ~= nil then
  return 0
end
s.rvat, s.rvr = tonumber(ARGV[2]), ARGV[3]
retire(ARGV[4], s, s.rvat)
return 1
"""

# ARGV: 1 old prefix, 2 now, 3 reason, 4 keep ('' = none).
REVOKE_USER = _COMMON + """
adopt_user(ARGV[1])
local now = tonumber(ARGV[2])
local ids = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local sid, s = all[i], decode(all[i + 1])
  if s.rvat == nil and sid ~= ARGV[4] and s.aexp > now then
    s.rvat, s.rvr = now, ARGV[3]
    retire(sid, s, now)
    table.insert(ids, sid)
  end
end
return ids
"""

# KEYS[3] the user's credential version hash. ARGV: 1 old prefix, 2 sid
# ('' = every session of the user). Returns {values, {version, changed at,
# claims and scope}}:
# one session's value (or false), or the flat HGETALL of the user's hash.
READ = _COMMON + """
local cv = redis.call('HMGET', KEYS[3], 'v', 'at', 'x')
if ARGV[2] ~= '' then
  return {fetch(ARGV[1], ARGV[2]) or false, cv}
end
adopt_user(ARGV[1])
return {redis.call('HGETALL', KEYS[1]), cv}
"""

# ARGV: 1 old prefix, 2 now, 3.. ids of the user's revoked sessions and
# sessions of the previous layout (found by SCAN). Deletes the sessions past
# their absolute expiry and returns their ids.
PURGE = _COMMON + """
adopt_user(ARGV[1])
local now = tonumber(ARGV[2])
local gone = {}
for i = 3, #ARGV do
  adopt(ARGV[1], ARGV[i])
  local v = redis.call('GET', REV .. ARGV[i])
  if v and decode(v).aexp <= now then
    redis.call('DEL', REV .. ARGV[i])
    table.insert(gone, ARGV[i])
  end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if decode(all[i + 1]).aexp <= now then
    redis.call('HDEL', KEYS[1], all[i])
    table.insert(gone, all[i])
  end
end
return gone
"""
