//! Brute-force throttling (SPEC §2): failed logins are counted per device
//! (Calling-Station-Id) and per NAS (source address). Past the threshold in
//! the window, further attempts are refused for a cool-down without touching
//! the store. The store's writer checks and records each Access-Request in
//! the order it decides them, so a burst of simultaneous guesses is cut
//! exactly at the threshold. Memory is bounded: at most `max_tracked`
//! devices, NASes and good devices each (oldest forgotten first; for good
//! devices, the least recent of the few a new one could take the place of).
//!
//! Pure state with the clock passed in.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::time::{Duration, Instant};

use crate::config::ThrottleConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// This device failed too often.
    DeviceThrottled,
    /// Devices behind this NAS failed too often (MAC cycling).
    NasThrottled,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

impl Counter {
    fn new(now: Instant) -> Self {
        Counter {
            window_start: now,
            failures: 0,
            blocked_until: None,
        }
    }

    fn blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|b| now < b)
    }

    fn fail(&mut self, now: Instant, window: Duration, limit: u32, cooldown: Duration) {
        if now.saturating_duration_since(self.window_start) >= window {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= limit {
            self.blocked_until = Some(now + cooldown);
            self.failures = 0;
            self.window_start = now;
        }
    }
}

/// A map that forgets its oldest entries beyond `cap`.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    fn get<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.map.get(k)
    }

    fn entry(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&k) {
            while self.map.len() >= self.cap {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(k.clone());
        }
        self.map.entry(k).or_insert_with(make)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Devices that logged in successfully, and when: a set-associative table
/// of [`Recent::WAYS`] entries per set (fewer when the whole table is
/// smaller), by [`Throttle::good_key`] — already a random hash, so it picks
/// the set. A new device takes an empty entry of its set, else the least
/// recent one. Against a map with a queue of keys in age order, a login
/// costs one hash and touches one cache line or two, also when 10^5–10^6
/// devices cycle through the table.
#[derive(Debug)]
struct Recent {
    /// `[key, nanoseconds since base + 1]`; `[_, 0]` is an empty entry (so a
    /// new table is zeroed memory, taken from the OS as it is touched).
    slots: Vec<[u64; 2]>,
    sets: u64,
    ways: usize,
    used: usize,
    base: Instant,
}

impl Recent {
    const WAYS: usize = 4;

    /// Room for at most `cap` devices (whole sets, at least one entry).
    fn new(cap: usize, base: Instant) -> Self {
        let ways = cap.clamp(1, Self::WAYS);
        let sets = (cap / ways).max(1);
        Recent {
            slots: vec![[0, 0]; sets * ways],
            sets: sets as u64,
            ways,
            used: 0,
            base,
        }
    }

    /// Where the set of `key` starts in `slots`.
    fn set_start(&self, key: u64) -> usize {
        // The remainder is below `sets`, a usize.
        (key % self.sets) as usize * self.ways
    }

    fn stamp(&self, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(self.base).as_nanos();
        u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1
    }

    /// When `key` was last seen, if it is still held.
    fn get(&self, key: u64) -> Option<Instant> {
        let i = self.set_start(key);
        self.slots[i..i + self.ways]
            .iter()
            .find(|s| s[1] != 0 && s[0] == key)
            .map(|s| self.base + Duration::from_nanos(s[1] - 1))
    }

    /// `key` seen at `now`.
    fn record(&mut self, key: u64, now: Instant) {
        let at = self.stamp(now);
        let i = self.set_start(key);
        let set = &mut self.slots[i..i + self.ways];
        if let Some(s) = set.iter_mut().find(|s| s[1] != 0 && s[0] == key) {
            s[1] = s[1].max(at);
            return;
        }
        // An empty entry has time 0: the least recent of all.
        let Some(s) = set.iter_mut().min_by_key(|s| s[1]) else {
            return;
        };
        let was_empty = s[1] == 0;
        *s = [key, at];
        if was_empty {
            self.used += 1;
        }
    }
}

/// Throttle state. The store's writer checks and records every
/// Access-Request in the order it decides them, so a burst of simultaneous
/// guesses is cut exactly at the threshold.
#[derive(Debug)]
pub struct Throttle {
    cfg: ThrottleConfig,
    devices: Bounded<String, Counter>,
    nases: Bounded<String, Counter>,
    /// Devices that logged in successfully, and when, by
    /// [`Throttle::good_key`].
    good: Recent,
    /// The random key of [`Throttle::good_key`]'s hash, new in every process.
    good_keys: RandomState,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        let cap = cfg.max_tracked;
        Throttle {
            cfg,
            devices: Bounded::new(cap),
            nases: Bounded::new(cap),
            good: Recent::new(cap, Instant::now()),
            good_keys: RandomState::new(),
        }
    }

    /// The key of a (NAS, device) pair in `good`: a 64-bit SipHash of the
    /// pair under a random key. A login hashes the pair once and the table
    /// holds 16 bytes per device, with no string copied or freed — which is
    /// what a login cost when 1M devices cycle through the table. Guessing
    /// which device would collide with a good one needs the key, which
    /// never leaves the process; by chance, some two of 100,000 pairs
    /// collide with a probability of about 3 in 10^10.
    fn good_key(&self, nas: &str, device: &str) -> u64 {
        // A tuple of strings hashes each one's bytes and a terminator: the
        // pair is unambiguous whatever bytes either holds.
        self.good_keys.hash_one((nas, device))
    }

    /// New limits (a reload); what is tracked stays. The table sizes
    /// (`max_tracked`) stay as they were made.
    pub fn set_config(&mut self, cfg: ThrottleConfig) {
        self.cfg = ThrottleConfig {
            max_tracked: self.cfg.max_tracked,
            ..cfg
        };
    }

    /// Entries held (devices, NASes, good devices): for tests and metrics.
    pub fn tracked(&self) -> (usize, usize, usize) {
        (self.devices.len(), self.nases.len(), self.good.used)
    }

    /// May this attempt go ahead?
    pub fn check(&self, nas: &str, device: Option<&str>, now: Instant) -> Verdict {
        let c = &self.cfg;
        if c.device_failures > 0 {
            if let Some(d) = device {
                if self.devices.get(d).is_some_and(|dc| dc.blocked(now)) {
                    return Verdict::DeviceThrottled;
                }
            }
        }
        if c.nas_failures > 0 && self.nases.get(nas).is_some_and(|nc| nc.blocked(now)) {
            let recently_good = device.is_some_and(|d| {
                self.good
                    .get(self.good_key(nas, d))
                    .is_some_and(|t| now.saturating_duration_since(t) < c.nas_cooldown)
            });
            if !recently_good {
                return Verdict::NasThrottled;
            }
        }
        Verdict::Allow
    }

    /// Record the outcome of an attempt that went ahead. `guess_failed`: the
    /// code was unknown or the password wrong. `accepted`: it succeeded.
    pub fn record(
        &mut self,
        nas: &str,
        device: Option<&str>,
        guess_failed: bool,
        accepted: bool,
        now: Instant,
    ) {
        let c = &self.cfg;
        if guess_failed {
            if c.nas_failures > 0 {
                self.nases
                    .entry(nas.to_string(), || Counter::new(now))
                    .fail(now, c.nas_window, c.nas_failures, c.nas_cooldown);
            }
            if let (Some(d), true) = (device, c.device_failures > 0) {
                self.devices
                    .entry(d.to_string(), || Counter::new(now))
                    .fail(now, c.device_window, c.device_failures, c.device_cooldown);
            }
        }
        if let (Some(d), true) = (device, accepted) {
            let key = self.good_key(nas, d);
            self.good.record(key, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            device_failures: 3,
            device_window: Duration::from_secs(60),
            device_cooldown: Duration::from_secs(300),
            nas_failures: 10,
            nas_window: Duration::from_secs(60),
            nas_cooldown: Duration::from_secs(60),
            max_tracked: 1000,
        }
    }

    const NAS: &str = "192.0.2.1";

    #[test]
    fn good_keys_of_different_pairs_differ() {
        let t = Throttle::new(cfg());
        let key = |nas: &str, dev: &str| t.good_key(nas, dev);
        assert_ne!(key("api:a", "bc"), key("api:ab", "c"));
        assert_ne!(key("api:a\0b", "c"), key("api:a", "b\0c"));
        assert_ne!(key(NAS, "A"), key(NAS, "B"));
        assert_eq!(key(NAS, "A"), key(NAS, "A"));
        // Another throttle (another key) hashes the same pair differently.
        assert_ne!(Throttle::new(cfg()).good_key(NAS, "A"), key(NAS, "A"));
    }

    fn fail(t: &mut Throttle, dev: &str, now: Instant) -> Verdict {
        let v = t.check(NAS, Some(dev), now);
        if v == Verdict::Allow {
            t.record(NAS, Some(dev), true, false, now);
        }
        v
    }

    fn ok(t: &mut Throttle, dev: &str, now: Instant) -> Verdict {
        let v = t.check(NAS, Some(dev), now);
        if v == Verdict::Allow {
            t.record(NAS, Some(dev), false, true, now);
        }
        v
    }

    #[test]
    fn device_is_throttled_after_threshold_then_cools_down() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(fail(&mut t, "A", t0), Verdict::Allow);
        }
        assert_eq!(t.check(NAS, Some("A"), t0), Verdict::DeviceThrottled);
        // Another device on the same NAS is not affected.
        assert_eq!(ok(&mut t, "B", t0), Verdict::Allow);
        assert_eq!(
            t.check(NAS, Some("A"), t0 + Duration::from_secs(299)),
            Verdict::DeviceThrottled
        );
        assert_eq!(
            t.check(NAS, Some("A"), t0 + Duration::from_secs(300)),
            Verdict::Allow
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(
                fail(&mut t, "A", t0 + Duration::from_secs(i * 31)),
                Verdict::Allow,
                "attempt {i}"
            );
        }
    }

    #[test]
    fn successes_and_non_guess_rejects_do_not_count() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        for _ in 0..20 {
            assert_eq!(t.check(NAS, Some("A"), t0), Verdict::Allow);
            t.record(NAS, Some("A"), false, false, t0);
            assert_eq!(ok(&mut t, "A", t0), Verdict::Allow);
        }
    }

    #[test]
    fn mac_cycling_hits_the_nas_limit_but_recent_good_devices_pass() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        assert_eq!(ok(&mut t, "GOOD", t0), Verdict::Allow);
        for i in 0..10 {
            assert_eq!(fail(&mut t, &format!("M{i}"), t0), Verdict::Allow);
        }
        assert_eq!(t.check(NAS, Some("NEW"), t0), Verdict::NasThrottled);
        assert_eq!(t.check(NAS, None, t0), Verdict::NasThrottled);
        assert_eq!(ok(&mut t, "GOOD", t0), Verdict::Allow);
        // Another NAS is not affected.
        assert_eq!(t.check("192.0.2.2", Some("NEW"), t0), Verdict::Allow);
        // After the cool-down the NAS is open again.
        assert_eq!(
            t.check(NAS, Some("NEW"), t0 + Duration::from_secs(60)),
            Verdict::Allow
        );
    }

    #[test]
    fn memory_is_bounded_under_a_flood_of_devices() {
        let mut c = cfg();
        c.max_tracked = 1000;
        c.nas_failures = 0;
        let mut t = Throttle::new(c);
        let t0 = Instant::now();
        for i in 0..100_000 {
            fail(&mut t, &format!("dev{i}"), t0);
            ok(&mut t, &format!("good{i}"), t0);
        }
        // Full to the cap, not beyond (NAS counting is off here).
        assert_eq!(t.tracked(), (1000, 0, 1000));
        assert!(t.devices.order.len() <= 1000 && t.good.slots.len() == 1000);
    }

    #[test]
    fn forgetting_takes_the_oldest_only() {
        let mut c = cfg();
        c.max_tracked = 3;
        let mut t = Throttle::new(c);
        let t0 = Instant::now();
        fail(&mut t, "A", t0);
        fail(&mut t, "A", t0);
        fail(&mut t, "B", t0);
        assert_eq!(t.tracked(), (2, 1, 0));
        // A's third failure counts with its first two.
        assert_eq!(fail(&mut t, "A", t0), Verdict::Allow);
        assert_eq!(t.check(NAS, Some("A"), t0), Verdict::DeviceThrottled);
        // Two more devices: the oldest (A) goes first.
        fail(&mut t, "C", t0);
        fail(&mut t, "D", t0);
        assert_eq!(t.tracked(), (3, 1, 0));
        assert_eq!(t.check(NAS, Some("A"), t0), Verdict::Allow);
    }

    #[test]
    fn a_small_table_holds_no_more_than_its_cap() {
        for cap in 1..10 {
            let mut c = cfg();
            c.max_tracked = cap;
            let mut t = Throttle::new(c);
            let t0 = Instant::now();
            for i in 0..50 {
                ok(&mut t, &format!("D{i}"), t0 + Duration::from_secs(i));
            }
            let held = t.tracked().2;
            assert!(held <= cap && held >= cap.min(4), "cap {cap}: {held}");
        }
    }

    #[test]
    fn a_new_good_device_takes_the_least_recent_place() {
        let mut c = cfg();
        c.max_tracked = 4; // one set of four
        let mut t = Throttle::new(c);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let held = |t: &Throttle, d: &str| t.good.get(t.good_key(NAS, d));
        for (i, d) in ["D0", "D1", "D2", "D3"].into_iter().enumerate() {
            ok(&mut t, d, at(i as u64));
        }
        assert_eq!(t.tracked().2, 4);
        // D0 logs in again: now D1 is the least recent.
        ok(&mut t, "D0", at(10));
        ok(&mut t, "D4", at(11));
        assert_eq!(held(&t, "D0"), Some(at(10)));
        assert_eq!(held(&t, "D1"), None);
        assert_eq!(held(&t, "D2"), Some(at(2)));
        assert_eq!(held(&t, "D4"), Some(at(11)));
        assert_eq!(t.tracked().2, 4);
        // A larger table (250 sets) has room for every one of a few devices
        // (five of ten in one set: about 6 in 10^8).
        let mut t = Throttle::new(cfg());
        for i in 0..10 {
            ok(&mut t, &format!("E{i}"), at(i));
        }
        assert_eq!(t.tracked().2, 10);
    }

    #[test]
    fn a_good_device_is_as_recent_as_its_last_login() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(ok(&mut t, "GOOD", at(0)), Verdict::Allow);
        assert_eq!(ok(&mut t, "GOOD", at(50)), Verdict::Allow);
        assert_eq!(ok(&mut t, "OLD", at(0)), Verdict::Allow);
        // MAC cycling blocks the NAS from 55 s to 115 s.
        for i in 0..10 {
            fail(&mut t, &format!("M{i}"), at(55));
        }
        assert_eq!(t.check(NAS, Some("NEW"), at(70)), Verdict::NasThrottled);
        // Good within nas_cooldown (60 s) of its last login, not its first.
        assert_eq!(t.check(NAS, Some("GOOD"), at(70)), Verdict::Allow);
        assert_eq!(t.check(NAS, Some("GOOD"), at(109)), Verdict::Allow);
        assert_eq!(t.check(NAS, Some("GOOD"), at(110)), Verdict::NasThrottled);
        assert_eq!(t.check(NAS, Some("OLD"), at(59)), Verdict::Allow);
        assert_eq!(t.check(NAS, Some("OLD"), at(60)), Verdict::NasThrottled);
    }

    #[test]
    fn disabled_limits_never_throttle() {
        let mut c = cfg();
        c.device_failures = 0;
        c.nas_failures = 0;
        let mut t = Throttle::new(c);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert_eq!(fail(&mut t, "A", t0), Verdict::Allow);
        }
        // Nor do they keep counters.
        assert_eq!(t.tracked(), (0, 0, 0));
    }
}
