//! Failed-login throttling per source address and per login name.
//!
//! Each key (an address, a login name) keeps the times of its recent failures. Once it has
//! `max_failures` within `window`, it is locked out until the oldest of them leaves the window,
//! so a steady guesser is held to `max_failures` attempts per window. A success clears the
//! login name's record (not the address's: one good login must not unlock a scanner sharing a
//! NAT with it). Memory is bounded: at most `max_keys` keys are tracked, the stalest evicted.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Throttling settings.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleConfig {
    pub max_failures: usize,
    pub window: Duration,
    pub max_keys: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_failures: 10,
            window: Duration::from_secs(300),
            max_keys: 100_000,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    Addr(IpAddr),
    User(String),
}

/// The failure records.
#[derive(Debug)]
pub struct Throttle {
    cfg: ThrottleConfig,
    failures: HashMap<Key, VecDeque<Instant>>,
}

/// Which limit is engaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    Address,
    User,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Throttle {
        Throttle {
            cfg,
            failures: HashMap::new(),
        }
    }

    fn locked(&mut self, key: &Key, now: Instant) -> bool {
        let window = self.cfg.window;
        match self.failures.get_mut(key) {
            Some(q) => {
                while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
                    q.pop_front();
                }
                q.len() >= self.cfg.max_failures
            }
            None => false,
        }
    }

    /// Is a login attempt by `user` from `addr` allowed now?
    pub fn check(&mut self, addr: IpAddr, user: &str, now: Instant) -> Result<(), Blocked> {
        if self.locked(&Key::Addr(addr), now) {
            return Err(Blocked::Address);
        }
        if self.locked(&Key::User(user.to_string()), now) {
            return Err(Blocked::User);
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub fn failure(&mut self, addr: IpAddr, user: &str, now: Instant) {
        if self.failures.len() >= self.cfg.max_keys {
            self.evict(now);
        }
        for key in [Key::Addr(addr), Key::User(user.to_string())] {
            let q = self.failures.entry(key).or_default();
            q.push_back(now);
            while q.len() > self.cfg.max_failures {
                q.pop_front();
            }
        }
    }

    /// Records a success: the login name's failures are forgotten.
    pub fn success(&mut self, user: &str) {
        self.failures.remove(&Key::User(user.to_string()));
    }

    fn evict(&mut self, now: Instant) {
        let window = self.cfg.window;
        self.failures
            .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        while self.failures.len() >= self.cfg.max_keys {
            let oldest = self
                .failures
                .iter()
                .min_by_key(|(_, q)| q.back().copied())
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.failures.remove(&k);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            max_failures: 3,
            window: Duration::from_secs(60),
            max_keys: 4,
        }
    }

    #[test]
    fn locks_address_after_failures_and_releases_after_window() {
        let mut t = Throttle::new(cfg());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(t.check(a, &format!("u{i}"), t0), Ok(()));
            t.failure(a, &format!("u{i}"), t0);
        }
        assert_eq!(t.check(a, "other", t0), Err(Blocked::Address));
        assert_eq!(t.check(a, "other", t0 + Duration::from_secs(61)), Ok(()));
    }

    #[test]
    fn locks_user_across_addresses_and_success_clears_it() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        for i in 1..=3u8 {
            t.failure(IpAddr::from([10, 0, 0, i]), "alice", t0);
        }
        assert_eq!(
            t.check(IpAddr::from([10, 0, 0, 9]), "alice", t0),
            Err(Blocked::User)
        );
        t.success("alice");
        assert_eq!(t.check(IpAddr::from([10, 0, 0, 9]), "alice", t0), Ok(()));
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        for i in 0..100u32 {
            t.failure(
                IpAddr::from(i.to_be_bytes()),
                "x",
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert!(t.failures.len() <= 4);
    }
}
