#!/usr/bin/env bash
# Load test of the origin beside the FastAPI baseline, in the same run, on this machine
# (loopback only): GET /users with a valid token, POST /auth/refresh following a session's
# rotation, and POST /auth/login (one PBKDF2 hash each).
#
#   bench/load.sh                  # about 4 minutes: build, one hash timed, 12 wrk runs, a table
#   bench/load.sh COMPARE=HEAD~1   # this tree against its parent, 3 rounds: about 10 minutes
#   bench/load.sh CALLGRIND=1      # instructions per GET /users, no wrk and no baseline (2 minutes)
#   bench/load.sh SEED_USERS=1000000  # a million more users (seconds), plus the admin list's pages
#
# It starts both services itself on fresh databases of the local PostgreSQL, signs a user up on
# each, logs in for a token, runs wrk (a warm-up, then a measured run, per service and
# endpoint), stops everything it started, drops its databases and prints requests/s, p99 and
# the ratios. A run with any non-2xx answer or socket error is reported as invalid. Each origin's
# refresh row also counts its database's commits per refresh (pg_stat_database.xact_commit across
# the measured run, read after 12 s of quiet each side: an idle backend flushes its counts up to
# 10 s late; every transaction of that database counts, autovacuum's too).
#
# Environment (defaults in brackets):
#   DURATION [10s]  WARMUP [3s]  THREADS [2]       wrk: each measured run, its warm-up, threads
#   REFRESH_SESSIONS [4]                            refresh: one session per connection and thread
#   GET_CONNECTIONS [16]  LOGIN_CONNECTIONS [4]     concurrent connections per endpoint (at 64 the
#                   baseline stalls: SQLAlchemy's pool of 10+20 per worker runs dry and requests
#                   wait its 30 s timeout; at 16 it stays healthy, and the origin is as fast
#                   at 16 as at 64 here)
#   PBKDF2_ITERATIONS [600000]                      both services (the baseline's default)
#   PG [postgres://postgres@127.0.0.1:5432]         server for the databases bench_origin_<ORIGIN_PORT>,
#                   bench_baseline_<BASELINE_PORT> (two runs on other ports do not collide)
#   BASELINE [/work/shared/baseline/run_fastapi_seed.sh]  BASELINE_WORKERS [2]
#   ORIGIN_PORT [18000]  BASELINE_PORT [18080]
#   SKIP_BUILD=1    use target/release/origin as it is
#   HASH_MS=<ms>    one hash's time; unset: measured in this run by the criterion bench
#                   pbkdf2_sha256_600k/shared_verify, just before the login runs (both services
#                   idle then)
#   KEEP_LOGS=1     keep the services' logs and wrk's full output (the path is printed)
#   COMPARE=<git ref or origin binary>   a second origin, "origin B", served beside this tree's on its
#                   own database (bench_origin_b_<ORIGIN_PORT>) and port (ORIGIN_PORT+1), rows interleaved round by
#                   round (A, B, baseline, A, B, baseline...), with B's ratios to A: so a change is
#                   judged against its parent in one run (COMPARE=HEAD~1), not against a figure from
#                   another hour of a shared machine. A ref is built once per commit with `cargo
#                   build --release -p origin` from `git archive` of it (files dated now), in the
#                   cache directory target/bench-compare/<commit>/ (source and binary), on a copy of
#                   target/release, so its compiled dependencies are reused (the workspace's own
#                   crates compile again: 1-2 minutes here; a ref whose Cargo.lock differs also
#                   compiles what changed) and target/ is left as it was; the copy is removed. A
#                   path to an executable is served as it is.
#   ROUNDS [1; 3 with COMPARE]  measured runs per service and endpoint, interleaved; the table
#                   shows each row's median, and B/A is the median of the rounds' own ratios
#   SKIP_BASELINE=1 leave the FastAPI baseline out (its rows and targets)
#   SEED_USERS=<n>  n more users in each origin's database (not the baseline's), inserted with SQL
#                   after the sign-up, all with the bench user's stored hash, then VACUUM ANALYZE; and
#                   three rows, origin A, one connection and thread: GET /users/admin?limit=100 (an
#                   admin created with `origin create-admin`), its last page by after_id and by offset
#   CALLGRIND=1     instead of the wrk runs: the instructions the origin (and origin B) executes
#                   per GET /users, under valgrind --tool=callgrind (PostgreSQL, another process,
#                   is not counted): CG_WARMUP [200] requests, then CG_WINDOWS [3] windows of
#                   CG_REQUESTS [400], one at a time on one keep-alive connection, the median
#                   window (bench/callgrind-count.py). Repeatable whatever the machine's load.
set -euo pipefail
for arg in "$@"; do # NAME=value arguments set what the environment would: bench/load.sh COMPARE=...
  [[ "$arg" =~ ^[A-Z][A-Z0-9_]*= ]] || { echo "load.sh: unknown argument $arg (settings are NAME=value)" >&2; exit 2; }
  export "${arg?}"
