#!/usr/bin/env bash
# Load test of the origin beside the FastAPI baseline, in the same run, on this machine
# (loopback only): GET /users with a valid token, POST /auth/refresh following a session's
# rotation, and POST /auth/login (one PBKDF2 hash each).
#
#   bench/load.sh                  # about 4 minutes: build, one hash timed, 12 wrk runs, a table
#
# It starts both services itself on fresh databases of the local PostgreSQL, signs a user up on
# each, logs in for a token, runs wrk (a warm-up, then a measured run, per service and
# endpoint), stops everything it started, drops its databases and prints requests/s, p99 and
# the ratios. A run with any non-2xx answer or socket error is reported as invalid.
#
# Environment (defaults in brackets):
#   DURATION [10s]  WARMUP [3s]  THREADS [2]       wrk: each measured run, its warm-up, threads
#   REFRESH_SESSIONS [4]                            refresh: one session per connection and thread
#   GET_CONNECTIONS [16]  LOGIN_CONNECTIONS [4]     concurrent connections per endpoint (at 64 the
#                   baseline stalls: SQLAlchemy's pool of 10+20 per worker runs dry and requests
#                   wait its 30 s timeout; at 16 it stays healthy, and the origin is as fast
#                   at 16 as at 64 here)
#   PBKDF2_ITERATIONS [600000]                      both services (the baseline's default)
#   PG [postgres://postgres@127.0.0.1:5432]         server for the databases bench_origin, bench_baseline
#   BASELINE [/work/shared/baseline/run_fastapi_seed.sh]  BASELINE_WORKERS [2]
#   ORIGIN_PORT [18000]  BASELINE_PORT [18080]
#   SKIP_BUILD=1    use target/release/origin as it is
#   HASH_MS=<ms>    one hash's time; unset: measured in this run by the criterion bench
#                   pbkdf2_sha256_600k/shared_verify, just before the login runs (both services
#                   idle then)
#   KEEP_LOGS=1     keep the services' logs and wrk's full output (the path is printed)
set -euo pipefail
export PGOPTIONS="--client-min-messages=warning"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
THREADS="${THREADS:-2}"
GET_CONNECTIONS="${GET_CONNECTIONS:-16}"
LOGIN_CONNECTIONS="${LOGIN_CONNECTIONS:-4}"
REFRESH_SESSIONS="${REFRESH_SESSIONS:-4}"
ITERATIONS="${PBKDF2_ITERATIONS:-600000}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
BASELINE="${BASELINE:-/work/shared/baseline/run_fastapi_seed.sh}"
BASELINE_WORKERS="${BASELINE_WORKERS:-2}"
ORIGIN_PORT="${ORIGIN_PORT:-18000}"
BASELINE_PORT="${BASELINE_PORT:-18080}"
ORIGIN_DB=bench_origin
BASELINE_DB=bench_baseline
USERNAME=bench_user
PASSWORD="velvet-otter-signs-14"
EMAIL="bench.user@mailbox.org"

say() { printf 'load.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in wrk curl jq psql cargo awk; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH (wrk: apt-get install -y wrk)"
done
[ -x "$BASELINE" ] || die "the baseline's run script is missing: $BASELINE"
for port in "$ORIGIN_PORT" "$BASELINE_PORT"; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    die "something already listens on 127.0.0.1:$port; stop it or set ORIGIN_PORT/BASELINE_PORT"
  fi
done
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"

WORK="$(mktemp -d /tmp/bench-load.XXXXXX)"
ORIGIN_PGID=""
BASELINE_PGID=""
SAMPLER=""

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
  trap - EXIT INT TERM
  [ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
  stop_group "$ORIGIN_PGID" 10
  stop_group "$BASELINE_PGID" 10
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $ORIGIN_DB" -c "DROP DATABASE IF EXISTS $BASELINE_DB" \
    >/dev/null 2>&1 || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then say "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the origin's binary and one hash's time (both before any service runs) -----------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building the origin (release)"
  (cd "$ROOT" && cargo build --release -q -p origin)
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ORIGIN_BIN="$TARGET_DIR/release/origin"
[ -x "$ORIGIN_BIN" ] || die "$ORIGIN_BIN is missing (unset SKIP_BUILD)"

if [ -z "${HASH_MS:-}" ]; then # built now, run later (see "One hash's time" below)
  [ "$ITERATIONS" = 600000 ] || die "the criterion bench hashes at 600000 iterations; set HASH_MS for $ITERATIONS"
  (cd "$ROOT" && cargo bench -q -p shared --features jwt,hashing --bench passwords --no-run) \
    >"$WORK/hash-build.txt" 2>&1 || { cat "$WORK/hash-build.txt" >&2; die "the passwords bench does not build"; }
fi

# --- CPU accounting: /proc ticks of each service's process group, of postgres, of the machine --
CLK_TCK="$(getconf CLK_TCK)"
NPROC="$(nproc)"
proc_ticks() { # prints "origin baseline postgres" ticks (utime+stime of live processes)
  # One line per process; a process that ends meanwhile is skipped.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v o="${ORIGIN_PGID:--1}" -v b="${BASELINE_PGID:--1}" '
    {
      comm = $0; sub(/^[0-9]+ \(/, "", comm); sub(/\) [^)]*$/, "", comm)
      rest = $0; sub(/^.*\) /, "", rest); n = split(rest, f, " ")
      t = f[12] + f[13]
      if (f[3] == o) so += t; else if (f[3] == b) sb += t
      else if (comm == "postgres") sp += t
    }
    END { printf "%d %d %d\n", so, sb, sp }'
}
machine_ticks() { # prints "busy total" from /proc/stat
  awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6; exit }' /proc/stat
}

