-- Chaining refresh generator for wrk: one connection and one refresh chain per
-- thread (run with -t C -c C).  Each request carries the refresh token from the
-- thread's previous answer, so every request is a real rotation.  A non-200
-- answer breaks the chain: it is counted as an error and the thread stops.
--
-- Configured by environment (readable from both the setup and thread states):
--   CHAIN_TOKENS  file with one initial refresh token per line
--   CHAIN_METHOD  POST | PATCH ...        CHAIN_PATH  e.g. /auth/refresh
--   CHAIN_MODE    json | header | form    CHAIN_KEY   field or header name
--   CHAIN_PREFIX  prefix for header mode (e.g. "Bearer ")
--   CHAIN_FIELD   JSON field of the answer holding the new refresh token
--                 (a dotted path; the last component is matched)

local threads = {}
local counter = 0

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

function setup(thread)
  counter = counter + 1
  local tokens = {}
  for line in io.lines(env("CHAIN_TOKENS", "tokens.txt")) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
  thread:set("id", counter)
  thread:set("token", tokens[((counter - 1) % #tokens) + 1])
  table.insert(threads, thread)
end

local method, path, mode, key, prefix, field

function init(args)
  method = env("CHAIN_METHOD", "POST")
  path = env("CHAIN_PATH", "/auth/refresh")
  mode = env("CHAIN_MODE", "json")
  key = env("CHAIN_KEY", "refresh_token")
  prefix = env("CHAIN_PREFIX", "")
  local f = env("CHAIN_FIELD", "refresh_token")
  field = f:match("([^%.]+)$")
  ok = 0
  errors = 0
  broken = 0
  last_status = 0
end

function request()
  local headers = {}
  local body = nil
  if mode == "header" then
    headers[key] = prefix .. token
  elseif mode == "form" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    body = key .. "=" .. token
  else
    headers["Content-Type"] = "application/json"
    body = '{"' .. key .. '":"' .. token .. '"}'
  end
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  if status == 200 then
    local t = body:match('"' .. field .. '"%s*:%s*"([^"]+)"')
    if t then
      token = t
      ok = ok + 1
      return
    end
  end
  errors = errors + 1
  broken = 1
  last_status = status
  wrk.thread:stop()
end

function done(summary, latency, requests)
  local ok_total, err_total, broken_total = 0, 0, 0
  local statuses = {}
  for _, t in ipairs(threads) do
    ok_total = ok_total + (t:get("ok") or 0)
    err_total = err_total + (t:get("errors") or 0)
    broken_total = broken_total + (t:get("broken") or 0)
    local s = t:get("last_status") or 0
    if s ~= 0 then statuses[#statuses + 1] = tostring(s) end
  end
  io.write(string.format(
    'CHAIN_JSON {"requests":%d,"ok":%d,"errors":%d,"broken_chains":%d,' ..
    '"socket_errors":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"error_statuses":"%s"}\n',
    summary.requests, ok_total, err_total, broken_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(statuses, ",")))
end
