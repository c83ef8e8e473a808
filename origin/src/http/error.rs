//! Every error the API answers with, mapped to a status and a FastAPI-shaped body in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::error::{ErrorBody, FieldError, ValidationBody, detail};

use crate::db::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// No bearer token at all.
    NotAuthenticated,
    /// A token that failed any check; the reason is logged, never sent.
    InvalidToken,
    BadCredentials,
    InactiveUser,
    Forbidden,
    /// A change to one's own password or email with the wrong `current_password`.
    WrongCurrentPassword,
    Conflict,
    /// The change would leave no active admin.
    LastAdmin,
    NotFound,
    MethodNotAllowed,
    Validation(Vec<FieldError>),
    PayloadTooLarge,
    BodyUnreadable,
    UnsupportedMediaType,
    Unavailable,
    /// Held back by brute-force protection or a rate limit; the seconds to wait.
    TooManyRequests(u64),
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotAuthenticated | Self::InvalidToken | Self::BadCredentials => StatusCode::UNAUTHORIZED,
            Self::InactiveUser => StatusCode::BAD_REQUEST,
            Self::Forbidden | Self::WrongCurrentPassword => StatusCode::FORBIDDEN,
            Self::Conflict | Self::LastAdmin => StatusCode::CONFLICT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> &'static str {
        match self {
            Self::NotAuthenticated => detail::NOT_AUTHENTICATED,
            Self::InvalidToken => detail::INVALID_TOKEN,
            Self::BadCredentials => detail::BAD_CREDENTIALS,
            Self::InactiveUser => detail::INACTIVE_USER,
            Self::Forbidden => detail::FORBIDDEN,
            Self::WrongCurrentPassword => detail::WRONG_CURRENT_PASSWORD,
            Self::Conflict => detail::TAKEN,
            Self::LastAdmin => detail::LAST_ADMIN,
            Self::NotFound => detail::NOT_FOUND,
            Self::MethodNotAllowed => detail::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => detail::BODY_TOO_LARGE,
            Self::BodyUnreadable => detail::BODY_UNREADABLE,
            Self::UnsupportedMediaType => detail::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable => detail::DB_UNAVAILABLE,
            Self::TooManyRequests(_) => detail::TOO_MANY_REQUESTS,
            Self::Validation(_) | Self::Internal(_) => detail::INTERNAL,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // RFC 6750: a rejected token says so; a missing one or a failed login only names the scheme.
        let retry_after = match self {
            Self::TooManyRequests(secs) => Some(secs.max(1)),
            Self::Unavailable => Some(5),
            _ => None,
        };
        let challenge = match self {
            Self::InvalidToken => Some(r#"Bearer error="invalid_token""#),
            Self::NotAuthenticated | Self::BadCredentials => Some("Bearer"),
            _ => None,
        };
        let mut response = match self {
            Self::Validation(errors) => (status, Json(ValidationBody { detail: errors })).into_response(),
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (status, Json(ErrorBody::new(detail::INTERNAL))).into_response()
            }
            other => (status, Json(ErrorBody::new(other.detail()))).into_response(),
        };
        let headers = response.headers_mut();
        if let Some(challenge) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::Unavailable
            }
            StoreError::Conflict(_) => Self::Conflict,
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}
