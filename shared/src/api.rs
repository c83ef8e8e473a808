//! The API's JSON, as the seed shows it. Requests arrive as raw strings and are parsed once into
//! domain values (`parse`), collecting every invalid field as pydantic does; responses are built
//! from values that are already valid.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::domain::{Email, Invalid, PersonName, Role, Username};
use crate::error::FieldError;
use crate::policy::{Password, PasswordPolicy};

/// Bodies of this API are small JSON documents; anything larger is refused with 413 by the origin
/// and the edge alike.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// `POST /auth/login`, and the JSON form of `POST /auth/token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, example = "user"))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128, format = Password))]
    pub password: String,
    /// The `device_token` an earlier login of this account answered on this device: the login
    /// then counts against the device's own failures only (see the docs on throttling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub device_token: Option<String>,
}

/// A login, parsed. The username is only normalised: a name that could never have been
/// registered is simply one that does not exist, with the same answer as a wrong password.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Password,
    /// The device token's digest, when one that could be a device token came along.
    pub device: Option<[u8; 32]>,
}

impl LoginRequest {
    /// # Errors
    /// Every invalid field, as the 422 lists them.
    pub fn parse(&self) -> Result<Credentials, Vec<FieldError>> {
        let mut errors = Vec::new();
        let username = collect(&mut errors, "username", login_name(&self.username));
        let password = collect(&mut errors, "password", Password::candidate(&self.password));
        match (username, password) {
            (Some(username), Some(password)) if errors.is_empty() => {
                let device = self.device_token.as_deref().and_then(crate::secret::digest);
                Ok(Credentials { username, password, device })
            }
            _ => Err(errors),
        }
    }
}

fn login_name(raw: &str) -> Result<String, Invalid> {
    let name = crate::domain::normalise_text(raw)?;
    match name.chars().count() {
        0 => Err(Invalid::too_short(1)),
        n if n > Username::MAX => Err(Invalid::too_long(Username::MAX)),
        _ => Ok(name),
    }
}

/// `POST /auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The headers of every token answer: tokens are never cached (RFC 6749 5.1).
pub const TOKEN_HEADERS: [(&str, &str); 2] = [("cache-control", "no-store"), ("pragma", "no-cache")];

/// The answer of every token endpoint. `expires_in` is the access token's lifetime in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    #[cfg_attr(feature = "openapi", schema(example = "bearer"))]
    pub token_type: String,
    pub expires_in: u64,
    /// Login answers only: the token that makes this device known at its next login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

#[cfg(feature = "http")]
impl TokenPair {
    /// The pair as the 200 answer of a token route, with [`TOKEN_HEADERS`].
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        // Serializing strings into a Vec cannot fail.
        let mut response = http::Response::new(serde_json::to_vec(self).unwrap_or_default());
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        for (name, value) in TOKEN_HEADERS {
            headers.insert(name, http::HeaderValue::from_static(value));
        }
        response
    }
}

/// A user as the API shows it: never the password hash. Dates are UTC without an offset and
/// always with six fractional digits, as the seed shows them (`2023-11-17T13:23:45.737500`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub active: bool,
    pub role: Role,
    #[cfg_attr(feature = "openapi", schema(example = "2023-11-17T13:23:45.737500"))]
    pub create_date: String,
    #[cfg_attr(feature = "openapi", schema(example = "2023-11-17T13:23:45.737500"))]
    pub update_date: String,
    /// Whether the user confirmed `email` through a mailed link (seed clients ignore it).
    #[serde(default)]
    pub email_verified: bool,
    /// An address change waiting for the new address to confirm; `email` stays until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub pending_email: Option<String>,
}

/// `POST /auth/forgot-password` and `POST /auth/request-verify-token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailRequest {
    #[cfg_attr(feature = "openapi", schema(format = Email, example = "user@test.com"))]
    pub email: String,
}

impl EmailRequest {
    /// The address, normalised as sign-up stores it.
    ///
    /// # Errors
    /// A malformed address, as the 422 lists it.
    pub fn parse(&self) -> Result<Email, Vec<FieldError>> {
        let mut errors = Vec::new();
        let email = collect(&mut errors, "email", Email::parse(&self.email));
        email.ok_or(errors)
    }
}

/// `POST /auth/reset-password`: the token from the mailed link, and the new password; for a user
/// with a second factor also a `code` from the authenticator app or a `recovery_code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetPasswordRequest {
    pub token: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 15, max_length = 128, format = Password))]
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "123456"))]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

impl ResetPasswordRequest {
    /// The token's digest; `None` for a string that no token can be (answered as any bad token).
    #[must_use]
    pub fn token_digest(&self) -> Option<[u8; 32]> {
        crate::secret::digest(&self.token)
    }

