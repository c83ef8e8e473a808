//! What "answered alike" means: normalising the values that differ by nature (ids, dates,
//! tokens, each target's own names), the formats those values must have, the shapes of the
//! API's bodies, and readable differences between two JSON documents.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// How a case's answers are compared across targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Error bodies (4xx/5xx) identical; success bodies alike: same keys and JSON types
    /// recursively, stable values equal, volatile ones (ids, dates, tokens) of the right format.
    Auto,
    /// The whole body identical, whatever the status (a document such as the OpenAPI one).
    Exact,
    /// Only keys and JSON types, a list reduced to its distinct element shapes (a page of a list
    /// that every target's run keeps growing).
    Shape,
    /// Only the status (`GET /`, whose body the edge fills with its own view of health).
    Status,
}

/// The shape a success body must have on every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Any,
    /// The seed's user JSON and whether its address is confirmed, exactly these keys (never a
    /// password), and `pending_email` while an email change waits.
    User,
    /// A JSON list of users.
    UserList,
    /// A token pair.
    Pair,
    /// A second factor's enrolment: its base32 `secret` and `otpauth_uri`, nothing else.
    Enrolment,
    /// A confirmed second factor: ten recovery codes beside a token pair.
    Confirmed,
    /// No body at all (204).
    Empty,
}

/// The keys of the user JSON: the seed's, and `email_verified`.
pub const USER_KEYS: [&str; 10] = [
    "id",
    "username",
    "email",
    "first_name",
    "last_name",
    "active",
    "role",
    "create_date",
    "update_date",
    "email_verified",
];
/// The user JSON's key while an email change waits for the new address to confirm.
const PENDING_EMAIL: &str = "pending_email";

const PAIR_KEYS: [&str; 4] = ["access_token", "refresh_token", "token_type", "expires_in"];
/// A login's pair: the device token beside it.
const LOGIN_PAIR_KEYS: [&str; 5] = ["access_token", "refresh_token", "token_type", "expires_in", "device_token"];

/// A confirmed factor's recovery codes, and the answer's keys beside the pair's.
pub const RECOVERY_CODES: usize = 10;
const ENROLMENT_KEYS: [&str; 2] = ["secret", "otpauth_uri"];
const CONFIRMED_KEYS: [&str; 5] = ["recovery_codes", "access_token", "refresh_token", "token_type", "expires_in"];
/// The detail of a login that waits for its second factor: its body alone holds more, the
/// `mfa_token`.
pub const MFA_REQUIRED: &str = "MFA_REQUIRED";

/// Stands for a target's own run tag inside its answers, so `c1x-origin.u` and
/// `c1x-workerd.u` compare equal.
const TAG: &str = "<tag>";

/// `YYYY-MM-DDTHH:MM:SS.ffffff`: UTC, no offset, exactly six fractional digits.
pub fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 26
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// A compact JWT: three non-empty base64url parts, the first two JSON objects.
pub fn is_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
        && parts[..2].iter().all(|p| decode_json(p).is_some_and(|v| v.is_object()))
}

fn is_session_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 64 hex digits in lower case: a device token, an `mfa_token`.
fn is_hex_64(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// A TOTP secret as an authenticator app takes it: 160 bits in base32 (RFC 4648), unpadded.
fn is_totp_secret(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
}

/// A recovery code as shown: `XXXXX-XXXXX-XXXXX-XXXXX-XXX`, base32.
fn is_recovery_code(text: &str) -> bool {
    text.len() == 27
        && text
            .bytes()
            .enumerate()
            .all(|(i, c)| if i % 6 == 5 { c == b'-' } else { c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c) })
}

