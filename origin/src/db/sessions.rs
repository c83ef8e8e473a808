//! The `sessions` table: one row per token family, its live generation, and how it ended.
//! Rotation happens under the row's lock, so concurrent refreshes of one token find one winner
//! and never fork the family.

use std::net::IpAddr;

use chrono::NaiveDateTime;
use deadpool_postgres::{Pool, Transaction};
use shared::api::SessionOut;
use shared::assurance::{Assurance, SecondFactor};
use shared::domain::UserId;
use shared::session::{Ticket, Verdict, judge};

use super::users::{COLUMNS, User};
use super::{StoreError, api_date, secs};

/// Why a session ended (the `end_reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    LogoutAll,
    Reuse,
    Admin,
    PasswordChange,
    /// A second factor turned on: every other session of the user ends.
    SecondFactor,
}

impl EndReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::Reuse => "reuse",
            Self::Admin => "admin",
            Self::PasswordChange => "password_change",
            Self::SecondFactor => "second_factor",
        }
    }
}

/// A new session's facts.
pub struct NewSession<'a> {
    pub user_id: UserId,
    pub now: u64,
    /// How long its refresh tokens live (`REFRESH_TOKEN_TTL_SECS`).
    pub ttl_secs: u64,
    pub user_agent: &'a str,
    pub client_ip: Option<IpAddr>,
    /// How the user authenticated.
    pub assurance: Assurance,
}

/// What a refresh did to its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The pair to sign: the next generation, or the live one again (a repeat in the grace window).
    Issued(Ticket),
    /// A spent token came back: the session has been ended.
    Reused,
}

/// A live session as its owner sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub user_agent: String,
    pub client_ip: Option<String>,
}

impl Session {
    /// The API's view; `current` when it is the session of the token asking.
    pub fn to_out(&self, current_sid: &str) -> SessionOut {
        SessionOut {
            current: self.id == current_sid,
            id: self.id.clone(),
            created_at: api_date(&self.created_at),
            last_used_at: api_date(&self.last_used_at),
            user_agent: self.user_agent.clone(),
            client_ip: self.client_ip.clone(),
        }
    }
}

/// Starts a session at generation 0 and answers its first ticket.
pub async fn start(pool: &Pool, session: NewSession<'_>) -> Result<Ticket, StoreError> {
    let client = pool.get().await?;
    let sid = shared::token::TokenService::random_id();
    let now = secs(session.now);
    let stmt = client
        .prepare_cached(
            "INSERT INTO sessions
                (id, user_id, issued_at, expires_at, created_at, last_used_at, user_agent, client_ip,
                 second_factor, auth_time)
             VALUES ($1, $2, $3, $3::bigint + $4::bigint, to_timestamp($3::bigint) AT TIME ZONE 'utc',
                     to_timestamp($3::bigint) AT TIME ZONE 'utc', $5, $6, $7, $8)",
        )
        .await?;
    let user_agent: String = session.user_agent.chars().take(512).collect();
    let ip = session.client_ip.map(|ip| ip.to_string());
    let (factor, auth_time) = (session.assurance.factor.as_str(), secs(session.assurance.auth_time));
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] =
        [&sid, &session.user_id.0, &now, &secs(session.ttl_secs), &user_agent, &ip, &factor, &auth_time];
    client.execute(&stmt, &params).await?;
    Ok(Ticket { sid, generation: 0, issued_at: session.now, assurance: session.assurance })
}

/// A live session's current generation, read under its row's lock.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub generation: u32,
    pub issued_at: u64,
    /// As the session began (or was lifted); [`Assurance::at`] says what a pair gets of it.
    pub assurance: Assurance,
}

/// The rules a rotation follows.
#[derive(Debug, Clone, Copy)]
pub struct RotationRules {
    /// `REFRESH_REUSE_GRACE_SECS`.
    pub grace_secs: u64,
    /// `REFRESH_TOKEN_TTL_SECS`.
    pub ttl_secs: u64,
    /// `AAL2_MAX_AGE_SECS`.
    pub aal2_max_age_secs: u64,
}

/// Session `sid` of `user_id` if it lives at `now`, with its user, the session's row locked until
/// `transaction` ends: concurrent refreshes of one session rotate it one after the other.
pub async fn lock_live(
    transaction: &Transaction<'_>,
    sid: &str,
    user_id: UserId,
    now: u64,
) -> Result<Option<(User, Live)>, StoreError> {
    let stmt = transaction
        .prepare_cached(&format!(
            "WITH live AS (
                SELECT generation, issued_at, second_factor, auth_time FROM sessions
                WHERE id = $1 AND user_id = $2 AND ended_at IS NULL AND expires_at > $3
                FOR UPDATE
             )
             SELECT {COLUMNS}, live.generation, live.issued_at, live.second_factor, live.auth_time
             FROM users, live WHERE users.id = $2"
        ))
        .await?;
    let Some(row) = transaction.query_opt(&stmt, &[&sid, &user_id.0, &secs(now)]).await? else {
        return Ok(None);
    };
    let factor: String = row.try_get("second_factor")?;
    let live = Live {
        generation: u32::try_from(row.try_get::<_, i32>("generation")?).unwrap_or(0),
        issued_at: u64::try_from(row.try_get::<_, i64>("issued_at")?).unwrap_or(0),
        assurance: Assurance {
            factor: SecondFactor::parse(&factor).unwrap_or_default(),
            auth_time: u64::try_from(row.try_get::<_, i64>("auth_time")?).unwrap_or(0),
        },
    };
    Ok(Some((User::from_row(&row)?, live)))
}

