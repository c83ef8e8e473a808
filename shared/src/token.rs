//! Token issue and verify: HS256 JWTs that PyJWT and the `jsonwebtoken` crate verify with the
//! same secret. Claims: `sub` (user id), `username`, `role`, `typ` (access | refresh), `iat`,
//! `exp`, `nbf`, `iss`, `aud`, `jti`, `sid` (the session, i.e. token family) and `ver` (the user's
//! token version, bumped by a password change); the header carries `kid`.
//!
//! The verifier pins the algorithm and the keys: `none`, another algorithm, an unknown `kid`, a
//! bad signature, a wrong `iss`/`aud`, a token of the other `typ`, an expired or not-yet-valid
//! token all fail with the same [`TokenError`], so callers cannot answer them differently.
//! Time is always passed in (`now`, seconds since the epoch), never read here.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use jwt_simple::prelude::{Duration, HS256Key, JWTClaims, MACLike, Token, VerificationOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::TokenPair;
use crate::domain::{Role, TokenKind, UserId};

/// Clock difference tolerated between the host that signs and the one that verifies. jwt-simple's
/// default (15 minutes) would let a 15-minute token live 30.
pub const LEEWAY_SECS: u64 = 30;
/// Longer tokens are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 4096;
/// The shortest secret accepted: 256 bits, as HS256's key should be.
pub const MIN_SECRET_LEN: usize = 32;
/// The placeholder of `config/.env.example`; a secret equal to it is refused like a missing one.
pub const EXAMPLE_SECRET: &str = "change-me-to-a-long-random-secret-of-at-least-32-bytes";
const ALG: &str = "HS256";

/// The one error of verification. `reason` is for logs, never for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenError {
    pub reason: &'static str,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid token: {}", self.reason)
    }
}

impl core::error::Error for TokenError {}

const fn invalid(reason: &'static str) -> TokenError {
    TokenError { reason }
}

/// Why a key configuration was refused; the message names the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConfigError(pub String);

impl fmt::Display for KeyConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for KeyConfigError {}

/// The signing key and every key that still verifies, each with its `kid`.
#[derive(Clone)]
pub struct Keyring {
    /// The first key signs; all verify.
    keys: Vec<(String, HS256Key)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(kid, _)| kid.as_str()).collect();
        f.debug_struct("Keyring").field("kids", &kids).finish_non_exhaustive()
    }
}

impl Keyring {
    /// One key from `JWT_SECRET`. Its `kid` is derived from the secret (a hash prefix), so every
    /// host configured with the same secret names it alike and reveals nothing of it.
    pub fn from_secret(secret: &str) -> Result<Self, KeyConfigError> {
        check_secret("JWT_SECRET", secret)?;
        let digest = Sha256::digest(secret.as_bytes());
        let kid: String = digest[..6].iter().map(|b| alloc::format!("{b:02x}")).collect();
        Ok(Self { keys: alloc::vec![(kid.clone(), HS256Key::from_bytes(secret.as_bytes()).with_key_id(&kid))] })
    }

    /// Several keys from `JWT_KEYS`: `kid:secret` pairs separated by commas; the first signs,
    /// the others still verify, so a key can be rotated without logging anyone out.
    pub fn from_spec(spec: &str) -> Result<Self, KeyConfigError> {
        let mut keys: Vec<(String, HS256Key)> = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, secret) = entry
                .split_once(':')
                .ok_or_else(|| KeyConfigError("JWT_KEYS must be a comma-separated list of kid:secret".into()))?;
            if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(KeyConfigError("JWT_KEYS: a kid may hold only letters, digits, - and _".into()));
            }
            if keys.iter().any(|(k, _)| k == kid) {
                return Err(KeyConfigError(alloc::format!("JWT_KEYS: kid {kid} appears twice")));
            }
            check_secret("JWT_KEYS", secret)?;
            keys.push((kid.to_string(), HS256Key::from_bytes(secret.as_bytes()).with_key_id(kid)));
        }
        if keys.is_empty() {
            return Err(KeyConfigError("JWT_KEYS holds no key".into()));
        }
        Ok(Self { keys })
    }

    pub fn signing_kid(&self) -> &str {
        &self.keys[0].0
    }

    fn signing(&self) -> &HS256Key {
        &self.keys[0].1
    }
}

fn check_secret(var: &str, secret: &str) -> Result<(), KeyConfigError> {
    if secret.is_empty() {
        return Err(KeyConfigError(alloc::format!(
            "{var} is not set: set a random secret of at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -hex 32`)"
        )));
    }
    if secret.len() < MIN_SECRET_LEN {
        return Err(KeyConfigError(alloc::format!("{var} is too short: it must hold at least {MIN_SECRET_LEN} bytes")));
    }
    if secret == EXAMPLE_SECRET {
        return Err(KeyConfigError(alloc::format!("{var} is still the example's placeholder: set a random secret")));
    }
    Ok(())
}

