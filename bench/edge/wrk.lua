-- bench/edge/run.sh's wrk script: GET BENCH_PATH (default /users) with "Authorization: Bearer
-- BENCH_TOKEN" when that is set, and one machine-readable line at the end. wrk counts every
-- answer >= 400 in errors.status; run.sh checks that count against the status it expects.
local token = os.getenv("BENCH_TOKEN") or ""
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/users"
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f status_errors=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
