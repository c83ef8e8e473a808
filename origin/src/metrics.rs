//! Prometheus metrics: requests by route and status with their latency, failed logins, refresh
//! reuse detections, and the database pool. Served in the text format on `METRICS_ADDR`, a
//! listener of its own, so the public API never exposes them.

use std::time::Duration;

use deadpool_postgres::Pool;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route's template (`/users/admin`), never the raw path: a client cannot grow the label set.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: &'static str,
}

/// Why a login failed, as counted.
#[derive(Clone, Copy, Debug)]
pub enum LoginFailure {
    BadCredentials,
    Inactive,
    /// The right password, an unconfirmed address, under `REQUIRE_VERIFIED_EMAIL`.
    Unverified,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    login_failures: Family<FailureLabels, Counter>,
    login_throttled: Family<TierLabels, Counter>,
    refresh_reuse: Counter,
    pool: Family<PoolLabels, Gauge>,
}

/// The label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by method, route and status", requests.clone());
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            // 1 ms to about 4 s: a token check is sub-millisecond, a login one PBKDF2 (~70-100 ms).
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from the request's arrival to its answer, by method and route",
            latency.clone(),
        );
        let login_failures = Family::<FailureLabels, Counter>::default();
        registry.register("login_failures", "Failed logins, by reason", login_failures.clone());
        let login_throttled = Family::<TierLabels, Counter>::default();
        registry.register(
            "login_throttled",
            "Logins held back by brute-force protection, by the tier that held them: pair, account, ip",
            login_throttled.clone(),
        );
        let refresh_reuse = Counter::default();
        registry.register(
            "refresh_reuse_detected",
            "Spent refresh tokens presented again (each ended its session)",
            refresh_reuse.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register("db_pool_connections", "Database pool connections: in_use, idle, max, waiting", pool.clone());
        Self { registry, requests, latency, login_failures, login_throttled, refresh_reuse, pool }
    }

    pub fn observe_request(&self, method: String, route: String, status: u16, elapsed: Duration) {
        self.latency
            .get_or_create(&LatencyLabels { method: method.clone(), route: route.clone() })
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    pub fn login_failed(&self, failure: LoginFailure) {
        let reason = match failure {
            LoginFailure::BadCredentials => "bad_credentials",
            LoginFailure::Inactive => "inactive",
            LoginFailure::Unverified => "unverified",
        };
        self.login_failures.get_or_create(&FailureLabels { reason }).inc();
    }

    /// A login held back by `tier` (`pair`, `account` or `ip`).
    pub fn login_throttled(&self, tier: &'static str) {
        self.login_throttled.get_or_create(&TierLabels { tier }).inc();
    }

    pub fn refresh_reuse_detected(&self) {
        self.refresh_reuse.inc();
    }

    /// The text exposition, with the pool read now.
    pub fn render(&self, pool: &Pool) -> String {
        let status = pool.status();
        let in_use = status.size.saturating_sub(status.available);
        for (state, value) in
            [("in_use", in_use), ("idle", status.available), ("max", status.max_size), ("waiting", status.waiting)]
        {
            self.pool.get_or_create(&PoolLabels { state }).set(i64::try_from(value).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
