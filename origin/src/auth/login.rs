//! A login: the password check and the session it opens. `POST /auth/token`, `/auth/login` and
//! their internal twins the edge calls all come here.

use shared::api::LoginRequest;

use super::limits::{self, Claim};
use super::sessions::{self, Admitted, SignedIn};
use super::{AuthError, Caller, mfa};
use crate::db::audit;
use crate::db::users::{self, User};
use crate::hasher::off_executor;
use crate::metrics::LoginFailure;
use crate::state::AppState;
use shared::assurance::SecondFactor;

/// Checks the password, then opens a session and gives the device its token (the one it came
/// with, or a new one); for a user with a second factor, answers the `mfa_token` the factor goes
/// with instead ([`mfa::complete_login`] opens the session).
pub async fn log_in(state: &AppState, login: &LoginRequest, caller: &Caller) -> Result<SignedIn, AuthError> {
    let (user, attempt) = check_password(state, login, caller).await?;
    let admitted = Admitted {
        device: attempt.device,
        source: attempt.source.clone(),
        device_token: attempt.device.and(login.device_token.clone()),
    };
    if mfa::has_factor(state, user.id).await? {
        return Err(mfa::challenge(state, &user, &admitted).await?);
    }
    sessions::open_session(state, user, admitted, SecondFactor::None, caller).await
}

/// The user whose password this is, and the attempt that let the check happen. The attempt
/// holds its throttle slots until the check settles ([`limits::begin_login`]); an unknown user
/// costs one hash, as a wrong password does, and gets the same answer; a hash under a weaker
/// policy is replaced.
async fn check_password(
    state: &AppState,
    login: &LoginRequest,
    caller: &Caller,
) -> Result<(User, limits::Attempt), AuthError> {
    let credentials = login.parse()?;
    let tried = credentials.username.clone();
    let stored = users::credentials(&state.pool, &credentials.username).await?;
    // For the audit log, which only admins read, and for what the account knows of its sources:
    // a client learns nothing of it.
    let known = stored.as_ref().map(|stored| stored.user.id);
    let claim = Claim { username: &tried, user: known, ip: caller.ip, device: credentials.device, account_tier: true };
    let mut attempt = limits::begin_login(state, claim).await?;
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
        attempt.settle(state, false).await?;
        state.metrics.login_failed(LoginFailure::BadCredentials);
        state.audit(failed(known, "bad credentials")).await;
        return Err(AuthError::BadCredentials);
    };
    attempt.settle(state, true).await?;
    if !user.active {
        state.metrics.login_failed(LoginFailure::Inactive);
        state.audit(failed(Some(user.id), "inactive user")).await;
        return Err(AuthError::InactiveUser);
    }
    // Only after the right password, as fastapi-users: a wrong one stays a 401 and tells nothing.
    if state.require_verified_email && !user.email_verified {
        state.metrics.login_failed(LoginFailure::Unverified);
        state.audit(failed(Some(user.id), "email not verified")).await;
        return Err(AuthError::LoginUserNotVerified);
    }
    if let Some((stronger, verified)) = stronger_hash {
        users::rehash(&state.pool, user.id, &verified, &stronger).await?;
    }
    Ok((user, attempt))
}
