#!/usr/bin/env python3
"""The client of bench/forgot.sh: times POST /auth/forgot-password for known and unknown addresses,
rounds interleaved, and prints the comparison.

    forgot-client.py PORT KNOWN_FILE UNKNOWN_FILE SAMPLES_TSV

KNOWN_FILE and UNKNOWN_FILE hold one address a line: seeded users' and made-up ones. Every request
takes the next unused address of its kind, so no address is asked for twice (each is the first of
its per-address counter, and a known one's user has no earlier reset to void). First WARMUP
requests of each kind (not recorded), then ROUNDS rounds of PER_ROUND known and PER_ROUND unknown
requests, each round's 2 x PER_ROUND in a shuffled order (random.Random(SEED + round)): both
kinds meet the same moments of the run, and the same neighbours (a known request's mail is sent by
the origin's delivery worker after its answer, during the next requests, whichever their kind).
One request at a time on one keep-alive connection, GAP_MS between an answer and the next request.
A request's time is from the first byte written to the last byte of the answer read
(time.perf_counter_ns). Every answer must be 202 with the body `null`, or it stops with an error.

Environment: ROUNDS [5], PER_ROUND [40], WARMUP [20], GAP_MS [0], SEED [1], SHUFFLES [2000].

Writes one line per recorded request to SAMPLES_TSV (round, position, kind, previous kind, µs) and
prints the table: per kind the median, p90, mean and min; the ratio of the medians, known / unknown;
per round each kind's median and their ratio, and the spread of the rounds' medians; and the run's
noise for the ratio: the kinds' labels shuffled within each round SHUFFLES times, the middle 95%
of the ratios those give (what chance alone gives with these samples, the run's drift included;
a ratio outside it, p < 0.05, is a difference the run can see). Last, one line:

    RESULT known_ms=... unknown_ms=... ratio=... noise=<lo>-<hi> p=... within_noise=yes|no ...
"""
import http.client
import json
import math
import os
import random
import socket
import statistics
import sys
import time

port, known_file, unknown_file, samples_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ROUNDS = int(os.environ.get("ROUNDS", "5"))
PER_ROUND = int(os.environ.get("PER_ROUND", "40"))
WARMUP = int(os.environ.get("WARMUP", "20"))
GAP = float(os.environ.get("GAP_MS", "0")) / 1000
SEED = int(os.environ.get("SEED", "1"))
SHUFFLES = int(os.environ.get("SHUFFLES", "2000"))

pools = {}
for kind, path in (("known", known_file), ("unknown", unknown_file)):
    with open(path) as f:
        pools[kind] = [line.strip() for line in f if line.strip()]
    need = WARMUP + ROUNDS * PER_ROUND
    if len(pools[kind]) < need:
        sys.exit(f"forgot-client.py: {len(pools[kind])} {kind} addresses, {need} needed")
    if len(set(pools[kind])) != len(pools[kind]):
        sys.exit(f"forgot-client.py: the {kind} addresses are not distinct")
if set(pools["known"]) & set(pools["unknown"]):
    sys.exit("forgot-client.py: an address is both known and unknown")
next_of = {"known": 0, "unknown": 0}

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
conn = None
connections = 0


def connect():
    global conn, connections
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connections += 1


def ask(kind):
    """One request for the next address of `kind`: its time in ns."""
    address = pools[kind][next_of[kind]]
    next_of[kind] += 1
    body = json.dumps({"email": address}).encode()
    if conn is None or conn.sock is None:
        connect()
    started = time.perf_counter_ns()
    conn.request("POST", "/auth/forgot-password", body, HEADERS)
    answer = conn.getresponse()
    data = answer.read()
    elapsed = time.perf_counter_ns() - started
    if answer.status != 202 or data.strip() != b"null":
        sys.exit(f"forgot-client.py: {kind} {address}: answered {answer.status} {data[:200]!r}")
    if answer.will_close:
        conn.close()
    if GAP:
        time.sleep(GAP)
    return elapsed


warm = ["known", "unknown"] * WARMUP
random.Random(SEED - 1).shuffle(warm)
for kind in warm:
    ask(kind)

samples = []  # (round, position, kind, previous kind, µs)
previous = warm[-1] if warm else "-"
for rnd in range(1, ROUNDS + 1):
    order = ["known", "unknown"] * PER_ROUND
    random.Random(SEED + rnd).shuffle(order)
    for position, kind in enumerate(order):
        samples.append((rnd, position, kind, previous, ask(kind) / 1000))
        previous = kind
