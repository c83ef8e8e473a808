//! Admin operations on other users, and the audit log: `GET|PATCH|DELETE /users/admin/{id}`,
//! `DELETE /users/admin/{id}/sessions`, `GET /users/admin/audit`. The admin role is the
//! database's, checked on every request ([`AdminUser`]); the rules are [`crate::auth::admin`]'s.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use shared::api::{AdminUserUpdate, AuditEventOut, UserOut};
use shared::domain::UserId;
use shared::error::ErrorBody;

use super::error::ApiError;
use super::extract::{AdminUser, JsonBody, QueryParams, path_id};
use super::responses::{AdminRefusals, JsonRefusals};
use super::users::{DEFAULT_PAGE, MAX_PAGE};
use crate::auth::{Caller, admin};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/admin/audit", get(audit_log))
        .route("/users/admin/{id}", get(read_user).patch(change_user).delete(delete_user))
        .route("/users/admin/{id}/sessions", delete(end_sessions))
}

/// One user, by id (admin role only).
#[utoipa::path(get, path = "/users/admin/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserOut),
        (status = 404, description = "No such user", body = ErrorBody),
        AdminRefusals,
    ))]
async fn read_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<UserOut>, ApiError> {
    let user = admin::user(&state, path_id(&id)?).await?;
    Ok(Json(user.to_out()))
}

/// Changes a user's role, active flag or password (admin role only). Deactivating a user or
/// setting a password ends all of their sessions; the last active admin cannot be demoted or
/// deactivated.
#[utoipa::path(patch, path = "/users/admin/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    request_body = AdminUserUpdate,
    responses(
        (status = 200, description = "The changed user", body = UserOut),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "It would leave no active admin", body = ErrorBody),
        AdminRefusals,
        JsonRefusals,
    ))]
async fn change_user(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AdminUserUpdate>,
) -> Result<Json<UserOut>, ApiError> {
    let user = admin::change(&state, &by, path_id(&id)?, &body, &caller).await?;
    Ok(Json(user.to_out()))
}

/// Deletes a user and their sessions (admin role only); the last active admin cannot be deleted.
#[utoipa::path(delete, path = "/users/admin/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "It would leave no active admin", body = ErrorBody),
        AdminRefusals,
    ))]
async fn delete_user(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin::delete(&state, &by, path_id(&id)?, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of a user (admin role only): their tokens stop working at once.
#[utoipa::path(delete, path = "/users/admin/{id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Every session has ended"),
        (status = 404, description = "No such user", body = ErrorBody),
        AdminRefusals,
    ))]
async fn end_sessions(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin::end_sessions(&state, &by, path_id(&id)?, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of query parameters of the audit log.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AuditPage {
    /// How many events, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Only events older than this id: the last id of the previous page.
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Only events concerning this user.
    #[param(minimum = 1)]
    user_id: Option<i64>,
}

/// The audit log of security events, newest first, a page at a time (admin role only).
#[utoipa::path(get, path = "/users/admin/audit", tag = "admin", params(AuditPage), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = Vec<AuditEventOut>),
        AdminRefusals,
    ))]
async fn audit_log(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<AuditEventOut>>, ApiError> {
    let mut query = QueryParams::parse(query.as_deref());
    let limit = query.int("limit", 1, MAX_PAGE).unwrap_or(DEFAULT_PAGE);
    let before = query.int("before", 1, i64::MAX);
    let user = query.int("user_id", 1, i64::MAX);
    query.finish()?;
    Ok(Json(admin::audit_page(&state, limit, before, user.map(UserId)).await?))
}
