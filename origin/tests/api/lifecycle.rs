//! Password reset and email verification with real mail: each test runs the origin against its
//! own MailDev (a real SMTP server) and reads the links out of the mails it received.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, claims, detail, spawn_app, spawn_app_with, status_json};
use crate::maildev::{Mail, MailDev};

const NEW_PASSWORD: &str = "quartz-heron-lantern-88";
const PUBLIC_URL: &str = "https://auth.example.test/api";

async fn app_with_mail(maildev: &MailDev, extra: &[(&str, &str)]) -> TestApp {
    let smtp = maildev.smtp_url();
    let mut vars = vec![("SMTP_URL", smtp.as_str()), ("PUBLIC_URL", PUBLIC_URL), ("MAIL_RETRY_SECS", "5")];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

/// The token of the `page` link in `mail`, checked to be where the link points.
fn token_in(mail: &Mail, page: &str) -> String {
    let prefix = format!("{PUBLIC_URL}/{page}#token=");
    let start = mail.text.find(&prefix).unwrap_or_else(|| panic!("no {prefix} link in: {}", mail.text)) + prefix.len();
    let token: String = mail.text[start..].chars().take_while(char::is_ascii_alphanumeric).collect();
    assert_eq!(token.len(), 64, "a 256-bit token: {token}");
    assert!(mail.html.contains(&format!("{prefix}{token}")), "the HTML part carries the same link");
    token
}

async fn forgot(app: &TestApp, email: &str) -> (StatusCode, Value) {
    status_json(app.post_json("/auth/forgot-password", &json!({ "email": email })).await).await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> (StatusCode, Value) {
    status_json(app.post_json("/auth/reset-password", &json!({ "token": token, "password": password })).await).await
}

async fn verify(app: &TestApp, token: &str) -> (StatusCode, Value) {
    status_json(app.post_json("/auth/verify", &json!({ "token": token })).await).await
}

/// The reset token mailed to `email` after a forgot-password request (the `nth` mail of the kind).
async fn reset_token(app: &TestApp, maildev: &MailDev, email: &str, nth: usize) -> String {
    assert_eq!(forgot(app, email).await, (StatusCode::ACCEPTED, Value::Null));
    let resets = maildev.wait_for_where(email, nth, |m| m.text.contains("/reset-password#token=")).await;
    assert_eq!(resets.len(), nth, "reset mails to {email}");
    token_in(&resets[nth - 1], "reset-password")
}

#[tokio::test]
async fn a_reset_sets_the_password_ends_every_session_and_works_once() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    let before = app.user("alice").await;
    let token = reset_token(&app, &maildev, "alice@test.com", 1).await;

    assert_eq!(reset(&app, &token, NEW_PASSWORD).await, (StatusCode::OK, Value::Null));
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "the old password");
    assert_eq!(app.login("alice", NEW_PASSWORD).await.status(), StatusCode::OK, "the new password");
    let refreshed = app.post_json("/auth/refresh", &json!({ "refresh_token": before.refresh })).await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED, "the earlier session ended");
    assert_eq!(app.get("/users", Some(&before.access)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        reset(&app, &token, "another-password-entirely-9").await,
        (StatusCode::BAD_REQUEST, detail("RESET_PASSWORD_BAD_TOKEN"))
    );

    // A notice without secrets went to the owner.
    let mails = maildev.wait_for("alice@test.com", 3).await;
    let notice = mails
        .iter()
        .find(|m| m.subject.to_lowercase().contains("password") && !m.text.contains("#token="))
        .expect("a notice");
    assert!(!notice.text.contains(&token) && !notice.html.contains(&token));
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_and_no_mail() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    app.user("bob").await;
    assert_eq!(forgot(&app, "nobody@test.com").await, (StatusCode::ACCEPTED, Value::Null));
    assert_eq!(forgot(&app, "NOBODY@test.com").await, (StatusCode::ACCEPTED, Value::Null));
    // bob's request goes after: once his mail is there, an earlier one for nobody would be too.
    reset_token(&app, &maildev, "bob@test.com", 1).await;
    let everyone: Vec<String> = maildev.messages().await.into_iter().flat_map(|m| m.to).collect();
    assert!(everyone.iter().all(|to| !to.eq_ignore_ascii_case("nobody@test.com")), "{everyone:?}");
    let (status, body) = forgot(&app, "not an address").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn of_twenty_concurrent_resets_with_one_token_exactly_one_succeeds() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    app.user("carol").await;
    let token = reset_token(&app, &maildev, "carol@test.com", 1).await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (client, url, token) = (app.client.clone(), format!("{}/auth/reset-password", app.url), token.clone());
        attempts.spawn(async move {
            let body = json!({ "token": token, "password": format!("{NEW_PASSWORD}-{i}") });
            client.post(url).json(&body).send().await.unwrap().status()
        });
    }
    let statuses = attempts.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST), "{statuses:?}");
}

