//! Sessions opened by a login, and the per-client login rate limit. Both are bounded in-memory
//! maps that drop expired entries as they go: a flood of logins or clients cannot grow them.
//! A restart ends every session (the phone logs in again); nothing here touches the disk.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::{random_token, same_secret};

/// How long a login lasts. Long, because the phone is how a person stops the alarm.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// At most this many sessions; a new login past it ends the one closest to expiry.
const MAX_SESSIONS: usize = 32;

/// Open sessions: random ids (256 bits) with their expiry.
#[derive(Default)]
pub struct Sessions {
    open: HashMap<String, Instant>,
    /// The password hash the sessions were opened under: a new password ends them all.
    opened_under: Option<std::sync::Arc<str>>,
}

impl Sessions {
    /// Opens a session under password `hash`; returns its id.
    pub fn open(&mut self, hash: &std::sync::Arc<str>, now: Instant) -> String {
        self.forget_if_password_changed(Some(hash));
        self.open.retain(|_, expiry| *expiry > now);
        if self.open.len() >= MAX_SESSIONS {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, expiry)| **expiry)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.open.remove(&id);
            }
        }
        let id = random_token();
        self.open.insert(id.clone(), now + SESSION_LIFETIME);
        id
    }

    /// Whether `id` is an open session under the current password `hash`.
    pub fn check(&mut self, id: &str, hash: Option<&std::sync::Arc<str>>, now: Instant) -> bool {
        self.forget_if_password_changed(hash);
        let found = self
            .open
            .iter()
            .find(|(open, _)| same_secret(open, id))
            .map(|(open, expiry)| (open.clone(), *expiry));
        match found {
            Some((_, expiry)) if expiry > now => true,
            Some((open, _)) => {
                self.open.remove(&open);
                false
            }
            None => false,
        }
    }

    pub fn close(&mut self, id: &str) -> bool {
        self.open.remove(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    fn forget_if_password_changed(&mut self, hash: Option<&std::sync::Arc<str>>) {
        if self.opened_under.as_ref() != hash {
            self.open.clear();
            self.opened_under = hash.cloned();
        }
    }
}

/// Login attempts: at most [`LoginLimiter::ATTEMPTS`] per client address and
/// [`LoginLimiter::ALL_ATTEMPTS`] in all in any [`LoginLimiter::WINDOW`]. The total bounds a
/// guesser who takes many addresses on the LAN; the command line on the Pi needs no login, so
/// the owner is never locked out.
#[derive(Default)]
pub struct LoginLimiter {
    attempts: HashMap<IpAddr, VecDeque<Instant>>,
    all: VecDeque<Instant>,
}

impl LoginLimiter {
    pub const ATTEMPTS: usize = 5;
    pub const ALL_ATTEMPTS: usize = 30;
    pub const WINDOW: Duration = Duration::from_secs(60);
    /// Clients remembered at once; past it the one idle longest is forgotten.
    const MAX_CLIENTS: usize = 256;

    /// Counts an attempt from `client`; `Err(wait)` when it is over the limit (the attempt is
    /// not counted then, so waiting `wait` always helps).
    pub fn attempt(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let window_start = now.checked_sub(Self::WINDOW);
        let recent = |t: &Instant| window_start.is_none_or(|start| *t > start);
        self.attempts.retain(|_, times| {
            times.retain(recent);
            !times.is_empty()
        });
        self.all.retain(recent);
        if !self.attempts.contains_key(&client) && self.attempts.len() >= Self::MAX_CLIENTS {
            let idle = self
                .attempts
                .iter()
                .min_by_key(|(_, times)| times.back().copied())
                .map(|(ip, _)| *ip);
            if let Some(ip) = idle {
                self.attempts.remove(&ip);
            }
        }
        let times = self.attempts.entry(client).or_default();
        if times.len() >= Self::ATTEMPTS {
            let oldest = times.front().copied().expect("a full window is not empty");
            return Err((oldest + Self::WINDOW).saturating_duration_since(now));
        }
        if self.all.len() >= Self::ALL_ATTEMPTS {
            let oldest = self
                .all
                .front()
                .copied()
                .expect("a full window is not empty");
            return Err((oldest + Self::WINDOW).saturating_duration_since(now));
        }
        times.push_back(now);
        self.all.push_back(now);
        Ok(())
    }

    pub fn clients(&self) -> usize {
        self.attempts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sessions_expire_are_bounded_and_end_with_a_new_password() {
        let start = Instant::now();
        let hash: Arc<str> = Arc::from("h1");
        let mut sessions = Sessions::default();
        let id = sessions.open(&hash, start);
        assert!(sessions.check(&id, Some(&hash), start + Duration::from_secs(60)));
        assert!(!sessions.check("not-a-session", Some(&hash), start));
        assert!(!sessions.check(&id, Some(&hash), start + SESSION_LIFETIME));
        assert!(
            sessions.is_empty(),
            "an expired session is dropped when seen"
        );

        let ids: Vec<String> = (0..MAX_SESSIONS + 5)
            .map(|i| sessions.open(&hash, start + Duration::from_secs(i as u64)))
            .collect();
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(!sessions.check(&ids[0], Some(&hash), start + Duration::from_secs(100)));
        let newest = ids.last().unwrap();
        assert!(sessions.check(newest, Some(&hash), start + Duration::from_secs(100)));

        let other: Arc<str> = Arc::from("h2");
        assert!(!sessions.check(newest, Some(&other), start + Duration::from_secs(100)));
        assert!(sessions.is_empty());
        assert!(!sessions.check(newest, None, start));
    }

    #[test]
    fn logins_are_limited_per_client_and_the_wait_is_exact() {
        let start = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("192.168.1.10".parse().unwrap(), "::1".parse().unwrap());
        let mut limiter = LoginLimiter::default();
        for i in 0..LoginLimiter::ATTEMPTS {
            limiter
                .attempt(a, start + Duration::from_secs(i as u64))
                .unwrap();
        }
        let wait = limiter
            .attempt(a, start + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Another client is not affected.
        limiter.attempt(b, start + Duration::from_secs(10)).unwrap();
        // After the wait, one more attempt is allowed: the oldest left the window.
        let after = start + Duration::from_secs(60) + Duration::from_millis(1);
        limiter.attempt(a, after).unwrap();
        assert!(limiter.attempt(a, after).is_err());
        // Many addresses together get no more than the total.
        let at = start + Duration::from_secs(62);
        let allowed = (0..1000u32)
            .filter(|i| {
                let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
                limiter.attempt(ip, at).is_ok()
            })
            .count();
        assert!(allowed < LoginLimiter::ALL_ATTEMPTS, "{allowed}");
        assert!(limiter.clients() <= LoginLimiter::MAX_CLIENTS);
        // Everyone is forgotten after a quiet window.
        limiter
            .attempt(b, start + Duration::from_secs(200))
            .unwrap();
        assert_eq!(limiter.clients(), 1);
    }
}
