//! Sessions: refresh rotation with reuse detection and its grace window, logout, logout-all, the
//! session list, and the metric and audit trail of a detected reuse.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Tokens, detail, spawn_app, spawn_app_with, status_json};

/// The grace window of these tests' apps (the default is 5 s).
const GRACE: u64 = 5;

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    status_json(app.post_json("/auth/refresh", &json!({"refresh_token": token})).await).await
}

fn pair(body: &Value) -> Tokens {
    Tokens {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

async fn post_bearer(app: &TestApp, path: &str, token: &str) -> StatusCode {
    app.client.post(format!("{}{path}", app.url)).bearer_auth(token).send().await.unwrap().status()
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = status_json(app.get("/users/sessions", Some(token)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

fn invalid() -> (StatusCode, Value) {
    (StatusCode::UNAUTHORIZED, detail("Could not validate credentials"))
}

#[tokio::test]
async fn a_refresh_spends_its_token_and_a_replay_after_the_grace_window_ends_the_whole_session() {
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE_SECS", "5")]).await;
    let first = app.user("alice").await;
    let (status, body) = refresh(&app, &first.refresh).await;
    assert_eq!(status, StatusCode::OK);
    let second = pair(&body);

    app.clock.advance(GRACE + 1);
    // The thief (or the owner) replays the spent token: the family is burnt, both holders out.
    assert_eq!(refresh(&app, &first.refresh).await, invalid());
    assert_eq!(refresh(&app, &second.refresh).await, invalid(), "the live successor died with its session");
    assert_eq!(app.get("/users", Some(&second.access)).await.status(), StatusCode::UNAUTHORIZED);
    assert!(app.metrics().await.contains("refresh_reuse_detected_total 1"));

    // Other sessions of the same user live on.
    let other = app.tokens("alice", PASSWORD).await;
    assert_eq!(app.get("/users", Some(&other.access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn inside_the_grace_window_the_spent_token_gets_the_very_same_pair_again() {
    let app = spawn_app().await;
    let first = app.user("alice").await;
    let (_, winner) = refresh(&app, &first.refresh).await;
    app.clock.advance(GRACE);
    let (status, again) = refresh(&app, &first.refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, winner, "same strings, so two tabs end up holding one pair");
    // And that pair is the live one: it rotates on.
    let (status, _) = refresh(&app, &pair(&winner).refresh).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_two_rotations_back_is_reuse_even_inside_the_window() {
    let app = spawn_app().await;
    let first = app.user("alice").await;
    let (_, second) = refresh(&app, &first.refresh).await;
    let (_, third) = refresh(&app, &pair(&second).refresh).await;
    assert_eq!(refresh(&app, &first.refresh).await, invalid());
    assert_eq!(refresh(&app, &pair(&third).refresh).await, invalid());
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_have_one_winner_and_all_get_its_pair() {
    let app = spawn_app_with(&[("DB_POOL_SIZE", "8")]).await;
    let first = app.user("alice").await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, url, token) = (app.client.clone(), app.url.clone(), first.refresh.clone());
        calls.spawn(async move {
            let response =
                client.post(format!("{url}/auth/refresh")).json(&json!({"refresh_token": token})).send().await;
            status_json(response.unwrap()).await
        });
    }
    let answers = calls.join_all().await;
    let winner = &answers[0].1;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body, winner, "every caller holds the same successor");
    }
    let client = app.pool.get().await.unwrap();
    let row = client.query_one("SELECT count(*), max(generation) FROM sessions", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i32>(1)), (1, 1), "one family, rotated once");
}

#[tokio::test]
async fn logout_ends_this_session_at_once_and_no_other() {
    let app = spawn_app().await;
    let laptop = app.user("alice").await;
    let phone = app.tokens("alice", PASSWORD).await;
    assert_eq!(post_bearer(&app, "/auth/logout", &laptop.access).await, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/users", Some(&laptop.access)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &laptop.refresh).await, invalid());
    assert_eq!(app.get("/users", Some(&phone.access)).await.status(), StatusCode::OK);
    assert_eq!(post_bearer(&app, "/auth/logout", &laptop.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_all_kills_every_session_access_at_once() {
    let app = spawn_app().await;
    let laptop = app.user("alice").await;
    let phone = app.tokens("alice", PASSWORD).await;
    let bob = app.user("bob").await;
    assert_eq!(post_bearer(&app, "/auth/logout-all", &phone.access).await, StatusCode::NO_CONTENT);
    for token in [&laptop.access, &phone.access] {
        assert_eq!(app.get("/users", Some(token)).await.status(), StatusCode::UNAUTHORIZED);
    }
    for token in [&laptop.refresh, &phone.refresh] {
        assert_eq!(refresh(&app, token).await, invalid());
    }
    assert_eq!(app.get("/users", Some(&bob.access)).await.status(), StatusCode::OK, "another user's stay");
}

#[tokio::test]
async fn the_session_list_shows_the_live_sessions_with_their_user_agent() {
    let app = spawn_app().await;
    let first = app.user("alice").await;
    let response = app
        .client
        .post(format!("{}/auth/login", app.url))
        .header("user-agent", "Phone/2.0")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let phone = pair(&response.json::<Value>().await.unwrap());
    let listed = sessions(&app, &phone.access).await;
    assert_eq!(listed.len(), 2);
    let current: Vec<_> = listed.iter().filter(|s| s["current"] == json!(true)).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Phone/2.0");
    for session in &listed {
        let keys: Vec<_> = session.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["client_ip", "created_at", "current", "id", "last_used_at", "user_agent"]);
        assert_eq!(session["created_at"].as_str().unwrap().len(), "2023-11-17T13:23:45.737500".len());
    }
    assert_eq!(post_bearer(&app, "/auth/logout", &first.access).await, StatusCode::NO_CONTENT);
    assert_eq!(sessions(&app, &phone.access).await.len(), 1, "an ended session is no longer listed");
    assert_eq!(app.get("/users/sessions", None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_ends_every_session() {
    let app = spawn_app().await;
    let laptop = app.user("alice").await;
    let phone = app.tokens("alice", PASSWORD).await;
    let changed = app
        .patch_me(&phone.access, &json!({"password": "a-new-pass-phrase-for-alice", "current_password": PASSWORD}))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(refresh(&app, &laptop.refresh).await, invalid());
    let client = app.pool.get().await.unwrap();
    let live: i64 = client.query_one("SELECT count(*) FROM sessions WHERE ended_at IS NULL", &[]).await.unwrap().get(0);
    assert_eq!(live, 0);
}

#[tokio::test]
async fn ended_and_expired_sessions_are_purged_after_their_retention_and_live_ones_stay() {
    let app = spawn_app().await;
    let ended = app.user("alice").await;
    let live = app.tokens("alice", PASSWORD).await;
    assert_eq!(post_bearer(&app, "/auth/logout", &ended.access).await, StatusCode::NO_CONTENT);
    let a_day_later = app.clock_now() + 24 * 3600;
    assert_eq!(origin::db::sessions::purge(&app.pool, a_day_later).await.unwrap(), 1);
    assert_eq!(app.get("/users", Some(&live.access)).await.status(), StatusCode::OK);
    assert_eq!(sessions(&app, &live.access).await.len(), 1);
}