done
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
ORIGIN_B_PORT=$((ORIGIN_PORT + 1))
# Named by port, so two runs on other ports never share (and drop) each other's databases.
ORIGIN_DB="bench_origin_$ORIGIN_PORT"
ORIGIN_B_DB="bench_origin_b_$ORIGIN_PORT"
CALLGRIND="${CALLGRIND:-0}"
SKIP_BASELINE="${SKIP_BASELINE:-0}"
[ "$CALLGRIND" != 1 ] || SKIP_BASELINE=1
ROUNDS="${ROUNDS:-$([ -n "${COMPARE:-}" ] && echo 3 || echo 1)}"
SEED_USERS="${SEED_USERS:-0}"
BASELINE_DB="bench_baseline_$BASELINE_PORT"
USERNAME=bench_user
PASSWORD="velvet-otter-signs-14"
EMAIL="bench.user@mailbox.org"
ADMIN_USERNAME=bench_admin
ADMIN_EMAIL="bench.admin@mailbox.org"
PAGE=100 # users per page of the admin list's rows

say() { printf 'load.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
[[ "$SEED_USERS" =~ ^[0-9]+$ ]] || die "SEED_USERS=$SEED_USERS is not a number of users"

for tool in wrk curl jq psql cargo awk; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH (wrk: apt-get install -y wrk)"
done
[ "$SKIP_BASELINE" = 1 ] || [ -x "$BASELINE" ] || die "the baseline's run script is missing: $BASELINE (or SKIP_BASELINE=1)"
if [ "$CALLGRIND" = 1 ]; then
  for tool in valgrind callgrind_control python3; do
    command -v "$tool" >/dev/null || die "CALLGRIND=1 needs $tool (apt-get install -y valgrind)"
  done
fi
for port in "$ORIGIN_PORT" "$ORIGIN_B_PORT" "$BASELINE_PORT"; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    die "something already listens on 127.0.0.1:$port; stop it or set ORIGIN_PORT/BASELINE_PORT"
  fi
done
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"

WORK="$(mktemp -d /tmp/bench-load.XXXXXX)"
ORIGIN_PGID=""
ORIGIN_B_PGID=""
BASELINE_PGID=""
SAMPLER=""

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
  trap - EXIT INT TERM
  [ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
  stop_group "$ORIGIN_PGID" 10
  stop_group "$ORIGIN_B_PGID" 10
  stop_group "$BASELINE_PGID" 10
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $ORIGIN_DB" -c "DROP DATABASE IF EXISTS $ORIGIN_B_DB" \
    -c "DROP DATABASE IF EXISTS $BASELINE_DB" >/dev/null 2>&1 || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then say "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the origins' binaries and one hash's time (all before any service runs) -----------------
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ORIGIN_BIN="$TARGET_DIR/release/origin"
ORIGIN_B_BIN=""
COMPARE_LABEL=""
if [ -n "${COMPARE:-}" ]; then
  if [ -f "$COMPARE" ] && [ -x "$COMPARE" ]; then
    ORIGIN_B_BIN="$(cd "$(dirname "$COMPARE")" && pwd)/$(basename "$COMPARE")"
    COMPARE_LABEL="$COMPARE"
  else
    commit="$(git -C "$ROOT" rev-parse --verify -q "$COMPARE^{commit}")" \
      || die "COMPARE=$COMPARE is neither an executable nor a git commit"
    COMPARE_LABEL="$COMPARE = $(git -C "$ROOT" rev-parse --short "$commit")"
    ORIGIN_B_BIN="$(origin_at_commit "$commit" "origin B ($COMPARE_LABEL)" "$WORK/build-b.txt")" || exit 1
  fi
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building the origin (release)"
  (cd "$ROOT" && cargo build --release -q -p origin)
fi
[ -x "$ORIGIN_BIN" ] || die "$ORIGIN_BIN is missing (unset SKIP_BUILD)"

if [ -z "${HASH_MS:-}" ] && [ "$CALLGRIND" != 1 ]; then # built now, run later (see "One hash's time" below)
  [ "$ITERATIONS" = 600000 ] || die "the criterion bench hashes at 600000 iterations; set HASH_MS for $ITERATIONS"
  (cd "$ROOT" && cargo bench -q -p shared --features jwt,hashing --bench passwords --no-run) \
    >"$WORK/hash-build.txt" 2>&1 || { cat "$WORK/hash-build.txt" >&2; die "the passwords bench does not build"; }
fi

# --- CPU accounting: /proc ticks of each service's process group, of postgres, of the machine --
CLK_TCK="$(getconf CLK_TCK)"
NPROC="$(nproc)"
proc_ticks() { # prints "origin origin-B baseline postgres" ticks (utime+stime of live processes)
  # One line per process; a process that ends meanwhile is skipped.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v o="${ORIGIN_PGID:--1}" -v ob="${ORIGIN_B_PGID:--1}" \
    -v b="${BASELINE_PGID:--1}" '
    {
      comm = $0; sub(/^[0-9]+ \(/, "", comm); sub(/\) [^)]*$/, "", comm)
      rest = $0; sub(/^.*\) /, "", rest); n = split(rest, f, " ")
      t = f[12] + f[13]
      if (f[3] == o) so += t; else if (f[3] == ob) sob += t; else if (f[3] == b) sb += t
      else if (comm == "postgres") sp += t
    }
    END { printf "%d %d %d %d\n", so, sob, sb, sp }'
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
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $ORIGIN_DB" -c "DROP DATABASE IF EXISTS $ORIGIN_B_DB" \
  -c "DROP DATABASE IF EXISTS $BASELINE_DB" -c "CREATE DATABASE $ORIGIN_DB" >/dev/null
[ -z "$ORIGIN_B_BIN" ] || psql "$PG/postgres" -qc "CREATE DATABASE $ORIGIN_B_DB" >/dev/null
[ "$SKIP_BASELINE" = 1 ] || psql "$PG/postgres" -qc "CREATE DATABASE $BASELINE_DB" >/dev/null
SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

CG_WRAP=() # CALLGRIND=1: the origins run under callgrind (exec'd by setsid: the pid is callgrind's)
[ "$CALLGRIND" != 1 ] || CG_WRAP=(valgrind --tool=callgrind --trace-children=no --callgrind-out-file="$WORK/callgrind/origin.%p")
mkdir -p "$WORK/callgrind"
# The refresh limit is raised (wrk is one address refreshing hundreds of times a second); the login
# limits are the defaults: concurrent correct logins of one user wait for a slot, never get 429.
# A COMPARE build older than those tiers (before commit ef2c1f6) marks its login row invalid.
start_origin() { # $1 name, $2 binary, $3 port, $4 database; prints nothing, sets STARTED to its pgid
  mkdir -p "$WORK/$1-cwd" # no config/.env here: only the variables below apply
  say "starting $1 ($2) on 127.0.0.1:$3"
  (
    cd "$WORK/$1-cwd"
    DATABASE_URL="$PG/$4" JWT_SECRET="$SECRET" ORIGIN_ADDR="127.0.0.1:$3" METRICS_ADDR='' \
      PBKDF2_ITERATIONS="$ITERATIONS" RUST_LOG="${ORIGIN_RUST_LOG:-warn}" REFRESH_MAX_PER_IP=1000000000 \
      exec setsid "${CG_WRAP[@]}" "$2" serve
  ) >"$WORK/$1.log" 2>&1 &
  STARTED=$!
}
start_origin origin "$ORIGIN_BIN" "$ORIGIN_PORT" "$ORIGIN_DB"
ORIGIN_PGID=$STARTED
if [ -n "$ORIGIN_B_BIN" ]; then
  start_origin origin_b "$ORIGIN_B_BIN" "$ORIGIN_B_PORT" "$ORIGIN_B_DB"
  ORIGIN_B_PGID=$STARTED
fi

if [ "$SKIP_BASELINE" != 1 ]; then
  say "starting the baseline on 127.0.0.1:$BASELINE_PORT (workers=$BASELINE_WORKERS)"
  (
    cd "$WORK"
    DATABASE_URL="$PG/$BASELINE_DB" JWT_SECRET="$SECRET" \
      PORT="$BASELINE_PORT" WORKERS="$BASELINE_WORKERS" PBKDF2_ITERATIONS="$ITERATIONS" \
      exec setsid "$BASELINE"
  ) >"$WORK/baseline.log" 2>&1 &
  BASELINE_PGID=$!
fi

wait_ready() { # $1 name, $2 port, $3 log
  for _ in $(seq 1 240); do
    curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$2/" && return 0
    sleep 0.5
  done
  cat "$3" >&2
  die "$1 did not answer on 127.0.0.1:$2 within 120 s"
}
# SERVICES: name|port|pgid, in the order of each round's runs.
SERVICES=("origin|$ORIGIN_PORT|$ORIGIN_PGID")
[ -z "$ORIGIN_B_BIN" ] || SERVICES+=("origin_b|$ORIGIN_B_PORT|$ORIGIN_B_PGID")
[ "$SKIP_BASELINE" = 1 ] || SERVICES+=("baseline|$BASELINE_PORT|$BASELINE_PGID")
for service in "${SERVICES[@]}"; do
  IFS='|' read -r name port pgid <<<"$service"
  wait_ready "$name" "$port" "$WORK/$name.log"
  # each service leads its own process group
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
refresh_tokens_of() { # $1 port: a session per refresh thread, their refresh tokens comma-separated
  local tokens=() _
  for _ in $(seq 1 "$REFRESH_SESSIONS"); do
    tokens+=("$(curl -fsS -H 'Content-Type: application/json' -d "$LOGIN" "http://127.0.0.1:$1/auth/login" \
      | jq -er .refresh_token)")
  done
  (IFS=,; echo "${tokens[*]}")
}
declare -A TOKEN
for service in "${SERVICES[@]}"; do
  IFS='|' read -r name port _ <<<"$service"
  TOKEN[$name]="$(token_of "$port")"
  curl -fsS -o /dev/null -H "Authorization: Bearer ${TOKEN[$name]}" "http://127.0.0.1:$port/users" \
    || die "GET /users with a fresh token failed on :$port"
done
declare -A DB_OF=([origin]="$ORIGIN_DB" [origin_b]="$ORIGIN_B_DB")

# --- SEED_USERS: more users, straight into each origin's database; an admin's token -------------
# One PBKDF2 hash, the bench user's own, shared by every row: a million rows in seconds, not the
# hours a million hashes would take. VACUUM leaves no hint bits for the measured runs to set.
ADMIN_TOKEN=""
if [ "$SEED_USERS" != 0 ]; then
  for service in "${SERVICES[@]}"; do
    IFS='|' read -r name _ _ <<<"$service"
    [ -n "${DB_OF[$name]:-}" ] || continue
    started=$SECONDS
    psql "$PG/${DB_OF[$name]}" -v ON_ERROR_STOP=1 -qc "INSERT INTO users (username, password, email, first_name, last_name)
        SELECT 'seed_' || g, u.password, 'seed_' || g || '@mailbox.org', 'Seed', 'User'
        FROM (SELECT password FROM users WHERE username = '$USERNAME') u, generate_series(1, $SEED_USERS) g" \
      -c "VACUUM ANALYZE users" >/dev/null || die "seeding ${DB_OF[$name]} failed"
    say "$name: $SEED_USERS users seeded, vacuumed and analysed in $((SECONDS - started)) s"
  done
  (
    cd "$WORK/origin-cwd"
    DATABASE_URL="$PG/$ORIGIN_DB" JWT_SECRET="$SECRET" PBKDF2_ITERATIONS="$ITERATIONS" RUST_LOG=warn \
      ORIGIN_ADMIN_PASSWORD="$PASSWORD" "$ORIGIN_BIN" create-admin --username "$ADMIN_USERNAME" --email "$ADMIN_EMAIL"
  ) >"$WORK/create-admin.txt" 2>&1 || die "origin create-admin failed: $(cat "$WORK/create-admin.txt")"
  ADMIN_TOKEN="$(curl -fsS -H 'Content-Type: application/json' \
    -d "$(jq -cn --arg u "$ADMIN_USERNAME" --arg p "$PASSWORD" '{username: $u, password: $p}')" \
    "http://127.0.0.1:$ORIGIN_PORT/auth/login" | jq -er .access_token)" || die "the admin's login failed"
  # The last page, both ways: after the id 100 below the largest, and past all but 100 users.
  read -r USER_COUNT LAST_AFTER LAST_OFFSET <<<"$(psql "$PG/$ORIGIN_DB" -Atq -F' ' \
    -c "SELECT count(*), max(id) - $PAGE, count(*) - $PAGE FROM users")"
  declare -A ADMIN_PATH=([admin_first]="/users/admin?limit=$PAGE"
    [admin_after]="/users/admin?limit=$PAGE&after_id=$LAST_AFTER"
    [admin_offset]="/users/admin?limit=$PAGE&offset=$LAST_OFFSET")
  page_ids() { # $1 path: the ids of that page, as JSON
    curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$ORIGIN_PORT$1" | jq -c '[.[].id]'
  }
  [ "$(page_ids "${ADMIN_PATH[admin_first]}" | jq length)" = "$PAGE" ] || die "the admin list's first page is short"
  [ "$(page_ids "${ADMIN_PATH[admin_after]}")" = "$(page_ids "${ADMIN_PATH[admin_offset]}")" ] \
    || die "the last page by after_id and by offset differ"
fi
TREE="$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- origin shared/src \
  shared/Cargo.toml migrations Cargo.lock || echo ' + uncommitted changes to the code measured')"

# --- CALLGRIND=1: instructions per GET /users, then stop ----------------------------------------
if [ "$CALLGRIND" = 1 ]; then
  CG_RESULTS="$WORK/callgrind.tsv"
  : >"$CG_RESULTS"
  for service in "${SERVICES[@]}"; do
    IFS='|' read -r name port pgid <<<"$service"
    say "callgrind: $name, GET /users (valgrind runs it about 50x slower)"
    line="$(python3 "$BENCH/callgrind-count.py" "$pgid" "$WORK/callgrind" "http://127.0.0.1:$port/users" 200 \
      "${TOKEN[$name]}")" || die "callgrind count of $name failed"
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    printf '%s\t%s\t%s\t%s\n' "$name" "$(field median)" "$(field windows)" "$(field spread_pct)" >>"$CG_RESULTS"
  done
  echo
  echo "Origin instructions per GET /users under callgrind (PostgreSQL not counted): CG_WARMUP=${CG_WARMUP:-200}," \
    "then ${CG_WINDOWS:-3} windows of ${CG_REQUESTS:-400} requests, one keep-alive connection; the median window"
  echo "Tree: $TREE$([ -z "$ORIGIN_B_BIN" ] || echo "; origin B: $COMPARE_LABEL"); $(valgrind --version)"
  echo
  awk -F'\t' '
    { n[NR] = $1; m[NR] = $2; w[NR] = $3; s[NR] = $4 }
    END {
      printf "%-9s %22s  %s\n", "build", "instructions/request", "windows (spread)"
      for (i = 1; i <= NR; i++) {
        extra = (n[i] == "origin_b" ? sprintf("  B/A x%.3f", m[i] / m[1]) : "")
        gsub(",", " ", w[i])
        printf "%-9s %22s  %s (%s%%)%s\n", n[i], m[i], w[i], s[i], extra
      }
    }' "$CG_RESULTS"
  exit 0
