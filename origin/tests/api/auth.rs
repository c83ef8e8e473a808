use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, detail, spawn_app, status_json};

#[tokio::test]
async fn login_returns_a_bearer_pair_that_is_never_cached() {
    let app = spawn_app().await;
    app.sign_up("user").await;
    let response = app.login("user", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (_, body) = status_json(response).await;
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert_ne!(body["access_token"], body["refresh_token"]);
}

#[tokio::test]
async fn token_accepts_json_and_the_oauth2_password_form() {
    let app = spawn_app().await;
    app.sign_up("user").await;
    let json = app.post_json("/auth/token", &json!({"username": "user", "password": PASSWORD})).await;
    assert_eq!(json.status(), StatusCode::OK);
    let form = format!("grant_type=password&username=user&password={PASSWORD}&scope=");
    let form = app.post_raw("/auth/token", "application/x-www-form-urlencoded", form).await;
    assert_eq!(form.status(), StatusCode::OK);
    assert_eq!(form.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn token_refuses_another_grant_type_and_other_media_types() {
    let app = spawn_app().await;
    let form = app
        .post_raw(
            "/auth/token",
            "application/x-www-form-urlencoded",
            "grant_type=client_credentials&username=a&password=b",
        )
        .await;
    let (status, body) = status_json(form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "grant_type"]));
    let missing = app.post_raw("/auth/token", "application/x-www-form-urlencoded", "username=a").await;
    let (status, body) = status_json(missing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "missing");
    let xml = app.post_raw("/auth/token", "application/xml", "<login/>").await;
    assert_eq!(status_json(xml).await, (StatusCode::UNSUPPORTED_MEDIA_TYPE, detail("Unsupported media type")));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer_for_the_same_work() {
    let app = spawn_app().await;
    app.sign_up("user").await;
    let before = app.hasher.count();
    let wrong = app.login("user", "not-the-password-at-all").await;
    let after_wrong = app.hasher.count();
    let unknown = app.login("nobody", "not-the-password-at-all").await;
    let after_unknown = app.hasher.count();
    assert_eq!(after_wrong - before, 1, "a wrong password costs one hash");
    assert_eq!(after_unknown - after_wrong, 1, "an unknown user costs one hash too");
    let challenge = |r: &reqwest::Response| r.headers()["www-authenticate"].clone();
    assert_eq!(challenge(&wrong), challenge(&unknown));
    let wrong = status_json(wrong).await;
    assert_eq!(wrong, (StatusCode::UNAUTHORIZED, detail("Incorrect username or password")));
    assert_eq!(status_json(unknown).await, wrong);
}

#[tokio::test]
async fn usernames_log_in_without_regard_to_case() {
    let app = spawn_app().await;
    app.sign_up("Alice").await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.login("ALICE", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_inactive_user_cannot_log_in_but_learns_it_only_with_the_right_password() {
    let app = spawn_app().await;
    app.sign_up("user").await;
    app.sql("UPDATE users SET active = false").await;
    assert_eq!(
        status_json(app.login("user", PASSWORD).await).await,
        (StatusCode::BAD_REQUEST, detail("Inactive user"))
    );
    assert_eq!(app.login("user", "a-wrong-password-here").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_login_with_an_older_hash_replaces_it_with_the_current_cost() {
    let app = spawn_app().await;
    let before = app.user("user").await;
    // The same database, after PBKDF2_ITERATIONS was raised.
    let raised = app.beside(&[("PBKDF2_ITERATIONS", "2000")]).await;
    assert_eq!(app.password_hash("user").await.split('$').nth(2), Some("i=1000,l=32"));
    assert_eq!(raised.login("user", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.password_hash("user").await.split('$').nth(2), Some("i=2000,l=32"));
    // The password is the same, so the tokens issued before stay valid.
    assert_eq!(raised.get("/users", Some(&before.access)).await.status(), StatusCode::OK);
    assert_eq!(raised.login("user", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_gives_a_new_pair_in_the_same_session() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    let response = app.post_json("/auth/refresh", &json!({"refresh_token": tokens.refresh})).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::OK);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/users", Some(access)).await.status(), StatusCode::OK);
    assert_eq!(claim(access, "sid"), claim(&tokens.access, "sid"));
}

#[tokio::test]
async fn an_access_token_is_never_a_refresh_token_nor_the_reverse() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    let refresh_with_access = app.post_json("/auth/refresh", &json!({"refresh_token": tokens.access})).await;
    assert_eq!(refresh_with_access.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
    assert_eq!(
        status_json(refresh_with_access).await,
        (StatusCode::UNAUTHORIZED, detail("Could not validate credentials"))
    );
    let me_with_refresh = app.get("/users", Some(&tokens.refresh)).await;
    assert_eq!(me_with_refresh.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_refuses_garbage_and_missing_fields() {
    let app = spawn_app().await;
    let garbage = app.post_json("/auth/refresh", &json!({"refresh_token": "not.a.token"})).await;
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = status_json(app.post_json("/auth/refresh", &json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "refresh_token"]));
}

/// A claim of a token, read without verification (tests only).
pub fn claim(token: &str, name: &str) -> Value {
    crate::helpers::claims(token)[name].clone()
}
