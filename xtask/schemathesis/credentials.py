"""Credentials for schemathesis (loaded through SCHEMATHESIS_HOOKS by `cargo xtask test`).

Every case gets a fresh user's bearer token, an admin's for the admin routes, so routes that end
a session or delete the user (logout, DELETE /users, a password change) starve no other case.
Cases generated to be valid also get real values where random ones could only ever be refused:
the fresh user's name and password for a login, its refresh token for a refresh, its device for
DELETE /users/devices/{id}, another fresh user for /users/admin/{id}, a name and password the
policy takes for a sign-up. Every call is written to
JWT_AUTH_CALL_LOG ("METHOD PATH-TEMPLATE STATUS") and every operation of the document to
JWT_AUTH_OPERATIONS ("METHOD PATH-TEMPLATE"), from which xtask checks that each operation was
answered past the 401.

Reads JWT_AUTH_BASE_URL, JWT_AUTH_ADMIN_USER, JWT_AUTH_ADMIN_PASSWORD, JWT_AUTH_CALL_LOG and
JWT_AUTH_OPERATIONS.
"""

import itertools
import json
import os
import secrets
import urllib.error
import urllib.request

import schemathesis
from schemathesis import GenerationMode

BASE_URL = os.environ["JWT_AUTH_BASE_URL"].rstrip("/")
ADMIN_USER = os.environ["JWT_AUTH_ADMIN_USER"]
ADMIN_PASSWORD = os.environ["JWT_AUTH_ADMIN_PASSWORD"]
CALL_LOG = os.environ["JWT_AUTH_CALL_LOG"]
OPERATIONS = os.environ["JWT_AUTH_OPERATIONS"]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def call(method, path, body=None, token=None):
    """(status, parsed JSON body or None) of one request to the origin."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE_URL + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def expect(status, body, wanted, what):
    if status != wanted:
        raise RuntimeError(f"schemathesis hooks: {what} answered {status}: {body}")
    return body


def fresh_user():
    """A new account, logged in: its id, name, password, token pair and device id."""
    name = "st" + secrets.token_hex(6)
    password = secrets.token_urlsafe(18)
    created = expect(
        *call(
            "POST",
            "/users",
            {"username": name, "password": password, "email": f"{name}@example.com", "first_name": "F", "last_name": "L"},
        ),
        201,
        "sign-up",
    )
    pair = expect(*call("POST", "/auth/login", {"username": name, "password": password}), 200, "login")
    devices = expect(*call("GET", "/users/devices", token=pair["access_token"]), 200, "device list")
    return {
        "id": created["id"],
        "username": name,
        "password": password,
        "access": pair["access_token"],
        "refresh": pair["refresh_token"],
        "device_id": devices[0]["id"] if devices else None,
    }


_root = {}


def root_token():
    """The admin made by `origin create-admin`, logged in once; again if its session was ended."""
    token = _root.get("access")
    if token is None or call("GET", "/users", token=token)[0] != 200:
        pair = expect(*call("POST", "/auth/login", {"username": ADMIN_USER, "password": ADMIN_PASSWORD}), 200, "admin login")
        token = _root["access"] = pair["access_token"]
        _root["id"] = expect(*call("GET", "/users", token=token), 200, "admin read")["id"]
    return token


def fresh_admin():
    user = fresh_user()
    expect(*call("PATCH", f"/users/admin/{user['id']}", {"role": "admin"}, token=root_token()), 200, "promotion")
    return user


def valid(case):
    meta = getattr(case, "_meta", None)
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


# Every other valid case gets real values (all of them: its id and its body), the rest keep what
# was generated. A counter, not `random`: Hypothesis owns the randomness of a run.
_turns = itertools.count()


@schemathesis.auth(refresh_interval=None)
class FreshUser:
    def get(self, case, context):
        return fresh_admin() if case.operation.path.startswith("/users/admin") else fresh_user()

    def set(self, case, user, context):
        real = valid(case) and next(_turns) % 2 == 0
        case.headers = dict(case.headers or {})
        case.headers["Authorization"] = f"Bearer {user['access']}"
        path = case.operation.path
        params = case.path_parameters
        if params and "id" in params:
            # The root admin is the one account no case may change: it makes the fresh admins.
            aims_at_root = str(params["id"]) == str(_root.get("id"))
            if path.startswith("/users/admin/") and (aims_at_root or real):
                params["id"] = fresh_user()["id"]
            elif path == "/users/devices/{id}" and user["device_id"] and real:
                params["id"] = user["device_id"]
        body = case.body
        if not (isinstance(body, dict) and real):
            return
        if path == "/users" and case.operation.method.upper() == "POST":
            # A name, address and password the policy takes: schema-valid ones are mostly refused.
            name = "st" + secrets.token_hex(6)
            body.update(username=name, password=secrets.token_urlsafe(18), email=f"{name}@example.com")
        elif path in ("/auth/login", "/auth/token"):
            body["username"], body["password"] = user["username"], user["password"]
        elif path == "/auth/refresh":
            body["refresh_token"] = user["refresh"]
        elif "current_password" in body:
            # Enrolling a second factor (and the like) gets past the password check.
            body["current_password"] = user["password"]


@schemathesis.hook
def before_load_schema(context, raw_schema):
    with open(OPERATIONS, "w", encoding="utf-8") as out:
        for path, methods in raw_schema.get("paths", {}).items():
            for method in methods:
                if method in HTTP_METHODS:
                    out.write(f"{method.upper()} {path}\n")


@schemathesis.hook
def after_call(context, case, response):
    with open(CALL_LOG, "a", encoding="utf-8") as log:
        log.write(f"{case.operation.method.upper()} {case.operation.path} {response.status_code}\n")
