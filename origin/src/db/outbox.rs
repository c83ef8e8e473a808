//! The `mail_outbox` table: mails to send, as intents (whom, what, to which address) that hold no
//! token or link. Requests write here and return; the delivery worker (`crate::mail::delivery`)
//! takes due rows one at a time, locked `SKIP LOCKED` so several origins share the work.

use deadpool_postgres::{GenericClient, Pool, Transaction};
use shared::domain::UserId;

use super::StoreError;

/// What a mail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A link to choose a new password.
    ResetPassword,
    /// A link to confirm an address (a new account's, or one an email change waits for).
    VerifyEmail,
    /// A notice: the password was changed.
    PasswordChanged,
    /// A notice to the old address: a change to another was asked for.
    EmailChangeRequested,
    /// A notice to the old address: the change applied.
    EmailChanged,
    /// A notice: a second factor was turned on.
    MfaEnabled,
    /// A notice: the second factor was turned off (`detail`: by whom).
    MfaDisabled,
    /// A notice: a recovery code was used (`detail`: how many are left).
    RecoveryCodeUsed,
    /// A notice: a right password, then wrong codes (`detail`: how many).
    MfaFailures,
}

impl MailKind {
    pub const ALL: [Self; 9] = [
        Self::ResetPassword,
        Self::VerifyEmail,
        Self::PasswordChanged,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::RecoveryCodeUsed,
        Self::MfaFailures,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ResetPassword => "reset_password",
            Self::VerifyEmail => "verify_email",
            Self::PasswordChanged => "password_changed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::MfaFailures => "mfa_failures",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// A mail waiting in the outbox.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub user_id: UserId,
    pub kind: MailKind,
    pub address: String,
    pub detail: String,
    pub created_at: u64,
    pub attempts: u32,
    /// The user's name, for the mail's greeting.
    pub username: String,
}

/// Queues a reset link for the active account whose address is `email`, and for any other address
/// a row without a user that the worker drops: the same statement, the same write, so the answer
/// time tells nothing. It also voids the account's earlier reset tokens. The user, if there is one.
pub async fn request_reset(client: &Transaction<'_>, email: &str, now: u64) -> Result<Option<UserId>, StoreError> {
    let stmt = client
        .prepare_cached(
            "WITH target AS (
                SELECT id, email FROM users WHERE lower(email) = lower($1) AND active
             ), voided AS (
                DELETE FROM account_tokens t USING target
                WHERE t.user_id = target.id AND t.purpose = 'reset_password' AND t.used_at IS NULL
             )
             INSERT INTO mail_outbox (user_id, kind, address, created_at, next_attempt_at)
             SELECT target.id, 'reset_password', coalesce(target.email, 'nobody'), $2, $2
             FROM (VALUES (1)) AS one (n) LEFT JOIN target ON TRUE
             RETURNING user_id",
        )
        .await?;
    let row = client.query_one(&stmt, &[&email, &super::secs(now)]).await?;
    Ok(row.try_get::<_, Option<i64>>("user_id")?.map(UserId))
}

/// Queues a confirmation link for `email` when an active account has it as its unconfirmed
/// address or as the address it waits to change to; otherwise a row the worker drops, as
/// [`request_reset`] does.
pub async fn request_verify(client: &Transaction<'_>, email: &str, now: u64) -> Result<Option<UserId>, StoreError> {
    let stmt = client
        .prepare_cached(
            "WITH target AS (
                SELECT id, CASE WHEN lower(pending_email) = lower($1) THEN pending_email ELSE email END AS address
                FROM users
                WHERE active AND ((lower(email) = lower($1) AND NOT email_verified) OR lower(pending_email) = lower($1))
                ORDER BY lower(email) = lower($1) DESC, id
                LIMIT 1
             )
             INSERT INTO mail_outbox (user_id, kind, address, created_at, next_attempt_at)
             SELECT target.id, 'verify_email', coalesce(target.address, 'nobody'), $2, $2
             FROM (VALUES (1)) AS one (n) LEFT JOIN target ON TRUE
             RETURNING user_id",
        )
        .await?;
    let row = client.query_one(&stmt, &[&email, &super::secs(now)]).await?;
    Ok(row.try_get::<_, Option<i64>>("user_id")?.map(UserId))
}

/// Queues a mail of `kind` for `user` to `address`; `detail` is what a notice names besides.
pub async fn queue(
    client: &impl GenericClient,
    user: UserId,
    kind: MailKind,
    address: &str,
    detail: &str,
    now: u64,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO mail_outbox (user_id, kind, address, detail, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
            &[&user.0, &kind.as_str(), &address, &detail, &super::secs(now)],
        )
        .await?;
    Ok(())
}

/// The next mail due at `now`, locked in `transaction` until it commits (sent, or given up) or
/// rolls back; mails another origin holds are skipped.
pub async fn next_due(transaction: &Transaction<'_>, now: u64) -> Result<Option<Queued>, StoreError> {
    let row = transaction
        .query_opt(
            "SELECT o.id, o.user_id, o.kind, o.address, o.detail, o.created_at, o.attempts, u.username
             FROM mail_outbox o JOIN users u ON u.id = o.user_id
             WHERE o.next_attempt_at <= $1
             ORDER BY o.next_attempt_at, o.id
             LIMIT 1
             FOR UPDATE OF o SKIP LOCKED",
            &[&super::secs(now)],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let kind: String = row.try_get("kind")?;
    let created_at: i64 = row.try_get("created_at")?;
    let attempts: i32 = row.try_get("attempts")?;
    Ok(Some(Queued {
        id: row.try_get("id")?,
        user_id: UserId(row.try_get("user_id")?),
        kind: MailKind::parse(&kind).ok_or(StoreError::UnknownMailKind(kind))?,
        address: row.try_get("address")?,
        detail: row.try_get("detail")?,
        created_at: u64::try_from(created_at).unwrap_or(0),
        attempts: u32::try_from(attempts).unwrap_or(0),
        username: row.try_get("username")?,
    }))
}

/// Drops the rows of requests for addresses no account has, and of users deleted since; how many.
pub async fn drop_unaddressed(pool: &Pool) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "DELETE FROM mail_outbox o
             WHERE o.user_id IS NULL OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id)",
        )
        .await?;
    Ok(client.execute(&stmt, &[]).await?)
}

/// Removes mail `id`: sent, or given up.
pub async fn remove(client: &impl GenericClient, id: i64) -> Result<(), StoreError> {
    client.execute("DELETE FROM mail_outbox WHERE id = $1", &[&id]).await?;
    Ok(())
}

/// Leaves mail `id` to the worker that claimed it until `until`: no other worker takes it before.
pub async fn lease(client: &impl GenericClient, id: i64, until: u64) -> Result<(), StoreError> {
    client.execute("UPDATE mail_outbox SET next_attempt_at = $2 WHERE id = $1", &[&id, &super::secs(until)]).await?;
    Ok(())
}

/// Records a failed delivery of mail `id` and when to try again.
pub async fn retry_at(pool: &Pool, id: i64, next_attempt_at: u64, error: &str) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = left($3, 500)
             WHERE id = $1",
            &[&id, &super::secs(next_attempt_at), &error],
        )
        .await?;
    Ok(())
}
