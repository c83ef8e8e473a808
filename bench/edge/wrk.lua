-- bench/edge/run.sh's wrk script: GET BENCH_PATH (default /users) with "Authorization: Bearer
-- BENCH_TOKEN" when that is set; the RESULT line comes from bench/report.lua. wrk counts every
-- answer >= 400 in errors.status (reported as non2xx); run.sh checks that count against the
-- status it expects.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "../report.lua")

local token = os.getenv("BENCH_TOKEN") or ""
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/users"
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
