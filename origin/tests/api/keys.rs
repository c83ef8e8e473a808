//! Keys: EdDSA signing with the public keys published as a JWKS, and rotation with `kid` (old
//! tokens verify while their key is listed, not after it is removed).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_with, status_json};

const SEED_A: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const SEED_B: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

async fn jwks(app: &TestApp) -> Value {
    let response = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::OK);
    body
}

fn header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn with_eddsa_tokens_are_signed_by_the_first_key_and_every_public_key_is_published() {
    let keys = format!("b:{SEED_B},a:{SEED_A}");
    let app = spawn_app_with(&[("JWT_ALG", "EdDSA"), ("JWT_KEYS", &keys)]).await;
    let tokens = app.user("alice").await;
    let head = header(&tokens.access);
    assert_eq!((head["alg"].as_str(), head["kid"].as_str()), (Some("EdDSA"), Some("b")));
    let set = jwks(&app).await;
    let kids: Vec<&str> = set["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["b", "a"]);
    for key in set["keys"].as_array().unwrap() {
        assert_eq!((key["kty"].as_str(), key["alg"].as_str()), (Some("OKP"), Some("EdDSA")));
        assert!(key.get("d").is_none(), "never a private key");
    }
    assert_eq!(app.get("/users", Some(&tokens.access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_rotation_keeps_tokens_of_the_previous_key_until_it_is_removed() {
    let app = spawn_app_with(&[("JWT_ALG", "EdDSA"), ("JWT_KEYS", &format!("a:{SEED_A}"))]).await;
    let tokens = app.user("alice").await;
    let rotated = app.beside(&[("JWT_ALG", "EdDSA"), ("JWT_KEYS", &format!("b:{SEED_B},a:{SEED_A}"))]).await;
    assert_eq!(rotated.get("/users", Some(&tokens.access)).await.status(), StatusCode::OK);
    let renewed = rotated.post_json("/auth/refresh", &serde_json::json!({"refresh_token": tokens.refresh})).await;
    let (status, pair) = status_json(renewed).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(pair["access_token"].as_str().unwrap())["kid"], "b", "new tokens use the new key");
    let retired = app.beside(&[("JWT_ALG", "EdDSA"), ("JWT_KEYS", &format!("b:{SEED_B}"))]).await;
    assert_eq!(retired.get("/users", Some(&tokens.access)).await.status(), StatusCode::UNAUTHORIZED);
    let new_access = pair["access_token"].as_str().unwrap();
    assert_eq!(retired.get("/users", Some(new_access)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn hs256_publishes_no_key() {
    let app = spawn_app().await;
    assert_eq!(jwks(&app).await, serde_json::json!({"keys": []}));
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_published_eddsa_key_is_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};
    let app = spawn_app_with(&[("JWT_ALG", "EdDSA"), ("JWT_KEYS", &format!("a:{SEED_A}"))]).await;
    let tokens = app.user("alice").await;
    let x = jwks(&app).await["keys"][0]["x"].as_str().unwrap().to_owned();
    let payload = tokens.access.split('.').nth(1).unwrap();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT","kid":"a"}"#);
    let signing_input = format!("{header}.{payload}");
    for secret in [x.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(&x).unwrap()] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
        mac.update(signing_input.as_bytes());
        let forged = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(app.get("/users", Some(&forged)).await.status(), StatusCode::UNAUTHORIZED);
    }
}
