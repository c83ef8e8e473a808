#!/usr/bin/env python3
"""Where a workerd's instructions go, from one callgrind dump (bench/edge/run.sh, CALLGRIND=1).

    callgrind-buckets.py DUMP REQUESTS [TOP [PERF_MAP]]

Reads the dump itself (callgrind_annotate sums the costs of the frames active at a `callgrind_control
-z` into them, which misleads for a server zeroed mid-loop) and prints, per request:
  - self cost by part: JIT code (V8-compiled code, without a symbol: wasm or JS by V8's
    --perf-basic-prof map PERF_MAP, /tmp/perf-<pid>.map, when given), V8 (runtime,
    builtins, GC, cppgc), BoringSSL (HMAC, SHA-256, EVP), workerd's JS API glue (jsg, api),
    workerd/kj/hyper/tokio I/O (HTTP server, event loop, capnp), allocator (tcmalloc, new/delete),
    libc and the kernel interface (syscall wrappers, memcpy), other;
  - the TOP [12] functions by inclusive cost (self plus callees), without the frames every request
    runs inside (main, the event loop's block_on).
"""
import re
import sys
from collections import defaultdict

path, requests = sys.argv[1], int(sys.argv[2])
top = int(sys.argv[3]) if len(sys.argv) > 3 else 12
perf_map = sys.argv[4] if len(sys.argv) > 4 else ""

jit = []  # (start, end, name) of V8's code objects, sorted
if perf_map:
    with open(perf_map, errors="replace") as f:
        for line in f:
            start, size, name = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
            try:
                jit.append((int(start, 16), int(start, 16) + int(size, 16), name))
            except ValueError:
                pass
    jit.sort()
starts = [j[0] for j in jit]


def jit_name(fn):  # "0x...": the V8 code object holding that address, if the map has it
    import bisect
    m = re.match(r"^0x([0-9a-f]+)", fn)
    if not m or not jit:
        return None
    addr = int(m.group(1), 16)
    i = bisect.bisect_right(starts, addr) - 1
    return jit[i][2] if i >= 0 and jit[i][0] <= addr < jit[i][1] else None

names = {}  # (kind, id) -> name, for callgrind's name compression
self_cost = defaultdict(int)  # (object, function) -> Ir
inclusive = defaultdict(int)  # function -> Ir of calls into it, from its callers (recursion counted once per call)
obj = fn = None
cobj = cfn = None
after_calls = False
summary = 0
ref = re.compile(r"^\((\d+)\)(?: (.*))?$")


def name_of(kind, value):
    m = ref.match(value)
    if not m:
        return value
    key = (kind, m.group(1))
    if m.group(2) is not None:
        names[key] = m.group(2)
    return names.get(key, f"({m.group(1)})")


with open(path, errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        c = line[0]
        if c.isdigit() or c in "+-*":
            cost = int(line.split()[-1]) if len(line.split()) > 1 else 0
            if after_calls:
                inclusive[(cobj or obj, cfn)] += cost
                after_calls = False
            else:
                self_cost[(obj, fn)] += cost
            continue
        key, _, value = line.partition("=")
        if key == "ob":
            obj = name_of("ob", value)
        elif key == "fn":
            fn = name_of("fn", value)
            cobj = None
        elif key == "cob":
            cobj = name_of("ob", value)
        elif key == "cfn" or key == "cfi" or key == "cfl":
            if key == "cfn":
                cfn = name_of("fn", value)
            else:
                name_of("fl", value)
        elif key in ("fl", "fi", "fe"):
            name_of("fl", value)
        elif key == "calls":
            after_calls = True
        elif line.startswith("summary:"):
            summary = int(line.split()[1])

total = sum(self_cost.values()) or 1

BUCKETS = [  # first match wins: (label, object pattern or None, function pattern)
    ("BoringSSL (HMAC, SHA-256, EVP)", None, r"sha256_block|^SHA256|HMAC|^EVP_|^bssl::|^CRYPTO_|^OPENSSL_|^BN_|^EC_|^ncrypto"),
    ("allocator (tcmalloc, new/delete)", None, r"tcmalloc|^operator new|^operator delete|^malloc$|^free$|^calloc|^realloc|^posix_memalign|^sdallocx|^__libc_"),
    ("V8 (runtime, builtins, GC)", None, r"^v8::|^Builtins_|^cppgc::|^heap::|^v8_|^icu_|^unibrow::|^Runtime_|^std::__1::.*v8::"),
    ("workerd JS API glue (jsg, api)", None, r"^workerd::jsg::|^workerd::api::|jsg::"),
    ("workerd/kj/hyper/tokio I/O", None, r"kj|capnp|workerd|tokio|hyper|http|futures|mio::|bytes::|std::|core::|alloc::"),
    ("libc, syscalls, memcpy", r"libc\.so|libm\.so|ld-linux", r""),
    # Code V8 compiled that its map does not name: wasm tiered up by TurboFan after start-up, which
    # --perf-basic-prof does not log (a JS worker shows none of it; the edge's reject, 130k).
    ("JIT unnamed (tiered-up wasm)", r"^\?\?\?$|^$|^\(\d+\)$", r"^0x[0-9a-f]+"),
]
buckets = defaultdict(int)
for (o, f), cost in self_cost.items():
    o, f = o or "", f or ""
    name = jit_name(f)
    if name is not None:
        buckets["JIT wasm (named)" if "wasm" in name.lower() else "JIT JS"] += cost
        continue
    for label, opat, fpat in BUCKETS:
        if (opat is None or re.search(opat, o)) and re.search(fpat, f):
            buckets[label] += cost
            break
    else:
        buckets["other"] += cost

print(f"{total / requests:,.0f} instructions/request in {requests} requests (self costs by part):")
for label, cost in sorted(buckets.items(), key=lambda kv: -kv[1]):
    print(f"  {label:<36} {cost / requests:>10,.0f}  {100 * cost / total:5.1f}%")
# The frames every request runs inside (the event loop, kj's promise plumbing, the worker's lock
# and context scopes, recursion's 'N copies) say nothing about where a request differs.
skip = re.compile(r"main|block_on|blockOn|lang_start|backtrace|run_pending|with_process_context|serve$|"
                  r"below main|^0x000000000001ab70|entry::run|run_command|__libc_start|^kj::_::|"
                  r"^non-virtual thunk|IoContext::run|runInV8Stack|runInLockScope|kj::Function<|"
                  r"kj::EventLoop|TokioPort|TokioEventPort|wait_forever|'\d+$")
per_fn = defaultdict(int)
for (o, f), cost in inclusive.items():
    f = f or "?"
    per_fn[f if jit_name(f) is None else f"{f} [{jit_name(f)}]"] += cost
for (o, f), cost in self_cost.items():  # a function never called in the window still has its self cost
    f = f or "?"
    per_fn.setdefault(f if jit_name(f) is None else f"{f} [{jit_name(f)}]", cost)
print(f"Top {top} functions by inclusive cost, without the frames every request runs inside:")
shown = 0
for f, cost in sorted(per_fn.items(), key=lambda kv: -kv[1]):
    if shown >= top:
        break
    if skip.search(f):
        continue
    label = f if len(f) <= 110 else f[:107] + "..."
    print(f"  {cost / requests:>10,.0f} {100 * cost / total:5.1f}%  {label}")
    shown += 1
