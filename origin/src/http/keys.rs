//! `GET /.well-known/jwks.json`: the public keys tokens are signed with, for any service that
//! verifies them on its own. Empty for HS256, whose secret is never published.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shared::keys::{JWKS_CACHE_CONTROL, JWKS_PATH};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(JWKS_PATH, get(jwks))
}

/// The JWK Set of the verification keys (RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "The public keys (none for HS256)", content_type = "application/json",
        example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "a1b2c3", "alg": "EdDSA", "use": "sig"}]}))))]
async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/json")], state.tokens.jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(JWKS_CACHE_CONTROL));
    response
}
