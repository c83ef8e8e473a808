//! `conformance --step-up PREFIX:PASSWORD`: RFC 9470's step-up, on targets whose origin and edge
//! hosts all run with `REQUIRE_AAL2=admin`. Each target has an admin of its own, `PREFIX-NAME`
//! (`origin create-admin`, no second factor yet), who logs in with the password alone: its `aal1`
//! token gets the step-up challenge on every admin route it tries, and behind an edge the origin
//! never sees those requests (with `--origin-metrics`, its count of requests does not move; the
//! first target is the origin itself, which answers them). The admin then turns TOTP on; the
//! confirmation's `aal2` token is let through, and behind an edge counted by the origin once.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::cases::totp_code;
use crate::client::{Client, Request, Response};
use crate::compare::decode_json;
use crate::gate;

/// RFC 9470's challenge, as every target must send it.
pub const CHALLENGE: &str = r#"Bearer error="insufficient_user_authentication", error_description="A second factor is required", acr_values="aal2""#;
const DETAIL: &str = "A second factor is required";
/// The admin routes the `aal1` token tries.
const ADMIN_ROUTES: [&str; 2] = ["/users/admin", "/users/admin/audit?limit=1"];
/// The series the `aal2` token's `GET /users/admin` increments.
const ADMIN_LIST_OK: &str = r#"http_requests_total{method="GET",route="/users/admin",status="200"}"#;

/// One target of the step-up.
pub struct Target<'a> {
    pub base: &'a str,
    /// The origin's `/metrics`, for a target in front of it (`None` for the origin itself).
    pub origin_metrics: Option<&'a str>,
}

/// Plays the step-up on `target` as the admin `username`; the problems found.
pub fn play(client: &Client, target: &Target<'_>, username: &str, password: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(error) = run(client, target, (username, password), &mut problems) {
        problems.push(error);
    }
    problems
}

/// The step-up, the problems found pushed as they come; an error for one that stops it.
fn run(client: &Client, target: &Target<'_>, admin: (&str, &str), problems: &mut Vec<String>) -> Result<(), String> {
    let send = |what: &str, request: Request| {
        client.send(target.base, &request).map_err(|e| format!("{what}: request failed: {e}"))
    };
    let (username, password) = admin;
    let login =
        send("the admin's login", post("/auth/login", None, &json!({"username": username, "password": password})))?;
    let pair = expect_json(&login, 200, "the admin's login with the password alone")?;
    let aal1 = token(&pair, "access_token", "the login")?;
    check_aal(&aal1, "aal1", "the login's access token", problems);

    let metrics = target.origin_metrics;
    let before = metrics.map(|url| gate::requests_total(client, url)).transpose()?;
    for route in ADMIN_ROUTES {
        let answer = send(&format!("GET {route} with the aal1 token"), get(route, &aal1))?;
        let what = format!("GET {route} with the aal1 token");
        if answer.status != 401 {
            problems.push(format!("{what}: status {}, expected 401: {}", answer.status, body_text(&answer)));
            continue;
        }
        let challenge = answer.header("www-authenticate");
        if challenge.as_deref() != Some(CHALLENGE) {
            problems.push(format!("{what}: WWW-Authenticate {challenge:?}, expected {CHALLENGE:?}"));
        }
        let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
        if body != Some(json!({"detail": DETAIL})) {
            problems.push(format!("{what}: body {}, expected {{\"detail\": {DETAIL:?}}}", body_text(&answer)));
        }
    }
    if let (Some(url), Some(before)) = (metrics, before) {
        let after = gate::requests_total(client, url)?;
        if (after - before).abs() > f64::EPSILON {
            problems.push(format!(
                "the aal1 token's requests reached the origin: it counted {} requests meanwhile, expected none",
                after - before
            ));
        }
    }

    let enrol = send("enrol", post("/users/mfa/totp", Some(&aal1), &json!({"current_password": password})))?;
    let enrolment = expect_json(&enrol, 201, "POST /users/mfa/totp")?;
    let secret = enrolment["secret"].as_str().ok_or_else(|| format!("the enrolment holds no secret: {enrolment}"))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| format!("the clock: {e}"))?.as_secs();
    let code = totp_code(secret, now)?;
    let confirm = send("confirm", post("/users/mfa/totp/confirm", Some(&aal1), &json!({"code": code})))?;
    let confirmed = expect_json(&confirm, 200, "POST /users/mfa/totp/confirm")?;
    let aal2 = token(&confirmed, "access_token", "the confirmation")?;
    check_aal(&aal2, "aal2", "the confirmation's access token", problems);

    let before = metrics.map(|url| gate::counted(client, url, ADMIN_LIST_OK)).transpose()?;
    for route in ADMIN_ROUTES {
        let answer = send(&format!("GET {route} with the aal2 token"), get(route, &aal2))?;
        if answer.status != 200 {
            problems.push(format!(
                "GET {route} with the aal2 token: status {}, expected 200: {}",
                answer.status,
                body_text(&answer)
            ));
        }
    }
    if let (Some(url), Some(before)) = (metrics, before) {
        let after = gate::counted(client, url, ADMIN_LIST_OK)?;
        if (after - before - 1.0).abs() > f64::EPSILON {
            problems.push(format!(
                "the aal2 token's GET /users/admin moved {ADMIN_LIST_OK} from {before} to {after} in the origin's \
                 metrics, not by 1"
            ));
        }
    }
    Ok(())
}

fn get(path: &str, token: &str) -> Request {
    Request {
        method: "GET",
        path: path.to_owned(),
        headers: vec![("authorization".to_owned(), format!("Bearer {token}"))],
        body: None,
    }
}

fn post(path: &str, token: Option<&str>, body: &Value) -> Request {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(token) = token {
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    Request { method: "POST", path: path.to_owned(), headers, body: Some(body.to_string().into_bytes()) }
}

fn body_text(response: &Response) -> String {
    crate::compare::cut(&String::from_utf8_lossy(&response.body), 300)
}

/// The body of an answer of status `want`; an error otherwise (the step-up cannot go on).
fn expect_json(response: &Response, want: u16, what: &str) -> Result<Value, String> {
    if response.status != want {
        return Err(format!("{what}: status {}, expected {want}: {}", response.status, body_text(response)));
    }
    serde_json::from_slice(&response.body)
        .map_err(|e| format!("{what}: the body is not JSON ({e}): {}", body_text(response)))
}

fn token(body: &Value, key: &str, what: &str) -> Result<String, String> {
    body[key].as_str().map(str::to_owned).ok_or_else(|| format!("{what}: no {key}"))
}

/// The token's `aal` and `acr` claims must both say `want`.
fn check_aal(token: &str, want: &str, what: &str, problems: &mut Vec<String>) {
    let claims = token.split('.').nth(1).and_then(decode_json).unwrap_or_default();
    for claim in ["aal", "acr"] {
        if claims[claim] != want {
            problems.push(format!("{what}: {claim} is {}, expected {want:?}", claims[claim]));
        }
    }
}
