//! The origin's decisions, between the HTTP layer (which extracts, calls one function here and
//! renders) and the database (`db`, a module a table). Each function takes the request's input,
//! checks and changes what it must, records the audit event, and answers a value or an
//! [`AuthError`]; `http::error` turns that into the answer, in one place. The public routes and
//! the internal API the edge calls share these functions, so a rule is never written twice.
//!
//! - [`access`]: the check of every token against the database, and the admin role.
//! - [`login`]: the password check of a login (throttled, one hash whether the user exists or
//!   not, re-hashing under a stronger policy) and the session it opens.
//! - [`sessions`]: a session's start, the rotation of its refresh token with reuse detection, and
//!   its end.
//! - [`password`]: hashing a new password, and confirming the current one before a change.
//! - [`account`]: sign-up, and the current user's changes (a password change among them) and
//!   deletion.
//! - [`admin`]: admin operations on other users, and the audit log.
//! - [`limits`]: which throttle counters a login (in tiers), a sign-up or a refresh counts
//!   against, and the waits for a login's slots.
//! - [`devices`]: the devices an account knows (listed, forgotten).
//! - [`mail_requests`]: asking for a mailed link (a reset, a confirmation), alike for every address.
//! - [`recovery`]: completing a password reset.
//! - [`verification`]: confirming an address, and with it a waiting email change.
//! - [`mfa`]: the second factor (TOTP, recovery codes) and the step-up of a login.

pub mod access;
pub mod account;
pub mod admin;
pub mod devices;
pub mod limits;
pub mod login;
pub mod mail_requests;
pub mod mfa;
pub mod password;
pub mod recovery;
pub mod sessions;
pub mod verification;

use std::net::IpAddr;

use shared::error::FieldError;

use crate::db::StoreError;

/// Who is calling, as sessions, limits and the audit log record it: the user agent, and the client
/// address (the edge's word for it when the edge called).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user_agent: String,
    pub ip: Option<IpAddr>,
}

/// Why a request was refused, or what failed underneath.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The input breaks a rule, every field at once (what pydantic would report).
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("incorrect username or password")]
    BadCredentials,
    #[error("inactive user")]
    InactiveUser,
    /// A token that failed a check, was revoked, or whose session or user is gone; the reason is
    /// logged where it is found, never sent.
    #[error("token rejected")]
    InvalidToken,
    #[error("not an admin")]
    NotAnAdmin,
    /// A change of one's own password or email with the wrong `current_password`.
    #[error("wrong current password")]
    WrongCurrentPassword,
    #[error("username or email already registered")]
    Taken,
    /// The change would leave no active admin; nothing was changed.
    #[error("the last active admin cannot be demoted, deactivated or deleted")]
    LastAdmin,
    #[error("no such user")]
    NoSuchUser,
    /// The current user has no such device.
    #[error("no such device")]
    NoSuchDevice,
    /// A reset token that is unknown, expired, spent or superseded, or whose user is gone or
    /// inactive: one answer for all.
    #[error("bad reset token")]
    ResetPasswordBadToken,
    /// A verify token that is unknown, expired, spent, or for an address the account no longer has.
    #[error("bad verify token")]
    VerifyUserBadToken,
    #[error("address already verified")]
    VerifyUserAlreadyVerified,
    /// The right password of a user whose address is unconfirmed, under `REQUIRE_VERIFIED_EMAIL`.
    #[error("email address not verified")]
    LoginUserNotVerified,
    /// The right password of a user with a second factor: the `mfa_token` of the login that waits
    /// for it, or none (a reset, which takes the code in its own body).
    #[error("second factor required")]
    MfaRequired(Option<String>),
    #[error("wrong second factor")]
    MfaBadCode,
    #[error("mfa_token unknown, expired, spent or killed")]
    MfaTokenInvalid,
    /// The route or the change needs a session that gave the second factor.
    #[error("aal2 required")]
    InsufficientUserAuthentication,
    /// `MFA_ENCRYPTION_KEYS` is unset: no secret can be sealed or opened.
    #[error("MFA_ENCRYPTION_KEYS is not set")]
    MfaUnavailable,
    /// The user has no factor (or enrolment) to act on.
    #[error("no such second factor")]
    NoSuchFactor,
    /// A failure of ours in the second factor's machinery (a secret that does not open).
    #[error("second factor: {0}")]
    Mfa(String),
    /// Held back by brute-force protection or a rate limit.
    #[error("held back for {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Vec<FieldError>> for AuthError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}

// A service function that runs its own transaction meets the driver's and the pool's errors.
impl From<tokio_postgres::Error> for AuthError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Store(err.into())
    }
}

impl From<deadpool_postgres::PoolError> for AuthError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        Self::Store(err.into())
    }
}

/// A write to the users table whose unique name or email collided: that name or email is taken.
fn taken(err: StoreError) -> AuthError {
    match err {
        StoreError::Conflict { .. } => AuthError::Taken,
        other => other.into(),
    }
}
