//! What an account knows of where its logins come from: its devices (by the digest of their
//! device tokens) and the addresses it logged in from. Both get through the lock that strangers'
//! failures put on the account (`auth::limits`); both are forgotten a while after their last
//! login, and at once with a new password or a logout everywhere.

use std::net::IpAddr;

use chrono::NaiveDateTime;
use deadpool_postgres::Pool;
use shared::domain::UserId;

use super::{StoreError, secs};

/// A device as its owner sees it.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: i64,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub user_agent: String,
    pub client_ip: Option<String>,
}

/// The devices an account keeps at most: a login past this forgets the least recently used.
pub const MAX_PER_USER: i64 = 20;

/// The id of `user_id`'s device with token digest `digest`, if it is known at `now`.
pub async fn find(pool: &Pool, user_id: UserId, digest: &[u8; 32], now: u64) -> Result<Option<i64>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT id FROM devices WHERE token_digest = $1 AND user_id = $2 AND expires_at > $3")
        .await?;
    let row = client.query_opt(&stmt, &[&digest.as_slice(), &user_id.0, &secs(now)]).await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

/// Whether `user_id` logged in from `source` (an address as the limits count it) lately.
pub async fn knows_source(pool: &Pool, user_id: UserId, source: &str, now: u64) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("SELECT 1 FROM known_sources WHERE user_id = $1 AND source = $2 AND expires_at > $3")
        .await?;
    Ok(client.query_opt(&stmt, &[&user_id.0, &source, &secs(now)]).await?.is_some())
}

/// What a successful login teaches the account.
pub struct Login<'a> {
    pub user_id: UserId,
    pub now: u64,
    /// How long the device and the source stay known without another login.
    pub ttl_secs: u64,
    /// The device the login came with, or the digest of the token to give a new one.
    pub device: Known,
    pub source: Option<&'a str>,
    pub user_agent: &'a str,
    pub client_ip: Option<IpAddr>,
}

/// A login's device.
pub enum Known {
    Device(i64),
    New([u8; 32]),
}

/// Records a successful login: the device (made, or its last use moved) and the source, in one
/// transaction; an account with more than [`MAX_PER_USER`] devices forgets the least recently used.
pub async fn remember(pool: &Pool, login: Login<'_>) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let (now, expires) = (secs(login.now), secs(login.now.saturating_add(login.ttl_secs)));
    let user_agent: String = login.user_agent.chars().take(512).collect();
    let ip = login.client_ip.map(|ip| ip.to_string());
    match login.device {
        Known::Device(id) => {
            let stmt = transaction
                .prepare_cached(
                    "UPDATE devices SET last_used_at = to_timestamp($2::bigint) AT TIME ZONE 'utc', expires_at = $3,
                        user_agent = $4, client_ip = $5
                     WHERE id = $1",
                )
                .await?;
            transaction.execute(&stmt, &[&id, &now, &expires, &user_agent, &ip]).await?;
        }
        Known::New(digest) => {
            let stmt = transaction
                .prepare_cached(
                    "INSERT INTO devices (user_id, token_digest, created_at, last_used_at, expires_at, user_agent, client_ip)
                     VALUES ($1, $2, to_timestamp($3::bigint) AT TIME ZONE 'utc',
                             to_timestamp($3::bigint) AT TIME ZONE 'utc', $4, $5, $6)",
                )
                .await?;
            transaction
                .execute(&stmt, &[&login.user_id.0, &digest.as_slice(), &now, &expires, &user_agent, &ip])
                .await?;
            let stmt = transaction
                .prepare_cached(
                    "DELETE FROM devices WHERE id IN (
                        SELECT id FROM devices WHERE user_id = $1
                        ORDER BY last_used_at DESC, id DESC OFFSET $2)",
                )
                .await?;
            transaction.execute(&stmt, &[&login.user_id.0, &MAX_PER_USER]).await?;
        }
    }
    if let Some(source) = login.source {
        let stmt = transaction
            .prepare_cached(
                "INSERT INTO known_sources (user_id, source, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, source) DO UPDATE SET expires_at = EXCLUDED.expires_at",
            )
            .await?;
        transaction.execute(&stmt, &[&login.user_id.0, &source, &expires]).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// Forgets device `id` of `user_id`; whether there was one.
pub async fn forget(pool: &Pool, user_id: UserId, id: i64) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached("DELETE FROM devices WHERE id = $1 AND user_id = $2").await?;
    Ok(client.execute(&stmt, &[&id, &user_id.0]).await? > 0)
}

/// Forgets every device and source of `user_id` (a new password, a logout everywhere); how many
/// devices there were.
pub async fn forget_all(pool: &Pool, user_id: UserId) -> Result<u64, StoreError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let devices = transaction.execute("DELETE FROM devices WHERE user_id = $1", &[&user_id.0]).await?;
    transaction.execute("DELETE FROM known_sources WHERE user_id = $1", &[&user_id.0]).await?;
    transaction.commit().await?;
    Ok(devices)
}

/// `user_id`'s devices known at `now`, the most recently used first.
pub async fn list(pool: &Pool, user_id: UserId, now: u64) -> Result<Vec<Device>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(
            "SELECT id, created_at, last_used_at, user_agent, client_ip FROM devices
             WHERE user_id = $1 AND expires_at > $2 ORDER BY last_used_at DESC, id DESC",
        )
        .await?;
    let rows = client.query(&stmt, &[&user_id.0, &secs(now)]).await?;
    rows.iter()
        .map(|row| {
            Ok(Device {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
                user_agent: row.try_get("user_agent")?,
                client_ip: row.try_get("client_ip")?,
            })
        })
        .collect()
}

/// Deletes the devices and sources forgotten by `now`; how many rows.
pub async fn purge(pool: &Pool, now: u64) -> Result<u64, StoreError> {
    let devices = super::purge_batches(pool, "devices", "expires_at < $1", secs(now)).await?;
    let sources = super::purge_batches(pool, "known_sources", "expires_at < $1", secs(now)).await?;
    Ok(devices + sources)
}