# Was the machine otherwise idle? Two seconds of /proc/stat before anything of ours runs.
read -r idle_b0 idle_t0 <<<"$(machine_ticks)"; sleep 2; read -r idle_b1 idle_t1 <<<"$(machine_ticks)"
BACKGROUND="$(awk -v b=$(( idle_b1 - idle_b0 )) -v t=$(( idle_t1 - idle_t0 )) -v n="$NPROC" \
  'BEGIN { printf "%.2f", (t > 0 ? b / t : 0) * n }')"
COMPILERS="$(pgrep -c -x rustc || true)"

# --- fresh databases, both services ----------------------------------------------------------
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $ORIGIN_DB" -c "DROP DATABASE IF EXISTS $BASELINE_DB" \
  -c "CREATE DATABASE $ORIGIN_DB" -c "CREATE DATABASE $BASELINE_DB" >/dev/null
SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

mkdir -p "$WORK/origin-cwd" # no config/.env here: only the variables below apply
say "starting the origin on 127.0.0.1:$ORIGIN_PORT"
(
  cd "$WORK/origin-cwd"
  DATABASE_URL="$PG/$ORIGIN_DB" JWT_SECRET="$SECRET" ORIGIN_ADDR="127.0.0.1:$ORIGIN_PORT" METRICS_ADDR= \
    PBKDF2_ITERATIONS="$ITERATIONS" RUST_LOG="${ORIGIN_RUST_LOG:-warn}" REFRESH_MAX_PER_IP=1000000000 \
    exec setsid "$ORIGIN_BIN" serve
) >"$WORK/origin.log" 2>&1 &
ORIGIN_PGID=$!

say "starting the baseline on 127.0.0.1:$BASELINE_PORT (workers=$BASELINE_WORKERS)"
(
  cd "$WORK"
  DATABASE_URL="$PG/$BASELINE_DB" JWT_SECRET="$SECRET" \
    PORT="$BASELINE_PORT" WORKERS="$BASELINE_WORKERS" PBKDF2_ITERATIONS="$ITERATIONS" \
    exec setsid "$BASELINE"
) >"$WORK/baseline.log" 2>&1 &
BASELINE_PGID=$!

wait_ready() { # $1 name, $2 port, $3 log
  for _ in $(seq 1 120); do
    curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$2/" && return 0
    sleep 0.5
  done
  cat "$3" >&2
  die "$1 did not answer on 127.0.0.1:$2 within 60 s"
}
wait_ready origin "$ORIGIN_PORT" "$WORK/origin.log"
wait_ready baseline "$BASELINE_PORT" "$WORK/baseline.log"
for pgid in "$ORIGIN_PGID" "$BASELINE_PGID"; do # each service leads its own process group
  [ "$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$pgid/stat")" = "$pgid" ] \
    || die "process $pgid does not lead its process group; the CPU accounting would be wrong"
done

# --- a user and a token on each -----------------------------------------------------------------
SIGNUP="$(jq -cn --arg u "$USERNAME" --arg p "$PASSWORD" --arg e "$EMAIL" \
  '{username: $u, password: $p, email: $e, first_name: "Bench", last_name: "User"}')"
