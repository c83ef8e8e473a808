//! A login: the password check and the session it opens. `POST /auth/token`, `/auth/login` and
//! their internal twins the edge calls all come here.

use shared::api::LoginRequest;

use super::sessions::{self, SignedIn};
use super::{AuthError, Caller, limits};
use crate::db::audit;
use crate::db::users::{self, User};
use crate::hasher::off_executor;
use crate::metrics::LoginFailure;
use crate::state::AppState;

/// Checks the password and opens a session.
pub async fn log_in(state: &AppState, login: &LoginRequest, caller: &Caller) -> Result<SignedIn, AuthError> {
    let user = check_password(state, login, caller).await?;
    sessions::start(state, user, caller).await
}

/// The user whose password this is. The attempt counts against the username and the address
/// until it succeeds ([`limits::begin_login`]); an unknown user costs one hash, as a wrong
/// password does, and gets the same answer; a hash under a weaker policy is replaced.
pub async fn check_password(state: &AppState, login: &LoginRequest, caller: &Caller) -> Result<User, AuthError> {
    let credentials = login.parse()?;
    let tried = credentials.username.clone();
    let lock = limits::begin_login(state, &tried, caller.ip).await?;
    let stored = users::credentials(&state.pool, &credentials.username).await?;
    // For the audit log, which only admins read: a client learns nothing of it.
    let known = stored.as_ref().map(|stored| stored.user.id);
    let hasher = state.hasher.clone();
    let password = credentials.password;
    let (user, stronger_hash) = off_executor(move || match stored {
        Some(stored) if hasher.verify(&password, &stored.password_hash) => {
            let stronger =
                hasher.needs_rehash(&stored.password_hash).then(|| (hasher.hash(&password), stored.password_hash));
            (Some(stored.user), stronger)
        }
        Some(_) => (None, None),
        None => {
            hasher.verify_nobody(&password);
            (None, None)
        }
    })
    .await;
    let failed = |user_id, detail: &str| audit::Event {
        username: Some(tried.clone()),
        client_ip: caller.ip,
        detail: detail.to_owned(),
        ..audit::Event::new(audit::Kind::LoginFailed, user_id)
    };
    let Some(user) = user else {
        state.metrics.login_failed(LoginFailure::BadCredentials);
        state.audit(failed(known, "bad credentials")).await;
        return Err(AuthError::BadCredentials);
    };
    limits::login_succeeded(state, &lock, caller.ip).await?;
    if !user.active {
        state.metrics.login_failed(LoginFailure::Inactive);
        state.audit(failed(Some(user.id), "inactive user")).await;
        return Err(AuthError::InactiveUser);
    }
    if let Some((stronger, verified)) = stronger_hash {
        users::rehash(&state.pool, user.id, &verified, &stronger).await?;
    }
    Ok(user)
}
