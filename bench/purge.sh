#!/usr/bin/env bash
# The audit purge at scale: what one statement of `origin::db::audit::purge` costs on a table of
# millions of events, against the single DELETE it replaced (before commit 6858eab).
#
#   bench/purge.sh              # about 1 minute after the build: 5,000,000 rows, 12 EXPLAIN ANALYZE
#
# It makes a scratch database (bench_purge) on the local PostgreSQL, migrates it with `origin
# migrate`, inserts ROWS audit events (generate_series, `at` spread evenly over the last 300 days,
# ids in time order), VACUUM ANALYZE, then runs EXPLAIN (ANALYZE, BUFFERS), RUNS times each, every
# one in a transaction rolled back (the table stays as it was), with two cutoffs: older than every
# event (deletes nothing: the purge's usual run) and the 5,001st oldest event's second (deletes one
# batch, 5,000 rows):
#   batched   the purge's statement, as the origin prepares it (db::purge_batches, V5's index)
#   old       DELETE FROM audit_events WHERE at < cutoff, after DROP INDEX audit_events_at (in
#             the same rolled-back transaction: the table as it was before V5)
# It prints each case's last plan, the execution times and their median, and drops the database.
#
# Environment (defaults in brackets):
#   ROWS [5000000]  RUNS [3]
#   PG [postgres://postgres@127.0.0.1:5432]   server for the scratch database bench_purge
#   SKIP_BUILD=1    use target/release/origin as it is (CARGO_TARGET_DIR is honoured)
set -euo pipefail
for arg in "$@"; do # NAME=value arguments set what the environment would
  [[ "$arg" =~ ^[A-Z][A-Z0-9_]*= ]] || { echo "purge.sh: unknown argument $arg (settings are NAME=value)" >&2; exit 2; }
  export "${arg?}"
done
export PGOPTIONS="--client-min-messages=warning"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROWS="${ROWS:-5000000}"
RUNS="${RUNS:-3}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
DB=bench_purge
BATCH=5000 # origin/src/db/mod.rs PURGE_BATCH
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ORIGIN_BIN="$TARGET_DIR/release/origin"

say() { printf 'purge.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
if ! [[ "$ROWS" =~ ^[0-9]+$ ]] || [ "$ROWS" -le "$BATCH" ]; then die "ROWS=$ROWS: more than $BATCH, please"; fi
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "PostgreSQL is not reachable at $PG"

WORK="$(mktemp -d /tmp/bench-purge.XXXXXX)"
cleanup() {
  trap - EXIT INT TERM
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building the origin (release)"
  (cd "$ROOT" && cargo build --release -q -p origin)
fi
[ -x "$ORIGIN_BIN" ] || die "$ORIGIN_BIN is missing (unset SKIP_BUILD)"

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
(cd "$WORK" && DATABASE_URL="$PG/$DB" JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  "$ORIGIN_BIN" migrate) >"$WORK/migrate.txt" 2>&1 || die "origin migrate failed: $(cat "$WORK/migrate.txt")"
sql() { psql "$PG/$DB" -X -v ON_ERROR_STOP=1 -Atq "$@"; }

say "inserting $ROWS audit events over the last 300 days"
started=$SECONDS
sql -c "INSERT INTO audit_events (at, event, user_id, client_ip, detail)
  SELECT (now() AT TIME ZONE 'utc') - interval '300 days' * (1 - g::float8 / $ROWS), 'login_succeeded',
         g % 100000 + 1, '10.0.' || (g % 250) || '.' || (g % 200), ''
  FROM generate_series(1, $ROWS) g" -c "VACUUM ANALYZE audit_events"
say "inserted and vacuumed in $((SECONDS - started)) s"

# Cutoffs in whole seconds since the epoch, as the origin passes them ($1::bigint).
NOTHING="$(sql -c "SELECT floor(extract(epoch FROM min(at))) - 86400 FROM audit_events")"
ONE_BATCH="$(sql -c "SELECT floor(extract(epoch FROM at)) FROM audit_events ORDER BY at OFFSET $BATCH LIMIT 1")"
CONDITION="at < to_timestamp(\$1::bigint) AT TIME ZONE 'utc'"
BATCHED="DELETE FROM audit_events WHERE ctid = ANY (ARRAY (
    SELECT ctid FROM audit_events WHERE $CONDITION LIMIT $BATCH FOR UPDATE SKIP LOCKED
 ))"
OLD="DELETE FROM audit_events WHERE $CONDITION"
SIZE="$(sql -c "SELECT pg_size_pretty(pg_table_size('audit_events')) || ' table, '
  || pg_size_pretty(pg_indexes_size('audit_events')) || ' indexes'")"

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
measure() { # $1 label, $2 cutoff name, $3 cutoff, $4 statement, [$5 SQL run first in the transaction]
  local deleted times=() run out
  deleted="$(sql -c "SELECT count(*) FROM audit_events WHERE at < to_timestamp($3::bigint) AT TIME ZONE 'utc'")"
  for run in $(seq 1 "$RUNS"); do
    out="$WORK/$1-$2-$run.txt"
    sql -c "BEGIN" -c "${5:-SELECT}" -c "PREPARE purge (bigint) AS $4" \
      -c "EXPLAIN (ANALYZE, BUFFERS) EXECUTE purge ($3)" -c "ROLLBACK" >"$out"
    times+=("$(sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p' "$out")")
  done
  echo
  echo "== $1, cutoff $2 ($deleted rows older), run $RUNS of $RUNS:"
  grep -v '^$' "$out"
  local median
  median="$(printf '%s\n' "${times[@]}" | sort -g | awk '{ t[NR] = $1 }
    END { print (NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2) }')"
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$deleted" "${times[*]}" "$median" >>"$RESULTS"
}

echo "audit_events: $ROWS rows ($SIZE), PostgreSQL $(sql -c 'SHOW server_version'), tree" \
  "$(git -C "$ROOT" rev-parse --short HEAD)"
echo "batched: $BATCHED"
echo "old:     $OLD   (after DROP INDEX audit_events_at)"
measure batched nothing "$NOTHING" "$BATCHED"
measure batched one-batch "$ONE_BATCH" "$BATCHED"
measure old nothing "$NOTHING" "$OLD" "DROP INDEX audit_events_at"
measure old one-batch "$ONE_BATCH" "$OLD" "DROP INDEX audit_events_at"

echo
awk -F'\t' '
  { label[NR] = $1; cut[NR] = $2; del[NR] = $3; runs[NR] = $4; med[NR] = $5; key[$1 " " $2] = $5 }
  END {
    printf "%-8s %-10s %8s  %-30s %10s  %s\n", "purge", "cutoff", "deleted", "execution ms (runs)", "median ms", "old/batched"
    for (i = 1; i <= NR; i++) {
      r = (label[i] == "old" ? sprintf("x%.0f", med[i] / key["batched " cut[i]]) : "")
      printf "%-8s %-10s %8d  %-30s %10.3f  %s\n", label[i], cut[i], del[i], runs[i], med[i], r
    }
  }' "$RESULTS"