LOGIN="$(jq -cn --arg u "$USERNAME" --arg p "$PASSWORD" '{username: $u, password: $p}')"
token_of() { # $1 port: signs the user up, logs in, prints the access token
  local code
  code="$(curl -s -o "$WORK/signup-$1.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "$SIGNUP" "http://127.0.0.1:$1/users")"
  [ "$code" = 201 ] || die "sign-up on :$1 answered $code: $(cat "$WORK/signup-$1.json")"
  curl -fsS -H 'Content-Type: application/json' -d "$LOGIN" "http://127.0.0.1:$1/auth/login" \
    | jq -er .access_token
}
ORIGIN_TOKEN="$(token_of "$ORIGIN_PORT")"
BASELINE_TOKEN="$(token_of "$BASELINE_PORT")"
refresh_tokens_of() { # $1 port: a session per refresh thread, their refresh tokens comma-separated
  local tokens=() _
  for _ in $(seq 1 "$REFRESH_SESSIONS"); do
    tokens+=("$(curl -fsS -H 'Content-Type: application/json' -d "$LOGIN" "http://127.0.0.1:$1/auth/login" \
      | jq -er .refresh_token)")
  done
  (IFS=,; echo "${tokens[*]}")
}
# The warm-up spends its sessions' tokens: the measured run follows sessions of its own (a token
# spent long ago would be reuse, and end its session).
ORIGIN_REFRESH_WARMUP="$(refresh_tokens_of "$ORIGIN_PORT")"
ORIGIN_REFRESH_TOKENS="$(refresh_tokens_of "$ORIGIN_PORT")"
BASELINE_REFRESH_WARMUP="$(refresh_tokens_of "$BASELINE_PORT")"
BASELINE_REFRESH_TOKENS="$(refresh_tokens_of "$BASELINE_PORT")"
for pair in "$ORIGIN_PORT:$ORIGIN_TOKEN" "$BASELINE_PORT:$BASELINE_TOKEN"; do
  curl -fsS -o /dev/null -H "Authorization: Bearer ${pair#*:}" "http://127.0.0.1:${pair%%:*}/users" \
    || die "GET /users with a fresh token failed on :${pair%%:*}"
done

# --- the runs ---------------------------------------------------------------------------------
# Compilers running meanwhile (other work on this machine) would distort the figures: count them.
# (ps, not pgrep: pgrep -x refuses patterns longer than 15 characters.)
# shellcheck disable=SC2009
( while :; do ps -eo comm | grep -cE '^(rustc|clippy-driver|cc1|cc1plus|ld)$' || true; sleep 1; done ) \
  >"$WORK/compilers.txt" 2>/dev/null &
