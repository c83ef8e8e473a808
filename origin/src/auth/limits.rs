//! Where the throttle rules ([`crate::throttle`]) meet the requests: which counters a login, a
//! sign-up or a refresh counts against, and [`AuthError::TooManyRequests`] when one is held back.
//!
//! A login counts against tiers, all decided before any password is hashed and alike for names
//! that exist and names that do not:
//!
//! | tier      | key                         | applies when                                        |
//! |-----------|-----------------------------|-----------------------------------------------------|
//! | `pair`    | account and client address  | the address is known (never one shared bucket)      |
//! | `ip`      | client address              | the address is known                                |
//! | `account` | account                     | the source is new: no device token, an address the account never logged in from |
//!
//! A login that presents a device token of the account counts only against that device, which
//! loses the privilege after as many failures as a pair may have.

use std::net::IpAddr;
use std::time::Duration;

use deadpool_postgres::Transaction;
use sha2::{Digest, Sha256};
use shared::domain::UserId;

use super::AuthError;
use crate::clock;
use crate::db::{audit, devices, throttles, users};
use crate::state::AppState;
use crate::throttle::{Counter, Gate, Outcome, Policy};

/// How long an attempt waits for a slot that attempts in flight hold before it is told to retry.
const SLOT_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting attempt looks again, for slots another origin instance gives back.
const SLOT_POLL: Duration = Duration::from_millis(100);

/// The counters of a login, by what they count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Pair,
    Account,
    Ip,
    Device,
}

impl Tier {
    /// The label of `login_throttled_total` and of the audit events. A device never holds a login
    /// back (it loses the privilege instead), so it has no label of its own.
    const fn label(self) -> &'static str {
        match self {
            Self::Pair | Self::Device => "pair",
            Self::Account => "account",
            Self::Ip => "ip",
        }
    }

    fn policy(self, state: &AppState) -> Policy {
        let policies = &state.throttles;
        match self {
            Self::Pair | Self::Device => policies.login_per_pair,
            Self::Account => policies.login_per_account,
            Self::Ip => policies.login_per_ip,
        }
    }
}

/// An address as the limits count it: an IPv6 host is given a whole /64, so it counts as one.
fn source(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        IpAddr::V6(v6) => v6.to_canonical().to_string(),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Who is trying to log in, and from where.
pub struct Claim<'a> {
    /// The name as typed.
    pub username: &'a str,
    /// The account it names, if any: only that decides which sources and devices are known.
    pub user: Option<UserId>,
    pub ip: Option<IpAddr>,
    /// The digest of the device token the login presented.
    pub device: Option<[u8; 32]>,
    /// Whether the account tier holds this attempt when its source is new. A password confirmed
    /// by a signed-in user (before a change) is not held by it: the session shows the source got in.
    pub account_tier: bool,
}

/// A login attempt let in to the password check: the slots it holds until [`Attempt::settle`].
pub struct Attempt {
    counters: Vec<(Tier, String)>,
    /// Cleared by a success even when not counted against (a known source or device).
    account: String,
    username: String,
    user: Option<UserId>,
    ip: Option<IpAddr>,
    /// The known device the login came with.
    pub device: Option<i64>,
    /// The address as the limits count it, to remember after a success.
    pub source: Option<String>,
    /// Until settled, dropping the attempt (a client that went away mid-check) gives its slots
    /// back in a task of its own.
    unsettled: Option<AppState>,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let Some(state) = self.unsettled.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let counters = std::mem::take(&mut self.counters);
        runtime.spawn(async move {
            let now = state.clock.now();
            let policies: Vec<Policy> = counters.iter().map(|(tier, _)| tier.policy(&state)).collect();
            let keys: Vec<(&str, &Policy)> = counters.iter().zip(&policies).map(|((_, k), p)| (k.as_str(), p)).collect();
            let released = throttles::update_all(&state.pool, &keys, |counters| {
                for (counter, (_, policy)) in counters.iter_mut().zip(&keys) {
                    *counter = counter.settle(now, policy, Outcome::Released);
                }
            });
            if let Err(err) = released.await {
                tracing::warn!(err = %crate::telemetry::Chain(&err), "login slots not given back: they lapse on their own");
            }
            state.login_slots.notify_waiters();
        });
    }
}

