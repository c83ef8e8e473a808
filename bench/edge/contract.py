#!/usr/bin/env python3
"""bench/edge/run.sh's check that two token-verifying workers answer alike: the same status, body,
content-type and www-authenticate for every token below (good, forged, each claim wrong or missing,
exp/nbf on either side of the 30 s leeway, other algs, "crit" variants, bad base64url...).

    contract.py SECRET ISSUER AUDIENCE URL_A URL_B     # exit 1 and the differences if any
"""
import base64, hashlib, hmac, http.client, json, sys, time
from urllib.parse import urlsplit

secret, issuer, audience, url_a, url_b = sys.argv[1:6]


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(claims=None, header=None, key=secret.encode(), sig=None, payload=None):
    now = int(time.time())
    head = {"alg": "HS256", "typ": "JWT", "kid": "k1"} if header is None else header
    body = {"sub": "7", "username": "bob", "role": "user", "typ": "access", "iat": now, "exp": now + 900,
            "nbf": now, "iss": issuer, "aud": audience, "jti": "j", "sid": "s", "ver": 0}
    body.update(claims or {})
    body = {k: v for k, v in body.items() if v is not None}
    signed = f"{b64(json.dumps(head).encode())}.{payload if payload is not None else b64(json.dumps(body).encode())}"
    return f"{signed}.{sig if sig is not None else b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())}"


now = int(time.time())
good = token()
tokens = {
    "good": good, "forged": token(sig="A" * 43), "other key": token(key=b"other"),
    "iss wrong": token({"iss": "x"}), "iss missing": token({"iss": None}),
    "aud in array": token({"aud": ["a", audience]}), "aud array without": token({"aud": ["a"]}),
    "aud missing": token({"aud": None}), "typ refresh": token({"typ": "refresh"}), "typ missing": token({"typ": None}),
    "exp now-31": token({"exp": now - 31}), "exp now-25": token({"exp": now - 25}), "exp missing": token({"exp": None}),
    "exp string": token({"exp": str(now + 900)}), "nbf now+31": token({"nbf": now + 31}),
    "nbf now+25": token({"nbf": now + 25}), "iat string": token({"iat": "1"}),
    "alg none": token(header={"alg": "none"}), "alg HS512": token(header={"alg": "HS512"}),
    "crit b64": token(header={"alg": "HS256", "crit": ["b64"], "b64": True}),
    "crit b64 twice": token(header={"alg": "HS256", "crit": ["b64", "b64"], "b64": True}),
    "crit b64 false": token(header={"alg": "HS256", "crit": ["b64"], "b64": False}),
    "crit b64 missing": token(header={"alg": "HS256", "crit": ["b64"]}),
    "crit other": token(header={"alg": "HS256", "crit": ["x"], "x": 1}),
    "crit empty": token(header={"alg": "HS256", "crit": []}),
    "b64 false, no crit": token(header={"alg": "HS256", "b64": False}),
    "payload an array": token(payload=b64(b"[1]")), "payload not base64": token(payload="!!"),
    "signature padded": good + "=", "signature padded twice": good + "==",
    "base64 alphabet": good.replace("-", "+").replace("_", "/"), "two parts": "a.b", "garbage": "xyz",
}
headers = {name: {"Authorization": "Bearer " + t} for name, t in tokens.items()}
headers.update({"no authorization": {}, "basic scheme": {"Authorization": "Basic abc"},
                "lower-case bearer": {"Authorization": "bearer " + good}})


def answer(url, head):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", parts.path or "/users", headers=head)
    resp = conn.getresponse()
    return resp.status, resp.read().decode(), resp.getheader("content-type"), resp.getheader("www-authenticate")


differences = 0
for name, head in headers.items():
    a, b = answer(url_a, head), answer(url_b, head)
    if a != b:
        differences += 1
        print(f"{name}: {url_a} {a} but {url_b} {b}")
if differences:
    sys.exit(1)
print(f"{len(headers)} tokens, the same answers")
