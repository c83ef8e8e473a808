//! PostgreSQL: the pool, the migrations, and the one error type of the storage layer.

pub mod account_tokens;
pub mod audit;
pub mod devices;
pub mod mfa;
pub mod outbox;
pub mod sessions;
pub mod throttles;
pub mod users;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

refinery::embed_migrations!("../migrations");

/// Seconds since the epoch as PostgreSQL's BIGINT.
pub(crate) fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored UTC date as the API shows it, the seed's form: six fractional digits, no offset.
pub fn api_date(date: &chrono::NaiveDateTime) -> String {
    date.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// What can go wrong with storage, as far as a caller must tell the cases apart. Each failure
/// keeps the error it came from, so the log says what PostgreSQL or the pool said.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; the request may succeed later (503).
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A unique constraint refused the write (409).
    #[error("unique constraint {constraint} violated")]
    Conflict { constraint: String },
    /// PostgreSQL refused a statement for another reason.
    #[error("database error")]
    Query(#[source] tokio_postgres::Error),
    /// A role column holding neither `user` nor `admin`.
    #[error("unknown role {0:?} stored")]
    UnknownRole(String),
    /// A mail kind the outbox's CHECK constraint does not list.
    #[error("unknown mail kind {0:?} queued")]
    UnknownMailKind(String),
    /// A session rotated more often than its generation counter can count.
    #[error("session generation overflow")]
    GenerationOverflow,
    #[error("DATABASE_URL is not a valid connection string")]
    Url(#[source] tokio_postgres::Error),
    #[error("cannot build the database pool")]
    Pool(#[source] deadpool_postgres::BuildError),
    #[error("migration failed")]
    Migration(#[source] refinery::Error),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        let Some(state) = err.code() else {
            // No SQLSTATE: the connection itself failed or was closed.
            return Self::Unavailable(Box::new(err));
        };
        if *state == SqlState::UNIQUE_VIOLATION {
            let constraint = err.as_db_error().and_then(|e| e.constraint()).unwrap_or("unique").to_owned();
            return Self::Conflict { constraint };
        }
        // Class 08 (connection exception), 57P01-57P03 (shutdown, cannot connect now), 53300 (too
        // many connections).
        let code = state.code();
        if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300") {
            return Self::Unavailable(Box::new(err));
        }
        // tokio-postgres's Display says only "db error"; its source, the server's own words.
        Self::Query(err)
    }
}

impl From<PoolError> for StoreError {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Backend(e) => e.into(),
            other => Self::Unavailable(Box::new(other)),
        }
    }
}

/// A pool that fails fast (`timeout`) while the database is down, and heals by itself when it
/// comes back: a broken connection is dropped at its next checkout and a new one opened.
pub fn pool(database_url: &str, size: usize, timeout: Duration) -> Result<Pool, StoreError> {
    let pg: tokio_postgres::Config = database_url.parse().map_err(StoreError::Url)?;
    let manager = Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(StoreError::Pool)
}

/// Applies the SQL files of `migrations/` that this database has not seen yet.
pub async fn migrate(pool: &Pool) -> Result<usize, StoreError> {
    let mut client = pool.get().await?;
    let client: &mut tokio_postgres::Client = &mut client;
    let report = migrations::runner().run_async(client).await.map_err(StoreError::Migration)?;
    Ok(report.applied_migrations().len())
}

/// Rows a purge deletes in one statement: a batch holds its locks and its share of the WAL for
/// milliseconds, and requests go on between batches.
const PURGE_BATCH: i64 = 5_000;

/// Deletes the rows of `table` that match `condition` (over `param`, `$1`), [`PURGE_BATCH`] at a
/// time, found through the condition's index; how many. Built from constant text only.
///
/// Planned afresh each run (never a cached statement): a generic plan cannot know how few rows
/// `$1` selects and scans the table. Rows a request holds are skipped, left for the next run:
/// the purge never waits for a request, nor deadlocks with one.
async fn purge_batches(
    pool: &Pool,
    table: &'static str,
    condition: &'static str,
    param: i64,
) -> Result<u64, StoreError> {
    let client = pool.get().await?;
    let sql = format!(
        "DELETE FROM {table} WHERE ctid = ANY (ARRAY (
            SELECT ctid FROM {table} WHERE {condition} LIMIT {PURGE_BATCH} FOR UPDATE SKIP LOCKED
         ))"
    );
    let mut deleted = 0;
    loop {
        let batch = client.execute(sql.as_str(), &[&param]).await?;
        deleted += batch;
        if batch < PURGE_BATCH.unsigned_abs() {
            return Ok(deleted);
        }
    }
}

/// Whether the database answers now.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.simple_query("SELECT 1").await?;
    Ok(())
}
