//! The contract between the edge and the origin, written once: the headers that carry the request
//! id, the edge's credential and the client's address; the internal API's paths and its answer;
//! the rule for service tokens; and the table of which public routes need a bearer token or the
//! admin role. The edge enforces the table statelessly, the origin again against the database, and
//! a test on the origin's side proves its handlers agree with it.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::domain::Role;

/// Header names, lowercase as HTTP/2 writes them.
pub mod header {
    /// The request id: the client's when it is plain and short, else one the first hop makes.
    pub const REQUEST_ID: &str = "x-request-id";
    /// The edge's credential on every call it makes to the origin.
    pub const SERVICE_TOKEN: &str = "x-edge-token";
    /// The client's address as the edge's host reported it; trusted only beside a valid
    /// [`SERVICE_TOKEN`].
    pub const CLIENT_IP: &str = "x-edge-client-ip";
}

/// The same names as `http` header names, for the two sides that speak `http`.
#[cfg(feature = "http")]
pub mod http_header {
    use http::HeaderName;

    pub const REQUEST_ID: HeaderName = HeaderName::from_static(super::header::REQUEST_ID);
    pub const SERVICE_TOKEN: HeaderName = HeaderName::from_static(super::header::SERVICE_TOKEN);
    pub const CLIENT_IP: HeaderName = HeaderName::from_static(super::header::CLIENT_IP);
}

/// Everything under this prefix is the internal API: only the edge may call it (the origin answers
/// 404 to anyone without the credential), and the edge never forwards a client's request there.
pub const INTERNAL_PREFIX: &str = "/internal/";

/// Whether `path` is in the internal API (or is its root), which a client never reaches.
#[must_use]
pub fn is_internal(path: &str) -> bool {
    path.starts_with(INTERNAL_PREFIX) || path == "/internal"
}

/// A public route whose checks need the database (passwords, sessions) but whose tokens the edge
/// signs: the edge forwards the client's body unchanged to [`GrantRoute::internal_path`], and the
/// origin answers with a [`Grant`] (200) or the very refusal the public route would give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRoute {
    /// `POST /auth/token`: JSON or the OAuth2 password form.
    Token,
    /// `POST /auth/login`: JSON.
    Login,
    /// `POST /auth/refresh`: the edge verifies the refresh token first; a bad one never travels.
    Refresh,
    /// `POST /auth/mfa`: a login's `mfa_token` and its second factor.
    Mfa,
}

impl GrantRoute {
    pub const ALL: [Self; 4] = [Self::Token, Self::Login, Self::Refresh, Self::Mfa];

    /// The route a client calls (always `POST`).
    #[must_use]
    pub const fn public_path(self) -> &'static str {
        match self {
            Self::Token => "/auth/token",
            Self::Login => "/auth/login",
            Self::Refresh => "/auth/refresh",
            Self::Mfa => "/auth/mfa",
        }
    }

    /// Where the edge asks the origin for the grant (always `POST`).
    #[must_use]
    pub const fn internal_path(self) -> &'static str {
        match self {
            Self::Token => "/internal/v1/auth/token",
            Self::Login => "/internal/v1/auth/login",
            Self::Refresh => "/internal/v1/auth/refresh",
            Self::Mfa => "/internal/v1/auth/mfa",
        }
    }

    /// The grant route a client's request is, if it is one.
    #[must_use]
    pub fn of(method: &str, path: &str) -> Option<Self> {
        if method != "POST" {
            return None;
        }
        Self::ALL.into_iter().find(|route| route.public_path() == path)
    }
}

/// The origin's answer on the internal API after a password or refresh-token check: whom to issue
/// a pair for, and which generation of which session (a [`crate::session::Ticket`]). The edge
/// signs; the hash never leaves the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub ver: i64,
    pub sid: String,
    pub generation: u32,
    pub issued_at: u64,
    /// The session's second factor (empty: none) and when the user authenticated: the
    /// generation's assurance.
    #[serde(default)]
    pub second_factor: String,
    #[serde(default)]
    pub auth_time: u64,
    /// Whether the user has confirmed their email address (the tokens' `email_verified`).
    #[serde(default)]
    pub email_verified: bool,
    /// A login's device token, for the edge to answer beside the pair; none for a refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

