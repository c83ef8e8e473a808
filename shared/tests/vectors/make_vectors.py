#!/usr/bin/env python3
"""Writes pyjwt.json: tokens made by PyJWT and PBKDF2 PHC strings made by hashlib, which
shared/tests/vectors.rs checks against our crate.

Everything is fixed (secret, timestamps, jti, sid, salts), so re-running reproduces the file byte
for byte with the same PyJWT release:

    pip install pyjwt
    python3 shared/tests/vectors/make_vectors.py          # rewrite pyjwt.json
    python3 shared/tests/vectors/make_vectors.py --check  # exit 1 if pyjwt.json is not what it would write

Before writing, each vector is checked here with PyJWT under the rules of DESIGN.md ("Tokens"), so
a negative token fails for the one reason its name gives and is valid in every other respect.
"""

import base64
import hashlib
import json
import sys
import unicodedata
from pathlib import Path

import jwt

OUT = Path(__file__).resolve().parent / "pyjwt.json"

# A test value, never a real key. 64+ bytes, so PyJWT signs HS512 with it without a warning.
SECRET = "TEST-ONLY jwt-auth cross-implementation vector secret, not for any real deployment"
OTHER_SECRET = "TEST-ONLY another secret that no keyring in these vectors holds, for wrong_key"
ISSUER = "jwt-auth"
AUDIENCE = "jwt-auth-api"
LEEWAY = 30
ACCESS_TTL = 15 * 60
REFRESH_TTL = 7 * 24 * 3600
IAT = 1_700_000_000
NOW = IAT + 60  # when the valid tokens are checked: well inside their lifetime
PBKDF2_ITERATIONS = 1000


def kid_of(secret: str) -> str:
    """What shared::token::Keyring::from_secret names a secret: hex of SHA-256's first 6 bytes."""
    return hashlib.sha256(secret.encode()).digest()[:6].hex()


KID = kid_of(SECRET)


def fixed_id(label: str) -> str:
    """A 32-hex-digit id, like the crate's random jti, derived from a label so it never changes."""
    return hashlib.sha256(b"jwt-auth vectors " + label.encode()).digest()[:16].hex()


SID = fixed_id("session")


