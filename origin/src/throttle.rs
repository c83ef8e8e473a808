//! Brute-force protection and rate limits: the rules, as pure functions of a counter and the
//! time. The counters live in PostgreSQL (`db::throttles`), so they hold across restarts and
//! across origin instances; which keys a request counts against is `auth::limits`'s business.
//!
//! - Login failures are counted in tiers (see [`Policies`]): per (account, client address) and
//!   per address within a window, each locked after `max` failures for a time that doubles at
//!   each lock in a row up to a bound (every such lock ends); per account across sources,
//!   consecutively until a success, then held for sources the account does not know.
//! - Every login attempt holds a slot of each of its counters while its password is checked:
//!   an attempt is let in only while failures and attempts in flight together stay under `max`,
//!   so concurrent guesses never get more password checks than the budget, and a success gives
//!   its slot back without counting as anything.
//! - Sign-ups and refreshes, per client address: at most `max` in each fixed `window`.

/// How long a slot is held at most: an attempt whose origin died gives it back after this.
pub const SLOT_SECS: u64 = 60;

/// `blocked_until` of a counter held until a success clears it.
const UNTIL_CLEARED: u64 = i64::MAX as u64;

/// When a key is held back, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Events allowed per window (failures for logins, requests for rate limits).
    pub max: u32,
    /// Events further apart than this are forgotten. `None`: failures count until a success clears
    /// them, and the `max`-th holds the key until then.
    pub window_secs: Option<u64>,
    /// The first lock after `max` failures; 0 for a rate limit (held until the window ends).
    pub lock_secs: u64,
    /// The longest lock, however many in a row; for a key held until cleared, the `Retry-After`
    /// it answers.
    pub max_lock_secs: u64,
    /// How long a quiet counter is remembered: a window and the longest lock, or for a counter
    /// without a window, this.
    pub memory_secs: u64,
}

/// One key's counter, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    /// When the window began; without a window, the last failure.
    pub window_start: u64,
    pub count: u32,
    pub blocked_until: u64,
    /// Locks in a row: each doubles the next, until a quiet window forgives them.
    pub strikes: u32,
    /// Login attempts whose password is being checked.
    pub in_flight: u32,
    /// When the slots in flight are given up for lost (their origin died).
    pub in_flight_until: u64,
}

/// Whether a login attempt may go on to the password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Let in: it holds a slot until [`Counter::settle`].
    Open,
    /// The budget is taken by attempts in flight: try again when one settles.
    Full,
    /// Held back for this many seconds.
    Held(u64),
}

/// How a login attempt ended, for one of its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failed,
    /// The password was right and the counter forgets its failures.
    Cleared,
    /// The password was right and the counter keeps its failures (an address's: an attacker's
    /// own account must not reset their guessing budget).
    Released,
}

impl Counter {
    /// Seconds until the key may try again, if it is held back at `now`.
    pub fn retry_after(&self, now: u64, policy: &Policy) -> Option<u64> {
        match self.blocked_until {
            UNTIL_CLEARED => Some(policy.max_lock_secs),
            until => (until > now).then(|| until - now),
        }
    }

    /// Whether the key is held until a success clears it.
    pub fn held_until_cleared(&self) -> bool {
        self.blocked_until == UNTIL_CLEARED
    }

    /// A login attempt at `now`: let in (holding a slot), asked to wait for a slot, or held back.
    pub fn admit(mut self, now: u64, policy: &Policy) -> (Self, Gate) {
        if let Some(wait) = self.retry_after(now, policy) {
            return (self, Gate::Held(wait));
        }
        if now >= self.in_flight_until {
            self.in_flight = 0;
        }
        self.roll(now, policy);
        if self.count.saturating_add(self.in_flight) >= policy.max {
            return (self, Gate::Full);
        }
        self.in_flight += 1;
        self.in_flight_until = now.saturating_add(SLOT_SECS);
        (self, Gate::Open)
    }

