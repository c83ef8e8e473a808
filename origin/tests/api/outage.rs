use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TcpProxy, TestDatabase, detail, host_port, spawn_on, status_json, through};

#[tokio::test]
async fn with_the_database_cut_requests_get_503_and_the_service_recovers_without_a_restart() {
    let database = TestDatabase::create().await;
    let proxy = TcpProxy::start(host_port(&database.url)).await;
    let url = through(&database.url, proxy.addr);
    let app = spawn_on(Some(database), url, &[]).await;
    let tokens = app.user("user").await;

    proxy.cut().await;
    let health = app.get("/", None).await;
    assert_eq!(health.headers()["retry-after"], "5");
    assert_eq!(status_json(health).await, (StatusCode::SERVICE_UNAVAILABLE, detail("Service temporarily unavailable")));
    // An orchestrator stops sending traffic (not ready) but does not restart the process (live).
    assert_eq!(app.get("/health/ready", None).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/health/live", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.login("user", PASSWORD).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let sign_up = app
        .post_json(
            "/users",
            &json!({"username": "u2", "password": PASSWORD, "email": "u2@test.com", "first_name": "", "last_name": ""}),
        )
        .await;
    assert_eq!(sign_up.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    assert_eq!(app.get("/", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/health/ready", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::OK);
    assert_eq!(app.login("user", PASSWORD).await.status(), StatusCode::OK);
}