#[tokio::test]
async fn an_expired_a_superseded_and_a_made_up_token_are_one_bad_token() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    app.user("dave").await;
    let bad = (StatusCode::BAD_REQUEST, detail("RESET_PASSWORD_BAD_TOKEN"));
    let first = reset_token(&app, &maildev, "dave@test.com", 1).await;
    let second = reset_token(&app, &maildev, "dave@test.com", 2).await;
    assert_eq!(reset(&app, &first, NEW_PASSWORD).await, bad, "superseded by the second request");
    app.clock.advance(30 * 60 + 1);
    assert_eq!(reset(&app, &second, NEW_PASSWORD).await, bad, "expired after 30 minutes");
    assert_eq!(reset(&app, &"0".repeat(64), NEW_PASSWORD).await, bad);
    assert_eq!(reset(&app, "not-a-token", NEW_PASSWORD).await, bad);
    let third = reset_token(&app, &maildev, "dave@test.com", 3).await;
    let (status, body) = reset(&app, &third, "short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
    assert_eq!(
        reset(&app, &third, NEW_PASSWORD).await,
        (StatusCode::OK, Value::Null),
        "a refused password spends nothing"
    );
}

#[tokio::test]
async fn a_password_changed_otherwise_voids_the_reset_links_mailed_before() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    let tokens = app.user("olga").await;
    let token = reset_token(&app, &maildev, "olga@test.com", 1).await;
    let change = json!({"password": NEW_PASSWORD, "current_password": PASSWORD});
    assert_eq!(app.patch_me(&tokens.access, &change).await.status(), StatusCode::OK);
    assert_eq!(
        reset(&app, &token, "yet-another-passphrase-3").await,
        (StatusCode::BAD_REQUEST, detail("RESET_PASSWORD_BAD_TOKEN"))
    );
    assert_eq!(app.login("olga", NEW_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_stored_value_works_as_a_token() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    app.user("erin").await;
    let token = reset_token(&app, &maildev, "erin@test.com", 1).await;
    assert_eq!(forgot(&app, "erin@test.com").await.0, StatusCode::ACCEPTED, "an outbox row waits too");
    let client = app.pool.get().await.unwrap();
    let mut values = Vec::new();
    for table in ["account_tokens", "mail_outbox", "users"] {
        let rows = client.query(&format!("SELECT to_jsonb(t)::text FROM {table} t"), &[]).await.unwrap();
        for row in rows {
            let object: Value = serde_json::from_str(row.get(0)).unwrap();
            for value in object.as_object().unwrap().values() {
                values.push(match value {
                    Value::String(s) => s.trim_start_matches("\\x").to_owned(),
                    other => other.to_string(),
                });
            }
        }
    }
    assert!(values.iter().all(|v| !v.contains(&token)), "the mailed token is stored nowhere");
    let bad = (StatusCode::BAD_REQUEST, detail("RESET_PASSWORD_BAD_TOKEN"));
    for value in &values {
        assert_eq!(reset(&app, value, NEW_PASSWORD).await, bad, "{value} worked as a token");
    }
}

#[tokio::test]
async fn a_reset_requested_while_smtp_is_down_arrives_once_it_is_back() {
    let mut maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    app.user("frank").await;
    maildev.stop().await;
    assert_eq!(forgot(&app, "frank@test.com").await, (StatusCode::ACCEPTED, Value::Null));
    // The first delivery fails at once (connection refused) and waits MAIL_RETRY_SECS.
    wait_until_attempted(&app).await;
    maildev.restart().await;
    app.clock.advance(5);
    let mails = maildev.wait_for_where("frank@test.com", 1, |m| m.text.contains("/reset-password#")).await;
    let token = token_in(&mails[0], "reset-password");
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await, (StatusCode::OK, Value::Null));
}

