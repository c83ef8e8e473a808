//! Where the throttle rules ([`crate::throttle`]) meet the requests: which keys a login, a
//! sign-up or a refresh counts against, and [`AuthError::TooManyRequests`] when one is held back.

use std::net::IpAddr;

use super::AuthError;
use crate::db::{throttles, users};
use crate::state::AppState;
use crate::throttle::Policy;

/// The per-username lock an attempt counts against: one for every spelling that reaches the same
/// account, the name folded as the users table compares names.
pub struct UserLock(String);

/// An address as the limits count it: an IPv6 host is given a whole /64, so it counts as one.
fn ip_key(prefix: &str, ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{prefix}-ip:{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        IpAddr::V6(v6) => format!("{prefix}-ip:{}", v6.to_canonical()),
        IpAddr::V4(v4) => format!("{prefix}-ip:{v4}"),
    }
}

/// Before a password is checked, the attempt counts against the username and the address as a
/// failure until it proves otherwise: concurrent guesses cannot all pass before any is counted.
/// A key already held back answers 429 without a hash, for a name that exists or not alike.
pub async fn begin_login(state: &AppState, username: &str, ip: Option<IpAddr>) -> Result<UserLock, AuthError> {
    let policies = state.throttles;
    let lock = UserLock(format!("login-user:{}", users::compared_name(&state.pool, username).await?));
    attempt(state, &lock.0, policies.login_per_user).await?;
    if let Some(ip) = ip {
        attempt(state, &ip_key("login", ip), policies.login_per_ip).await?;
    }
    Ok(lock)
}

async fn attempt(state: &AppState, key: &str, policy: Policy) -> Result<(), AuthError> {
    let now = state.clock.now();
    match throttles::update(&state.pool, key, &policy, |counter| counter.attempt(now, &policy)).await? {
        Some(wait) => Err(AuthError::TooManyRequests { retry_after_secs: wait }),
        None => Ok(()),
    }
}

/// The password was right: the username's failures are forgotten, and the address's count
/// takes this attempt back (not its earlier failures: an attacker with one account of their own
/// must not reset their guessing budget by logging in to it).
pub async fn login_succeeded(state: &AppState, lock: &UserLock, ip: Option<IpAddr>) -> Result<(), AuthError> {
    throttles::clear(&state.pool, &lock.0).await?;
    if let Some(ip) = ip {
        let now = state.clock.now();
        let policy = state.throttles.login_per_ip;
        throttles::update(&state.pool, &ip_key("login", ip), &policy, |counter| (counter.forgive(now), ())).await?;
    }
    Ok(())
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
    let Some(ip) = ip else {
        return Ok(());
    };
    let (prefix, policy) = match limit {
        Limit::SignUp => ("signup", state.throttles.signup_per_ip),
        Limit::Refresh => ("refresh", state.throttles.refresh_per_ip),
    };
    let now = state.clock.now();
    let refused =
        throttles::update(&state.pool, &ip_key(prefix, ip), &policy, |counter| counter.hit(now, &policy)).await?;
    match refused {
        Some(secs) => Err(AuthError::TooManyRequests { retry_after_secs: secs }),
        None => Ok(()),
    }
}
