//! Browser sessions: random ids in a cookie, kept in the server's memory by their hash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::secret::{digest, random_hex};

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused for this long is over.
    pub idle: Duration,
    /// A session this old is over however busy it is.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    /// 30 minutes idle, 12 hours in all.
    fn default() -> Self {
        SessionPolicy { idle: Duration::from_secs(30 * 60), absolute: Duration::from_secs(12 * 3600) }
    }
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its account.
    pub user: String,
    /// The token that state-changing requests must carry (`X-CSRF-Token` or a `_csrf` field).
    pub csrf: String,
    /// When it started (a password change after this ends it).
    pub started: Timestamp,
    created: Instant,
    last_seen: Instant,
}

/// Why a session cookie was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefusal {
    /// Never issued, or ended (logout, restart, a password change).
    Unknown,
    /// Unused for longer than the idle limit.
    Idle,
    /// Older than the absolute limit.
    Expired,
}

impl SessionRefusal {
    /// For people.
    pub fn message(self) -> &'static str {
        match self {
            SessionRefusal::Unknown => "your session has ended; log in again",
            SessionRefusal::Idle => "your session was idle too long; log in again",
            SessionRefusal::Expired => "your session reached its time limit; log in again",
        }
    }
}

/// The live sessions of a server.
#[derive(Debug, Default)]
pub struct Sessions {
    policy: SessionPolicy,
    live: Mutex<HashMap<String, Session>>,
}

impl Session {
    /// Whether `sent` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        crate::secret::same(&self.csrf, sent)
    }
}

impl Sessions {
    /// No sessions yet, under `policy`.
    pub fn new(policy: SessionPolicy) -> Self {
        Sessions { policy, live: Mutex::default() }
    }

    /// The policy.
    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// Starts a session for `user`; returns the cookie value (kept only as a hash) and the session.
    pub fn start(&self, user: &str) -> (String, Session) {
        let id = random_hex(32);
        let now = Instant::now();
        let session = Session {
            user: user.into(),
            csrf: random_hex(32),
            started: Timestamp::now(),
            created: now,
            last_seen: now,
        };
        let mut live = self.live.lock().expect("not poisoned");
        self.sweep(&mut live, now);
        live.insert(digest(&id), session.clone());
        (id, session)
    }

    /// The session of cookie value `id`, marked as used now.
    pub fn check(&self, id: &str) -> Result<Session, SessionRefusal> {
        let key = digest(id);
        let now = Instant::now();
        let mut live = self.live.lock().expect("not poisoned");
        let session = live.get_mut(&key).ok_or(SessionRefusal::Unknown)?;
        let refusal = if now.duration_since(session.created) >= self.policy.absolute {
            Some(SessionRefusal::Expired)
        } else if now.duration_since(session.last_seen) >= self.policy.idle {
            Some(SessionRefusal::Idle)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            live.remove(&key);
            return Err(refusal);
        }
        session.last_seen = now;
        Ok(session.clone())
    }

    /// Ends the session of cookie value `id`.
    pub fn end(&self, id: &str) {
        self.live.lock().expect("not poisoned").remove(&digest(id));
    }

    /// Ends every session of `user`.
    pub fn end_user(&self, user: &str) {
        self.live.lock().expect("not poisoned").retain(|_, s| s.user != user);
    }

    /// Sessions live now.
    pub fn count(&self) -> usize {
        self.live.lock().expect("not poisoned").len()
    }

    fn sweep(&self, live: &mut HashMap<String, Session>, now: Instant) {
        live.retain(|_, s| {
            now.duration_since(s.created) < self.policy.absolute && now.duration_since(s.last_seen) < self.policy.idle
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_at_their_absolute_limit() {
        let idle = Sessions::new(SessionPolicy { idle: Duration::from_millis(80), absolute: Duration::from_secs(60) });
        let (id, _) = idle.start("ana");
        assert!(idle.check(&id).is_ok());
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(idle.check(&id).unwrap_err(), SessionRefusal::Idle);
        assert_eq!(idle.check(&id).unwrap_err(), SessionRefusal::Unknown);

        let short =
            Sessions::new(SessionPolicy { idle: Duration::from_secs(60), absolute: Duration::from_millis(150) });
        let (id, _) = short.start("ana");
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(40));
            assert!(short.check(&id).is_ok(), "use keeps it alive until the absolute limit");
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(short.check(&id).unwrap_err(), SessionRefusal::Expired);
    }

    #[test]
    fn logout_and_forged_ids() {
        let sessions = Sessions::default();
        let (id, session) = sessions.start("ana");
        assert_eq!(session.csrf.len(), 64);
        assert!(session.csrf_matches(&session.csrf.clone()) && !session.csrf_matches(&"0".repeat(64)));
        assert_eq!(sessions.check("0".repeat(64).as_str()).unwrap_err(), SessionRefusal::Unknown);
        sessions.end(&id);
        assert_eq!(sessions.check(&id).unwrap_err(), SessionRefusal::Unknown);
        let (a, _) = sessions.start("ana");
        let (b, _) = sessions.start("bo");
        sessions.end_user("ana");
        assert!(sessions.check(&a).is_err() && sessions.check(&b).is_ok());
    }
}
