//! The current user's sessions and devices: `POST /auth/logout`, `POST /auth/logout-all`,
//! `GET /users/sessions`, `GET /users/devices`, `DELETE /users/devices/{id}` (the rules are
//! [`crate::auth::sessions`]'s and [`crate::auth::devices`]'s).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use shared::api::{DeviceOut, SessionOut};

use super::error::ApiError;
use super::extract::{CurrentSession, path_id};
use super::responses::BearerRefusals;
use crate::auth::{Caller, devices, sessions};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/logout", post(logout))
        .route("/auth/logout-all", post(logout_all))
        .route("/users/sessions", get(list))
        .route("/users/devices", get(list_devices))
        .route("/users/devices/{id}", delete(forget_device))
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

/// Ends every session of the current user, on every device, and forgets its devices.
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

/// The current user's known devices (each a `device_token` a login gave out), the most recently
/// used first.
#[utoipa::path(get, path = "/users/devices", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The known devices", body = Vec<DeviceOut>),
        BearerRefusals,
    ))]
async fn list_devices(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<DeviceOut>>, ApiError> {
    Ok(Json(devices::list(&state, &current.user).await?))
}

/// Forgets one of the current user's devices: its `device_token` no longer gets it through the
/// account's lock for new sources.
#[utoipa::path(delete, path = "/users/devices/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The device's id")),
    responses(
        (status = 204, description = "The device is forgotten"),
        (status = 404, description = "No such device of the current user", body = shared::error::ErrorBody),
        (status = 422, description = "The id is not an integer", body = shared::error::ValidationBody),
        BearerRefusals,
    ))]
async fn forget_device(
    State(state): State<AppState>,
    current: CurrentSession,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    devices::forget(&state, &current.user, path_id(&id)?.0, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
