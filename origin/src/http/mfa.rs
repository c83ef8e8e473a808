//! The second factor's routes: the current user's (`/users/mfa…`), an admin's removal of a user's
//! factor, and `POST /auth/mfa`, which completes a login that answered `MFA_REQUIRED` (its internal
//! twin answers the edge a grant). The decisions are [`crate::auth::mfa`]'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use shared::api::{
    CurrentPassword, MfaCode, MfaConfirmed, MfaEnrolment, MfaLogin, MfaStatus, RecoveryCodes, TokenPair,
};
use shared::contract::{Grant, GrantRoute};
use shared::error::{ErrorBody, ValidationBody};
use shared::policy::Password;

use super::error::{ApiError, render};
use super::extract::{AdminUser, CurrentSession, CurrentUser, JsonBody, path_id};
use super::responses::{AdminRefusals, BearerRefusals, JsonRefusals, TokenRefusals};
use crate::auth::{Caller, mfa};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/mfa", get(status))
        .route("/users/mfa/totp", post(enrol).delete(disable))
        .route("/users/mfa/totp/confirm", post(confirm))
        .route("/users/mfa/recovery-codes", post(regenerate_codes))
        .route("/users/admin/{id}/mfa", delete(remove_by_admin))
        .route("/auth/mfa", post(complete_login))
        .route(GrantRoute::Mfa.internal_path(), post(complete_login_for_edge))
}

/// Whether a TOTP factor guards the current user's logins, and how many recovery codes are left.
#[utoipa::path(get, path = "/users/mfa", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, description = "The second factor's state", body = MfaStatus), BearerRefusals))]
async fn status(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> Result<Json<MfaStatus>, ApiError> {
    Ok(Json(mfa::status(&state, &user).await?))
}

/// Begins turning TOTP on: the secret, shown once, for an authenticator app (scan the
/// `otpauth_uri` as a QR code or type the secret). Replacing a confirmed factor needs a session
/// that gave it (`aal2`). Confirm within 10 minutes.
#[utoipa::path(post, path = "/users/mfa/totp", tag = "mfa", request_body = CurrentPassword, security(("bearer" = [])),
    responses(
        (status = 201, description = "The new factor's secret, shown once", body = MfaEnrolment),
        (status = 403, description = "Wrong current_password", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        (status = 429, description = "Too many wrong passwords", body = ErrorBody),
        BearerRefusals,
        JsonRefusals,
    ))]
async fn enrol(
    State(state): State<AppState>,
    session: CurrentSession,
    caller: Caller,
    JsonBody(body): JsonBody<CurrentPassword>,
) -> Result<Response, ApiError> {
    let current = current_password(&body)?;
    let enrolment = mfa::enrol(&state, &session.user, &session.token, current, &caller).await?;
    Ok(no_store(StatusCode::CREATED, &enrolment))
}

/// Confirms the factor with its first code: logins ask for a code from now on; the answer holds
/// ten recovery codes (shown once) and a pair of this session lifted to `aal2`; every other
/// session and device token of the user ends.
#[utoipa::path(post, path = "/users/mfa/totp/confirm", tag = "mfa", request_body = MfaCode, security(("bearer" = [])),
    responses(
        (status = 200, description = "Recovery codes and an aal2 pair", body = MfaConfirmed),
        (status = 400, description = "MFA_BAD_CODE", body = ErrorBody),
        (status = 404, description = "No enrolment in progress (or it expired)", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        BearerRefusals,
        JsonRefusals,
    ))]
async fn confirm(
    State(state): State<AppState>,
    session: CurrentSession,
    caller: Caller,
    JsonBody(body): JsonBody<MfaCode>,
) -> Result<Response, ApiError> {
    let confirmed = mfa::confirm(&state, &session.user, &session.token, &body.code, &caller).await?;
    let TokenPair { access_token, refresh_token, token_type, expires_in, .. } =
        confirmed.signed_in.token_pair(&state.tokens);
    let answer =
        MfaConfirmed { recovery_codes: confirmed.recovery_codes, access_token, refresh_token, token_type, expires_in };
    Ok(no_store(StatusCode::OK, &answer))
}

