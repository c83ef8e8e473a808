//! Admin operations on other users, and the audit log. The caller's admin role has been checked
//! ([`super::access::admin`]); no change may leave no active admin (`users::guarding_admins`
//! locks the admins' rows, so two admins demoting each other cannot both succeed).

use shared::api::{AdminUserUpdate, AuditEventOut};
use shared::domain::UserId;
use shared::error::FieldError;

use super::{AuthError, Caller, limits, password};
use crate::db::audit;
use crate::db::sessions::{self, EndReason};
pub use crate::db::users::PageStart;
use crate::db::users::{self, Changes, Guarded, User};
use crate::state::AppState;

/// User `id`.
pub async fn user(state: &AppState, id: UserId) -> Result<User, AuthError> {
    users::by_id(&state.pool, id).await?.ok_or(AuthError::NoSuchUser)
}

/// Every user, by id, `limit` at a time from `start`.
pub async fn users_page(state: &AppState, limit: i64, start: PageStart) -> Result<Vec<User>, AuthError> {
    Ok(users::list(&state.pool, limit, start).await?)
}

/// The audit log, newest first: `limit` events older than event `before`, of `user` if given.
pub async fn audit_page(
    state: &AppState,
    limit: i64,
    before: Option<i64>,
    user: Option<UserId>,
) -> Result<Vec<AuditEventOut>, AuthError> {
    Ok(audit::page(&state.pool, limit, before, user).await?)
}

/// An event an admin caused on `user`.
fn by_admin(kind: audit::Kind, user: &User, admin: &User, caller: &Caller) -> audit::Event {
    audit::Event { actor_id: Some(admin.id), client_ip: caller.ip, ..audit::Event::new(kind, Some(user.id)) }
}

/// Changes user `id`'s role, active flag or password. Deactivating a user or setting a password
/// ends all of their sessions (a password also their devices); the last active admin cannot be demoted or deactivated.
pub async fn change(
    state: &AppState,
    admin: &User,
    id: UserId,
    body: &AdminUserUpdate,
    caller: &Caller,
) -> Result<User, AuthError> {
    let before = user(state, id).await?;
    if before.id == admin.id && body.password.is_some() {
        // One's own password needs the current one, whatever one's role: PATCH /users asks for it.
        let message = "Use PATCH /users with current_password to change your own password";
        return Err(AuthError::Invalid(vec![FieldError::body("password", "value_error", message)]));
    }
    let parsed = body.parse(&state.password_policy, [&before.username, &before.email])?;
    let password_hash = password::hash_new(state, parsed.password).await;
    let new_password = password_hash.is_some();
    let changes = Changes { role: parsed.role, active: parsed.active, password_hash, ..Changes::default() };
    let after = match users::guarding_admins(&state.pool, before.id, Some(&changes)).await? {
        Guarded::Done(Some(user)) => user,
        Guarded::Done(None) | Guarded::NoSuchUser => return Err(AuthError::NoSuchUser),
        Guarded::LastAdmin => return Err(AuthError::LastAdmin),
    };
    if new_password || (before.active && !after.active) {
        sessions::end_all(&state.pool, after.id, EndReason::Admin).await?;
    }
    if new_password {
        limits::forget_known(state, after.id, &after.username, "a new password set by an admin").await?;
        state.audit(by_admin(audit::Kind::PasswordChanged, &after, admin, caller)).await;
    }
    if before.role != after.role {
        let detail = format!("{} -> {}", before.role, after.role);
        state.audit(audit::Event { detail, ..by_admin(audit::Kind::RoleChanged, &after, admin, caller) }).await;
    }
    if before.active != after.active {
        let detail = format!("{} -> {}", before.active, after.active);
        state.audit(audit::Event { detail, ..by_admin(audit::Kind::ActiveChanged, &after, admin, caller) }).await;
    }
    Ok(after)
}

/// Deletes user `id` and their sessions; the last active admin cannot be deleted.
pub async fn delete(state: &AppState, admin: &User, id: UserId, caller: &Caller) -> Result<(), AuthError> {
    let user = user(state, id).await?;
    match users::guarding_admins(&state.pool, user.id, None).await? {
        Guarded::Done(_) => {}
        Guarded::NoSuchUser => return Err(AuthError::NoSuchUser),
        Guarded::LastAdmin => return Err(AuthError::LastAdmin),
    }
    let event = audit::Event {
        username: Some(user.username.clone()),
        ..by_admin(audit::Kind::UserDeleted, &user, admin, caller)
    };
    state.audit(event).await;
    Ok(())
}

/// Ends every session of user `id`: their tokens stop working at once.
pub async fn end_sessions(state: &AppState, admin: &User, id: UserId, caller: &Caller) -> Result<(), AuthError> {
    let user = user(state, id).await?;
    let ended = sessions::end_all(&state.pool, user.id, EndReason::Admin).await?;
    let event = audit::Event {
        detail: format!("{ended} sessions ended"),
        ..by_admin(audit::Kind::SessionsEnded, &user, admin, caller)
    };
    state.audit(event).await;
    Ok(())
}
