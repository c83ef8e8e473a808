//! `conformance --attack`: the lockout attack of issue 14, played through an edge against an origin
//! with its default login limits. A stranger guessing the owner's password must not lock the
//! owner out:
//!
//! - where the host gives a trusted client address (`ADDRESS-HEADER`, e.g. `cf-connecting-ip`
//!   under `wrangler dev`), strangers fail from 30 addresses, five guesses each; each locks only
//!   its own (account, address) pair, the account is held for new sources after 100 failures, and
//!   the owner still logs in from an address it used before;
//! - where it gives none (`workerd serve` as compose runs it), 100 failures pass with no shared
//!   bucket locking anyone, then the account is held for every login without the device token,
//!   and the owner's device still gets in.

use serde_json::{Value, json};

use crate::client::{Client, Request};

const WRONG: &str = "certainly-not-the-password";
const PASSWORD: &str = "an-owner-passphrase-42";
const OWNER_HOME: &str = "198.51.100.7";
/// `LOGIN_MAX_FAILURES_PER_ACCOUNT`'s default, which the origin must run with.
const ACCOUNT_MAX: usize = 100;

struct Target<'a> {
    client: &'a Client,
    base: &'a str,
    address_header: Option<&'a str>,
}

impl Target<'_> {
    fn post(&self, path: &str, body: &Value, from: &str) -> Result<(u16, Value), String> {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(header) = self.address_header {
            headers.push((header.to_owned(), from.to_owned()));
        }
        let request =
            Request { method: "POST", path: path.to_owned(), headers, body: Some(body.to_string().into_bytes()) };
        let response = self.client.send(self.base, &request)?;
        Ok((response.status, serde_json::from_slice(&response.body).unwrap_or(Value::Null)))
    }

    fn login(&self, username: &str, password: &str, from: &str, device: Option<&str>) -> Result<(u16, Value), String> {
        let mut body = json!({"username": username, "password": password});
        if let Some(device) = device {
            body["device_token"] = json!(device);
        }
        self.post("/auth/login", &body, from)
    }
}

/// Plays the attack on the target at `base`; the problems found.
pub fn play(client: &Client, base: &str, address_header: Option<&str>, tag: &str) -> Vec<String> {
    let target = Target { client, base, address_header };
    match run(&target, tag) {
        Ok(problems) => problems,
        Err(error) => vec![error],
    }
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn expect(&mut self, what: &str, got: u16, want: u16) -> bool {
        if got != want {
            self.0.push(format!("{what}: status {got}, expected {want}"));
        }
        got == want
    }
}

fn run(target: &Target<'_>, tag: &str) -> Result<Vec<String>, String> {
    let mut problems = Problems::default();
    let victim = format!("{tag}.victim");
    let email = format!("{tag}.victim@example.com");
    let sign_up =
        json!({"username": victim, "password": PASSWORD, "email": email, "first_name": "V", "last_name": "O"});
    let (status, body) = target.post("/users", &sign_up, OWNER_HOME)?;
    if status != 201 {
        return Err(format!("sign-up: status {status}, expected 201: {body}"));
    }
    let (status, body) = target.login(&victim, PASSWORD, OWNER_HOME, None)?;
    problems.expect("the owner's first login", status, 200);
    let device =
        body["device_token"].as_str().ok_or_else(|| format!("no device_token in the login's answer: {body}"))?;
    let device = device.to_owned();

    let mut failures = 0;
    if target.address_header.is_some() {
        for n in 1..=30 {
            let stranger = format!("203.0.113.{n}");
            for _ in 0..5 {
                match target.login(&victim, WRONG, &stranger, None)?.0 {
                    401 => failures += 1,
                    429 if failures >= ACCOUNT_MAX => {}
                    status => _ = problems.expect(&format!("a guess from {stranger}"), status, 401),
                }
            }
            let (status, _) = target.login(&victim, PASSWORD, &stranger, None)?;
            problems.expect(&format!("the right password from {stranger}, whose pair is locked"), status, 429);
        }
    } else {
        for _ in 0..ACCOUNT_MAX {
            match target.login(&victim, WRONG, "", None)?.0 {
                401 => failures += 1,
                status => _ = problems.expect("a guess with no client address (no shared bucket)", status, 401),
            }
        }
    }
    if failures != ACCOUNT_MAX {
        problems.0.push(format!("{failures} guesses were checked before the account held, expected {ACCOUNT_MAX}"));
    }
    let new_place = "192.0.2.44";
    problems.expect("the right password from a new source", target.login(&victim, PASSWORD, new_place, None)?.0, 429);
    // Either success lifts the hold for new sources: with an address, the owner comes home first.
    if target.address_header.is_some() {
        let (status, _) = target.login(&victim, PASSWORD, OWNER_HOME, None)?;
        problems.expect("the owner from an address it used before", status, 200);
    }
    let (status, body) = target.login(&victim, PASSWORD, new_place, Some(&device))?;
    if problems.expect("the owner's device from a new source", status, 200) && body["device_token"] != json!(device) {
        problems.0.push(format!("the device's login answered another device_token: {body}"));
    }
    Ok(problems.0)
}
