//! Brute-force protection and rate limits: the rules, as pure functions of a counter and the
//! time. The counters live in PostgreSQL (`db::throttles`), so they hold across restarts and
//! across origin instances.
//!
//! - Failed logins, per username and per client address: after `max` failures within `window`,
//!   the key is locked for `lock`, doubled at each lock in a row up to `max_lock` (bounded: every
//!   lock ends). A successful login clears the username's counter. Names nobody has are counted
//!   alike, so the answers say nothing of which exist.
//! - Sign-ups and refreshes, per client address: at most `max` in each fixed `window`.

/// When a key is held back, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Events allowed per window (failures for logins, requests for rate limits).
    pub max: u32,
    pub window_secs: u64,
    /// The first lock after `max` failures; 0 for a rate limit (held until the window ends).
    pub lock_secs: u64,
    /// The longest lock, however many in a row.
    pub max_lock_secs: u64,
}

/// One key's counter, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    pub window_start: u64,
    pub count: u32,
    pub blocked_until: u64,
    /// Locks in a row: each doubles the next, until a quiet window forgives them.
    pub strikes: u32,
}

impl Counter {
    /// Seconds until the key may try again, if it is held back at `now`.
    pub fn retry_after(&self, now: u64) -> Option<u64> {
        (self.blocked_until > now).then(|| self.blocked_until - now)
    }

    /// A login attempt at `now`, counted as a failure before the password is checked, so that
    /// concurrent guesses cannot all pass the check before any is counted: the counter after it,
    /// or the wait when the key is held back (then nothing is counted).
    pub fn attempt(self, now: u64, policy: &Policy) -> (Self, Option<u64>) {
        match self.retry_after(now) {
            Some(wait) => (self, Some(wait)),
            None => (self.fail(now, policy), None),
        }
    }

    /// Takes back an attempt that turned out to be a success, unless it already caused a lock.
    pub fn forgive(mut self, now: u64) -> Self {
        if self.retry_after(now).is_none() {
            self.count = self.count.saturating_sub(1);
        }
        self
    }

    /// The counter after a failed login at `now`.
    pub fn fail(mut self, now: u64, policy: &Policy) -> Self {
        if now.saturating_sub(self.window_start) >= policy.window_secs {
            // A whole quiet window after the last lock forgives the strikes.
            if now.saturating_sub(self.blocked_until) >= policy.window_secs {
                self.strikes = 0;
            }
            self.window_start = now;
            self.count = 0;
        }
        self.count += 1;
        if self.count >= policy.max {
            let doubling = 1u64.checked_shl(self.strikes.min(32)).unwrap_or(u64::MAX);
            let lock = policy.lock_secs.saturating_mul(doubling).min(policy.max_lock_secs);
            self.blocked_until = now.saturating_add(lock);
            self.strikes = self.strikes.saturating_add(1);
            // Counting starts afresh after the lock.
            self.window_start = self.blocked_until;
            self.count = 0;
        }
        self
    }

    /// The counter after a request at `now` under a rate limit, and whether it is refused.
    pub fn hit(mut self, now: u64, policy: &Policy) -> (Self, Option<u64>) {
        if now.saturating_sub(self.window_start) >= policy.window_secs {
            self.window_start = now;
            self.count = 0;
        }
        if self.count >= policy.max {
            self.blocked_until = self.window_start.saturating_add(policy.window_secs);
            return (self, self.retry_after(now));
        }
        self.count += 1;
        (self, None)
    }

    /// When the row may be forgotten: nothing about it matters after this.
    pub fn expires_at(&self, policy: &Policy) -> u64 {
        self.blocked_until
            .max(self.window_start)
            .saturating_add(policy.window_secs)
            .saturating_add(policy.max_lock_secs)
    }
}

/// Every policy the origin applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    /// `LOGIN_MAX_FAILURES` (5) per `LOGIN_FAILURE_WINDOW_SECS` (900), locked for
    /// `LOGIN_LOCKOUT_SECS` (60) doubling up to `LOGIN_LOCKOUT_MAX_SECS` (900).
    pub login_per_user: Policy,
    /// `LOGIN_MAX_FAILURES_PER_IP` (20), with the same window and locks.
    pub login_per_ip: Policy,
    /// `SIGNUP_MAX_PER_IP` (10) per `SIGNUP_WINDOW_SECS` (3600).
    pub signup_per_ip: Policy,
    /// `REFRESH_MAX_PER_IP` (60) per `REFRESH_WINDOW_SECS` (60).
    pub refresh_per_ip: Policy,
}

