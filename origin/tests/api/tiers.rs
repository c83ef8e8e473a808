//! Login throttling in tiers: strangers' failures cannot lock the owner out. Failures lock the
//! (account, address) pair that made them; the account as a whole is held only for new sources
//! after 100 consecutive failures, and an address it logged in from or a device token it got
//! still get in. Logins come "through the edge" here (the service credential and the client
//! address header), so that each can come from an address of its own.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app_with, status_json};

const EDGE: &str = "edge-service-token-current-0123456789abcdef";
const WRONG: &str = "certainly-not-the-password";
const OWNER_HOME: &str = "198.51.100.7";

async fn app(vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("EDGE_SERVICE_TOKEN", EDGE), ("DB_POOL_SIZE", "8")];
    all.extend_from_slice(vars);
    spawn_app_with(&all).await
}

/// A login through the edge from `ip` (none: an edge that reports no address), with `device`.
async fn login(
    app: &TestApp,
    username: &str,
    password: &str,
    ip: Option<&str>,
    device: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"username": username, "password": password});
    if let Some(device) = device {
        body["device_token"] = json!(device);
    }
    let mut request = app.client.post(format!("{}/auth/login", app.url)).header("x-edge-token", EDGE).json(&body);
    if let Some(ip) = ip {
        request = request.header("x-edge-client-ip", ip);
    }
    status_json(request.send().await.unwrap()).await
}

fn device_token(body: &Value) -> String {
    let token = body["device_token"].as_str().expect("a device_token beside the pair");
    assert_eq!(token.len(), 64, "{token}");
    token.to_owned()
}

fn stranger(n: usize) -> String {
    format!("203.0.113.{n}")
}

