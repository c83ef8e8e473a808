//! The current user's sessions: `POST /auth/logout`, `POST /auth/logout-all`, `GET /users/sessions`
//! (the rules are [`crate::auth::sessions`]'s).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::api::SessionOut;

use super::error::ApiError;
use super::extract::CurrentSession;
use super::responses::BearerRefusals;
use crate::auth::{Caller, sessions};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/logout", post(logout))
        .route("/auth/logout-all", post(logout_all))
        .route("/users/sessions", get(list))
}

/// Ends the session of the bearer token: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "The session has ended"),
        BearerRefusals,
    ))]
async fn logout(
    State(state): State<AppState>,
    current: CurrentSession,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    sessions::end(&state, &current.user, current.token.sid, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the current user, on every device.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session has ended"),
        BearerRefusals,
    ))]
async fn logout_all(
    State(state): State<AppState>,
    current: CurrentSession,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    sessions::end_all(&state, &current.user, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The current user's live sessions, the most recently used first.
#[utoipa::path(get, path = "/users/sessions", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The live sessions", body = Vec<SessionOut>),
        BearerRefusals,
    ))]
async fn list(State(state): State<AppState>, current: CurrentSession) -> Result<Json<Vec<SessionOut>>, ApiError> {
    let live = sessions::live(&state, &current.user).await?;
    Ok(Json(live.iter().map(|session| session.to_out(&current.token.sid)).collect()))
}
