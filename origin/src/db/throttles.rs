//! The `throttles` table: one [`Counter`] per key, changed under the rows' locks so that
//! concurrent attempts all count.

use deadpool_postgres::{Pool, Transaction};

use super::{StoreError, secs};
use crate::throttle::{Counter, Policy};

fn unsigned<T: TryFrom<i64> + Default>(value: i64) -> T {
    T::try_from(value).unwrap_or_default()
}

fn small(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Applies `change` to `key`'s counter under the row's lock and stores the result; answers what
/// `change` answered.
pub async fn update<R>(
    pool: &Pool,
    key: &str,
    policy: &Policy,
    change: impl FnOnce(Counter) -> (Counter, R),
) -> Result<R, StoreError> {
    update_all(pool, &[(key, policy)], |counters| {
        let (counter, answer) = change(counters[0]);
        counters[0] = counter;
        answer
    })
    .await
}

/// Applies `change` to the counters of `keys` (in that order) in one transaction, under the
/// rows' locks, and stores what it leaves; answers what `change` answered. The rows are locked in
/// the order of their keys, so two requests over overlapping keys never deadlock.
pub async fn update_all<R>(
    pool: &Pool,
    keys: &[(&str, &Policy)],
    change: impl FnOnce(&mut [Counter]) -> R,
) -> Result<R, StoreError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let answer = update_in(&transaction, keys, change).await?;
    transaction.commit().await?;
    Ok(answer)
}

/// [`update_all`] within `transaction`, the caller's: the rows stay locked until it ends, and
/// nothing is stored unless it commits. A caller that already holds other rows' locks (a refresh
/// holds its session's) must never be one that other code locks after counters, or two requests
/// could wait for each other: today only sessions come first, and nothing locks a session after
/// a counter.
pub async fn update_in<R>(
    transaction: &Transaction<'_>,
    keys: &[(&str, &Policy)],
    change: impl FnOnce(&mut [Counter]) -> R,
) -> Result<R, StoreError> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| keys[i].0);
    let upsert = transaction
        .prepare_cached(
            // The no-op update takes the row's lock whether it was just made or not, and a row
            // another request deletes meanwhile (a purge) is simply made again.
            "INSERT INTO throttles (key) VALUES ($1) ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
             RETURNING window_start, count, blocked_until, strikes, in_flight, in_flight_until",
        )
        .await?;
    let mut counters = vec![Counter::default(); keys.len()];
    for &i in &order {
        let row = transaction.query_one(&upsert, &[&keys[i].0]).await?;
        counters[i] = Counter {
            window_start: unsigned(row.try_get("window_start")?),
            count: unsigned(i64::from(row.try_get::<_, i32>("count")?)),
            blocked_until: unsigned(row.try_get("blocked_until")?),
            strikes: unsigned(i64::from(row.try_get::<_, i32>("strikes")?)),
            in_flight: unsigned(i64::from(row.try_get::<_, i32>("in_flight")?)),
            in_flight_until: unsigned(row.try_get("in_flight_until")?),
        };
    }
    let before = counters.clone();
    let answer = change(&mut counters);
    let store = transaction
        .prepare_cached(
            "UPDATE throttles SET window_start = $2, count = $3, blocked_until = $4, strikes = $5,
                in_flight = $6, in_flight_until = $7, expires_at = $8
             WHERE key = $1",
        )
        .await?;
    for &i in &order {
        let (key, policy) = keys[i];
        let counter = counters[i];
        if counter == before[i] {
            continue;
        }
        transaction
            .execute(
                &store,
                &[
                    &key,
                    &secs(counter.window_start),
                    &small(counter.count),
                    &secs(counter.blocked_until),
                    &small(counter.strikes),
                    &small(counter.in_flight),
                    &secs(counter.in_flight_until),
                    &secs(counter.expires_at(policy)),
                ],
            )
            .await?;
    }
    Ok(answer)
}

/// Deletes the rows that no longer matter at `now`; how many.
pub async fn purge(pool: &Pool, now: u64) -> Result<u64, StoreError> {
    super::purge_batches(pool, "throttles", "expires_at < $1", secs(now)).await
}

/// Forgets every counter whose key starts with `prefix` (a reset lifting an account's locks on
/// each of its sources); how many. A scan of the table, which holds only live counters.
pub async fn clear_prefix(pool: &Pool, prefix: &str) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    Ok(client.execute("DELETE FROM throttles WHERE left(key, char_length($1)) = $1", &[&prefix]).await?)
}
