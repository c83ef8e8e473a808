//! `EdgeConfig`: read once at start-up from the host's variables (a worker's vars and secrets,
//! or a WASI component's environment) and validated, so a missing or weak secret is a clear
//! error at the first request's start-up, never a 500 halfway through handling one.

use std::fmt;

use http::HeaderName;
use shared::assurance::Aal2Policy;
use shared::contract::{SERVICE_TOKEN_VAR, ServiceTokens};
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
    /// `EDGE_SERVICE_TOKEN`: the credentials for the origin's internal API; the edge presents the
    /// current one.
    pub service_tokens: ServiceTokens,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins, or `*`; empty allows none.
    pub cors: Cors,
    /// `EDGE_CLIENT_ADDR_HEADER`: the request header in which the host writes the client's address,
    /// passed on to the origin. Unset, none is: a header the client wrote itself must not be
    /// trusted (`wasmtime serve` and `workerd serve` write none).
    pub client_addr_header: Option<HeaderName>,
    /// `REQUIRE_AAL2`: the routes that refuse a token without a second factor.
    pub require_aal2: Aal2Policy,
}

/// Where a host writes the client's address: the adapter says, the configuration picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAddr {
    /// Only ever in this header (Cloudflare writes `cf-connecting-ip`, replacing any the client
    /// sent): `EDGE_CLIENT_ADDR_HEADER` may name it, or nothing.
    Only(HeaderName),
    /// In the header the operator names (Spin writes `spin-client-addr`).
    Named,
}

impl EdgeConfig {
    /// The configuration from the host's variables; `host` is where the host writes the client's
    /// address.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>, host: HostAddr) -> Result<Self, ConfigError> {
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
        let service_tokens = ServiceTokens::parse(&get(SERVICE_TOKEN_VAR).unwrap_or_default())
            .map_err(|e| ConfigError(e.to_string()))?;
        let client_addr_header = match (get("EDGE_CLIENT_ADDR_HEADER"), host) {
            (None, _) => None,
            (Some(name), HostAddr::Only(written)) if name.eq_ignore_ascii_case(written.as_str()) => Some(written),
            (Some(other), HostAddr::Only(written)) => {
                return Err(ConfigError(format!(
                    "EDGE_CLIENT_ADDR_HEADER={other}: this host writes the client's address in {written}; leave it unset where nothing writes it (workerd serve)"
                )));
            }
            // A name no header can have matches none: as if unset.
            (Some(name), HostAddr::Named) => HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok(),
        };
        Ok(Self {
            tokens,
            origin_url,
            origin_timeout_ms,
            service_tokens,
            cors: Cors::parse(get("CORS_ALLOWED_ORIGINS").as_deref().unwrap_or("")),
            client_addr_header,
            require_aal2: Aal2Policy::parse(get(Aal2Policy::VAR).as_deref()).map_err(|e| ConfigError(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<EdgeConfig, ConfigError> {
        on_host(pairs, HostAddr::Named)
    }

    fn on_host(pairs: &[(&str, &str)], host: HostAddr) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()), host)
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
        let three = ["a", "b", "c"].map(|t| t.repeat(32)).join(",");
        let too_many = config(&[GOOD[0], GOOD[1], ("EDGE_SERVICE_TOKEN", &three)]).unwrap_err();
        assert!(too_many.0.contains("at most two"));
    }

    #[test]
    fn the_edge_presents_the_first_of_two_service_tokens() {
        let two = format!("{},{}", "a".repeat(32), "b".repeat(32));
        let c = config(&[GOOD[0], GOOD[1], ("EDGE_SERVICE_TOKEN", &two)]).unwrap();
        assert_eq!(c.service_tokens.current(), "a".repeat(32));
    }

    #[test]
    fn the_client_address_header_is_trusted_only_where_named_and_where_the_host_writes_it() {
        let with =
            |name: &str, host: HostAddr| on_host(&[GOOD[0], GOOD[1], GOOD[2], ("EDGE_CLIENT_ADDR_HEADER", name)], host);
        assert_eq!(config(&GOOD).unwrap().client_addr_header, None);
        assert_eq!(with(" ", HostAddr::Named).unwrap().client_addr_header, None);
        assert_eq!(
            with(" Spin-Client-Addr ", HostAddr::Named).unwrap().client_addr_header.unwrap(),
            "spin-client-addr"
        );
        assert_eq!(with("not a header", HostAddr::Named).unwrap().client_addr_header, None);
        let cloudflare = HostAddr::Only(HeaderName::from_static("cf-connecting-ip"));
        assert_eq!(
            with("CF-Connecting-IP", cloudflare.clone()).unwrap().client_addr_header.unwrap(),
            "cf-connecting-ip"
        );
        assert!(with("x-forwarded-for", cloudflare).unwrap_err().0.contains("cf-connecting-ip"));
    }
}
