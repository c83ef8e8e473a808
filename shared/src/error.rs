//! The API's error body, FastAPI's shape: `{"detail": "..."}`, and for invalid input (422)
//! `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`. The messages live here so that the
//! origin and the edge answer with the very same bytes.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Messages of the `{"detail": "..."}` bodies, one place for both sides.
pub mod detail {
    pub const NOT_AUTHENTICATED: &str = "Not authenticated";
    pub const INVALID_TOKEN: &str = "Could not validate credentials";
    pub const BAD_CREDENTIALS: &str = "Incorrect username or password";
    pub const INACTIVE_USER: &str = "Inactive user";
    pub const FORBIDDEN: &str = "Not enough permissions";
    pub const TAKEN: &str = "Username or email already registered";
    pub const TOO_MANY_REQUESTS: &str = "Too many attempts, try again later";
    pub const WRONG_CURRENT_PASSWORD: &str = "Incorrect current password";
    pub const LAST_ADMIN: &str = "The last active admin cannot be demoted, deactivated or deleted";
    pub const NOT_FOUND: &str = "Not Found";
    pub const METHOD_NOT_ALLOWED: &str = "Method Not Allowed";
    pub const BODY_TOO_LARGE: &str = "Request body too large";
    pub const URI_TOO_LONG: &str = "URI Too Long";
    pub const BAD_REQUEST: &str = "Bad Request";
    /// FastAPI's words for a body that could not be read.
    pub const BODY_UNREADABLE: &str = "There was an error parsing the body";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "Unsupported media type";
    pub const DB_UNAVAILABLE: &str = "Service temporarily unavailable";
    pub const ORIGIN_UNAVAILABLE: &str = "Upstream service unavailable";
    pub const ORIGIN_TIMEOUT: &str = "Upstream service timed out";
    pub const MISCONFIGURED: &str = "Service misconfigured";
    pub const INTERNAL: &str = "Internal Server Error";
    // The account lifecycle's codes, as fastapi-users answers them.
    pub const RESET_PASSWORD_BAD_TOKEN: &str = "RESET_PASSWORD_BAD_TOKEN";
    pub const VERIFY_USER_BAD_TOKEN: &str = "VERIFY_USER_BAD_TOKEN";
    pub const VERIFY_USER_ALREADY_VERIFIED: &str = "VERIFY_USER_ALREADY_VERIFIED";
    pub const LOGIN_USER_NOT_VERIFIED: &str = "LOGIN_USER_NOT_VERIFIED";
    // The second factor's.
    pub const MFA_REQUIRED: &str = "MFA_REQUIRED";
    pub const MFA_BAD_CODE: &str = "MFA_BAD_CODE";
    pub const MFA_TOKEN_INVALID: &str = "MFA_TOKEN_INVALID";
    pub const INSUFFICIENT_USER_AUTHENTICATION: &str = "A second factor is required";
}

/// `{"detail": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub detail: String,
}

impl ErrorBody {
    #[must_use]
    pub fn new(detail: &str) -> Self {
        Self { detail: detail.into() }
    }
}

/// One element of a 422 `loc`: a field name or an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum LocPart {
    Field(String),
    Index(u64),
}

impl From<&str> for LocPart {
    fn from(value: &str) -> Self {
        Self::Field(value.into())
    }
}

/// One invalid input, as pydantic reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub loc: Vec<LocPart>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: Vec<LocPart>, kind: &str, msg: impl Into<String>) -> Self {
        Self { loc, msg: msg.into(), kind: kind.into() }
    }

    /// An error about a field of the request body: `loc` is `["body", field]`.
    pub fn body(field: &str, kind: &str, msg: impl Into<String>) -> Self {
        Self::new(alloc::vec!["body".into(), field.into()], kind, msg)
    }
}

/// `{"detail": [FieldError, ...]}`, the 422 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationBody {
    pub detail: Vec<FieldError>,
}
