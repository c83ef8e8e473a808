//! The origin's configuration: one typed struct from the environment (and `config/.env` for
//! local runs). Anything missing or weak stops start-up with a message naming the variable;
//! there is no default secret.

use std::net::SocketAddr;
use std::time::Duration;

use shared::contract::{SERVICE_TOKEN_VAR, ServiceTokens};
use shared::password::HashPolicy;
use shared::policy::PasswordPolicy;
use shared::token::TokenService;

use crate::mail::MailSettings;
use crate::sealing::SealingKeys;
use crate::throttle::Policies;
use shared::assurance::Aal2Policy;

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: the PostgreSQL the origin owns.
    pub database_url: String,
    /// `ORIGIN_ADDR`: where `serve` listens (default 127.0.0.1:8000).
    pub addr: SocketAddr,
    /// `METRICS_ADDR`: where `/metrics` is served, apart from the API (unset: not served).
    pub metrics_addr: Option<SocketAddr>,
    /// `JWT_SECRET` or `JWT_KEYS`, with `JWT_ALG`, `JWT_ISSUER`, `JWT_AUDIENCE`,
    /// `ACCESS_TOKEN_TTL_SECS`, `REFRESH_TOKEN_TTL_SECS`.
    pub tokens: TokenService,
    /// `PBKDF2_ITERATIONS` (default 600,000).
    pub hash_policy: HashPolicy,
    /// `PASSWORD_MIN_LENGTH` (default 15).
    pub password_policy: PasswordPolicy,
    /// `REFRESH_REUSE_GRACE_SECS`: how long the refresh token just rotated out still gets the
    /// live pair again instead of ending the session (default 5; at most 60).
    pub refresh_grace_secs: u64,
    /// `SESSION_RETENTION_DAYS` (30) and `AUDIT_RETENTION_DAYS` (365): how long ended or expired
    /// sessions and audit events are kept before they are purged.
    pub retention: Retention,
    /// Brute-force protection and rate limits (see [`Policies::from_lookup`] for the names).
    pub throttles: Policies,
    /// `DB_POOL_SIZE` (default 16).
    pub pool_size: usize,
    /// `DB_TIMEOUT_MS`: how long a request waits for a database connection before it gets 503
    /// (default 3000).
    pub db_timeout: Duration,
    /// `LOG_FORMAT`: `json` or `pretty` (default).
    pub json_logs: bool,
    /// `EDGE_SERVICE_TOKEN`: the credentials the edge presents on the internal API; two
    /// (comma-separated) while one is rotated. Unset: the internal API answers 404 to everyone.
    pub service_tokens: Option<ServiceTokens>,
    /// `SMTP_URL`, `MAIL_FROM`, `PUBLIC_URL`, `MAIL_MAX_AGE_SECS`, `MAIL_RETRY_SECS`: mail for
    /// resets, confirmations and notices. Unset `SMTP_URL`: mail is off.
    pub mail: Option<MailSettings>,
    /// `REQUIRE_VERIFIED_EMAIL` (default false): a user whose address is unconfirmed cannot log in.
    pub require_verified_email: bool,
    /// `MFA_ENCRYPTION_KEYS`: the keys TOTP secrets are sealed under. Unset: no one can enrol a
    /// second factor (the enrolment answers 503 and the log says why).
    pub mfa_keys: Option<SealingKeys>,
    /// `AAL2_MAX_AGE_SECS` (default 43,200: 12 hours): how long a second factor lifts a session.
    pub aal2_max_age_secs: u64,
    /// `REQUIRE_AAL2`: the routes that refuse a token without a second factor.
    pub require_aal2: Aal2Policy,
}