/// A base64url (unpadded) part of a JWT, as JSON.
pub fn decode_json(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

pub fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The mask of a volatile key's value, or why the value has the wrong format; `None` for a
/// stable key.
fn volatile(key: &str, value: &Value) -> Option<Result<&'static str, String>> {
    let text = value.as_str();
    let checked = match key {
        // A user's or an event's id, or a session's (128 random bits, hex).
        "id" if text.is_some() => text.is_some_and(is_session_id).then_some("<session id>").ok_or("a session id"),
        "id" => (value.is_i64() || value.is_u64()).then_some("<integer>").ok_or("an integer"),
        "user_id" | "actor_id" if value.is_null() => return None,
        "user_id" | "actor_id" => (value.is_i64() || value.is_u64()).then_some("<integer>").ok_or("an integer"),
        "session_id" if value.is_null() => return None,
        "session_id" => text.is_some_and(is_session_id).then_some("<session id>").ok_or("a session id"),
        // An edge whose host reports no client address (workerd serve, wasmtime serve) passes none.
        "client_ip" => (value.is_null() || text.is_some_and(|t| t.parse::<std::net::IpAddr>().is_ok()))
            .then_some("<address or none>")
            .ok_or("an address or null"),
        "create_date" | "update_date" | "created_at" | "last_used_at" | "at" => {
            text.is_some_and(is_date).then_some("<date>").ok_or("a date YYYY-MM-DDTHH:MM:SS.ffffff")
        }
        "access_token" | "refresh_token" => text.is_some_and(is_jwt).then_some("<jwt>").ok_or("a JWT"),
        "device_token" => text.is_some_and(is_hex_64).then_some("<device token>").ok_or("64 hex digits"),
        // A second factor's, each target's own.
        "secret" => text.is_some_and(is_totp_secret).then_some("<totp secret>").ok_or("32 base32 characters"),
        "otpauth_uri" => text
            .is_some_and(|t| t.starts_with("otpauth://totp/") && t.contains("secret="))
            .then_some("<otpauth uri>")
            .ok_or("an otpauth://totp/ URI with a secret"),
        "recovery_codes" => value
            .as_array()
            .is_some_and(|codes| codes.iter().all(|code| code.as_str().is_some_and(is_recovery_code)))
            .then_some("<recovery codes>")
            .ok_or("a list of codes XXXXX-XXXXX-XXXXX-XXXXX-XXX"),
        "request_id" => text.is_some_and(|t| !t.is_empty()).then_some("<request id>").ok_or("a request id"),
        _ => return None,
    };
    Some(checked.map_err(|wanted| format!("{key} is not {wanted}: {value}")))
}

/// The body with this target's tag replaced and every volatile value masked once its format is
/// checked; a wrong format is a problem (and is left unmasked, so it also differs).
pub fn normalise(value: &Value, tag: &str, problems: &mut Vec<String>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let masked = match volatile(key, v) {
                        Some(Ok(mask)) => Value::String(mask.to_owned()),
                        Some(Err(problem)) => {
                            problems.push(problem);
                            untag(v, tag)
                        }
                        None => normalise(v, tag, problems),
                    };
                    (key.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise(v, tag, problems)).collect()),
        other => untag(other, tag),
    }
}

/// The body with this target's tag replaced, nothing else touched.
pub fn untag(value: &Value, tag: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(tag, TAG)),
        Value::Array(items) => Value::Array(items.iter().map(|v| untag(v, tag)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.replace(tag, TAG), untag(v, tag))).collect()),
        other => other.clone(),
    }
}

/// Keys and JSON types only; a list becomes the sorted set of its elements' shapes.
pub fn skeleton(value: &Value) -> Value {
    let kind = |name: &str| Value::String(name.to_owned());
    match value {
        Value::Null => kind("null"),
        Value::Bool(_) => kind("boolean"),
        Value::Number(n) if n.is_f64() => kind("number"),
        Value::Number(_) => kind("integer"),
        Value::String(_) => kind("string"),
        Value::Array(items) => {
            let shapes: BTreeSet<String> = items.iter().map(|v| skeleton(v).to_string()).collect();
            Value::Array(shapes.into_iter().map(Value::String).collect())
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), skeleton(v))).collect()),
    }
}

/// The differences between two documents, by JSON pointer, at most `MAX_DIFFS`.
pub fn diff(left: &Value, right: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at(left, right, "", &mut out);
    if out.len() > MAX_DIFFS {
        let more = out.len() - MAX_DIFFS;
        out.truncate(MAX_DIFFS);
        out.push(format!("and {more} more"));
    }
    out
}

const MAX_DIFFS: usize = 6;