fi

# --- the runs ---------------------------------------------------------------------------------
# Compilers running meanwhile (other work on this machine) would distort the figures: count them.
# (ps, not pgrep: pgrep -x refuses patterns longer than 15 characters.)
# shellcheck disable=SC2009
( while :; do ps -eo comm | grep -cE '^(rustc|clippy-driver|cc1|cc1plus|ld)$' || true; sleep 1; done ) \
  >"$WORK/compilers.txt" 2>/dev/null &
SAMPLER=$!
RESULTS="$WORK/results.tsv" # one line per measured run: service, endpoint, round, figures
: >"$RESULTS"
run() { # $1 service, $2 endpoint, $3 round, $4 port, $5 script, $6 connections, $7 token, [$8 threads]
  local key="$1_$2-$3" url="http://127.0.0.1:$4"
  local out="$WORK/$key.txt"
  local -a args=(-t "${8:-$THREADS}" -c "$6" --timeout 10s --latency -s "$BENCH/$5" "$url")
  BENCH_REFRESH_TOKENS="${REFRESH_WARMUP:-}" BENCH_TOKEN="$7" BENCH_USERNAME="$USERNAME" BENCH_PASSWORD="$PASSWORD" \
    wrk -d "$WARMUP" "${args[@]}" >"$WORK/$key-warmup.txt" 2>&1 || die "wrk failed: $(cat "$WORK/$key-warmup.txt")"
  # An origin's refresh row: its database's commits across the measured run. A backend that
  # committed within the last second flushes its counts when next idle for 10 s, hence the waits.
  local db="" c0="" c1=""
  if [ "$2" = refresh ] && [ -n "${DB_OF[$1]:-}" ]; then
    db="${DB_OF[$1]}"
    sleep 12
    c0="$(xact_commits "$db")"
  fi
  local p0 m0 p1 m1
  p0="$(proc_ticks)"; m0="$(machine_ticks)"
  local TIMEFORMAT='%U %S' # wrk's own CPU time, from bash's `time`
  { time BENCH_REFRESH_TOKENS="${REFRESH_TOKENS:-}" BENCH_TOKEN="$7" BENCH_USERNAME="$USERNAME" BENCH_PASSWORD="$PASSWORD" \
    wrk -d "$DURATION" "${args[@]}" >"$out" 2>&1; } 2>"$WORK/$key-wrk-cpu.txt" || die "wrk failed: $(cat "$out")"
  p1="$(proc_ticks)"; m1="$(machine_ticks)"
  if [ -n "$db" ]; then
    sleep 12
    c1="$(xact_commits "$db")"
  fi
  local line
  line="$(grep '^RESULT ' "$out")" || die "no RESULT line from wrk: $(cat "$out")"
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  local valid=yes
  if [ "$(field non2xx)" != 0 ] || [ "$(field socket_errors)" != 0 ]; then
    valid="NO(non2xx=$(field non2xx),socket_errors=$(field socket_errors))"
  fi
  # CPU used during the measured run, in cores (100% = one core busy for the whole run).
  local so0 sob0 sb0 sp0 so1 sob1 sb1 sp1 busy0 total0 busy1 total1
  read -r so0 sob0 sb0 sp0 <<<"$p0"; read -r so1 sob1 sb1 sp1 <<<"$p1"
  read -r busy0 total0 <<<"$m0"; read -r busy1 total1 <<<"$m1"
  local seconds svc
  seconds="$(field seconds)"
  case "$1" in
    origin_b) svc=$(( sob1 - sob0 )) ;;
    origin) svc=$(( so1 - so0 )) ;;
    *) svc=$(( sb1 - sb0 )) ;;
  esac
  local machine_cores cpu_svc cpu_pg cpu_wrk cpu_other
  machine_cores="$(awk -v b=$(( busy1 - busy0 )) -v t=$(( total1 - total0 )) -v n="$NPROC" \
    'BEGIN { printf "%.2f", (t > 0 ? b / t : 0) * n }')"
  cores() { awk -v t="$1" -v hz="$CLK_TCK" -v s="$seconds" 'BEGIN { printf "%.2f", t / hz / s }'; }
  cpu_svc="$(cores "$svc")"
  cpu_pg="$(cores $(( sp1 - sp0 )))"
  cpu_wrk="$(awk -v s="$seconds" '{ printf "%.2f", ($1 + $2) / s }' "$WORK/$key-wrk-cpu.txt")"
  cpu_other="$(awk -v m="$machine_cores" -v a="$cpu_svc" -v b="$cpu_pg" -v c="$cpu_wrk" \
    'BEGIN { o = m - a - b - c; printf "%.2f", (o < 0 ? 0 : o) }')"
  # CPU µs of the service per request, from its own ticks (not rounded cores)
  local us
  us="$(awk -v t="$svc" -v hz="$CLK_TCK" -v n="$(field requests)" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')"
  local commits=-
  [ -z "$db" ] || commits="$(awk -v c=$(( c1 - c0 )) -v n="$(field requests)" 'BEGIN { printf "%.3f", (n > 0 ? c / n : 0) }')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(field rps)" "$(field p99_ms)" \
    "$cpu_svc" "$cpu_pg" "$cpu_wrk" "$cpu_other" "$us" "$valid" "$commits" >>"$RESULTS"
  say "$(printf '%-18s %9s req/s  p99 %9s ms  %7s µs/req  cpu: service %s, postgres %s, wrk %s, other %s cores%s' \
    "$key" "$(field rps)" "$(field p99_ms)" "$us" "$cpu_svc" "$cpu_pg" "$cpu_wrk" "$cpu_other" \
    "$([ -z "$db" ] || echo ", $((c1 - c0)) commits / $(field requests) requests = $commits")")"
}
xact_commits() { # $1 database: its transactions committed so far, as the statistics have them
  psql "$PG/postgres" -Atqc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'"
}
rounds_of() { # $1 endpoint: ROUNDS rounds, each running every service in turn
  local round service name port warm tokens
  for round in $(seq 1 "$ROUNDS"); do
    for service in "${SERVICES[@]}"; do
      IFS='|' read -r name port _ <<<"$service"
      case "$1" in
        get) run "$name" get "$round" "$port" get_users.lua "$GET_CONNECTIONS" "${TOKEN[$name]}" ;;
        refresh)
          # The warm-up spends its sessions' tokens: the measured run follows sessions of its own
          # (a token spent earlier would be reuse, and end its session).
          warm="$(refresh_tokens_of "$port")"
          tokens="$(refresh_tokens_of "$port")"
          REFRESH_WARMUP="$warm" REFRESH_TOKENS="$tokens" \
            run "$name" refresh "$round" "$port" refresh.lua "$REFRESH_SESSIONS" "" "$REFRESH_SESSIONS" ;;
        login) run "$name" login "$round" "$port" login.lua "$LOGIN_CONNECTIONS" "" ;;
      esac
    done
  done
}
admin_rounds() { # SEED_USERS: the admin list's three pages on origin A, interleaved round by round
  local round page
  for round in $(seq 1 "$ROUNDS"); do
    for page in admin_first admin_after admin_offset; do
      BENCH_PATH="${ADMIN_PATH[$page]}" run origin "$page" "$round" "$ORIGIN_PORT" admin_users.lua 1 "$ADMIN_TOKEN" 1
    done
  done
}