    /// The end of an attempt [`admit`](Self::admit) let in: its slot given back, and a failure
    /// counted or the failures cleared.
    pub fn settle(mut self, now: u64, policy: &Policy, outcome: Outcome) -> Self {
        self.in_flight = self.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Failed => self.fail(now, policy),
            Outcome::Cleared => self.clear(),
            Outcome::Released => self,
        }
    }

    /// The counter with its failures and locks forgotten; attempts in flight keep their slots.
    pub fn clear(self) -> Self {
        Self { in_flight: self.in_flight, in_flight_until: self.in_flight_until, ..Self::default() }
    }

    /// Starts a new window when the last one is over.
    fn roll(&mut self, now: u64, policy: &Policy) {
        let Some(window_secs) = policy.window_secs else {
            return;
        };
        if now.saturating_sub(self.window_start) >= window_secs {
            // A whole quiet window after the last lock forgives the strikes.
            if now.saturating_sub(self.blocked_until) >= window_secs {
                self.strikes = 0;
            }
            self.window_start = now;
            self.count = 0;
        }
    }

    /// The counter after a failed login at `now`.
    pub fn fail(mut self, now: u64, policy: &Policy) -> Self {
        self.roll(now, policy);
        if policy.window_secs.is_none() {
            self.window_start = now;
        }
        self.count = self.count.saturating_add(1);
        if self.count >= policy.max {
            if policy.window_secs.is_none() {
                self.blocked_until = UNTIL_CLEARED;
                return self;
            }
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

    /// Whether the key is locked now and was not before: a lock to record.
    pub fn newly_locked(before: &Self, after: &Self, now: u64, policy: &Policy) -> bool {
        after.retry_after(now, policy).is_some() && before.retry_after(now, policy).is_none()
    }

    /// The counter after a request at `now` under a rate limit, and whether it is refused.
    pub fn hit(mut self, now: u64, policy: &Policy) -> (Self, Option<u64>) {
        let window_secs = policy.window_secs.unwrap_or(u64::MAX);
        if now.saturating_sub(self.window_start) >= window_secs {
            self.window_start = now;
            self.count = 0;
        }
        if self.count >= policy.max {
            self.blocked_until = self.window_start.saturating_add(window_secs);
            return (self, self.retry_after(now, policy));
        }
        self.count += 1;
        (self, None)
    }

    /// When the row may be forgotten: nothing about it matters after this.
    pub fn expires_at(&self, policy: &Policy) -> u64 {
        let last = match self.blocked_until {
            UNTIL_CLEARED => self.window_start,
            until => until.max(self.window_start),
        };
        last.max(self.in_flight_until).saturating_add(policy.memory_secs)
    }
}

/// Every policy the origin applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    /// Per (account, client address): `LOGIN_MAX_FAILURES` (5) per `LOGIN_FAILURE_WINDOW_SECS`
    /// (900), locked for `LOGIN_LOCKOUT_SECS` (60) doubling up to `LOGIN_LOCKOUT_MAX_SECS` (900).
    /// A known device's own failures count under the same numbers.
    pub login_per_pair: Policy,
    /// Per account across sources: `LOGIN_MAX_FAILURES_PER_ACCOUNT` (100) consecutive failures,
    /// then held for sources the account does not know until a success or a new password.
    pub login_per_account: Policy,
    /// Per address across accounts: `LOGIN_MAX_FAILURES_PER_IP` (20), window and locks as a pair's.
    pub login_per_ip: Policy,
    /// `SIGNUP_MAX_PER_IP` (10) per `SIGNUP_WINDOW_SECS` (3600).
    pub signup_per_ip: Policy,
    /// `REFRESH_MAX_PER_IP` (60) per `REFRESH_WINDOW_SECS` (60).
    pub refresh_per_ip: Policy,
    /// The requests for a mailed link (forgot-password, request-verify-token), each route on its
    /// own: `MAIL_REQUEST_MAX_PER_IP` (20) from an address and `MAIL_REQUEST_MAX_PER_EMAIL` (5)
    /// for a target address, per `MAIL_REQUEST_WINDOW_SECS` (3600). Past them a request is
    /// answered as any other and sends nothing.
    pub mail_request_per_ip: Policy,
    pub mail_request_per_email: Policy,
    /// `DEVICE_TOKEN_TTL_SECS` (90 days): how long a device token, and an address an account
    /// logged in from, stay known after their last login; also how long an account's count of
    /// consecutive failures is kept after the last one.
    pub known_for_secs: u64,
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
        let known_for_secs = number("DEVICE_TOKEN_TTL_SECS", 90 * 24 * 3600)?;
        let login = |max| Policy {
            max,
            window_secs: Some(window_secs),
            lock_secs,
            max_lock_secs,
            memory_secs: window_secs.saturating_add(max_lock_secs),
        };
        let rate = |max, window_secs| Policy {
            max,
            window_secs: Some(window_secs),
            lock_secs: 0,
            max_lock_secs: 0,
            memory_secs: window_secs,
        };
        Ok(Self {
            login_per_pair: login(count("LOGIN_MAX_FAILURES", 5)?),
            login_per_account: Policy {
                max: count("LOGIN_MAX_FAILURES_PER_ACCOUNT", 100)?,
                window_secs: None,
                lock_secs,
                max_lock_secs,
                memory_secs: known_for_secs,
            },
            login_per_ip: login(count("LOGIN_MAX_FAILURES_PER_IP", 20)?),
            signup_per_ip: rate(count("SIGNUP_MAX_PER_IP", 10)?, number("SIGNUP_WINDOW_SECS", 3600)?),
            refresh_per_ip: rate(count("REFRESH_MAX_PER_IP", 60)?, number("REFRESH_WINDOW_SECS", 60)?),
            mail_request_per_ip: rate(count("MAIL_REQUEST_MAX_PER_IP", 20)?, number("MAIL_REQUEST_WINDOW_SECS", 3600)?),
            mail_request_per_email: rate(
                count("MAIL_REQUEST_MAX_PER_EMAIL", 5)?,
                number("MAIL_REQUEST_WINDOW_SECS", 3600)?,
            ),
            known_for_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: Policy = Policy { max: 3, window_secs: Some(100), lock_secs: 10, max_lock_secs: 35, memory_secs: 135 };
    const ACCOUNT: Policy = Policy { max: 3, window_secs: None, lock_secs: 10, max_lock_secs: 35, memory_secs: 1000 };

    fn fail_times(mut counter: Counter, times: u32, now: u64) -> Counter {
        for _ in 0..times {
            counter = counter.fail(now, &LOGIN);
        }
        counter
    }

    #[test]
    fn the_max_th_failure_locks_and_each_lock_in_a_row_doubles_up_to_the_bound() {
        let counter = fail_times(Counter::default(), 2, 1000);
        assert_eq!(counter.retry_after(1000, &LOGIN), None, "two failures are allowed");
        let counter = counter.fail(1000, &LOGIN);
        assert_eq!(counter.retry_after(1000, &LOGIN), Some(10));
        let counter = fail_times(counter, 3, 1010);
        assert_eq!(counter.retry_after(1010, &LOGIN), Some(20), "the second lock doubles");
        let counter = fail_times(counter, 3, 1030);
        assert_eq!(counter.retry_after(1030, &LOGIN), Some(35), "the third is bounded by max_lock");
        let counter = fail_times(counter, 3, 1065);
        assert_eq!(counter.retry_after(1065, &LOGIN), Some(35), "and stays bounded");
        assert_eq!(counter.retry_after(1100, &LOGIN), None, "every lock ends");
    }

    #[test]
    fn failures_spread_beyond_the_window_never_lock_and_a_quiet_window_forgives_strikes() {
        let mut counter = Counter::default();
        for t in 0..10 {
            counter = fail_times(counter, 2, 1000 + t * 100);
            assert_eq!(counter.retry_after(1000 + t * 100, &LOGIN), None);
        }
        let locked = fail_times(Counter::default(), 3, 1000);
        let forgiven = fail_times(locked, 3, 1010 + 100);
        assert_eq!(forgiven.retry_after(1110, &LOGIN), Some(10), "back to the first lock's length");
    }

    #[test]
    fn a_rate_limit_refuses_past_max_until_the_window_ends() {
        let rate = Policy { max: 2, window_secs: Some(60), lock_secs: 0, max_lock_secs: 0, memory_secs: 60 };
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
        assert_eq!(
            defaults.login_per_pair,
            Policy { max: 5, window_secs: Some(900), lock_secs: 60, max_lock_secs: 900, memory_secs: 1800 }
        );
        assert_eq!((defaults.login_per_account.max, defaults.login_per_account.window_secs), (100, None));
        assert_eq!(defaults.login_per_ip.max, 20);
        assert_eq!(defaults.refresh_per_ip.max, 60);
        for (name, value) in
            [("LOGIN_MAX_FAILURES", "0"), ("SIGNUP_MAX_PER_IP", "many"), ("LOGIN_LOCKOUT_SECS", "5000")]
        {
            let err = Policies::from_lookup(|n| (n == name).then(|| value.to_owned())).unwrap_err();
            assert!(err.contains("LOGIN") || err.contains(name), "{err}");
        }
    }

    #[test]
    fn attempts_in_flight_take_the_budget_and_a_success_gives_its_slot_back() {
        let mut counter = Counter::default();
        for _ in 0..3 {
            let (next, gate) = counter.admit(1000, &LOGIN);
            assert_eq!(gate, Gate::Open);
            counter = next;
        }
        assert_eq!(counter.admit(1000, &LOGIN).1, Gate::Full, "three in flight fill a budget of three");
        let counter = counter.settle(1000, &LOGIN, Outcome::Cleared);
        let (counter, gate) = counter.admit(1000, &LOGIN);
        assert_eq!(gate, Gate::Open, "a success frees its slot and counts nothing");
        let counter = counter.settle(1000, &LOGIN, Outcome::Failed).settle(1000, &LOGIN, Outcome::Failed);
        assert_eq!((counter.count, counter.in_flight), (2, 1));
        let counter = counter.settle(1000, &LOGIN, Outcome::Failed);
        assert_eq!(counter.admit(1000, &LOGIN).1, Gate::Held(10), "three failures lock");
    }

    #[test]
    fn slots_of_attempts_that_never_settle_are_given_up_after_a_while() {
        let mut counter = Counter::default();
        for _ in 0..3 {
            counter = counter.admit(1000, &LOGIN).0;
        }
        assert_eq!(counter.admit(1000 + SLOT_SECS - 1, &LOGIN).1, Gate::Full);
        assert_eq!(counter.admit(1000 + SLOT_SECS, &LOGIN).1, Gate::Open);
    }

    #[test]
    fn a_success_that_keeps_the_failures_releases_only_its_slot() {
        let counter = Counter::default().fail(1000, &LOGIN).admit(1000, &LOGIN).0;
        let counter = counter.settle(1000, &LOGIN, Outcome::Released);
        assert_eq!((counter.count, counter.in_flight), (1, 0));
    }

    #[test]
    fn an_account_counts_consecutive_failures_without_a_window_and_holds_until_cleared() {
        let mut counter = Counter::default();
        for day in 0..2 {
            counter = counter.fail(1000 + day * 86_400, &ACCOUNT);
        }
        assert_eq!(counter.retry_after(200_000, &ACCOUNT), None);
        let locked = counter.fail(300_000, &ACCOUNT);
        assert!(Counter::newly_locked(&counter, &locked, 300_000, &ACCOUNT));
        assert!(locked.held_until_cleared());
        assert_eq!(
            locked.admit(9_000_000, &ACCOUNT).1,
            Gate::Held(35),
            "held whatever the time, Retry-After the bound"
        );
        assert_eq!(locked.expires_at(&ACCOUNT), 301_000, "forgotten a memory after the last failure");
        let cleared = locked.clear();
        assert_eq!(cleared.retry_after(300_001, &ACCOUNT), None, "a success from a known source clears it");
        assert_eq!(cleared.count, 0);
    }
}
