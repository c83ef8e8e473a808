//! `EdgeConfig`: read once at start-up from the host's variables (a worker's vars and secrets,
//! or a WASI component's environment) and validated, so a missing or weak secret is a clear
//! error at the first request's start-up, never a 500 halfway through handling one.

use std::fmt;

use shared::token::TokenService;

use crate::cors::Cors;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "edge configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// `JWT_SECRET`/`JWT_KEYS`, `JWT_ALG`, `JWT_ISSUER`, `JWT_AUDIENCE`, the TTLs: as the origin.
    pub tokens: TokenService,
    /// `ORIGIN_URL`, without a trailing slash.
    pub origin_url: String,
    /// `ORIGIN_TIMEOUT_MS` (default 5000): after this, the client gets 504.
    pub origin_timeout_ms: u64,
    /// `EDGE_SERVICE_TOKEN`: the credential for the origin's internal API (the first, when two
    /// are listed during a rotation).
    pub service_token: String,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins, or `*`; empty allows none.
    pub cors: Cors,
}

impl EdgeConfig {
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let tokens = shared::token::from_lookup(&var).map_err(|e| ConfigError(e.0))?;
        let origin_url = get("ORIGIN_URL").ok_or_else(|| ConfigError("ORIGIN_URL is not set".into()))?;
        let origin_url = origin_url.trim_end_matches('/').to_owned();
        let usable = format!("{origin_url}/").parse::<http::Uri>().is_ok_and(|uri| uri.authority().is_some());
        if !(origin_url.starts_with("http://") || origin_url.starts_with("https://")) || !usable {
            return Err(ConfigError(format!("ORIGIN_URL={origin_url} must be an http:// or https:// URL")));
        }
        let origin_timeout_ms = match get("ORIGIN_TIMEOUT_MS") {
            None => 5000,
            Some(raw) => raw
                .parse()
                .ok()
                .filter(|ms| (100..=60_000).contains(ms))
                .ok_or_else(|| ConfigError(format!("ORIGIN_TIMEOUT_MS={raw}: use 100 to 60000")))?,
        };
        let service_token = get("EDGE_SERVICE_TOKEN")
            .and_then(|raw| raw.split(',').next().map(|t| t.trim().to_owned()))
            .filter(|t| t.len() >= 32 && !t.starts_with("change-me"))
            .ok_or_else(|| {
                ConfigError("EDGE_SERVICE_TOKEN must be set to a random value of at least 32 bytes".into())
            })?;
        Ok(Self {
            tokens,
            origin_url,
            origin_timeout_ms,
            service_token,
            cors: Cors::parse(get("CORS_ALLOWED_ORIGINS").as_deref().unwrap_or("")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    const GOOD: [(&str, &str); 3] = [
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("ORIGIN_URL", "http://127.0.0.1:8000/"),
        ("EDGE_SERVICE_TOKEN", "service-token-0123456789abcdef-0123"),
    ];

    #[test]
    fn a_complete_configuration_is_accepted() {
        let c = config(&GOOD).unwrap();
        assert_eq!(c.origin_url, "http://127.0.0.1:8000");
        assert_eq!(c.origin_timeout_ms, 5000);
    }

    #[test]
    fn missing_or_weak_secrets_are_clear_errors() {
        let without = |name: &str| config(&GOOD.iter().copied().filter(|(k, _)| *k != name).collect::<Vec<_>>());
        assert!(without("JWT_SECRET").unwrap_err().0.contains("JWT_SECRET"));
        assert!(without("EDGE_SERVICE_TOKEN").unwrap_err().0.contains("EDGE_SERVICE_TOKEN"));
        assert!(without("ORIGIN_URL").unwrap_err().0.contains("ORIGIN_URL"));
        for unusable in ["127.0.0.1:8000", "http://", "http://exa mple.com"] {
            let err = config(&[GOOD[0], ("ORIGIN_URL", unusable), GOOD[2]]).unwrap_err();
            assert!(err.0.contains("ORIGIN_URL"), "{unusable}");
        }
        let weak = config(&[GOOD[0], GOOD[1], ("EDGE_SERVICE_TOKEN", "short")]).unwrap_err();
        assert!(weak.0.contains("EDGE_SERVICE_TOKEN"));
        let bad_timeout = config(&[GOOD[0], GOOD[1], GOOD[2], ("ORIGIN_TIMEOUT_MS", "0")]).unwrap_err();
        assert!(bad_timeout.0.contains("ORIGIN_TIMEOUT_MS"));
    }
}