/// What a public route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: sign-up, the token routes, health, docs, and every path or method that reaches no
    /// handler (the origin's own 404 or 405 needs no token).
    Open,
    /// A valid access token.
    Bearer,
    /// A valid access token of an admin.
    Admin,
}

/// One row of [`ROUTES`]: a path pattern (`{id}` stands for one non-empty segment) and the methods
/// its handlers take (`HEAD` wherever `GET` is: the origin runs the GET handler for it).
struct Rule {
    pattern: &'static str,
    methods: &'static [&'static str],
    access: Access,
}

const READ: &[&str] = &["GET", "HEAD"];
const READ_CHANGE_DELETE: &[&str] = &["GET", "HEAD", "PATCH", "DELETE"];

/// Every public route that needs a token. The first rule whose pattern matches the path decides:
/// a method it does not list reaches no handler, so it is [`Access::Open`].
const ROUTES: &[Rule] = &[
    Rule { pattern: "/users", methods: READ_CHANGE_DELETE, access: Access::Bearer },
    Rule { pattern: "/users/sessions", methods: READ, access: Access::Bearer },
    Rule { pattern: "/users/devices", methods: READ, access: Access::Bearer },
    Rule { pattern: "/users/devices/{id}", methods: &["DELETE"], access: Access::Bearer },
    Rule { pattern: "/users/mfa", methods: READ, access: Access::Bearer },
    Rule { pattern: "/users/mfa/totp", methods: &["POST", "DELETE"], access: Access::Bearer },
    Rule { pattern: "/users/mfa/totp/confirm", methods: &["POST"], access: Access::Bearer },
    Rule { pattern: "/users/mfa/recovery-codes", methods: &["POST"], access: Access::Bearer },
    Rule { pattern: "/auth/logout", methods: &["POST"], access: Access::Bearer },
    Rule { pattern: "/auth/logout-all", methods: &["POST"], access: Access::Bearer },
    Rule { pattern: "/users/admin", methods: READ, access: Access::Admin },
    Rule { pattern: "/users/admin/audit", methods: READ, access: Access::Admin },
    Rule { pattern: "/users/admin/{id}", methods: READ_CHANGE_DELETE, access: Access::Admin },
    Rule { pattern: "/users/admin/{id}/sessions", methods: &["DELETE"], access: Access::Admin },
    Rule { pattern: "/users/admin/{id}/mfa", methods: &["DELETE"], access: Access::Admin },
];

/// What `method` on `path` asks of its caller.
#[must_use]
pub fn access(method: &str, path: &str) -> Access {
    ROUTES
        .iter()
        .find(|rule| matches_pattern(rule.pattern, path))
        .filter(|rule| rule.methods.contains(&method))
        .map_or(Access::Open, |rule| rule.access)
}

/// Every `(method, pattern, access)` of the table, for the origin's test that its handlers agree.
pub fn guarded_routes() -> impl Iterator<Item = (&'static str, &'static str, Access)> {
    ROUTES.iter().flat_map(|rule| rule.methods.iter().map(move |method| (*method, rule.pattern, rule.access)))
}

fn matches_pattern(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some("{id}"), Some(segment)) if !segment.is_empty() => {}
            (Some(expected), Some(segment)) if expected == segment => {}
            _ => return false,
        }
    }
}

/// The name of the variable that holds the service tokens, on both sides.
pub const SERVICE_TOKEN_VAR: &str = "EDGE_SERVICE_TOKEN";

/// The credentials the edge presents on the internal API: one, or two while one is rotated
/// (comma-separated; the edge presents the first, the origin accepts either).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceTokens(Vec<String>);

impl fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceTokens({} redacted)", self.0.len())
    }
}

/// Why a value of [`SERVICE_TOKEN_VAR`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceTokenError {
    Missing,
    TooMany,
    Weak,
}