/// Until `sql` (a count) gives `want`: the delivery worker runs on its own task, so a test
/// watches its effect in the database.
#[allow(clippy::disallowed_methods, reason = "polls the worker's effect on the database")]
async fn wait_for_count(app: &TestApp, sql: &str, want: i64) {
    let client = app.pool.get().await.unwrap();
    let mut seen = -1;
    for _ in 0..200 {
        seen = client.query_one(sql, &[]).await.unwrap().get(0);
        if seen == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{sql} gave {seen}, not {want}, within 10 s");
}

/// Until the outbox records a failed delivery.
async fn wait_until_attempted(app: &TestApp) {
    let sql = "SELECT count(*) FROM mail_outbox WHERE kind = 'reset_password' AND attempts > 0";
    wait_for_count(app, sql, 1).await;
}

#[tokio::test]
async fn a_mail_that_cannot_go_out_for_a_day_is_given_up_and_audited() {
    let mut maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[("MAIL_MAX_AGE_SECS", "3600")]).await;
    let admin = app.admin("root").await;
    maildev.stop().await;
    assert_eq!(forgot(&app, "root@test.com").await.0, StatusCode::ACCEPTED);
    wait_until_attempted(&app).await;
    app.clock.advance(3600);
    wait_for_count(&app, "SELECT count(*) FROM mail_outbox", 0).await;
    drop(admin);
    let admin = app.tokens("root", PASSWORD).await;
    let (status, log) = status_json(app.get("/users/admin/audit", Some(&admin.access)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(log.to_string().contains("mail_undeliverable"), "{log}");
}

#[tokio::test]
async fn sign_up_mails_a_link_that_confirms_the_address_once() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    let tokens = app.user("gina").await;
    let mails = maildev.wait_for("gina@test.com", 1).await;
    let token = token_in(&mails[0], "verify");
    let (status, user) = verify(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!((user["username"].as_str(), user["email_verified"].as_bool()), (Some("gina"), Some(true)));
    assert_eq!(verify(&app, &token).await, (StatusCode::BAD_REQUEST, detail("VERIFY_USER_BAD_TOKEN")));
    let (_, me) = status_json(app.get("/users", Some(&tokens.access)).await).await;
    assert_eq!(me["email_verified"], true);

    // A second link, asked for before the first was used, finds the address confirmed already.
    assert_eq!(
        status_json(app.post_json("/auth/request-verify-token", &json!({"email": "gina@test.com"})).await).await,
        (StatusCode::ACCEPTED, Value::Null)
    );
    let unverified = app.user("hank").await;
    let first = token_in(&maildev.wait_for("hank@test.com", 1).await[0], "verify");
    assert_eq!(
        status_json(app.post_json("/auth/request-verify-token", &json!({"email": "hank@test.com"})).await).await,
        (StatusCode::ACCEPTED, Value::Null)
    );
    let second = token_in(&maildev.wait_for("hank@test.com", 2).await[1], "verify");
    assert_eq!(verify(&app, &first).await.0, StatusCode::OK);
    assert_eq!(verify(&app, &second).await, (StatusCode::BAD_REQUEST, detail("VERIFY_USER_ALREADY_VERIFIED")));
    assert_eq!(maildev.wait_for("gina@test.com", 1).await.len(), 1, "no link for a confirmed address");

    // The tokens issued after say so.
    let pair = app.tokens("hank", PASSWORD).await;
    assert!(claims(&pair.access)["email_verified"].as_bool().unwrap(), "email_verified in the token");
    assert!(!claims(&unverified.access)["email_verified"].as_bool().unwrap());
}

#[tokio::test]
async fn an_expired_verify_token_is_a_bad_token() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    app.user("ivan").await;
    let token = token_in(&maildev.wait_for("ivan@test.com", 1).await[0], "verify");
    app.clock.advance(24 * 3600 + 1);
    assert_eq!(verify(&app, &token).await, (StatusCode::BAD_REQUEST, detail("VERIFY_USER_BAD_TOKEN")));
}

#[tokio::test]
async fn with_require_verified_email_only_a_confirmed_user_logs_in() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[("REQUIRE_VERIFIED_EMAIL", "true")]).await;
    assert_eq!(app.sign_up("judy").await.status(), StatusCode::CREATED);
    let not_verified = (StatusCode::BAD_REQUEST, detail("LOGIN_USER_NOT_VERIFIED"));
    assert_eq!(status_json(app.login("judy", PASSWORD).await).await, not_verified);
    let form = app
        .post_raw("/auth/token", "application/x-www-form-urlencoded", format!("username=judy&password={PASSWORD}"))
        .await;
    assert_eq!(status_json(form).await, not_verified);
    assert_eq!(
        app.login("judy", "a-wrong-password-entirely").await.status(),
        StatusCode::UNAUTHORIZED,
        "a wrong password tells nothing"
    );
    let token = token_in(&maildev.wait_for("judy@test.com", 1).await[0], "verify");
    assert_eq!(verify(&app, &token).await.0, StatusCode::OK);
    assert_eq!(app.login("judy", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_new_email_applies_when_it_confirms_and_the_old_address_hears_of_it() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    let tokens = app.user("kate").await;
    let change = json!({"email": "kate@new.test", "current_password": PASSWORD});
    let (status, user) = status_json(app.patch_me(&tokens.access, &change).await).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(
        (user["email"].as_str(), user["pending_email"].as_str()),
        (Some("kate@test.com"), Some("kate@new.test"))
    );
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::OK);

    let old_mails = maildev.wait_for("kate@test.com", 2).await;
    assert!(old_mails.iter().any(|m| m.text.contains("kate@new.test") && !m.text.contains("#token=")), "a notice");
    let token = token_in(&maildev.wait_for("kate@new.test", 1).await[0], "verify");
    let (status, user) = verify(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["email"], "kate@new.test");
    assert_eq!(user["email_verified"], true);
    assert!(user.get("pending_email").is_none(), "{user}");
    assert_eq!(maildev.wait_for("kate@test.com", 3).await.len(), 3, "the old address is told the change applied");

    // A change whose address another account registers meanwhile: 409 when it confirms.
    let change = json!({"email": "taken@new.test", "current_password": PASSWORD});
    assert_eq!(app.patch_me(&tokens.access, &change).await.status(), StatusCode::OK);
    let token = token_in(&maildev.wait_for("taken@new.test", 1).await[0], "verify");
    let squatter = json!({"username": "leo", "password": PASSWORD, "email": "taken@new.test", "first_name": "l", "last_name": "l"});
    assert_eq!(app.post_json("/users", &squatter).await.status(), StatusCode::CREATED);
    assert_eq!(verify(&app, &token).await, (StatusCode::CONFLICT, detail("Username or email already registered")));
    let (_, me) = status_json(app.get("/users", Some(&tokens.access)).await).await;
    assert_eq!(me["email"], "kate@new.test");
}