impl Policies {
    /// Reads the policies by their variable names; `get` gives a variable's trimmed value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        // Counts and seconds up to a billion: a larger value is a typo (the arithmetic saturates).
        const MAX: u64 = 1_000_000_000;
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(raw) => match raw.parse::<u64>() {
                    Ok(value) if (1..=MAX).contains(&value) => Ok(value),
                    _ => Err(format!("{name}={raw} must be a whole number from 1 to {MAX}")),
                },
            }
        };
        let count = |name: &str, default: u32| -> Result<u32, String> {
            u32::try_from(number(name, u64::from(default))?).map_err(|_| format!("{name} is too large"))
        };
        let window_secs = number("LOGIN_FAILURE_WINDOW_SECS", 900)?;
        let lock_secs = number("LOGIN_LOCKOUT_SECS", 60)?;
        let max_lock_secs = number("LOGIN_LOCKOUT_MAX_SECS", 900)?;
        if max_lock_secs < lock_secs {
            return Err("LOGIN_LOCKOUT_MAX_SECS must be at least LOGIN_LOCKOUT_SECS".into());
        }
        let login = |max| Policy { max, window_secs, lock_secs, max_lock_secs };
        let rate = |max, window_secs| Policy { max, window_secs, lock_secs: 0, max_lock_secs: 0 };
        Ok(Self {
            login_per_user: login(count("LOGIN_MAX_FAILURES", 5)?),
            login_per_ip: login(count("LOGIN_MAX_FAILURES_PER_IP", 20)?),
            signup_per_ip: rate(count("SIGNUP_MAX_PER_IP", 10)?, number("SIGNUP_WINDOW_SECS", 3600)?),
            refresh_per_ip: rate(count("REFRESH_MAX_PER_IP", 60)?, number("REFRESH_WINDOW_SECS", 60)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: Policy = Policy { max: 3, window_secs: 100, lock_secs: 10, max_lock_secs: 35 };

    fn fail_times(mut counter: Counter, times: u32, now: u64) -> Counter {
        for _ in 0..times {
            counter = counter.fail(now, &LOGIN);
        }
        counter
    }

    #[test]
    fn the_max_th_failure_locks_and_each_lock_in_a_row_doubles_up_to_the_bound() {
        let counter = fail_times(Counter::default(), 2, 1000);
        assert_eq!(counter.retry_after(1000), None, "two failures are allowed");
        let counter = counter.fail(1000, &LOGIN);
        assert_eq!(counter.retry_after(1000), Some(10));
        let counter = fail_times(counter, 3, 1010);
        assert_eq!(counter.retry_after(1010), Some(20), "the second lock doubles");
        let counter = fail_times(counter, 3, 1030);
        assert_eq!(counter.retry_after(1030), Some(35), "the third is bounded by max_lock");
        let counter = fail_times(counter, 3, 1065);
        assert_eq!(counter.retry_after(1065), Some(35), "and stays bounded");
        assert_eq!(counter.retry_after(1100), None, "every lock ends");
    }

    #[test]
    fn failures_spread_beyond_the_window_never_lock_and_a_quiet_window_forgives_strikes() {
        let mut counter = Counter::default();
        for t in 0..10 {
            counter = fail_times(counter, 2, 1000 + t * 100);
            assert_eq!(counter.retry_after(1000 + t * 100), None);
        }
        let locked = fail_times(Counter::default(), 3, 1000);
        let forgiven = fail_times(locked, 3, 1010 + 100);
        assert_eq!(forgiven.retry_after(1110), Some(10), "back to the first lock's length");
    }

    #[test]
    fn a_rate_limit_refuses_past_max_until_the_window_ends() {
        let rate = Policy { max: 2, window_secs: 60, lock_secs: 0, max_lock_secs: 0 };
        let (counter, refused) = Counter::default().hit(1000, &rate);
        assert_eq!(refused, None);
        let (counter, refused) = counter.hit(1010, &rate);
        assert_eq!(refused, None);
        let (counter, refused) = counter.hit(1020, &rate);
        assert_eq!(refused, Some(40));
        let (_, refused) = counter.hit(1060, &rate);
        assert_eq!(refused, None, "a new window");
    }

    #[test]
    fn policies_have_defaults_and_refuse_nonsense() {
        let defaults = Policies::from_lookup(|_| None).unwrap();
        assert_eq!(defaults.login_per_user, Policy { max: 5, window_secs: 900, lock_secs: 60, max_lock_secs: 900 });
        assert_eq!(defaults.refresh_per_ip.max, 60);
        for (name, value) in
            [("LOGIN_MAX_FAILURES", "0"), ("SIGNUP_MAX_PER_IP", "many"), ("LOGIN_LOCKOUT_SECS", "5000")]
        {
            let err = Policies::from_lookup(|n| (n == name).then(|| value.to_owned())).unwrap_err();
            assert!(err.contains("LOGIN") || err.contains(name), "{err}");
        }
    }
}