/// Applies the rotation rule ([`judge`]) to session `sid`, locked by [`lock_live`] in
/// `transaction`, for a refresh token of generation `presented`.
pub async fn rotate(
    transaction: &Transaction<'_>,
    sid: &str,
    live: Live,
    presented: u32,
    now: u64,
    rules: RotationRules,
) -> Result<Rotation, StoreError> {
    let RotationRules { grace_secs, ttl_secs, aal2_max_age_secs } = rules;
    Ok(match judge(live.generation, live.issued_at, presented, now, grace_secs) {
        Verdict::Rotate => {
            let next = live.generation.checked_add(1).ok_or(StoreError::GenerationOverflow)?;
            let stmt = transaction
                .prepare_cached(
                    "UPDATE sessions SET generation = $2, issued_at = $3, expires_at = $3::bigint + $4::bigint,
                        last_used_at = to_timestamp($3::bigint) AT TIME ZONE 'utc'
                     WHERE id = $1",
                )
                .await?;
            let generation = i32::try_from(next).unwrap_or(i32::MAX);
            transaction.execute(&stmt, &[&sid, &generation, &secs(now), &secs(ttl_secs)]).await?;
            let assurance = live.assurance.at(now, aal2_max_age_secs);
            Rotation::Issued(Ticket { sid: sid.to_owned(), generation: next, issued_at: now, assurance })
        }
        Verdict::Repeat => Rotation::Issued(Ticket {
            sid: sid.to_owned(),
            generation: live.generation,
            issued_at: live.issued_at,
            assurance: live.assurance.at(live.issued_at, aal2_max_age_secs),
        }),
        Verdict::Reuse => {
            end_where(transaction, "id = $1", &[&sid], EndReason::Reuse).await?;
            Rotation::Reused
        }
    })
}

/// Lifts live session `sid` of `user_id` by a second factor given at `now`: the next generation,
/// issued now; `None` if the session is not live.
pub async fn lift(
    transaction: &Transaction<'_>,
    sid: &str,
    user_id: UserId,
    factor: SecondFactor,
    now: u64,
) -> Result<Option<Ticket>, StoreError> {
    let row = transaction
        .query_opt(
            "UPDATE sessions SET generation = generation + 1, issued_at = $3, second_factor = $4, auth_time = $3,
                last_used_at = to_timestamp($3::bigint) AT TIME ZONE 'utc'
             WHERE id = $1 AND user_id = $2 AND ended_at IS NULL AND expires_at > $3
             RETURNING generation",
            &[&sid, &user_id.0, &secs(now), &factor.as_str()],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let generation = u32::try_from(row.try_get::<_, i32>("generation")?).unwrap_or(0);
    Ok(Some(Ticket {
        sid: sid.to_owned(),
        generation,
        issued_at: now,
        assurance: Assurance { factor, auth_time: now },
    }))
}

/// Ends every session of `user_id` but `keep`.
pub async fn end_others(
    transaction: &Transaction<'_>,
    user_id: UserId,
    keep: &str,
    reason: EndReason,
) -> Result<u64, StoreError> {
    end_where(transaction, "user_id = $1 AND id <> $2", &[&user_id.0, &keep], reason).await
}

/// Ends session `sid` of `user_id`; whether it was live.
pub async fn end(pool: &Pool, user_id: UserId, sid: &str, reason: EndReason) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    Ok(end_where(&client, "id = $1 AND user_id = $2", &[&sid, &user_id.0], reason).await? > 0)
}

/// Ends every live session of `user_id`; how many there were.
pub async fn end_all(pool: &Pool, user_id: UserId, reason: EndReason) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    end_where(&client, "user_id = $1", &[&user_id.0], reason).await
}

async fn end_where(
    client: &impl deadpool_postgres::GenericClient,
    condition: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    reason: EndReason,
) -> Result<u64, StoreError> {
    let n = params.len() + 1;
    let sql = format!(
        "UPDATE sessions SET ended_at = clock_timestamp() AT TIME ZONE 'utc', end_reason = ${n}
         WHERE {condition} AND ended_at IS NULL"
    );
    let reason = reason.as_str();
    let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.to_vec();
    all.push(&reason);
    Ok(client.execute(sql.as_str(), &all).await?)
}

/// Deletes the sessions that ended or expired before `before` (seconds since the epoch).
pub async fn purge(pool: &Pool, before: u64) -> Result<u64, StoreError> {
    // Two statements, each a range scan of its own index, whatever the planner makes of an `OR`.
    let expired = super::purge_batches(pool, "sessions", "expires_at < $1", secs(before)).await?;
    let ended = "ended_at < to_timestamp($1::bigint) AT TIME ZONE 'utc'";
    Ok(expired + super::purge_batches(pool, "sessions", ended, secs(before)).await?)
}

/// The user's sessions that still live at `now`, the most recently used first.
pub async fn live(pool: &Pool, user_id: UserId, now: u64) -> Result<Vec<Session>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT id, created_at, last_used_at, user_agent, client_ip FROM sessions
             WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2
             ORDER BY last_used_at DESC, created_at DESC",
        )
        .await?;
    let rows = client.query(&stmt, &[&user_id.0, &secs(now)]).await?;
    rows.iter()
        .map(|row| {
            Ok(Session {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
                user_agent: row.try_get("user_agent")?,
                client_ip: row.try_get("client_ip")?,
            })
        })
        .collect()
}
