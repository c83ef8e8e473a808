-- POST /auth/refresh as a client does it: each answer's refresh token is the next request's
-- (rotation spends the one sent). Run with one connection per thread (-t N -c N): each thread
-- follows its own session, from the Nth token of BENCH_REFRESH_TOKENS (comma-separated).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local next_id = 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local token
function init(args)
  local tokens = {}
  for t in (os.getenv("BENCH_REFRESH_TOKENS") or error("set BENCH_REFRESH_TOKENS")):gmatch("[^,]+") do
    tokens[#tokens + 1] = t
  end
  token = tokens[id] or error("fewer BENCH_REFRESH_TOKENS than threads")
end

function request()
  return wrk.format("POST", "/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local refreshed = body:match('"refresh_token":"([^"]+)"')
  if status == 200 and refreshed then
    token = refreshed
  end
end