/// Checks the configured algorithm name (`JWT_ALG`); only HS256 is implemented.
pub fn check_algorithm(name: &str) -> Result<(), KeyConfigError> {
    if name == ALG { Ok(()) } else { Err(KeyConfigError(alloc::format!("JWT_ALG={name} is not supported; use HS256"))) }
}

/// Issuer, audience and lifetimes: the same on every host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
}

impl TokenSettings {
    pub const DEFAULT_ACCESS_TTL_SECS: u64 = 15 * 60;
    pub const DEFAULT_REFRESH_TTL_SECS: u64 = 7 * 24 * 3600;
    pub const DEFAULT_ISSUER: &str = "jwt-auth";
    pub const DEFAULT_AUDIENCE: &str = "jwt-auth-api";

    pub fn check(&self) -> Result<(), KeyConfigError> {
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(KeyConfigError("JWT_ISSUER and JWT_AUDIENCE must not be empty".into()));
        }
        if self.access_ttl_secs < 60 || self.access_ttl_secs > 24 * 3600 {
            return Err(KeyConfigError("ACCESS_TOKEN_TTL_SECS must be between 60 and 86400".into()));
        }
        if self.refresh_ttl_secs <= self.access_ttl_secs || self.refresh_ttl_secs > 365 * 24 * 3600 {
            return Err(KeyConfigError(
                "REFRESH_TOKEN_TTL_SECS must exceed the access TTL and be at most a year".into(),
            ));
        }
        Ok(())
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: Self::DEFAULT_ISSUER.into(),
            audience: Self::DEFAULT_AUDIENCE.into(),
            access_ttl_secs: Self::DEFAULT_ACCESS_TTL_SECS,
            refresh_ttl_secs: Self::DEFAULT_REFRESH_TTL_SECS,
        }
    }
}

/// Whom a token is for, as the database knows them when it is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    /// The user's token version; a password change bumps it and so revokes older tokens.
    pub ver: i64,
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub subject: Subject,
    pub kind: TokenKind,
    pub sid: String,
    pub jti: String,
    pub issued_at: u64,
    pub expires_at: u64,
}

#[derive(Serialize, Deserialize)]
struct OurClaims {
    username: String,
    role: Role,
    typ: TokenKind,
    sid: String,
    ver: i64,
}

/// Reads the token configuration by the names every host uses (`JWT_SECRET` or `JWT_KEYS`,
/// `JWT_ALG`, `JWT_ISSUER`, `JWT_AUDIENCE`, `ACCESS_TOKEN_TTL_SECS`, `REFRESH_TOKEN_TTL_SECS`) from
/// any source of variables: the process environment, a worker's bindings.
pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<TokenService, KeyConfigError> {
    let get = |name: &str| var(name).map(|v| v.trim().into()).filter(|v: &String| !v.is_empty());
    let seconds = |name: &str, default: u64| -> Result<u64, KeyConfigError> {
        get(name).map_or(Ok(default), |raw| {
            raw.parse().map_err(|_| KeyConfigError(alloc::format!("{name}={raw} is not a number of seconds")))
        })
    };
    check_algorithm(&get("JWT_ALG").unwrap_or_else(|| ALG.into()))?;
    let keys = match get("JWT_KEYS") {
        Some(spec) => Keyring::from_spec(&spec)?,
        None => Keyring::from_secret(&get("JWT_SECRET").unwrap_or_default())?,
    };
    let settings = TokenSettings {
        issuer: get("JWT_ISSUER").unwrap_or_else(|| TokenSettings::DEFAULT_ISSUER.into()),
        audience: get("JWT_AUDIENCE").unwrap_or_else(|| TokenSettings::DEFAULT_AUDIENCE.into()),
        access_ttl_secs: seconds("ACCESS_TOKEN_TTL_SECS", TokenSettings::DEFAULT_ACCESS_TTL_SECS)?,
        refresh_ttl_secs: seconds("REFRESH_TOKEN_TTL_SECS", TokenSettings::DEFAULT_REFRESH_TTL_SECS)?,
    };
    TokenService::new(keys, settings)
}

/// The token of an `Authorization: Bearer <token>` header value; the scheme is case-insensitive.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Issues and verifies tokens with one keyring and one set of settings.
#[derive(Debug, Clone)]
pub struct TokenService {
    keys: Keyring,
    settings: TokenSettings,
}

