use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, detail, spawn_app_with, status_json};

const CURRENT: &str = "edge-service-token-current-0123456789abcdef";
const NEXT: &str = "edge-service-token-next-0123456789abcdef0000";

async fn app() -> TestApp {
    spawn_app_with(&[("EDGE_SERVICE_TOKEN", &format!("{CURRENT},{NEXT}"))]).await
}

async fn internal(app: &TestApp, path: &str, credential: Option<&str>, body: serde_json::Value) -> reqwest::Response {
    let mut request = app.client.post(format!("{}/internal/v1{path}", app.url)).json(&body);
    if let Some(credential) = credential {
        request = request.header("x-edge-token", credential);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_internal_api_is_404_without_the_credential_or_with_a_wrong_one() {
    let app = app().await;
    app.sign_up("user").await;
    let login = json!({"username": "user", "password": PASSWORD});
    for credential in [None, Some("wrong"), Some(&CURRENT[..CURRENT.len() - 1]), Some("")] {
        let response = internal(&app, "/auth/token", credential, login.clone()).await;
        assert_eq!(status_json(response).await, (StatusCode::NOT_FOUND, detail("Not Found")), "{credential:?}");
    }
    let get = app.client.get(format!("{}/internal/v1/auth/token", app.url)).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    let unknown = app.client.get(format!("{}/internal/v1/anything", app.url)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_internal_api_is_closed_when_no_credential_is_configured() {
    let app = crate::helpers::spawn_app().await;
    app.sign_up("user").await;
    let response =
        internal(&app, "/auth/token", Some(CURRENT), json!({"username": "user", "password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_password_check_grants_the_user_and_a_new_session_without_the_hash() {
    let app = app().await;
    app.sign_up("user").await;
    for credential in [CURRENT, NEXT] {
        let response =
            internal(&app, "/auth/token", Some(credential), json!({"username": "user", "password": PASSWORD})).await;
        let (status, grant) = status_json(response).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (grant["username"].as_str(), grant["role"].as_str(), grant["ver"].as_i64()),
            (Some("user"), Some("user"), Some(0))
        );
        assert_eq!(grant["sid"].as_str().map(str::len), Some(32));
        assert!(!grant.to_string().contains("pbkdf2"));
    }
    let wrong =
        internal(&app, "/auth/token", Some(CURRENT), json!({"username": "user", "password": "nope-nope-nope"})).await;
    assert_eq!(status_json(wrong).await, (StatusCode::UNAUTHORIZED, detail("Incorrect username or password")));
    let invalid = internal(&app, "/auth/token", Some(CURRENT), json!({"username": "user"})).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_refresh_check_keeps_the_session_and_refuses_a_revoked_token() {
    let app = app().await;
    let tokens = app.user("user").await;
    let response = internal(&app, "/auth/refresh", Some(CURRENT), json!({"refresh_token": tokens.refresh})).await;
    let (status, grant) = status_json(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(grant["sid"], crate::auth::claim(&tokens.refresh, "sid"));
    app.patch_me(&tokens.access, &json!({"password": "a-brand-new-passphrase-77", "current_password": PASSWORD})).await;
    let revoked = internal(&app, "/auth/refresh", Some(CURRENT), json!({"refresh_token": tokens.refresh})).await;
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
}

/// A failed login through the edge for `username`, from the client address it reports.
async fn edge_login_fails(app: &TestApp, username: &str, client_ip: Option<&str>) -> StatusCode {
    let mut request = app
        .client
        .post(format!("{}/internal/v1/auth/login", app.url))
        .header("x-edge-token", CURRENT)
        .json(&json!({"username": username, "password": "not-the-password-at-all"}));
    if let Some(ip) = client_ip {
        request = request.header("x-edge-client-ip", ip);
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn behind_the_edge_address_limits_key_on_the_address_it_reports_never_on_the_edge() {
    let app =
        spawn_app_with(&[("EDGE_SERVICE_TOKEN", &format!("{CURRENT},{NEXT}")), ("LOGIN_MAX_FAILURES_PER_IP", "2")])
            .await;
    for name in ["a", "b"] {
        assert_eq!(edge_login_fails(&app, name, Some("203.0.113.7")).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(edge_login_fails(&app, "c", Some("203.0.113.7")).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(edge_login_fails(&app, "c", Some("198.51.100.1")).await, StatusCode::UNAUTHORIZED, "another client");
    // No address reported: the edge's own is not used, so one client cannot lock out everybody.
    for name in ["d", "e", "f"] {
        assert_eq!(edge_login_fails(&app, name, None).await, StatusCode::UNAUTHORIZED, "{name}");
    }
}

/// Every grant route of the contract has its internal handler: an edge that forwards one never
/// meets a 404 the client would then see. An empty body reaches the handler and is refused as
/// invalid input, not as a path that does not exist.
#[tokio::test]
async fn every_grant_route_of_the_contract_has_an_internal_handler() {
    let app = app().await;
    for route in shared::contract::GrantRoute::ALL {
        let response = app
            .client
            .post(format!("{}{}", app.url, route.internal_path()))
            .header(shared::contract::header::SERVICE_TOKEN, CURRENT)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{route:?}");
    }
}
