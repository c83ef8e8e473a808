//! The current user's sessions: `POST /auth/logout`, `POST /auth/logout-all`, `GET /users/sessions`.
//! Ending a session stops its access tokens at once (every token carries its `sid`, checked by
//! [`super::extract::authorize`]) and its refresh token for good.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::api::SessionOut;
use shared::error::ErrorBody;

use super::error::ApiError;
use super::extract::{ClientInfo, CurrentSession};
use crate::db::sessions::{self, EndReason};
use crate::db::{api_date, audit};
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
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked token", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<StatusCode, ApiError> {
    sessions::end(&state.pool, current.user.id, &current.token.sid, EndReason::Logout).await?;
    let event = audit::Event {
        session_id: Some(current.token.sid),
        client_ip: client.ip,
        ..audit::Event::new(audit::Kind::Logout, Some(current.user.id))
    };
    state.audit(event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the current user, on every device.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Every session has ended"),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked token", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn logout_all(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<StatusCode, ApiError> {
    let ended = sessions::end_all(&state.pool, current.user.id, EndReason::LogoutAll).await?;
    let event = audit::Event {
        client_ip: client.ip,
        detail: format!("{ended} sessions ended"),
        ..audit::Event::new(audit::Kind::LogoutAll, Some(current.user.id))
    };
    state.audit(event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The current user's live sessions, the most recently used first.
#[utoipa::path(get, path = "/users/sessions", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The live sessions", body = Vec<SessionOut>),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked token", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn list(State(state): State<AppState>, current: CurrentSession) -> Result<Json<Vec<SessionOut>>, ApiError> {
    let live = sessions::live(&state.pool, current.user.id, state.clock.now()).await?;
    let out = live
        .into_iter()
        .map(|session| SessionOut {
            current: session.id == current.token.sid,
            id: session.id,
            created_at: api_date(&session.created_at),
            last_used_at: api_date(&session.last_used_at),
            user_agent: session.user_agent,
            client_ip: session.client_ip,
        })
        .collect();
    Ok(Json(out))
}
