//! Writes `tests/vectors/issued_by_shared.json`: a token pair our crate issued and a PHC string it
//! made, for `tests/vectors/check_with_pyjwt.py` to check with PyJWT and hashlib, and for
//! `tests/vectors.rs` to keep verifying. It takes the test secret from `pyjwt.json`, so both
//! directions use the same one.
//!
//!     cargo run -p shared --example make_vectors --features jwt,hashing
//!
//! Everything comes out the same every time: a pair is a pure function of its subject, ticket and
//! key (HS256 and Ed25519 are both deterministic), and the salt is fixed.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::format_collect,
    reason = "a tool run by hand: a failure stops it with its reason, and speed is no concern"
)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, reason = "a std program beside the no_std crate")]

use serde_json::{Value, json};
use shared::assurance::{Assurance, SecondFactor};
use shared::domain::{Role, UserId};
use shared::password::{self, HashPolicy, SALT_LEN};
use shared::policy::Password;
use shared::session::Ticket;
use shared::token::{Algorithm, Keyring, Subject, TokenService, TokenSettings};

const PYJWT_VECTORS: &str = include_str!("../tests/vectors/pyjwt.json");
const OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/issued_by_shared.json");

/// When the tokens are issued and when they are to be checked.
const NOW: u64 = 1_700_000_000;
const SID: &str = "5e55104000000000000000000000beef";
/// Typed with a ligature and full-width letters: both sides hash its NFKC form.
const PASSWORD: &str = "issued by shared: \u{fb01}ne \u{ff23}af\u{e9} horse";
const WRONG_PASSWORD: &str = "issued by shared: fine Cafe horse";
const SALT: [u8; SALT_LEN] = *b"issued-by-shared";
const ITERATIONS: u32 = 1_000;
/// RFC 8032's first Ed25519 test seed: a public test value, never a key to use.
const EDDSA_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn main() {
    let pyjwt: Value = serde_json::from_str(PYJWT_VECTORS).expect("pyjwt.json is JSON");
    let secret = pyjwt["secret"].as_str().expect("pyjwt.json holds the secret");
    let keys = Keyring::from_secret(secret).expect("the test secret is a valid secret");
    let kid = keys.signing_kid().to_owned();
    let settings = TokenSettings::default();
    let service = TokenService::new(keys, settings.clone()).expect("the default settings are valid");

    let subject = Subject {
        user_id: UserId(7),
        username: "shared-user".into(),
        role: Role::Admin,
        ver: 2,
        email_verified: false,
    };
    // A session lifted by a TOTP code a minute before: the tokens carry every assurance claim.
    let assurance = Assurance { factor: SecondFactor::Totp, auth_time: NOW - 60 };
    let ticket = Ticket { sid: SID.into(), generation: 0, issued_at: NOW, assurance };
    let pair = service.issue_pair(&subject, &ticket);
    let eddsa_keys = Keyring::single(Algorithm::EdDsa, EDDSA_SEED).expect("the RFC 8032 seed is a valid seed");
    let eddsa = TokenService::new(eddsa_keys, settings.clone()).expect("the default settings are valid");
    let eddsa_pair = eddsa.issue_pair(&subject, &ticket);
    let jwks: Value = serde_json::from_str(&eddsa.jwks()).expect("the JWKS is JSON");

    let policy = HashPolicy::new(ITERATIONS).expect("1000 iterations is allowed");
    let phc = password::hash_with_salt(&Password::candidate(PASSWORD).expect("a valid password"), &SALT, &policy);
    let salt_hex: String = SALT.iter().map(|b| format!("{b:02x}")).collect();

    let document = json!({
        "about": "Made by `cargo run -p shared --example make_vectors --features jwt,hashing`; checked by check_with_pyjwt.py and shared/tests/vectors.rs. Test values only.",
        "secret": secret,
        "kid": kid,
        "issuer": settings.issuer,
        "audience": settings.audience,
        "leeway_secs": shared::token::LEEWAY_SECS,
        "access_ttl_secs": settings.access_ttl_secs,
        "refresh_ttl_secs": settings.refresh_ttl_secs,
        "now": NOW,
        "subject": {
            "sub": subject.user_id.to_string(),
            "username": subject.username,
            "role": subject.role.as_str(),
            "ver": subject.ver,
            "email_verified": subject.email_verified,
            "aal": assurance.aal().as_str(),
            "acr": assurance.aal().as_str(),
            "amr": assurance.amr(),
            "auth_time": assurance.auth_time,
        },
        "sid": SID,
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "eddsa": {
            "about": "An EdDSA (Ed25519) configuration: the JWKS every host publishes, and an access token it signed.",
            "jwks": jwks,
            "access_token": eddsa_pair.access_token,
        },
        "password": {
            "password": PASSWORD,
            "wrong_password": WRONG_PASSWORD,
            "salt_hex": salt_hex,
            "iterations": ITERATIONS,
            "phc": phc,
        },
    });
    let text = serde_json::to_string_pretty(&document).expect("a JSON value serialises") + "\n";
    std::fs::write(OUT, text).expect("writing issued_by_shared.json");
    println!("wrote {OUT}");
}