SAMPLER=$!
declare -A RPS P99 CPU_SVC CPU_PG CPU_WRK CPU_OTHER VALID
run() { # $1 key, $2 port, $3 script, $4 connections, $5 token, [$6 threads]
  local key="$1" url="http://127.0.0.1:$2" out="$WORK/$1.txt"
  local -a args=(-t "${6:-$THREADS}" -c "$4" --timeout 10s --latency -s "$BENCH/$3" "$url")
  BENCH_REFRESH_TOKENS="${REFRESH_WARMUP:-}" BENCH_TOKEN="$5" BENCH_USERNAME="$USERNAME" BENCH_PASSWORD="$PASSWORD" \
    wrk -d "$WARMUP" "${args[@]}" >"$WORK/$key-warmup.txt" 2>&1 || die "wrk failed: $(cat "$WORK/$key-warmup.txt")"
  local p0 m0 p1 m1
  p0="$(proc_ticks)"; m0="$(machine_ticks)"
  local TIMEFORMAT='%U %S' # wrk's own CPU time, from bash's `time`
  { time BENCH_REFRESH_TOKENS="${REFRESH_TOKENS:-}" BENCH_TOKEN="$5" BENCH_USERNAME="$USERNAME" BENCH_PASSWORD="$PASSWORD" \
    wrk -d "$DURATION" "${args[@]}" >"$out" 2>&1; } 2>"$WORK/$key-wrk-cpu.txt" || die "wrk failed: $(cat "$out")"
  p1="$(proc_ticks)"; m1="$(machine_ticks)"
  local line
  line="$(grep '^RESULT ' "$out")" || die "no RESULT line from wrk: $(cat "$out")"
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  RPS[$key]="$(field rps)"
  P99[$key]="$(field p99_ms)"
  if [ "$(field non2xx)" = 0 ] && [ "$(field socket_errors)" = 0 ]; then VALID[$key]=yes; else
    VALID[$key]="NO (non2xx=$(field non2xx) socket_errors=$(field socket_errors))"
  fi
  # CPU used during the measured run, in cores (100% = one core busy for the whole run).
  local so0 sb0 sp0 so1 sb1 sp1 busy0 total0 busy1 total1
  read -r so0 sb0 sp0 <<<"$p0"; read -r so1 sb1 sp1 <<<"$p1"
  read -r busy0 total0 <<<"$m0"; read -r busy1 total1 <<<"$m1"
  local seconds
  seconds="$(field seconds)"
  local svc
  case "$key" in
    origin_*) svc=$(( so1 - so0 )) ;;
    *) svc=$(( sb1 - sb0 )) ;;
  esac
  local machine_cores
  machine_cores="$(awk -v b=$(( busy1 - busy0 )) -v t=$(( total1 - total0 )) -v n="$NPROC" \
    'BEGIN { printf "%.2f", (t > 0 ? b / t : 0) * n }')"
  cores() { awk -v t="$1" -v hz="$CLK_TCK" -v s="$seconds" 'BEGIN { printf "%.2f", t / hz / s }'; }
  CPU_SVC[$key]="$(cores "$svc")"
  CPU_PG[$key]="$(cores $(( sp1 - sp0 )))"
  CPU_WRK[$key]="$(awk -v s="$seconds" '{ printf "%.2f", ($1 + $2) / s }' "$WORK/$key-wrk-cpu.txt")"
  CPU_OTHER[$key]="$(awk -v m="$machine_cores" -v a="${CPU_SVC[$key]}" -v b="${CPU_PG[$key]}" \
    -v c="${CPU_WRK[$key]}" 'BEGIN { o = m - a - b - c; printf "%.2f", (o < 0 ? 0 : o) }')"
  say "$(printf '%-18s %9s req/s  p99 %9s ms  cpu: service %s, postgres %s, wrk %s, other %s cores' \
    "$key" "${RPS[$key]}" "${P99[$key]}" "${CPU_SVC[$key]}" "${CPU_PG[$key]}" "${CPU_WRK[$key]}" \
    "${CPU_OTHER[$key]}")"
}

say "GET /users: $GET_CONNECTIONS connections, $THREADS threads, $WARMUP warm-up + $DURATION"
run origin_get "$ORIGIN_PORT" get_users.lua "$GET_CONNECTIONS" "$ORIGIN_TOKEN"
run baseline_get "$BASELINE_PORT" get_users.lua "$GET_CONNECTIONS" "$BASELINE_TOKEN"
say "POST /auth/refresh: $REFRESH_SESSIONS sessions, a connection and a thread each, $WARMUP warm-up + $DURATION"
REFRESH_WARMUP="$ORIGIN_REFRESH_WARMUP" REFRESH_TOKENS="$ORIGIN_REFRESH_TOKENS" run origin_refresh "$ORIGIN_PORT" refresh.lua "$REFRESH_SESSIONS" "" "$REFRESH_SESSIONS"
REFRESH_WARMUP="$BASELINE_REFRESH_WARMUP" REFRESH_TOKENS="$BASELINE_REFRESH_TOKENS" run baseline_refresh "$BASELINE_PORT" refresh.lua "$REFRESH_SESSIONS" "" "$REFRESH_SESSIONS"
# One hash's time, now, while both services sit idle: the bound of the login runs that follow.
if [ -z "${HASH_MS:-}" ]; then
  say "timing one PBKDF2 hash ($ITERATIONS iterations) with the criterion bench"
  (cd "$ROOT" && cargo bench -q -p shared --features jwt,hashing --bench passwords -- \
    --noplot --exact pbkdf2_sha256_600k/shared_verify) >"$WORK/hash-bench.txt" 2>&1 \
    || { cat "$WORK/hash-bench.txt" >&2; die "the passwords bench failed"; }
  ESTIMATES="$TARGET_DIR/criterion/pbkdf2_sha256_600k/shared_verify/new/estimates.json"
  HASH_MS="$(jq '.mean.point_estimate / 1e6 * 1000 | round / 1000' "$ESTIMATES")"
  HASH_SOURCE="criterion mean in this run, 95% CI $(jq -r '.mean.confidence_interval |
    "\(.lower_bound / 1e3 | round / 1e3)-\(.upper_bound / 1e3 | round / 1e3)"' "$ESTIMATES") ms"
