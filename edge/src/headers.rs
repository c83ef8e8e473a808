//! Which headers cross the edge, in each direction, and whose word the client's address is.

use std::net::{IpAddr, SocketAddr};

use http::header::{
    ACCESS_CONTROL_REQUEST_METHOD, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    LOCATION, ORIGIN, PRAGMA, REFERRER_POLICY, RETRY_AFTER, USER_AGENT, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use shared::contract::http_header::REQUEST_ID;

/// The request headers the edge reads or forwards: adapters convert only these (and the one that
/// carries the client's address, where it is trusted), so the glue between host and wasm stays small.
pub static REQUEST_HEADERS: [HeaderName; 6] =
    [AUTHORIZATION, CONTENT_TYPE, USER_AGENT, ORIGIN, REQUEST_ID, ACCESS_CONTROL_REQUEST_METHOD];

/// The client's headers that go on to the origin (besides the edge's own).
pub static FORWARDED: [HeaderName; 3] = [AUTHORIZATION, CONTENT_TYPE, USER_AGENT];

/// The response headers of the origin that reach the client: the API's, and the security headers
/// of the pages a mailed link opens (their CSP, no referrer, no framing, no sniffing).
pub static PASSED_BACK: [HeaderName; 11] = [
    CONTENT_TYPE,
    WWW_AUTHENTICATE,
    RETRY_AFTER,
    CACHE_CONTROL,
    PRAGMA,
    LOCATION,
    ALLOW,
    CONTENT_SECURITY_POLICY,
    REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
];

/// The origin's answer, with only the [`PASSED_BACK`] headers.
pub fn passed_back(answer: Response<Vec<u8>>) -> Response<Vec<u8>> {
    let (parts, body) = answer.into_parts();
    let mut response = Response::new(body);
    *response.status_mut() = parts.status;
    for name in &PASSED_BACK {
        for value in parts.headers.get_all(name) {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

/// The client's address from `trusted`, the header the host writes it in (none where it writes
/// none: a client's own header must not pick the address the origin's limits count). The last
/// value is the host's (it appends its own after any the client sent); an IP address, or a socket
/// address whose IP is taken (Spin writes `ip:port`). Anything else is no address.
pub fn client_addr(headers: &HeaderMap, trusted: Option<&HeaderName>) -> Option<HeaderValue> {
    let value = headers.get_all(trusted?).iter().next_back()?.to_str().ok()?.trim();
    let ip = value.parse::<SocketAddr>().map(|addr| addr.ip()).or_else(|_| value.parse::<IpAddr>()).ok()?;
    HeaderValue::try_from(ip.to_string()).ok()
}

/// A client's request id is kept when it is short and plain, else replaced.
pub fn is_safe_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_client_address_is_the_last_value_of_the_trusted_header_as_an_ip() {
        let trusted = HeaderName::from_static("spin-client-addr");
        let addr = |headers: &HeaderMap| client_addr(headers, Some(&trusted)).map(|v| v.to_str().unwrap().to_owned());
        let sent = with("spin-client-addr", &["198.51.100.7", "203.0.113.9:4711"]);
        assert_eq!(addr(&sent).as_deref(), Some("203.0.113.9"));
        assert_eq!(addr(&with("spin-client-addr", &[" [2001:db8::1]:443 "])).as_deref(), Some("2001:db8::1"));
        assert_eq!(addr(&with("spin-client-addr", &["2001:DB8:0::1"])).as_deref(), Some("2001:db8::1"));
        assert_eq!(addr(&with("spin-client-addr", &["203.0.113.9, 198.51.100.7"])), None);
        assert_eq!(addr(&with("spin-client-addr", &["localhost"])), None);
        assert_eq!(addr(&with("x-forwarded-for", &["203.0.113.9"])), None);
        assert_eq!(client_addr(&sent, None), None, "no header is trusted unless one is named");
    }
}
