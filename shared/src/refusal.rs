//! Every answer of the API that refuses a request, with its status, its body, its bearer challenge
//! (RFC 6750), its `Retry-After` and whether it must not be cached, decided once. The origin's
//! error type and the edge both render a [`Refusal`], so a refusal is the same bytes on every host.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{ErrorBody, FieldError, ValidationBody, detail};

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token at all (401).
    NotAuthenticated,
    /// A token that failed any check (401); the reason is the caller's to log, never to send.
    InvalidToken,
    /// A wrong username or password (401).
    BadCredentials,
    /// The user is deactivated (400, as the seed answers).
    InactiveUser,
    /// The token is good but its user may not (403).
    Forbidden,
    /// A change of one's own password or email with the wrong `current_password` (403).
    WrongCurrentPassword,
    /// The username or email is someone else's (409).
    Taken,
    /// The change would leave no active admin (409).
    LastAdmin,
    /// A reset token that is unknown, expired, used or superseded, alike (400).
    ResetPasswordBadToken,
    /// A verify token that is unknown, expired, used, or for an address the account no longer has (400).
    VerifyUserBadToken,
    /// A valid verify token for an address already confirmed (400).
    VerifyUserAlreadyVerified,
    /// The right password of a user whose address is unconfirmed, while `REQUIRE_VERIFIED_EMAIL` (400).
    LoginUserNotVerified,
    /// The right password of a user with a second factor (403): no pair, but the `mfa_token` the
    /// code goes with (a login), or none (a password reset, which takes the code in its body).
    MfaRequired(Option<String>),
    /// A wrong TOTP or recovery code (400).
    MfaBadCode,
    /// An `mfa_token` that is unknown, expired, spent or killed by wrong codes (400).
    MfaTokenInvalid,
    /// A valid token whose session lacks the second factor the route demands (401, RFC 9470).
    InsufficientUserAuthentication,
    NotFound,
    MethodNotAllowed,
    /// A request the host could not turn into one the API reads (a header `http` refuses).
    BadRequest,
    /// The client's body stream broke off (400).
    BodyUnreadable,
    /// Over [`crate::api::MAX_BODY_BYTES`] (413).
    BodyTooLarge,
    /// The path and query do not fit behind the origin's address (414).
    UriTooLong,
    /// Neither JSON nor, where taken, a form (415).
    UnsupportedMediaType,
    /// Invalid input, every field at once (422), as pydantic reports it.
    Invalid(Vec<FieldError>),
    /// Held back by brute-force protection or a rate limit (429).
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// The origin's database is unreachable (503).
    DatabaseUnavailable,
    /// The edge could not reach the origin (502).
    OriginUnavailable,
    /// The origin did not answer within `ORIGIN_TIMEOUT_MS` (504).
    OriginTimeout,
    /// The edge's configuration is unusable (503); the operator's log says why.
    Misconfigured,
    /// A failure of ours (500); the cause is the caller's to log.
    Internal,
}

/// `WWW-Authenticate` of a 401 whose token is missing: RFC 6750 names only the scheme.
pub const CHALLENGE: &str = "Bearer";
/// `WWW-Authenticate` of a 401 whose token failed a check.
pub const INVALID_TOKEN_CHALLENGE: &str = r#"Bearer error="invalid_token""#;
/// `WWW-Authenticate` of a 401 whose session lacks the second factor (RFC 9470 step-up).
pub const STEP_UP_CHALLENGE: &str = r#"Bearer error="insufficient_user_authentication", error_description="A second factor is required", acr_values="aal2""#;
/// Seconds a client is asked to wait before retrying when a dependency is down.
pub const UNAVAILABLE_RETRY_SECS: u64 = 5;

