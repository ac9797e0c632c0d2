//! Brute-force throttling (SPEC §2): failed logins are counted per device
//! (Calling-Station-Id) and per NAS (source address). Past the threshold in
//! the window, further attempts are refused for a cool-down without touching
//! the store. Attempts in flight count as failures until they are decided,
//! so a burst of simultaneous guesses cannot slip past the threshold.
//! Memory is bounded: at most `max_tracked` devices and NASes each.
//!
//! Pure state with the clock passed in; the server holds it behind a mutex.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
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
    in_flight: u32,
    blocked_until: Option<Instant>,
}

impl Counter {
    fn new(now: Instant) -> Self {
        Counter {
            window_start: now,
            failures: 0,
            in_flight: 0,
            blocked_until: None,
        }
    }

    fn roll(&mut self, now: Instant, window: Duration) {
        if now.saturating_duration_since(self.window_start) >= window {
            self.window_start = now;
            self.failures = 0;
        }
        if self.blocked_until.is_some_and(|b| now >= b) {
            self.blocked_until = None;
        }
    }

    fn blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|b| now < b)
    }

    /// Would one more attempt exceed the limit?
    fn full(&self, limit: u32) -> bool {
        self.failures.saturating_add(self.in_flight) >= limit
    }

    fn fail(&mut self, now: Instant, limit: u32, cooldown: Duration) {
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

    fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k)
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
            // Keys removed from the map but still queued are skipped above;
            // keep the queue from growing without bound.
            if self.order.len() > self.cap.saturating_mul(2) {
                let map = &self.map;
                self.order.retain(|k| map.contains_key(k));
            }
        }
        self.map.entry(k).or_insert_with(make)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

