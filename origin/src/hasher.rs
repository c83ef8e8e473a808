//! Password hashing as the origin runs it: off the async executor (a PBKDF2 hash at 600,000
//! iterations takes about 100 ms of CPU), behind a trait so tests can count the hashes a login does.

use std::sync::atomic::{AtomicUsize, Ordering};

use shared::password::{self, HashPolicy};
use shared::policy::Password;

/// The three operations a login and a password change need. Each call is one PBKDF2 computation.
pub trait PasswordHasher: Send + Sync + 'static {
    fn hash(&self, password: &Password) -> String;
    fn verify(&self, password: &Password, phc: &str) -> bool;
    /// The cost of `verify` for a user that does not exist.
    fn verify_nobody(&self, password: &Password);
    fn needs_rehash(&self, phc: &str) -> bool;
}

/// PBKDF2-HMAC-SHA256 under the configured policy, by the rules in `shared`.
pub struct Pbkdf2Hasher {
    pub policy: HashPolicy,
}

impl PasswordHasher for Pbkdf2Hasher {
    fn hash(&self, password: &Password) -> String {
        password::hash(password, &self.policy)
    }

    fn verify(&self, password: &Password, phc: &str) -> bool {
        password::verify(password, phc)
    }

    fn verify_nobody(&self, password: &Password) {
        password::dummy_verify(password, &self.policy);
    }

    fn needs_rehash(&self, phc: &str) -> bool {
        password::needs_rehash(phc, &self.policy)
    }
}

/// Wraps a hasher and counts the PBKDF2 computations it does.
pub struct CountingHasher<H> {
    inner: H,
    count: AtomicUsize,
}

impl<H> CountingHasher<H> {
    pub fn new(inner: H) -> Self {
        Self { inner, count: AtomicUsize::new(0) }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn tick(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }
}

impl<H: PasswordHasher> PasswordHasher for CountingHasher<H> {
    fn hash(&self, password: &Password) -> String {
        self.tick();
        self.inner.hash(password)
    }

    fn verify(&self, password: &Password, phc: &str) -> bool {
        self.tick();
        self.inner.verify(password, phc)
    }

    fn verify_nobody(&self, password: &Password) {
        self.tick();
        self.inner.verify_nobody(password);
    }

    fn needs_rehash(&self, phc: &str) -> bool {
        self.inner.needs_rehash(phc)
    }
}

/// Runs CPU-heavy hashing on the blocking pool, so request handling never stalls behind it.
pub async fn off_executor<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}
