-- GET of one page of the admin user list (BENCH_PATH, e.g. /users/admin?limit=100&after_id=N) with
-- an admin's bearer token (BENCH_TOKEN), as bench/load.sh runs it with SEED_USERS.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local token = os.getenv("BENCH_TOKEN") or error("set BENCH_TOKEN")
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or error("set BENCH_PATH")
wrk.headers["Authorization"] = "Bearer " .. token