#[derive(Debug)]
pub struct Throttle {
    cfg: ThrottleConfig,
    devices: Bounded<String, Counter>,
    nases: Bounded<IpAddr, Counter>,
    /// Devices that logged in successfully, and when.
    good: Bounded<(IpAddr, String), Instant>,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        let cap = cfg.max_tracked;
        Throttle {
            cfg,
            devices: Bounded::new(cap),
            nases: Bounded::new(cap),
            good: Bounded::new(cap),
        }
    }

    /// Entries held (devices, NASes, good devices): for tests and metrics.
    pub fn tracked(&self) -> (usize, usize, usize) {
        (self.devices.len(), self.nases.len(), self.good.len())
    }

    /// Check an attempt; if allowed it is counted as in flight until
    /// [`finish`](Self::finish) is called with the same arguments.
    pub fn begin(&mut self, nas: IpAddr, device: Option<&str>, now: Instant) -> Verdict {
        let c = &self.cfg;
        if c.device_failures > 0 {
            if let Some(d) = device {
                if let Some(dc) = self.devices.get_mut(&d.to_string()) {
                    dc.roll(now, c.device_window);
                    if dc.blocked(now) || dc.full(c.device_failures) {
                        return Verdict::DeviceThrottled;
                    }
                }
            }
        }
        if c.nas_failures > 0 {
            let nc = self.nases.entry(nas, || Counter::new(now));
            nc.roll(now, c.nas_window);
            if nc.blocked(now) || nc.full(c.nas_failures) {
                let recently_good = device.is_some_and(|d| {
                    self.good
                        .get_mut(&(nas, d.to_string()))
                        .is_some_and(|t| now.saturating_duration_since(*t) < c.nas_cooldown)
                });
                if !recently_good {
                    return Verdict::NasThrottled;
                }
            }
            nc.in_flight = nc.in_flight.saturating_add(1);
        }
        if c.device_failures > 0 {
            if let Some(d) = device {
                let dc = self.devices.entry(d.to_string(), || Counter::new(now));
                dc.in_flight = dc.in_flight.saturating_add(1);
            }
        }
        Verdict::Allow
    }

    /// Record the outcome of an allowed attempt. `guess_failed`: the code
    /// was unknown or the password wrong. `accepted`: the login succeeded.
    pub fn finish(
        &mut self,
        nas: IpAddr,
        device: Option<&str>,
        guess_failed: bool,
        accepted: bool,
        now: Instant,
    ) {
        let c = self.cfg.clone();
        if c.nas_failures > 0 {
            if let Some(nc) = self.nases.get_mut(&nas) {
                nc.in_flight = nc.in_flight.saturating_sub(1);
                if guess_failed {
                    nc.roll(now, c.nas_window);
                    nc.fail(now, c.nas_failures, c.nas_cooldown);
                }
            }
        }
        if let Some(d) = device {
            if c.device_failures > 0 {
                if let Some(dc) = self.devices.get_mut(&d.to_string()) {
                    dc.in_flight = dc.in_flight.saturating_sub(1);
                    if guess_failed {
                        dc.roll(now, c.device_window);
                        dc.fail(now, c.device_failures, c.device_cooldown);
                    }
                }
            }
            if accepted {
                *self.good.entry((nas, d.to_string()), || now) = now;
            }
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

    const NAS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn fail(t: &mut Throttle, dev: &str, now: Instant) -> Verdict {
        let v = t.begin(NAS, Some(dev), now);
        if v == Verdict::Allow {
            t.finish(NAS, Some(dev), true, false, now);
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
        assert_eq!(t.begin(NAS, Some("A"), t0), Verdict::DeviceThrottled);
        // Another device on the same NAS is not affected.
        assert_eq!(t.begin(NAS, Some("B"), t0), Verdict::Allow);
        t.finish(NAS, Some("B"), false, true, t0);
        assert_eq!(
            t.begin(NAS, Some("A"), t0 + Duration::from_secs(299)),
            Verdict::DeviceThrottled
        );
        assert_eq!(
            t.begin(NAS, Some("A"), t0 + Duration::from_secs(300)),
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
            assert_eq!(t.begin(NAS, Some("A"), t0), Verdict::Allow);
            t.finish(NAS, Some("A"), false, false, t0);
        }
    }

    #[test]
    fn attempts_in_flight_count_so_bursts_cannot_slip_through() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        let allowed = (0..50)
            .filter(|_| t.begin(NAS, Some("A"), t0) == Verdict::Allow)
            .count();
        assert_eq!(allowed, 3);
    }

    #[test]
    fn mac_cycling_hits_the_nas_limit_but_recent_good_devices_pass() {
        let mut t = Throttle::new(cfg());
        let t0 = Instant::now();
        assert_eq!(t.begin(NAS, Some("GOOD"), t0), Verdict::Allow);
        t.finish(NAS, Some("GOOD"), false, true, t0);
        for i in 0..10 {
            assert_eq!(fail(&mut t, &format!("M{i}"), t0), Verdict::Allow);
        }
        assert_eq!(t.begin(NAS, Some("NEW"), t0), Verdict::NasThrottled);
        assert_eq!(t.begin(NAS, None, t0), Verdict::NasThrottled);
        assert_eq!(t.begin(NAS, Some("GOOD"), t0), Verdict::Allow);
        t.finish(NAS, Some("GOOD"), false, true, t0);
        // Another NAS is not affected.
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(t.begin(other, Some("NEW"), t0), Verdict::Allow);
        // After the cool-down the NAS is open again.
        assert_eq!(
            t.begin(NAS, Some("NEW"), t0 + Duration::from_secs(60)),
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
            let d = format!("dev{i}");
            if t.begin(NAS, Some(&d), t0) == Verdict::Allow {
                t.finish(NAS, Some(&d), true, false, t0);
            }
        }
        let (devices, nases, good) = t.tracked();
        assert!(
            devices <= 1000 && nases <= 1000 && good <= 1000,
            "{devices} {nases} {good}"
        );
        assert!(t.devices.order.len() <= 2000);
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
    }
}
