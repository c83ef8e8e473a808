//! The internal API, at [`GrantRoute::internal_path`], for the edge only ([`super::edge::guard`]
//! answers 404 to anyone else). The edge checks tokens and signs them; the origin checks what only
//! the database knows (passwords, users, sessions), through the same services as the public
//! routes, and answers with a [`Grant`] or the very refusal the public route would give.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use shared::api::{LoginRequest, RefreshRequest};
use shared::contract::{Grant, GrantRoute};

use super::error::ApiError;
use super::extract::{JsonBody, TokenRequest};
use crate::auth::{self, Caller};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(GrantRoute::Token.internal_path(), post(token))
        .route(GrantRoute::Login.internal_path(), post(login))
        .route(GrantRoute::Refresh.internal_path(), post(refresh))
}

/// `/auth/token`'s checks (JSON or the OAuth2 form), answering with whom to issue a pair for.
async fn token(
    State(state): State<AppState>,
    caller: Caller,
    TokenRequest(body): TokenRequest,
) -> Result<Json<Grant>, ApiError> {
    Ok(Json(auth::login::log_in(&state, &body, &caller).await?.into_grant()))
}

/// `/auth/login`'s checks (JSON only, as the public route).
async fn login(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<Grant>, ApiError> {
    Ok(Json(auth::login::log_in(&state, &body, &caller).await?.into_grant()))
}

/// `/auth/refresh`'s checks and rotation, answering with the pair to sign.
async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Json<Grant>, ApiError> {
    Ok(Json(auth::sessions::rotate(&state, &body.refresh_token, &caller).await?.into_grant()))
}