if conn is not None:
    conn.close()

with open(samples_path, "w") as out:
    print("round\tposition\tkind\tafter\tus", file=out)
    for s in samples:
        print(*s[:4], f"{s[4]:.1f}", sep="\t", file=out)

med = statistics.median


def pct(values, q):
    """The q-th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))]


def of(kind, rnd=None, after=None):
    return [s[4] for s in samples if s[2] == kind and (rnd is None or s[0] == rnd) and (after is None or s[3] == after)]


ms = lambda us: us / 1000  # noqa: E731
known, unknown = of("known"), of("unknown")
m_known, m_unknown = med(known), med(unknown)
ratio = m_known / m_unknown

print(f"{'kind':<9}{'requests':>9}{'median ms':>11}{'p90 ms':>9}{'mean ms':>9}{'min ms':>8}")
for kind, values in (("known", known), ("unknown", unknown)):
    print(f"{kind:<9}{len(values):>9}{ms(med(values)):>11.3f}{ms(pct(values, 90)):>9.3f}"
          f"{ms(statistics.fmean(values)):>9.3f}{ms(min(values)):>8.3f}")
print(f"known / unknown, medians: x{ratio:.3f} ({ms(m_known - m_unknown) * 1000:+.0f} µs)")
print()

print(f"{'round':<7}{'known median ms':>16}{'unknown median ms':>19}{'known/unknown':>15}")
round_known, round_unknown, round_ratio = [], [], []
for rnd in range(1, ROUNDS + 1):
    k, u = med(of("known", rnd)), med(of("unknown", rnd))
    round_known.append(k)
    round_unknown.append(u)
    round_ratio.append(k / u)
    print(f"{rnd:<7}{ms(k):>16.3f}{ms(u):>19.3f}{k / u:>15.3f}")


def spread(values, centre):
    return (max(values) - min(values)) / centre * 100


noise_known = spread(round_known, m_known)
noise_unknown = spread(round_unknown, m_unknown)
print(f"spread of the rounds' medians (max - min, % of the run's median): known {noise_known:.1f}%, "
      f"unknown {noise_unknown:.1f}%; rounds' ratios {min(round_ratio):.3f}-{max(round_ratio):.3f} "
      f"({sum(r > 1 for r in round_ratio)} of {ROUNDS} above 1)")

# The run's noise for this comparison: the ratio of medians when the labels mean nothing. The
# kinds are shuffled within each round (each round keeps PER_ROUND of each) SHUFFLES times; the
# middle 95% of those ratios is what chance alone gives with these very samples, drift included.
by_round = [[s[4] for s in samples if s[0] == rnd] for rnd in range(1, ROUNDS + 1)]
rng = random.Random(SEED * 7919)
null = []
for _ in range(SHUFFLES):
    a, b = [], []
    for values in by_round:
        shuffled = rng.sample(values, len(values))
        a += shuffled[:PER_ROUND]
        b += shuffled[PER_ROUND:]
    null.append(med(a) / med(b))
null.sort()
lo, hi = null[int(0.025 * SHUFFLES)], null[int(0.975 * SHUFFLES) - 1]
extreme = sum(abs(math.log(r)) >= abs(math.log(ratio)) for r in null)
p_value = (extreme + 1) / (SHUFFLES + 1)
within = lo <= ratio <= hi
print(f"noise: known/unknown with the kinds shuffled within each round ({SHUFFLES} shuffles), middle 95% "
      f"x{lo:.3f}-x{hi:.3f}; the run's x{ratio:.3f} is {'inside' if within else 'OUTSIDE'} (p = {p_value:.4f})")
after = {(k, a): of(k, after=a) for k in ("known", "unknown") for a in ("known", "unknown")}
print("median ms by the kind of the request before (the delivery worker sends a known one's mail "
      "after its answer): " + ", ".join(f"{k} after {a} {ms(med(v)):.3f} ({len(v)})" for (k, a), v in after.items() if v))
print(f"connections opened: {connections}")
print(f"RESULT known_ms={ms(m_known):.3f} unknown_ms={ms(m_unknown):.3f} known_p90_ms={ms(pct(known, 90)):.3f} "
      f"unknown_p90_ms={ms(pct(unknown, 90)):.3f} ratio={ratio:.3f} noise={lo:.3f}-{hi:.3f} p={p_value:.4f} "
      f"round_ratios={','.join(f'{r:.3f}' for r in round_ratio)} within_noise={'yes' if within else 'no'} "
      f"connections={connections}")