impl Refusal {
    /// The HTTP status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::NotAuthenticated
            | Self::InvalidToken
            | Self::BadCredentials
            | Self::InsufficientUserAuthentication => 401,
            Self::InactiveUser
            | Self::BadRequest
            | Self::BodyUnreadable
            | Self::ResetPasswordBadToken
            | Self::VerifyUserBadToken
            | Self::VerifyUserAlreadyVerified
            | Self::LoginUserNotVerified
            | Self::MfaBadCode
            | Self::MfaTokenInvalid => 400,
            Self::Forbidden | Self::WrongCurrentPassword | Self::MfaRequired(_) => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Taken | Self::LastAdmin => 409,
            Self::BodyTooLarge => 413,
            Self::UriTooLong => 414,
            Self::UnsupportedMediaType => 415,
            Self::Invalid(_) => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Internal => 500,
            Self::OriginUnavailable => 502,
            Self::DatabaseUnavailable | Self::Misconfigured => 503,
            Self::OriginTimeout => 504,
        }
    }

    /// The `detail` of a `{"detail": "..."}` body; `None` for [`Self::Invalid`], whose detail is
    /// the list of fields.
    #[must_use]
    pub fn detail(&self) -> Option<&'static str> {
        Some(match self {
            Self::NotAuthenticated => detail::NOT_AUTHENTICATED,
            Self::InvalidToken => detail::INVALID_TOKEN,
            Self::BadCredentials => detail::BAD_CREDENTIALS,
            Self::InactiveUser => detail::INACTIVE_USER,
            Self::Forbidden => detail::FORBIDDEN,
            Self::WrongCurrentPassword => detail::WRONG_CURRENT_PASSWORD,
            Self::Taken => detail::TAKEN,
            Self::LastAdmin => detail::LAST_ADMIN,
            Self::ResetPasswordBadToken => detail::RESET_PASSWORD_BAD_TOKEN,
            Self::VerifyUserBadToken => detail::VERIFY_USER_BAD_TOKEN,
            Self::VerifyUserAlreadyVerified => detail::VERIFY_USER_ALREADY_VERIFIED,
            Self::LoginUserNotVerified => detail::LOGIN_USER_NOT_VERIFIED,
            Self::MfaRequired(_) => detail::MFA_REQUIRED,
            Self::MfaBadCode => detail::MFA_BAD_CODE,
            Self::MfaTokenInvalid => detail::MFA_TOKEN_INVALID,
            Self::InsufficientUserAuthentication => detail::INSUFFICIENT_USER_AUTHENTICATION,
            Self::NotFound => detail::NOT_FOUND,
            Self::MethodNotAllowed => detail::METHOD_NOT_ALLOWED,
            Self::BadRequest => detail::BAD_REQUEST,
            Self::BodyUnreadable => detail::BODY_UNREADABLE,
            Self::BodyTooLarge => detail::BODY_TOO_LARGE,
            Self::UriTooLong => detail::URI_TOO_LONG,
            Self::UnsupportedMediaType => detail::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => detail::TOO_MANY_REQUESTS,
            Self::DatabaseUnavailable => detail::DB_UNAVAILABLE,
            Self::OriginUnavailable => detail::ORIGIN_UNAVAILABLE,
            Self::OriginTimeout => detail::ORIGIN_TIMEOUT,
            Self::Misconfigured => detail::MISCONFIGURED,
            Self::Internal => detail::INTERNAL,
            Self::Invalid(_) => return None,
        })
    }

    /// `WWW-Authenticate`, for the 401s (RFC 6750: a rejected token says so; a missing one or a
    /// failed login only names the scheme).
    #[must_use]
    pub fn challenge(&self) -> Option<&'static str> {
        match self {
            Self::InvalidToken => Some(INVALID_TOKEN_CHALLENGE),
            Self::InsufficientUserAuthentication => Some(STEP_UP_CHALLENGE),
            Self::NotAuthenticated | Self::BadCredentials => Some(CHALLENGE),
            _ => None,
        }
    }

    /// `Retry-After`, in seconds (at least 1).
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_secs } => Some((*retry_after_secs).max(1)),
            Self::DatabaseUnavailable | Self::OriginUnavailable => Some(UNAVAILABLE_RETRY_SECS),
            _ => None,
        }
    }

    /// Whether the answer must not be stored by any cache (`Cache-Control: no-store`): one that
    /// carries a secret (an `mfa_token`).
    #[must_use]
    pub fn no_store(&self) -> bool {
        matches!(self, Self::MfaRequired(Some(_)))
    }

    /// The JSON body.
    #[must_use]
    pub fn body(&self) -> Vec<u8> {
        let rendered = match self {
            Self::Invalid(fields) => serde_json::to_vec(&ValidationBody { detail: fields.clone() }),
            Self::MfaRequired(Some(mfa_token)) => {
                serde_json::to_vec(&serde_json::json!({"detail": detail::MFA_REQUIRED, "mfa_token": mfa_token}))
            }
            other => serde_json::to_vec(&ErrorBody::new(other.detail().unwrap_or(detail::INTERNAL))),
        };
        // Serializing strings into a Vec cannot fail; the fallback keeps the shape regardless.
        rendered.unwrap_or_else(|_| br#"{"detail":"Internal Server Error"}"#.to_vec())
    }

    /// The refusal as an `http` response: status, JSON body, and its headers.
    #[cfg(feature = "http")]
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
        use http::{HeaderValue, StatusCode};

        let mut response = http::Response::new(self.body());
        *response.status_mut() = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(challenge) = self.challenge() {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(secs) = self.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.no_store() {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn body(refusal: &Refusal) -> String {
        String::from_utf8(refusal.body()).unwrap()
    }

    /// Each refusal's status, body and headers, pinned: a change here changes what clients see.
    #[test]
    fn each_refusal_is_pinned_to_its_status_body_and_headers() {
        // (refusal, status, detail, WWW-Authenticate, Retry-After)
        type Case = (Refusal, u16, &'static str, Option<&'static str>, Option<u64>);
        let cases: [Case; 29] = [
            (Refusal::NotAuthenticated, 401, "Not authenticated", Some("Bearer"), None),
            (
                Refusal::InvalidToken,
                401,
                "Could not validate credentials",
                Some(r#"Bearer error="invalid_token""#),
                None,
            ),
            (Refusal::BadCredentials, 401, "Incorrect username or password", Some("Bearer"), None),
            (Refusal::InactiveUser, 400, "Inactive user", None, None),
            (Refusal::Forbidden, 403, "Not enough permissions", None, None),
            (Refusal::WrongCurrentPassword, 403, "Incorrect current password", None, None),
            (Refusal::Taken, 409, "Username or email already registered", None, None),
            (Refusal::LastAdmin, 409, "The last active admin cannot be demoted, deactivated or deleted", None, None),
            (Refusal::NotFound, 404, "Not Found", None, None),
            (Refusal::MethodNotAllowed, 405, "Method Not Allowed", None, None),
            (Refusal::BadRequest, 400, "Bad Request", None, None),
            (Refusal::BodyUnreadable, 400, "There was an error parsing the body", None, None),
            (Refusal::BodyTooLarge, 413, "Request body too large", None, None),
            (Refusal::UriTooLong, 414, "URI Too Long", None, None),
            (Refusal::UnsupportedMediaType, 415, "Unsupported media type", None, None),
            (
                Refusal::TooManyRequests { retry_after_secs: 0 },
                429,
                "Too many attempts, try again later",
                None,
                Some(1),
            ),
            (Refusal::DatabaseUnavailable, 503, "Service temporarily unavailable", None, Some(5)),
            (Refusal::OriginUnavailable, 502, "Upstream service unavailable", None, Some(5)),
            (Refusal::OriginTimeout, 504, "Upstream service timed out", None, None),
            (Refusal::Misconfigured, 503, "Service misconfigured", None, None),
            (Refusal::Internal, 500, "Internal Server Error", None, None),
            (Refusal::ResetPasswordBadToken, 400, "RESET_PASSWORD_BAD_TOKEN", None, None),
            (Refusal::VerifyUserBadToken, 400, "VERIFY_USER_BAD_TOKEN", None, None),
            (Refusal::VerifyUserAlreadyVerified, 400, "VERIFY_USER_ALREADY_VERIFIED", None, None),
            (Refusal::LoginUserNotVerified, 400, "LOGIN_USER_NOT_VERIFIED", None, None),
            (Refusal::MfaRequired(None), 403, "MFA_REQUIRED", None, None),
            (Refusal::MfaBadCode, 400, "MFA_BAD_CODE", None, None),
            (Refusal::MfaTokenInvalid, 400, "MFA_TOKEN_INVALID", None, None),
            (
                Refusal::InsufficientUserAuthentication,
                401,
                "A second factor is required",
                Some(STEP_UP_CHALLENGE),
                None,
            ),
        ];
        for (refusal, status, detail, challenge, retry_after) in cases {
            assert_eq!(refusal.status(), status, "{refusal:?}");
            assert_eq!(body(&refusal), alloc::format!(r#"{{"detail":"{detail}"}}"#), "{refusal:?}");
            assert_eq!(refusal.challenge(), challenge, "{refusal:?}");
            assert_eq!(refusal.retry_after(), retry_after, "{refusal:?}");
            assert!(!refusal.no_store(), "{refusal:?}");
        }
    }

    #[test]
    fn invalid_input_lists_every_field() {
        let refusal = Refusal::Invalid(vec![FieldError::body("username", "missing", "Field required")]);
        assert_eq!(refusal.status(), 422);
        assert_eq!(
            body(&refusal),
            r#"{"detail":[{"loc":["body","username"],"msg":"Field required","type":"missing"}]}"#
        );
    }

    #[test]
    fn a_step_up_login_answers_its_mfa_token_never_to_be_cached() {
        let refusal = Refusal::MfaRequired(Some("t0k".into()));
        assert_eq!(body(&refusal), r#"{"detail":"MFA_REQUIRED","mfa_token":"t0k"}"#);
        assert!(refusal.no_store());
    }

    #[cfg(feature = "http")]
    #[test]
    fn the_http_rendering_carries_every_header() {
        let response = Refusal::InvalidToken.to_response();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer error="invalid_token""#);
        let response = Refusal::TooManyRequests { retry_after_secs: 60 }.to_response();
        assert_eq!(response.headers()["retry-after"], "60");
    }
}
