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
        "device_token" => text
            .is_some_and(|t| t.len() == 64 && t.bytes().all(|c| c.is_ascii_hexdigit()))
            .then_some("<device token>")
            .ok_or("64 hex digits"),
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
/// nothing else.
pub fn check_error_body(body: &Value) -> Vec<String> {
    let Some(map) = body.as_object() else {
        return vec![format!("error body is not an object: {}", short(body))];
    };
    let mut problems = extra_keys(map, &["detail"]);
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
    }
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
