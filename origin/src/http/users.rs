//! `POST|GET|PATCH|DELETE /users` (sign-up and the current user, [`crate::auth::account`]) and
//! `GET /users/admin`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::{UserCreate, UserOut, UserUpdate};
use shared::error::{ErrorBody, FieldError, LocPart};

use super::error::ApiError;
use super::extract::{AdminUser, CurrentUser, JsonBody, QueryParams};
use super::responses::{AdminRefusals, BearerRefusals, BodyRefusals};
use crate::auth::admin::PageStart;
use crate::auth::{Caller, account, admin};
use crate::state::AppState;

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
        BodyRefusals,
    ))]
async fn sign_up(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<UserCreate>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    let user = account::sign_up(&state, &body, &caller).await?;
    Ok((StatusCode::CREATED, Json(user.to_out())))
}

/// The current user.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user", body = UserOut),
        BearerRefusals,
    ))]
async fn read_me(CurrentUser(user): CurrentUser) -> Json<UserOut> {
    Json(user.to_out())
}

/// Changes the current user's fields; a new password or email needs `current_password`, and a new
/// password revokes every token and session issued before it.
#[utoipa::path(patch, path = "/users", tag = "users", request_body = UserUpdate, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed user", body = UserOut),
        (status = 403, description = "Wrong current_password", body = ErrorBody),
        (status = 409, description = "Username or email already registered", body = ErrorBody),
        BearerRefusals,
        BodyRefusals,
    ))]
async fn update_me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    caller: Caller,
    JsonBody(body): JsonBody<UserUpdate>,
) -> Result<Json<UserOut>, ApiError> {
    let updated = account::update(&state, &user, &body, &caller).await?;
    Ok(Json(updated.to_out()))
}

/// Deletes the current user; its tokens stop working.
#[utoipa::path(delete, path = "/users", tag = "users", security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The last active admin cannot delete itself", body = ErrorBody),
        BearerRefusals,
    ))]
async fn delete_me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    account::delete(&state, &user, &caller).await?;
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
    /// How many to skip (default 0): the seed's paging, slower the deeper it goes.
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Only users with a greater id: the last id of the previous page. As fast at any depth;
    /// not with `offset`.
    #[param(minimum = 0)]
    after_id: Option<i64>,
}

pub(super) const MAX_PAGE: i64 = 1000;
pub(super) const DEFAULT_PAGE: i64 = 100;

fn both_offset_and_after_id() -> FieldError {
    let loc = vec![LocPart::from("query"), LocPart::from("after_id")];
    FieldError::new(loc, "mutually_exclusive", "Use either offset or after_id, not both")
}

/// Every user, by id, one page at a time (admin role only). Page with `after_id` (the last id of
/// the previous page) rather than `offset`, which slows as it goes deeper.
#[utoipa::path(get, path = "/users/admin", tag = "admin", params(Page), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = Vec<UserOut>),
        (status = 400, description = "Inactive user", body = ErrorBody),
        AdminRefusals,
    ))]
async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<UserOut>>, ApiError> {
    let mut query = QueryParams::parse(query.as_deref());
    let limit = query.int("limit", 1, MAX_PAGE).unwrap_or(DEFAULT_PAGE);
    let offset = query.int("offset", 0, i64::from(i32::MAX));
    let after_id = query.int("after_id", 0, i64::MAX);
    if query.has("offset") && query.has("after_id") {
        query.invalid(both_offset_and_after_id());
    }
    query.finish()?;
    let start = match (offset, after_id) {
        (None, Some(id)) => PageStart::AfterId(id),
        (offset, _) => PageStart::Offset(offset.unwrap_or(0)),
    };
    let page = admin::users_page(&state, limit, start).await?;
    Ok(Json(page.iter().map(|u| u.to_out()).collect()))
}
