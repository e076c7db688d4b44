-- Logins for wrk from clients that honour Retry-After, as keyturn's clients
-- must: an answer refused with Retry-After (503 overloaded, 429) is followed
-- by that long a pause before the next attempt.  Body from STATIC_BODY_FILE;
-- a thread's users rotate through STATIC_USERS names by replacing "{user}".
-- wrk does not say which connection asks delay(), so each answer's pause is
-- queued and taken by the next request the thread sends: as many pauses as
-- refusals, not always on the connection that was refused.  done() prints
-- JSON like chain.lua, with the number of pauses taken.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local template, path, nusers, i
local pauses = {}

function init(args)
  local f = io.open(os.getenv("STATIC_BODY_FILE"), "r")
  template = f:read("*a"):gsub("%s+$", "")
  f:close()
  path = os.getenv("STATIC_PATH") or "/auth/login"
  nusers = tonumber(os.getenv("STATIC_USERS") or "1")
  i = id
  ok = 0
  errors = 0
  paused = 0
  statuses = {}
end

function request()
  i = i + 1
  local body = template:gsub("{user}", tostring(i % nusers))
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function delay()
  if #pauses == 0 then
    return 0
  end
  return table.remove(pauses, 1)
end

function response(status, headers, body)
  local after = tonumber(headers["retry-after"] or headers["Retry-After"] or "")
  if after and (status == 503 or status == 429) then
    pauses[#pauses + 1] = math.floor(after * 1000)
    paused = paused + 1
  else
    pauses[#pauses + 1] = 0
  end
  if status == 200 or status == 201 then
    ok = ok + 1
  else
    errors = errors + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local ok_total, err_total, paused_total = 0, 0, 0
  local seen = {}
  for _, t in ipairs(threads) do
    ok_total = ok_total + (t:get("ok") or 0)
    err_total = err_total + (t:get("errors") or 0)
    paused_total = paused_total + (t:get("paused") or 0)
    for s, n in pairs(t:get("statuses") or {}) do seen[s] = (seen[s] or 0) + n end
  end
  local parts = {}
  for s, n in pairs(seen) do parts[#parts + 1] = s .. "x" .. n end
  io.write(string.format(
    'CHAIN_JSON {"requests":%d,"ok":%d,"errors":%d,"socket_errors":%d,"duration_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"error_statuses":"%s","paused":%d}\n',
    summary.requests, ok_total, err_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(parts, ","), paused_total))
end
