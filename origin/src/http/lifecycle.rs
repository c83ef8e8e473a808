//! The account lifecycle, under fastapi-users' routes and answers: `POST /auth/forgot-password`,
//! `/auth/reset-password`, `/auth/request-verify-token`, `/auth/verify`. The decisions are
//! [`crate::auth::mail_requests`]', [`crate::auth::recovery`]'s and [`crate::auth::verification`]'s.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use shared::api::{EmailRequest, ResetPasswordRequest, UserOut, VerifyRequest};
use shared::error::{ErrorBody, ValidationBody};

use super::error::ApiError;
use super::extract::JsonBody;
use super::responses::JsonRefusals;
use crate::auth::limits::MailRoute;
use crate::auth::{Caller, mail_requests, recovery, verification};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/forgot-password", post(forgot_password))
        .route("/auth/reset-password", post(reset_password))
        .route("/auth/request-verify-token", post(request_verify_token))
        .route("/auth/verify", post(verify))
}

/// Mails a link to choose a new password, if an active account has this address. The answer is
/// the same for every address, and while requests for it are held back.
#[utoipa::path(post, path = "/auth/forgot-password", tag = "account", request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted: a link is mailed if an account has this address", body = ()),
        (status = 422, description = "Not an email address", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
        JsonRefusals,
    ))]
async fn forgot_password(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<EmailRequest>,
) -> Result<Response, ApiError> {
    mail_requests::request(&state, MailRoute::ForgotPassword, &body, &caller).await?;
    Ok(json_null(StatusCode::ACCEPTED))
}

/// Sets a new password with the token of a reset link. Every session and device token of the
/// user ends, the account's locks are lifted, and a notice is mailed.
#[utoipa::path(post, path = "/auth/reset-password", tag = "account", request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "The password is changed", body = ()),
        (status = 400, description = "RESET_PASSWORD_BAD_TOKEN: unknown, expired, used or superseded", body = ErrorBody),
        (status = 422, description = "A password the policy refuses", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
        JsonRefusals,
    ))]
async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ResetPasswordRequest>,
) -> Result<Response, ApiError> {
    recovery::reset_password(&state, &body, &caller).await?;
    Ok(json_null(StatusCode::OK))
}

/// Mails a link to confirm this address, if an active account has it unconfirmed (or waits to
/// change to it). The answer is the same for every address.
#[utoipa::path(post, path = "/auth/request-verify-token", tag = "account", request_body = EmailRequest,
    responses(
        (status = 202, description = "Accepted: a link is mailed if an account waits for this address", body = ()),
        (status = 422, description = "Not an email address", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
        JsonRefusals,
    ))]
async fn request_verify_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<EmailRequest>,
) -> Result<Response, ApiError> {
    mail_requests::request(&state, MailRoute::RequestVerify, &body, &caller).await?;
    Ok(json_null(StatusCode::ACCEPTED))
}

/// Confirms the address a verify link was mailed to; a waiting email change applies.
#[utoipa::path(post, path = "/auth/verify", tag = "account", request_body = VerifyRequest,
    responses(
        (status = 200, description = "The user, its address confirmed", body = UserOut),
        (status = 400, description = "VERIFY_USER_BAD_TOKEN or VERIFY_USER_ALREADY_VERIFIED", body = ErrorBody),
        (status = 409, description = "The new address was registered by another account meanwhile", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
        JsonRefusals,
    ))]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<VerifyRequest>,
) -> Result<Json<UserOut>, ApiError> {
    let user = verification::verify(&state, &body, &caller).await?;
    Ok(Json(user.to_out()))
}

/// fastapi-users' empty answer: the JSON `null`.
fn json_null(status: StatusCode) -> Response {
    let mut response = (status, "null").into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
