//! `POST /auth/token` (JSON or the OAuth2 password form), `/auth/login` (JSON), `/auth/refresh`:
//! the checks are [`crate::auth::login`]'s and [`crate::auth::sessions`]'s, the pair is signed here.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use shared::api::{LoginRequest, RefreshRequest, TokenPair};

use super::error::{ApiError, render};
use super::extract::{JsonBody, TokenForm, TokenRequest};
use super::responses::TokenRefusals;
use crate::auth::sessions::SignedIn;
use crate::auth::{self, Caller};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(token))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
}

/// A token pair for a username and password, sent as JSON or as the OAuth2 password form.
#[utoipa::path(post, path = "/auth/token", tag = "auth",
    request_body(content(
        (LoginRequest = "application/json"),
        (TokenForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "A token pair", body = TokenPair),
        TokenRefusals,
    ))]
async fn token(
    State(state): State<AppState>,
    caller: Caller,
    TokenRequest(body): TokenRequest,
) -> Result<Response, ApiError> {
    let signed_in = auth::login::log_in(&state, &body, &caller).await?;
    Ok(issue(&state, &signed_in))
}

/// A token pair for a username and password (JSON), as the seed's example shows.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "A token pair", body = TokenPair),
        TokenRefusals,
    ))]
async fn login(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let signed_in = auth::login::log_in(&state, &body, &caller).await?;
    Ok(issue(&state, &signed_in))
}

/// The next pair of the session for its live refresh token, which is spent. Within the grace
/// window (`REFRESH_REUSE_GRACE_SECS`) the token just spent gets that same pair again; after it, or
/// for an older token, the whole session ends (reuse: a stolen token).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        TokenRefusals,
    ))]
async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Response, ApiError> {
    let signed_in = auth::sessions::rotate(&state, &body.refresh_token, &caller).await?;
    Ok(issue(&state, &signed_in))
}

/// The signed pair, never to be cached (RFC 6749 5.1).
fn issue(state: &AppState, signed_in: &SignedIn) -> Response {
    render(signed_in.token_pair(&state.tokens).to_response())
}
