//! Token issue and verify: HS256 JWTs that PyJWT and the `jsonwebtoken` crate verify with the
//! same secret. Claims: `sub` (user id), `username`, `role`, `typ` (access | refresh), `iat`,
//! `exp`, `nbf`, `iss`, `aud`, `jti`, `sid` (the session, i.e. token family) and `ver` (the user's
//! token version, bumped by a password change), `email_verified` (whether the user confirmed
//! their address when it was issued; absent in older tokens, which read as `false`), and the
//! session's assurance (`aal`, `acr`, `amr`, `auth_time`: [`crate::assurance`]); the header
//! carries `kid`.
//!
//! The verifier pins the algorithm and the keys: `none`, another algorithm, an unknown `kid`, a
//! bad signature, a wrong `iss`/`aud`, a token of the other `typ`, an expired or not-yet-valid
//! token all fail with the same [`TokenError`], so callers cannot answer them differently.
//! Time is always passed in (`now`, seconds since the epoch), never read here.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use jwt_simple::prelude::{Duration, JWTClaims, Token, VerificationOptions};
use serde::{Deserialize, Serialize};

use crate::api::TokenPair;
use crate::assurance::{Aal, Assurance};
use crate::domain::{Role, TokenKind, UserId};
pub use crate::keys::{Algorithm, EXAMPLE_SECRET, KeyConfigError, Keyring, MIN_SECRET_LEN};
use crate::session::Ticket;

/// Clock difference tolerated between the host that signs and the one that verifies. jwt-simple's
/// default (15 minutes) would let a 15-minute token live 30.
pub const LEEWAY_SECS: u64 = 30;
/// Longer tokens are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 4096;

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

    /// # Errors
    /// An empty issuer or audience, or a TTL out of its bounds, naming the variable.
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
    /// Whether the user had confirmed their email address.
    pub email_verified: bool,
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
    /// How strongly its session was authenticated.
    pub assurance: Assurance,
}

impl VerifiedToken {
    /// The session generation the token belongs to; `None` for a `jti` not of the form
    /// [`Ticket::jti`] makes (no session knows such a token).
    #[must_use]
    pub fn generation(&self) -> Option<u32> {
        crate::session::generation_of(&self.jti, &self.sid, self.kind)
    }
}

#[derive(Serialize, Deserialize)]
struct OurClaims {
    username: String,
    role: Role,
    typ: TokenKind,
    sid: String,
    ver: i64,
    #[serde(default)]
    email_verified: bool,
    // RFC 8176 / 9470 / OIDC. Absent in tokens from before a second factor existed: `aal1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aal: Option<Aal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acr: Option<Aal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_time: Option<u64>,
}

