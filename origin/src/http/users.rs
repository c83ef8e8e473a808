//! `POST|GET|PATCH|DELETE /users` (sign-up and the current user) and `GET /users/admin`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::{UserCreate, UserOut, UserUpdate};
use shared::domain::Role;
use shared::error::{ErrorBody, ValidationBody};
use shared::policy::Password;

use super::error::ApiError;
use super::extract::{AdminUser, ClientInfo, CurrentUser, JsonBody, QueryParams};
use super::limits::{self, Limit};
use crate::db::audit;
use crate::db::sessions::{self, EndReason};
use crate::db::users::{self, Changes, Guarded, User};
use crate::hasher::off_executor;
use crate::state::AppState;
use shared::refusal::Refusal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(read_me).post(sign_up).patch(update_me).delete(delete_me))
        .route("/users/admin", get(list_users))
}

/// Sign-up. Every new user has the role `user`.
#[utoipa::path(post, path = "/users", tag = "users", request_body = UserCreate,
    responses(
        (status = 201, description = "The new user", body = UserOut),
        (status = 409, description = "Username or email already registered", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this username", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn sign_up(
    State(state): State<AppState>,
    client: ClientInfo,
    JsonBody(body): JsonBody<UserCreate>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    limits::rate(&state, Limit::SignUp, client.ip).await?;
    let new_user = body.parse(&state.password_policy)?;
    let hash = state.hash_password(new_user.password.clone()).await;
    let user = users::insert(&state.pool, &new_user, &hash, Role::User).await?;
    Ok((StatusCode::CREATED, Json(user.to_out())))
}

/// The current user.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user", body = UserOut),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked token", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn read_me(CurrentUser(user): CurrentUser) -> Json<UserOut> {
    Json(user.to_out())
}

/// Changes the current user's fields; a new password or email needs `current_password`, and a new
/// password revokes every token and session issued before it.
#[utoipa::path(patch, path = "/users", tag = "users", request_body = UserUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed user", body = UserOut),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked token", body = ErrorBody),
        (status = 403, description = "Wrong current_password", body = ErrorBody),
        (status = 409, description = "Username or email already registered", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or for this username", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn update_me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    client: ClientInfo,
    JsonBody(body): JsonBody<UserUpdate>,
) -> Result<Json<UserOut>, ApiError> {
    let parsed = body.parse(&state.password_policy, [&user.username, &user.email])?;
    if let Some(current) = parsed.current_password {
        confirm_password(&state, &user, current, &client).await?;
    }
    let password_hash = match parsed.password {
        Some(password) => Some(state.hash_password(password).await),
        None => None,
    };
    let changes = Changes {
        username: parsed.username.map(|v| v.into_inner()),
        email: parsed.email.map(|v| v.into_inner()),
        first_name: parsed.first_name.map(|v| v.into_inner()),
        last_name: parsed.last_name.map(|v| v.into_inner()),
        password_hash,
        ..Changes::default()
    };
    let new_password = changes.password_hash.is_some();
    // The user may have been deleted since the token was checked.
    let updated =
        users::update(&state.pool, user.id, &changes).await?.ok_or(ApiError::Refused(Refusal::InvalidToken))?;
    if new_password {
        // Its tokens are void already (the version moved); their sessions end with them.
        sessions::end_all(&state.pool, user.id, EndReason::PasswordChange).await?;
        let event =
            audit::Event { client_ip: client.ip, ..audit::Event::new(audit::Kind::PasswordChanged, Some(user.id)) };
        state.audit(event).await;
    }
    Ok(Json(updated.to_out()))
}

/// The user's own password, checked before a change of password or email.
/// Counted as a failed login: a stolen access token must not become an unthrottled way to guess.
async fn confirm_password(
    state: &AppState,
    user: &User,
    password: Password,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let lock = limits::begin_login(state, &user.username, client.ip).await?;
    let stored = users::password_hash(&state.pool, user.id).await?.ok_or(ApiError::Refused(Refusal::InvalidToken))?;
    let hasher = state.hasher.clone();
    if off_executor(move || hasher.verify(&password, &stored)).await {
        limits::login_succeeded(state, &lock, client.ip).await
    } else {
        let event = audit::Event {
            detail: "wrong current password".into(),
            ..audit::Event::new(audit::Kind::LoginFailed, Some(user.id))
        };
        state.audit(event).await;
        Err(ApiError::Refused(Refusal::WrongCurrentPassword))
    }
}

/// Deletes the current user; its tokens stop working.
#[utoipa::path(delete, path = "/users", tag = "users", security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked token", body = ErrorBody),
        (status = 409, description = "The last active admin cannot delete itself", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn delete_me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    client: ClientInfo,
) -> Result<StatusCode, ApiError> {
    // Its sessions go with it (ON DELETE CASCADE); the audit log keeps the event. The last
    // active admin stays.
    match users::guarding_admins(&state.pool, user.id, None).await? {
        Guarded::Done(_) => {}
        Guarded::NoSuchUser => return Err(ApiError::Refused(Refusal::InvalidToken)),
        Guarded::LastAdmin => return Err(ApiError::Refused(Refusal::LastAdmin)),
    }
    let event = audit::Event {
        username: Some(user.username.clone()),
        client_ip: client.ip,
        ..audit::Event::new(audit::Kind::UserDeleted, Some(user.id))
    };
    state.audit(event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// One page of the user list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct Page {
    /// How many users, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// How many to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

pub(super) const MAX_PAGE: i64 = 1000;
pub(super) const DEFAULT_PAGE: i64 = 100;

/// Every user, by id, one page at a time (admin role only).
#[utoipa::path(get, path = "/users/admin", tag = "admin", params(Page), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = Vec<UserOut>),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 401, description = "Missing, invalid or revoked token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Invalid limit or offset", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<UserOut>>, ApiError> {
    let mut query = QueryParams::parse(query.as_deref());
    let limit = query.int("limit", 1, MAX_PAGE).unwrap_or(DEFAULT_PAGE);
    let offset = query.int("offset", 0, i64::from(i32::MAX)).unwrap_or(0);
    query.finish()?;
    let page = users::list(&state.pool, limit, offset).await?;
    Ok(Json(page.iter().map(|u| u.to_out()).collect()))
}
