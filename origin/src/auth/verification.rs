//! Confirming an email address: the link is asked for through [`super::mail_requests`] (or sent
//! at sign-up, or for the new address of an email change); this is its completion. A token
//! confirms only the address it was mailed to: the account's own, which becomes verified, or the
//! one a change waits for, which becomes the account's address (409 if another account took it
//! meanwhile) while the old address gets a notice.

use shared::api::VerifyRequest;

use super::{AuthError, Caller, taken};
use crate::db::account_tokens::{self, Purpose};
use crate::db::audit;
use crate::db::outbox::{self, MailKind};
use crate::db::users::{self, User};
use crate::state::AppState;

/// Confirms the address of the verify token; the user as it is now.
pub async fn verify(state: &AppState, body: &VerifyRequest, caller: &Caller) -> Result<User, AuthError> {
    let digest = shared::secret::digest(&body.token).ok_or(AuthError::VerifyUserBadToken)?;
    let now = state.clock.now();
    let mut client = state.pool.get().await?;
    // Nothing commits unless the address is confirmed: a refusal spends no token.
    let transaction = client.transaction().await?;
    let Some((user_id, address)) = account_tokens::spend(&transaction, &digest, Purpose::VerifyEmail, now).await?
    else {
        return Err(AuthError::VerifyUserBadToken);
    };
    let confirmed = users::confirm_address(&transaction, user_id, &address).await.map_err(taken)?;
    let Some(confirmed) = confirmed.filter(|confirmed| confirmed.user.active) else {
        return Err(AuthError::VerifyUserBadToken);
    };
    let changed = !confirmed.old_email.eq_ignore_ascii_case(&confirmed.user.email);
    if confirmed.was_verified && !changed {
        return Err(AuthError::VerifyUserAlreadyVerified);
    }
    if changed {
        let new_email = &confirmed.user.email;
        outbox::queue(&transaction, user_id, MailKind::EmailChanged, &confirmed.old_email, new_email, now).await?;
    }
    transaction.commit().await?;
    state.mail_queued();
    let kind = if changed { audit::Kind::EmailChanged } else { audit::Kind::EmailVerified };
    state.audit(audit::Event { client_ip: caller.ip, ..audit::Event::new(kind, Some(user_id)) }).await;
    Ok(confirmed.user)
}
