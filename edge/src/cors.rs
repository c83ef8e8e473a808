//! CORS: which browser origins may call the API, answered at the edge (preflights never travel).

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, VARY,
};
use std::sync::LazyLock;

use http::{HeaderMap, HeaderValue};
use shared::contract::header::REQUEST_ID;

/// The headers a page may read of an answer, and those it may send, the request id among both.
static EXPOSED: LazyLock<HeaderValue> = LazyLock::new(|| header_list(&[REQUEST_ID, "www-authenticate", "retry-after"]));
static ALLOWED: LazyLock<HeaderValue> = LazyLock::new(|| header_list(&["authorization", "content-type", REQUEST_ID]));

fn header_list(names: &[&str]) -> HeaderValue {
    // Header names joined by ", " are a valid value: the fallback is never taken.
    HeaderValue::try_from(names.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    Any,
    Origins(Vec<String>),
}

impl Cors {
    pub fn parse(spec: &str) -> Self {
        if spec.trim() == "*" {
            return Self::Any;
        }
        Self::Origins(
            spec.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect(),
        )
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Origins(list) => list.iter().any(|o| o == origin),
        }
    }

    /// The headers of a response to a request from `origin` (a browser's `Origin` header).
    pub fn decorate(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        // With no origin allowed, no answer depends on `Origin`, and a cache need not key on it
        // (a header the runtime converts and writes on every answer, refusals included).
        if matches!(self, Self::Origins(list) if list.is_empty()) {
            return;
        }
        headers.append(VARY, HeaderValue::from_static("origin"));
        let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| self.allows(o))) else {
            return;
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED.clone());
    }

    /// The extra headers of a preflight's answer.
    pub fn preflight(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        self.decorate(origin, headers);
        if headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS"));
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED.clone());
            headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decorated(cors: &Cors, origin: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        cors.decorate(origin.map(|o| HeaderValue::from_str(o).unwrap()).as_ref(), &mut headers);
        headers
    }

    #[test]
    fn answers_vary_by_origin_only_where_some_origin_is_allowed() {
        let none = Cors::parse("");
        assert!(decorated(&none, Some("https://app.example")).is_empty());
        let listed = Cors::parse("https://app.example/");
        let stranger = decorated(&listed, Some("https://evil.example"));
        assert_eq!(stranger.get(VARY).unwrap(), "origin");
        assert!(!stranger.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        assert_eq!(decorated(&listed, Some("https://app.example"))[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(decorated(&Cors::Any, None).get(VARY).unwrap(), "origin");
    }

    #[test]
    fn pages_may_read_and_send_the_request_id() {
        let allowed = Some(HeaderValue::from_static("https://app.example"));
        let mut headers = HeaderMap::new();
        Cors::Any.preflight(allowed.as_ref(), &mut headers);
        assert_eq!(headers[ACCESS_CONTROL_EXPOSE_HEADERS], format!("{REQUEST_ID}, www-authenticate, retry-after"));
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_HEADERS], format!("authorization, content-type, {REQUEST_ID}"));
    }
}
