//! Brakes on password guessing: per account and per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How hard guessing is made.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failed logins in a row that lock an account.
    pub max_failures: u32,
    /// How long a locked account stays locked.
    pub lockout: Duration,
    /// Login attempts one address may make per [`ThrottlePolicy::window`].
    pub per_address: u32,
    /// The window of `per_address`.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    /// 5 failures lock an account for 15 minutes; 10 attempts per address per minute.
    fn default() -> Self {
        ThrottlePolicy {
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            per_address: 10,
            window: Duration::from_secs(60),
        }
    }
}

/// Whether a login attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Allow,
    /// The account is locked for this long.
    Locked(Duration),
    /// The address has tried too often; it may try again after this long.
    TooMany(Duration),
}

#[derive(Debug, Default)]
struct State {
    /// Failures in a row, and when the account's lock ends, by account name (names that do not
    /// exist are tracked alike, so lockouts do not tell which names exist).
    accounts: HashMap<String, (u32, Option<Instant>)>,
    /// Attempts in the current window, by address.
    addresses: HashMap<IpAddr, (Instant, u32)>,
}

/// Counts login attempts and failures.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    state: Mutex<State>,
}

/// Entries kept at most per map before old ones are swept (a flood of made-up names or
/// addresses must not grow memory without bound).
const SWEEP_AT: usize = 10_000;

impl LoginThrottle {
    /// A throttle under `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle { policy, state: Mutex::default() }
    }

    /// Records an attempt by `from` at `user` and says whether it may go ahead.
    pub fn attempt(&self, user: &str, from: IpAddr) -> Verdict {
        let now = Instant::now();
        let mut state = self.state.lock().expect("not poisoned");
        if state.addresses.len() > SWEEP_AT {
            let window = self.policy.window;
            state.addresses.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let (start, count) = state.addresses.entry(from).or_insert((now, 0));
        if now.duration_since(*start) >= self.policy.window {
            *start = now;
            *count = 0;
        }
        *count += 1;
        if *count > self.policy.per_address {
            return Verdict::TooMany(self.policy.window.saturating_sub(now.duration_since(*start)));
        }
        match state.accounts.get(user) {
            Some((_, Some(until))) if *until > now => Verdict::Locked(*until - now),
            _ => Verdict::Allow,
        }
    }

    /// Records a wrong password for `user`; returns whether that locked the account.
    pub fn failed(&self, user: &str) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock().expect("not poisoned");
        if state.accounts.len() > SWEEP_AT {
            state.accounts.retain(|_, (_, until)| until.is_some_and(|u| u > now));
        }
        let (failures, until) = state.accounts.entry(user.to_string()).or_insert((0, None));
        if until.is_some_and(|u| u <= now) {
            *failures = 0;
            *until = None;
        }
        *failures += 1;
        if *failures >= self.policy.max_failures {
            *until = Some(now + self.policy.lockout);
            return true;
        }
        false
    }

    /// Records a successful login: the count of failures starts again.
    pub fn succeeded(&self, user: &str) {
        self.state.lock().expect("not poisoned").accounts.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_the_account_and_addresses_are_rate_limited() {
        let throttle = LoginThrottle::new(ThrottlePolicy {
            max_failures: 3,
            lockout: Duration::from_millis(200),
            per_address: 100,
            window: Duration::from_secs(60),
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..3 {
            assert_eq!(throttle.attempt("ana", ip), Verdict::Allow);
            assert_eq!(throttle.failed("ana"), i == 2);
        }
        assert!(matches!(throttle.attempt("ana", ip), Verdict::Locked(_)));
        assert_eq!(throttle.attempt("bo", ip), Verdict::Allow, "other accounts are not locked");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(throttle.attempt("ana", ip), Verdict::Allow, "the lock ends");

        let strict = LoginThrottle::new(ThrottlePolicy { per_address: 2, ..ThrottlePolicy::default() });
        assert_eq!(strict.attempt("a", ip), Verdict::Allow);
        assert_eq!(strict.attempt("b", ip), Verdict::Allow);
        assert!(matches!(strict.attempt("c", ip), Verdict::TooMany(_)));
        assert_eq!(strict.attempt("c", "10.0.0.2".parse().unwrap()), Verdict::Allow);
    }
}
