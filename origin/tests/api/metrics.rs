//! `/metrics`: what an operator's dashboard reads, on its own listener.

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, spawn_app};

/// The value of the sample whose name and labels are exactly `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status_with_their_latency() {
    let app = spawn_app().await;
    let tokens = app.user("user").await;
    for _ in 0..3 {
        assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::OK);
    }
    assert_eq!(app.get("/users", None).await.status(), StatusCode::UNAUTHORIZED);
    // Raw paths never become labels: any unknown path counts under one label.
    assert_eq!(app.get("/no/such/path-1", None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/no/such/path-2", None).await.status(), StatusCode::NOT_FOUND);

    let text = app.metrics().await;
    assert_eq!(sample(&text, r#"http_requests_total{method="GET",route="/users",status="200"}"#), Some(3.0));
    assert_eq!(sample(&text, r#"http_requests_total{method="GET",route="/users",status="401"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"http_requests_total{method="GET",route="unmatched",status="404"}"#), Some(2.0));
    assert!(!text.contains("path-1"), "a raw path became a label:\n{text}");
    assert_eq!(sample(&text, r#"http_request_duration_seconds_count{method="GET",route="/users"}"#), Some(4.0));
    // The public API does not serve them.
    assert_eq!(app.get("/metrics", None).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn failed_logins_and_the_pool_are_measured() {
    let app = spawn_app().await;
    app.user("user").await;
    assert_eq!(app.login("user", "a-wrong-passphrase-00").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("nobody", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("user", PASSWORD).await.status(), StatusCode::OK);

    let text = app.metrics().await;
    assert_eq!(sample(&text, r#"login_failures_total{reason="bad_credentials"}"#), Some(2.0));
    // The tests' pool holds at most 4 (DB_POOL_SIZE); none is checked out between requests.
    assert_eq!(sample(&text, r#"db_pool_connections{state="max"}"#), Some(4.0));
    assert_eq!(sample(&text, r#"db_pool_connections{state="in_use"}"#), Some(0.0));
}