impl TokenService {
    pub fn new(keys: Keyring, settings: TokenSettings) -> Result<Self, KeyConfigError> {
        settings.check()?;
        Ok(Self { keys, settings })
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// A fresh session id, for a login.
    pub fn new_session_id() -> String {
        random_id()
    }

    /// A random id (128 bits, hex), for sessions, token ids and request ids.
    pub fn random_id() -> String {
        random_id()
    }

    /// An access and a refresh token for `subject` in session `sid`.
    pub fn issue_pair(&self, subject: &Subject, sid: &str, now: u64) -> TokenPair {
        TokenPair {
            access_token: self.issue(subject, TokenKind::Access, sid, now),
            refresh_token: self.issue(subject, TokenKind::Refresh, sid, now),
            token_type: "bearer".into(),
            expires_in: self.settings.access_ttl_secs,
        }
    }

    /// One token of `kind`.
    pub fn issue(&self, subject: &Subject, kind: TokenKind, sid: &str, now: u64) -> String {
        let ttl = match kind {
            TokenKind::Access => self.settings.access_ttl_secs,
            TokenKind::Refresh => self.settings.refresh_ttl_secs,
        };
        let claims = JWTClaims {
            issued_at: Some(Duration::from_secs(now)),
            expires_at: Some(Duration::from_secs(now + ttl)),
            invalid_before: Some(Duration::from_secs(now)),
            issuer: Some(self.settings.issuer.clone()),
            subject: Some(subject.user_id.to_string()),
            audiences: Some(jwt_simple::claims::Audiences::AsString(self.settings.audience.clone())),
            jwt_id: Some(random_id()),
            nonce: None,
            custom: OurClaims {
                username: subject.username.clone(),
                role: subject.role,
                typ: kind,
                sid: sid.into(),
                ver: subject.ver,
            },
        };
        // Serialising our own claims with a valid key cannot fail.
        self.keys.signing().authenticate(claims).expect("signing a token with a valid key")
    }

    /// The token's claims if it is a valid token of `expected` kind at `now`.
    pub fn verify(&self, token: &str, expected: TokenKind, now: u64) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("too long"));
        }
        // With one key there is nothing to choose: jwt-simple checks the algorithm and the `kid`
        // itself, and the header is decoded once. With several, the header names the key.
        let (kid, key) = match self.keys.keys.as_slice() {
            [(kid, key)] => (kid, key),
            keys => {
                let meta = Token::decode_metadata(token).map_err(|_| invalid("malformed"))?;
                let kid = meta.key_id().ok_or(invalid("no kid"))?;
                let (kid, key) = keys.iter().find(|(k, _)| k == kid).ok_or(invalid("unknown kid"))?;
                (kid, key)
            }
        };
        let options = VerificationOptions {
            time_tolerance: Some(Duration::from_secs(LEEWAY_SECS)),
            artificial_time: Some(Duration::from_secs(now)),
            max_token_length: Some(MAX_TOKEN_LEN),
            required_key_id: Some(kid.clone()),
            ..Default::default()
        };
        let claims =
            key.verify_token::<OurClaims>(token, Some(options)).map_err(|err| invalid(jwt_simple_reason(&err)))?;
        let (Some(iat), Some(exp), Some(_nbf)) = (claims.issued_at, claims.expires_at, claims.invalid_before) else {
            return Err(invalid("missing time claims"));
        };
        // RFC 7519 4.1.4: valid only *before* exp (plus the leeway); jwt-simple's bound is inclusive.
        if now >= exp.as_secs() + LEEWAY_SECS {
            return Err(invalid("expired"));
        }
        // Checked here rather than through jwt-simple's HashSet options: no allocation per token.
        if claims.issuer.as_deref() != Some(self.settings.issuer.as_str()) {
            return Err(invalid("issuer"));
        }
        let audience_ok = match &claims.audiences {
            Some(jwt_simple::claims::Audiences::AsString(aud)) => *aud == self.settings.audience,
            Some(jwt_simple::claims::Audiences::AsSet(set)) => set.contains(&self.settings.audience),
            None => false,
        };
        if !audience_ok {
            return Err(invalid("audience"));
        }
        if claims.custom.typ != expected {
            return Err(invalid("wrong typ"));
        }
        let user_id = claims.subject.as_deref().and_then(UserId::parse_subject).ok_or(invalid("subject"))?;
        let jti = claims.jwt_id.ok_or(invalid("missing jti"))?;
        let custom = claims.custom;
        Ok(VerifiedToken {
            subject: Subject { user_id, username: custom.username, role: custom.role, ver: custom.ver },
            kind: custom.typ,
            sid: custom.sid,
            jti,
            issued_at: iat.as_secs(),
            expires_at: exp.as_secs(),
        })
    }
}

