//! The one error type of the HTTP layer, and the one place where errors become answers. A refusal
//! renders through [`Refusal`], which decides its status, body and headers for the origin and the
//! edge alike; a failure of ours is logged with its cause, once, where it becomes a 500 or a 503,
//! and the client learns nothing of it.

use std::error::Error;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use shared::error::FieldError;
use shared::refusal::Refusal;

use crate::auth::AuthError;
use crate::db::StoreError;
use crate::telemetry::Chain;

/// A boxed cause, kept for the log.
pub type Cause = Box<dyn Error + Send + Sync>;

#[derive(Debug)]
pub enum ApiError {
    /// A refused request: the answer says all there is to say.
    Refused(Refusal),
    /// The database cannot be reached now (503, with `Retry-After`).
    Unavailable(Cause),
    /// A failure of ours (500).
    Internal(Cause),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let refusal = match self {
            Self::Refused(refusal) => refusal,
            Self::Unavailable(cause) => {
                // Logged by the trace layer (`http::router`) through the outage log: once an
                // outage, not once an answer.
                let mut response = render(Refusal::DatabaseUnavailable.to_response());
                response.extensions_mut().insert(Unavailable(Arc::from(cause)));
                return response;
            }
            Self::Internal(cause) => {
                tracing::error!(cause = %Chain(&*cause), "internal error");
                Refusal::Internal
            }
        };
        render(refusal.to_response())
    }
}

/// Why an answer is a 503, for the log: carried on the response to the trace layer, which hands
/// it to the outage log.
#[derive(Debug, Clone)]
pub struct Unavailable(pub Arc<dyn Error + Send + Sync>);

/// An answer `shared` rendered (a refusal, a token pair) as axum's response.
pub fn render(response: axum::http::Response<Vec<u8>>) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body))
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

/// Invalid input, every field at once (422).
impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Refused(Refusal::Invalid(errors))
    }
}

