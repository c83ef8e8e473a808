//! HS256 issue and verify through `shared::token` (jwt-simple, pure Rust) beside the
//! `jsonwebtoken` crate (`rust_crypto` backend: `hmac` + `sha2`) on the same token, the same
//! claims and the same checks (signature, alg, iss, aud, exp, nbf with a 30 s leeway, typ, sub).
//!
//!     cargo bench -p shared --features jwt,hashing --bench tokens
//!     bench/criterion-ratios.sh            # the ratios of the run, from target/criterion
//!
//! The `verify_by_algorithm` group verifies the same claims signed with HS256 and with EdDSA
//! (Ed25519), both through `shared::token`: what choosing `JWT_ALG=EdDSA` costs per request.
//!
//! The `hs256_verify_parts` group splits one verification into its steps (base64, HMAC, JSON),
//! each beside the implementation `jsonwebtoken` uses, to show where jwt-simple spends its time.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::format_collect,
    clippy::disallowed_methods,
    reason = "a benchmark: a tool with fixed inputs that reads the real clock once; a failure stops it"
)]

use core::hint::black_box;
use core::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use jwt_simple::prelude::{
    Base64UrlSafeNoPadding, Duration as JwtDuration, HS256Key, JWTClaims, MACLike as _, Token, VerificationOptions,
};
use jwt_simple::reexports::ct_codecs::Decoder as _;
use serde::{Deserialize, Serialize};
use shared::assurance::Assurance;
use shared::domain::{Role, TokenKind, UserId};
use shared::session::Ticket;
use shared::token::{Keyring, LEEWAY_SECS, MAX_TOKEN_LEN, Subject, TokenService, TokenSettings};

/// 64 hex characters, as `openssl rand -hex 32` prints (the origin's `JWT_SECRET`).
const SECRET: &str = "3f9c1e7a5b2d8046c1e9f7a3b5d2084e6c1a9f3e7b5d20486a1c9e3f7b5d2048";

/// The claims `shared::token` writes, as one flat struct: what a `jsonwebtoken` user would declare.
#[derive(Debug, Serialize, Deserialize)]
struct FlatClaims {
    iat: u64,
    exp: u64,
    nbf: u64,
    iss: String,
    sub: String,
    aud: String,
    jti: String,
    username: String,
    role: Role,
    typ: TokenKind,
    sid: String,
    ver: i64,
}

/// Our custom claims as jwt-simple carries them (`#[serde(flatten)]` into `JWTClaims`).
#[derive(Debug, Serialize, Deserialize)]
struct CustomClaims {
    username: String,
    role: Role,
    typ: TokenKind,
    sid: String,
    ver: i64,
}

struct Fixture {
    service: TokenService,
    settings: TokenSettings,
    subject: Subject,
    sid: String,
    ticket: Ticket,
    kid: String,
    now: u64,
    /// An access token issued by `shared`.
    token: String,
    jwt_header: Header,
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs()
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the platform's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fixture() -> Fixture {
    let keyring = Keyring::from_secret(SECRET).expect("a 64-character secret is accepted");
    let kid = keyring.signing_kid().to_owned();
    let settings = TokenSettings::default();
    let service = TokenService::new(keyring, settings.clone()).expect("the default settings are valid");
    let subject = Subject {
        user_id: UserId(4242),
        username: "velvet_otter".into(),
        role: Role::User,
        ver: 3,
        email_verified: true,
    };
    let sid = TokenService::random_id();
    // jsonwebtoken reads the system clock, so the tokens are issued now.
    let now = now();
    let ticket = Ticket { sid: sid.clone(), generation: 0, issued_at: now, assurance: Assurance::password(now) };
    let token = service.issue(&subject, TokenKind::Access, &ticket);

