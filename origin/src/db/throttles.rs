//! The `throttles` table: one [`Counter`] per key, changed under the row's lock so that
//! concurrent failures all count.

use deadpool_postgres::Pool;

use super::{StoreError, secs};
use crate::throttle::{Counter, Policy};

fn unsigned<T: TryFrom<i64> + Default>(value: i64) -> T {
    T::try_from(value).unwrap_or_default()
}

/// Applies `change` to `key`'s counter under the row's lock and stores the result; answers what
/// `change` answered.
pub async fn update<R>(
    pool: &Pool,
    key: &str,
    policy: &Policy,
    change: impl FnOnce(Counter) -> (Counter, R),
) -> Result<R, StoreError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    // The no-op update takes the row's lock whether it was just made or not, and a row another
    // request deletes meanwhile (a success, a purge) is simply made again.
    let row = transaction
        .query_one(
            "INSERT INTO throttles (key) VALUES ($1) ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
             RETURNING window_start, count, blocked_until, strikes",
            &[&key],
        )
        .await?;
    let stored = Counter {
        window_start: unsigned(row.try_get("window_start")?),
        count: unsigned(i64::from(row.try_get::<_, i32>("count")?)),
        blocked_until: unsigned(row.try_get("blocked_until")?),
        strikes: unsigned(i64::from(row.try_get::<_, i32>("strikes")?)),
    };
    let (counter, answer) = change(stored);
    let count = i32::try_from(counter.count).unwrap_or(i32::MAX);
    let strikes = i32::try_from(counter.strikes).unwrap_or(i32::MAX);
    transaction
        .execute(
            "UPDATE throttles SET window_start = $2, count = $3, blocked_until = $4, strikes = $5, expires_at = $6
             WHERE key = $1",
            &[
                &key,
                &secs(counter.window_start),
                &count,
                &secs(counter.blocked_until),
                &strikes,
                &secs(counter.expires_at(policy)),
            ],
        )
        .await?;
    transaction.commit().await?;
    Ok(answer)
}

/// Forgets `key` (a successful login clears its username's failures).
pub async fn clear(pool: &Pool, key: &str) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.execute("DELETE FROM throttles WHERE key = $1", &[&key]).await?;
    Ok(())
}

/// Deletes the rows that no longer matter at `now`; how many.
pub async fn purge(pool: &Pool, now: u64) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    Ok(client.execute("DELETE FROM throttles WHERE expires_at < $1", &[&secs(now)]).await?)
}
