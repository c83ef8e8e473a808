use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, detail, spawn_app, status_json};

fn is_seed_date(value: &serde_json::Value) -> bool {
    let text = value.as_str().unwrap_or("");
    // 2023-11-17T13:23:45.737500: UTC, no offset, six fractional digits.
    text.len() == 26
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[19] == b'.'
        && text[20..].bytes().all(|b| b.is_ascii_digit())
        && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.6f").is_ok()
}

#[tokio::test]
async fn sign_up_answers_201_with_the_seeds_fields_and_never_the_hash() {
    let app = spawn_app().await;
    let (status, body) = status_json(app.sign_up("user").await).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active",
            "create_date",
            "email",
            "email_verified",
            "first_name",
            "id",
            "last_name",
            "role",
            "update_date",
            "username"
        ],
        "the seed's fields, and whether the address is confirmed"
    );
    assert_eq!(body["email_verified"], false);
    assert_eq!(body["role"], "user");
    assert_eq!(body["active"], true);
    assert!(is_seed_date(&body["create_date"]), "{}", body["create_date"]);
    assert_eq!(body["create_date"], body["update_date"]);
    assert!(!body.to_string().contains("pbkdf2"));
}

#[tokio::test]
async fn the_seeds_example_password_is_refused_with_a_clear_422() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/users",
            &json!({"username": "user", "password": "123456", "email": "user@test.com", "first_name": "f", "last_name": "l"}),
        )
        .await;
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        json!({"detail": [{"loc": ["body", "password"], "msg": "String should have at least 15 characters", "type": "string_too_short"}]})
    );
}

#[tokio::test]
async fn a_commonly_used_password_is_refused() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/users",
            &json!({"username": "user", "password": "passwordpassword", "email": "user@test.com", "first_name": "f", "last_name": "l"}),
        )
        .await;
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
}

#[tokio::test]
async fn a_taken_username_or_email_is_409_whatever_its_case() {
    let app = spawn_app().await;
    app.sign_up("user").await;
    let same_name = app
        .post_json(
            "/users",
            &json!({"username": "USER", "password": PASSWORD, "email": "other@test.com", "first_name": "", "last_name": ""}),
        )
        .await;
    assert_eq!(status_json(same_name).await, (StatusCode::CONFLICT, detail("Username or email already registered")));
    let same_email = app
        .post_json(
            "/users",
            &json!({"username": "other", "password": PASSWORD, "email": "User@Test.com", "first_name": "", "last_name": ""}),
        )
        .await;
    assert_eq!(same_email.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn sign_up_reports_missing_fields_wrong_types_and_bad_json_as_422() {
    let app = spawn_app().await;
    let (status, body) = status_json(app.post_json("/users", &json!({"username": "user"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "missing");
    let wrong = json!({"username": 7, "password": PASSWORD, "email": "a@b.co", "first_name": "", "last_name": ""});
    let (status, body) = status_json(app.post_json("/users", &wrong).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["detail"][0],
        json!({"loc": ["body", "username"], "msg": "Input should be a valid string", "type": "string_type"})
    );
    let (status, body) = status_json(app.post_raw("/users", "application/json", "{not json").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    let (status, _) = status_json(app.post_raw("/users", "application/json", "\"a string\"").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_email =
        json!({"username": "u", "password": PASSWORD, "email": "not-an-email", "first_name": "", "last_name": ""});
    let (status, body) = status_json(app.post_json("/users", &bad_email).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
}

#[tokio::test]
async fn me_needs_a_token_and_shows_its_user() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    let (status, body) = status_json(app.get("/users", Some(&tokens.access)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["username"], "user");
    assert_eq!(body["email"], "user@test.com");
    let anonymous = app.get("/users", None).await;
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(status_json(anonymous).await, (StatusCode::UNAUTHORIZED, detail("Not authenticated")));
    let forged = app.get("/users", Some("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl")).await;
    assert_eq!(forged.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
    assert_eq!(status_json(forged).await, (StatusCode::UNAUTHORIZED, detail("Could not validate credentials")));
}

#[tokio::test]
async fn patch_changes_names_and_email_and_moves_update_date() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    let (_, before) = status_json(app.get("/users", Some(&tokens.access)).await).await;
    let response = app
        .patch_me(
            &tokens.access,
            &json!({"first_name": "Ada", "email": "ada@test.com", "last_name": null, "current_password": PASSWORD}),
        )
        .await;
    let (status, after) = status_json(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (after["first_name"].as_str(), after["email"].as_str(), after["last_name"].as_str()),
        (Some("Ada"), Some("ada@test.com"), Some("lname"))
    );
    assert_eq!(after["create_date"], before["create_date"]);
    assert!(after["update_date"].as_str() > before["update_date"].as_str());
    // The old token still works: only a password change revokes.
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn patch_to_a_taken_email_is_409_and_bad_fields_are_422() {
    let app = spawn_app().await;
    app.sign_up("other").await;
    let tokens = app.user("user").await;
    let taken = app.patch_me(&tokens.access, &json!({"email": "OTHER@test.com", "current_password": PASSWORD})).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let (status, body) = status_json(app.patch_me(&tokens.access, &json!({"password": "short"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
    assert_eq!(app.patch_me("garbage", &json!({})).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_revokes_every_earlier_token_even_from_the_same_second() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    // The clock stands still: the change happens in the very second the tokens were issued.
    let new_password = "a-brand-new-passphrase-77";
    let response = app.patch_me(&tokens.access, &json!({"password": new_password, "current_password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::UNAUTHORIZED);
    let refresh = app.post_json("/auth/refresh", &json!({"refresh_token": tokens.refresh})).await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("user", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let fresh = app.tokens("user", new_password).await;
    assert_eq!(app.get("/users", Some(&fresh.access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn delete_removes_the_user_and_its_tokens_stop_working() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    let response = app.delete_me(&tokens.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete_me(&tokens.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("user", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    // The name is free again.
    assert_eq!(app.sign_up("user").await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_deactivated_users_tokens_stop_working_at_once() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    app.sql("UPDATE users SET active = false").await;
    assert_eq!(
        status_json(app.get("/users", Some(&tokens.access)).await).await,
        (StatusCode::BAD_REQUEST, detail("Inactive user"))
    );
    let refresh = app.post_json("/auth/refresh", &json!({"refresh_token": tokens.refresh})).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_real_default_cost_hashes_and_verifies() {
    // Every other test hashes with 1,000 iterations; this one runs the production setting.
    let app = crate::helpers::spawn_app_with(&[("PBKDF2_ITERATIONS", "600000")]).await;
    app.sign_up("user").await;
    assert!(app.password_hash("user").await.starts_with("$pbkdf2-sha256$i=600000,l=32$"));
    assert_eq!(app.login("user", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.login("user", "not-the-password-at-all").await.status(), StatusCode::UNAUTHORIZED);
}