    let mut jwt_header = Header::new(Algorithm::HS256);
    jwt_header.kid = Some(kid.clone());
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);

    let fixture = Fixture {
        service,
        settings,
        subject,
        sid,
        ticket,
        kid,
        now,
        token,
        jwt_header,
        encoding_key: EncodingKey::from_secret(SECRET.as_bytes()),
        decoding_key: DecodingKey::from_secret(SECRET.as_bytes()),
        validation,
    };
    // The two libraries must accept each other's tokens: the same work on the same bytes.
    let ours = fixture.service.verify(&fixture.token, TokenKind::Access, now).expect("shared verifies its own token");
    let theirs = jsonwebtoken_verify(&fixture, &fixture.token).expect("jsonwebtoken verifies shared's token");
    assert_eq!(
        (theirs.sub.as_str(), theirs.jti.as_str()),
        (ours.subject.user_id.to_string().as_str(), ours.jti.as_str())
    );
    let foreign = jsonwebtoken_issue(&fixture);
    let checked = fixture.service.verify(&foreign, TokenKind::Access, now).expect("shared verifies jsonwebtoken's");
    assert_eq!(checked.subject, fixture.subject);
    fixture
}

/// What `TokenService::issue` does, written for `jsonwebtoken`: same claims, same random jti.
fn jsonwebtoken_issue(f: &Fixture) -> String {
    let claims = FlatClaims {
        iat: f.now,
        exp: f.now + f.settings.access_ttl_secs,
        nbf: f.now,
        iss: f.settings.issuer.clone(),
        sub: f.subject.user_id.to_string(),
        aud: f.settings.audience.clone(),
        jti: random_hex(),
        username: f.subject.username.clone(),
        role: f.subject.role,
        typ: TokenKind::Access,
        sid: f.sid.clone(),
        ver: f.subject.ver,
    };
    jsonwebtoken::encode(&f.jwt_header, &claims, &f.encoding_key).expect("encoding with a valid key")
}

/// What `TokenService::verify` checks, written for `jsonwebtoken`: alg, signature, exp, nbf, iss,
/// aud (by `Validation`), then typ and sub.
fn jsonwebtoken_verify(f: &Fixture, token: &str) -> Option<FlatClaims> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let data = jsonwebtoken::decode::<FlatClaims>(token, &f.decoding_key, &f.validation).ok()?;
    let claims = data.claims;
    (claims.typ == TokenKind::Access && UserId::parse_subject(&claims.sub).is_some()).then_some(claims)
}

/// The same with the key chosen by `kid` first, as a keyring must (the header is parsed twice,
/// as `TokenService::verify` does).
fn jsonwebtoken_verify_by_kid(f: &Fixture, token: &str) -> Option<FlatClaims> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.kid.as_deref() != Some(f.kid.as_str()) {
        return None;
    }
    jsonwebtoken_verify(f, token)
}