#[tokio::test]
async fn strangers_failing_from_thirty_addresses_cannot_stop_the_owner_at_home_or_on_a_known_device() {
    let app = app(&[]).await;
    app.sign_up("victim").await;
    let (status, body) = login(&app, "victim", PASSWORD, Some(OWNER_HOME), None).await;
    assert_eq!(status, StatusCode::OK);
    let device = device_token(&body);

    // Five failures lock each attacker's own pair; after 100 (twenty addresses) the account is
    // held for new sources, so the last ten addresses get no password checked at all.
    let mut failures = 0;
    for n in 1..=30 {
        for _ in 0..5 {
            match login(&app, "victim", WRONG, Some(&stranger(n)), None).await.0 {
                StatusCode::UNAUTHORIZED => failures += 1,
                status => assert_eq!((n > 20, status), (true, StatusCode::TOO_MANY_REQUESTS)),
            }
        }
        let (status, _) = login(&app, "victim", PASSWORD, Some(&stranger(n)), None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the pair of {n} is locked, or the account");
    }
    assert_eq!(failures, 100);
    let (status, _) = login(&app, "victim", PASSWORD, Some("192.0.2.99"), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "past 100 failures, a new source is held");

    assert_eq!(login(&app, "victim", PASSWORD, Some(OWNER_HOME), None).await.0, StatusCode::OK, "an address it used");
    let (status, body) = login(&app, "victim", PASSWORD, Some("192.0.2.99"), Some(&device)).await;
    assert_eq!(status, StatusCode::OK, "a known device from anywhere");
    assert_eq!(body["device_token"].as_str(), Some(device.as_str()), "the device keeps its token");

    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"login_throttled_total{tier="pair"} 20"#), "{metrics}");
    assert!(metrics.contains(r#"login_throttled_total{tier="account"} 61"#), "10 x 6 and one: {metrics}");
}

#[tokio::test]
async fn a_hundred_consecutive_failures_from_new_sources_hold_the_account_for_new_sources_until_a_success() {
    let app = app(&[]).await;
    app.sign_up("victim").await;
    let (_, body) = login(&app, "victim", PASSWORD, Some(OWNER_HOME), None).await;
    let device = device_token(&body);
    for n in 0..99 {
        // Four per address: no pair is ever locked, only the account counts up.
        assert_eq!(login(&app, "victim", WRONG, Some(&stranger(n / 4)), None).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app, "victim", PASSWORD, Some("192.0.2.1"), None).await.0, StatusCode::OK, "99 do not hold it");
    for n in 0..100 {
        assert_eq!(login(&app, "victim", WRONG, Some(&stranger(25 + n / 4)), None).await.0, StatusCode::UNAUTHORIZED);
    }
    let hashes = app.hasher.count();
    let held = app.client.post(format!("{}/auth/login", app.url)).header("x-edge-token", EDGE);
    let held = held.header("x-edge-client-ip", "192.0.2.2").json(&json!({"username": "victim", "password": PASSWORD}));
    let held = held.send().await.unwrap();
    assert_eq!(
        (held.status(), held.headers()["retry-after"].to_str().unwrap()),
        (StatusCode::TOO_MANY_REQUESTS, "900")
    );
    assert_eq!(app.hasher.count(), hashes, "held before any hash");
    let (status, _) = login(&app, "nobody-at-all", WRONG, Some("192.0.2.2"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another account is not held");
    app.clock.advance(7 * 24 * 3600);
    assert_eq!(
        login(&app, "victim", PASSWORD, Some("192.0.2.3"), None).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "no lapse"
    );

    assert_eq!(login(&app, "victim", PASSWORD, Some("192.0.2.3"), Some(&device)).await.0, StatusCode::OK);
    assert_eq!(
        login(&app, "victim", PASSWORD, Some("192.0.2.4"), None).await.0,
        StatusCode::OK,
        "the success lifted it"
    );
    let events = audit_events(&app).await;
    assert!(events.contains(&"login_locked account".to_owned()), "{events:?}");
    assert!(events.contains(&"login_unlocked account".to_owned()), "{events:?}");
}

#[tokio::test]
async fn names_nobody_has_are_held_alike_by_the_account_tier() {
    let app = app(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "6")]).await;
    app.sign_up("victim").await;
    for name in ["victim", "nobody"] {
        for n in 0..6 {
            assert_eq!(login(&app, name, WRONG, Some(&stranger(n)), None).await.0, StatusCode::UNAUTHORIZED, "{name}");
        }
        let (status, body) = login(&app, name, PASSWORD, Some("192.0.2.1"), None).await;
        assert_eq!(
            (status, body),
            (StatusCode::TOO_MANY_REQUESTS, json!({"detail": "Too many attempts, try again later"}))
        );
    }
}

#[tokio::test]
async fn with_no_client_address_there_is_no_shared_bucket_but_the_account_tier_holds() {
    let app = app(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "12")]).await;
    app.sign_up("victim").await;
    app.sign_up("bystander").await;
    let (_, body) = login(&app, "victim", PASSWORD, None, None).await;
    let device = device_token(&body);
    // More failures than a pair may have, on two accounts: no pair or address counter holds.
    for _ in 0..11 {
        assert_eq!(login(&app, "victim", WRONG, None, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(login(&app, "someone", WRONG, None, None).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app, "bystander", PASSWORD, None, None).await.0, StatusCode::OK, "nobody else is held");
    assert_eq!(login(&app, "victim", PASSWORD, None, None).await.0, StatusCode::OK, "11 failures, then a success");
    for _ in 0..12 {
        assert_eq!(login(&app, "victim", WRONG, None, None).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app, "victim", PASSWORD, None, None).await.0, StatusCode::TOO_MANY_REQUESTS, "the account tier");
    assert_eq!(login(&app, "victim", PASSWORD, None, Some(&device)).await.0, StatusCode::OK, "its device gets in");
}

#[tokio::test]
async fn a_device_that_fails_too_often_loses_its_privilege() {
    let app = app(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "4")]).await;
    app.sign_up("victim").await;
    let (_, body) = login(&app, "victim", PASSWORD, Some(OWNER_HOME), None).await;
    let device = device_token(&body);
    for n in 0..4 {
        login(&app, "victim", WRONG, Some(&stranger(n)), None).await;
    }
    assert_eq!(login(&app, "victim", PASSWORD, Some("192.0.2.1"), None).await.0, StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..3 {
        let (status, _) = login(&app, "victim", WRONG, Some("192.0.2.1"), Some(&device)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a device's failures are its own");
    }
    let (status, _) = login(&app, "victim", PASSWORD, Some("192.0.2.1"), Some(&device)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "three failures made it a stranger");
    assert!(audit_events(&app).await.contains(&"device_forgotten".to_owned()));
}

#[tokio::test]
async fn twenty_concurrent_correct_logins_all_succeed() {
    let app = app(&[]).await;
    app.sign_up("owner").await;
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, url) = (app.client.clone(), app.url.clone());
        logins.spawn(async move {
            let body = json!({"username": "owner", "password": PASSWORD});
            client.post(format!("{url}/auth/login")).json(&body).send().await.unwrap().status()
        });
    }
    let statuses = logins.join_all().await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
}

#[tokio::test]
async fn twenty_concurrent_wrong_guesses_never_get_more_password_checks_than_the_budget() {
    let app = app(&[("LOGIN_MAX_FAILURES", "4")]).await;
    app.sign_up("owner").await;
    let hashes = app.hasher.count();
    let mut guesses = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (client, url) = (app.client.clone(), app.url.clone());
        guesses.spawn(async move {
            let body = json!({"username": "owner", "password": format!("guess-{n}")});
            client.post(format!("{url}/auth/login")).json(&body).send().await.unwrap().status()
        });
    }
    let statuses = guesses.join_all().await;
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((refused, app.hasher.count() - hashes), (16, 4), "{statuses:?}");
}