    /// The new password, which must not be built from `context` (the user's name and address).
    ///
    /// # Errors
    /// A password the policy refuses, as the 422 lists it.
    pub fn new_password(&self, policy: &PasswordPolicy, context: &[&str]) -> Result<Password, Vec<FieldError>> {
        let mut errors = Vec::new();
        let password = collect(&mut errors, "password", Password::new_password(&self.password, policy, context));
        password.ok_or(errors)
    }
}

/// `POST /users/mfa/totp`, `DELETE /users/mfa/totp`, `POST /users/mfa/recovery-codes`: the
/// current password, which every change of the second factor asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CurrentPassword {
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub current_password: String,
}

/// A TOTP factor being enrolled, shown once: the secret for an authenticator app, as base32 and
/// as the `otpauth://` URI a QR code carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaEnrolment {
    #[cfg_attr(feature = "openapi", schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))]
    pub secret: String,
    #[cfg_attr(
        feature = "openapi",
        schema(example = "otpauth://totp/jwt-auth:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=jwt-auth")
    )]
    pub otpauth_uri: String,
}

/// `POST /users/mfa/totp/confirm`: the first code of the new factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaCode {
    #[cfg_attr(feature = "openapi", schema(example = "123456"))]
    pub code: String,
}

/// The factor confirmed: its recovery codes, shown once, and a pair of this session lifted to
/// `aal2`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaConfirmed {
    pub recovery_codes: Vec<String>,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// Fresh recovery codes, shown once; the earlier set is void.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `GET /users/mfa`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaStatus {
    /// Whether a confirmed TOTP factor guards the logins.
    pub totp: bool,
    pub recovery_codes_left: i64,
}

/// `POST /auth/mfa`: a login's `mfa_token` and its second factor, a `code` or a `recovery_code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaLogin {
    pub mfa_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "123456"))]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

/// A second factor as given: a TOTP code or a recovery code, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GivenFactor {
    Totp(String),
    RecoveryCode([u8; 32]),
    /// A recovery code that no recovery code can be: wrong, as a wrong one.
    Malformed,
}

impl GivenFactor {
    /// `code` or `recovery_code`, exactly one; `None` when neither came.
    ///
    /// # Errors
    /// Both at once, or a `code` that is not six digits, as the 422 lists them.
    pub fn parse(code: Option<&str>, recovery_code: Option<&str>) -> Result<Option<Self>, Vec<FieldError>> {
        match (code, recovery_code) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(alloc::vec![FieldError::body(
                "recovery_code",
                "value_error",
                "Give either code or recovery_code, not both"
            )]),
            (Some(code), None) => crate::mfa::totp_code(code)
                .map(|code| Some(Self::Totp(code)))
                .ok_or_else(|| alloc::vec![FieldError::body("code", "value_error", "A code is six digits")]),
            (None, Some(recovery)) => {
                Ok(Some(crate::mfa::recovery_code_digest(recovery).map_or(Self::Malformed, Self::RecoveryCode)))
            }
        }
    }
}

/// `POST /auth/verify`: the token from the mailed link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyRequest {
    pub token: String,
}

/// `POST /users`: sign-up. The role is always `user`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserCreate {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, example = "user"))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 15, max_length = 128, format = Password))]
    pub password: String,
    #[cfg_attr(feature = "openapi", schema(format = Email, example = "user@test.com"))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 100, example = "fname"))]
    pub first_name: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 100, example = "lname"))]
    pub last_name: String,
}

/// A sign-up, parsed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub password: Password,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
}

impl UserCreate {
    /// # Errors
    /// Every invalid field, as the 422 lists them.
    pub fn parse(&self, policy: &PasswordPolicy) -> Result<NewUser, Vec<FieldError>> {
        let mut errors = Vec::new();
        let username = collect(&mut errors, "username", Username::parse(&self.username));
        let context = [self.username.as_str(), self.email.as_str()];
        let password = collect(&mut errors, "password", Password::new_password(&self.password, policy, &context));
        let email = collect(&mut errors, "email", Email::parse(&self.email));
        let first_name = collect(&mut errors, "first_name", PersonName::parse(&self.first_name));
        let last_name = collect(&mut errors, "last_name", PersonName::parse(&self.last_name));
        match (username, password, email, first_name, last_name) {
            (Some(username), Some(password), Some(email), Some(first_name), Some(last_name)) => {
                Ok(NewUser { username, password, email, first_name, last_name })
            }
            _ => Err(errors),
        }
    }
}

/// `PATCH /users`: the fields to change; absent or null ones stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserUpdate {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 15, max_length = 128, format = Password))]
    pub password: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    /// Required to change the password or the email: a stolen access token alone cannot take
    /// the account over.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub current_password: Option<String>,
}

/// A change, parsed.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub username: Option<Username>,
    pub password: Option<Password>,
    pub email: Option<Email>,
    pub first_name: Option<PersonName>,
    pub last_name: Option<PersonName>,
    /// Present whenever the password or the email changes; the origin checks it.
    pub current_password: Option<Password>,
}