else
  HASH_SOURCE="HASH_MS"
fi
say "POST /auth/login: $LOGIN_CONNECTIONS connections, $THREADS threads, $WARMUP warm-up + $DURATION"
run origin_login "$ORIGIN_PORT" login.lua "$LOGIN_CONNECTIONS" ""
run baseline_login "$BASELINE_PORT" login.lua "$LOGIN_CONNECTIONS" ""

kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""
COMPILERS_DURING="$(sort -n "$WORK/compilers.txt" | tail -1)"

# --- the table ----------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
BOUND="$(awk -v n="$NPROC" -v ms="$HASH_MS" 'BEGIN { printf "%.1f", n * 1000 / ms }')"
GET_RATIO="$(ratio "${RPS[origin_get]}" "${RPS[baseline_get]}")"
LOGIN_SHARE="$(awk -v r="${RPS[origin_login]}" -v b="$BOUND" 'BEGIN { printf "%.0f", 100 * r / b }')"
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "met" : "MISSED") }'; }

echo
echo "Machine: $NPROC cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
  "SHA extensions: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
echo "Tree: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- origin shared/src \
  shared/Cargo.toml migrations Cargo.lock || echo ' + uncommitted changes to the code measured');" \
  "before the runs the machine was busy" \
  "$BACKGROUND cores without us, $COMPILERS rustc running; during the runs at most" \
  "${COMPILERS_DURING:-0} compiler processes at once"
echo "wrk -t$THREADS, $DURATION per run after a $WARMUP warm-up; GET /users -c$GET_CONNECTIONS," \
  "POST /auth/login -c$LOGIN_CONNECTIONS; PBKDF2 $ITERATIONS iterations; baseline workers=$BASELINE_WORKERS"
echo
printf '%-17s %-9s %11s %10s %7s  %-29s %s\n' endpoint service 'req/s' 'p99 ms' 'valid' \
  'cpu cores: svc/pg/wrk/other' 'ratio origin:baseline'
for endpoint in get refresh login; do
  case "$endpoint" in
    get) label="GET /users" ;;
    refresh) label="POST /auth/refresh" ;;
    *) label="POST /auth/login" ;;
  esac
  for service in origin baseline; do
    key="${service}_$endpoint"
    extra=""
    if [ "$service" = origin ]; then
      extra="req/s x$(ratio "${RPS[origin_$endpoint]}" "${RPS[baseline_$endpoint]}"),"
      extra="$extra p99 x$(ratio "${P99[origin_$endpoint]}" "${P99[baseline_$endpoint]}")"
    fi
    printf '%-17s %-9s %11s %10s %7s  %-29s %s\n' "$label" "$service" "${RPS[$key]}" "${P99[$key]}" \
      "${VALID[$key]%% *}" "${CPU_SVC[$key]}/${CPU_PG[$key]}/${CPU_WRK[$key]}/${CPU_OTHER[$key]}" "$extra"
  done
done
echo
echo "One hash: $HASH_MS ms ($HASH_SOURCE); the cores allow $NPROC / hash = $BOUND logins/s"
echo "Same run: the origin spent $(awk -v c="${CPU_SVC[origin_login]}" -v r="${RPS[origin_login]}" \
  'BEGIN { printf "%.1f", (r > 0 ? 1000 * c / r : 0) }') ms of CPU per login" \
  "(the baseline $(awk -v c="${CPU_SVC[baseline_login]}" -v r="${RPS[baseline_login]}" \
  'BEGIN { printf "%.1f", (r > 0 ? 1000 * c / r : 0) }') ms)"
echo "Target GET /users >= 15x the baseline: x$GET_RATIO, $(verdict "$GET_RATIO" 15)"
echo "Target logins/s >= 85% of the cores' bound: ${RPS[origin_login]} / $BOUND = $LOGIN_SHARE%," \
  "$(verdict "$LOGIN_SHARE" 85)"
for key in origin_get baseline_get origin_login baseline_login; do
  [ "${VALID[$key]}" = yes ] || echo "INVALID run $key: ${VALID[$key]}"
done