/// Turns TOTP off: needs a session that gave it (`aal2`) and the current password.
#[utoipa::path(delete, path = "/users/mfa/totp", tag = "mfa", request_body = CurrentPassword, security(("bearer" = [])),
    responses(
        (status = 204, description = "The second factor is off"),
        (status = 403, description = "Wrong current_password", body = ErrorBody),
        (status = 404, description = "No second factor", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        BearerRefusals,
        JsonRefusals,
    ))]
async fn disable(
    State(state): State<AppState>,
    session: CurrentSession,
    caller: Caller,
    JsonBody(body): JsonBody<CurrentPassword>,
) -> Result<StatusCode, ApiError> {
    let current = current_password(&body)?;
    mfa::disable(&state, &session.user, &session.token, current, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ten new recovery codes, the old set void: needs a session that gave the second factor
/// (`aal2`) and the current password.
#[utoipa::path(post, path = "/users/mfa/recovery-codes", tag = "mfa", request_body = CurrentPassword, security(("bearer" = [])),
    responses(
        (status = 200, description = "The new recovery codes, shown once", body = RecoveryCodes),
        (status = 403, description = "Wrong current_password", body = ErrorBody),
        (status = 404, description = "No second factor", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        BearerRefusals,
        JsonRefusals,
    ))]
async fn regenerate_codes(
    State(state): State<AppState>,
    session: CurrentSession,
    caller: Caller,
    JsonBody(body): JsonBody<CurrentPassword>,
) -> Result<Response, ApiError> {
    let current = current_password(&body)?;
    let recovery_codes = mfa::regenerate_codes(&state, &session.user, &session.token, current, &caller).await?;
    Ok(no_store(StatusCode::OK, &RecoveryCodes { recovery_codes }))
}

/// Removes a user's second factor (admin role only), for a user who lost the app and the codes;
/// the user's sessions end.
#[utoipa::path(delete, path = "/users/admin/{id}/mfa", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "The user's second factor is off"),
        (status = 404, description = "No such user, or no second factor", body = ErrorBody),
        AdminRefusals,
    ))]
async fn remove_by_admin(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    mfa::remove_by_admin(&state, &by, path_id(&id)?, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Completes a login that answered 403 `MFA_REQUIRED`: its `mfa_token` and a `code` from the
/// authenticator app or a `recovery_code`. The pair says `aal2`. A wrong code is 400
/// `MFA_BAD_CODE` (the 5th ends the `mfa_token`); a dead `mfa_token` 400 `MFA_TOKEN_INVALID`.
#[utoipa::path(post, path = "/auth/mfa", tag = "auth", request_body = MfaLogin,
    responses(
        (status = 200, description = "A token pair", body = TokenPair),
        (status = 400, description = "MFA_BAD_CODE or MFA_TOKEN_INVALID", body = ErrorBody),
        TokenRefusals,
    ))]
async fn complete_login(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<MfaLogin>,
) -> Result<Response, ApiError> {
    let signed_in = mfa::complete_login(&state, &body, &caller).await?;
    Ok(render(signed_in.token_pair(&state.tokens).to_response()))
}

/// `/auth/mfa`'s checks for the edge, answering with whom to issue a pair for.
async fn complete_login_for_edge(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<MfaLogin>,
) -> Result<Json<Grant>, ApiError> {
    Ok(Json(mfa::complete_login(&state, &body, &caller).await?.into_grant()))
}

fn current_password(body: &CurrentPassword) -> Result<Password, ApiError> {
    Password::candidate(&body.current_password)
        .map_err(|invalid| ApiError::from(crate::auth::AuthError::Invalid(vec![invalid.at("current_password")])))
}

/// A JSON answer that holds secrets: never stored by a cache.
fn no_store(status: StatusCode, body: &impl serde::Serialize) -> Response {
    (status, [(axum::http::header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
