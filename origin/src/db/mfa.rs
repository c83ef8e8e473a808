//! The second factor's tables: `mfa_factors` (a user's TOTP factor, its secret sealed),
//! `mfa_recovery_codes` (digests, each spent once) and `mfa_challenges` (logins waiting for their
//! second factor). Every "once" is one `UPDATE … WHERE` that only one of any number of concurrent
//! requests can win.

use deadpool_postgres::{GenericClient, Pool};
use shared::domain::UserId;

use super::{StoreError, secs};
use crate::sealing::Sealed;

/// A TOTP factor.
#[derive(Debug, Clone)]
pub struct Factor {
    pub id: String,
    pub user_id: UserId,
    pub sealed: Sealed,
    pub created_at: u64,
    pub confirmed: bool,
}

const FACTOR_COLUMNS: &str = "id, user_id, kid, sealed_secret, created_at, confirmed_at";

fn factor(row: &tokio_postgres::Row) -> Result<Factor, StoreError> {
    Ok(Factor {
        id: row.try_get("id")?,
        user_id: UserId(row.try_get("user_id")?),
        sealed: Sealed { kid: row.try_get("kid")?, bytes: row.try_get("sealed_secret")? },
        created_at: u64::try_from(row.try_get::<_, i64>("created_at")?).unwrap_or(0),
        confirmed: row.try_get::<_, Option<i64>>("confirmed_at")?.is_some(),
    })
}

/// The user's confirmed factor, if any.
pub async fn confirmed(pool: &Pool, user: UserId) -> Result<Option<Factor>, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {FACTOR_COLUMNS} FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL"
        ))
        .await?;
    client.query_opt(&stmt, &[&user.0]).await?.as_ref().map(factor).transpose()
}

/// The user's enrolment in progress begun after `since`, if any.
pub async fn pending(pool: &Pool, user: UserId, since: u64) -> Result<Option<Factor>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT {FACTOR_COLUMNS} FROM mfa_factors
                 WHERE user_id = $1 AND confirmed_at IS NULL AND created_at > $2
                 ORDER BY created_at DESC LIMIT 1"
            ),
            &[&user.0, &secs(since)],
        )
        .await?;
    row.as_ref().map(factor).transpose()
}

/// Stores a new enrolment, replacing any other one in progress.
pub async fn begin(pool: &Pool, new: &Factor) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    transaction
        .execute("DELETE FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NULL", &[&new.user_id.0])
        .await?;
    transaction
        .execute(
            "INSERT INTO mfa_factors (id, user_id, kid, sealed_secret, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&new.id, &new.user_id.0, &new.sealed.kid, &new.sealed.bytes, &secs(new.created_at)],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Confirms enrolment `factor` with the code of time step `step`: it replaces the user's
/// confirmed factor, if any, and `codes` (digests) become the user's recovery codes. `false` if
/// the enrolment is gone (confirmed or replaced meanwhile).
pub async fn confirm(
    client: &impl GenericClient,
    factor: &Factor,
    step: u64,
    now: u64,
    codes: &[[u8; 32]],
) -> Result<bool, StoreError> {
    // The old factor goes only if this enrolment is still there to take its place.
    client
        .execute(
            "DELETE FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL AND id <> $2
             AND EXISTS (SELECT 1 FROM mfa_factors WHERE id = $2 AND confirmed_at IS NULL)",
            &[&factor.user_id.0, &factor.id],
        )
        .await?;
    let confirmed = client
        .execute(
            "UPDATE mfa_factors SET confirmed_at = $2, last_used_step = $3 WHERE id = $1 AND confirmed_at IS NULL",
            &[&factor.id, &secs(now), &secs(step)],
        )
        .await?;
    if confirmed == 0 {
        return Ok(false);
    }
    replace_codes(client, factor.user_id, &factor.id, codes).await?;
    Ok(true)
}

/// Makes `codes` the user's recovery codes, voiding the earlier set.
pub async fn replace_codes(
    client: &impl GenericClient,
    user: UserId,
    factor_id: &str,
    codes: &[[u8; 32]],
) -> Result<(), StoreError> {
    client.execute("DELETE FROM mfa_recovery_codes WHERE user_id = $1", &[&user.0]).await?;
    for digest in codes {
        client
            .execute(
                "INSERT INTO mfa_recovery_codes (digest, user_id, factor_id) VALUES ($1, $2, $3)",
                &[&digest.as_slice(), &user.0, &factor_id],
            )
            .await?;
    }
    Ok(())
}

/// Accepts time step `step` for `factor` if no step as late was accepted before: each step once,
/// whatever else runs at the same time.
pub async fn accept_step(pool: &Pool, factor: &str, step: u64) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let stmt = client
        .prepare_cached("UPDATE mfa_factors SET last_used_step = $2 WHERE id = $1 AND last_used_step < $2")
        .await?;
    Ok(client.execute(&stmt, &[&factor, &secs(step)]).await? == 1)
}