/// jwt-simple's error, in the words of [`TokenError::reason`].
fn jwt_simple_reason(err: &jwt_simple::Error) -> &'static str {
    use jwt_simple::JWTError as E;
    match err.downcast_ref::<E>() {
        Some(E::AlgorithmMismatch) => "algorithm not allowed",
        Some(E::KeyIdentifierMismatch | E::RequiredKeyIdMismatch) => "unknown kid",
        Some(E::MissingJWTKeyIdentifier | E::RequiredKeyIdMissing) => "no kid",
        Some(E::InvalidAuthenticationTag | E::InvalidSignature) => "signature",
        Some(E::TokenHasExpired) => "expired",
        Some(E::TokenNotValidYet | E::ClockDrift) => "not yet valid",
        Some(E::TokenTooLong | E::HeaderTooLarge) => "too long",
        _ => "malformed",
    }
}

fn random_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = RANDOM.with_borrow_mut(RandomPool::take);
    // Two digits a byte from a table: `format!` per byte cost the edge a microsecond a request.
    let mut id = String::with_capacity(32);
    for byte in bytes {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    id
}

std::thread_local! {
    static RANDOM: core::cell::RefCell<RandomPool> = const { core::cell::RefCell::new(RandomPool::EMPTY) };
}

/// Bytes from the platform's random source, drawn 256 at a time and each handed out once. On a
/// worker every draw is a call out of the wasm (`crypto.getRandomValues`), which cost more than
/// making the id; the bytes are the source's own, so an id is as unpredictable as before.
struct RandomPool {
    bytes: [u8; 256],
    used: usize,
}

impl RandomPool {
    const EMPTY: Self = Self { bytes: [0; 256], used: 256 };

    fn take(&mut self) -> [u8; 16] {
        if self.used + 16 > self.bytes.len() {
            getrandom::fill(&mut self.bytes).expect("the platform's random source failed");
            self.used = 0;
        }
        let taken = &mut self.bytes[self.used..self.used + 16];
        let mut out = [0u8; 16];
        out.copy_from_slice(taken);
        taken.fill(0); // Nothing handed out stays behind.
        self.used += 16;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const OLD: &str = "old-key-0123456789abcdef0123456789abcdef";
    const NEW: &str = "new-key-0123456789abcdef0123456789abcdef";

    fn service(keys: Keyring) -> TokenService {
        TokenService::new(keys, TokenSettings::default()).unwrap()
    }

    fn subject() -> Subject {
        Subject { user_id: UserId(1), username: "u".into(), role: Role::User, ver: 0 }
    }

    #[test]
    fn after_a_rotation_old_tokens_verify_and_a_removed_key_does_not() {
        let old = service(Keyring::from_spec(&alloc::format!("k1:{OLD}")).unwrap());
        let token = old.issue(&subject(), TokenKind::Access, "s", NOW);
        let rotated = service(Keyring::from_spec(&alloc::format!("k2:{NEW},k1:{OLD}")).unwrap());
        assert!(rotated.verify(&token, TokenKind::Access, NOW).is_ok());
        let fresh = rotated.issue(&subject(), TokenKind::Access, "s", NOW);
        let header = Token::decode_metadata(&fresh).unwrap();
        assert_eq!(header.key_id(), Some("k2"), "new tokens are signed with the first key");
        let retired = service(Keyring::from_spec(&alloc::format!("k2:{NEW}")).unwrap());
        assert_eq!(retired.verify(&token, TokenKind::Access, NOW).unwrap_err().reason, "unknown kid");
        let several = service(Keyring::from_spec(&alloc::format!("k2:{NEW},k3:{OLD}")).unwrap());
        assert_eq!(several.verify(&token, TokenKind::Access, NOW).unwrap_err().reason, "unknown kid");
    }

    #[test]
    fn a_token_without_kid_is_refused() {
        let keys = Keyring { keys: alloc::vec![(String::from("k"), HS256Key::from_bytes(OLD.as_bytes()))] };
        let unnamed = service(keys).issue(&subject(), TokenKind::Access, "s", NOW);
        let named = service(Keyring::from_spec(&alloc::format!("k:{OLD}")).unwrap());
        assert_eq!(named.verify(&unnamed, TokenKind::Access, NOW).unwrap_err().reason, "no kid");
    }

    #[test]
    fn random_ids_are_32_lowercase_hex_digits_and_differ() {
        let (a, b) = (random_id(), random_id());
        for id in [&a, &b] {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{id}");
        }
        assert_ne!(a, b);
        // Across several refills of the pool, no id comes twice.
        let ids: std::collections::HashSet<String> = (0..100).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 100);
    }
}