impl Config {
    /// Reads `config/.env` if present (never overriding the real environment), then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::from_path("config/.env");
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same rules over any source of variables, so tests build configurations without
    /// touching the process environment.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let database_url = get("DATABASE_URL").ok_or_else(|| {
            ConfigError("DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/jwt_auth)".into())
        })?;
        let addr = parse_or(&get, "ORIGIN_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)))?;
        let metrics_addr = get("METRICS_ADDR")
            .map(|raw| {
                raw.parse().map_err(|_| ConfigError(format!("METRICS_ADDR={raw}: use host:port, e.g. 127.0.0.1:9100")))
            })
            .transpose()?;
        let tokens = shared::token::from_lookup(&var).map_err(|e| ConfigError(e.0))?;
        let hash_policy = HashPolicy::new(parse_or(&get, "PBKDF2_ITERATIONS", HashPolicy::DEFAULT_ITERATIONS)?)
            .map_err(|e| ConfigError(e.into()))?;
        let password_policy =
            PasswordPolicy::new(parse_or(&get, "PASSWORD_MIN_LENGTH", PasswordPolicy::DEFAULT_MIN_LENGTH)?)
                .map_err(|e| ConfigError(e.into()))?;
        let refresh_grace_secs = parse_or(&get, "REFRESH_REUSE_GRACE_SECS", 5u64)?;
        if refresh_grace_secs > 60 {
            return Err(ConfigError(
                "REFRESH_REUSE_GRACE_SECS must be at most 60: a spent token is a stolen one".into(),
            ));
        }
        let throttles = Policies::from_lookup(get).map_err(ConfigError)?;
        let mail = MailSettings::from_lookup(get).map_err(ConfigError)?;
        let mfa_keys = get(SealingKeys::VAR).map(|raw| SealingKeys::parse(&raw)).transpose().map_err(ConfigError)?;
        let aal2_max_age_secs = parse_or(&get, "AAL2_MAX_AGE_SECS", 43_200u64)?;
        if !(60..=30 * 24 * 3600).contains(&aal2_max_age_secs) {
            return Err(ConfigError("AAL2_MAX_AGE_SECS must be between 60 and 2592000 (30 days)".into()));
        }
        let require_aal2 =
            Aal2Policy::parse(get(Aal2Policy::VAR).as_deref()).map_err(|e| ConfigError(e.to_string()))?;
        let require_verified_email = match get("REQUIRE_VERIFIED_EMAIL").as_deref() {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(other) => return Err(ConfigError(format!("REQUIRE_VERIFIED_EMAIL={other}: use true or false"))),
        };
        let days = |name: &str, default: u64| -> Result<u64, ConfigError> {
            let value: u64 = parse_or(&get, name, default)?;
            if !(1..=36_500).contains(&value) {
                return Err(ConfigError(format!("{name} must be between 1 and 36500 days")));
            }
            Ok(value * 24 * 3600)
        };
        let retention = Retention {
            sessions_secs: days("SESSION_RETENTION_DAYS", 30)?,
            audit_secs: days("AUDIT_RETENTION_DAYS", 365)?,
        };
        let pool_size = parse_or(&get, "DB_POOL_SIZE", 16usize)?;
        if pool_size == 0 {
            return Err(ConfigError("DB_POOL_SIZE must be at least 1".into()));
        }
        let db_timeout = Duration::from_millis(parse_or(&get, "DB_TIMEOUT_MS", 3000u64)?);
        let json_logs = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => false,
            Some("json") => true,
            Some(other) => {
                return Err(ConfigError(format!("LOG_FORMAT={other}: use json or pretty")));
            }
        };
        let service_tokens = get(SERVICE_TOKEN_VAR)
            .map(|raw| ServiceTokens::parse(&raw).map_err(|e| ConfigError(e.to_string())))
            .transpose()?;
        Ok(Self {
            database_url,
            addr,
            metrics_addr,
            tokens,
            hash_policy,
            password_policy,
            refresh_grace_secs,
            retention,
            throttles,
            pool_size,
            db_timeout,
            json_logs,
            service_tokens,
            mail,
            require_verified_email,
            mfa_keys,
            aal2_max_age_secs,
            require_aal2,
        })
    }
}

/// How long records that no longer matter are kept, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub sessions_secs: u64,
    pub audit_secs: u64,
}

fn parse_or<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| ConfigError(format!("{name}={raw} is not valid"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const URL: (&str, &str) = ("DATABASE_URL", "postgres://localhost/x");
    const SECRET: (&str, &str) = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");

    #[test]
    fn a_missing_short_or_example_secret_stops_start_up() {
        let missing = config(&[URL]).unwrap_err().to_string();
        assert!(missing.contains("JWT_SECRET is not set"), "{missing}");
        let short = config(&[URL, ("JWT_SECRET", "short")]).unwrap_err().to_string();
        assert!(short.contains("too short"), "{short}");
        let example = config(&[URL, ("JWT_SECRET", shared::token::EXAMPLE_SECRET)]).unwrap_err().to_string();
        assert!(example.contains("placeholder"), "{example}");
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = config(&[URL, SECRET]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.hash_policy.iterations(), 600_000);
        assert_eq!(c.password_policy.min_length, 15);
        assert_eq!(c.tokens.settings().access_ttl_secs, 900);
    }

    #[test]
    fn bad_numbers_and_algorithms_name_their_variable() {
        let err = config(&[URL, SECRET, ("PBKDF2_ITERATIONS", "lots")]).unwrap_err().to_string();
        assert!(err.contains("PBKDF2_ITERATIONS"), "{err}");
        let err = config(&[URL, SECRET, ("JWT_ALG", "none")]).unwrap_err().to_string();
        assert!(err.contains("JWT_ALG"), "{err}");
    }

    #[test]
    fn service_tokens_follow_the_contracts_rule_and_unset_closes_the_internal_api() {
        assert!(config(&[URL, SECRET]).unwrap().service_tokens.is_none());
        let current = "c".repeat(32);
        let next = "n".repeat(32);
        let both = config(&[URL, SECRET, ("EDGE_SERVICE_TOKEN", &format!("{current},{next}"))]).unwrap();
        assert!(both.service_tokens.unwrap().accepts(next.as_bytes()));
        let weak = config(&[URL, SECRET, ("EDGE_SERVICE_TOKEN", "change-me")]).unwrap_err().to_string();
        assert!(weak.contains("EDGE_SERVICE_TOKEN must be a random value of at least 32 bytes"), "{weak}");
        let three = format!("{current},{current},{current}");
        let many = config(&[URL, SECRET, ("EDGE_SERVICE_TOKEN", &three)]).unwrap_err().to_string();
        assert!(many.contains("at most two"), "{many}");
    }
}