impl UserUpdate {
    /// `current` holds the user's present username and email, which a new password must not be
    /// built from either.
    ///
    /// # Errors
    /// Every invalid field, as the 422 lists them.
    pub fn parse(&self, policy: &PasswordPolicy, current: [&str; 2]) -> Result<UserChanges, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut context: Vec<&str> = current.to_vec();
        context.extend(self.username.as_deref());
        context.extend(self.email.as_deref());
        let changes = UserChanges {
            username: optional(&mut errors, "username", self.username.as_deref(), Username::parse),
            password: optional(&mut errors, "password", self.password.as_deref(), |raw| {
                Password::new_password(raw, policy, &context)
            }),
            email: optional(&mut errors, "email", self.email.as_deref(), Email::parse),
            first_name: optional(&mut errors, "first_name", self.first_name.as_deref(), PersonName::parse),
            last_name: optional(&mut errors, "last_name", self.last_name.as_deref(), PersonName::parse),
            current_password: optional(&mut errors, "current_password", self.current_password.as_deref(), |raw| {
                Password::candidate(raw)
            }),
        };
        if (self.password.is_some() || self.email.is_some()) && self.current_password.is_none() {
            errors.push(FieldError::body("current_password", "missing", "Field required"));
        }
        if errors.is_empty() { Ok(changes) } else { Err(errors) }
    }
}

/// `PATCH /users/admin/{id}`: an admin's change to another user; absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUserUpdate {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub active: Option<bool>,
    /// A new password: every token and session of the user ends.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 15, max_length = 128, format = Password))]
    pub password: Option<String>,
}

/// An admin's change, parsed.
#[derive(Debug, Clone, Default)]
pub struct AdminChanges {
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password: Option<Password>,
}

impl AdminUserUpdate {
    /// `current` holds the user's username and email, which a new password must not be built from.
    ///
    /// # Errors
    /// Every invalid field, as the 422 lists them.
    pub fn parse(&self, policy: &PasswordPolicy, current: [&str; 2]) -> Result<AdminChanges, Vec<FieldError>> {
        let mut errors = Vec::new();
        let password = optional(&mut errors, "password", self.password.as_deref(), |raw| {
            Password::new_password(raw, policy, &current)
        });
        if errors.is_empty() {
            Ok(AdminChanges { role: self.role, active: self.active, password })
        } else {
            Err(errors)
        }
    }
}

/// One of the current user's known devices (`GET /users/devices`): a device token a login gave
/// out, which gets that device through locks that strangers' failures put on the account. Dates as
/// [`UserOut`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceOut {
    pub id: i64,
    pub created_at: String,
    /// Its last login.
    pub last_used_at: String,
    /// Of its last login.
    pub user_agent: String,
    /// Of its last login.
    pub client_ip: Option<String>,
}

/// One of the current user's live sessions (`GET /users/sessions`). Dates as [`UserOut`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionOut {
    /// The session id, the tokens' `sid`.
    pub id: String,
    pub created_at: String,
    /// The last login or refresh.
    pub last_used_at: String,
    pub user_agent: String,
    pub client_ip: Option<String>,
    /// Whether the token of this request belongs to it.
    pub current: bool,
}

/// A security event of the audit log (`GET /users/admin/audit`), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventOut {
    /// Increasing; pass the last one seen as `before` for the next (older) page.
    pub id: i64,
    pub at: String,
    /// `login_succeeded`, `login_failed`, `refresh_reuse_detected`, `password_changed`,
    /// `role_changed`, `active_changed`, `logout`, `logout_all`, `sessions_ended`, `user_deleted`,
    /// `password_reset_requested`, `password_reset`, `verify_requested`, `email_verified`,
    /// `email_change_requested`, `email_changed`, `mail_request_throttled`, `mail_undeliverable`.
    pub event: String,
    /// Whom it concerns.
    pub user_id: Option<i64>,
    /// Who did it, when an admin acted on another user.
    pub actor_id: Option<i64>,
    /// The name a failed login tried.
    pub username: Option<String>,
    pub session_id: Option<String>,
    pub client_ip: Option<String>,
    pub detail: String,
}

/// `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    #[cfg_attr(feature = "openapi", schema(example = "ok"))]
    pub status: String,
}

fn collect<T>(errors: &mut Vec<FieldError>, field: &str, parsed: Result<T, Invalid>) -> Option<T> {
    parsed.map_err(|invalid| errors.push(invalid.at(field))).ok()
}

fn optional<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, Invalid>,
) -> Option<T> {
    raw.and_then(|raw| collect(errors, field, parse(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LocPart;

    #[test]
    fn a_sign_up_reports_every_invalid_field() {
        let body = UserCreate {
            username: String::new(),
            password: "123456".into(),
            email: "nope".into(),
            first_name: "f".into(),
            last_name: "l".into(),
        };
        let errors = body.parse(&PasswordPolicy::default()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(fields, ["username", "password", "email"].map(LocPart::from));
        assert_eq!(errors[1].kind, "string_too_short");
    }
}
