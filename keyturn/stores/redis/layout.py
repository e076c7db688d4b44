"""The packed session value of the Redis engine: one string per session, a
field of its user's hash (see ``keyturn.stores.redis.sessions``).

A hash field per attribute cost about three times the bytes of the
attributes themselves; packed, a session with a 64-byte user agent fits a
160-byte allocation. Lua reads and rewrites the value (``LUA``, prepended to
the scripts); Python only reads it (``unpack``), so the encoder exists once.

Layout, big-endian::

    H flags | I generation | d created_at | d absolute_expires_at
    | d idle_expires_at | d rotated_at | d last_used_at
    | [I credential_version]        if F_CV
    | [d revoked_at]                if F_REVOKED
    | salt: 32 bytes if F_SALT32, else B length + bytes
    | login_ip, user_agent, last_ip, last_user_agent, dpop_jkt, revoke_reason:
      each present one as B length (255 = an I length follows) + UTF-8 bytes

``last_ip`` / ``last_user_agent`` equal to the login's are not stored twice
(F_SAME_IP / F_SAME_UA). The top three bits of ``flags`` are the format
version (1).

Rolling upgrades (docs/operations.md): a release adds a field only as an
expand step, behind a presence bit this layout leaves unused and after every
field an older release knows. Readers skip what they do not know, and every
rewrite here carries the unknown bits and the bytes after the known fields
(``x``) as they were, so a newer release beside this one keeps its field.
Changing the meaning of a known field, or the format version, is a contract
step: only once no replica of a release that reads the old form is left.
"""

from __future__ import annotations

import struct

from keyturn.core.sessions import Session

F_CV, F_REVOKED, F_SALT32 = 0x1, 0x2, 0x4
# Presence bits of the optional strings, in their order in the value.
# ``cid`` (the client the session was issued to) came last and later: a
# reader that knows only the first six stops before it, and its bit is one
# that reader ignores, so the previous release still reads these values.
TEXTS = (
    ("lip", 0x8), ("ua", 0x10), ("llip", 0x20), ("lua", 0x40), ("jkt", 0x80), ("rvr", 0x100), ("cid", 0x800),
)
F_SAME_IP, F_SAME_UA = 0x200, 0x400
VERSION = 0x2000
_VERSION_MASK = 0xE000
# Every bit this layout knows; others belong to a newer release's fields.
KNOWN = F_CV | F_REVOKED | F_SALT32 | F_SAME_IP | F_SAME_UA | _VERSION_MASK | sum(bit for _, bit in TEXTS)

_HEAD = struct.Struct(">HIddddd")
_U32 = struct.Struct(">I")
_F64 = struct.Struct(">d")


def unpack(session_id: str, user_id: str, raw: bytes) -> Session:
    """The ``Session`` a packed value holds (owner and id come from its key)."""
    flags, gen, cat, aexp, iexp, rat, lat = _HEAD.unpack_from(raw)
    if flags & _VERSION_MASK != VERSION:
        raise ValueError("unknown session value format")
    pos = _HEAD.size
    cv = 0
    if flags & F_CV:
        (cv,) = _U32.unpack_from(raw, pos)
        pos += 4
    rvat: float | None = None
    if flags & F_REVOKED:
        (rvat,) = _F64.unpack_from(raw, pos)
        pos += 8
    if flags & F_SALT32:
        n = 32
    else:
        n, pos = raw[pos], pos + 1
    salt, pos = raw[pos : pos + n], pos + n
    text: dict[str, str | None] = {}
    for name, bit in TEXTS:
        if not flags & bit:
            text[name] = None
            continue
        n, pos = raw[pos], pos + 1
        if n == 255:
            (n,) = _U32.unpack_from(raw, pos)
            pos += 4
        text[name], pos = raw[pos : pos + n].decode(), pos + n
    if flags & F_SAME_IP:
        text["llip"] = text["lip"]
    if flags & F_SAME_UA:
        text["lua"] = text["ua"]
    return Session(
        id=session_id, user_id=user_id, salt=salt, created_at=cat, absolute_expires_at=aexp,
        idle_expires_at=iexp, generation=gen, rotated_at=rat, last_used_at=lat,
        login_ip=text["lip"], user_agent=text["ua"], last_ip=text["llip"], last_user_agent=text["lua"],
        dpop_jkt=text["jkt"], revoked_at=rvat, revoke_reason=text["rvr"], credential_version=cv,
        client_id=text["cid"],
    )


def num(x: float) -> str:
    """A time as a script argument: ``repr`` round-trips the double exactly."""
    return repr(float(x))


def opt(value: str | None) -> str:
    """Optional text as a script argument (``opt`` in Lua): NULL as ``""``,
    a value as ``"v" + value``, so an empty string stays distinct."""
    return "" if value is None else "v" + value


def fields(s: Session) -> list[str | bytes]:
    """The arguments ``from_args`` (Lua) builds a session table from."""
    return [
        str(s.generation), num(s.created_at), num(s.absolute_expires_at), num(s.idle_expires_at),
        num(s.rotated_at), num(s.last_used_at), str(s.credential_version),
        "" if s.revoked_at is None else num(s.revoked_at), s.salt,
        opt(s.login_ip), opt(s.user_agent), opt(s.last_ip), opt(s.last_user_agent), opt(s.dpop_jkt),
        opt(s.revoke_reason), opt(s.client_id),
    ]


