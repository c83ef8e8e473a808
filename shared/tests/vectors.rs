//! Fixed cross-implementation vectors, in both directions.
//!
//! - `vectors/pyjwt.json`: tokens PyJWT made and PHC strings hashlib made (ours and passlib's
//!   format), written by `vectors/make_vectors.py`. Our crate must read them as PyJWT does.
//! - `vectors/issued_by_shared.json`: a token pair and a PHC string our crate made, written by
//!   `examples/make_vectors.rs` and checked with PyJWT by `vectors/check_with_pyjwt.py`. The tests
//!   here keep it verifying, so the committed file cannot silently rot.
#![cfg(all(feature = "jwt", feature = "hashing"))]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "a std program beside the no_std crate")]
#![allow(clippy::expect_used, reason = "a test: its helpers fail it with their reason")]

use std::collections::BTreeMap;

use serde::Deserialize;
use shared::domain::{Role, TokenKind, UserId};
use shared::password::{self, HashPolicy, SALT_LEN};
use shared::policy::Password;
use shared::token::{Keyring, LEEWAY_SECS, TokenService, TokenSettings, VerifiedToken};

const PYJWT: &str = include_str!("vectors/pyjwt.json");
const ISSUED_BY_SHARED: &str = include_str!("vectors/issued_by_shared.json");

#[derive(Deserialize)]
struct PyjwtVectors {
    secret: String,
    kid: String,
    issuer: String,
    audience: String,
    leeway_secs: u64,
    access_ttl_secs: u64,
    refresh_ttl_secs: u64,
    valid_access: TokenVector,
    valid: BTreeMap<String, TokenVector>,
    invalid: BTreeMap<String, TokenVector>,
    passwords: Vec<PasswordVector>,
}

#[derive(Deserialize)]
struct TokenVector {
    token: String,
    verify_as: TokenKind,
    now: u64,
    /// For a valid token: what it must yield.
    claims: Option<Claims>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    username: String,
    role: Role,
    typ: TokenKind,
    iat: u64,
    exp: u64,
    jti: String,
    sid: String,
    ver: i64,
}

#[derive(Deserialize)]
struct PasswordVector {
    name: String,
    password: String,
    wrong_password: String,
    phc: String,
}

#[derive(Deserialize)]
struct IssuedBySharedVectors {
    secret: String,
    kid: String,
    now: u64,
    subject: IssuedSubject,
    sid: String,
    access_token: String,
    refresh_token: String,
    eddsa: IssuedEddsa,
    password: IssuedPassword,
}

#[derive(Deserialize)]
struct IssuedEddsa {
    jwks: serde_json::Value,
    access_token: String,
}

#[derive(Deserialize)]
struct IssuedSubject {
    sub: String,
    username: String,
    role: Role,
    ver: i64,
    aal: String,
    auth_time: u64,
}

#[derive(Deserialize)]
struct IssuedPassword {
    password: String,
    wrong_password: String,
    salt_hex: String,
    iterations: u32,
    phc: String,
}

/// Why each negative token is refused (`TokenError::reason`, for logs only): each must fail for
/// the reason its name gives, not by accident. Every vector in the file must be listed here.
const REJECTIONS: &[(&str, &str)] = &[
    ("alg_none", "algorithm not allowed"),
    ("hs512", "algorithm not allowed"),
    ("tampered", "signature"),
    ("expired", "expired"),
    ("refresh_as_access", "wrong typ"),
    ("access_as_refresh", "wrong typ"),
    ("wrong_key", "signature"),
    ("wrong_issuer", "issuer"),
    ("wrong_audience", "audience"),
    ("unknown_kid", "unknown kid"),
    ("not_yet_valid", "not yet valid"),
    ("missing_exp", "missing time claims"),
];

fn pyjwt() -> PyjwtVectors {
    serde_json::from_str(PYJWT).expect("pyjwt.json matches the vectors' shape")
}

fn issued_by_shared() -> IssuedBySharedVectors {
    serde_json::from_str(ISSUED_BY_SHARED).expect("issued_by_shared.json matches the vectors' shape")
}

