//! The keys tokens are signed and verified with: one algorithm for the whole ring (`JWT_ALG`), a
//! `kid` per key, the first key signing and every key verifying, so a key is rotated by putting
//! the new one first and dropping the old one once its tokens have expired.
//!
//! - `HS256` (default): a shared secret of at least 32 bytes; standard JWTs that PyJWT and the
//!   `jsonwebtoken` crate verify with the same secret. Nothing to publish.
//! - `EdDSA` (Ed25519): the secret is a 32-byte seed as 64 hex digits (`openssl rand -hex 32`);
//!   the public keys are published as a JWKS (`GET /.well-known/jwks.json`), so any service can
//!   verify tokens without holding a secret.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write as _;

use jwt_simple::prelude::{
    Ed25519KeyPair, Ed25519PublicKey, EdDSAKeyPairLike, EdDSAPublicKeyLike, HS256Key, JWTClaims, MACLike,
    VerificationOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// Where every host publishes [`Keyring::jwks`], and how long a client may cache it: a rotation
/// adds the new key to the set well before it signs (put it second, then first).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// The shortest secret accepted: 256 bits, as HS256's key should be.
pub const MIN_SECRET_LEN: usize = 32;
/// The placeholder of `config/.env.example`; a secret equal to it is refused like a missing one.
pub const EXAMPLE_SECRET: &str = "change-me-to-a-long-random-secret-of-at-least-32-bytes";

/// Why a key configuration was refused; the message names the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConfigError(pub String);

impl fmt::Display for KeyConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for KeyConfigError {}

fn refuse<T>(message: impl Into<String>) -> Result<T, KeyConfigError> {
    Err(KeyConfigError(message.into()))
}

/// The signing algorithm (`JWT_ALG`): the verifier accepts this one only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Hs256,
    EdDsa,
}

impl Algorithm {
    /// # Errors
    /// Any name but `HS256` and `EdDSA`.
    pub fn parse(name: &str) -> Result<Self, KeyConfigError> {
        match name {
            "HS256" => Ok(Self::Hs256),
            "EdDSA" => Ok(Self::EdDsa),
            other => refuse(alloc::format!("JWT_ALG={other} is not supported; use HS256 or EdDSA")),
        }
    }

    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
        }
    }
}

#[derive(Clone)]
enum Key {
    Hs256(HS256Key),
    Ed25519 { pair: Ed25519KeyPair, public: Ed25519PublicKey },
}

impl Key {
    fn new(algorithm: Algorithm, var: &str, kid: &str, secret: &str) -> Result<Self, KeyConfigError> {
        check_secret(var, secret)?;
        match algorithm {
            Algorithm::Hs256 => Ok(Self::Hs256(HS256Key::from_bytes(secret.as_bytes()).with_key_id(kid))),
            Algorithm::EdDsa => {
                let seed = hex_seed(secret).ok_or_else(|| {
                    KeyConfigError(alloc::format!(
                        "{var}: an EdDSA key is a 32-byte seed written as 64 hex digits (`openssl rand -hex 32`)"
                    ))
                })?;
                // PKCS#8 for an Ed25519 seed: the fixed prefix of RFC 8410, then the seed.
                let mut der = PKCS8_ED25519_PREFIX.to_vec();
                der.extend_from_slice(&seed);
                let pair = Ed25519KeyPair::from_der(&der)
                    .map_err(|_| KeyConfigError(alloc::format!("{var}: not a usable Ed25519 seed")))?
                    .with_key_id(kid);
                let public = pair.public_key().with_key_id(kid);
                Ok(Self::Ed25519 { pair, public })
            }
        }
    }
}

const PKCS8_ED25519_PREFIX: [u8; 16] = [48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 112, 4, 34, 4, 32];

/// 32 bytes from 64 hex digits (an Ed25519 seed here; the origin's sealing keys too).
#[must_use]
pub fn hex_seed(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut seed = [0u8; 32];
    for (byte, pair) in seed.iter_mut().zip(bytes.chunks(2)) {
        *byte = u8::from_str_radix(core::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(seed)
}

fn check_secret(var: &str, secret: &str) -> Result<(), KeyConfigError> {
    if secret.is_empty() {
        return refuse(alloc::format!(
            "{var} is not set: set a random secret of at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -hex 32`)"
        ));
    }
    if secret.len() < MIN_SECRET_LEN {
        return refuse(alloc::format!("{var} is too short: it must hold at least {MIN_SECRET_LEN} bytes"));
    }
    if secret == EXAMPLE_SECRET {
        return refuse(alloc::format!("{var} is still the example's placeholder: set a random secret"));
    }
    Ok(())
}

/// The signing key and every key that still verifies, each with its `kid`, of one algorithm.
#[derive(Clone)]
pub struct Keyring {
    algorithm: Algorithm,
    /// The first key signs; all verify.
    keys: Vec<(String, Key)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(kid, _)| kid.as_str()).collect();
        f.debug_struct("Keyring").field("algorithm", &self.algorithm).field("kids", &kids).finish_non_exhaustive()
    }
}

