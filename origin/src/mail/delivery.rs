//! The delivery worker: sends the outbox's due mails one at a time. A mail is first claimed, in
//! one short transaction (`SKIP LOCKED`, so origins share the work): a link's token is minted and
//! committed, and the row is leased for [`LEASE_SECS`], so no other worker sends it meanwhile and
//! the token works the moment the mail can be read. Then it is sent, with no transaction open.
//! Sent, the row goes; failed, the token goes and the row waits [`MailSettings::backoff_secs`];
//! older than `MAIL_MAX_AGE_SECS`, it is given up and the audit log says so. An origin that dies
//! mid-send leaves its lease to expire: the mail goes again (at least once). Times are the
//! injected clock's, so tests move them instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use shared::secret::{RESET_TTL_SECS, VERIFY_TTL_SECS};
use shared::token::TokenService;

use super::{Mail, MailService, MailSettings, templates};
use crate::db::account_tokens::{self, NewToken, Purpose};
use crate::db::outbox::{self, MailKind, Queued};
use crate::db::{StoreError, audit};
use crate::state::AppState;
use crate::telemetry::Chain;

/// How long a claimed mail is left to its sender before another worker may send it.
pub const LEASE_SECS: u64 = 120;

/// How often the worker looks for due mails when nothing wakes it (a retry coming due, a mail
/// another origin queued).
const POLL: Duration = Duration::from_secs(1);

/// Sends due mails until the task is aborted.
pub async fn run(state: AppState, mail: Arc<MailService>) {
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = mail.queued.notified() => {}
        }
        if let Err(err) = deliver_due(&state, &mail).await {
            tracing::warn!(err = %Chain(&err), "mail delivery paused until the next round");
        }
    }
}

/// Handles every mail due now: sent, put back for later, or given up. How many were handled.
pub async fn deliver_due(state: &AppState, mail: &MailService) -> Result<usize, StoreError> {
    outbox::drop_unaddressed(&state.pool).await?;
    let mut handled = 0;
    while deliver_next(state, mail).await? {
        handled += 1;
    }
    Ok(handled)
}

/// Handles the next due mail; `false` when none is due.
async fn deliver_next(state: &AppState, mail: &MailService) -> Result<bool, StoreError> {
    let now = state.clock.now();
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    let Some(queued) = outbox::next_due(&transaction, now).await? else {
        return Ok(false);
    };
    let given_up = now >= queued.created_at.saturating_add(mail.settings.max_age_secs);
    if given_up {
        outbox::remove(&transaction, queued.id).await?;
        transaction.commit().await?;
        tracing::warn!(mail = queued.id, kind = queued.kind.as_str(), attempts = queued.attempts, "mail given up");
        let event = audit::Event {
            detail: format!("{} after {} attempts", queued.kind.as_str(), queued.attempts),
            ..audit::Event::new(audit::Kind::MailUndeliverable, Some(queued.user_id))
        };
        state.audit(event).await;
        return Ok(true);
    }
    let (rendered, minted) = compose(&transaction, &mail.settings, &queued, now).await?;
    outbox::lease(&transaction, queued.id, now.saturating_add(LEASE_SECS)).await?;
    transaction.commit().await?;
    drop(client);
    match mail.mailer.send(&rendered).await {
        Ok(()) => {
            outbox::remove(&state.pool.get().await?, queued.id).await?;
            tracing::info!(mail = queued.id, kind = queued.kind.as_str(), "mail sent");
        }
        Err(err) => {
            // Never delivered: its token must not outlive it.
            if let Some(digest) = minted {
                account_tokens::forget(&state.pool, &digest).await?;
            }
            let failures = queued.attempts.saturating_add(1);
            let next = now.saturating_add(mail.settings.backoff_secs(failures));
            outbox::retry_at(&state.pool, queued.id, next, &err.0).await?;
            tracing::warn!(mail = queued.id, kind = queued.kind.as_str(), failures, err = %err, "mail not sent; retried later");
        }
    }
    Ok(true)
}

/// The mail for `queued`, and the digest of the token minted for its link (in `transaction`): the
/// token itself exists nowhere else but in the mail.
async fn compose(
    transaction: &deadpool_postgres::Transaction<'_>,
    settings: &MailSettings,
    queued: &Queued,
    now: u64,
) -> Result<(Mail, Option<[u8; 32]>), StoreError> {
    let username = queued.username.as_str();
    let (purpose, page, ttl) = match queued.kind {
        MailKind::ResetPassword => (Purpose::ResetPassword, "reset-password", RESET_TTL_SECS),
        MailKind::VerifyEmail => (Purpose::VerifyEmail, "verify", VERIFY_TTL_SECS),
        MailKind::PasswordChanged
        | MailKind::MfaEnabled
        | MailKind::MfaDisabled
        | MailKind::RecoveryCodeUsed
        | MailKind::MfaFailures => {
            // When it happened: the mail was queued then, whenever it goes out.
            let when = chrono::DateTime::from_timestamp(i64::try_from(queued.created_at).unwrap_or(0), 0)
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            let values = [("username", username), ("when", when.as_str()), ("detail", queued.detail.as_str())];
            return Ok((templates::render(queued.kind, &queued.address, &values), None));
        }
        MailKind::EmailChangeRequested | MailKind::EmailChanged => {
            let values = [("username", username), ("new_email", queued.detail.as_str())];
            return Ok((templates::render(queued.kind, &queued.address, &values), None));
        }
    };
    let secret = TokenService::random_secret();
    // A fresh secret always has a digest.
    let digest = shared::secret::digest(&secret).unwrap_or_default();
    let token = NewToken { digest, user_id: queued.user_id, purpose, address: &queued.address, expires_at: now + ttl };
    account_tokens::mint(transaction, &token).await?;
    // In the fragment: a browser never sends it, so no server's or CDN's log sees the token.
    let link = format!("{}/{page}#token={secret}", settings.public_url);
    let (minutes, hours) = ((ttl / 60).to_string(), (ttl / 3600).to_string());
    let values = [
        ("username", username),
        ("link", link.as_str()),
        ("minutes", minutes.as_str()),
        ("hours", hours.as_str()),
        ("email", queued.address.as_str()),
    ];
    Ok((templates::render(queued.kind, &queued.address, &values), Some(digest)))
}