/// The service every host runs with the test secret and the default settings.
fn service(secret: &str) -> TokenService {
    let keys = Keyring::from_secret(secret).expect("the test secret is a valid secret");
    TokenService::new(keys, TokenSettings::default()).expect("the default settings are valid")
}

fn password(text: &str) -> Password {
    Password::candidate(text).expect("the vector's password is a valid candidate")
}

fn assert_yields(name: &str, verified: &VerifiedToken, claims: &Claims) {
    let subject = &verified.subject;
    assert_eq!(Some(subject.user_id), UserId::parse_subject(&claims.sub), "{name}: subject");
    assert_eq!(subject.username, claims.username, "{name}: username");
    assert_eq!(subject.role, claims.role, "{name}: role");
    assert_eq!(subject.ver, claims.ver, "{name}: ver");
    assert_eq!(verified.kind, claims.typ, "{name}: typ");
    assert_eq!(verified.sid, claims.sid, "{name}: sid");
    assert_eq!(verified.jti, claims.jti, "{name}: jti");
    assert_eq!(verified.issued_at, claims.iat, "{name}: iat");
    assert_eq!(verified.expires_at, claims.exp, "{name}: exp");
}

#[test]
fn the_vectors_use_the_default_issuer_audience_lifetimes_and_leeway() {
    let v = pyjwt();
    let defaults = TokenSettings::default();
    assert_eq!(v.issuer, defaults.issuer);
    assert_eq!(v.audience, defaults.audience);
    assert_eq!(v.access_ttl_secs, defaults.access_ttl_secs);
    assert_eq!(v.refresh_ttl_secs, defaults.refresh_ttl_secs);
    assert_eq!(v.leeway_secs, LEEWAY_SECS);
}

#[test]
fn the_keyring_names_the_test_secret_with_the_kid_pyjwt_put_in_the_header() {
    let v = pyjwt();
    let keys = Keyring::from_secret(&v.secret).expect("the test secret is a valid secret");
    assert_eq!(keys.signing_kid(), v.kid);
}

#[test]
fn an_access_token_pyjwt_made_verifies_and_yields_its_subject_session_and_version() {
    let v = pyjwt();
    let vector = &v.valid_access;
    let claims = vector.claims.as_ref().expect("valid_access lists its claims");
    let verified = service(&v.secret)
        .verify(&vector.token, vector.verify_as, vector.now)
        .expect("PyJWT's valid access token verifies");
    assert_eq!(verified.kind, TokenKind::Access);
    assert_yields("valid_access", &verified, claims);
}

#[test]
fn every_other_valid_token_pyjwt_made_verifies_with_the_claims_it_carries() {
    let v = pyjwt();
    let service = service(&v.secret);
    assert!(!v.valid.is_empty());
    for (name, vector) in &v.valid {
        let claims = vector.claims.as_ref().unwrap_or_else(|| panic!("{name} lists its claims"));
        let verified = service
            .verify(&vector.token, vector.verify_as, vector.now)
            .unwrap_or_else(|e| panic!("{name} should verify: {e}"));
        assert_yields(name, &verified, claims);
    }
}

#[test]
fn every_negative_token_pyjwt_made_is_rejected_for_the_reason_its_name_gives() {
    let v = pyjwt();
    let service = service(&v.secret);
    let mut listed: Vec<&str> = REJECTIONS.iter().map(|(name, _)| *name).collect();
    listed.sort_unstable();
    let in_file: Vec<&str> = v.invalid.keys().map(String::as_str).collect();
    assert_eq!(in_file, listed, "pyjwt.json's negative vectors and REJECTIONS differ");
    for (name, reason) in REJECTIONS {
        let vector = &v.invalid[*name];
        match service.verify(&vector.token, vector.verify_as, vector.now) {
            Ok(verified) => panic!("{name} was accepted: {verified:?}"),
            Err(e) => assert_eq!(e.reason, *reason, "{name} was rejected for another reason"),
        }
    }
}

