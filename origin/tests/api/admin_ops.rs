//! Admin operations on other users (get, change role, active or password, delete, end sessions),
//! the last-admin guard, the audit log, and `current_password` on one's own changes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, detail, spawn_app, status_json};

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{path}", app.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn id_of(app: &TestApp, token: &str) -> i64 {
    let (_, me) = status_json(app.get("/users", Some(token)).await).await;
    me["id"].as_i64().unwrap()
}

#[tokio::test]
async fn an_admin_reads_changes_and_deletes_another_user() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let id = id_of(&app, &user.access).await;

    let (status, read) = call(&app, Method::GET, &format!("/users/admin/{id}"), &admin.access, None).await;
    assert_eq!((status, read["username"].as_str()), (StatusCode::OK, Some("alice")));
    assert!(read.get("password").is_none());

    let promote = Some(json!({"role": "admin"}));
    let (status, promoted) = call(&app, Method::PATCH, &format!("/users/admin/{id}"), &admin.access, promote).await;
    assert_eq!((status, promoted["role"].as_str()), (StatusCode::OK, Some("admin")));

    let deactivate = Some(json!({"active": false}));
    let (status, _) = call(&app, Method::PATCH, &format!("/users/admin/{id}"), &admin.access, deactivate).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/users", Some(&user.access)).await.status(), StatusCode::UNAUTHORIZED, "sessions ended");

    let (status, _) = call(&app, Method::DELETE, &format!("/users/admin/{id}"), &admin.access, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&app, Method::GET, &format!("/users/admin/{id}"), &admin.access, None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, detail("Not Found")));
}