/// Lets a login attempt in, or holds it back: 429 without a hash when a counter is locked, alike
/// for names that exist and names that do not. While attempts in flight take the rest of a
/// counter's budget it waits (up to a few seconds) for them to settle rather than being refused.
pub async fn begin_login(state: &AppState, claim: Claim<'_>) -> Result<Attempt, AuthError> {
    let folded = users::compared_name(&state.pool, claim.username).await?;
    let now = state.clock.now();
    let source = claim.ip.map(source);
    let device = match (claim.user, claim.device) {
        (Some(user), Some(digest)) => devices::find(&state.pool, user, &digest, now).await?,
        _ => None,
    };
    let mut counters = Vec::new();
    if let Some(id) = device {
        counters.push((Tier::Device, format!("login-device:{id}")));
    } else {
        if let Some(source) = &source {
            counters.push((Tier::Ip, format!("login-ip:{source}")));
            counters.push((Tier::Pair, format!("login-pair:{folded}|{source}")));
        }
        let known = match (claim.user, &source) {
            (Some(user), Some(source)) => devices::knows_source(&state.pool, user, source, now).await?,
            _ => false,
        };
        if claim.account_tier && !known {
            counters.push((Tier::Account, format!("login-account:{folded}")));
        }
    }
    let attempt = Attempt {
        counters,
        account: format!("login-account:{folded}"),
        username: claim.username.to_owned(),
        user: claim.user,
        ip: claim.ip,
        device,
        source,
        unsettled: None,
    };
    let mut full = Tier::Account;
    let admitted = clock::bounded(SLOT_WAIT, async {
        // Attempts already waiting for a slot of one of these counters go first, in the order
        // they came: a newcomer never takes the slot they wait for.
        let mut turn = None;
        for (_, key) in &attempt.counters {
            let line = state.slot_lines.of(key);
            if line.try_lock().is_err() {
                turn = Some(line.lock_owned().await);
                break;
            }
        }
        loop {
            let released = state.login_slots.notified();
            match attempt.admit(state).await? {
                Admission::Open => return Ok(None),
                Admission::Held(tier, secs) => return Ok(Some((tier, secs))),
                Admission::Full(i) => {
                    full = attempt.counters[i].0;
                    if turn.is_none() {
                        turn = Some(state.slot_lines.of(&attempt.counters[i].1).lock_owned().await);
                    } else {
                        // Woken when an attempt of this process settles; polled for other instances'.
                        clock::bounded(SLOT_POLL, released).await;
                    }
                }
            }
        }
    })
    .await;
    let (tier, retry_after_secs) = match admitted {
        Some(Ok(None)) => {
            let mut attempt = attempt;
            attempt.unsettled = Some(state.clone());
            return Ok(attempt);
        }
        Some(Ok(Some(held))) => held,
        Some(Err(err)) => return Err(err),
        // Still full after the wait: attempts in flight that take this long are rare; try again soon.
        None => (full, 1),
    };
    state.metrics.login_throttled(tier.label());
    Err(AuthError::TooManyRequests { retry_after_secs })
}

enum Admission {
    Open,
    /// The counter at this index has no free slot.
    Full(usize),
    Held(Tier, u64),
}

impl Attempt {
    /// An attempt that holds no slots: nothing to give back when dropped.
    fn disarm(&mut self) {
        self.unsettled = None;
    }

