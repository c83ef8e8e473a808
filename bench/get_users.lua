-- GET /users with a valid bearer token (BENCH_TOKEN), as bench/load.sh runs it.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local token = os.getenv("BENCH_TOKEN") or error("set BENCH_TOKEN")
wrk.method = "GET"
wrk.path = "/users"
wrk.headers["Authorization"] = "Bearer " .. token
