#!/usr/bin/env bash
# POST /auth/forgot-password for addresses an account has ("known") against addresses nobody has
# ("unknown"), in the same run, with mail on: does the answer's time tell which is which? The
# known request's one statement queues a mail in mail_outbox, the unknown one's finds nothing
# (origin/src/db/outbox.rs request_reset); both answer 202 `null`.
#
#   bench/forgot.sh                 # about 20 s after the build: 200 + 200 requests, a table
#   bench/forgot.sh N=1000 ROUNDS=10   # more requests (about 1 minute); SEED_USERS grows to fit
#   bench/forgot.sh ORIGIN=7a437c1     # a commit, built once (the working tree may not compile)
#
# It starts MailDev (npm `maildev`, after `npm ci`) as the SMTP sink and the origin with mail on
# (SMTP_URL to MailDev, PUBLIC_URL, the mail request limits raised so nothing is held back) on a
# fresh database of the local PostgreSQL, signs a user up, inserts SEED_USERS users with SQL
# (addresses known_NNNNNN@mailbox.org, the bench user's stored hash), VACUUM ANALYZE, then runs
# bench/forgot-client.py: WARMUP requests of each kind not recorded, then ROUNDS rounds of N/ROUNDS
# known and N/ROUNDS unknown requests (unknown: stray_NNNNNN@mailbox.org, the same length), each
# round's requests in a shuffled order, one at a time on one keep-alive connection, every address
# asked for once. The origin runs on CPU 1, the client and MailDev on CPU 0 (taskset; PostgreSQL,
# not ours, where the scheduler puts it). After the requests it waits for the outbox to empty and
# checks that every known request queued and sent a mail (audit log, MailDev's API) and no
# unknown one did, and that nothing was throttled. It prints each kind's median and p90, the ratio
# of the medians (known / unknown), each round's medians and ratio, the spread (max - min) of the
# rounds' medians, and the run's noise for the ratio: the kinds' labels shuffled within each round
# 2,000 times, the middle 95% of the ratios of medians that gives. "Within the noise": the run's
# ratio inside that range (p >= 0.05). Its header gives the machine's load: the load average
# before and after, the cores busy before the run and during it, compilers seen. Then it stops
# what it started and drops its database.
#
# Environment (defaults in brackets):
#   N [200]  ROUNDS [5]  WARMUP [20]   recorded requests per kind, rounds (N/ROUNDS of each kind
#                   a round), unrecorded requests per kind first
#   GAP_MS [0]      pause after each answer (0: the next request at once, while the delivery
#                   worker may still be sending the previous known request's mail)
#   SEED [1]        the rounds' shuffles
#   SEED_USERS [1000, or WARMUP + N if more]   users inserted; the known addresses are theirs
#   PBKDF2_ITERATIONS [600000]  (one hash: the sign-up's)
#   PG [postgres://postgres@127.0.0.1:5432]   server for the database bench_forgot_<ORIGIN_PORT>
#   ORIGIN_PORT [18200]  SMTP_PORT [ORIGIN_PORT+25]  MAILDEV_WEB_PORT [ORIGIN_PORT+26]
#   PIN [1 with taskset and 2 CPUs or more]   origin on CPU 1, client and MailDev on CPU 0
#   SKIP_BUILD=1    use target/release/origin as it is (CARGO_TARGET_DIR is honoured)
#   ORIGIN=<git ref or origin binary>   measure that instead of this tree (ORIGIN=HEAD: the last
#                   commit, whatever the working tree holds). A ref is built once per commit as
#                   bench/load.sh builds COMPARE's, in the same cache, target/bench-compare/<commit>/
#   KEEP_LOGS=1     keep the logs and the per-request samples (the path is printed)
set -euo pipefail
for arg in "$@"; do # NAME=value arguments set what the environment would
  [[ "$arg" =~ ^[A-Z][A-Z0-9_]*= ]] || { echo "forgot.sh: unknown argument $arg (settings are NAME=value)" >&2; exit 2; }
  export "${arg?}"
