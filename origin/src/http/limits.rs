//! Where the throttle rules ([`crate::throttle`]) meet the requests: which keys a login, a
//! sign-up or a refresh counts against, and the 429 when one is held back.

use std::net::IpAddr;

use super::error::ApiError;
use crate::db::throttles;
use crate::state::AppState;
use crate::throttle::Policy;

fn user_key(username: &str) -> String {
    format!("login-user:{}", username.to_lowercase())
}

fn ip_key(prefix: &str, ip: IpAddr) -> String {
    format!("{prefix}-ip:{ip}")
}

/// Before a password is checked: a username or address locked by earlier failures gets 429, for
/// a name that exists or not alike, and without a hash being computed.
pub async fn check_login(state: &AppState, username: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
    let user = user_key(username);
    let address = ip.map(|ip| ip_key("login", ip));
    let keys: Vec<&str> = std::iter::once(user.as_str()).chain(address.as_deref()).collect();
    match throttles::retry_after(&state.pool, &keys, state.clock.now()).await? {
        Some(secs) => Err(ApiError::TooManyRequests(secs)),
        None => Ok(()),
    }
}

/// Counts a failed login against the username and the address.
pub async fn login_failed(state: &AppState, username: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
    let now = state.clock.now();
    let fail = |policy: Policy| move |counter: crate::throttle::Counter| (counter.fail(now, &policy), ());
    let policies = &state.throttles;
    throttles::update(&state.pool, &user_key(username), &policies.login_per_user, fail(policies.login_per_user))
        .await?;
    if let Some(ip) = ip {
        let key = ip_key("login", ip);
        throttles::update(&state.pool, &key, &policies.login_per_ip, fail(policies.login_per_ip)).await?;
    }
    Ok(())
}

/// A successful login forgets the username's failures (not the address's: an attacker with one
/// account of their own must not reset their guessing budget by logging in to it).
pub async fn login_succeeded(state: &AppState, username: &str) -> Result<(), ApiError> {
    Ok(throttles::clear(&state.pool, &user_key(username)).await?)
}

/// The per-address rate limits.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    SignUp,
    Refresh,
}

/// Counts one request of `limit` from `ip`; 429 past the limit. No address, no limit (only a
/// request that reached the origin without a peer address, which axum always gives).
pub async fn rate(state: &AppState, limit: Limit, ip: Option<IpAddr>) -> Result<(), ApiError> {
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
        Some(secs) => Err(ApiError::TooManyRequests(secs)),
        None => Ok(()),
    }
}