#[tokio::test]
async fn with_mail_off_the_routes_answer_alike_and_an_email_change_applies_at_once() {
    let app = spawn_app().await;
    let tokens = app.user("mia").await;
    assert_eq!(forgot(&app, "mia@test.com").await, (StatusCode::ACCEPTED, Value::Null));
    let request = app.post_json("/auth/request-verify-token", &json!({"email": "mia@test.com"})).await;
    assert_eq!(status_json(request).await, (StatusCode::ACCEPTED, Value::Null));
    let change = json!({"email": "mia@new.test", "current_password": PASSWORD});
    let (status, user) = status_json(app.patch_me(&tokens.access, &change).await).await;
    assert_eq!((status, user["email"].as_str()), (StatusCode::OK, Some("mia@new.test")));
    assert!(user.get("pending_email").is_none());
    let client = app.pool.get().await.unwrap();
    let queued: i64 = client.query_one("SELECT count(*) FROM mail_outbox", &[]).await.unwrap().get(0);
    assert_eq!(queued, 0, "nothing is queued with nobody to send it");
}

#[tokio::test]
async fn requests_past_their_limit_are_answered_alike_and_send_nothing() {
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[("MAIL_REQUEST_MAX_PER_EMAIL", "2")]).await;
    app.user("nina").await;
    reset_token(&app, &maildev, "nina@test.com", 1).await;
    reset_token(&app, &maildev, "nina@test.com", 2).await;
    assert_eq!(forgot(&app, "nina@test.com").await, (StatusCode::ACCEPTED, Value::Null), "held back, answered alike");
    // A later request past the window goes out; the held-back one never did.
    app.clock.advance(3600);
    let third = reset_token(&app, &maildev, "nina@test.com", 3).await;
    assert_eq!(reset(&app, &third, NEW_PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_pages_consume_nothing_and_forbid_what_they_do_not_need() {
    let app = spawn_app().await;
    for page in ["/reset-password", "/verify"] {
        let response = app.get(page, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'; script-src 'sha256-"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let html = response.text().await.unwrap();
        assert!(html.contains("location.hash"), "{page} reads its token from the fragment");
    }
}

#[tokio::test]
async fn a_reset_of_a_user_with_a_second_factor_needs_a_code_too() {
    use totp_rs::{Algorithm, Builder, Secret};
    let maildev = MailDev::start().await;
    let app = app_with_mail(&maildev, &[]).await;
    let tokens = app.user("pia").await;
    let enrol = app
        .client
        .post(format!("{}/users/mfa/totp", app.url))
        .bearer_auth(&tokens.access)
        .json(&json!({"current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let secret: Value = enrol.json().await.unwrap();
    let secret = Secret::try_from_base32(secret["secret"].as_str().unwrap()).unwrap();
    let totp = Builder::new().with_algorithm(Algorithm::SHA1).with_secret(secret).build().unwrap();
    let confirm = app
        .client
        .post(format!("{}/users/mfa/totp/confirm", app.url))
        .bearer_auth(&tokens.access)
        .json(&json!({"code": totp.generate(app.clock_now()).to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), StatusCode::OK);
    app.clock.advance(30);

    let token = reset_token(&app, &maildev, "pia@test.com", 1).await;
    let without = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(without, (StatusCode::FORBIDDEN, detail("MFA_REQUIRED")));
    let body = json!({"token": token, "password": NEW_PASSWORD, "code": "000000"});
    let wrong = status_json(app.post_json("/auth/reset-password", &body).await).await;
    assert_eq!(wrong, (StatusCode::BAD_REQUEST, detail("MFA_BAD_CODE")), "and the token is still not spent");
    let body = json!({"token": token, "password": NEW_PASSWORD, "code": totp.generate(app.clock_now()).to_string()});
    assert_eq!(status_json(app.post_json("/auth/reset-password", &body).await).await, (StatusCode::OK, Value::Null));
    let (status, body) = status_json(app.login("pia", NEW_PASSWORD).await).await;
    assert_eq!((status, body["detail"].as_str()), (StatusCode::FORBIDDEN, Some("MFA_REQUIRED")), "the factor stays");
}
