//! The edge's promise, proved from the origin's side: a forged or wrong-kind token is answered at
//! the edge and never reaches the origin. Each forged request carries a request id of its own;
//! none may appear in the origin's log, while a good request's id must (so the check can fail),
//! and, when its metrics are given, the origin must count that good request once.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::client::{Client, Request};

fn get_users(token: &str, request_id: &str) -> Request {
    users("GET", token, request_id)
}

fn users(method: &'static str, token: &str, request_id: &str) -> Request {
    Request {
        method,
        path: "/users".into(),
        headers: vec![("authorization".into(), format!("Bearer {token}")), ("x-request-id".into(), request_id.into())],
        body: None,
    }
}

/// What the check reads of the origin.
pub struct Origin<'a> {
    /// The file the origin logs to.
    pub log: &'a Path,
    /// Its `/metrics` URL.
    pub metrics: Option<&'a str>,
}

/// The series a good `GET /users` increments.
const USERS_OK: &str = r#"http_requests_total{method="GET",route="/users",status="200"}"#;

/// The value of `series` in the origin's metrics (0 while absent).
pub fn counted(client: &Client, metrics_url: &str, series: &str) -> Result<f64, String> {
    let text = metrics(client, metrics_url)?;
    Ok(text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0))
}

/// Every request the origin has answered, whatever its method, route and status.
pub fn requests_total(client: &Client, metrics_url: &str) -> Result<f64, String> {
    Ok(sum_requests(&metrics(client, metrics_url)?))
}

/// The sum of every `http_requests_total` series in the text exposition format.
fn sum_requests(text: &str) -> f64 {
    text.lines()
        .filter_map(|line| line.strip_prefix("http_requests_total{")?.rsplit_once("} "))
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .sum()
}

/// The origin's metrics, as text.
fn metrics(client: &Client, metrics_url: &str) -> Result<String, String> {
    let (base, path) = metrics_url
        .find("://")
        .and_then(|scheme| metrics_url[scheme + 3..].find('/').map(|slash| metrics_url.split_at(scheme + 3 + slash)))
        .ok_or_else(|| format!("{metrics_url}: not a URL with a path"))?;
    let request = Request { method: "GET", path: path.to_owned(), headers: Vec::new(), body: None };
    let response = client.send(base, &request)?;
    if response.status != 200 {
        return Err(format!("{metrics_url}: status {}", response.status));
    }
    Ok(String::from_utf8_lossy(&response.body).into_owned())
}