impl Keyring {
    /// One HS256 key from `JWT_SECRET`.
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_LEN`] or the example's.
    pub fn from_secret(secret: &str) -> Result<Self, KeyConfigError> {
        Self::single(Algorithm::Hs256, secret)
    }

    /// Several HS256 keys from `JWT_KEYS`.
    ///
    /// # Errors
    /// As [`Self::several`].
    pub fn from_spec(spec: &str) -> Result<Self, KeyConfigError> {
        Self::several(Algorithm::Hs256, spec)
    }

    /// One key from `JWT_SECRET`. Its `kid` is derived from the secret (a hash prefix), so every
    /// host configured with the same secret names it alike and reveals nothing of it.
    ///
    /// # Errors
    /// A weak secret, or an EdDSA seed that is not 64 hex digits.
    pub fn single(algorithm: Algorithm, secret: &str) -> Result<Self, KeyConfigError> {
        let digest = Sha256::digest(secret.as_bytes());
        let kid = digest[..6].iter().fold(String::with_capacity(12), |mut kid, b| {
            let _ = write!(kid, "{b:02x}");
            kid
        });
        let key = Key::new(algorithm, "JWT_SECRET", &kid, secret)?;
        Ok(Self { algorithm, keys: alloc::vec![(kid, key)] })
    }

    /// Several keys from `JWT_KEYS`: `kid:secret` pairs separated by commas; the first signs,
    /// the others still verify, so a key can be rotated without logging anyone out.
    ///
    /// # Errors
    /// A malformed pair, a repeated kid, or a key [`Self::single`] refuses.
    pub fn several(algorithm: Algorithm, spec: &str) -> Result<Self, KeyConfigError> {
        let mut keys: Vec<(String, Key)> = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((kid, secret)) = entry.split_once(':') else {
                return refuse("JWT_KEYS must be a comma-separated list of kid:secret");
            };
            if kid.is_empty()
                || kid.len() > 64
                || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return refuse("JWT_KEYS: a kid holds 1 to 64 letters, digits, - and _");
            }
            if keys.iter().any(|(k, _)| k == kid) {
                return refuse(alloc::format!("JWT_KEYS: kid {kid} appears twice"));
            }
            keys.push((kid.to_string(), Key::new(algorithm, "JWT_KEYS", kid, secret)?));
        }
        if keys.is_empty() {
            return refuse("JWT_KEYS holds no key");
        }
        Ok(Self { algorithm, keys })
    }

    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    #[must_use]
    pub fn signing_kid(&self) -> &str {
        &self.keys[0].0
    }

    /// Signs `claims` with the first key.
    pub(crate) fn sign<C: Serialize + DeserializeOwned>(&self, claims: JWTClaims<C>) -> String {
        let signed = match &self.keys[0].1 {
            Key::Hs256(key) => key.authenticate(claims),
            Key::Ed25519 { pair, .. } => pair.sign(claims),
        };
        #[allow(clippy::expect_used, reason = "serialising our own claims with a key that parsed cannot fail")]
        signed.expect("signing a token with a valid key")
    }

    /// The key a token names: with one key there is nothing to choose (jwt-simple checks the
    /// algorithm and the `kid` itself, from one decoding of the header); with several, `kid`.
    pub(crate) fn verify<C: Serialize + DeserializeOwned>(
        &self,
        token: &str,
        kid: Option<&str>,
        options: VerificationOptions,
    ) -> Result<JWTClaims<C>, Option<jwt_simple::Error>> {
        let (kid, key) = match (self.keys.as_slice(), kid) {
            ([(kid, key)], _) => (kid, key),
            (keys, Some(wanted)) => keys.iter().find(|(k, _)| k == wanted).map(|(k, key)| (k, key)).ok_or(None)?,
            (_, None) => return Err(None),
        };
        let options = VerificationOptions { required_key_id: Some(kid.clone()), ..options };
        match key {
            Key::Hs256(key) => key.verify_token(token, Some(options)),
            Key::Ed25519 { public, .. } => public.verify_token(token, Some(options)),
        }
        .map_err(Some)
    }

    /// Whether a token's header must be read to pick the key.
    pub(crate) fn needs_kid(&self) -> bool {
        self.keys.len() > 1
    }

    /// The public keys as a JWK Set (RFC 7517): every EdDSA key, none for HS256 (a shared secret
    /// is never published).
    #[must_use]
    pub fn jwks(&self) -> String {
        let keys: Vec<String> = self
            .keys
            .iter()
            .filter_map(|(_, key)| match key {
                Key::Ed25519 { public, .. } => Some(public.to_jwk()),
                Key::Hs256(_) => None,
            })
            .collect();
        alloc::format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

    #[test]
    fn an_eddsa_key_is_a_hex_seed_and_its_public_key_is_published() {
        let ring = Keyring::single(Algorithm::EdDsa, SEED).unwrap();
        let jwks: serde_json::Value = serde_json::from_str(&ring.jwks()).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!((key["kty"].as_str(), key["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
        assert_eq!(key["kid"].as_str(), Some(ring.signing_kid()));
        // RFC 8032's first test vector: this seed's public key.
        assert_eq!(key["x"].as_str(), Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"));
        assert!(key.get("d").is_none(), "never the private part");
        for bad in ["", "short", &SEED[..62], &alloc::format!("{}zz", &SEED[..62])] {
            assert!(Keyring::single(Algorithm::EdDsa, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hs256_publishes_nothing_and_unknown_algorithms_are_refused() {
        let ring = Keyring::from_secret("a-shared-secret-of-at-least-32-bytes-long").unwrap();
        assert_eq!(ring.jwks(), r#"{"keys":[]}"#);
        for name in ["none", "RS256", "hs256", ""] {
            assert!(Algorithm::parse(name).is_err(), "{name}");
        }
    }
}
