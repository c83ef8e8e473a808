//! The current user's own account: sign-up, changes (a new password or email needs the current
//! password, and a new password revokes every earlier token and session), and deletion. The last
//! active admin cannot delete itself. With mail on, sign-up mails a confirmation link, and a new
//! email waits (`pending_email`) until it confirms one, while the old address gets a notice.

use shared::api::{UserCreate, UserUpdate};
use shared::domain::Role;

use super::limits::{self, Limit};
use super::{AuthError, Caller, password, taken};
use crate::db::outbox::{self, MailKind};
use crate::db::sessions::{self, EndReason};
use crate::db::users::{self, Changes, Guarded, User};
use crate::db::{StoreError, audit};
use crate::state::AppState;

/// Sign-up, limited per address. Every new user has the role `user`.
pub async fn sign_up(state: &AppState, body: &UserCreate, caller: &Caller) -> Result<User, AuthError> {
    limits::rate(state, Limit::SignUp, caller.ip).await?;
    let new_user = body.parse(&state.password_policy)?;
    let hash = password::hash(state, new_user.password.clone()).await;
    let user = users::insert(&state.pool, &new_user, &hash, Role::User).await.map_err(taken)?;
    if state.mail.is_some() {
        let client = state.pool.get().await.map_err(StoreError::from)?;
        outbox::queue(&client, user.id, MailKind::VerifyEmail, &user.email, "", state.clock.now()).await?;
        state.mail_queued();
    }
    Ok(user)
}

/// Changes `user`'s own fields. A new password bumps the token version (every earlier token is
/// void at once), ends every session and forgets the account's devices.
pub async fn update(state: &AppState, user: &User, body: &UserUpdate, caller: &Caller) -> Result<User, AuthError> {
    let parsed = body.parse(&state.password_policy, [&user.username, &user.email])?;
    if let Some(current) = parsed.current_password {
        password::confirm_current(state, user, current, caller).await?;
    }
    let new_email = parsed.email.map(|v| v.into_inner()).filter(|email| !email.eq_ignore_ascii_case(&user.email));
    // With mail on, the address changes only when the new one confirms: until then it is pending.
    let (email, pending_email) = match new_email {
        Some(email) if state.mail.is_some() => {
            if users::email_taken(&state.pool, &email, user.id).await? {
                return Err(AuthError::Taken);
            }
            (None, Some(email))
        }
        other => (other, None),
    };
    let changes = Changes {
        username: parsed.username.map(|v| v.into_inner()),
        email,
        pending_email: pending_email.clone(),
        first_name: parsed.first_name.map(|v| v.into_inner()),
        last_name: parsed.last_name.map(|v| v.into_inner()),
        password_hash: password::hash_new(state, parsed.password).await,
        ..Changes::default()
    };
    let new_password = changes.password_hash.is_some();
    // The user may have been deleted since the token was checked.
    let updated = users::update(&state.pool, user.id, &changes).await.map_err(taken)?.ok_or(AuthError::InvalidToken)?;
    if let Some(pending) = &pending_email {
        let client = state.pool.get().await.map_err(StoreError::from)?;
        let now = state.clock.now();
        outbox::queue(&client, user.id, MailKind::VerifyEmail, pending, "", now).await?;
        outbox::queue(&client, user.id, MailKind::EmailChangeRequested, &updated.email, pending, now).await?;
        state.mail_queued();
        let event = audit::Event {
            client_ip: caller.ip,
            ..audit::Event::new(audit::Kind::EmailChangeRequested, Some(user.id))
        };
        state.audit(event).await;
    }
    if new_password {
        // Its tokens are void already (the version moved); their sessions end with them.
        sessions::end_all(&state.pool, user.id, EndReason::PasswordChange).await?;
        limits::forget_known(state, user.id, &updated.username, "a new password").await?;
        let event =
            audit::Event { client_ip: caller.ip, ..audit::Event::new(audit::Kind::PasswordChanged, Some(user.id)) };
        state.audit(event).await;
    }
    Ok(updated)
}

/// Deletes `user`; its sessions go with it (ON DELETE CASCADE), the audit log keeps the event.
pub async fn delete(state: &AppState, user: &User, caller: &Caller) -> Result<(), AuthError> {
    match users::guarding_admins(&state.pool, user.id, None).await? {
        Guarded::Done(_) => {}
        Guarded::NoSuchUser => return Err(AuthError::InvalidToken),
        Guarded::LastAdmin => return Err(AuthError::LastAdmin),
    }
    let event = audit::Event {
        username: Some(user.username.clone()),
        client_ip: caller.ip,
        ..audit::Event::new(audit::Kind::UserDeleted, Some(user.id))
    };
    state.audit(event).await;
    Ok(())
}