fn diff_at(left: &Value, right: &Value, path: &str, out: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, va) in a {
                let at = format!("{path}/{key}");
                match b.get(key) {
                    Some(vb) => diff_at(va, vb, &at, out),
                    None => out.push(format!("{at}: {} vs absent", short(va))),
                }
            }
            for (key, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(format!("{path}/{key}: absent vs {}", short(vb)));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{}: {} items vs {}", or_root(path), a.len(), b.len()));
            }
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff_at(va, vb, &format!("{path}/{i}"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{}: {} vs {}", or_root(path), short(a), short(b))),
        _ => {}
    }
}

fn or_root(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// A value for a report line, cut at a readable length.
pub fn short(value: &Value) -> String {
    cut(&value.to_string(), 160)
}

pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Whether `actual` holds everything `expected` says: an object's listed keys (others may be
/// present), a list element by element, a scalar equal.
pub fn contains(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, w) in want {
                let at = format!("{path}/{key}");
                match got.get(key) {
                    Some(g) => contains(w, g, &at, out),
                    None => out.push(format!("{at}: expected {}, absent", short(w))),
                }
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                contains(w, g, &format!("{path}/{i}"), out);
            }
        }
        (w, g) if w != g => out.push(format!("{}: expected {}, got {}", or_root(path), short(w), short(g))),
        _ => {}
    }
}

/// FastAPI's error shape: `{"detail": "..."}` or `{"detail": [{"loc", "msg", "type"}, ...]}`,
/// nothing else; `MFA_REQUIRED` also carries its `mfa_token` (64 hex digits).
pub fn check_error_body(body: &Value) -> Vec<String> {
    let Some(map) = body.as_object() else {
        return vec![format!("error body is not an object: {}", short(body))];
    };
    let mut problems = if map.get("detail").is_some_and(|detail| detail == MFA_REQUIRED) {
        let token = map.get("mfa_token").and_then(Value::as_str);
        if !token.is_some_and(is_hex_64) {
            vec![format!("MFA_REQUIRED without an mfa_token of 64 hex digits: {}", short(body))]
        } else {
            extra_keys(map, &["detail", "mfa_token"])
        }
    } else {
        extra_keys(map, &["detail"])
    };
    match map.get("detail") {
        Some(Value::String(_)) => {}
        Some(Value::Array(items)) if !items.is_empty() => {
            for item in items {
                let ok = item.as_object().is_some_and(|e| {
                    e.get("loc").is_some_and(Value::is_array)
                        && e.get("msg").is_some_and(Value::is_string)
                        && e.get("type").is_some_and(Value::is_string)
                });
                if !ok {
                    problems.push(format!("validation error is not {{loc, msg, type}}: {}", short(item)));
                }
            }
        }
        _ => problems.push(format!("error body has no string or list `detail`: {}", short(body))),
    }
    problems
}

/// Whether a success body has the schema's shape (volatile formats are checked by `normalise`).
pub fn check_schema(schema: Schema, body: Option<&Value>, raw: &[u8]) -> Vec<String> {
    match (schema, body) {
        (Schema::Any, _) => Vec::new(),
        (Schema::Empty, _) if raw.is_empty() => Vec::new(),
        (Schema::Empty, _) => vec![format!("expected no body, got {}", cut(&String::from_utf8_lossy(raw), 160))],
        (_, None) => vec!["expected a JSON body".to_owned()],
        (Schema::User, Some(body)) => check_user(body),
        (Schema::UserList, Some(Value::Array(users))) => users.iter().flat_map(check_user).collect(),
        (Schema::UserList, Some(other)) => vec![format!("expected a list of users, got {}", short(other))],
        (Schema::Pair, Some(body)) => check_pair(body),
        (Schema::Enrolment, Some(Value::Object(map))) => keys_exactly(map, &ENROLMENT_KEYS),
        (Schema::Enrolment, Some(other)) => vec![format!("expected an enrolment, got {}", short(other))],
        (Schema::Confirmed, Some(body)) => check_confirmed(body),
    }
}