done
export PGOPTIONS="--client-min-messages=warning"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
N="${N:-200}"
ROUNDS="${ROUNDS:-5}"
WARMUP="${WARMUP:-20}"
GAP_MS="${GAP_MS:-0}"
SEED="${SEED:-1}"
ITERATIONS="${PBKDF2_ITERATIONS:-600000}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
ORIGIN_PORT="${ORIGIN_PORT:-18200}"
SMTP_PORT="${SMTP_PORT:-$((ORIGIN_PORT + 25))}"
MAILDEV_WEB_PORT="${MAILDEV_WEB_PORT:-$((ORIGIN_PORT + 26))}"
DB="bench_forgot_$ORIGIN_PORT" # named by port, so two runs on other ports never share it
PIN="${PIN:-$([ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && echo 1 || echo 0)}"
USERNAME=bench_user
PASSWORD="velvet-otter-signs-14"
EMAIL="bench.user@mailbox.org"

say() { printf 'forgot.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
for knob in N ROUNDS WARMUP GAP_MS SEED; do
  [[ "${!knob}" =~ ^[0-9]+$ ]] || die "$knob=${!knob} is not a whole number"
done
[ "$ROUNDS" -ge 1 ] && [ $((N % ROUNDS)) = 0 ] && [ "$N" -ge "$ROUNDS" ] \
  || die "N=$N must be a multiple of ROUNDS=$ROUNDS"
PER_ROUND=$((N / ROUNDS))
NEEDED=$((WARMUP + N))
SEED_USERS="${SEED_USERS:-$((NEEDED > 1000 ? NEEDED : 1000))}"
[[ "$SEED_USERS" =~ ^[0-9]+$ ]] && [ "$SEED_USERS" -ge "$NEEDED" ] \
  || die "SEED_USERS=$SEED_USERS: WARMUP + N = $NEEDED known addresses are needed"
[ "$SEED_USERS" -le 999999 ] || die "SEED_USERS=$SEED_USERS: at most 999999 (six digits an address)"

for tool in curl jq psql cargo python3 awk; do
  command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
# node_modules/.bin/maildev links to the package's CLI script; run with the Node npm ci installed.
MAILDEV_CLI="$(readlink -f "$ROOT/node_modules/.bin/maildev" 2>/dev/null || true)"
[ -n "$MAILDEV_CLI" ] && [ -e "$MAILDEV_CLI" ] || die "MailDev is not installed: run npm ci in $ROOT"
NODE="$ROOT/node_modules/.bin/node"
[ -x "$NODE" ] || NODE="$(command -v node || true)"
[ -n "$NODE" ] || die "no node to run MailDev with (npm ci installs Node 22)"
ON_SERVER_CPU=()
ON_CLIENT_CPU=()
[ "$PIN" != 1 ] || { ON_SERVER_CPU=(taskset -c 1); ON_CLIENT_CPU=(taskset -c 0); }
for port in "$ORIGIN_PORT" "$SMTP_PORT" "$MAILDEV_WEB_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "something already listens on 127.0.0.1:$port; stop it or set ORIGIN_PORT (SMTP_PORT, MAILDEV_WEB_PORT)"
  fi
done
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"

WORK="$(mktemp -d /tmp/bench-forgot.XXXXXX)"
ORIGIN_PGID=""
MAILDEV_PGID=""
SAMPLER=""

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
  trap - EXIT INT TERM
  [ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
  stop_group "$ORIGIN_PGID" 10
  stop_group "$MAILDEV_PGID" 5
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  if [ "${KEEP_LOGS:-0}" = 1 ]; then say "logs and samples kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "${ORIGIN:-}" ]; then
  ORIGIN_BIN="$TARGET_DIR/release/origin"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building the origin (release)"
    (cd "$ROOT" && cargo build --release -q -p origin)
  fi
  [ -x "$ORIGIN_BIN" ] || die "$ORIGIN_BIN is missing (unset SKIP_BUILD)"
  TREE="$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- origin shared/src \
    shared/Cargo.toml migrations Cargo.lock || echo ' + uncommitted changes to the code measured')"
elif [ -f "$ORIGIN" ] && [ -x "$ORIGIN" ]; then
  ORIGIN_BIN="$(cd "$(dirname "$ORIGIN")" && pwd)/$(basename "$ORIGIN")"
  TREE="$ORIGIN"
else
  # A commit, built once by bench/lib.sh's origin_at_commit, in the cache load.sh's COMPARE uses.
  commit="$(git -C "$ROOT" rev-parse --verify -q "$ORIGIN^{commit}")" \
    || die "ORIGIN=$ORIGIN is neither an executable nor a git commit"
  TREE="$ORIGIN = $(git -C "$ROOT" rev-parse --short "$commit")"
  ORIGIN_BIN="$(origin_at_commit "$commit" "$TREE" "$WORK/build.txt")" || exit 1
fi

# Was the machine otherwise idle? Two seconds of /proc/stat before anything of ours runs.
machine_ticks() { # prints "busy total" from /proc/stat
  awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6; exit }' /proc/stat
}
NPROC="$(nproc)"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
read -r idle_b0 idle_t0 <<<"$(machine_ticks)"; sleep 2; read -r idle_b1 idle_t1 <<<"$(machine_ticks)"
BACKGROUND="$(awk -v b=$(( idle_b1 - idle_b0 )) -v t=$(( idle_t1 - idle_t0 )) -v n="$NPROC" \
  'BEGIN { printf "%.2f", (t > 0 ? b / t : 0) * n }')"
COMPILERS="$(pgrep -c -x rustc || true)"

# --- MailDev, the database, the origin -----------------------------------------------------------
# MailDev gets a directory of its own as TMPDIR and working directory (its mails, and no stray
# .maildevrc read from a parent), as xtask's does.
mkdir -p "$WORK/maildev"
say "starting MailDev: SMTP on 127.0.0.1:$SMTP_PORT, API on 127.0.0.1:$MAILDEV_WEB_PORT"
(
  cd "$WORK/maildev"
  TMPDIR="$WORK/maildev" exec setsid "${ON_CLIENT_CPU[@]}" "$NODE" "$MAILDEV_CLI" --ip 127.0.0.1 --web-ip 127.0.0.1 \
    --smtp "$SMTP_PORT" --web "$MAILDEV_WEB_PORT"
) >"$WORK/maildev.log" 2>&1 &
MAILDEV_PGID=$!
MAILDEV_API="http://127.0.0.1:$MAILDEV_WEB_PORT/api"

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$WORK/origin-cwd" # no config/.env here: only the variables below apply
say "starting the origin ($ORIGIN_BIN) on 127.0.0.1:$ORIGIN_PORT$([ "$PIN" != 1 ] || echo ', CPU 1')"
(
  cd "$WORK/origin-cwd"
  DATABASE_URL="$PG/$DB" JWT_SECRET="$SECRET" ORIGIN_ADDR="127.0.0.1:$ORIGIN_PORT" METRICS_ADDR='' \
    PBKDF2_ITERATIONS="$ITERATIONS" RUST_LOG="${ORIGIN_RUST_LOG:-warn}" \
    SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" PUBLIC_URL="http://127.0.0.1:$ORIGIN_PORT" \
    MAIL_REQUEST_MAX_PER_IP=1000000 MAIL_REQUEST_MAX_PER_EMAIL=1000000 \
    exec setsid "${ON_SERVER_CPU[@]}" "$ORIGIN_BIN" serve
) >"$WORK/origin.log" 2>&1 &
ORIGIN_PGID=$!

wait_ready() { # $1 name, $2 URL, $3 log, $4 pgid
  for _ in $(seq 1 240); do
    curl -fs -o /dev/null --max-time 2 "$2" && return 0
    kill -0 "$4" 2>/dev/null || { cat "$3" >&2; die "$1 exited at its start"; }
    sleep 0.5
  done
  cat "$3" >&2
  die "$1 did not answer at $2 within 120 s"
}
wait_ready MailDev "$MAILDEV_API/healthz" "$WORK/maildev.log" "$MAILDEV_PGID"
wait_ready origin "http://127.0.0.1:$ORIGIN_PORT/" "$WORK/origin.log" "$ORIGIN_PGID"

# --- the users -----------------------------------------------------------------------------------
SIGNUP="$(jq -cn --arg u "$USERNAME" --arg p "$PASSWORD" --arg e "$EMAIL" \
  '{username: $u, password: $p, email: $e, first_name: "Bench", last_name: "User"}')"
code="$(curl -s -o "$WORK/signup.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "$SIGNUP" "http://127.0.0.1:$ORIGIN_PORT/users")"
[ "$code" = 201 ] || die "sign-up answered $code: $(cat "$WORK/signup.json")"
# One PBKDF2 hash, the bench user's own, shared by every row (the password is never checked here).
sql() { psql "$PG/$DB" -X -v ON_ERROR_STOP=1 -Atq "$@"; }
started=$SECONDS
sql -c "INSERT INTO users (username, password, email, first_name, last_name)
    SELECT 'seed_' || g, u.password, 'known_' || lpad(g::text, 6, '0') || '@mailbox.org', 'Seed', 'User'
    FROM (SELECT password FROM users WHERE username = '$USERNAME') u, generate_series(1, $SEED_USERS) g" \
  -c "VACUUM ANALYZE users" >/dev/null || die "seeding $DB failed"
