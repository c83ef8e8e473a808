//! Passwords outside a login: hashing a new one (off the async executor: a PBKDF2 hash at the
//! default cost takes about 100 ms of CPU), and confirming the current one before the user changes
//! their password or email.

use shared::policy::Password;

use super::{AuthError, Caller, limits};
use crate::db::audit;
use crate::db::users::{self, User};
use crate::hasher::off_executor;
use crate::state::AppState;

/// A new PHC string for `password`, under the configured policy.
pub async fn hash(state: &AppState, password: Password) -> String {
    let hasher = state.hasher.clone();
    off_executor(move || hasher.hash(&password)).await
}

/// [`hash`] of a new password, if there is one.
pub async fn hash_new(state: &AppState, password: Option<Password>) -> Option<String> {
    match password {
        Some(password) => Some(hash(state, password).await),
        None => None,
    }
}

/// The user's own password, checked before a change of password or email. Counted as a login
/// attempt: a stolen access token must not become an unthrottled way to guess.
pub async fn confirm_current(
    state: &AppState,
    user: &User,
    password: Password,
    caller: &Caller,
) -> Result<(), AuthError> {
    let claim = limits::Claim {
        username: &user.username,
        user: Some(user.id),
        ip: caller.ip,
        device: None,
        account_tier: false,
    };
    let mut attempt = limits::begin_login(state, claim).await?;
    // The user may have been deleted since the token was checked.
    let stored = users::password_hash(&state.pool, user.id).await?.ok_or(AuthError::InvalidToken)?;
    let hasher = state.hasher.clone();
    let right = off_executor(move || hasher.verify(&password, &stored)).await;
    attempt.settle(state, right).await?;
    if right {
        Ok(())
    } else {
        let event = audit::Event {
            detail: "wrong current password".into(),
            ..audit::Event::new(audit::Kind::LoginFailed, Some(user.id))
        };
        state.audit(event).await;
        Err(AuthError::WrongCurrentPassword)
    }
}