/// Ten distinct recovery codes beside a pair (their format: [`normalise`]).
fn check_confirmed(body: &Value) -> Vec<String> {
    let Some(map) = body.as_object() else {
        return vec![format!("expected a confirmed factor, got {}", short(body))];
    };
    let mut problems = keys_exactly(map, &CONFIRMED_KEYS);
    problems.extend(check_pair_values(map));
    if let Some(codes) = map.get("recovery_codes").and_then(Value::as_array) {
        let distinct: BTreeSet<String> = codes.iter().map(Value::to_string).collect();
        if codes.len() != RECOVERY_CODES || distinct.len() != RECOVERY_CODES {
            problems.push(format!(
                "{} recovery codes, {} of them distinct, expected {RECOVERY_CODES}",
                codes.len(),
                distinct.len()
            ));
        }
    }
    problems
}

fn check_user(body: &Value) -> Vec<String> {
    let Some(map) = body.as_object() else {
        return vec![format!("expected a user object, got {}", short(body))];
    };
    let mut problems: Vec<String> =
        USER_KEYS.iter().filter(|k| !map.contains_key(**k)).map(|k| format!("key {k} missing")).collect();
    let mut known = USER_KEYS.to_vec();
    known.push(PENDING_EMAIL);
    problems.extend(extra_keys(map, &known));
    for key in ["username", "email", "first_name", "last_name", PENDING_EMAIL] {
        if map.get(key).is_some_and(|v| !v.is_string()) {
            problems.push(format!("{key} is not a string"));
        }
    }
    for key in ["active", "email_verified"] {
        if map.get(key).is_some_and(|v| !v.is_boolean()) {
            problems.push(format!("{key} is not a boolean"));
        }
    }
    if map.get("role").is_some_and(|v| v != "user" && v != "admin") {
        problems.push(format!("role is not \"user\" or \"admin\": {}", map["role"]));
    }
    problems
}

fn check_pair(body: &Value) -> Vec<String> {
    let Some(map) = body.as_object() else {
        return vec![format!("expected a token pair, got {}", short(body))];
    };
    let keys: &[&str] = if map.contains_key("device_token") { &LOGIN_PAIR_KEYS } else { &PAIR_KEYS };
    let mut problems = keys_exactly(map, keys);
    problems.extend(check_pair_values(map));
    problems
}

/// A pair's values: a bearer token type, a positive lifetime, two different tokens.
fn check_pair_values(map: &Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    if map.get("token_type").is_some_and(|v| v != "bearer") {
        problems.push(format!("token_type is not \"bearer\": {}", map["token_type"]));
    }
    if map.get("expires_in").is_some_and(|v| v.as_u64().is_none_or(|n| n == 0)) {
        problems.push(format!("expires_in is not a positive integer: {}", map["expires_in"]));
    }
    if map.get("access_token").is_some() && map.get("access_token") == map.get("refresh_token") {
        problems.push("access_token and refresh_token are the same token".to_owned());
    }
    problems
}

fn keys_exactly(map: &Map<String, Value>, keys: &[&str]) -> Vec<String> {
    let mut problems: Vec<String> =
        keys.iter().filter(|k| !map.contains_key(**k)).map(|k| format!("key {k} missing")).collect();
    problems.extend(extra_keys(map, keys));
    problems
}

