-- POST /auth/login with a JSON body (BENCH_USERNAME, BENCH_PASSWORD), as bench/load.sh runs it.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local username = os.getenv("BENCH_USERNAME") or error("set BENCH_USERNAME")
local password = os.getenv("BENCH_PASSWORD") or error("set BENCH_PASSWORD")
wrk.method = "POST"
wrk.path = "/auth/login"
wrk.headers["Content-Type"] = "application/json"
-- The names and the password are plain ASCII without quotes or backslashes (load.sh checks).
wrk.body = string.format('{"username":"%s","password":"%s"}', username, password)
