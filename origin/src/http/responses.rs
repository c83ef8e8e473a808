//! The refusals `/openapi.json` documents, grouped by the kind of route that gives them, for the
//! `responses(...)` of each `#[utoipa::path]`: a route lists its success, the groups it belongs to,
//! and only the refusals its own. The answers themselves are [`shared::refusal::Refusal`]'s; these
//! types only describe them, and are never built.
#![allow(dead_code, reason = "documentation types: utoipa reads them, nothing constructs them")]

use shared::error::{ErrorBody, ValidationBody};
use utoipa::IntoResponses;

/// Every token route: `/auth/token`, `/auth/login`, `/auth/refresh`.
#[derive(IntoResponses)]
pub enum TokenRefusals {
    #[response(status = 400, description = "Inactive user")]
    InactiveUser(ErrorBody),
    #[response(
        status = 401,
        description = "Incorrect username or password; for a refresh, an invalid, spent or revoked refresh token"
    )]
    Unauthorized(ErrorBody),
    #[response(status = 413, description = "Body too large")]
    BodyTooLarge(ErrorBody),
    #[response(status = 415, description = "Not JSON (/auth/token also takes the OAuth2 password form)")]
    UnsupportedMediaType(ErrorBody),
    #[response(status = 422, description = "Invalid input")]
    Invalid(ValidationBody),
    #[response(status = 429, description = "Too many attempts from this address or for this username")]
    TooManyRequests(ErrorBody),
    #[response(status = 503, description = "Database unavailable")]
    Unavailable(ErrorBody),
}

/// Every route that takes the current user's access token.
#[derive(IntoResponses)]
pub enum BearerRefusals {
    #[response(status = 400, description = "Inactive user")]
    InactiveUser(ErrorBody),
    #[response(status = 401, description = "Missing, invalid or revoked token")]
    Unauthorized(ErrorBody),
    #[response(status = 503, description = "Database unavailable")]
    Unavailable(ErrorBody),
}

/// Every route that takes a JSON body and counts attempts (sign-up per address; a change of one's
/// password or email per username, as a login).
#[derive(IntoResponses)]
pub enum BodyRefusals {
    #[response(status = 413, description = "Body too large")]
    BodyTooLarge(ErrorBody),
    #[response(status = 415, description = "Not JSON")]
    UnsupportedMediaType(ErrorBody),
    #[response(status = 422, description = "Invalid input")]
    Invalid(ValidationBody),
    #[response(status = 429, description = "Too many attempts from this address or for this username")]
    TooManyRequests(ErrorBody),
    #[response(status = 503, description = "Database unavailable")]
    Unavailable(ErrorBody),
}

/// Every other route that takes a JSON body: what the body extractor refuses before the route
/// reads it (each route lists its own 422).
#[derive(IntoResponses)]
pub enum JsonRefusals {
    #[response(status = 413, description = "Body too large")]
    BodyTooLarge(ErrorBody),
    #[response(status = 415, description = "Not JSON")]
    UnsupportedMediaType(ErrorBody),
}

/// Every admin route on users and on the audit log.
#[derive(IntoResponses)]
pub enum AdminRefusals {
    #[response(status = 401, description = "Missing, invalid or revoked token")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "Not an admin")]
    Forbidden(ErrorBody),
    #[response(status = 422, description = "Invalid input: the path's id, a query parameter or the body")]
    Invalid(ValidationBody),
    #[response(status = 503, description = "Database unavailable")]
    Unavailable(ErrorBody),
}