#[tokio::test]
async fn an_admin_sets_a_password_and_ends_sessions() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let id = id_of(&app, &user.access).await;
    let (status, _) = call(&app, Method::DELETE, &format!("/users/admin/{id}/sessions"), &admin.access, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/users", Some(&user.access)).await.status(), StatusCode::UNAUTHORIZED);

    let new_password = "set-by-the-admin-for-alice";
    let body = Some(json!({"password": new_password}));
    let (status, _) = call(&app, Method::PATCH, &format!("/users/admin/{id}"), &admin.access, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("alice", new_password).await.status(), StatusCode::OK);
    let admin_id = id_of(&app, &admin.access).await;
    let own = Some(json!({"password": "an-admin-needs-current-password"}));
    let (status, body) = call(&app, Method::PATCH, &format!("/users/admin/{admin_id}"), &admin.access, own).await;
    assert_eq!((status, &body["detail"][0]["loc"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(["body", "password"])));
    let weak = Some(json!({"password": "short"}));
    let (status, body) = call(&app, Method::PATCH, &format!("/users/admin/{id}"), &admin.access, weak).await;
    assert_eq!((status, &body["detail"][0]["loc"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(["body", "password"])));
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_deactivated_or_deleted() {
    let app = spawn_app().await;
    let root = app.admin("root").await;
    let root_id = id_of(&app, &root.access).await;
    let last = (StatusCode::CONFLICT, detail("The last active admin cannot be demoted, deactivated or deleted"));
    for body in [json!({"role": "user"}), json!({"active": false})] {
        assert_eq!(call(&app, Method::PATCH, &format!("/users/admin/{root_id}"), &root.access, Some(body)).await, last);
    }
    assert_eq!(call(&app, Method::DELETE, &format!("/users/admin/{root_id}"), &root.access, None).await, last);
    assert_eq!(call(&app, Method::DELETE, "/users", &root.access, None).await, last, "nor delete itself");

    // With a second admin, one may go; then the other is the last.
    let second = app.admin("second").await;
    let demote = Some(json!({"role": "user"}));
    let (status, _) = call(&app, Method::PATCH, &format!("/users/admin/{root_id}"), &second.access, demote).await;
    assert_eq!(status, StatusCode::OK);
    let second_id = id_of(&app, &second.access).await;
    let demote = Some(json!({"role": "user"}));
    assert_eq!(call(&app, Method::PATCH, &format!("/users/admin/{second_id}"), &second.access, demote).await, last);
}

#[tokio::test]
async fn admin_routes_refuse_users_bad_ids_and_unknown_users() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let forbidden = (StatusCode::FORBIDDEN, detail("Not enough permissions"));
    assert_eq!(call(&app, Method::GET, "/users/admin/1", &user.access, None).await, forbidden);
    assert_eq!(call(&app, Method::GET, "/users/admin/audit", &user.access, None).await, forbidden);
    let (status, body) = call(&app, Method::GET, "/users/admin/abc", &admin.access, None).await;
    assert_eq!((status, &body["detail"][0]["loc"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(["path", "id"])));
    let (status, _) = call(&app, Method::DELETE, "/users/admin/999999/sessions", &admin.access, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, Method::PATCH, "/users/admin/999999", &admin.access, Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&app, Method::PATCH, "/users/admin/1", &admin.access, Some(json!({"role": "god"}))).await;
    assert_eq!((status, &body["detail"][0]["loc"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(["body", "role"])));
}

#[tokio::test]
async fn the_audit_log_records_security_events_newest_first_a_page_at_a_time() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let user = app.user("alice").await;
    let alice = id_of(&app, &user.access).await;
    assert_eq!(app.login("alice", "not-her-password-at-all").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("nobody", "not-a-password-at-all").await.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = call(&app, Method::POST, "/auth/logout", &user.access, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, page) = call(&app, Method::GET, "/users/admin/audit?limit=3", &admin.access, None).await;
    assert_eq!(status, StatusCode::OK);
    let events: Vec<&str> = page.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["logout", "login_failed", "login_failed"]);
    assert_eq!(page[1]["username"], "nobody", "the name tried, though nobody has it");
    assert_eq!(page[1]["user_id"], Value::Null);
    assert_eq!(page[2]["user_id"], alice);

    let before = page[2]["id"].as_i64().unwrap();
    let path = format!("/users/admin/audit?before={before}&user_id={alice}");
    let (_, older) = call(&app, Method::GET, &path, &admin.access, None).await;
    let events: Vec<&str> = older.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["login_succeeded"], "alice's events before the failed login");

    let (status, body) = call(&app, Method::GET, "/users/admin/audit?limit=0&before=x", &admin.access, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"].as_array().unwrap().len(), 2, "every bad parameter reported");
}

#[tokio::test]
async fn a_new_password_or_email_needs_the_current_password() {
    let app = spawn_app().await;
    let user = app.user("alice").await;
    let (status, body) = status_json(app.patch_me(&user.access, &json!({"email": "new@test.com"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "current_password"]));
    let wrong = json!({"password": "a-new-pass-phrase-for-alice", "current_password": "not-my-password"});
    assert_eq!(
        status_json(app.patch_me(&user.access, &wrong).await).await,
        (StatusCode::FORBIDDEN, detail("Incorrect current password"))
    );
    assert_eq!(app.get("/users", Some(&user.access)).await.status(), StatusCode::OK, "nothing changed");
    let names = json!({"first_name": "Ada"});
    assert_eq!(app.patch_me(&user.access, &names).await.status(), StatusCode::OK, "names need no password");
}

#[tokio::test]
async fn the_purge_deletes_old_audit_events_in_batches_and_keeps_the_recent() {
    let app = spawn_app().await;
    // More than one batch of events a year old, beside today's.
    app.sql(
        "INSERT INTO audit_events (at, event, detail)
         SELECT now() AT TIME ZONE 'utc' - interval '365 days', 'login_failed', 'old ' || n
         FROM generate_series(1, 12345) AS n",
    )
    .await;
    app.sql("INSERT INTO audit_events (event, detail) SELECT 'login_failed', 'new' FROM generate_series(1, 7)").await;
    let a_month_ago = app.clock_now() - 30 * 86_400;
    assert_eq!(origin::db::audit::purge(&app.pool, a_month_ago).await.unwrap(), 12_345);
    assert_eq!(origin::db::audit::purge(&app.pool, a_month_ago).await.unwrap(), 0, "nothing left to purge");
    let client = app.pool.get().await.unwrap();
    let kept: i64 =
        client.query_one("SELECT count(*) FROM audit_events WHERE detail = 'new'", &[]).await.unwrap().get(0);
    assert_eq!(kept, 7);
}