say "GET /users: $GET_CONNECTIONS connections, $THREADS threads, $WARMUP warm-up + $DURATION, $ROUNDS round(s)"
rounds_of get
say "POST /auth/refresh: $REFRESH_SESSIONS sessions, a connection and a thread each, $WARMUP warm-up + $DURATION"
rounds_of refresh
# One hash's time, now, while the services sit idle: the bound of the login runs that follow.
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
rounds_of login
if [ "$SEED_USERS" != 0 ]; then
  say "GET /users/admin?limit=$PAGE at $USER_COUNT users: first page, last by after_id=$LAST_AFTER and by" \
    "offset=$LAST_OFFSET; 1 connection, 1 thread, $WARMUP warm-up + $DURATION"
  admin_rounds
fi

kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""
COMPILERS_DURING="$(sort -n "$WORK/compilers.txt" | tail -1)"

# --- the table ----------------------------------------------------------------------------------
# Medians over the rounds per service and endpoint; B/A the median of each round's own ratio.
MEDIANS="$WORK/medians.tsv"
python3 - "$RESULTS" "$MEDIANS" >"$WORK/table.txt" <<'EOF'
import statistics, sys
med = statistics.median
runs, order = {}, []
for line in open(sys.argv[1]):
    service, endpoint, rnd, rps, p99, svc, pg, wrk, other, us, valid, commits = line.rstrip("\n").split("\t")
    key = (service, endpoint)
    if key not in runs:
        order.append(key)
    runs.setdefault(key, {})[rnd] = dict(rps=float(rps), p99=float(p99), svc=float(svc), pg=float(pg),
                                         wrk=float(wrk), other=float(other), us=float(us), valid=valid,
                                         commits=None if commits == "-" else float(commits))
