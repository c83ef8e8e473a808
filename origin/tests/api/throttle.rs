//! Brute-force protection and rate limits, kept in PostgreSQL: 429 with `Retry-After`, the same
//! for names that exist and names that do not, reset by a successful login, bounded, and shared
//! by every origin instance on the database.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, detail, spawn_app_with, status_json};

const WRONG: &str = "certainly-not-the-password";

async fn login_status(app: &TestApp, username: &str, password: &str) -> (StatusCode, Option<String>) {
    let response = app.login(username, password).await;
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), retry)
}

fn too_many(secs: u64) -> (StatusCode, Option<String>) {
    (StatusCode::TOO_MANY_REQUESTS, Some(secs.to_string()))
}

#[tokio::test]
async fn repeated_failures_lock_a_username_whether_or_not_it_exists_and_the_lock_ends() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_LOCKOUT_SECS", "60")]).await;
    app.sign_up("alice").await;
    for name in ["alice", "nobody"] {
        for _ in 0..3 {
            assert_eq!(login_status(&app, name, WRONG).await.0, StatusCode::UNAUTHORIZED, "{name}");
        }
        assert_eq!(login_status(&app, name, WRONG).await, too_many(60), "{name}");
    }
    let hashes = app.hasher.count();
    assert_eq!(login_status(&app, "alice", PASSWORD).await, too_many(60), "even the right password waits");
    assert_eq!(app.hasher.count(), hashes, "a held-back login costs no hash");
    let (status, body) = status_json(app.login("alice", PASSWORD).await).await;
    assert_eq!((status, body), (StatusCode::TOO_MANY_REQUESTS, detail("Too many attempts, try again later")));

    app.clock.advance(61);
    assert_eq!(login_status(&app, "alice", PASSWORD).await.0, StatusCode::OK, "the lock ended");
}

#[tokio::test]
async fn one_account_is_one_lock_whatever_the_spelling_and_two_accounts_are_two() {
    // Spellings on which Rust's lower-casing and the database's lower() disagree in some locale: a
    // final capital sigma (ς to Rust, σ to glibc), a capital sigma first (folded by Rust, not by a
    // C locale), a dotted capital I; and a change of ASCII case, one account in every locale.
    for spelling in ["ΣΟΦΟΣ-LI", "Σοφοσ-li", "σοφοσ-lİ", "σοφοσ-LI"] {
        let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "2"), ("LOGIN_LOCKOUT_SECS", "60")]).await;
        app.sign_up("σοφοσ-li").await;
        // Two failures against the spelling's lock either way: a right password that fails is
        // another account's (or none), and counts as the first.
        let same_account = login_status(&app, spelling, PASSWORD).await.0 == StatusCode::OK;
        assert!(same_account || spelling != "σοφοσ-LI", "an ASCII change of case is the same account");
        for _ in 0..if same_account { 2 } else { 1 } {
            assert_eq!(login_status(&app, spelling, WRONG).await.0, StatusCode::UNAUTHORIZED, "{spelling}");
        }
        let expected = if same_account { too_many(60) } else { (StatusCode::OK, None) };
        assert_eq!(login_status(&app, "σοφοσ-li", PASSWORD).await, expected, "after failures as {spelling}");
    }
}

#[tokio::test]
async fn a_successful_login_resets_the_count() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    app.sign_up("alice").await;
    for _ in 0..2 {
        assert_eq!(login_status(&app, "alice", WRONG).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login_status(&app, "alice", PASSWORD).await.0, StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(login_status(&app, "alice", WRONG).await.0, StatusCode::UNAUTHORIZED, "counted from zero again");
    }
    assert_eq!(login_status(&app, "alice", PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn locks_in_a_row_double_but_never_beyond_the_bound() {
    let app =
        spawn_app_with(&[("LOGIN_MAX_FAILURES", "2"), ("LOGIN_LOCKOUT_SECS", "60"), ("LOGIN_LOCKOUT_MAX_SECS", "100")])
            .await;
    for expected in [60, 100, 100] {
        for _ in 0..2 {
            login_status(&app, "alice", WRONG).await;
        }
        assert_eq!(login_status(&app, "alice", WRONG).await, too_many(expected));
        app.clock.advance(expected);
    }
    assert_eq!(login_status(&app, "alice", WRONG).await.0, StatusCode::UNAUTHORIZED, "the last lock ended");
}

#[tokio::test]
async fn one_address_guessing_many_usernames_is_locked_too() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_IP", "4")]).await;
    app.sign_up("alice").await;
    for name in ["a", "b", "c", "d"] {
        assert_eq!(login_status(&app, name, WRONG).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login_status(&app, "alice", PASSWORD).await, too_many(60));
}

#[tokio::test]
async fn a_lock_holds_for_every_origin_instance_on_the_database() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES", "2")]).await;
    for _ in 0..2 {
        login_status(&app, "alice", WRONG).await;
    }
    let other = app.beside(&[("LOGIN_MAX_FAILURES", "2")]).await;
    assert_eq!(login_status(&other, "alice", WRONG).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn sign_ups_and_refreshes_are_rate_limited_per_address() {
    let app =
        spawn_app_with(&[("SIGNUP_MAX_PER_IP", "2"), ("REFRESH_MAX_PER_IP", "2"), ("REFRESH_WINDOW_SECS", "60")]).await;
    assert_eq!(app.sign_up("a").await.status(), StatusCode::CREATED);
    assert_eq!(app.sign_up("b").await.status(), StatusCode::CREATED);
    let refused = app.sign_up("c").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "3600");

    let tokens = app.tokens("a", PASSWORD).await;
    let body = json!({"refresh_token": tokens.refresh});
    let refresh = || app.post_json("/auth/refresh", &body);
    assert_eq!(refresh().await.status(), StatusCode::OK);
    assert_eq!(refresh().await.status(), StatusCode::OK, "a repeat inside the grace window");
    app.clock.advance(10);
    let refused = refresh().await;
    assert_eq!(
        (refused.status(), &refused.headers()["retry-after"]),
        (StatusCode::TOO_MANY_REQUESTS, &"50".parse().unwrap())
    );
    app.clock.advance(50);
    assert_eq!(refresh().await.status(), StatusCode::UNAUTHORIZED, "a new window; the token itself is spent by now");
}

#[tokio::test]
async fn a_refresh_held_back_by_the_limit_changes_nothing() {
    let app = spawn_app_with(&[("REFRESH_MAX_PER_IP", "1"), ("REFRESH_WINDOW_SECS", "60")]).await;
    app.sign_up("a").await;
    let first = app.tokens("a", PASSWORD).await;
    let app = &app;
    let spend = |token: &str| {
        let body = json!({"refresh_token": token});
        async move { app.post_json("/auth/refresh", &body).await }
    };
    let response = spend(&first.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: serde_json::Value = response.json().await.unwrap();
    let second = second["refresh_token"].as_str().unwrap().to_owned();
    // Held back: had this rotated the session, the same token would be reuse a window later, and
    // the spent first token (well past the grace window then) would still be reuse either way.
    assert_eq!(spend(&second).await.status(), StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(60);
    assert_eq!(spend(&second).await.status(), StatusCode::OK, "the held-back token still rotates");
}
