#!/usr/bin/env python3
"""Checks issued_by_shared.json, made by our crate, with PyJWT and hashlib: the token pair must
verify under PyJWT with the shared secret, issuer and audience and carry our claims, the EdDSA
token must verify with nothing but the published JWKS, and the PHC string must verify with its
password and not with the wrong one.

    pip install pyjwt cryptography
    python3 shared/tests/vectors/check_with_pyjwt.py

Prints `pyjwt-vectors: N passed, M failed` and exits 1 if anything failed.
"""

import base64
import hashlib
import hmac
import json
import sys
import traceback
import unicodedata
from pathlib import Path

import jwt

VECTORS = Path(__file__).resolve().parent / "issued_by_shared.json"


class CheckFailed(Exception):
    pass


def ensure(condition, message):
    # Not `assert`: `python3 -O` would skip the checks.
    if not condition:
        raise CheckFailed(message)


def check_token(doc, token, typ, ttl):
    header = jwt.get_unverified_header(token)
    ensure(header.get("alg") == "HS256", f"alg is {header.get('alg')}")
    kid = hashlib.sha256(doc["secret"].encode()).digest()[:6].hex()
    ensure(header.get("kid") == kid == doc["kid"], f"kid is {header.get('kid')}, expected {kid}")
    check_claims(doc, token, doc["secret"], "HS256", typ, ttl)


def check_eddsa_with_the_jwks(doc):
    """What another service does: pick the key the header names from the JWKS, and verify."""
    eddsa = doc["eddsa"]
    token = eddsa["access_token"]
    header = jwt.get_unverified_header(token)
    ensure(header.get("alg") == "EdDSA", f"alg is {header.get('alg')}")
    keys = jwt.PyJWKSet.from_dict(eddsa["jwks"])
    key = keys[header["kid"]]
    check_claims(doc, token, key.key, "EdDSA", "access", doc["access_ttl_secs"])
    for other in ("HS256", "RS256"):
        try:
            jwt.decode(token, key.key, algorithms=[other], options={"verify_aud": False})
        except jwt.InvalidTokenError:
            continue
        raise CheckFailed(f"verified as {other}")


def check_claims(doc, token, key, algorithm, typ, ttl):
    claims = jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        audience=doc["audience"],
        issuer=doc["issuer"],
        # PyJWT reads the wall clock; the time claims are checked below at the file's `now`.
        options={
            "require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        },
    )
    now, leeway = doc["now"], doc["leeway_secs"]
    ensure(claims["iat"] == claims["nbf"] == now, f"iat {claims['iat']}, nbf {claims['nbf']}, expected {now}")
    ensure(claims["exp"] == now + ttl, f"exp {claims['exp']}, expected {now + ttl}")
    # PyJWT's own comparisons, at the fixed clock.
    ensure(not claims["exp"] <= now - leeway, "expired at now")
    ensure(not claims["nbf"] > now + leeway, "not yet valid at now")
    subject = doc["subject"]
    expected = {
        "sub": subject["sub"],
        "username": subject["username"],
        "role": subject["role"],
        "typ": typ,
        "sid": doc["sid"],
        "ver": subject["ver"],
        "email_verified": subject["email_verified"],
        "aal": subject["aal"],
        "acr": subject["acr"],
        "amr": subject["amr"],
        "auth_time": subject["auth_time"],
    }
    got = {key: claims.get(key) for key in expected}
    ensure(got == expected, f"claims {got}, expected {expected}")
    ensure(isinstance(claims["ver"], int) and isinstance(claims["sub"], str), "ver is not an integer or sub not a string")
    ensure(isinstance(claims["aud"], str), "aud is not a plain string")
    ensure(isinstance(claims["amr"], list) and isinstance(claims["auth_time"], int), "amr is not a list or auth_time not an integer")
    ensure(isinstance(claims["jti"], str) and claims["jti"], "no jti")


def unb64(text):
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def pbkdf2_matches(password, phc):
    empty, scheme, params, salt, digest = phc.split("$")
    ensure(empty == "" and scheme == "pbkdf2-sha256", f"not a pbkdf2-sha256 PHC string: {phc}")
    fields = dict(param.split("=", 1) for param in params.split(","))
    ensure(set(fields) == {"i", "l"}, f"parameters {params}")
    expected = unb64(digest)
    ensure(len(expected) == int(fields["l"]) == 32, f"hash length {len(expected)}, l={fields['l']}")
    # Our crate hashes the NFKC form of a password, so PyJWT's side does too.
    candidate = unicodedata.normalize("NFKC", password).encode()
    computed = hashlib.pbkdf2_hmac("sha256", candidate, unb64(salt), int(fields["i"]), len(expected))
    return hmac.compare_digest(computed, expected)


def main():
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    pw = doc["password"]

    def phc_params():
        _, _, params, salt, _ = pw["phc"].split("$")
        ensure(params == f"i={pw['iterations']},l=32", f"parameters {params}")
        ensure(unb64(salt).hex() == pw["salt_hex"], "salt differs from salt_hex")

    checks = {
        "access token verifies with PyJWT and carries our claims": lambda: check_token(doc, doc["access_token"], "access", doc["access_ttl_secs"]),
        "refresh token verifies with PyJWT and carries our claims": lambda: check_token(doc, doc["refresh_token"], "refresh", doc["refresh_ttl_secs"]),
        "EdDSA token verifies with PyJWT from the published JWKS alone": lambda: check_eddsa_with_the_jwks(doc),
        "PHC string carries its iterations and salt": phc_params,
        "PHC string verifies with its password in hashlib": lambda: ensure(pbkdf2_matches(pw["password"], pw["phc"]), "no match"),
        "PHC string refuses the wrong password in hashlib": lambda: ensure(not pbkdf2_matches(pw["wrong_password"], pw["phc"]), "it matched"),
    }
    passed = failed = 0
    for name, check in checks.items():
        try:
            check()
        except Exception as e:  # noqa: BLE001 - every failure, PyJWT's included, is reported alike
            failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"FAIL {name}: {detail}", file=sys.stderr)
        else:
            passed += 1
    print(f"pyjwt-vectors: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