/// The problems found on the edge at `base`.
pub fn never_reaches_origin(
    client: &Client,
    base: &str,
    origin: Origin<'_>,
    run_id: &str,
    admin: (&str, &str),
) -> Vec<String> {
    let origin_log = origin.log;
    let login = Request {
        method: "POST",
        path: "/auth/login".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(serde_json::json!({"username": admin.0, "password": admin.1}).to_string().into_bytes()),
    };
    let pair: Value = match client.send(base, &login) {
        Ok(r) if r.status == 200 => serde_json::from_slice(&r.body).unwrap_or_default(),
        Ok(r) => return vec![format!("admin login: status {}", r.status)],
        Err(e) => return vec![format!("admin login: {e}")],
    };
    let (Some(access), Some(refresh)) = (pair["access_token"].as_str(), pair["refresh_token"].as_str()) else {
        return vec!["admin login: no token pair".into()];
    };
    let parts: Vec<&str> = access.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let hs512_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let tampered = {
        let mut claims: Value =
            URL_SAFE_NO_PAD.decode(parts[1]).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        claims["sub"] = Value::String("1".into());
        claims["exp"] = Value::from(4_102_444_800u64);
        URL_SAFE_NO_PAD.encode(claims.to_string())
    };
    // Headers that point elsewhere: a key id full of path or SQL characters, a key URL (`jku`,
    // `x5u`) of the attacker's. This suite holds no key, so the genuine signature no longer covers
    // them: what they show is that such a header dies at the edge like any forgery (the unit tests
    // of shared/src/token.rs sign them with the genuine key, where only the `kid` can refuse).
    let with_header = |extra: Value| {
        let mut header: Value =
            URL_SAFE_NO_PAD.decode(parts[0]).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        if let (Some(header), Value::Object(extra)) = (header.as_object_mut(), extra) {
            header.extend(extra);
        }
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), parts[1], parts[2])
    };
    let forged = [
        ("kid with path characters", with_header(serde_json::json!({"kid": "../../../../etc/passwd"}))),
        ("kid with SQL", with_header(serde_json::json!({"kid": "x' OR '1'='1"}))),
        (
            "jku and x5u of the attacker",
            with_header(
                serde_json::json!({"jku": "https://attacker.example/jwks.json", "x5u": "https://attacker.example/c.pem"}),
            ),
        ),
        ("alg none", format!("{none_header}.{}.", parts[1])),
        ("another algorithm", format!("{hs512_header}.{}.{}", parts[1], parts[2])),
        ("tampered payload", format!("{}.{tampered}.{}", parts[0], parts[2])),
        ("a refresh token as access token", refresh.to_owned()),
        ("garbage", "not.a.token".to_owned()),
    ];

    let mut problems = Vec::new();
    let mut ids = Vec::new();
    for (n, (what, token)) in forged.iter().enumerate() {
        let id = format!("gate-{run_id}-{n}");
        match client.send(base, &get_users(token, &id)) {
            Ok(r) if r.status == 401 => ids.push((what, id)),
            Ok(r) => problems.push(format!("{what}: status {}, expected 401", r.status)),
            Err(e) => problems.push(format!("{what}: {e}")),
        }
    }
    // HEAD runs the origin's GET handler: it must be gated as GET is.
    let head_id = format!("gate-{run_id}-head");
    match client.send(base, &users("HEAD", "not.a.token", &head_id)) {
        Ok(r) if r.status == 401 => ids.push((&"HEAD with garbage", head_id)),
        Ok(r) => problems.push(format!("HEAD with garbage: status {}, expected 401", r.status)),
        Err(e) => problems.push(format!("HEAD with garbage: {e}")),
    }
    let control = format!("gate-{run_id}-good");
    let before = origin.metrics.map(|url| counted(client, url, USERS_OK));
    match client.send(base, &get_users(access, &control)) {
        Ok(r) if r.status == 200 => {}
        Ok(r) => problems.push(format!("a good token: status {}, expected 200", r.status)),
        Err(e) => problems.push(format!("a good token: {e}")),
    }
    if let (Some(url), Some(before)) = (origin.metrics, before) {
        match (before, counted(client, url, USERS_OK)) {
            (Ok(before), Ok(after)) if (after - before - 1.0).abs() < f64::EPSILON => {}
            (Ok(before), Ok(after)) => problems.push(format!(
                "the good request moved {USERS_OK} from {before} to {after} in the origin's metrics, not by 1"
            )),
            (Err(e), _) | (_, Err(e)) => problems.push(format!("the origin's metrics: {e}")),
        }
    }
    // The origin writes its line as it answers; give the write a moment to land.
    let mut log = String::new();
    for _ in 0..20 {
        log = std::fs::read_to_string(origin_log).unwrap_or_default();
        if log.contains(&control) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !log.contains(&control) {
        problems.push(format!(
            "the good request ({control}) is not in {}: the check cannot see requests",
            origin_log.display()
        ));
    }
    for (what, id) in ids {
        if log.contains(&id) {
            problems.push(format!("{what} reached the origin (request id {id} is in its log)"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_of_requests_is_summed_and_nothing_else() {
        let text = "# HELP http_requests HTTP requests answered, by method, route and status.\n\
            # TYPE http_requests counter\n\
            http_requests_total{method=\"GET\",route=\"/users\",status=\"200\"} 3\n\
            http_requests_total{method=\"POST\",route=\"/auth/login\",status=\"401\"} 2\n\
            http_request_duration_seconds_count{method=\"GET\",route=\"/users\"} 3\n\
            login_failures_total 7\n";
        assert!((sum_requests(text) - 5.0).abs() < f64::EPSILON);
        assert!(sum_requests("").abs() < f64::EPSILON);
    }
}