#[tokio::test]
async fn device_tokens_are_listed_and_die_with_a_new_password_and_a_logout_everywhere() {
    let app = app(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2")]).await;
    app.sign_up("owner").await;
    let (_, first) = login(&app, "owner", PASSWORD, Some(OWNER_HOME), None).await;
    let (_, second) = login(&app, "owner", PASSWORD, Some("192.0.2.1"), None).await;
    assert_ne!(device_token(&first), device_token(&second), "a login without a token gets a new device");
    let access = second["access_token"].as_str().unwrap();
    let (status, devices) = status_json(app.get("/users/devices", Some(access)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(devices.as_array().map(Vec::len), Some(2), "{devices}");
    assert_eq!(devices[0]["client_ip"], "192.0.2.1", "the most recently used first");

    let lock_out = || async {
        for n in 0..2 {
            login(&app, "owner", WRONG, Some(&stranger(n)), None).await;
        }
    };
    let device = device_token(&first);
    lock_out().await;
    let new_password = "an-entirely-new-passphrase-42";
    let change = json!({"password": new_password, "current_password": PASSWORD});
    assert_eq!(app.patch_me(access, &change).await.status(), StatusCode::OK);
    let (status, body) = login(&app, "owner", new_password, Some("192.0.2.9"), Some(&device)).await;
    assert_eq!(status, StatusCode::OK, "a new password lifts the lock for new sources, as a fresh start");
    assert_ne!(body["device_token"].as_str(), Some(device.as_str()), "the old device token died with the password");

    let device = device_token(&body);
    let access = body["access_token"].as_str().unwrap().to_owned();
    lock_out().await;
    let logout_all = app.client.post(format!("{}/auth/logout-all", app.url)).bearer_auth(&access);
    assert_eq!(logout_all.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let (status, body) = login(&app, "owner", new_password, Some("192.0.2.10"), Some(&device)).await;
    assert_eq!(status, StatusCode::OK, "a logout everywhere lifts the lock too");
    assert_ne!(body["device_token"].as_str(), Some(device.as_str()), "the device token died with it");
}

#[tokio::test]
async fn a_device_can_be_forgotten_by_its_owner() {
    let app = app(&[]).await;
    app.sign_up("owner").await;
    let (_, body) = login(&app, "owner", PASSWORD, Some(OWNER_HOME), None).await;
    let access = body["access_token"].as_str().unwrap();
    let (_, devices) = status_json(app.get("/users/devices", Some(access)).await).await;
    let id = devices[0]["id"].as_i64().unwrap();
    let forget = |id: String| app.client.delete(format!("{}/users/devices/{id}", app.url)).bearer_auth(access).send();
    assert_eq!(forget(id.to_string()).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(forget(id.to_string()).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(forget("x".into()).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, devices) = status_json(app.get("/users/devices", Some(access)).await).await;
    assert_eq!(devices, json!([]));
}

/// The audit log's `event` and, for lock events, the tier its detail starts with.
async fn audit_events(app: &TestApp) -> Vec<String> {
    let client = app.pool.get().await.unwrap();
    let rows = client.query("SELECT event, detail FROM audit_events ORDER BY id", &[]).await.unwrap();
    rows.iter()
        .map(|row| {
            let (event, detail): (String, String) = (row.get(0), row.get(1));
            match detail.split(':').next() {
                Some(tier) if event.starts_with("login_") && event.ends_with("locked") => format!("{event} {tier}"),
                _ => event,
            }
        })
        .collect()
}

#[tokio::test]
async fn a_pairs_delay_doubles_and_holds_no_other_address() {
    let app =
        app(&[("LOGIN_MAX_FAILURES", "2"), ("LOGIN_LOCKOUT_SECS", "60"), ("LOGIN_LOCKOUT_MAX_SECS", "900")]).await;
    app.sign_up("owner").await;
    let retry_after = |response: reqwest::Response| {
        (response.status(), response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()))
    };
    let attempt = |password: &'static str| {
        let body = json!({"username": "owner", "password": password});
        app.client
            .post(format!("{}/auth/login", app.url))
            .header("x-edge-token", EDGE)
            .header("x-edge-client-ip", "203.0.113.5")
            .json(&body)
            .send()
    };
    for expected in ["60", "120", "240"] {
        for _ in 0..2 {
            assert_eq!(attempt(WRONG).await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
        let held = retry_after(attempt(PASSWORD).await.unwrap());
        assert_eq!(held, (StatusCode::TOO_MANY_REQUESTS, Some(expected.to_owned())));
        assert_eq!(login(&app, "owner", PASSWORD, Some(OWNER_HOME), None).await.0, StatusCode::OK, "another address");
        app.clock.advance(expected.parse().unwrap());
    }
}