fn extra_keys(map: &Map<String, Value>, keys: &[&str]) -> Vec<String> {
    map.keys().filter(|k| !keys.contains(&k.as_str())).map(|k| format!("unexpected key {k}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_have_six_fractional_digits() {
        assert!(is_date("2023-11-17T13:23:45.737500"));
        assert!(!is_date("2023-11-17T13:23:45.7375"));
        assert!(!is_date("2023-11-17T13:23:45.737500Z"));
        assert!(!is_date("2023-11-17 13:23:45.737500"));
    }

    #[test]
    fn jwts_are_three_base64url_parts() {
        let header = encode_json(&json!({"alg": "HS256"}));
        let payload = encode_json(&json!({"sub": "1"}));
        assert!(is_jwt(&format!("{header}.{payload}.c2ln")));
        assert!(!is_jwt(&format!("{header}.{payload}.")));
        assert!(!is_jwt("a.b"));
        assert!(!is_jwt(&format!("{header}.{payload}.si+g")));
    }

    #[test]
    fn normalising_masks_volatile_values_and_the_tag_only() {
        let mut problems = Vec::new();
        let a =
            json!({"id": 7, "username": "c1-origin.u", "create_date": "2023-11-17T13:23:45.737500", "active": true});
        let b = json!({"id": 9, "username": "c1-edge.u", "create_date": "2024-01-01T00:00:00.000001", "active": true});
        assert_eq!(normalise(&a, "c1-origin", &mut problems), normalise(&b, "c1-edge", &mut problems));
        assert!(problems.is_empty());
        let c = json!({"id": "9", "username": "c1-edge.u", "create_date": "2024-01-01T00:00:00Z", "active": false});
        let normal = normalise(&c, "c1-edge", &mut problems);
        assert_eq!(problems.len(), 2);
        assert_eq!(diff(&normalise(&a, "c1-origin", &mut Vec::new()), &normal).len(), 3);
    }

    #[test]
    fn shapes_ignore_values_and_list_lengths() {
        let a = json!([{"id": 1, "role": "admin"}, {"id": 2, "role": "user"}]);
        let b = json!([{"id": 5, "role": "user"}]);
        assert_eq!(skeleton(&a), skeleton(&b));
        assert_ne!(skeleton(&a), skeleton(&json!([{"id": "5", "role": "user"}])));
    }

    #[test]
    fn a_second_factors_secrets_are_masked_once_their_format_is_checked() {
        let code = "ABCDE-FGHIJ-KLMNO-PQRST-UV2";
        let codes: Vec<&str> = (0..RECOVERY_CODES).map(|_| code).collect();
        let enrolment = json!({"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "otpauth_uri": "otpauth://totp/jwt-auth:c1-origin.f?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"});
        let mut problems = Vec::new();
        let masked = normalise(&enrolment, "c1-origin", &mut problems);
        assert_eq!(masked, json!({"secret": "<totp secret>", "otpauth_uri": "<otpauth uri>"}));
        assert_eq!(
            normalise(&json!({"recovery_codes": codes}), "t", &mut problems)["recovery_codes"],
            "<recovery codes>"
        );
        assert!(problems.is_empty(), "{problems:?}");
        normalise(
            &json!({"secret": "jbswy3dp", "otpauth_uri": "https://x", "recovery_codes": ["abc"]}),
            "t",
            &mut problems,
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(check_schema(Schema::Enrolment, Some(&enrolment), b"").is_empty());
        // Ten distinct codes beside a pair; the same code ten times is wrong.
        let pair = |codes: Vec<String>| json!({"recovery_codes": codes, "access_token": "a", "refresh_token": "r", "token_type": "bearer", "expires_in": 900});
        let distinct: Vec<String> =
            (b'A'..b'K').map(|c| format!("ABCDE-FGHIJ-KLMNO-PQRST-UV{}", char::from(c))).collect();
        assert!(check_schema(Schema::Confirmed, Some(&pair(distinct)), b"").is_empty());
        assert_eq!(check_schema(Schema::Confirmed, Some(&pair(vec![code.to_owned(); RECOVERY_CODES])), b"").len(), 1);
    }

    #[test]
    fn only_mfa_required_carries_an_mfa_token() {
        let token = "0123456789abcdef".repeat(4);
        assert!(check_error_body(&json!({"detail": "MFA_REQUIRED", "mfa_token": token})).is_empty());
        assert_eq!(check_error_body(&json!({"detail": "MFA_REQUIRED"})).len(), 1);
        assert_eq!(check_error_body(&json!({"detail": "MFA_REQUIRED", "mfa_token": "short"})).len(), 1);
        assert_eq!(check_error_body(&json!({"detail": "MFA_BAD_CODE", "mfa_token": token})).len(), 1);
    }

    #[test]
    fn containment_is_partial_for_objects_only() {
        let mut out = Vec::new();
        contains(
            &json!({"detail": [{"type": "missing"}]}),
            &json!({"detail": [{"type": "missing", "msg": "x"}]}),
            "",
            &mut out,
        );
        assert!(out.is_empty());
        contains(&json!({"detail": "a"}), &json!({"detail": "b"}), "", &mut out);
        assert_eq!(out, ["/detail: expected \"a\", got \"b\""]);
    }
}
