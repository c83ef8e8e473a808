#!/usr/bin/env python3
"""Instructions per request of a server running under `valgrind --tool=callgrind`: bench/load.sh
and bench/edge/run.sh (CALLGRIND=1) call it once per row.

    callgrind-count.py PID DUMP_DIR URL STATUS [TOKEN]

PID is the callgrind process (started with --callgrind-out-file=DUMP_DIR/<name>.%p). It sends
WARMUP requests, then WINDOWS times: `callgrind_control -z PID` (zero the counters), REQUESTS
requests, `callgrind_control -d PID` (dump), and reads the dump's "summary:" line (instructions
executed by every thread of the process since the zero). One keep-alive connection, one request
at a time, so the server's event loop does the same work for every request; every answer must have
STATUS, or it stops with an error. Prints one line:

    RESULT median=<instructions/request> windows=<w1>,<w2>,... spread_pct=<(max-min)/median> dump=<file>

where dump is the median window's dump (for callgrind_annotate). Environment: CG_WARMUP [200],
CG_WINDOWS [3], CG_REQUESTS [400].
"""
import glob
import http.client
import os
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit

pid, dump_dir, url, status = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
token = sys.argv[5] if len(sys.argv) > 5 else ""
warmup = int(os.environ.get("CG_WARMUP", "200"))
windows = int(os.environ.get("CG_WINDOWS", "3"))
requests = int(os.environ.get("CG_REQUESTS", "400"))

parts = urlsplit(url)
headers = {"Authorization": f"Bearer {token}"} if token else {}
conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)


def send(n):
    global conn
    for i in range(n):
        try:
            conn.request("GET", parts.path or "/", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except (ConnectionError, http.client.HTTPException) as err:  # the server closed: say so
            sys.exit(f"callgrind-count: request {i} to {url} failed: {err!r}")
        if resp.status != status:
            sys.exit(f"callgrind-count: {url} answered {resp.status}, not {status}: {body[:200]!r}")


def control(flag):
    done = subprocess.run(["callgrind_control", flag, pid], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"callgrind-count: callgrind_control {flag} {pid} failed: {done.stdout}{done.stderr}")


def dumps():
    return set(glob.glob(os.path.join(dump_dir, f"*.{pid}.*")))


def dump():  # the new dump's file and its instruction count
    before = dumps()
    control("-d")
    for _ in range(600):  # the dump of a large process takes a while; up to 60 s
        new = dumps() - before
        for path in new:
            with open(path, errors="replace") as f:
                text = f.read()
            if "\ntotals:" in text:  # written to the end
                for line in text.splitlines():
                    if line.startswith("summary:"):
                        return path, int(line.split()[1])
        time.sleep(0.1)
    sys.exit(f"callgrind-count: no complete dump of {pid} in {dump_dir}")


send(warmup)
counts = []
for _ in range(windows):
    control("-z")
    send(requests)
    path, instructions = dump()
    counts.append((instructions / requests, path))
values = [c for c, _ in counts]
median = statistics.median(values)
median_dump = min(counts, key=lambda c: abs(c[0] - median))[1]
spread = (max(values) - min(values)) / median * 100
print(f"RESULT median={median:.0f} windows={','.join(f'{v:.0f}' for v in values)} "
      f"spread_pct={spread:.2f} dump={median_dump}")