/// Reads the token configuration by the names every host uses (`JWT_SECRET` or `JWT_KEYS`,
/// `JWT_ALG`, `JWT_ISSUER`, `JWT_AUDIENCE`, `ACCESS_TOKEN_TTL_SECS`, `REFRESH_TOKEN_TTL_SECS`) from
/// any source of variables: the process environment, a worker's bindings.
///
/// # Errors
/// A missing or weak key, an unknown algorithm, or a bad TTL, naming the variable.
pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<TokenService, KeyConfigError> {
    let get = |name: &str| var(name).map(|v| v.trim().into()).filter(|v: &String| !v.is_empty());
    let seconds = |name: &str, default: u64| -> Result<u64, KeyConfigError> {
        get(name).map_or(Ok(default), |raw| {
            raw.parse().map_err(|_| KeyConfigError(alloc::format!("{name}={raw} is not a number of seconds")))
        })
    };
    let algorithm = Algorithm::parse(&get("JWT_ALG").unwrap_or_else(|| Algorithm::Hs256.name().into()))?;
    let keys = match get("JWT_KEYS") {
        Some(spec) => Keyring::several(algorithm, &spec)?,
        None => Keyring::single(algorithm, &get("JWT_SECRET").unwrap_or_default())?,
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
#[must_use]
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
    /// # Errors
    /// Settings that [`TokenSettings::check`] refuses.
    pub fn new(keys: Keyring, settings: TokenSettings) -> Result<Self, KeyConfigError> {
        settings.check()?;
        Ok(Self { keys, settings })
    }

    /// The public keys, as [`Keyring::jwks`].
    #[must_use]
    pub fn jwks(&self) -> String {
        self.keys.jwks()
    }

    #[must_use]
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// A random id (128 bits, hex): a new session's, a request's.
    #[must_use]
    pub fn random_id() -> String {
        random_id()
    }

    /// The access and refresh token of `ticket`'s generation for `subject`. The same inputs give
    /// the same strings (see [`crate::session`]).
    #[must_use]
    pub fn issue_pair(&self, subject: &Subject, ticket: &Ticket) -> TokenPair {
        TokenPair {
            access_token: self.issue(subject, TokenKind::Access, ticket),
            refresh_token: self.issue(subject, TokenKind::Refresh, ticket),
            token_type: "bearer".into(),
            expires_in: self.settings.access_ttl_secs,
            device_token: None,
        }
    }

    /// A new device token or one-time token (see [`crate::secret`]): 256 random bits, hex.
    #[must_use]
    pub fn random_secret() -> String {
        let mut token = random_id();
        token.push_str(&random_id());
        token
    }

    /// One token of `kind`.
    #[must_use]
    pub fn issue(&self, subject: &Subject, kind: TokenKind, ticket: &Ticket) -> String {
        let ttl = match kind {
            TokenKind::Access => self.settings.access_ttl_secs,
            TokenKind::Refresh => self.settings.refresh_ttl_secs,
        };
        let now = ticket.issued_at;
        let claims = JWTClaims {
            issued_at: Some(Duration::from_secs(now)),
            expires_at: Some(Duration::from_secs(now + ttl)),
            invalid_before: Some(Duration::from_secs(now)),
            issuer: Some(self.settings.issuer.clone()),
            subject: Some(subject.user_id.to_string()),
            audiences: Some(jwt_simple::claims::Audiences::AsString(self.settings.audience.clone())),
            jwt_id: Some(ticket.jti(kind)),
            nonce: None,
            custom: OurClaims {
                username: subject.username.clone(),
                role: subject.role,
                typ: kind,
                sid: ticket.sid.clone(),
                ver: subject.ver,
                email_verified: subject.email_verified,
                amr: Some(ticket.assurance.amr().iter().map(|method| (*method).to_string()).collect()),
                aal: Some(ticket.assurance.aal()),
                acr: Some(ticket.assurance.aal()),
                auth_time: Some(ticket.assurance.auth_time),
            },
        };
        self.keys.sign(claims)
    }

    /// The token's claims if it is a valid token of `expected` kind at `now`.
    ///
    /// # Errors
    /// One [`TokenError`] for every reason, so that every refusal answers alike.
    pub fn verify(&self, token: &str, expected: TokenKind, now: u64) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("too long"));
        }
        // `jku`, `x5u`, `jwk` and `x5c` in a header are never followed: the keys are ours alone.
        let kid = if self.keys.needs_kid() {
            let meta = Token::decode_metadata(token).map_err(|_| invalid("malformed"))?;
            Some(String::from(meta.key_id().ok_or(invalid("no kid"))?))
        } else {
            None
        };
        let options = VerificationOptions {
            time_tolerance: Some(Duration::from_secs(LEEWAY_SECS)),
            artificial_time: Some(Duration::from_secs(now)),
            max_token_length: Some(MAX_TOKEN_LEN),
            ..Default::default()
        };
        let claims = self
            .keys
            .verify::<OurClaims>(token, kid.as_deref(), options)
            .map_err(|err| invalid(err.as_ref().map_or("unknown kid", jwt_simple_reason)))?;
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
        if custom.acr.is_some() && custom.acr != custom.aal {
            return Err(invalid("acr and aal differ"));
        }
        let assurance = Assurance::from_claims(custom.aal, custom.amr.as_deref(), custom.auth_time, iat.as_secs())
            .ok_or(invalid("assurance claims"))?;
        Ok(VerifiedToken {
            subject: Subject {
                user_id,
                username: custom.username,
                role: custom.role,
                ver: custom.ver,
                email_verified: custom.email_verified,
            },
            kind: custom.typ,
            sid: custom.sid,
            jti,
            issued_at: iat.as_secs(),
            expires_at: exp.as_secs(),
            assurance,
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
            #[allow(
                clippy::expect_used,
                reason = "without a random source no id, session or token can be made safely"
            )]
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
    use sha2::Sha256;

    const NOW: u64 = 1_800_000_000;
    const OLD: &str = "old-key-0123456789abcdef0123456789abcdef";
    const NEW: &str = "new-key-0123456789abcdef0123456789abcdef";

    fn service(keys: Keyring) -> TokenService {
        TokenService::new(keys, TokenSettings::default()).unwrap()
    }

    fn subject() -> Subject {
        Subject { user_id: UserId(1), username: "u".into(), role: Role::User, ver: 0, email_verified: false }
    }

    fn ticket() -> Ticket {
        Ticket { sid: "s".into(), generation: 0, issued_at: NOW, assurance: Assurance::password(NOW) }
    }

    #[test]
    fn a_ticket_signs_the_same_pair_again_and_its_tokens_name_their_generation() {
        let service = service(Keyring::from_spec(&alloc::format!("k1:{OLD}")).unwrap());
        let next = Ticket { generation: 7, ..ticket() };
        let pair = service.issue_pair(&subject(), &next);
        assert_eq!(pair, service.issue_pair(&subject(), &next));
        assert_ne!(pair, service.issue_pair(&subject(), &ticket()));
        let refresh = service.verify(&pair.refresh_token, TokenKind::Refresh, NOW).unwrap();
        assert_eq!((refresh.generation(), refresh.issued_at), (Some(7), NOW));
        let access = service.verify(&pair.access_token, TokenKind::Access, NOW).unwrap();
        assert_eq!(access.generation(), Some(7));
        assert_ne!(access.jti, refresh.jti);
    }

    #[test]
    fn after_a_rotation_old_tokens_verify_and_a_removed_key_does_not() {
        let old = service(Keyring::from_spec(&alloc::format!("k1:{OLD}")).unwrap());
        let token = old.issue(&subject(), TokenKind::Access, &ticket());
        let rotated = service(Keyring::from_spec(&alloc::format!("k2:{NEW},k1:{OLD}")).unwrap());
        assert!(rotated.verify(&token, TokenKind::Access, NOW).is_ok());
        let fresh = rotated.issue(&subject(), TokenKind::Access, &ticket());
        let header = Token::decode_metadata(&fresh).unwrap();
        assert_eq!(header.key_id(), Some("k2"), "new tokens are signed with the first key");
        let retired = service(Keyring::from_spec(&alloc::format!("k2:{NEW}")).unwrap());
        assert_eq!(retired.verify(&token, TokenKind::Access, NOW).unwrap_err().reason, "unknown kid");
        let several = service(Keyring::from_spec(&alloc::format!("k2:{NEW},k3:{OLD}")).unwrap());
        assert_eq!(several.verify(&token, TokenKind::Access, NOW).unwrap_err().reason, "unknown kid");
    }

    #[test]
    fn a_token_without_kid_is_refused() {
        use jwt_simple::prelude::{Claims, HS256Key, MACLike};
        let claims = Claims::create(Duration::from_secs(60));
        let unnamed = HS256Key::from_bytes(OLD.as_bytes()).authenticate(claims).unwrap();
        let named = service(Keyring::from_spec(&alloc::format!("k:{OLD}")).unwrap());
        assert_eq!(named.verify(&unnamed, TokenKind::Access, NOW).unwrap_err().reason, "no kid");
    }

    const SEED_A: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const SEED_B: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

    fn eddsa(spec: &str) -> TokenService {
        service(Keyring::several(Algorithm::EdDsa, spec).unwrap())
    }

    /// A token with `header` (JSON) over `token`'s payload, signed with HS256 under `secret`.
    fn resigned_hs256(token: &str, header: &str, secret: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Encoder};
        let payload = token.split('.').nth(1).unwrap();
        let header = Base64UrlSafeNoPadding::encode_to_string(header).unwrap();
        let signed = alloc::format!("{header}.{payload}");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(signed.as_bytes());
        let mac = Base64UrlSafeNoPadding::encode_to_string(mac.finalize().into_bytes()).unwrap();
        alloc::format!("{signed}.{mac}")
    }

    #[test]
    fn eddsa_tokens_verify_across_a_rotation_and_not_after_the_key_is_removed() {
        let old = eddsa(&alloc::format!("a:{SEED_A}"));
        let token = old.issue(&subject(), TokenKind::Access, &ticket());
        assert_eq!(Token::decode_metadata(&token).unwrap().algorithm(), "EdDSA");
        let rotated = eddsa(&alloc::format!("b:{SEED_B},a:{SEED_A}"));
        assert!(rotated.verify(&token, TokenKind::Access, NOW).is_ok());
        assert_eq!(
            eddsa(&alloc::format!("b:{SEED_B}")).verify(&token, TokenKind::Access, NOW).unwrap_err().reason,
            "unknown kid"
        );
    }

    #[test]
    fn an_hs256_token_keyed_with_the_eddsa_public_key_is_refused() {
        use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Decoder};

        let ring = Keyring::several(Algorithm::EdDsa, &alloc::format!("a:{SEED_A}")).unwrap();
        let jwks: serde_json::Value = serde_json::from_str(&ring.jwks()).unwrap();
        let public = String::from(jwks["keys"][0]["x"].as_str().unwrap());
        let genuine = service(ring).issue(&subject(), TokenKind::Access, &ticket());
        let verifier = eddsa(&alloc::format!("a:{SEED_A}"));
        // Algorithm confusion: the public key (as published, and as raw bytes) used as an HMAC key.
        let raw = Base64UrlSafeNoPadding::decode_to_vec(&public, None).unwrap();
        for secret in [public.as_bytes(), raw.as_slice()] {
            let forged = resigned_hs256(&genuine, r#"{"alg":"HS256","typ":"JWT","kid":"a"}"#, secret);
            assert_eq!(verifier.verify(&forged, TokenKind::Access, NOW).unwrap_err().reason, "algorithm not allowed");
        }
    }

    #[test]
    fn kid_path_and_sql_characters_and_jku_x5u_headers_lead_nowhere() {
        let ring = alloc::format!("k1:{OLD},k2:{NEW}");
        let verifier = service(Keyring::from_spec(&ring).unwrap());
        let genuine = verifier.issue(&subject(), TokenKind::Access, &ticket());
        // Signed with a genuine key: only the `kid` can refuse them.
        for header in [
            r#"{"alg":"HS256","typ":"JWT","kid":"../../../../dev/null"}"#,
            r#"{"alg":"HS256","typ":"JWT","kid":"k1' OR '1'='1"}"#,
            r#"{"alg":"HS256","typ":"JWT","kid":"k1\u0000"}"#,
            r#"{"alg":"HS256","typ":"JWT","kid":"K1"}"#,
        ] {
            let forged = resigned_hs256(&genuine, header, OLD.as_bytes());
            assert_eq!(verifier.verify(&forged, TokenKind::Access, NOW).unwrap_err().reason, "unknown kid", "{header}");
        }
        // A key of the attacker's, named by URL or embedded: never fetched, never used.
        let attacker = b"the-attackers-own-secret-0123456789abcdef";
        for header in [
            r#"{"alg":"HS256","typ":"JWT","kid":"k1","jku":"https://attacker.example/jwks.json"}"#,
            r#"{"alg":"HS256","typ":"JWT","kid":"k1","x5u":"https://attacker.example/cert.pem"}"#,
        ] {
            let forged = resigned_hs256(&genuine, header, attacker);
            assert_eq!(verifier.verify(&forged, TokenKind::Access, NOW).unwrap_err().reason, "signature", "{header}");
        }
        // An embedded key is not even a well-formed header to jwt-simple.
        let embedded =
            r#"{"alg":"HS256","typ":"JWT","kid":"k1","jwk":{"kty":"oct","k":"dGhlLWF0dGFja2Vycy1vd24tc2VjcmV0"}}"#;
        assert!(verifier.verify(&resigned_hs256(&genuine, embedded, attacker), TokenKind::Access, NOW).is_err());
        // The same headers over the right key: the extra members change nothing.
        let honest = resigned_hs256(
            &genuine,
            r#"{"alg":"HS256","typ":"JWT","kid":"k1","jku":"https://x.example/"}"#,
            OLD.as_bytes(),
        );
        assert!(verifier.verify(&honest, TokenKind::Access, NOW).is_ok());
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
