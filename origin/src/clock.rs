//! The time the origin issues and checks tokens at. Injected, so tests move it instead of sleeping.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "the clock: the one place the origin reads the time")]
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }
}

/// A clock that stands still until told to move.
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn starting_now() -> Self {
        Self(AtomicU64::new(SystemClock.now()))
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `future`'s answer, or `None` once `within` has passed: a bound on how long a request waits
/// (for a login slot), in real time whatever the injected clock says.
pub async fn bounded<T>(within: Duration, future: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(within, future).await.ok()
}