/// Spends the user's recovery code `digest`; `false` if it is not theirs or was spent.
pub async fn spend_code(pool: &Pool, user: UserId, digest: &[u8; 32], now: u64) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let spent = client
        .execute(
            "UPDATE mfa_recovery_codes SET used_at = $3 WHERE digest = $1 AND user_id = $2 AND used_at IS NULL",
            &[&digest.as_slice(), &user.0, &secs(now)],
        )
        .await?;
    Ok(spent == 1)
}

/// How many of the user's recovery codes are left.
pub async fn codes_left(pool: &Pool, user: UserId) -> Result<i64, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL", &[&user.0])
        .await?;
    Ok(row.try_get(0)?)
}

/// Removes every factor of the user, their recovery codes with them; how many factors.
pub async fn remove(pool: &Pool, user: UserId) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    client.execute("DELETE FROM mfa_challenges WHERE user_id = $1", &[&user.0]).await?;
    Ok(client.execute("DELETE FROM mfa_factors WHERE user_id = $1", &[&user.0]).await?)
}

/// A login waiting for its second factor.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub user_id: UserId,
    pub failures: u32,
    pub device_id: Option<i64>,
    pub source: Option<String>,
}

/// Stores a login's `mfa_token` (its digest), live until `expires_at`.
pub async fn open_challenge(
    pool: &Pool,
    digest: &[u8; 32],
    user: UserId,
    expires_at: u64,
    device_id: Option<i64>,
    source: Option<&str>,
) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO mfa_challenges (digest, user_id, expires_at, device_id, source) VALUES ($1, $2, $3, $4, $5)",
            &[&digest.as_slice(), &user.0, &secs(expires_at), &device_id, &source],
        )
        .await?;
    Ok(())
}

/// The live challenge `digest` at `now`: not spent, not expired, not killed by wrong codes.
pub async fn challenge(
    pool: &Pool,
    digest: &[u8; 32],
    now: u64,
    max_failures: u32,
) -> Result<Option<Challenge>, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT user_id, failures, device_id, source FROM mfa_challenges
             WHERE digest = $1 AND used_at IS NULL AND expires_at > $2 AND failures < $3",
            &[&digest.as_slice(), &secs(now), &i32::try_from(max_failures).unwrap_or(i32::MAX)],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Challenge {
        user_id: UserId(row.try_get("user_id")?),
        failures: u32::try_from(row.try_get::<_, i32>("failures")?).unwrap_or(0),
        device_id: row.try_get("device_id")?,
        source: row.try_get("source")?,
    }))
}

/// Counts a wrong code against challenge `digest`; the failures now.
pub async fn fail_challenge(pool: &Pool, digest: &[u8; 32]) -> Result<u32, StoreError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "UPDATE mfa_challenges SET failures = failures + 1 WHERE digest = $1 RETURNING failures",
            &[&digest.as_slice()],
        )
        .await?;
    Ok(row.map(|row| row.try_get::<_, i32>(0)).transpose()?.map_or(0, |n| u32::try_from(n).unwrap_or(0)))
}

/// Spends challenge `digest`; `false` if another request spent it first.
pub async fn spend_challenge(pool: &Pool, digest: &[u8; 32], now: u64) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let spent = client
        .execute(
            "UPDATE mfa_challenges SET used_at = $2 WHERE digest = $1 AND used_at IS NULL",
            &[&digest.as_slice(), &secs(now)],
        )
        .await?;
    Ok(spent == 1)
}

/// Deletes challenges past their expiry and enrolments never confirmed older than `stale_before`.
pub async fn purge(pool: &Pool, now: u64, stale_before: u64) -> Result<u64, StoreError> {
    let challenges = super::purge_batches(pool, "mfa_challenges", "expires_at < $1", secs(now)).await?;
    let enrolments =
        super::purge_batches(pool, "mfa_factors", "confirmed_at IS NULL AND created_at < $1", secs(stale_before))
            .await?;
    Ok(challenges + enrolments)
}
