//! The two routes that ask for a mailed link (`POST /auth/forgot-password`,
//! `POST /auth/request-verify-token`). Whatever the address (an account's, nobody's, one held back
//! by its limit) the answer is the same 202 after the same work: one transaction that counts the
//! limits and runs one statement that queues a row, a mail's or one the worker drops (each commits
//! once, with one flush of the log, the same writes), then one audit event. A mail is never sent
//! from here. BENCHMARKS.md measures both kinds.

use std::net::IpAddr;

use shared::api::EmailRequest;

use super::limits::{self, MailRoute};
use super::{AuthError, Caller};
use crate::db::{audit, outbox};
use crate::state::AppState;

/// Queues the mail `route` sends to `body.email`, if an account should get one.
pub async fn request(
    state: &AppState,
    route: MailRoute,
    body: &EmailRequest,
    caller: &Caller,
) -> Result<(), AuthError> {
    let email = body.parse()?;
    if state.mail.is_none() {
        return Ok(());
    }
    let email = email.as_ref();
    let now = state.clock.now();
    let mut client = state.pool.get().await?;
    let transaction = client.transaction().await?;
    if !limits::mail_request_in(state, &transaction, route, caller.ip, email, now).await? {
        transaction.commit().await?;
        drop(client);
        state.audit(event(audit::Kind::MailRequestThrottled, None, caller.ip, route.as_str())).await;
        return Ok(());
    }
    let (queued, kind) = match route {
        MailRoute::ForgotPassword => {
            (outbox::request_reset(&transaction, email, now).await?, audit::Kind::PasswordResetRequested)
        }
        MailRoute::RequestVerify => {
            (outbox::request_verify(&transaction, email, now).await?, audit::Kind::VerifyRequested)
        }
    };
    transaction.commit().await?;
    drop(client);
    // Rung for every address: the worker has a row to drop when there is no mail to send.
    state.mail_queued();
    // Only admins read the log; the client's answer is the same either way.
    let detail = if queued.is_some() { "mail queued" } else { "no account to mail" };
    state.audit(event(kind, queued, caller.ip, detail)).await;
    Ok(())
}

fn event(kind: audit::Kind, user: Option<shared::domain::UserId>, ip: Option<IpAddr>, detail: &str) -> audit::Event {
    audit::Event { client_ip: ip, detail: detail.to_owned(), ..audit::Event::new(kind, user) }
}