    fn keys<'a>(&'a self, state: &AppState, policies: &'a mut Vec<Policy>) -> Vec<(&'a str, &'a Policy)> {
        policies.extend(self.counters.iter().map(|(tier, _)| tier.policy(state)));
        self.counters.iter().zip(policies.iter()).map(|((_, key), policy)| (key.as_str(), policy)).collect()
    }

    /// Takes a slot of every counter at once, or none.
    async fn admit(&self, state: &AppState) -> Result<Admission, AuthError> {
        let now = state.clock.now();
        let mut policies = Vec::new();
        let keys = self.keys(state, &mut policies);
        let admission = throttles::update_all(&state.pool, &keys, |counters| {
            let gates: Vec<(Counter, Gate)> =
                counters.iter().zip(&keys).map(|(counter, (_, policy))| counter.admit(now, policy)).collect();
            let mut full = None;
            for (i, (_, gate)) in gates.iter().enumerate() {
                match *gate {
                    Gate::Held(secs) => return Admission::Held(self.counters[i].0, secs),
                    Gate::Full => full = full.or(Some(i)),
                    Gate::Open => {}
                }
            }
            if let Some(i) = full {
                return Admission::Full(i);
            }
            for (counter, (admitted, _)) in counters.iter_mut().zip(gates) {
                *counter = admitted;
            }
            Admission::Open
        })
        .await?;
        Ok(admission)
    }

    /// Gives the attempt's slots back, counting a failure or forgetting the failures a success
    /// ends; records the locks this makes or lifts, and forgets a device that failed too often.
    pub async fn settle(&mut self, state: &AppState, succeeded: bool) -> Result<(), AuthError> {
        // Settled or not, after this call the slots are not the drop's to give back.
        self.disarm();
        let now = state.clock.now();
        let mut policies = Vec::new();
        let mut keys = self.keys(state, &mut policies);
        // A success from a known source or device lifts the account's lock for new sources too.
        let account_policy = state.throttles.login_per_account;
        let clear_account = succeeded && !self.counters.iter().any(|c| c.0 == Tier::Account);
        if clear_account {
            keys.push((self.account.as_str(), &account_policy));
        }
        let tiers: Vec<Tier> = self.counters.iter().map(|c| c.0).collect();
        let (locked, unlocked) = throttles::update_all(&state.pool, &keys, |counters| {
            let mut locked = Vec::new();
            let mut unlocked = false;
            for (i, (counter, (_, policy))) in counters.iter_mut().zip(&keys).enumerate() {
                let before = *counter;
                let Some(&tier) = tiers.get(i) else {
                    // The account's counter, cleared but not counted against.
                    unlocked |= before.held_until_cleared();
                    *counter = before.clear();
                    continue;
                };
                let outcome = match (succeeded, tier) {
                    (false, _) => Outcome::Failed,
                    (true, Tier::Ip) => Outcome::Released,
                    (true, _) => Outcome::Cleared,
                };
                *counter = before.settle(now, policy, outcome);
                if Counter::newly_locked(&before, counter, now, policy) {
                    locked.push((tier, counter.retry_after(now, policy)));
                    if tier == Tier::Device {
                        // A device that failed too often is a stranger again: no lock of its own.
                        *counter = counter.clear();
                    }
                }
                unlocked |= tier == Tier::Account && outcome == Outcome::Cleared && before.held_until_cleared();
            }
            (locked, unlocked)
        })
        .await?;
        state.login_slots.notify_waiters();
        for (tier, wait) in locked {
            if tier == Tier::Device {
                self.forget_device(state).await?;
            } else {
                let detail = match tier {
                    Tier::Account => "account: new sources held until a success or a new password".to_owned(),
                    _ => format!("{}: held for {} s", tier.label(), wait.unwrap_or_default()),
                };
                state.audit(self.event(audit::Kind::LoginLocked, detail)).await;
            }
        }
        if unlocked {
            state.audit(self.event(audit::Kind::LoginUnlocked, "account: a login from a known source".into())).await;
        }
        Ok(())
    }

    async fn forget_device(&self, state: &AppState) -> Result<(), AuthError> {
        if let (Some(user), Some(id)) = (self.user, self.device) {
            devices::forget(&state.pool, user, id).await?;
            let detail = format!("device {id}: too many failures");
            state.audit(self.event(audit::Kind::DeviceForgotten, detail)).await;
        }
        Ok(())
    }

    fn event(&self, kind: audit::Kind, detail: String) -> audit::Event {
        audit::Event {
            username: Some(self.username.clone()),
            client_ip: self.ip,
            detail,
            ..audit::Event::new(kind, self.user)
        }
    }
}

/// A new password or a logout everywhere (`why`) ends what the account knew: its devices and
/// sources are forgotten, and its lock for new sources is lifted (the owner is in).
pub async fn forget_known(state: &AppState, user: UserId, username: &str, why: &str) -> Result<(), AuthError> {
    devices::forget_all(&state.pool, user).await?;
    let key = format!("login-account:{}", users::compared_name(&state.pool, username).await?);
    let policy = state.throttles.login_per_account;
    let was_locked =
        throttles::update(&state.pool, &key, &policy, |counter| (counter.clear(), counter.held_until_cleared()))
            .await?;
    if was_locked {
        let event = audit::Event {
            username: Some(username.to_owned()),
            detail: format!("account: {why}"),
            ..audit::Event::new(audit::Kind::LoginUnlocked, Some(user))
        };
        state.audit(event).await;
    }
    Ok(())
}

