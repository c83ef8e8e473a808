//! Who may: the check of every token the origin accepts, against the database, and the admin
//! role. The edge checks the same token statelessly first; only the origin sees what a password
//! change, a logout or a deactivation has revoked.

use shared::assurance::Aal;
use shared::contract::Access;
use shared::domain::{Role, TokenKind};
use shared::token::VerifiedToken;

use super::AuthError;
use crate::db::users::{self, User};
use crate::state::AppState;

/// The rule for every token the origin accepts, of either kind: it verifies (signature, time,
/// `iss`, `aud`, `typ`), its user still exists, its version is the user's current one (a password
/// change revokes), its session is one of the user's and still live (logout revokes), and the
/// user is active.
pub async fn authorize(state: &AppState, token: &str, kind: TokenKind) -> Result<(User, VerifiedToken), AuthError> {
    let now = state.clock.now();
    let verified = verify(state, token, kind, now)?;
    let found = users::in_session(&state.pool, verified.subject.user_id, &verified.sid, now).await?;
    Ok((admit(found, &verified)?, verified))
}

/// The token's own checks, at `now`: what needs no database.
pub fn verify(state: &AppState, token: &str, kind: TokenKind, now: u64) -> Result<VerifiedToken, AuthError> {
    state.tokens.verify(token, kind, now).map_err(|err| {
        tracing::debug!(reason = err.reason, "token rejected");
        AuthError::InvalidToken
    })
}

/// The checks against the database, given what it holds of the token's user and whether its
/// session lives (`found`).
pub fn admit(found: Option<(User, bool)>, verified: &VerifiedToken) -> Result<User, AuthError> {
    match found {
        Some((user, true)) => admit_in_session(user, verified),
        _ => Err(AuthError::InvalidToken),
    }
}

/// [`admit`] for the user of a session known to live: its version and whether it is active.
pub fn admit_in_session(user: User, verified: &VerifiedToken) -> Result<User, AuthError> {
    if user.token_version != verified.subject.ver {
        return Err(AuthError::InvalidToken);
    }
    if !user.active {
        return Err(AuthError::InactiveUser);
    }
    Ok(user)
}

/// Whether the token's session gave the second factor where `REQUIRE_AAL2` demands it, as the
/// edge decides it: a non-admin on an admin route is refused as such (403) first.
pub fn assured(
    state: &AppState,
    user: &User,
    verified: &VerifiedToken,
    route: Access,
    method: &str,
    path: &str,
) -> Result<(), AuthError> {
    let refused_as_non_admin = route == Access::Admin && user.role != Role::Admin;
    if verified.assurance.aal() != Aal::Aal2 && !refused_as_non_admin && state.require_aal2.demands(route, method, path)
    {
        return Err(AuthError::InsufficientUserAuthentication);
    }
    Ok(())
}

/// `user`, who must be an admin now: the database's role, not the token's.
pub fn admin(user: User) -> Result<User, AuthError> {
    if user.role == Role::Admin { Ok(user) } else { Err(AuthError::NotAnAdmin) }
}