fn issue(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("hs256_issue");
    group.bench_function("shared_issue_access", |b| {
        b.iter(|| f.service.issue(black_box(&f.subject), TokenKind::Access, black_box(&f.ticket)));
    });
    group.bench_function("jsonwebtoken_issue_access", |b| b.iter(|| jsonwebtoken_issue(black_box(&f))));
    group.bench_function("shared_issue_pair", |b| {
        b.iter(|| f.service.issue_pair(black_box(&f.subject), black_box(&f.ticket)));
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("hs256_verify");
    group.bench_function("shared_verify_access", |b| {
        b.iter(|| f.service.verify(black_box(&f.token), TokenKind::Access, f.now).expect("a valid token"));
    });
    group.bench_function("jsonwebtoken_verify_access", |b| {
        b.iter(|| jsonwebtoken_verify(&f, black_box(&f.token)).expect("a valid token"));
    });
    group.bench_function("jsonwebtoken_verify_access_by_kid", |b| {
        b.iter(|| jsonwebtoken_verify_by_kid(&f, black_box(&f.token)).expect("a valid token"));
    });
    group.finish();
}

/// One verification, step by step, on the same token.
fn verify_parts(c: &mut Criterion) {
    let f = fixture();
    let token = f.token.as_str();
    let mut segments = token.split('.');
    let (header_b64, claims_b64, tag_b64) =
        (segments.next().expect("a header"), segments.next().expect("claims"), segments.next().expect("a tag"));
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    let claims_json = Base64UrlSafeNoPadding::decode_to_vec(claims_b64, None).expect("base64 claims");
    let key = HS256Key::from_bytes(SECRET.as_bytes()).with_key_id(&f.kid);
    let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let options = || VerificationOptions {
        time_tolerance: Some(JwtDuration::from_secs(LEEWAY_SECS)),
        artificial_time: Some(JwtDuration::from_secs(f.now)),
        max_token_length: Some(MAX_TOKEN_LEN),
        ..Default::default()
    };
    let tag = Base64UrlSafeNoPadding::decode_to_vec(tag_b64, None).expect("base64 tag");
    assert_eq!(key.authentication_tag(signing_input.as_bytes()), tag);
    assert_eq!(ring::hmac::sign(&ring_key, signing_input.as_bytes()).as_ref(), tag.as_slice());

    let mut group = c.benchmark_group("hs256_verify_parts");
    // The whole of jwt-simple's verify, without shared's header pre-pass.
    group.bench_function("jwt_simple_verify_token", |b| {
        b.iter(|| key.verify_token::<CustomClaims>(black_box(token), Some(options())).expect("a valid token"));
    });
    // shared's pre-pass: alg and kid before choosing the key (jwt-simple parses the header again).
    group.bench_function("jwt_simple_decode_metadata", |b| {
        b.iter(|| Token::decode_metadata(black_box(token)).expect("a header"));
    });
    // base64url of the claims and the tag: ct-codecs (jwt-simple, constant-time) and base64 (jsonwebtoken).
    group.bench_function("ct_codecs_b64_claims_and_tag", |b| {
        b.iter(|| {
            let claims = Base64UrlSafeNoPadding::decode_to_vec(black_box(claims_b64), None).expect("base64");
            let tag = Base64UrlSafeNoPadding::decode_to_vec(black_box(tag_b64), None).expect("base64");
            (claims, tag)
        });
    });
    group.bench_function("base64_b64_claims_and_tag", |b| {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        b.iter(|| {
            let claims = engine.decode(black_box(claims_b64)).expect("base64");
            let tag = engine.decode(black_box(tag_b64)).expect("base64");
            (claims, tag)
        });
    });
    // HMAC-SHA256 over the signing input: hmac-sha256 (jwt-simple, portable SHA-256),
    // hmac + sha2 (jsonwebtoken; sha2 uses the CPU's SHA extensions when present), and ring.
    group.bench_function("hmac_sha256_crate_tag", |b| {
        b.iter(|| key.authentication_tag(black_box(signing_input.as_bytes())));
    });
    group.bench_function("rustcrypto_hmac_sha2_tag", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::sign(black_box(signing_input.as_bytes()), &f.encoding_key, Algorithm::HS256)
                .expect("signing")
        });
    });
    group.bench_function("ring_hmac_tag", |b| {
        b.iter(|| ring::hmac::sign(&ring_key, black_box(signing_input.as_bytes())));
    });
    // The claims JSON: into jwt-simple's JWTClaims with the custom part flattened (serde buffers
    // the whole object first), and into one flat struct.
    group.bench_function("serde_json_claims_flattened", |b| {
        b.iter(|| serde_json::from_slice::<JWTClaims<CustomClaims>>(black_box(&claims_json)).expect("claims"));
    });
    group.bench_function("serde_json_claims_flat", |b| {
        b.iter(|| serde_json::from_slice::<FlatClaims>(black_box(&claims_json)).expect("claims"));
    });
    group.finish();
}

/// The same access token under HS256 and under EdDSA, each verified by its own service.
fn verify_by_algorithm(c: &mut Criterion) {
    let f = fixture();
    let eddsa_keys = Keyring::single(shared::keys::Algorithm::EdDsa, &SECRET[..64]).expect("64 hex digits are a seed");
    let eddsa = TokenService::new(eddsa_keys, f.settings.clone()).expect("the default settings are valid");
    let eddsa_token = eddsa.issue(&f.subject, TokenKind::Access, &f.ticket);
    eddsa.verify(&eddsa_token, TokenKind::Access, f.now).expect("shared verifies its own EdDSA token");
    let mut group = c.benchmark_group("verify_by_algorithm");
    group.bench_function("shared_verify_hs256", |b| {
        b.iter(|| f.service.verify(black_box(&f.token), TokenKind::Access, f.now));
    });
    group.bench_function("shared_verify_eddsa", |b| {
        b.iter(|| eddsa.verify(black_box(&eddsa_token), TokenKind::Access, f.now));
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = issue, verify, verify_by_algorithm, verify_parts
}
criterion_main!(benches);