/// A completed password reset lifts every lock on the account: the one for new sources (as
/// [`forget_known`]) and those on each (account, source) pair. Whoever reset it holds its mail.
pub async fn lift_locks(state: &AppState, user: UserId, username: &str) -> Result<(), AuthError> {
    forget_known(state, user, username, "a password reset").await?;
    let folded = users::compared_name(&state.pool, username).await?;
    throttles::clear_prefix(&state.pool, &format!("login-pair:{folded}|")).await?;
    Ok(())
}

/// The routes that ask for a mailed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailRoute {
    ForgotPassword,
    RequestVerify,
}

impl MailRoute {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ForgotPassword => "forgot-password",
            Self::RequestVerify => "request-verify-token",
        }
    }
}

/// Counts a request of `route` from `ip` for `email` against both its limits, in `transaction`
/// (the request's own: what it queues commits with the counts, in one commit, whether it queues
/// anything or not); `false` when either is spent (the request then sends nothing, and is answered
/// as any other).
pub async fn mail_request_in(
    state: &AppState,
    transaction: &Transaction<'_>,
    route: MailRoute,
    ip: Option<IpAddr>,
    email: &str,
    now: u64,
) -> Result<bool, AuthError> {
    // The address is keyed by its digest: the counters never hold an address.
    let digest = Sha256::digest(email.to_lowercase().as_bytes());
    let email_key: String = digest.iter().take(16).map(|byte| format!("{byte:02x}")).collect();
    let mut counters = vec![(format!("{}-email:{email_key}", route.as_str()), state.throttles.mail_request_per_email)];
    if let Some(ip) = ip {
        counters.push((format!("{}-ip:{}", route.as_str(), source(ip)), state.throttles.mail_request_per_ip));
    }
    let keys: Vec<(&str, &Policy)> = counters.iter().map(|(key, policy)| (key.as_str(), policy)).collect();
    let admitted = throttles::update_in(transaction, &keys, |found| {
        let mut admitted = true;
        for (counter, (_, policy)) in found.iter_mut().zip(&counters) {
            let (after, refused) = counter.hit(now, policy);
            *counter = after;
            admitted &= refused.is_none();
        }
        admitted
    })
    .await?;
    Ok(admitted)
}

/// The per-address rate limits.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    SignUp,
    Refresh,
}

/// Counts one request of `limit` from `ip`; held back past the limit. No address, no limit (only a
/// request that reached the origin without a peer address, which axum always gives).
pub async fn rate(state: &AppState, limit: Limit, ip: Option<IpAddr>) -> Result<(), AuthError> {
    let Some((key, policy)) = rate_counter(state, limit, ip) else {
        return Ok(());
    };
    let now = state.clock.now();
    let refused = throttles::update(&state.pool, &key, &policy, |counter| counter.hit(now, &policy)).await?;
    held_back(refused)
}

/// [`rate`] within the caller's `transaction`, for a request whose own writes commit with the
/// count, in one commit. Counted last, just before that commit: the counter's row, shared by
/// every request from the address, stays locked only that long. Held back, the caller rolls back
/// what the request did.
pub async fn rate_in(
    state: &AppState,
    transaction: &Transaction<'_>,
    limit: Limit,
    ip: Option<IpAddr>,
    now: u64,
) -> Result<(), AuthError> {
    let Some((key, policy)) = rate_counter(state, limit, ip) else {
        return Ok(());
    };
    let refused = throttles::update_in(transaction, &[(&key, &policy)], |counters| {
        let (counter, refused) = counters[0].hit(now, &policy);
        counters[0] = counter;
        refused
    })
    .await?;
    held_back(refused)
}

/// The counter `limit` counts a request from `ip` against, if any.
fn rate_counter(state: &AppState, limit: Limit, ip: Option<IpAddr>) -> Option<(String, Policy)> {
    let (prefix, policy) = match limit {
        Limit::SignUp => ("signup", state.throttles.signup_per_ip),
        Limit::Refresh => ("refresh", state.throttles.refresh_per_ip),
    };
    Some((format!("{prefix}-ip:{}", source(ip?)), policy))
}

fn held_back(refused: Option<u64>) -> Result<(), AuthError> {
    match refused {
        Some(secs) => Err(AuthError::TooManyRequests { retry_after_secs: secs }),
        None => Ok(()),
    }
}
