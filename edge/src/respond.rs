//! The answers the edge makes itself that are not a refusal of the request (refusals are
//! `shared`'s [`Refusal`], rendered alike on every host), and the fallbacks an adapter gives when
//! the core cannot take a request at all.

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;
use shared::refusal::Refusal;

use crate::config::ConfigError;

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Vec<u8>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| br#"{"detail":"Internal Server Error"}"#.to_vec());
    let mut response = Response::new(bytes);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The public keys (`/.well-known/jwks.json`), cacheable as the origin says.
pub fn jwks(set: String) -> Response<Vec<u8>> {
    let mut response = Response::new(set.into_bytes());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(shared::keys::JWKS_CACHE_CONTROL));
    response
}

/// A request the host could not hand over as an `http` one (a header value the Fetch spec allows
/// but `http` refuses, a control byte): the client's mistake, answered like any bad request.
pub fn malformed() -> Response<Vec<u8>> {
    Refusal::BadRequest.to_response()
}

/// The answer while the configuration is unusable: the operator reads why in `log`, the client
/// learns only that the service is not up.
pub fn misconfigured(err: &ConfigError, log: impl FnOnce(&str)) -> Response<Vec<u8>> {
    log(&err.to_string());
    Refusal::Misconfigured.to_response()
}
