use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, detail, spawn_app, status_json};

#[tokio::test]
async fn an_admin_lists_users_by_id_one_page_at_a_time() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    for name in ["a", "b", "c"] {
        app.sign_up(name).await;
    }
    let (status, all) = status_json(app.get("/users/admin", Some(&admin.access)).await).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = all.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["root", "a", "b", "c"]);
    let (_, page) = status_json(app.get("/users/admin?limit=2&offset=1", Some(&admin.access)).await).await;
    let names: Vec<&str> = page.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"]);
}

#[tokio::test]
async fn an_admin_pages_by_the_last_id_seen_to_the_end() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    for name in ["a", "b", "c", "d"] {
        app.sign_up(name).await;
    }
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let url = format!("/users/admin?limit=2&after_id={after}");
        let (status, page) = status_json(app.get(&url, Some(&admin.access)).await).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        let page = page.as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        after = last["id"].as_i64().unwrap();
        seen.extend(page.iter().map(|u| u["username"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen, ["root", "a", "b", "c", "d"]);
    // A user deleted between pages moves no one: the next page still starts after the last id.
    let (_, first) = status_json(app.get("/users/admin?limit=2&after_id=0", Some(&admin.access)).await).await;
    app.sql("DELETE FROM users WHERE username = 'b'").await;
    let after = first[1]["id"].as_i64().unwrap();
    let (_, next) =
        status_json(app.get(&format!("/users/admin?limit=2&after_id={after}"), Some(&admin.access)).await).await;
    let names: Vec<&str> = next.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["c", "d"]);
}

#[tokio::test]
async fn the_user_list_refuses_out_of_range_or_unparsable_pages() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("after_id=-1", "after_id"),
        ("after_id=x", "after_id"),
        ("offset=0&after_id=0", "after_id"),
    ] {
        let (status, body) = status_json(app.get(&format!("/users/admin?{query}"), Some(&admin.access)).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
    }
}

#[tokio::test]
async fn a_user_is_forbidden_the_admin_list() {
    let app = spawn_app().await;
    let user = app.user("user").await;
    assert_eq!(
        status_json(app.get("/users/admin", Some(&user.access)).await).await,
        (StatusCode::FORBIDDEN, detail("Not enough permissions"))
    );
    assert_eq!(app.get("/users/admin", None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_demoted_admin_is_forbidden_at_once_despite_the_role_in_the_token() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    app.sql("UPDATE users SET role = 'user'").await;
    assert_eq!(app.get("/users/admin", Some(&admin.access)).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn create_admin_creates_a_user_or_promotes_an_existing_one() {
    let app = spawn_app().await;
    let config = origin::config::Config::from_lookup(|name| match name {
        "DATABASE_URL" => app.database.as_ref().map(|d| d.url.clone()),
        "JWT_SECRET" => Some(crate::helpers::SECRET.into()),
        "PBKDF2_ITERATIONS" => Some("1000".into()),
        _ => None,
    })
    .unwrap();
    let created = origin::admin::create_admin(&config, "boss", None, "an-admin-passphrase-42").await.unwrap();
    assert_eq!((created.role, created.email.as_str()), (shared::domain::Role::Admin, "boss@example.com"));
    assert!(created.email_verified, "an admin made from the command line is trusted with its address");
    let boss = app.tokens("boss", "an-admin-passphrase-42").await;
    assert_eq!(app.get("/users/admin", Some(&boss.access)).await.status(), StatusCode::OK);

    app.sign_up("user").await;
    let promoted = origin::admin::create_admin(&config, "user", None, PASSWORD).await.unwrap();
    assert_eq!(promoted.role, shared::domain::Role::Admin);
    assert_eq!(promoted.email, "user@test.com");
    assert!(promoted.email_verified);
    let weak = origin::admin::create_admin(&config, "boss2", None, "123456").await.unwrap_err();
    assert!(weak.contains("password"), "{weak}");
}
