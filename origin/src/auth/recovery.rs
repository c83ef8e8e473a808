//! A forgotten password: the reset link is asked for through [`super::mail_requests`]; this is
//! its completion. A token is spent in the transaction that sets the new password, so of any
//! number of concurrent submissions one succeeds; the reset then ends every session and device
//! token of the user (no one is logged in by it), lifts the account's locks, and mails a notice.

use shared::api::ResetPasswordRequest;

use super::{AuthError, Caller, limits, mfa, password};
use crate::db::account_tokens::{self, Purpose};
use crate::db::audit;
use crate::db::outbox::{self, MailKind};
use crate::db::sessions::{self, EndReason};
use crate::db::users::{self, Changes};
use crate::state::AppState;

/// Sets the password of the reset token's user. Every bad token (unknown, expired, spent,
/// superseded, of an inactive or deleted user) is the one [`AuthError::ResetPasswordBadToken`]; a
/// password the policy refuses is a 422 and spends nothing.
pub async fn reset_password(state: &AppState, body: &ResetPasswordRequest, caller: &Caller) -> Result<(), AuthError> {
    let bad = AuthError::ResetPasswordBadToken;
    let digest = body.token_digest().ok_or(AuthError::ResetPasswordBadToken)?;
    let now = state.clock.now();
    // A look first: a hash (about 100 ms of CPU) only for a token that is live.
    let Some(user_id) = account_tokens::live(&state.pool, &digest, Purpose::ResetPassword, now).await? else {
        return Err(bad);
    };
    let user = match users::by_id(&state.pool, user_id).await? {
        Some(user) if user.active => user,
        _ => return Err(bad),
    };
    let new_password = body.new_password(&state.password_policy, &[&user.username, &user.email])?;
    // A reset never bypasses the second factor: without it the token is not spent.
    mfa::check_for_reset(state, &user, body.code.as_deref(), body.recovery_code.as_deref(), caller).await?;
    let hash = password::hash(state, new_password).await;

    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    // Spent here, in the transaction that sets the password: a concurrent submission that looked
    // before finds it spent now.
    match account_tokens::spend(&transaction, &digest, Purpose::ResetPassword, now).await? {
        Some((spent_by, _)) if spent_by == user.id => {}
        _ => return Err(bad),
    }
    let changes = Changes { password_hash: Some(hash), ..Changes::default() };
    let updated = users::update_with(&transaction, user.id, &changes).await?.ok_or(AuthError::ResetPasswordBadToken)?;
    if state.mail.is_some() {
        outbox::queue(&transaction, user.id, MailKind::PasswordChanged, &updated.email, "", now).await?;
    }
    transaction.commit().await?;
    state.mail_queued();

    // Its tokens are void already (the version moved); their sessions end with them.
    sessions::end_all(&state.pool, user.id, EndReason::PasswordChange).await?;
    limits::lift_locks(state, user.id, &updated.username).await?;
    let event = audit::Event { client_ip: caller.ip, ..audit::Event::new(audit::Kind::PasswordReset, Some(user.id)) };
    state.audit(event).await;
    Ok(())
}