/// What the service layer's refusals are to a client.
impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        Self::Refused(match err {
            AuthError::Invalid(errors) => Refusal::Invalid(errors),
            AuthError::BadCredentials => Refusal::BadCredentials,
            AuthError::InactiveUser => Refusal::InactiveUser,
            AuthError::InvalidToken => Refusal::InvalidToken,
            AuthError::NotAnAdmin => Refusal::Forbidden,
            AuthError::WrongCurrentPassword => Refusal::WrongCurrentPassword,
            AuthError::Taken => Refusal::Taken,
            AuthError::LastAdmin => Refusal::LastAdmin,
            AuthError::ResetPasswordBadToken => Refusal::ResetPasswordBadToken,
            AuthError::VerifyUserBadToken => Refusal::VerifyUserBadToken,
            AuthError::VerifyUserAlreadyVerified => Refusal::VerifyUserAlreadyVerified,
            AuthError::LoginUserNotVerified => Refusal::LoginUserNotVerified,
            AuthError::MfaRequired(token) => Refusal::MfaRequired(token),
            AuthError::MfaBadCode => Refusal::MfaBadCode,
            AuthError::MfaTokenInvalid => Refusal::MfaTokenInvalid,
            AuthError::InsufficientUserAuthentication => Refusal::InsufficientUserAuthentication,
            AuthError::NoSuchFactor => Refusal::NotFound,
            AuthError::MfaUnavailable => {
                tracing::error!("a second factor was asked for, but MFA_ENCRYPTION_KEYS is not set");
                Refusal::Misconfigured
            }
            AuthError::Mfa(reason) => {
                tracing::error!(reason, "second factor failure");
                Refusal::Internal
            }
            AuthError::NoSuchUser | AuthError::NoSuchDevice => Refusal::NotFound,
            AuthError::TooManyRequests { retry_after_secs } => Refusal::TooManyRequests { retry_after_secs },
            AuthError::Store(err) => return err.into(),
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(Box::new(err)),
            // Only the users table has unique columns a request can collide with.
            StoreError::Conflict { .. } => Self::Refused(Refusal::Taken),
            other => Self::Internal(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, body and every header of the answer `err` becomes.
    async fn answer(err: impl Into<ApiError>) -> (u16, String, Vec<(String, String)>) {
        let response = err.into().into_response();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
            .collect();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap(), headers)
    }

    /// `(status, body, headers)` of a `{"detail": ...}` answer with `extra` headers.
    fn refused(status: u16, detail: &str, extra: &[(&str, &str)]) -> (u16, String, Vec<(String, String)>) {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        headers.extend(extra.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())));
        (status, format!(r#"{{"detail":"{detail}"}}"#), headers)
    }

    #[derive(Debug, thiserror::Error)]
    #[error("a failure of ours")]
    struct Failure;

    #[tokio::test]
    async fn store_errors_become_a_409_a_503_that_asks_to_retry_or_a_500_that_says_nothing() {
        let conflict = StoreError::Conflict { constraint: "users_email_key".into() };
        assert_eq!(answer(conflict).await, refused(409, "Username or email already registered", &[]));
        let down = StoreError::Unavailable(Box::new(Failure));
        assert_eq!(answer(down).await, refused(503, "Service temporarily unavailable", &[("retry-after", "5")]));
        assert_eq!(answer(StoreError::UnknownRole("root".into())).await, refused(500, "Internal Server Error", &[]));
        assert_eq!(answer(StoreError::GenerationOverflow).await, refused(500, "Internal Server Error", &[]));
    }

    #[tokio::test]
    async fn a_failure_of_ours_is_a_bare_500_and_invalid_input_a_422_listing_the_fields() {
        assert_eq!(answer(ApiError::Internal(Box::new(Failure))).await, refused(500, "Internal Server Error", &[]));
        let fields = vec![FieldError::body("username", "missing", "Field required")];
        let (status, body, headers) = answer(fields).await;
        assert_eq!(status, 422);
        assert_eq!(body, r#"{"detail":[{"loc":["body","username"],"msg":"Field required","type":"missing"}]}"#);
        assert_eq!(headers, [("content-type".to_owned(), "application/json".to_owned())]);
    }

    /// Each refusal of the service layer, as clients see it: a change here changes the API.
    #[tokio::test]
    async fn each_service_error_is_pinned_to_its_status_body_and_headers() {
        let challenge = ("www-authenticate", "Bearer");
        let invalid = ("www-authenticate", r#"Bearer error="invalid_token""#);
        let cases = [
            (AuthError::BadCredentials, refused(401, "Incorrect username or password", &[challenge])),
            (AuthError::InvalidToken, refused(401, "Could not validate credentials", &[invalid])),
            (AuthError::InactiveUser, refused(400, "Inactive user", &[])),
            (AuthError::NotAnAdmin, refused(403, "Not enough permissions", &[])),
            (AuthError::WrongCurrentPassword, refused(403, "Incorrect current password", &[])),
            (AuthError::NoSuchUser, refused(404, "Not Found", &[])),
            (AuthError::NoSuchDevice, refused(404, "Not Found", &[])),
            (AuthError::Taken, refused(409, "Username or email already registered", &[])),
            (AuthError::ResetPasswordBadToken, refused(400, "RESET_PASSWORD_BAD_TOKEN", &[])),
            (AuthError::VerifyUserBadToken, refused(400, "VERIFY_USER_BAD_TOKEN", &[])),
            (AuthError::VerifyUserAlreadyVerified, refused(400, "VERIFY_USER_ALREADY_VERIFIED", &[])),
            (AuthError::LoginUserNotVerified, refused(400, "LOGIN_USER_NOT_VERIFIED", &[])),
            (
                AuthError::LastAdmin,
                refused(409, "The last active admin cannot be demoted, deactivated or deleted", &[]),
            ),
            (
                AuthError::TooManyRequests { retry_after_secs: 42 },
                refused(429, "Too many attempts, try again later", &[("retry-after", "42")]),
            ),
            (
                AuthError::TooManyRequests { retry_after_secs: 0 },
                refused(429, "Too many attempts, try again later", &[("retry-after", "1")]),
            ),
            (
                AuthError::Store(StoreError::Unavailable(Box::new(Failure))),
                refused(503, "Service temporarily unavailable", &[("retry-after", "5")]),
            ),
            (AuthError::Store(StoreError::GenerationOverflow), refused(500, "Internal Server Error", &[])),
        ];
        for (err, expected) in cases {
            let name = format!("{err:?}");
            assert_eq!(answer(err).await, expected, "{name}");
        }
        let fields = vec![FieldError::body("password", "value_error", "Use PATCH /users")];
        let (status, body, _) = answer(AuthError::Invalid(fields)).await;
        assert_eq!(status, 422);
        assert_eq!(body, r#"{"detail":[{"loc":["body","password"],"msg":"Use PATCH /users","type":"value_error"}]}"#);
    }

    /// The refusals the HTTP layer makes itself (extractors, fallbacks), as clients see them.
    #[tokio::test]
    async fn the_http_layers_own_refusals_keep_their_status_body_and_headers() {
        let challenge = ("www-authenticate", "Bearer");
        let invalid = ("www-authenticate", r#"Bearer error="invalid_token""#);
        let cases = [
            (Refusal::NotAuthenticated, refused(401, "Not authenticated", &[challenge])),
            (Refusal::InvalidToken, refused(401, "Could not validate credentials", &[invalid])),
            (Refusal::Forbidden, refused(403, "Not enough permissions", &[])),
            (Refusal::NotFound, refused(404, "Not Found", &[])),
            (Refusal::MethodNotAllowed, refused(405, "Method Not Allowed", &[])),
            (Refusal::BodyUnreadable, refused(400, "There was an error parsing the body", &[])),
            (Refusal::BodyTooLarge, refused(413, "Request body too large", &[])),
            (Refusal::UnsupportedMediaType, refused(415, "Unsupported media type", &[])),
        ];
        for (refusal, expected) in cases {
            assert_eq!(answer(refusal.clone()).await, expected, "{refusal:?}");
        }
    }
}