m = {}
with open(sys.argv[2], "w") as out:
    for key in order:
        rounds = runs[key].values()
        m[key] = {f: med(r[f] for r in rounds) for f in ("rps", "p99", "svc", "pg", "wrk", "other", "us")}
        bad = sorted({r["valid"] for r in rounds} - {"yes"})
        m[key]["valid"] = "yes" if not bad else bad[0]
        commits = [r["commits"] for r in rounds if r["commits"] is not None]
        m[key]["commits"] = med(commits) if commits else None
        print(key[0], key[1], *(m[key][f] for f in ("rps", "p99", "svc", "us")), m[key]["valid"],
              "-" if m[key]["commits"] is None else f"{m[key]['commits']:.3f}", sep="\t", file=out)
labels = {"get": "GET /users", "refresh": "POST /auth/refresh", "login": "POST /auth/login",
          "admin_first": "admin list, first", "admin_after": "last by after_id", "admin_offset": "last by offset"}
n_rounds = max(len(r) for r in runs.values())
print(f"{'endpoint':<19}{'service':<10}{'req/s':>10}{'p99 ms':>10}{'valid':>7}  {'cpu cores: svc/pg/wrk/other':<29}"
      f"{'svc µs/req':>11}  ratios")
for endpoint in ("get", "refresh", "login", "admin_first", "admin_after", "admin_offset"):
    for service in ("origin", "origin_b", "baseline"):
        key = (service, endpoint)
        if key not in m:
            continue
        r = m[key]
        extra = ""
        if service == "origin" and ("baseline", endpoint) in m:
            b = m[("baseline", endpoint)]
            extra = f"origin:baseline req/s x{r['rps'] / b['rps']:.2f}, p99 x{r['p99'] / b['p99']:.2f}"
        if service == "origin_b":
            a_runs, b_runs = runs[("origin", endpoint)], runs[key]
            paired = {f: [b_runs[k][f] / a_runs[k][f] for k in b_runs if k in a_runs and a_runs[k][f] > 0]
                      for f in ("rps", "p99", "us")}
            extra = (f"B/A req/s x{med(paired['rps']):.3f}, p99 x{med(paired['p99']):.3f}, "
                     f"µs/req x{med(paired['us']):.3f}")
            if n_rounds > 1:
                extra += f" (req/s by round: {' '.join(f'{x:.3f}' for x in paired['rps'])})"
        if endpoint.startswith("admin_"):
            # one connection: a request's time is 1 / requests/s; each round's ratio to its first page
            first = runs[("origin", "admin_first")]
            times = [first[k]["rps"] / runs[key][k]["rps"] for k in runs[key] if k in first and runs[key][k]["rps"] > 0]
            extra = f"{1000 / r['rps']:.2f} ms a request, x{med(times):.2f} the first page's"
            if endpoint == "admin_after":
                with open(sys.argv[2] + ".deep", "w") as deep:
                    print(f"{med(times):.2f}", file=deep)
        if r["commits"] is not None:
            extra = f"commits/refresh {r['commits']:.3f}" + (", " if extra else "") + extra
        cpu = f"{r['svc']:.2f}/{r['pg']:.2f}/{r['wrk']:.2f}/{r['other']:.2f}"
        print(f"{labels[endpoint]:<19}{service:<10}{r['rps']:>10.1f}{r['p99']:>10.2f}{'yes' if r['valid'] == 'yes' else 'NO':>7}  {cpu:<29}"
              f"{r['us']:>11.1f}  {extra}")
