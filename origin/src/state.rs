//! What every handler shares: the pool, the token service, the hasher, the policies, the clock.

use std::sync::Arc;

use deadpool_postgres::Pool;
use shared::contract::ServiceTokens;
use shared::password::HashPolicy;
use shared::policy::PasswordPolicy;
use shared::token::TokenService;

use crate::clock::Clock;
use crate::config::Retention;
use crate::db::audit;
use crate::hasher::PasswordHasher;
use crate::mail::MailService;
use crate::metrics::Metrics;
use crate::outage_log::OutageLog;
use crate::sealing::SealingKeys;
use crate::slot_lines::SlotLines;
use crate::telemetry::Chain;
use crate::throttle::Policies;
use shared::assurance::Aal2Policy;

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub tokens: Arc<TokenService>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub hash_policy: HashPolicy,
    pub password_policy: PasswordPolicy,
    pub clock: Arc<dyn Clock>,
    pub throttles: Policies,
    pub retention: Retention,
    /// `REFRESH_REUSE_GRACE_SECS`.
    pub refresh_grace_secs: u64,
    /// `EDGE_SERVICE_TOKEN`s; none closes the internal API.
    pub service_tokens: Option<Arc<ServiceTokens>>,
    pub metrics: Arc<Metrics>,
    /// Woken whenever a login attempt of this process gives back its slots, for attempts waiting
    /// for one (`auth::limits`).
    pub login_slots: Arc<tokio::sync::Notify>,
    /// Attempts waiting for a slot, in line per counter.
    pub slot_lines: Arc<SlotLines>,
    /// The 503s of a database outage, logged as a summary.
    pub outage: Arc<OutageLog>,
    /// Mail, when `SMTP_URL` is set.
    pub mail: Option<Arc<MailService>>,
    /// `REQUIRE_VERIFIED_EMAIL`.
    pub require_verified_email: bool,
    /// `MFA_ENCRYPTION_KEYS`, if set.
    pub mfa_keys: Option<Arc<SealingKeys>>,
    /// `AAL2_MAX_AGE_SECS`.
    pub aal2_max_age_secs: u64,
    /// `REQUIRE_AAL2`.
    pub require_aal2: Aal2Policy,
}

impl AppState {
    /// Appends to the audit log. A failure to record is logged, never the request's failure: the
    /// event itself (a login, a logout) has happened.
    pub async fn audit(&self, event: audit::Event) {
        if let Err(err) = audit::record(&self.pool, &event).await {
            tracing::warn!(event = event.kind.as_str(), err = %Chain(&err), "audit event not recorded");
        }
    }

    /// Wakes the mail worker after a request queued a mail.
    pub fn mail_queued(&self) {
        if let Some(mail) = &self.mail {
            mail.queued.notify_one();
        }
    }
}