say "$SEED_USERS users seeded, vacuumed and analysed in $((SECONDS - started)) s"
# The known addresses: WARMUP + N distinct seeded users, spread over the table (every k-th).
step=$((SEED_USERS / NEEDED))
sql -c "SELECT email FROM users WHERE username LIKE 'seed\\_%' ORDER BY id" \
  | awk -v s="$step" -v n="$NEEDED" '(NR - 1) % s == 0 && c < n { print; c++ }' >"$WORK/known.txt"
awk -v n="$NEEDED" 'BEGIN { for (i = 1; i <= n; i++) printf "stray_%06d@mailbox.org\n", i }' >"$WORK/unknown.txt"
[ "$(sql -c "SELECT count(*) FROM users WHERE lower(email) LIKE 'stray\\_%'")" = 0 ] || die "an unknown address is known"

outbox_empty() { # waits up to $1 s for mail_outbox to empty (every queued mail sent)
  for _ in $(seq 1 $(($1 * 10))); do
    [ "$(sql -c 'SELECT count(*) FROM mail_outbox')" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
outbox_empty 30 || die "the sign-up's mail was not sent within 30 s: $(tail -5 "$WORK/origin.log")"
MAILS_BEFORE="$(curl -fsS "$MAILDEV_API/email" | jq length)"

# --- the requests --------------------------------------------------------------------------------
# Compilers running meanwhile (other work on this machine) would distort the figures: count them.
# shellcheck disable=SC2009
( while :; do ps -eo comm | grep -cE '^(rustc|clippy-driver|cc1|cc1plus|ld)$' || true; sleep 1; done ) \
  >"$WORK/compilers.txt" 2>/dev/null &
SAMPLER=$!
say "POST /auth/forgot-password: $WARMUP + $WARMUP warm-up, then $ROUNDS rounds of $PER_ROUND known +" \
  "$PER_ROUND unknown, shuffled, one keep-alive connection$([ "$PIN" != 1 ] || echo ', client on CPU 0')"
read -r run_b0 run_t0 <<<"$(machine_ticks)"
started_ns="$(date +%s%N)"
ROUNDS="$ROUNDS" PER_ROUND="$PER_ROUND" WARMUP="$WARMUP" GAP_MS="$GAP_MS" SEED="$SEED" \
  "${ON_CLIENT_CPU[@]}" python3 "$BENCH/forgot-client.py" "$ORIGIN_PORT" "$WORK/known.txt" "$WORK/unknown.txt" \
  "$WORK/samples.tsv" >"$WORK/table.txt" || die "the client failed"
RUN_SECONDS="$(awk -v a="$started_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
read -r run_b1 run_t1 <<<"$(machine_ticks)"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""
COMPILERS_DURING="$(sort -n "$WORK/compilers.txt" | tail -1)"
BUSY_DURING="$(awk -v b=$(( run_b1 - run_b0 )) -v t=$(( run_t1 - run_t0 )) -v n="$NPROC" \
  'BEGIN { printf "%.2f", (t > 0 ? b / t : 0) * n }')"

# --- did each request do what it should? ---------------------------------------------------------
outbox_empty 60 || die "mail_outbox still holds $(sql -c 'SELECT count(*) FROM mail_outbox') mails after 60 s"
TOTAL=$((WARMUP + N))
read -r QUEUED NOBODY THROTTLED <<<"$(sql -F' ' -c "SELECT
    count(*) FILTER (WHERE event = 'password_reset_requested' AND detail = 'mail queued'),
    count(*) FILTER (WHERE event = 'password_reset_requested' AND detail = 'no account to mail'),
    count(*) FILTER (WHERE event = 'mail_request_throttled')
  FROM audit_events")"
MAILS=$(( $(curl -fsS "$MAILDEV_API/email" | jq length) - MAILS_BEFORE ))
[ "$THROTTLED" = 0 ] || die "$THROTTLED requests were throttled: the limits were not raised"
[ "$QUEUED" = "$TOTAL" ] && [ "$NOBODY" = "$TOTAL" ] \
  || die "audit log: $QUEUED mails queued and $NOBODY addresses without an account, $TOTAL each expected"
[ "$MAILS" = "$TOTAL" ] || die "MailDev received $MAILS mails, $TOTAL expected (one per known request)"
UNDELIVERABLE="$(sql -c "SELECT count(*) FROM audit_events WHERE event = 'mail_undeliverable'")"
[ "$UNDELIVERABLE" = 0 ] || die "$UNDELIVERABLE mails undeliverable"

# --- the table -----------------------------------------------------------------------------------
echo
echo "Machine: $NPROC cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo);" \
  "PostgreSQL $(sql -c 'SHOW server_version'); $(python3 --version)"
echo "Tree: $TREE; load average before $LOAD_BEFORE, after $LOAD_AFTER; before the run the machine was busy" \
  "$BACKGROUND cores without us, $COMPILERS rustc running; during it $BUSY_DURING cores busy in all, at most" \
  "${COMPILERS_DURING:-0} compiler processes at once"
echo "POST /auth/forgot-password, mail on (MailDev), $SEED_USERS seeded users: $WARMUP + $WARMUP warm-up," \
  "$ROUNDS rounds x ($PER_ROUND known + $PER_ROUND unknown) shuffled (SEED=$SEED), every address once," \
  "one keep-alive connection, GAP_MS=$GAP_MS$([ "$PIN" = 1 ] && echo ', origin on CPU 1, client and MailDev on CPU 0' || echo ', not pinned');" \
  "$RUN_SECONDS s"
echo "Checked: $QUEUED known requests queued a mail and MailDev received $MAILS; $NOBODY unknown ones" \
  "found no account; none throttled"
echo
grep -v '^RESULT ' "$WORK/table.txt"
RESULT="$(grep '^RESULT ' "$WORK/table.txt")"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$RESULT"; }
echo
echo "Target: the medians within the run's noise: known / unknown x$(field ratio), the noise (labels shuffled)" \
  "x$(field noise | sed 's/-/-x/'), p = $(field p): $([ "$(field within_noise)" = yes ] && echo met || echo MISSED)"
[ "$(field connections)" = 1 ] || echo "NOTE: the client opened $(field connections) connections (the server closed one)"
[ "${COMPILERS_DURING:-0}" = 0 ] || echo "NOTE: compilers ran during the requests: run again on a quiet machine"