EOF
declare -A RPS CPU_SVC VALID COMMITS
while IFS=$'\t' read -r service endpoint rps _p99 svc _us valid commits; do
  RPS[${service}_$endpoint]="$rps"
  CPU_SVC[${service}_$endpoint]="$svc"
  VALID[${service}_$endpoint]="$valid"
  COMMITS[${service}_$endpoint]="$commits"
done <"$MEDIANS"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
BOUND="$(awk -v n="$NPROC" -v ms="$HASH_MS" 'BEGIN { printf "%.1f", n * 1000 / ms }')"
LOGIN_SHARE="$(awk -v r="${RPS[origin_login]}" -v b="$BOUND" 'BEGIN { printf "%.0f", 100 * r / b }')"
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "met" : "MISSED") }'; }
per_login() { awk -v c="${CPU_SVC[$1]}" -v r="${RPS[$1]}" 'BEGIN { printf "%.1f", (r > 0 ? 1000 * c / r : 0) }'; }

echo
echo "Machine: $NPROC cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
  "SHA extensions: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
echo "Tree: $TREE$([ -z "$ORIGIN_B_BIN" ] || echo "; origin B: $COMPARE_LABEL");" \
  "before the runs the machine was busy" \
  "$BACKGROUND cores without us, $COMPILERS rustc running; during the runs at most" \
  "${COMPILERS_DURING:-0} compiler processes at once"
