//! Responses the edge makes itself, with the very bytes and headers the origin would send.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;
use shared::error::{ErrorBody, detail};

use crate::handler::BodyError;

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Vec<u8>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| br#"{"detail":"Internal Server Error"}"#.to_vec());
    let mut response = Response::new(bytes);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub fn error(status: StatusCode, message: &str) -> Response<Vec<u8>> {
    json(status, &ErrorBody::new(message))
}

/// The public keys (`/.well-known/jwks.json`), cacheable as the origin says.
pub fn jwks(set: String) -> Response<Vec<u8>> {
    let mut response = Response::new(set.into_bytes());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(shared::keys::JWKS_CACHE_CONTROL));
    response
}

/// No bearer token at all: RFC 6750 names only the scheme.
pub fn not_authenticated() -> Response<Vec<u8>> {
    let mut response = error(StatusCode::UNAUTHORIZED, detail::NOT_AUTHENTICATED);
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Any token that failed a check: one answer for every reason.
pub fn invalid_token() -> Response<Vec<u8>> {
    let mut response = error(StatusCode::UNAUTHORIZED, detail::INVALID_TOKEN);
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#));
    response
}

pub fn forbidden() -> Response<Vec<u8>> {
    error(StatusCode::FORBIDDEN, detail::FORBIDDEN)
}

pub fn body_error(err: BodyError) -> Response<Vec<u8>> {
    match err {
        BodyError::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, detail::BODY_TOO_LARGE),
        BodyError::Unreadable => error(StatusCode::BAD_REQUEST, detail::BODY_UNREADABLE),
    }
}

pub fn origin_unreachable() -> Response<Vec<u8>> {
    let mut response = error(StatusCode::BAD_GATEWAY, detail::ORIGIN_UNAVAILABLE);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

pub fn origin_timeout() -> Response<Vec<u8>> {
    error(StatusCode::GATEWAY_TIMEOUT, detail::ORIGIN_TIMEOUT)
}

/// Tokens are never cached (RFC 6749 5.1).
pub fn tokens<T: Serialize>(pair: &T) -> Response<Vec<u8>> {
    let mut response = json(StatusCode::OK, pair);
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
