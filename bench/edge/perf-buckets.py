#!/usr/bin/env python3
"""Where a workerd worker spends its CPU per request, from `perf script -F ip,sym` output of a
`perf record -g` of workerd run with V8's --perf-basic-prof (bench/edge/run.sh PROFILE=1).

    perf-buckets.py STACKS US_PER_REQUEST

Each sample goes to the first bucket whose marker frame is on its stack, so the buckets do not
overlap; their shares times the measured CPU per request give microseconds per request. For the
Rust worker, the time inside its future's poll is split further by the frame the poll called.
"""
import collections
import re
import sys

POLL = r"AssertUnwindSafe<F> as core::future::future::Future>::poll"
BUCKETS = [
    ("Rust handler (the future's poll, with the JS calls it makes)", POLL),
    ("other microtasks (promise reactions, wasm-bindgen-futures' queue)", r"workerd::jsg::Lock::runMicrotasks"),
    ("entrypoint instance per request (getExportedHandler)", r"workerd::Worker::Lock::getExportedHandler"),
    ("fetch handler call (JS code, Request/Response objects)", r"workerd::api::ServiceWorkerGlobalScope::request"),
    ("garbage collection", r"GCJob|Heap::CollectGarbage|Scavenger|MarkCompact|cppgc"),
    ("request context setup", r"makeRequestTraceScope|getPromiseContextTag"),
]
REST = "the rest: HTTP server, sockets, kernel"

# Inside the poll: the callee's name -> a label.
POLL_PARTS = [
    (r"From<worker::response::Response> for web_sys|Response::from_bytes|Headers as core::default::Default",
     "worker crate: building the JS Response (Headers, body, status)"),
    (r"worker::request::Request as core::convert::From", "worker crate: wrapping the JS Request"),
    (r"TokenService::verify|Edge<O>::gated", "token verify (jwt-simple: base64, JSON, HMAC-SHA256) + gate"),
    (r"^JS:wasm-to-js", "the adapter's own JS calls (headers.get/append, Date, url)"),
    (r"^JS:url::|^JS:<url::", "url crate: parsing request.url()"),
    (r"random_id", "request id (getrandom + hex)"),
]


def load(path):
    samples, cur = [], []
    for line in open(path, errors="replace"):
        line = line.strip()
        if not line:
            if cur:
                samples.append(cur)
                cur = []
            continue
        parts = line.split(" ", 1)
        cur.append(parts[1] if len(parts) > 1 else "?")
    if cur:
        samples.append(cur)
    return samples


def main():
    samples = load(sys.argv[1])
    us = float(sys.argv[2])
    n = len(samples) or 1
    buckets = collections.Counter()
    parts = collections.Counter()
    for stack in samples:  # leaf first
        for name, pattern in BUCKETS:
            if any(re.search(pattern, frame) for frame in stack):
                buckets[name] += 1
                break
        else:
            buckets[REST] += 1
        poll = next((i for i, frame in enumerate(stack) if re.search(POLL, frame)), None)
        if poll is not None:
            callee = stack[poll - 1] if poll > 0 else "<self>"
            label = next((lab for pattern, lab in POLL_PARTS if re.search(pattern, callee)), None)
            parts[label or "the handler's own Rust code (http types, allocation, formatting)"] += 1
    for name, count in buckets.most_common():
        print(f"  {us * count / n:6.1f} µs  {100 * count / n:5.1f}%  {name}")
    if parts:
        print("  inside the Rust handler:")
        for name, count in parts.most_common():
            print(f"    {us * count / n:6.1f} µs  {name}")


if __name__ == "__main__":
    main()
