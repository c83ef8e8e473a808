//! The one list of cases, written once and run in order against every target. Each target runs
//! the whole scenario with its own users (its variables), so their state never collides.
//!
//! Paths, headers and bodies are templates: `{name}` is replaced by the target's variable
//! `name` (JSON-escaped in a JSON body, percent-encoded in a form); any other brace is literal.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use totp_rs::{Algorithm, Builder, Secret};

use crate::client::Request;
use crate::compare::{self, Compare, Schema};

pub const SIGN_UP_PASSWORD: &str = "velvet-otter-signs-14";
pub const NEW_PASSWORD: &str = "a-brand-new-passphrase-77";

/// One target's variables: its names, and what earlier cases saved from its answers.
#[derive(Debug, Clone, Default)]
pub struct Vars(HashMap<String, String>);

impl Vars {
    /// `tag` is unique to this run and this target; every name the scenario creates holds it.
    pub fn new(tag: &str, admin_user: &str, admin_password: &str) -> Self {
        let mut vars = Self::default();
        let user = format!("{tag}.u");
        vars.set("tag", tag);
        vars.set("email", &format!("{user}@example.com"));
        vars.set("user_upper", &user.to_uppercase());
        vars.set("user", &user);
        vars.set("password", SIGN_UP_PASSWORD);
        vars.set("new_password", NEW_PASSWORD);
        vars.set("admin_user", admin_user);
        vars.set("admin_password", admin_password);
        vars
    }