echo "wrk -t$THREADS, $DURATION per run after a $WARMUP warm-up, $ROUNDS round(s) interleaved (medians);" \
  "GET /users -c$GET_CONNECTIONS, POST /auth/login -c$LOGIN_CONNECTIONS; PBKDF2 $ITERATIONS iterations" \
  "$([ "$SKIP_BASELINE" = 1 ] && echo "; no baseline" || echo "; baseline workers=$BASELINE_WORKERS")"
echo
cat "$WORK/table.txt"
echo
echo "One hash: $HASH_MS ms ($HASH_SOURCE); the cores allow $NPROC / hash = $BOUND logins/s"
if [ "$SKIP_BASELINE" != 1 ]; then
  echo "Same run: the origin spent $(per_login origin_login) ms of CPU per login (the baseline $(per_login baseline_login) ms)"
  GET_RATIO="$(ratio "${RPS[origin_get]}" "${RPS[baseline_get]}")"
  echo "Target GET /users >= 15x the baseline: x$GET_RATIO, $(verdict "$GET_RATIO" 15)"
else
  echo "Same run: the origin spent $(per_login origin_login) ms of CPU per login"
fi
echo "Target logins/s >= 85% of the cores' bound: ${RPS[origin_login]} / $BOUND = $LOGIN_SHARE%," \
  "$(verdict "$LOGIN_SHARE" 85)"
echo "Commits per refresh (the database's xact_commit across the measured run / wrk's requests, median):" \
  "origin ${COMMITS[origin_refresh]}$([ -z "$ORIGIN_B_BIN" ] || echo ", origin B ${COMMITS[origin_b_refresh]}")"
if [ "$SEED_USERS" != 0 ]; then
  DEEP="$(cat "$MEDIANS.deep")" # the median of the rounds' own ratios, as in its row
  echo "Users: $USER_COUNT (SEED_USERS=$SEED_USERS). Target last page by after_id within 2x the first page's time:" \
    "x$DEEP, $(awk -v r="$DEEP" 'BEGIN { print (r <= 2 ? "met" : "MISSED") }')"
fi
for key in "${!VALID[@]}"; do
  [ "${VALID[$key]}" = yes ] || echo "INVALID run $key: ${VALID[$key]}"
done
