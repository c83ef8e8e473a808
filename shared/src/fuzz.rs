//! Entry points for the fuzzers (`fuzz/`) and for the regression tests that replay what they
//! found (`tests/fuzz_regressions.rs`): each takes arbitrary bytes and must return, never panic,
//! whatever the bytes are.
#![allow(
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "a harness: its own fixed keys and inputs cannot fail, and a panic is what a fuzzer reports"
)]

use alloc::string::String;
use alloc::vec::Vec;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::TokenKind;
use crate::keys::{Algorithm, Keyring};
use crate::password::{self, HashPolicy};
use crate::policy::Password;
use crate::token::{TokenService, TokenSettings};

const NOW: u64 = 1_800_000_000;
const SECRET_1: &str = "fuzzing-secret-one-0123456789abcdef0123";
const SECRET_2: &str = "fuzzing-secret-two-0123456789abcdef0123";
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

/// Every way a keyring picks its key: one HS256 key, several (the header's `kid` chooses), EdDSA.
fn services() -> &'static [TokenService] {
    static SERVICES: OnceLock<Vec<TokenService>> = OnceLock::new();
    SERVICES.get_or_init(|| {
        let spec = alloc::format!("k1:{SECRET_1},k2:{SECRET_2}");
        [Keyring::from_secret(SECRET_1), Keyring::from_spec(&spec), Keyring::single(Algorithm::EdDsa, SEED)]
            .into_iter()
            .map(|keys| TokenService::new(keys.expect("a valid test key"), TokenSettings::default()).expect("defaults"))
            .collect()
    })
}

fn verify_everywhere(token: &str) {
    for service in services() {
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            if let Ok(verified) = service.verify(token, kind, NOW) {
                let _ = verified.generation();
            }
        }
    }
}

/// Any bytes as a token: the header, the base64, the JSON, the signature check.
pub fn token(data: &[u8]) {
    if let Ok(text) = core::str::from_utf8(data) {
        verify_everywhere(text);
    }
}

/// Any header and claims, genuinely signed with HS256 under the first secret: what runs after the
/// signature passes, for the several-key ring (which knows that secret as `k1`) and the one-key
/// ring (which names it by its derived kid); the seeds carry both kids. EdDSA is reached here only
/// up to its signature check. The first byte says where the header ends.
pub fn signed(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (header, claims) = rest.split_at(usize::from(split).min(rest.len()));
    let signing_input = alloc::format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET_1.as_bytes()).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let token: String = alloc::format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    verify_everywhere(&token);
}

/// Any bytes as a stored PHC string: parsed for a re-hash decision and, when it asks for little
/// work, verified.
pub fn phc(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let policy = HashPolicy::default();
    let _ = password::needs_rehash(text, &policy);
    if password::stored_iterations(text).is_some_and(|n| n <= 2_000) {
        let candidate = Password::candidate("fuzzing-password").expect("a valid candidate");
        let _ = password::verify(&candidate, text);
    }
}
