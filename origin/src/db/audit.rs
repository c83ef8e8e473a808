//! The `audit_events` table: security events, appended and read back a page at a time.

use std::net::IpAddr;

use deadpool_postgres::Pool;
use shared::api::AuditEventOut;
use shared::domain::UserId;

use super::StoreError;

/// What happened. The names are the `event` column's values and the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginSucceeded,
    LoginFailed,
    LoginLocked,
    LoginUnlocked,
    DeviceForgotten,
    RefreshReuseDetected,
    PasswordChanged,
    RoleChanged,
    ActiveChanged,
    Logout,
    LogoutAll,
    SessionsEnded,
    UserDeleted,
    PasswordResetRequested,
    PasswordReset,
    VerifyRequested,
    EmailVerified,
    EmailChangeRequested,
    EmailChanged,
    /// A request for a mail held back by its rate limit (answered 202 all the same).
    MailRequestThrottled,
    /// A mail given up after `MAIL_MAX_AGE_SECS` of failed deliveries.
    MailUndeliverable,
    MfaEnabled,
    MfaDisabled,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LoginLocked => "login_locked",
            Self::LoginUnlocked => "login_unlocked",
            Self::DeviceForgotten => "device_forgotten",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::PasswordChanged => "password_changed",
            Self::RoleChanged => "role_changed",
            Self::ActiveChanged => "active_changed",
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::SessionsEnded => "sessions_ended",
            Self::UserDeleted => "user_deleted",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::VerifyRequested => "verify_requested",
            Self::EmailVerified => "email_verified",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::MailRequestThrottled => "mail_request_throttled",
            Self::MailUndeliverable => "mail_undeliverable",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
        }
    }
}

/// One event to record; fields that do not apply stay `None`.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: Kind,
    /// Whom it concerns.
    pub user_id: Option<UserId>,
    /// Who did it, when not the user themself (an admin).
    pub actor_id: Option<UserId>,
    /// The name a failed login tried (it may belong to nobody).
    pub username: Option<String>,
    pub session_id: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub detail: String,
}

impl Event {
    pub fn new(kind: Kind, user_id: Option<UserId>) -> Self {
        Self { kind, user_id, actor_id: None, username: None, session_id: None, client_ip: None, detail: String::new() }
    }
}

/// Deletes the events recorded before `before` (seconds since the epoch).
pub async fn purge(pool: &Pool, before: u64) -> Result<u64, StoreError> {
    let condition = "at < to_timestamp($1::bigint) AT TIME ZONE 'utc'";
    super::purge_batches(pool, "audit_events", condition, super::secs(before)).await
}

pub async fn record(pool: &Pool, event: &Event) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "INSERT INTO audit_events (event, user_id, actor_id, username, session_id, client_ip, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let ip = event.client_ip.map(|ip| ip.to_string());
    client
        .execute(
            &stmt,
            &[
                &event.kind.as_str(),
                &event.user_id.map(|id| id.0),
                &event.actor_id.map(|id| id.0),
                &event.username,
                &event.session_id,
                &ip,
                &event.detail,
            ],
        )
        .await?;
    Ok(())
}

/// The newest events first, as the API shows them: up to `limit` with an id below `before` (all
/// when `None`), only those concerning `user` when given.
pub async fn page(
    pool: &Pool,
    limit: i64,
    before: Option<i64>,
    user: Option<UserId>,
) -> Result<Vec<AuditEventOut>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT id, at, event, user_id, actor_id, username, session_id, client_ip, detail
             FROM audit_events
             WHERE ($2::bigint IS NULL OR id < $2) AND ($3::bigint IS NULL OR user_id = $3)
             ORDER BY id DESC LIMIT $1",
        )
        .await?;
    let rows = client.query(&stmt, &[&limit, &before, &user.map(|u| u.0)]).await?;
    rows.iter()
        .map(|row| {
            Ok(AuditEventOut {
                id: row.try_get("id")?,
                at: super::api_date(&row.try_get("at")?),
                event: row.try_get("event")?,
                user_id: row.try_get("user_id")?,
                actor_id: row.try_get("actor_id")?,
                username: row.try_get("username")?,
                session_id: row.try_get("session_id")?,
                client_ip: row.try_get("client_ip")?,
                detail: row.try_get("detail")?,
            })
        })
        .collect()
}