    /// Sets a variable. A JWT also yields two forgeries of it: `{name}_alg_none` (its header
    /// replaced by `{"alg":"none","typ":"JWT"}`, signature empty) and `{name}_tampered` (its
    /// payload claiming the admin role, signature kept).
    pub fn set(&mut self, name: &str, value: &str) {
        if compare::is_jwt(value) {
            let parts: Vec<&str> = value.split('.').collect();
            let none = compare::encode_json(&serde_json::json!({"alg": "none", "typ": "JWT"}));
            self.0.insert(format!("{name}_alg_none"), format!("{none}.{}.", parts[1]));
            if let Some(Value::Object(mut claims)) = compare::decode_json(parts[1]) {
                claims.insert("role".into(), "admin".into());
                let payload = compare::encode_json(&Value::Object(claims));
                self.0.insert(format!("{name}_tampered"), format!("{}.{payload}.{}", parts[0], parts[2]));
            }
        }
        self.0.insert(name.to_owned(), value.to_owned());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The template with every `{name}` replaced, each value passed through `escape`.
    pub fn fill(&self, template: &str, escape: fn(&str) -> String) -> Result<String, String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let name_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            if name_len > 0 && after[name_len..].starts_with('}') {
                let name = &after[..name_len];
                let value = self.get(name).ok_or_else(|| format!("no {{{name}}} (an earlier case failed)"))?;
                out.push_str(&escape(value));
                rest = &after[name_len + 1..];
            } else {
                out.push('{');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn raw(value: &str) -> String {
    value.to_owned()
}

fn json_escape(value: &str) -> String {
    let quoted = Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

fn form_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    /// A JSON template, sent as `application/json`.
    Json(&'static str),
    /// Bytes of a given content type, the template filled in verbatim.
    Raw {
        content_type: &'static str,
        text: &'static str,
    },
    /// An `application/x-www-form-urlencoded` template, values percent-encoded.
    Form(&'static str),
    /// A valid JSON object of exactly this many bytes.
    Oversized(usize),
}

/// One request and what every target must answer to it.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// The status every target must answer.
    pub status: u16,
    /// JSON (a template) the body must contain: listed keys, lists element by element.
    pub expect: Option<&'static str>,
    /// Header values every target must send.
    pub expect_headers: Vec<(&'static str, &'static str)>,
    /// Headers every target must send, whatever their value (compare them too to pin it).
    pub required_headers: Vec<&'static str>,
    /// Headers that must be the same on every target (absent counts as a value).
    pub compared_headers: Vec<&'static str>,
    pub schema: Schema,
    pub compare: Compare,
    /// A case this one must answer exactly as (status, body, compared headers), on each target.
    pub same_as: Option<&'static str>,
    /// Variables to save from the body: (name, JSON pointer).
    pub save: Vec<(&'static str, &'static str)>,
}

impl Case {
    fn new(name: &'static str, method: &'static str, path: &'static str) -> Self {
        Self {
            name,
            method,
            path,
            headers: Vec::new(),
            body: Body::None,
            status: 200,
            expect: None,
            expect_headers: Vec::new(),
            required_headers: Vec::new(),
            compared_headers: vec!["content-type", "www-authenticate"],
            schema: Schema::Any,
            compare: Compare::Auto,
            same_as: None,
            save: Vec::new(),
        }
    }

    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    fn json(mut self, template: &'static str) -> Self {
        self.body = Body::Json(template);
        self
    }

    fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    fn header(mut self, name: &'static str, template: &str) -> Self {
        self.headers.push((name, template.to_owned()));
        self
    }

    /// `Authorization: Bearer {var}`.
    fn bearer(self, var: &str) -> Self {
        self.header("authorization", &format!("Bearer {{{var}}}"))
    }

    fn expect(mut self, template: &'static str) -> Self {
        self.expect = Some(template);
        self
    }

    fn expect_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.expect_headers.push((name, value));
        self
    }

    /// Also compare this header across targets.
    fn compare_header(mut self, name: &'static str) -> Self {
        self.compared_headers.push(name);
        self
    }

    fn schema(mut self, schema: Schema) -> Self {
        self.schema = schema;
        self
    }

    fn compare(mut self, compare: Compare) -> Self {
        self.compare = compare;
        self
    }

    fn same_as(mut self, case: &'static str) -> Self {
        self.same_as = Some(case);
        self
    }

    fn save(mut self, var: &'static str, pointer: &'static str) -> Self {
        self.save.push((var, pointer));
        self
    }

    /// 200 with a token pair, never cached; its tokens saved as the variables `access` and `refresh`.
    fn pair(mut self, access: &'static str, refresh: &'static str) -> Self {
        self.status = 200;
        self.schema = Schema::Pair;
        self.expect = Some(r#"{"token_type": "bearer"}"#);
        self.compared_headers.push("cache-control");
        self.expect_headers.push(("cache-control", "no-store"));
        self.save(access, "/access_token").save(refresh, "/refresh_token")
    }

    /// 200 with a confirmed second factor: its recovery codes beside the lifted pair, which is
    /// saved as `pair` saves it.
    fn confirmed(self, access: &'static str, refresh: &'static str) -> Self {
        self.pair(access, refresh).schema(Schema::Confirmed)
    }

    /// 403 `MFA_REQUIRED`, never cached: the login waits for its second factor; its `mfa_token`
    /// (each answer's own, so only the shapes are compared) saved as the variable `mfa_token`.
    fn mfa_required(mut self, mfa_token: &'static str) -> Self {
        self.status = 403;
        self.expect = Some(r#"{"detail": "MFA_REQUIRED"}"#);
        self.compared_headers.push("cache-control");
        self.expect_headers.push(("cache-control", "no-store"));
        self.compare(Compare::Shape).save(mfa_token, "/mfa_token")
    }

    /// 200 with the user JSON of the scenario's user.
    fn user(self) -> Self {
        self.status(200).schema(Schema::User).expect(USER)
    }

    /// 401 for a missing token (RFC 6750: the challenge names the scheme only).
    fn not_authenticated(self) -> Self {
        self.status(401).expect(r#"{"detail": "Not authenticated"}"#).expect_header("www-authenticate", "Bearer")
    }

    /// 401 for a token that fails any check.
    fn invalid_token(self) -> Self {
        self.status(401)
            .expect(r#"{"detail": "Could not validate credentials"}"#)
            .expect_header("www-authenticate", r#"Bearer error="invalid_token""#)
    }

    /// 401 for a failed login.
    fn bad_credentials(self) -> Self {
        self.status(401)
            .expect(r#"{"detail": "Incorrect username or password"}"#)
            .expect_header("www-authenticate", "Bearer")
    }

    /// 422 whose errors are, in order, these (partial) ones.
    fn invalid(self, expect: &'static str) -> Self {
        self.status(422).expect(expect)
    }

    /// `status` with fastapi-users' empty answer, the JSON `null`.
    fn null(self, status: u16) -> Self {
        self.status(status).expect("null").expect_header("content-type", "application/json")
    }

    /// 400 with one of fastapi-users' error codes.
    fn code(self, detail: &'static str) -> Self {
        self.status(400).expect(detail)
    }

    /// 200 with a page a mailed link opens: HTML, never cached, under its security headers, the
    /// same on every target (its CSP names the hashes of the page's own script and style).
    fn page(mut self) -> Self {
        for (name, value) in [
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
        ] {
            self.expect_headers.push((name, value));
            self.compared_headers.push(name);
        }
        self.required_headers.push("content-security-policy");
        self.compared_headers.push("content-security-policy");
        self.compare(Compare::Exact)
    }

    /// The request for one target.
    pub fn request(&self, vars: &Vars) -> Result<Request, String> {
        let path = vars.fill(self.path, raw)?;
        let mut headers = Vec::new();
        for (name, template) in &self.headers {
            headers.push((name.to_string(), vars.fill(template, raw)?));
        }
        let mut content = |content_type: &str, bytes: Vec<u8>| {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
            Some(bytes)
        };
        let body = match &self.body {
            Body::None => None,
            Body::Json(template) => content("application/json", vars.fill(template, json_escape)?.into_bytes()),
            Body::Raw { content_type, text } => content(content_type, vars.fill(text, raw)?.into_bytes()),
            Body::Form(template) => {
                content("application/x-www-form-urlencoded", vars.fill(template, form_escape)?.into_bytes())
            }
            Body::Oversized(size) => {
                let (open, close) = (r#"{"username": ""#, r#""}"#);
                let filler = "a".repeat(size.saturating_sub(open.len() + close.len()));
                content("application/json", format!("{open}{filler}{close}").into_bytes())
            }
        };
        Ok(Request { method: self.method, path, headers, body })
    }

    /// What the body must contain, for one target.
    pub fn expected_body(&self, vars: &Vars) -> Result<Option<Value>, String> {
        let Some(template) = self.expect else { return Ok(None) };
        let text = vars.fill(template, json_escape)?;
        serde_json::from_str(&text).map(Some).map_err(|e| format!("case {}: bad expected JSON: {e}", self.name))
    }
}

fn get(name: &'static str, path: &'static str) -> Case {
    Case::new(name, "GET", path)
}

fn post(name: &'static str, path: &'static str) -> Case {
    Case::new(name, "POST", path)
}

fn patch(name: &'static str, path: &'static str) -> Case {
    Case::new(name, "PATCH", path)
}

/// The scenario's user as sign-up and `GET /users` show it (before the names change). Its
/// address is never confirmed: mail on or off, no case follows a link mailed to it.
const USER: &str = r#"{"username": "{user}", "email": "{email}", "first_name": "fname", "last_name": "lname",
    "active": true, "role": "user", "email_verified": false}"#;

/// A valid sign-up of the scenario's user.
const SIGN_UP: &str = r#"{"username": "{user}", "password": "{password}", "email": "{email}", "first_name": "fname", "last_name": "lname"}"#;

const LOGIN: &str = r#"{"username": "{user}", "password": "{password}"}"#;

/// The login after the password change.
const NEW_LOGIN: &str = r#"{"username": "{user}", "password": "{new_password}"}"#;

/// Every case, in the order they run on each target.
pub fn cases() -> Vec<Case> {
    vec![
        // Health: the edge reports its origin's health in its own words, so the status only.
        get("health", "/").compare(Compare::Status),
        // Sign-up and its refusals.
        post("sign-up", "/users").json(SIGN_UP).status(201).schema(Schema::User).expect(USER),
        post("sign-up duplicate username", "/users")
            .json(
                r#"{"username": "{user}", "password": "{password}", "email": "{tag}.dup@example.com",
                "first_name": "f", "last_name": "l"}"#,
            )
            .status(409)
            .expect(r#"{"detail": "Username or email already registered"}"#),
        post("sign-up duplicate username in other case", "/users")
            .json(
                r#"{"username": "{user_upper}", "password": "{password}", "email": "{tag}.dup@example.com",
                "first_name": "f", "last_name": "l"}"#,
            )
            .status(409)
            .same_as("sign-up duplicate username"),
        post("sign-up duplicate email", "/users")
            .json(
                r#"{"username": "{tag}.dup", "password": "{password}", "email": "{email}",
                "first_name": "f", "last_name": "l"}"#,
            )
            .status(409)
            .same_as("sign-up duplicate username"),
        post("sign-up with the seed's password 123456", "/users")
            .json(
                r#"{"username": "{tag}.weak", "password": "123456", "email": "{tag}.weak@example.com",
                "first_name": "f", "last_name": "l"}"#,
            )
            .invalid(r#"{"detail": [{"loc": ["body", "password"], "type": "string_too_short"}]}"#),
        post("sign-up with a common password", "/users")
            .json(
                r#"{"username": "{tag}.weak", "password": "passwordpassword", "email": "{tag}.weak@example.com",
                "first_name": "f", "last_name": "l"}"#,
            )
            .invalid(r#"{"detail": [{"loc": ["body", "password"]}]}"#),
        post("sign-up missing a field", "/users")
            .json(r#"{"username": "{tag}.x", "email": "{tag}.x@example.com", "first_name": "f", "last_name": "l"}"#)
            .invalid(r#"{"detail": [{"loc": ["body", "password"], "type": "missing"}]}"#),
        post("sign-up with a wrong type", "/users")
            .json(
                r#"{"username": 5, "password": "{password}", "email": "{tag}.x@example.com",
                "first_name": "f", "last_name": "l"}"#,
            )
            .invalid(r#"{"detail": [{"loc": ["body", "username"], "type": "string_type"}]}"#),
        // The same bytes on every target (no tag), so the error's byte position is the same too.
        post("sign-up with invalid JSON", "/users")
            .body(Body::Raw { content_type: "application/json", text: r#"{"username": "someone", "password": }"# })
            .invalid(r#"{"detail": [{"type": "json_invalid"}]}"#),
        post("sign-up with a JSON list", "/users")
            .body(Body::Raw { content_type: "application/json", text: r#"[{"username": "someone"}]"# })
            .invalid(r#"{"detail": [{"loc": ["body"], "type": "model_attributes_type"}]}"#),
        post("sign-up with a NUL byte in the username", "/users")
            .json(
                r#"{"username": "{tag}\u0000x", "password": "{password}", "email": "{tag}.nul@example.com",
                "first_name": "f", "last_name": "l"}"#,
            )
            .invalid(r#"{"detail": [{"loc": ["body", "username"]}]}"#),
        post("sign-up with a bidi override in the username", "/users")
            .json(
                r#"{"username": "{tag}\u202Egpj.exe", "password": "{password}", "email": "{tag}.bidi@example.com",
                "first_name": "f", "last_name": "l"}"#,
            )
            .invalid(r#"{"detail": [{"loc": ["body", "username"]}]}"#),
        post("sign-up with a 20 KB body", "/users")
            .body(Body::Oversized(20 * 1024))
            .status(413)
            .expect(r#"{"detail": "Request body too large"}"#),
        // Logging in.
        post("login", "/auth/login").json(LOGIN).pair("access", "refresh"),
        post("login with a wrong password", "/auth/login")
            .json(r#"{"username": "{user}", "password": "not-the-right-passphrase"}"#)
            .bad_credentials(),
        post("login as an unknown user", "/auth/login")
            .json(r#"{"username": "{tag}.nobody", "password": "not-the-right-passphrase"}"#)
            .bad_credentials()
            .same_as("login with a wrong password"),
        post("login missing the password", "/auth/login")
            .json(r#"{"username": "{user}"}"#)
            .invalid(r#"{"detail": [{"loc": ["body", "password"], "type": "missing"}]}"#),
        post("token with the OAuth2 password form", "/auth/token")
            .body(Body::Form("grant_type=password&username={user}&password={password}"))
            .pair("form_access", "form_refresh"),
        post("token with JSON", "/auth/token").json(LOGIN).pair("json_access", "json_refresh"),
        post("token form with a wrong password", "/auth/token")
            .body(Body::Form("grant_type=password&username={user}&password=not-the-right-passphrase"))
            .bad_credentials()
            .same_as("login with a wrong password"),
        post("token form with grant_type=client_credentials", "/auth/token")
            .body(Body::Form("grant_type=client_credentials&username={user}&password={password}"))
            .invalid(r#"{"detail": [{"loc": ["body", "grant_type"]}]}"#),
        post("token as XML", "/auth/token")
            .body(Body::Raw {
                content_type: "application/xml",
                text: "<login><username>{user}</username><password>{password}</password></login>",
            })
            .status(415)
            .expect(r#"{"detail": "Unsupported media type"}"#),
        // The current user, and every way of not being one.
        get("current user", "/users").bearer("access").user().save("user_id", "/id"),
        get("current user without a token", "/users").not_authenticated(),
        get("current user with a Basic authorization", "/users")
            .header("authorization", "Basic dXNlcjpwYXNzd29yZA==")
            .not_authenticated(),
        get("current user with a garbage token", "/users").header("authorization", "Bearer garbage").invalid_token(),
        get("current user with a garbage three-part token", "/users")
            .header("authorization", "Bearer abc.def.ghi")
            .invalid_token(),
        get("current user with an alg none token", "/users").bearer("access_alg_none").invalid_token(),
        get("current user with a tampered payload", "/users").bearer("access_tampered").invalid_token(),
        get("current user with the refresh token", "/users").bearer("refresh").invalid_token(),
        // Admin.
        get("admin list as a user", "/users/admin")
            .bearer("access")
            .status(403)
            .expect(r#"{"detail": "Not enough permissions"}"#),
        get("admin list without a token", "/users/admin").not_authenticated(),
        post("admin login", "/auth/login")
            .json(r#"{"username": "{admin_user}", "password": "{admin_password}"}"#)
            .pair("admin_access", "admin_refresh"),
        get("admin list as the admin", "/users/admin")
            .bearer("admin_access")
            .schema(Schema::UserList)
            .compare(Compare::Shape),
        get("admin list, a page of one", "/users/admin?limit=1&offset=0")
            .bearer("admin_access")
            .schema(Schema::UserList)
            .compare(Compare::Shape),
        get("admin list, the page after an id", "/users/admin?limit=1&after_id=0")
            .bearer("admin_access")
            .schema(Schema::UserList),
        get("admin reads the user by id", "/users/admin/{user_id}").bearer("admin_access").user(),
        get("admin route for a user by id, as the user", "/users/admin/{user_id}")
            .bearer("access")
            .status(403)
            .same_as("admin list as a user"),
        get("admin reads a user by an id that is no number", "/users/admin/abc")
            .bearer("admin_access")
            .invalid(r#"{"detail": [{"loc": ["path", "id"], "type": "int_parsing"}]}"#),
        get("admin reads a user that does not exist", "/users/admin/999999999")
            .bearer("admin_access")
            .status(404)
            .expect(r#"{"detail": "Not Found"}"#),
        get("audit log, newest event", "/users/admin/audit?limit=1").bearer("admin_access").compare(Compare::Shape),
        get("audit log as a user", "/users/admin/audit").bearer("access").status(403).same_as("admin list as a user"),
        get("admin list with limit=0", "/users/admin?limit=0")
            .bearer("admin_access")
            .invalid(r#"{"detail": [{"loc": ["query", "limit"]}]}"#),
        get("admin list with limit=abc", "/users/admin?limit=abc")
            .bearer("admin_access")
            .invalid(r#"{"detail": [{"loc": ["query", "limit"]}]}"#),
        // Changing the user.
        patch("change names", "/users")
            .bearer("access")
            .json(r#"{"first_name": "Ada", "last_name": "Lovelace"}"#)
            .schema(Schema::User)
            .expect(r#"{"username": "{user}", "first_name": "Ada", "last_name": "Lovelace"}"#),
        get("current user after the change", "/users")
            .bearer("access")
            .schema(Schema::User)
            .expect(r#"{"first_name": "Ada", "last_name": "Lovelace"}"#),
        patch("change to a short password", "/users")
            .bearer("access")
            .json(r#"{"password": "short", "current_password": "{password}"}"#)
            .invalid(r#"{"detail": [{"loc": ["body", "password"], "type": "string_too_short"}]}"#),
        patch("change without a token", "/users").json(r#"{"first_name": "Eve"}"#).not_authenticated(),
        patch("change the email without current_password", "/users")
            .bearer("access")
            .json(r#"{"email": "{tag}.new@example.com"}"#)
            .invalid(r#"{"detail": [{"loc": ["body", "current_password"], "type": "missing"}]}"#),
        patch("change the password with a wrong current_password", "/users")
            .bearer("access")
            .json(r#"{"password": "{new_password}", "current_password": "not-the-right-passphrase"}"#)
            .status(403)
            .expect(r#"{"detail": "Incorrect current password"}"#),
        // Refreshing.
        post("refresh", "/auth/refresh")
            .json(r#"{"refresh_token": "{refresh}"}"#)
            .pair("refreshed_access", "refreshed_refresh"),
        post("the spent refresh token again, inside the grace window", "/auth/refresh")
            .json(r#"{"refresh_token": "{refresh}"}"#)
            .pair("repeated_access", "repeated_refresh")
            // Two tabs, one pair: the very strings the first refresh got.
            .expect(
                r#"{"token_type": "bearer", "access_token": "{refreshed_access}",
                "refresh_token": "{refreshed_refresh}"}"#,
            ),
        get("sessions of the current user", "/users/sessions").bearer("refreshed_access").compare(Compare::Shape),
        get("sessions without a token", "/users/sessions").not_authenticated(),
        get("devices of the current user", "/users/devices").bearer("refreshed_access").compare(Compare::Shape),
        get("devices without a token", "/users/devices").not_authenticated(),
        Case::new("forget a device of nobody's", "DELETE", "/users/devices/999999999")
            .bearer("refreshed_access")
            .status(404)
            .expect(r#"{"detail": "Not Found"}"#),
        get("current user with the refreshed access token", "/users")
            .bearer("refreshed_access")
            .schema(Schema::User)
            .expect(r#"{"username": "{user}"}"#),
        post("refresh with the access token", "/auth/refresh").json(r#"{"refresh_token": "{access}"}"#).invalid_token(),
        post("refresh with a garbage token", "/auth/refresh").json(r#"{"refresh_token": "garbage"}"#).invalid_token(),
        post("refresh with an alg none token", "/auth/refresh")
            .json(r#"{"refresh_token": "{refresh_alg_none}"}"#)
            .invalid_token(),
        // Duplicated keys: the last one counts, everywhere.
        post("refresh with a good token, then garbage, under one key", "/auth/refresh")
            .json(r#"{"refresh_token": "{refresh}", "refresh_token": "garbage"}"#)
            .invalid_token(),
        post("refresh with {}", "/auth/refresh")
            .json("{}")
            .invalid(r#"{"detail": [{"loc": ["body", "refresh_token"], "type": "missing"}]}"#),
        // Routing.
        // RFC 9110: a 405 names the allowed methods, alike everywhere.
        Case::new("PUT /users", "PUT", "/users")
            .status(405)
            .expect(r#"{"detail": "Method Not Allowed"}"#)
            .compare_header("allow"),
        get("unknown path", "/no/such/path").status(404).expect(r#"{"detail": "Not Found"}"#),
        get("a doubled slash is another path", "//users")
            .bearer("access")
            .status(404)
            .expect(r#"{"detail": "Not Found"}"#),
        Case::new("HEAD /users with a garbage token", "HEAD", "/users")
            .header("authorization", "Bearer garbage")
            .status(401)
            .expect_header("www-authenticate", r#"Bearer error="invalid_token""#),
        // The internal API is the edge's alone: a client reaches it neither directly nor through an edge.
        post("internal API from a client", "/internal/v1/auth/login")
            .json(r#"{"username": "{admin_user}", "password": "{admin_password}"}"#)
            .status(404)
            .expect(r#"{"detail": "Not Found"}"#),
        post("internal API behind a dot segment", "/x/../internal/v1/auth/login")
            .json(r#"{"username": "{admin_user}", "password": "{admin_password}"}"#)
            .status(404)
            .expect(r#"{"detail": "Not Found"}"#),
        get("published keys (none for HS256)", "/.well-known/jwks.json")
            .compare(Compare::Exact)
            .expect(r#"{"keys": []}"#)
            .compare_header("cache-control"),
        get("docs page", "/docs/").compare(Compare::Exact),
        get("OpenAPI document", "/openapi.json")
            .compare(Compare::Exact)
            .expect(r#"{"info": {"title": "JWT Auth API"}}"#),
        // Password reset and email verification, fastapi-users' routes. Asking for a link answers
        // the same for every address; a made-up or malformed token is refused alike. (The round
        // trips through a mailed link: `mail_steps`, with --maildev.)
        post("forgot-password for the user's address", "/auth/forgot-password")
            .json(r#"{"email": "{email}"}"#)
            .null(202),
        post("forgot-password for nobody's address", "/auth/forgot-password")
            .json(r#"{"email": "{tag}.nobody@example.com"}"#)
            .null(202)
            .same_as("forgot-password for the user's address"),
        post("forgot-password for a malformed address", "/auth/forgot-password")
            .json(r#"{"email": "not-an-address"}"#)
            .invalid(r#"{"detail": [{"loc": ["body", "email"], "type": "value_error"}]}"#),
        post("forgot-password without an address", "/auth/forgot-password")
            .json("{}")
            .invalid(r#"{"detail": [{"loc": ["body", "email"], "type": "missing"}]}"#),
        post("request-verify-token for the user's address", "/auth/request-verify-token")
            .json(r#"{"email": "{email}"}"#)
            .null(202),
        post("request-verify-token for nobody's address", "/auth/request-verify-token")
            .json(r#"{"email": "{tag}.nobody@example.com"}"#)
            .null(202)
            .same_as("request-verify-token for the user's address"),
        post("request-verify-token for a malformed address", "/auth/request-verify-token")
            .json(r#"{"email": "not-an-address"}"#)
            .invalid(r#"{"detail": [{"loc": ["body", "email"], "type": "value_error"}]}"#),
        post("reset-password with a made-up token", "/auth/reset-password")
            .json(
                r#"{"token": "5d0c7e2a9b4f61c8e3a7d2b9f0e4c6a18b3d5f7e9a2c4b6d8f0e1a3c5b7d9f2e",
                "password": "{new_password}"}"#,
            )
            .code(r#"{"detail": "RESET_PASSWORD_BAD_TOKEN"}"#),
        post("reset-password with a token in capitals", "/auth/reset-password")
            .json(
                r#"{"token": "5D0C7E2A9B4F61C8E3A7D2B9F0E4C6A18B3D5F7E9A2C4B6D8F0E1A3C5B7D9F2E",
                "password": "{new_password}"}"#,
            )
            .status(400)
            .same_as("reset-password with a made-up token"),
        post("reset-password with a malformed token", "/auth/reset-password")
            .json(r#"{"token": "not-a-token", "password": "{new_password}"}"#)
            .status(400)
            .same_as("reset-password with a made-up token"),
        post("reset-password with an empty token", "/auth/reset-password")
            .json(r#"{"token": "", "password": "{new_password}"}"#)
            .status(400)
            .same_as("reset-password with a made-up token"),
        post("reset-password without a token", "/auth/reset-password")
            .json(r#"{"password": "{new_password}"}"#)
            .invalid(r#"{"detail": [{"loc": ["body", "token"], "type": "missing"}]}"#),
        post("verify with a made-up token", "/auth/verify")
            .json(r#"{"token": "5d0c7e2a9b4f61c8e3a7d2b9f0e4c6a18b3d5f7e9a2c4b6d8f0e1a3c5b7d9f2e"}"#)
            .code(r#"{"detail": "VERIFY_USER_BAD_TOKEN"}"#),
        post("verify with a token of 65 digits", "/auth/verify")
            .json(r#"{"token": "5d0c7e2a9b4f61c8e3a7d2b9f0e4c6a18b3d5f7e9a2c4b6d8f0e1a3c5b7d9f2e0"}"#)
            .status(400)
            .same_as("verify with a made-up token"),
        post("verify with a malformed token", "/auth/verify")
            .json(r#"{"token": "not-a-token"}"#)
            .status(400)
            .same_as("verify with a made-up token"),
        post("verify without a token", "/auth/verify")
            .json("{}")
            .invalid(r#"{"detail": [{"loc": ["body", "token"], "type": "missing"}]}"#),
        get("reset-password page", "/reset-password").page(),
        get("verify page", "/verify").page(),
        // A password change revokes every token issued before it.
        patch("change the password", "/users")
            .bearer("refreshed_access")
            .json(r#"{"password": "{new_password}", "current_password": "{password}"}"#)
            .schema(Schema::User)
            .expect(r#"{"username": "{user}"}"#),
        get("old access token after the password change", "/users").bearer("access").invalid_token(),
        get("old refreshed access token after the password change", "/users")
            .bearer("refreshed_access")
            .invalid_token(),
        post("old refresh token after the password change", "/auth/refresh")
            .json(r#"{"refresh_token": "{refreshed_refresh}"}"#)
            .invalid_token(),
        post("login with the old password", "/auth/login")
            .json(LOGIN)
            .bad_credentials()
            .same_as("login with a wrong password"),
        post("login with the new password", "/auth/login")
            .json(r#"{"username": "{user}", "password": "{new_password}"}"#)
            .pair("renewed_access", "renewed_refresh"),
        get("current user with the new access token", "/users")
            .bearer("renewed_access")
            .schema(Schema::User)
            .expect(r#"{"username": "{user}", "first_name": "Ada"}"#),
        // Logging out ends one session; logging out everywhere, all of them; so does an admin.
        post("a second login", "/auth/login").json(NEW_LOGIN).pair("second_access", "second_refresh"),
        post("logout", "/auth/logout").bearer("second_access").status(204).schema(Schema::Empty),
        get("access token after its logout", "/users").bearer("second_access").invalid_token(),
        post("refresh token after its logout", "/auth/refresh")
            .json(r#"{"refresh_token": "{second_refresh}"}"#)
            .invalid_token(),
        get("another session after a logout", "/users").bearer("renewed_access").status(200).schema(Schema::User),
        post("logout without a token", "/auth/logout").not_authenticated(),
        post("a third login", "/auth/login").json(NEW_LOGIN).pair("third_access", "third_refresh"),
        post("logout everywhere", "/auth/logout-all").bearer("third_access").status(204).schema(Schema::Empty),
        get("access token after logout everywhere", "/users").bearer("renewed_access").invalid_token(),
        post("a login after logout everywhere", "/auth/login").json(NEW_LOGIN).pair("fourth_access", "fourth_refresh"),
        Case::new("admin ends the user's sessions", "DELETE", "/users/admin/{user_id}/sessions")
            .bearer("admin_access")
            .status(204)
            .schema(Schema::Empty),
        get("access token after the admin ended the sessions", "/users").bearer("fourth_access").invalid_token(),
        post("a login after the admin ended the sessions", "/auth/login")
            .json(NEW_LOGIN)
            .pair("final_access", "final_refresh"),
        // Deleting the user ends its tokens.
        Case::new("delete the user", "DELETE", "/users").bearer("final_access").status(204).schema(Schema::Empty),
        get("access token after the delete", "/users").bearer("final_access").invalid_token(),
        post("refresh token after the delete", "/auth/refresh")
            .json(r#"{"refresh_token": "{final_refresh}"}"#)
            .invalid_token(),
        post("login after the delete", "/auth/login")
            .json(r#"{"username": "{user}", "password": "{new_password}"}"#)
            .bad_credentials()
            .same_as("login with a wrong password"),
    ]
}

/// A step of a scenario: a request every target answers, a link every target's user must have
/// been mailed, the code each target's user's authenticator app shows, or claims each target's
/// saved token must hold.
#[derive(Debug, Clone)]
pub enum Step {
    Case(Case),
    Mail(MailWait),
    Totp(TotpCode),
    Claims(ClaimCheck),
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Case(case) => case.name,
            Self::Mail(wait) => wait.name,
            Self::Totp(totp) => totp.name,
            Self::Claims(check) => check.name,
        }
    }
}

/// What an authenticator app shows now for the secret an earlier case saved: the code saved as a
/// variable for the next case to send.
#[derive(Debug, Clone)]
pub struct TotpCode {
    pub name: &'static str,
    /// The variable holding the base32 secret.
    pub secret: &'static str,
    /// The variable the code is saved as.
    pub save: &'static str,
}

impl TotpCode {
    /// Saves the current code in `vars`.
    pub fn play(&self, vars: &mut Vars) -> Result<(), String> {
        let secret = vars.get(self.secret).ok_or_else(|| format!("no {{{}}} (an earlier case failed)", self.secret))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| format!("the clock: {e}"))?.as_secs();
        let code = totp_code(secret, now)?;
        vars.set(self.save, &code);
        Ok(())
    }
}

/// RFC 6238 as the origin runs it (shared/src/mfa.rs): SHA-1, 6 digits, 30-second steps; the
/// code of the step `unix_time` falls in.
pub fn totp_code(base32_secret: &str, unix_time: u64) -> Result<String, String> {
    let secret = Secret::try_from_base32(base32_secret)
        .map_err(|e| format!("the secret {base32_secret:?} is not base32: {e:?}"))?;
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .map_err(|e| format!("no TOTP from the secret: {e:?}"))?;
    Ok(totp.generate(unix_time).to_string())
}

/// Claims the payload of a saved JWT must hold (listed keys, lists element by element): what a
/// token says of its session, which its answer's comparison masks. Its signature is the targets'
/// to check.
#[derive(Debug, Clone)]
pub struct ClaimCheck {
    pub name: &'static str,
    /// The variable holding the token.
    pub token: &'static str,
    /// JSON (a template) the payload must contain.
    pub expect: &'static str,
}

impl ClaimCheck {
    /// The problems found in this target's token.
    pub fn check(&self, vars: &Vars) -> Vec<String> {
        let Some(token) = vars.get(self.token) else {
            return vec![format!("no {{{}}} (an earlier case failed)", self.token)];
        };
        let Some(claims) = token.split('.').nth(1).and_then(compare::decode_json) else {
            return vec![format!("{{{}}} is not a JWT with a JSON payload", self.token)];
        };
        let expected = match vars.fill(self.expect, json_escape).map(|text| serde_json::from_str::<Value>(&text)) {
            Ok(Ok(expected)) => expected,
            Ok(Err(e)) => return vec![format!("step {}: bad expected JSON: {e}", self.name)],
            Err(error) => return vec![error],
        };
        let mut missing = Vec::new();
        compare::contains(&expected, &claims, "", &mut missing);
        missing.into_iter().map(|m| format!("claim {m}")).collect()
    }
}

/// Waits for the newest mail to an address that holds a link to `page`, and saves its token.
#[derive(Debug, Clone)]
pub struct MailWait {
    pub name: &'static str,
    /// The address (a template).
    pub to: &'static str,
    /// The path of the link's page: the token follows it as `#token=`.
    pub page: &'static str,
    /// The variable the token is saved as.
    pub save: &'static str,
}

fn mail(name: &'static str, to: &'static str, page: &'static str, save: &'static str) -> Step {
    Step::Mail(MailWait { name, to, page, save })
}

fn totp(name: &'static str, secret: &'static str, save: &'static str) -> Step {
    Step::Totp(TotpCode { name, secret, save })
}

fn claims(name: &'static str, token: &'static str, expect: &'static str) -> Step {
    Step::Claims(ClaimCheck { name, token, expect })
}

/// The mail round trips' user: a fresh one, apart from the scenario's.
const MAIL_SIGN_UP: &str = r#"{"username": "{tag}.m", "password": "{password}", "email": "{tag}.m@example.com",
    "first_name": "fname", "last_name": "lname"}"#;
const MAIL_LOGIN: &str = r#"{"username": "{tag}.m", "password": "{password}"}"#;
const MAIL_NEW_LOGIN: &str = r#"{"username": "{tag}.m", "password": "{new_password}"}"#;

/// The round trips through mailed links (`--maildev`; the origin must send mail): sign-up's
/// confirmation, a password reset, an email change waiting for its new address. Each target's
/// own user, after every case of [`cases`].
pub fn mail_steps() -> Vec<Step> {
    let case = Step::Case;
    vec![
        case(
            post("mail: sign-up", "/users")
                .json(MAIL_SIGN_UP)
                .status(201)
                .schema(Schema::User)
                .expect(r#"{"username": "{tag}.m", "email": "{tag}.m@example.com", "email_verified": false}"#),
        ),
        case(post("mail: login", "/auth/login").json(MAIL_LOGIN).pair("mail_access", "mail_refresh")),
        // Sign-up mails a link that confirms the address, once.
        mail("mail: the sign-up's verify mail", "{tag}.m@example.com", "/verify", "verify_token"),
        case(
            post("mail: verify", "/auth/verify")
                .json(r#"{"token": "{verify_token}"}"#)
                .schema(Schema::User)
                .expect(r#"{"username": "{tag}.m", "email": "{tag}.m@example.com", "email_verified": true}"#),
        ),
        case(
            post("mail: verify with the spent token", "/auth/verify")
                .json(r#"{"token": "{verify_token}"}"#)
                .code(r#"{"detail": "VERIFY_USER_BAD_TOKEN"}"#),
        ),
        // A reset: the link sets a new password once, and ends every token from before.
        case(
            post("mail: forgot-password", "/auth/forgot-password")
                .json(r#"{"email": "{tag}.m@example.com"}"#)
                .null(202),
        ),
        mail("mail: the reset mail", "{tag}.m@example.com", "/reset-password", "reset_token"),
        case(
            post("mail: reset-password", "/auth/reset-password")
                .json(r#"{"token": "{reset_token}", "password": "{new_password}"}"#)
                .null(200),
        ),
        case(
            post("mail: login with the password from before the reset", "/auth/login")
                .json(MAIL_LOGIN)
                .bad_credentials(),
        ),
        case(
            post("mail: login with the new password", "/auth/login")
                .json(MAIL_NEW_LOGIN)
                .pair("reset_access", "reset_refresh"),
        ),
        case(
            post("mail: the refresh token from before the reset", "/auth/refresh")
                .json(r#"{"refresh_token": "{mail_refresh}"}"#)
                .invalid_token(),
        ),
        case(
            post("mail: reset-password with the spent token", "/auth/reset-password")
                .json(r#"{"token": "{reset_token}", "password": "{new_password}"}"#)
                .code(r#"{"detail": "RESET_PASSWORD_BAD_TOKEN"}"#),
        ),
        // With mail on, a new address waits until it confirms; the old one stays meanwhile.
        case(
            patch("mail: change the email", "/users")
                .bearer("reset_access")
                .json(r#"{"email": "{tag}.moved@example.com", "current_password": "{new_password}"}"#)
                .schema(Schema::User)
                .expect(
                    r#"{"email": "{tag}.m@example.com", "pending_email": "{tag}.moved@example.com",
                    "email_verified": true}"#,
                ),
        ),
        mail("mail: the new address's verify mail", "{tag}.moved@example.com", "/verify", "moved_token"),
        case(
            post("mail: verify the new address", "/auth/verify")
                .json(r#"{"token": "{moved_token}"}"#)
                .schema(Schema::User)
                .expect(r#"{"username": "{tag}.m", "email": "{tag}.moved@example.com", "email_verified": true}"#),
        ),
        case(
            get("mail: the user after the change", "/users")
                .bearer("reset_access")
                .schema(Schema::User)
                .expect(r#"{"email": "{tag}.moved@example.com", "email_verified": true}"#),
        ),
    ]
}

/// The second factor's user: a fresh one, apart from the others.
const MFA_SIGN_UP: &str = r#"{"username": "{tag}.f", "password": "{password}", "email": "{tag}.f@example.com",
    "first_name": "fname", "last_name": "lname"}"#;
const MFA_LOGIN: &str = r#"{"username": "{tag}.f", "password": "{password}"}"#;

/// A second factor, each target's own user (the origin needs `MFA_ENCRYPTION_KEYS`): TOTP turned
/// on with the code an authenticator app computes from the enrolment's secret, its pair lifted to
/// `aal2`; then a login that waits for the second factor, a wrong code, a recovery code (once),
/// and the count of codes left. The TOTP code's time step is spent by the confirmation: the
/// logins use recovery codes, so nothing waits for the next step.
pub fn mfa_steps() -> Vec<Step> {
    let case = Step::Case;
    vec![
        case(
            post("mfa: sign-up", "/users")
                .json(MFA_SIGN_UP)
                .status(201)
                .schema(Schema::User)
                .expect(r#"{"username": "{tag}.f", "email": "{tag}.f@example.com"}"#),
        ),
        case(post("mfa: login", "/auth/login").json(MFA_LOGIN).pair("mfa_access", "mfa_refresh")),
        claims("mfa: a password's pair is aal1", "mfa_access", r#"{"aal": "aal1", "acr": "aal1", "amr": ["pwd"]}"#),
        case(
            get("mfa: no second factor yet", "/users/mfa")
                .bearer("mfa_access")
                .expect(r#"{"totp": false, "recovery_codes_left": 0}"#),
        ),
        case(
            post("mfa: enrol with a wrong current_password", "/users/mfa/totp")
                .bearer("mfa_access")
                .json(r#"{"current_password": "not-the-right-passphrase"}"#)
                .status(403)
                .expect(r#"{"detail": "Incorrect current password"}"#),
        ),
        case(
            post("mfa: enrol", "/users/mfa/totp")
                .bearer("mfa_access")
                .json(r#"{"current_password": "{password}"}"#)
                .status(201)
                .schema(Schema::Enrolment)
                .expect_header("cache-control", "no-store")
                .compare_header("cache-control")
                .save("totp_secret", "/secret"),
        ),
        case(
            post("mfa: confirm with a wrong code", "/users/mfa/totp/confirm")
                .bearer("mfa_access")
                .json(r#"{"code": "000000"}"#)
                .code(r#"{"detail": "MFA_BAD_CODE"}"#),
        ),
        totp("mfa: the authenticator's code", "totp_secret", "totp_code"),
        case(
            post("mfa: confirm", "/users/mfa/totp/confirm")
                .bearer("mfa_access")
                .json(r#"{"code": "{totp_code}"}"#)
                .confirmed("aal2_access", "aal2_refresh")
                .save("recovery_code", "/recovery_codes/0"),
        ),
        claims(
            "mfa: the confirmed pair is aal2",
            "aal2_access",
            r#"{"aal": "aal2", "acr": "aal2", "amr": ["pwd", "otp", "mfa"]}"#,
        ),
        case(
            get("mfa: the factor is on", "/users/mfa")
                .bearer("aal2_access")
                .expect(r#"{"totp": true, "recovery_codes_left": 10}"#),
        ),
        case(post("mfa: a login asks for the second factor", "/auth/login").json(MFA_LOGIN).mfa_required("mfa_token")),
        case(
            post("mfa: a wrong code", "/auth/mfa")
                .json(r#"{"mfa_token": "{mfa_token}", "code": "000000"}"#)
                .code(r#"{"detail": "MFA_BAD_CODE"}"#),
        ),
        case(
            post("mfa: a recovery code", "/auth/mfa")
                .json(r#"{"mfa_token": "{mfa_token}", "recovery_code": "{recovery_code}"}"#)
                .pair("recovered_access", "recovered_refresh"),
        ),
        claims(
            "mfa: a recovery code's pair is aal2",
            "recovered_access",
            r#"{"aal": "aal2", "acr": "aal2", "amr": ["pwd", "mfa"]}"#,
        ),
        case(
            post("mfa: the spent mfa_token", "/auth/mfa")
                .json(r#"{"mfa_token": "{mfa_token}", "code": "000000"}"#)
                .code(r#"{"detail": "MFA_TOKEN_INVALID"}"#),
        ),
        case(
            post("mfa: another login asks for the second factor", "/auth/login")
                .json(MFA_LOGIN)
                .mfa_required("mfa_token_2"),
        ),
        case(
            post("mfa: the spent recovery code", "/auth/mfa")
                .json(r#"{"mfa_token": "{mfa_token_2}", "recovery_code": "{recovery_code}"}"#)
                .status(400)
                .same_as("mfa: a wrong code"),
        ),
        case(
            get("mfa: one recovery code fewer", "/users/mfa")
                .bearer("recovered_access")
                .expect(r#"{"totp": true, "recovery_codes_left": 9}"#),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_named_variables_only() {
        let vars = Vars::new("c1-origin", "admin", "p\"w&=");
        assert_eq!(vars.fill(r#"{"u": "{user}"}"#, json_escape).unwrap(), r#"{"u": "c1-origin.u"}"#);
        assert_eq!(vars.fill("{}", raw).unwrap(), "{}");
        assert_eq!(vars.fill("{admin_password}", json_escape).unwrap(), r#"p\"w&="#);
        assert_eq!(vars.fill("p={admin_password}", form_escape).unwrap(), "p=p%22w%26%3D");
        assert!(vars.fill("{missing}", raw).is_err());
    }

    #[test]
    fn a_jwt_yields_its_forgeries() {
        let mut vars = Vars::default();
        let header = compare::encode_json(&serde_json::json!({"alg": "HS256", "typ": "JWT"}));
        let payload = compare::encode_json(&serde_json::json!({"sub": "1", "role": "user"}));
        vars.set("access", &format!("{header}.{payload}.c2lnbmF0dXJl"));
        let none = vars.get("access_alg_none").unwrap();
        let parts: Vec<&str> = none.split('.').collect();
        assert_eq!(compare::decode_json(parts[0]).unwrap()["alg"], "none");
        assert_eq!((parts[1], parts[2]), (payload.as_str(), ""));
        let tampered = vars.get("access_tampered").unwrap();
        let parts: Vec<&str> = tampered.split('.').collect();
        assert_eq!(compare::decode_json(parts[1]).unwrap()["role"], "admin");
        assert_eq!((parts[0], parts[2]), (header.as_str(), "c2lnbmF0dXJl"));
    }

    #[test]
    fn step_names_are_unique_and_same_as_points_backwards() {
        let steps = cases().into_iter().map(Step::Case).chain(mail_steps()).chain(mfa_steps());
        let mut seen = std::collections::HashSet::new();
        for step in steps {
            let name = step.name();
            if let Step::Case(Case { same_as: Some(earlier), .. }) = &step {
                assert!(seen.contains(earlier), "{name} refers to {earlier}");
            }
            assert!(seen.insert(name), "{name} twice");
        }
    }

    #[test]
    fn every_token_a_mail_step_saves_is_used_later() {
        let steps = mail_steps();
        for (at, step) in steps.iter().enumerate() {
            if let Step::Mail(wait) = step {
                let placeholder = format!("{{{}}}", wait.save);
                let used = steps[at + 1..].iter().any(|later| {
                    matches!(later, Step::Case(case) if matches!(case.body, Body::Json(body) if body.contains(&placeholder)))
                });
                assert!(used, "{} saves {{{}}} that no later step sends", wait.name, wait.save);
            }
        }
    }

    #[test]
    fn every_code_a_totp_step_saves_is_sent_by_the_next_case() {
        let steps = mfa_steps();
        for (at, step) in steps.iter().enumerate() {
            if let Step::Totp(totp) = step {
                let placeholder = format!("{{{}}}", totp.save);
                let next = steps.get(at + 1);
                let sent = matches!(next, Some(Step::Case(case)) if matches!(case.body, Body::Json(body) if body.contains(&placeholder)));
                assert!(sent, "{} saves {{{}}}, which the next step does not send", totp.name, totp.save);
            }
        }
    }

    #[test]
    fn totp_codes_are_rfc_6238s() {
        // RFC 6238, appendix B: the SHA-1 secret "12345678901234567890", its 8-digit codes cut to 6.
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(totp_code(secret, 59).unwrap(), "287082");
        assert_eq!(totp_code(secret, 1_111_111_109).unwrap(), "081804");
        assert_eq!(totp_code(secret, 1_111_111_111).unwrap(), "050471");
        assert!(totp_code("not base32!", 59).is_err());
    }

    #[test]
    fn claim_checks_read_the_saved_tokens_payload() {
        let mut vars = Vars::default();
        let header = compare::encode_json(&serde_json::json!({"alg": "HS256", "typ": "JWT"}));
        let payload =
            compare::encode_json(&serde_json::json!({"sub": "1", "aal": "aal2", "amr": ["pwd", "otp", "mfa"]}));
        vars.set("access", &format!("{header}.{payload}.c2lnbmF0dXJl"));
        let aal2 =
            ClaimCheck { name: "aal2", token: "access", expect: r#"{"aal": "aal2", "amr": ["pwd", "otp", "mfa"]}"# };
        assert_eq!(aal2.check(&vars), Vec::<String>::new());
        let aal1 = ClaimCheck { name: "aal1", token: "access", expect: r#"{"aal": "aal1", "acr": "aal1"}"# };
        assert_eq!(aal1.check(&vars).len(), 2, "{:?}", aal1.check(&vars));
        let absent = ClaimCheck { name: "absent", token: "refresh", expect: "{}" };
        assert_eq!(absent.check(&vars).len(), 1);
    }

    #[test]
    fn the_oversized_body_has_its_size() {
        let case = post("big", "/users").body(Body::Oversized(20 * 1024));
        let request = case.request(&Vars::default()).unwrap();
        let body = request.body.unwrap();
        assert_eq!(body.len(), 20 * 1024);
        assert!(serde_json::from_slice::<Value>(&body).is_ok());
    }
}