impl fmt::Display for ServiceTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "{SERVICE_TOKEN_VAR} must be set to a random value of at least 32 bytes"),
            Self::TooMany => write!(f, "{SERVICE_TOKEN_VAR} holds at most two tokens (the current and the next)"),
            Self::Weak => write!(f, "{SERVICE_TOKEN_VAR} must be a random value of at least 32 bytes"),
        }
    }
}

impl core::error::Error for ServiceTokenError {}

impl ServiceTokens {
    /// The shortest token accepted.
    pub const MIN_LEN: usize = 32;

    /// Parses `a` or `a,b`. A short token, or the example's `change-me…`, is refused.
    ///
    /// # Errors
    /// [`ServiceTokenError`] naming what is wrong.
    pub fn parse(raw: &str) -> Result<Self, ServiceTokenError> {
        let tokens: Vec<String> =
            raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(ToString::to_string).collect();
        match tokens.len() {
            0 => Err(ServiceTokenError::Missing),
            1 | 2 if tokens.iter().all(|t| t.len() >= Self::MIN_LEN && !t.starts_with("change-me")) => Ok(Self(tokens)),
            1 | 2 => Err(ServiceTokenError::Weak),
            _ => Err(ServiceTokenError::TooMany),
        }
    }

    /// The token the edge presents.
    pub fn current(&self) -> &str {
        self.0.first().map_or("", String::as_str)
    }

    /// Whether `presented` is one of the tokens, compared in constant time.
    #[must_use]
    pub fn accepts(&self, presented: &[u8]) -> bool {
        self.0.iter().fold(false, |found, token| found | bool::from(token.as_bytes().ct_eq(presented)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gates_what_the_origin_gates_and_nothing_else() {
        assert_eq!(access("GET", "/users"), Access::Bearer);
        assert_eq!(access("HEAD", "/users"), Access::Bearer);
        assert_eq!(access("POST", "/users"), Access::Open, "sign-up");
        assert_eq!(access("POST", "/auth/logout-all"), Access::Bearer);
        assert_eq!(access("GET", "/users/admin"), Access::Admin);
        assert_eq!(access("DELETE", "/users/admin/7"), Access::Admin);
        assert_eq!(access("DELETE", "/users/admin/7/sessions"), Access::Admin);
        assert_eq!(access("DELETE", "/users/devices/7"), Access::Bearer);
        assert_eq!(access("GET", "/users/admin/7/sessions"), Access::Open, "no handler: the origin's 405");
        assert_eq!(access("PATCH", "/users/admin/audit"), Access::Open, "no handler: the origin's 405");
        assert_eq!(access("GET", "/users/admin/"), Access::Open, "no handler: the origin's 404");
        assert_eq!(access("GET", "/users/admin/7/other"), Access::Open);
        assert_eq!(access("GET", "/"), Access::Open);
    }

    #[test]
    fn grant_routes_are_post_only_and_live_under_the_internal_prefix() {
        assert_eq!(GrantRoute::of("POST", "/auth/login"), Some(GrantRoute::Login));
        assert_eq!(GrantRoute::of("GET", "/auth/login"), None);
        for route in GrantRoute::ALL {
            assert!(is_internal(route.internal_path()));
            assert!(route.internal_path().ends_with(route.public_path()));
        }
        assert!(is_internal("/internal"));
        assert!(!is_internal("/internals"));
    }

    #[test]
    fn service_tokens_are_strong_and_at_most_two() {
        let strong = "s".repeat(32);
        let next = "n".repeat(40);
        let both = ServiceTokens::parse(&alloc::format!(" {strong} , {next} ")).unwrap();
        assert_eq!(both.current(), strong);
        assert!(both.accepts(next.as_bytes()));
        assert!(!both.accepts(b"s"));
        assert_eq!(ServiceTokens::parse(" , "), Err(ServiceTokenError::Missing));
        assert_eq!(ServiceTokens::parse("short"), Err(ServiceTokenError::Weak));
        assert_eq!(ServiceTokens::parse(&"change-me".repeat(4)), Err(ServiceTokenError::Weak));
        assert_eq!(
            ServiceTokens::parse(&alloc::format!("{strong},{strong},{strong}")),
            Err(ServiceTokenError::TooMany)
        );
    }
}