def claims(name, typ="access", iat=IAT, ttl=ACCESS_TTL, **changes):
    """The claims our crate issues, in its shape; `changes` replace claims (None drops one)."""
    body = {
        "sub": "42",
        "username": "vector-user",
        "role": "user",
        "typ": typ,
        "iat": iat,
        "nbf": iat,
        "exp": iat + ttl,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": fixed_id(name),
        "sid": SID,
        "ver": 3,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def sign(body, secret=SECRET, algorithm="HS256", kid=KID):
    return jwt.encode(body, secret, algorithm=algorithm, headers={"kid": kid})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Rejected(Exception):
    pass


def reference_verify(token, kind, now):
    """DESIGN.md's verifier, written with PyJWT: the meaning the vectors must have."""
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "HS256":
        raise Rejected("algorithm")
    if header.get("kid") != KID:
        raise Rejected("kid")
    try:
        body = jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            # PyJWT reads the wall clock; the time claims are checked below at `now` instead.
            options={
                "require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.MissingRequiredClaimError as e:
        raise Rejected("missing " + e.claim) from e
    except jwt.InvalidIssuerError as e:
        raise Rejected("issuer") from e
    except jwt.InvalidAudienceError as e:
        raise Rejected("audience") from e
    except jwt.InvalidSignatureError as e:
        raise Rejected("signature") from e
    # PyJWT's own comparisons, at a fixed clock.
    if body["exp"] <= now - LEEWAY:
        raise Rejected("expired")
    if body["nbf"] > now + LEEWAY or body["iat"] > now + LEEWAY:
        raise Rejected("not yet valid")
    if body["typ"] != kind:
        raise Rejected("typ")
    return body


def token_vectors():
    valid_access = sign(claims("valid_access"))
    header, payload, signature = valid_access.split(".")
    escalated = dict(claims("valid_access"), role="admin")
    tampered = ".".join([header, b64url(json.dumps(escalated, separators=(",", ":")).encode()), signature])

    expires = IAT + ACCESS_TTL
    # name -> (token, verify as, at now, claims expected or None, the reason PyJWT rejects it)
    return {
        "valid_access": (valid_access, "access", NOW, claims("valid_access"), None),
        "valid_refresh": (
            sign(claims("valid_refresh", typ="refresh", ttl=REFRESH_TTL, role="admin")),
            "refresh",
            NOW,
            claims("valid_refresh", typ="refresh", ttl=REFRESH_TTL, role="admin"),
            None,
        ),
        "valid_access_within_leeway": (
            sign(claims("valid_access_within_leeway")),
            "access",
            expires + LEEWAY - 1,
            claims("valid_access_within_leeway"),
            None,
        ),
        "valid_access_audience_list": (
            sign(claims("valid_access_audience_list", aud=["another-api", AUDIENCE])),
            "access",
            NOW,
            claims("valid_access_audience_list", aud=["another-api", AUDIENCE]),
            None,
        ),
        "alg_none": (jwt.encode(claims("alg_none"), None, algorithm="none", headers={"kid": KID}), "access", NOW, None, "algorithm"),
        "hs512": (sign(claims("hs512"), algorithm="HS512"), "access", NOW, None, "algorithm"),
        "tampered": (tampered, "access", NOW, None, "signature"),
        "expired": (sign(claims("expired")), "access", expires + LEEWAY + 1, None, "expired"),
        "refresh_as_access": (sign(claims("refresh_as_access", typ="refresh", ttl=REFRESH_TTL)), "access", NOW, None, "typ"),
        "access_as_refresh": (valid_access, "refresh", NOW, None, "typ"),
        "wrong_key": (sign(claims("wrong_key"), secret=OTHER_SECRET), "access", NOW, None, "signature"),
        "wrong_issuer": (sign(claims("wrong_issuer", iss="not-jwt-auth")), "access", NOW, None, "issuer"),
        "wrong_audience": (sign(claims("wrong_audience", aud="not-jwt-auth-api")), "access", NOW, None, "audience"),
        "unknown_kid": (sign(claims("unknown_kid"), kid=kid_of(OTHER_SECRET)), "access", NOW, None, "kid"),
        "not_yet_valid": (sign(claims("not_yet_valid", nbf=NOW + LEEWAY + 1)), "access", NOW, None, "not yet valid"),
        "missing_exp": (sign(claims("missing_exp", exp=None)), "access", NOW, None, "missing exp"),
    }


def check_token_vectors(vectors):
    for name, (token, kind, now, expected, reason) in vectors.items():
        try:
            body = reference_verify(token, kind, now)
        except Rejected as e:
            if str(e) != reason:
                sys.exit(f"{name}: PyJWT rejects it for {e}, not {reason}")
            continue
        if reason is not None:
            sys.exit(f"{name}: PyJWT accepts it, yet it should fail for {reason}")
        if body != expected:
            sys.exit(f"{name}: PyJWT reads {body}, not {expected}")


def pbkdf2(password: str, salt: bytes, iterations: int) -> bytes:
    # The crate hashes the NFKC form (shared::policy::Password), so the reference does too.
    return hashlib.pbkdf2_hmac("sha256", unicodedata.normalize("NFKC", password).encode(), salt, iterations, 32)


def b64(data: bytes) -> str:
    return base64.b64encode(data).rstrip(b"=").decode()


def ab64(data: bytes) -> str:
    """passlib's adapted base64: '.' instead of '+', no padding."""
    return b64(data).replace("+", ".")


def phc(password, salt, iterations=PBKDF2_ITERATIONS):
    return f"$pbkdf2-sha256$i={iterations},l=32${b64(salt)}${b64(pbkdf2(password, salt, iterations))}"


def passlib_phc(password, salt, iterations=PBKDF2_ITERATIONS):
    return f"$pbkdf2-sha256${iterations}${ab64(salt)}${ab64(pbkdf2(password, salt, iterations))}"


def password_vectors():
    vectors = [
        {
            "name": "phc_ascii",
            "password": "correct horse battery staple",
            "wrong_password": "correct horse battery stapl",
            "phc": phc("correct horse battery staple", b"jwt-auth-salt-01"),
        },
        {
            # Typed with a ligature and full-width letters; hashed as its NFKC form "final Café pass".
            "name": "phc_unicode_nfkc",
            "password": "\ufb01nal \uff23af\u00e9 pass",
            "wrong_password": "final Cafe pass",
            "phc": phc("\ufb01nal \uff23af\u00e9 pass", bytes(range(100, 116))),
        },
    ]
    # passlib's format, with a salt and a hash whose base64 holds '+', so '.' is exercised in both.
    salt = bytes([0xFB, 0xEF, 0xBE]) + b"passlib-salt-"
    if "." not in ab64(salt):
        sys.exit("the passlib salt must hold a '+' in base64")
    password = next(p for p in (f"passlib format password {i}" for i in range(1000)) if "." in ab64(pbkdf2(p, salt, PBKDF2_ITERATIONS)))
    vectors.append(
        {
            "name": "passlib_ab64",
            "password": password,
            "wrong_password": password + "!",
            "phc": passlib_phc(password, salt),
        }
    )
    return vectors


def document():
    tokens = token_vectors()
    check_token_vectors(tokens)

    def entry(name):
        token, kind, now, expected, reason = tokens[name]
        out = {"token": token, "verify_as": kind, "now": now}
        if expected is not None:
            out["claims"] = expected
        else:
            out["why"] = reason
        return out

    valid = [name for name, v in tokens.items() if v[4] is None]
    invalid = [name for name, v in tokens.items() if v[4] is not None]
    return {
        "about": "Made by make_vectors.py with PyJWT and hashlib; checked by shared/tests/vectors.rs. Test values only.",
        "secret": SECRET,
        "kid": KID,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "leeway_secs": LEEWAY,
        "access_ttl_secs": ACCESS_TTL,
        "refresh_ttl_secs": REFRESH_TTL,
        "valid_access": entry("valid_access"),
        "valid": {name: entry(name) for name in valid if name != "valid_access"},
        "invalid": {name: entry(name) for name in invalid},
        "passwords": password_vectors(),
    }


def main():
    text = json.dumps(document(), indent=2, ensure_ascii=False) + "\n"
    if sys.argv[1:] == ["--check"]:
        if OUT.read_text(encoding="utf-8") != text:
            sys.exit(f"{OUT} differs from what make_vectors.py writes; re-run it and commit the result")
        print(f"{OUT.name} is up to date")
    elif sys.argv[1:]:
        sys.exit("usage: make_vectors.py [--check]")
    else:
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
