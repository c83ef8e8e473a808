//! Building the application: one function serves `main` and the tests alike.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db;
use crate::hasher::{PasswordHasher, Pbkdf2Hasher};
use crate::http;
use crate::mail::MailService;
use crate::mail::delivery;
use crate::mail::smtp::SmtpMailer;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::telemetry::Chain;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] db::StoreError),
    #[error("mail: {0}")]
    Mail(String),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// What a test may swap for its own: the hasher (to count hashes) and the clock (to move time).
pub struct Overrides {
    pub hasher: Option<Arc<dyn PasswordHasher>>,
    pub clock: Option<Arc<dyn Clock>>,
}

impl Overrides {
    pub fn none() -> Self {
        Self { hasher: None, clock: None }
    }
}

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: axum::Router,
    /// `/metrics`, on a listener of its own when `METRICS_ADDR` is set.
    metrics: Option<(TcpListener, SocketAddr, axum::Router)>,
    pub state: AppState,
}

impl Application {
    /// Opens the pool, applies the migrations and binds the listener (`ORIGIN_ADDR`; port 0 picks
    /// a free one). The database must be reachable at start-up; later outages give 503s.
    pub async fn build(config: &Config, overrides: Overrides) -> Result<Self, StartupError> {
        let pool = db::pool(&config.database_url, config.pool_size, config.db_timeout)?;
        let applied = db::migrate(&pool).await?;
        if applied > 0 {
            tracing::info!(applied, "migrations applied");
        }
        let mail = match &config.mail {
            Some(settings) => {
                let mailer = SmtpMailer::new(settings).map_err(StartupError::Mail)?;
                tracing::info!(public_url = %settings.public_url, "mail on: links point at PUBLIC_URL");
                Some(Arc::new(MailService {
                    settings: settings.clone(),
                    mailer: Arc::new(mailer),
                    queued: Notify::new(),
                }))
            }
            None => {
                tracing::warn!(
                    "mail is off (SMTP_URL unset): reset and verification requests are answered but send nothing, \
                     and email changes apply at once"
                );
                None
            }
        };
        let state = AppState {
            pool,
            tokens: Arc::new(config.tokens.clone()),
            hasher: overrides.hasher.unwrap_or_else(|| Arc::new(Pbkdf2Hasher { policy: config.hash_policy })),
            hash_policy: config.hash_policy,
            password_policy: config.password_policy,
            clock: overrides.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            refresh_grace_secs: config.refresh_grace_secs,
            throttles: config.throttles,
            retention: config.retention,
            service_tokens: config.service_tokens.clone().map(Arc::new),
            metrics: Arc::new(Metrics::new()),
            login_slots: Arc::new(tokio::sync::Notify::new()),
            slot_lines: Arc::default(),
            outage: Arc::default(),
            mail,
            require_verified_email: config.require_verified_email,
            mfa_keys: config.mfa_keys.clone().map(Arc::new),
            aal2_max_age_secs: config.aal2_max_age_secs,
            require_aal2: config.require_aal2,
        };
        if state.mfa_keys.is_none() {
            tracing::warn!("MFA_ENCRYPTION_KEYS is unset: no one can turn a second factor on");
        }
        let (listener, local_addr) = bind(config.addr).await?;
        let metrics = match config.metrics_addr {
            Some(addr) => {
                let (listener, local_addr) = bind(addr).await?;
                Some((listener, local_addr, http::metrics::router(state.clone())))
            }
            None => None,
        };
        Ok(Self { listener, local_addr, router: http::router(state.clone()), metrics, state })
    }

    /// Where the API is served (the port picked when `ORIGIN_ADDR` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr, _)| *addr)
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let purging = tokio::spawn(purge(self.state.clone()));
        let summarizing = tokio::spawn(summarize_outages(self.state.clone()));
        let mailing = self.state.mail.clone().map(|mail| tokio::spawn(delivery::run(self.state.clone(), mail)));
        let served = self.serve_http(shutdown).await;
        purging.abort();
        summarizing.abort();
        if let Some(mailing) = mailing {
            mailing.abort();
        }
        served
    }

    async fn serve_http(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let api = axum::serve(self.listener, service).with_graceful_shutdown(shutdown);
        match self.metrics {
            // The metrics listener lives as long as the API: it stops when the API has drained.
            Some((listener, _, router)) => {
                let metrics = axum::serve(listener, router);
                tokio::select! {
                    served = api => served,
                    served = metrics => served,
                }
            }
            None => api.await,
        }
    }
}

/// Every ten minutes, forgets what no longer matters: throttle counters past their use (a flood
/// of made-up usernames must not grow the table for ever), sessions ended or expired longer ago
/// than `SESSION_RETENTION_DAYS`, audit events older than `AUDIT_RETENTION_DAYS`.
async fn purge(state: AppState) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        every.tick().await;
        let now = state.clock.now();
        let retention = state.retention;
        let purged = [
            ("throttle counters", db::throttles::purge(&state.pool, now).await),
            ("devices and login sources", db::devices::purge(&state.pool, now).await),
            ("reset and verify tokens", db::account_tokens::purge(&state.pool, now).await),
            (
                "second-factor logins and enrolments",
                db::mfa::purge(&state.pool, now, now.saturating_sub(shared::mfa::ENROLMENT_TTL_SECS)).await,
            ),
            ("sessions", db::sessions::purge(&state.pool, now.saturating_sub(retention.sessions_secs)).await),
            ("audit events", db::audit::purge(&state.pool, now.saturating_sub(retention.audit_secs)).await),
        ];
        for (what, outcome) in purged {
            match outcome {
                Ok(0) => {}
                Ok(n) => tracing::debug!(purged = n, "{what} purged"),
                Err(err) => tracing::warn!(err = %Chain(&err), "purging {what}"),
            }
        }
    }
}

/// Closes the outage log's windows as they end, so an outage's summary comes on time even when
/// the requests stop, and during an outage asks the database whether it is back, so its end is
/// logged and the next outage is news at once.
async fn summarize_outages(state: AppState) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        every.tick().await;
        if state.outage.in_outage()
            && db::ping(&state.pool).await.is_ok()
            && let Some(note) = state.outage.recovered(state.clock.now())
        {
            note.log();
        }
        if let Some(note) = state.outage.tick(state.clock.now()) {
            note.log();
        }
    }
}

/// A listener on `addr`, and the address it got.
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let listen = |source| StartupError::Listen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(listen)?;
    let local_addr = listener.local_addr().map_err(listen)?;
    Ok((listener, local_addr))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