#[test]
fn every_phc_string_hashlib_made_verifies_with_its_password_and_not_with_the_wrong_one() {
    let v = pyjwt();
    assert!(v.passwords.iter().any(|p| p.phc.starts_with("$pbkdf2-sha256$i=")), "no PHC-format vector");
    assert!(v.passwords.iter().any(|p| p.phc.starts_with("$pbkdf2-sha256$1000$")), "no passlib-format vector");
    for vector in &v.passwords {
        let name = &vector.name;
        assert!(password::verify(&password(&vector.password), &vector.phc), "{name}: its password does not verify");
        assert!(
            !password::verify(&password(&vector.wrong_password), &vector.phc),
            "{name}: the wrong password verifies"
        );
    }
}

#[test]
fn the_tokens_our_crate_issued_for_pyjwt_still_verify_at_their_now() {
    let v = issued_by_shared();
    assert_eq!(v.secret, pyjwt().secret, "both directions use the same test secret");
    let service = service(&v.secret);
    for (token, kind, ttl) in [
        (&v.access_token, TokenKind::Access, TokenSettings::DEFAULT_ACCESS_TTL_SECS),
        (&v.refresh_token, TokenKind::Refresh, TokenSettings::DEFAULT_REFRESH_TTL_SECS),
    ] {
        let verified = service.verify(token, kind, v.now).unwrap_or_else(|e| panic!("the {kind:?} token: {e}"));
        let subject = &verified.subject;
        assert_eq!(Some(subject.user_id), UserId::parse_subject(&v.subject.sub));
        assert_eq!(subject.username, v.subject.username);
        assert_eq!(subject.role, v.subject.role);
        assert_eq!(subject.ver, v.subject.ver);
        assert_eq!(verified.assurance.aal().as_str(), v.subject.aal);
        assert_eq!(verified.assurance.auth_time, v.subject.auth_time);
        assert_eq!(verified.kind, kind);
        assert_eq!(verified.sid, v.sid);
        assert_eq!(verified.issued_at, v.now);
        assert_eq!(verified.expires_at, v.now + ttl);
        let other = if kind == TokenKind::Access { TokenKind::Refresh } else { TokenKind::Access };
        assert!(service.verify(token, other, v.now).is_err(), "the {kind:?} token passes as {other:?}");
    }
    let keys = Keyring::from_secret(&v.secret).expect("the test secret is a valid secret");
    assert_eq!(keys.signing_kid(), v.kid);
}

#[test]
fn the_phc_string_our_crate_made_for_hashlib_is_the_one_it_makes_today() {
    let v = issued_by_shared().password;
    let salt: Vec<u8> = (0..v.salt_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v.salt_hex[i..i + 2], 16).expect("salt_hex is hex"))
        .collect();
    let salt: [u8; SALT_LEN] = salt.try_into().expect("the salt is SALT_LEN bytes");
    let policy = HashPolicy::new(v.iterations).expect("the vector's iterations are allowed");
    assert_eq!(password::hash_with_salt(&password(&v.password), &salt, &policy), v.phc);
    assert!(password::verify(&password(&v.password), &v.phc));
    assert!(!password::verify(&password(&v.wrong_password), &v.phc));
}

/// Another implementation (the `jsonwebtoken` crate) verifies our EdDSA token with nothing but
/// the JWKS we publish, as PyJWT does in `check_with_pyjwt.py`.
#[test]
fn the_eddsa_token_verifies_elsewhere_from_the_published_jwks_alone() {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let v = issued_by_shared();
    let set: JwkSet = serde_json::from_value(v.eddsa.jwks.clone()).expect("a JWK Set");
    let kid = decode_header(&v.eddsa.access_token).expect("a header").kid.expect("a kid");
    let jwk = set.find(&kid).expect("the header's kid is in the set");
    let key = DecodingKey::from_jwk(jwk).expect("an Ed25519 public key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false; // issued at the file's `now`, long past
    validation.set_audience(&[TokenSettings::DEFAULT_AUDIENCE]);
    validation.set_issuer(&[TokenSettings::DEFAULT_ISSUER]);
    let claims = decode::<serde_json::Value>(&v.eddsa.access_token, &key, &validation).expect("it verifies");
    assert_eq!(claims.claims["sub"], v.subject.sub.as_str());
    assert_eq!(claims.claims["typ"], "access");
}
