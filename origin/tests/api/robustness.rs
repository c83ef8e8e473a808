use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::json;
use shared::domain::{Role, UserId};
use shared::session::Ticket;
use shared::token::{Keyring, Subject, TokenService, TokenSettings};

use crate::helpers::{PASSWORD, SECRET, detail, spawn_app, status_json};

fn service(secret: &str, settings: TokenSettings) -> TokenService {
    TokenService::new(Keyring::from_secret(secret).unwrap(), settings).unwrap()
}

fn ticket(now: u64) -> Ticket {
    Ticket { sid: "s".into(), generation: 0, issued_at: now, assurance: shared::assurance::Assurance::password(now) }
}

fn subject() -> Subject {
    Subject { user_id: UserId(1), username: "user".into(), role: Role::Admin, ver: 0, email_verified: false }
}

#[tokio::test]
async fn an_access_token_expires_after_its_ttl_and_the_leeway() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    app.clock.advance(900 + 29);
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::OK);
    app.clock.advance(1);
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::UNAUTHORIZED);
    // The refresh token lives on and mints a working pair.
    let refreshed = app.post_json("/auth/refresh", &json!({"refresh_token": tokens.refresh})).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

#[tokio::test]
async fn forged_tokens_are_all_the_same_401() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    let now = app.clock_now();
    let payload = tokens.access.split('.').nth(1).unwrap().to_owned();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let hs512_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
    let tampered_payload = {
        let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();
        claims["role"] = json!("admin");
        URL_SAFE_NO_PAD.encode(claims.to_string())
    };
    let mut parts = tokens.access.split('.');
    let (header, _, signature) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
    let forged = [
        format!("{none_header}.{payload}."),
        format!("{hs512_header}.{payload}.{signature}"),
        format!("{header}.{tampered_payload}.{signature}"),
        service("another-secret-entirely-0123456789abcdef", TokenSettings::default())
            .issue_pair(&subject(), &ticket(now))
            .access_token,
        service(SECRET, TokenSettings { issuer: "someone-else".into(), ..TokenSettings::default() })
            .issue_pair(&subject(), &ticket(now))
            .access_token,
        service(SECRET, TokenSettings { audience: "another-api".into(), ..TokenSettings::default() })
            .issue_pair(&subject(), &ticket(now))
            .access_token,
        "a.b".to_owned(),
        "x".repeat(5000),
    ];
    for token in forged {
        let response = app.get("/users", Some(&token)).await;
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
        assert_eq!(
            status_json(response).await,
            (StatusCode::UNAUTHORIZED, detail("Could not validate credentials")),
            "{token}"
        );
    }
}

#[tokio::test]
async fn an_oversized_body_is_413_in_the_error_shape() {
    let app = spawn_app().await;
    let huge = json!({"username": "u", "password": "x".repeat(100_000)});
    let (status, body) = status_json(app.post_json("/auth/login", &huge).await).await;
    assert_eq!((status, body), (StatusCode::PAYLOAD_TOO_LARGE, detail("Request body too large")));
}

#[tokio::test]
async fn nul_bytes_and_invisible_characters_are_refused_with_422() {
    let app = spawn_app().await;
    for name in ["nul\u{0}name", "bidi\u{202E}name", "zero\u{200B}width", "tab\tname"] {
        let body =
            json!({"username": name, "password": PASSWORD, "email": "a@test.com", "first_name": "", "last_name": ""});
        let (status, body) = status_json(app.post_json("/users", &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "username"]));
    }
    let (status, _) = status_json(app.login("nul\u{0}", PASSWORD).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = status_json(app.login("user", "pass\u{0}word").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn json_routes_refuse_other_media_types_with_415() {
    let app = spawn_app().await;
    let body = format!(r#"{{"username":"user","password":"{PASSWORD}"}}"#);
    let plain = app.post_raw("/auth/login", "text/plain", body.clone()).await;
    assert_eq!(status_json(plain).await, (StatusCode::UNSUPPORTED_MEDIA_TYPE, detail("Unsupported media type")));
    let form = app.post_raw("/users", "application/x-www-form-urlencoded", "username=u").await;
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_error_shape() {
    let app = spawn_app().await;
    assert_eq!(status_json(app.get("/nowhere", None).await).await, (StatusCode::NOT_FOUND, detail("Not Found")));
    let put = app.client.put(format!("{}/users", app.url)).send().await.unwrap();
    assert_eq!(status_json(put).await, (StatusCode::METHOD_NOT_ALLOWED, detail("Method Not Allowed")));
}

#[tokio::test]
async fn health_docs_and_the_request_id_are_served() {
    let app = spawn_app().await;
    let health = app.client.get(format!("{}/", app.url)).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(health.headers()["x-request-id"], "abc-123");
    assert_eq!(status_json(health).await, (StatusCode::OK, json!({"status": "ok"})));
    let generated = app.get("/", None).await;
    assert_eq!(generated.headers()["x-request-id"].len(), 36);
    let (status, spec) = status_json(app.get("/openapi.json", None).await).await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/", "/auth/token", "/auth/login", "/auth/refresh", "/users", "/users/admin"] {
        assert!(spec["paths"][path].is_object(), "{path} missing from the spec");
    }
    let docs = app.get("/docs/", None).await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}