def _lua_texts() -> str:
    return ", ".join(f"{{'{name}', {bit}}}" for name, bit in TEXTS)


# The codec in Lua: ``decode(value)`` -> table, ``encode(table)`` -> value,
# ``encode_header(value, table)`` -> value with only the fixed header rewritten,
# ``from_args(i)`` -> table from ARGV[i..] (as ``fields`` sends), and the
# conversion of a session hash of the previous layout (``from_legacy``).
LUA = f"""
local TEXTS = {{{_lua_texts()}}}
local F_CV, F_REVOKED, F_SALT32, F_SAME_IP, F_SAME_UA = {F_CV}, {F_REVOKED}, {F_SALT32}, {F_SAME_IP}, {F_SAME_UA}
local KNOWN = {KNOWN}
local function decode(v)
  local flags, gen, cat, aexp, iexp, rat, lat, pos = struct.unpack('>HIddddd', v)
  local s = {{gen = gen, cat = cat, aexp = aexp, iexp = iexp, rat = rat, lat = lat, cv = 0}}
  if bit.band(flags, F_CV) ~= 0 then s.cv, pos = struct.unpack('>I', v, pos) end
  if bit.band(flags, F_REVOKED) ~= 0 then s.rvat, pos = struct.unpack('>d', v, pos) end
  local n = 32
  if bit.band(flags, F_SALT32) == 0 then n, pos = struct.unpack('B', v, pos) end
  s.salt = string.sub(v, pos, pos + n - 1)
  pos = pos + n
  for _, t in ipairs(TEXTS) do
    if bit.band(flags, t[2]) ~= 0 then
      n, pos = struct.unpack('B', v, pos)
      if n == 255 then n, pos = struct.unpack('>I', v, pos) end
      s[t[1]] = string.sub(v, pos, pos + n - 1)
      pos = pos + n
    end
  end
  if bit.band(flags, F_SAME_IP) ~= 0 then s.llip = s.lip end
  if bit.band(flags, F_SAME_UA) ~= 0 then s.lua = s.ua end
  -- A newer release's fields: their bits, and their bytes after ours.
  s.xflags, s.x = bit.band(flags, bit.bnot(KNOWN)), string.sub(v, pos)
  return s
end
local function encode(s)
  local flags = {VERSION}
  local tail = {{}}
  if s.cv ~= 0 then
    flags = flags + F_CV
    table.insert(tail, struct.pack('>I', s.cv))
  end
  if s.rvat then
    flags = flags + F_REVOKED
    table.insert(tail, struct.pack('>d', s.rvat))
  end
  if #s.salt == 32 then
    flags = flags + F_SALT32
    table.insert(tail, s.salt)
  else
    table.insert(tail, struct.pack('B', #s.salt) .. s.salt)
  end
  local skip = {{}}
  if s.lip ~= nil and s.llip == s.lip then
    flags = flags + F_SAME_IP
    skip.llip = true
  end
  if s.ua ~= nil and s.lua == s.ua then
    flags = flags + F_SAME_UA
    skip.lua = true
  end
  for _, t in ipairs(TEXTS) do
    local x = s[t[1]]
    if x ~= nil and not skip[t[1]] then
      flags = flags + t[2]
      if #x < 255 then
        table.insert(tail, struct.pack('B', #x) .. x)
      else
        table.insert(tail, struct.pack('B>I', 255, #x) .. x)
      end
    end
  end
  if s.x then
    flags = flags + s.xflags
    table.insert(tail, s.x)
  end
  return struct.pack('>HIddddd', flags, s.gen, s.cat, s.aexp, s.iexp, s.rat, s.lat) .. table.concat(tail)
end
local function encode_header(v, s)
  local flags = struct.unpack('>H', v)
  return struct.pack('>HIddddd', flags, s.gen, s.cat, s.aexp, s.iexp, s.rat, s.lat) .. string.sub(v, {_HEAD.size + 1})
end
local function opt(a)
  if a == '' then return nil end
  return string.sub(a, 2)
end
local function from_args(i)
  local s = {{gen = tonumber(ARGV[i]), cat = tonumber(ARGV[i + 1]), aexp = tonumber(ARGV[i + 2]),
    iexp = tonumber(ARGV[i + 3]), rat = tonumber(ARGV[i + 4]), lat = tonumber(ARGV[i + 5]),
    cv = tonumber(ARGV[i + 6]), salt = ARGV[i + 8]}}
  if ARGV[i + 7] ~= '' then s.rvat = tonumber(ARGV[i + 7]) end
  for k, t in ipairs(TEXTS) do s[t[1]] = opt(ARGV[i + 8 + k]) end
  return s
end
local function from_legacy(h)
  local f = {{}}
  for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
  local s = {{gen = tonumber(f.gen), cat = tonumber(f.cat), aexp = tonumber(f.aexp), iexp = tonumber(f.iexp),
    rat = tonumber(f.rat), lat = tonumber(f.lat), cv = tonumber(f.cv or '0'), salt = f.salt}}
  if f.rvat then s.rvat = tonumber(f.rvat) end
  for _, t in ipairs(TEXTS) do s[t[1]] = f[t[1]] end
  return s
end
"""
