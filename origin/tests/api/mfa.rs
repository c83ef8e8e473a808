//! The second factor: enrolment, the step-up of a login, recovery codes, assurance in tokens, and
//! `REQUIRE_AAL2` at the origin (the edge's side is in the end-to-end run).

use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::helpers::{PASSWORD, TestApp, Tokens, claims, detail, spawn_app, spawn_app_with, status_json};

/// A user with a confirmed factor: its authenticator, its recovery codes, and the `aal2` pair
/// the confirmation answered.
struct Enrolled {
    totp: Totp,
    recovery_codes: Vec<String>,
    tokens: Tokens,
}

fn authenticator(secret: &str) -> Totp {
    let secret = Secret::try_from_base32(secret).expect("a base32 secret");
    Builder::new().with_algorithm(Algorithm::SHA1).with_secret(secret).build().expect("a TOTP")
}

fn code(app: &TestApp, totp: &Totp) -> String {
    totp.generate(app.clock_now()).to_string()
}

async fn send(app: &TestApp, method: reqwest::Method, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let response =
        app.client.request(method, format!("{}{path}", app.url)).bearer_auth(token).json(body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn enrol(app: &TestApp, username: &str) -> Enrolled {
    let tokens = app.user(username).await;
    let (status, enrolment) =
        send(app, reqwest::Method::POST, "/users/mfa/totp", &tokens.access, &json!({"current_password": PASSWORD}))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{enrolment}");
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/jwt-auth:") && uri.contains("issuer=jwt-auth"), "{uri}");
    let totp = authenticator(enrolment["secret"].as_str().unwrap());
    let (status, confirmed) =
        send(app, reqwest::Method::POST, "/users/mfa/totp/confirm", &tokens.access, &json!({"code": code(app, &totp)}))
            .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let recovery_codes: Vec<String> =
        confirmed["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    let tokens = Tokens {
        access: confirmed["access_token"].as_str().unwrap().to_owned(),
        refresh: confirmed["refresh_token"].as_str().unwrap().to_owned(),
    };
    // The confirming code's step is spent: the next login needs the next one.
    app.clock.advance(30);
    Enrolled { totp, recovery_codes, tokens }
}

/// A login's `mfa_token`, from the 403 a right password gets.
async fn mfa_token(app: &TestApp, username: &str) -> String {
    let (status, body) = status_json(app.login(username, PASSWORD).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"], "MFA_REQUIRED");
    assert!(body.get("access_token").is_none(), "no pair before the second factor");
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn second_factor(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    status_json(app.post_json("/auth/mfa", body).await).await
}

#[tokio::test]
async fn confirming_a_factor_answers_codes_and_an_aal2_pair_and_ends_the_other_sessions() {
    let app = spawn_app().await;
    let elsewhere = app.user("ann").await;
    let (status, enrolment) =
        send(&app, reqwest::Method::POST, "/users/mfa/totp", &elsewhere.access, &json!({"current_password": PASSWORD}))
            .await;
    assert_eq!(status, StatusCode::CREATED);
    let here = app.tokens("ann", PASSWORD).await;
    let totp = authenticator(enrolment["secret"].as_str().unwrap());
    let wrong =
        send(&app, reqwest::Method::POST, "/users/mfa/totp/confirm", &here.access, &json!({"code": "000000"})).await;
    assert_eq!(wrong, (StatusCode::BAD_REQUEST, detail("MFA_BAD_CODE")));
    let (status, confirmed) =
        send(&app, reqwest::Method::POST, "/users/mfa/totp/confirm", &here.access, &json!({"code": code(&app, &totp)}))
            .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let codes = confirmed["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 27), "{codes:?}");
    let access = claims(confirmed["access_token"].as_str().unwrap());
    assert_eq!((access["aal"].as_str(), access["acr"].as_str()), (Some("aal2"), Some("aal2")));
    assert_eq!(access["amr"], json!(["pwd", "otp", "mfa"]));
    let refreshed = app.post_json("/auth/refresh", &json!({"refresh_token": elsewhere.refresh})).await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED, "the other session ended");
    let status = status_json(app.get("/users/mfa", Some(confirmed["access_token"].as_str().unwrap())).await).await;
    assert_eq!(status, (StatusCode::OK, json!({"totp": true, "recovery_codes_left": 10})));
}

#[tokio::test]
async fn a_login_with_a_factor_steps_up_to_an_aal2_pair() {
    let app = spawn_app().await;
    let ann = enrol(&app, "ann").await;
    let token = mfa_token(&app, "ann").await;
    let (status, pair) = second_factor(&app, &json!({"mfa_token": token, "code": code(&app, &ann.totp)})).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let access = claims(pair["access_token"].as_str().unwrap());
    assert_eq!(access["aal"], "aal2");
    assert_eq!(access["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(access["auth_time"].as_u64(), Some(app.clock_now()));
    assert!(pair["device_token"].is_string(), "a new device gets its token");
    assert_eq!(app.get("/users", pair["access_token"].as_str()).await.status(), StatusCode::OK);
    let spent = second_factor(&app, &json!({"mfa_token": token, "code": code(&app, &ann.totp)})).await;
    assert_eq!(spent, (StatusCode::BAD_REQUEST, detail("MFA_TOKEN_INVALID")), "an mfa_token works once");
    let wrong_password = app.login("ann", "not-the-password-at-all").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED, "a wrong password stays a 401");
}

#[tokio::test]
async fn a_code_is_accepted_once_even_when_two_logins_send_it_at_once() {
    let app = spawn_app().await;
    let ann = enrol(&app, "ann").await;
    let now = code(&app, &ann.totp);
    let first = mfa_token(&app, "ann").await;
    assert_eq!(second_factor(&app, &json!({"mfa_token": first, "code": now})).await.0, StatusCode::OK);
    let second = mfa_token(&app, "ann").await;
    let replay = second_factor(&app, &json!({"mfa_token": second, "code": now})).await;
    assert_eq!(replay, (StatusCode::BAD_REQUEST, detail("MFA_BAD_CODE")), "the same code on a second login");

    app.clock.advance(30);
    let next = code(&app, &ann.totp);
    let (a, b) = (mfa_token(&app, "ann").await, mfa_token(&app, "ann").await);
    let url = format!("{}/auth/mfa", app.url);
    let send = |token: String| {
        let (client, url, next) = (app.client.clone(), url.clone(), next.clone());
        tokio::spawn(async move {
            client.post(url).json(&json!({"mfa_token": token, "code": next})).send().await.unwrap().status()
        })
    };
    let (a, b) = (send(a), send(b));
    let statuses = [a.await.unwrap(), b.await.unwrap()];
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
}

#[tokio::test]
async fn five_wrong_codes_end_the_mfa_token() {
    let app = spawn_app().await;
    let ann = enrol(&app, "ann").await;
    let token = mfa_token(&app, "ann").await;
    for _ in 0..5 {
        let wrong = second_factor(&app, &json!({"mfa_token": token, "code": "000000"})).await;
        assert_eq!(wrong, (StatusCode::BAD_REQUEST, detail("MFA_BAD_CODE")));
    }
    let dead = second_factor(&app, &json!({"mfa_token": token, "code": code(&app, &ann.totp)})).await;
    assert_eq!(dead, (StatusCode::BAD_REQUEST, detail("MFA_TOKEN_INVALID")));
    assert_eq!(
        second_factor(&app, &json!({"mfa_token": "made-up", "code": "123456"})).await.1,
        detail("MFA_TOKEN_INVALID")
    );
    let (status, body) = second_factor(&app, &json!({"mfa_token": token})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn each_recovery_code_works_once_and_a_new_set_voids_the_old() {
    let app = spawn_app().await;
    let ann = enrol(&app, "ann").await;
    let used = &ann.recovery_codes[0];
    let token = mfa_token(&app, "ann").await;
    let (status, pair) = second_factor(&app, &json!({"mfa_token": token, "recovery_code": used.to_lowercase()})).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let access = claims(pair["access_token"].as_str().unwrap());
    assert_eq!((access["aal"].as_str(), &access["amr"]), (Some("aal2"), &json!(["pwd", "mfa"])));
    let token = mfa_token(&app, "ann").await;
    let again = second_factor(&app, &json!({"mfa_token": token, "recovery_code": used})).await;
    assert_eq!(again, (StatusCode::BAD_REQUEST, detail("MFA_BAD_CODE")), "spent");

    let current = json!({"current_password": PASSWORD});
    let (status, fresh) =
        send(&app, reqwest::Method::POST, "/users/mfa/recovery-codes", &ann.tokens.access, &current).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let token = mfa_token(&app, "ann").await;
    let old = second_factor(&app, &json!({"mfa_token": token, "recovery_code": ann.recovery_codes[1]})).await;
    assert_eq!(old, (StatusCode::BAD_REQUEST, detail("MFA_BAD_CODE")), "the old set is void");
    let new = fresh["recovery_codes"][0].as_str().unwrap();
    assert_eq!(second_factor(&app, &json!({"mfa_token": token, "recovery_code": new})).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_stored_secret_is_sealed() {
    let app = spawn_app().await;
    let tokens = app.user("ann").await;
    let (_, enrolment) =
        send(&app, reqwest::Method::POST, "/users/mfa/totp", &tokens.access, &json!({"current_password": PASSWORD}))
            .await;
    let secret = Secret::try_from_base32(enrolment["secret"].as_str().unwrap()).unwrap().as_bytes().to_vec();
    let client = app.pool.get().await.unwrap();
    let row = client.query_one("SELECT to_jsonb(f)::text, sealed_secret FROM mfa_factors f", &[]).await.unwrap();
    let sealed: Vec<u8> = row.get(1);
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()), "the secret's bytes are in the row");
    let text: String = row.get(0);
    assert!(!text.contains(enrolment["secret"].as_str().unwrap()), "the base32 secret is in the row");
}

#[tokio::test]
async fn aal2_lapses_and_changing_the_factor_then_needs_it_again() {
    let app = spawn_app_with(&[("AAL2_MAX_AGE_SECS", "3600")]).await;
    let ann = enrol(&app, "ann").await;
    let current = json!({"current_password": PASSWORD});
    app.clock.advance(3600);
    let (status, pair) =
        status_json(app.post_json("/auth/refresh", &json!({"refresh_token": ann.tokens.refresh})).await).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!((claims(access)["aal"].as_str(), &claims(access)["amr"]), (Some("aal1"), &json!(["pwd"])));
    for (method, path) in [(reqwest::Method::POST, "/users/mfa/totp"), (reqwest::Method::DELETE, "/users/mfa/totp")] {
        let response = app
            .client
            .request(method, format!("{}{path}", app.url))
            .bearer_auth(access)
            .json(&current)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains(r#"error="insufficient_user_authentication""#)
                && challenge.contains(r#"acr_values="aal2""#),
            "{challenge}"
        );
    }
    // A fresh login with the second factor may turn it off, with the current password.
    let token = mfa_token(&app, "ann").await;
    let (_, pair) = second_factor(&app, &json!({"mfa_token": token, "code": code(&app, &ann.totp)})).await;
    let aal2 = pair["access_token"].as_str().unwrap();
    let wrong = send(
        &app,
        reqwest::Method::DELETE,
        "/users/mfa/totp",
        aal2,
        &json!({"current_password": "not-my-password-at-all"}),
    )
    .await;
    assert_eq!(wrong.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&app, reqwest::Method::DELETE, "/users/mfa/totp", aal2, &current).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.login("ann", PASSWORD).await.status(), StatusCode::OK, "no second factor any more");
}

#[tokio::test]
async fn require_aal2_admin_refuses_an_admins_aal1_token_with_the_step_up_challenge() {
    let app = spawn_app_with(&[("REQUIRE_AAL2", "admin")]).await;
    let root = app.admin("root").await;
    let response = app.get("/users/admin", Some(&root.access)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_user_authentication"));
    assert_eq!(app.get("/users", Some(&root.access)).await.status(), StatusCode::OK, "other routes are not guarded");
    let user = app.user("bob").await;
    assert_eq!(
        app.get("/users/admin", Some(&user.access)).await.status(),
        StatusCode::FORBIDDEN,
        "a non-admin is one first"
    );

    let (_, enrolment) =
        send(&app, reqwest::Method::POST, "/users/mfa/totp", &root.access, &json!({"current_password": PASSWORD}))
            .await;
    let totp = authenticator(enrolment["secret"].as_str().unwrap());
    let (_, confirmed) =
        send(&app, reqwest::Method::POST, "/users/mfa/totp/confirm", &root.access, &json!({"code": code(&app, &totp)}))
            .await;
    let aal2 = confirmed["access_token"].as_str().unwrap();
    assert_eq!(app.get("/users/admin", Some(aal2)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_removes_a_users_factor_and_ends_their_sessions() {
    let app = spawn_app().await;
    let ann = enrol(&app, "ann").await;
    let root = app.admin("root").await;
    let id: i64 = app
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT id FROM users WHERE username = 'ann'", &[])
        .await
        .unwrap()
        .get(0);
    let path = format!("/users/admin/{id}/mfa");
    assert_eq!(send(&app, reqwest::Method::DELETE, &path, &root.access, &Value::Null).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/users", Some(&ann.tokens.access)).await.status(), StatusCode::UNAUTHORIZED, "sessions ended");
    assert_eq!(app.login("ann", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(send(&app, reqwest::Method::DELETE, &path, &root.access, &Value::Null).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_mfa_encryption_keys_no_one_can_enrol() {
    let app = spawn_app_with(&[("MFA_ENCRYPTION_KEYS", "")]).await;
    let tokens = app.user("ann").await;
    let answer =
        send(&app, reqwest::Method::POST, "/users/mfa/totp", &tokens.access, &json!({"current_password": PASSWORD}))
            .await;
    assert_eq!(answer, (StatusCode::SERVICE_UNAVAILABLE, detail("Service misconfigured")));
    assert_eq!(
        status_json(app.get("/users/mfa", Some(&tokens.access)).await).await.1,
        json!({"totp": false, "recovery_codes_left": 0})
    );
}

#[tokio::test]
async fn the_owner_hears_of_the_factor_a_recovery_code_used_and_five_wrong_codes() {
    let maildev = crate::maildev::MailDev::start().await;
    let smtp = maildev.smtp_url();
    let app = spawn_app_with(&[("SMTP_URL", smtp.as_str()), ("PUBLIC_URL", "https://auth.example.test")]).await;
    let ann = enrol(&app, "ann").await;
    let subjects = |mails: Vec<crate::maildev::Mail>| mails.into_iter().map(|m| m.subject).collect::<Vec<_>>();
    let on = maildev.wait_for_where("ann@test.com", 1, |m| m.subject.contains("second factor is on")).await;
    assert!(!on[0].text.contains(&ann.recovery_codes[0]), "no secret in a notice");

    let token = mfa_token(&app, "ann").await;
    let used = second_factor(&app, &json!({"mfa_token": token, "recovery_code": ann.recovery_codes[0]})).await;
    assert_eq!(used.0, StatusCode::OK);
    let notice = maildev.wait_for_where("ann@test.com", 1, |m| m.subject.contains("recovery code")).await;
    assert!(notice[0].text.contains("9 recovery codes are left"), "{}", notice[0].text);

    let token = mfa_token(&app, "ann").await;
    for _ in 0..5 {
        assert_eq!(
            second_factor(&app, &json!({"mfa_token": token, "code": "000000"})).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let warned = maildev.wait_for_where("ann@test.com", 1, |m| m.subject.contains("Wrong codes")).await;
    assert!(warned[0].text.contains("5 wrong codes"), "{:?}", subjects(warned));
}
