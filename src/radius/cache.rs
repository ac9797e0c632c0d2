//! Retransmit cache (RFC 5080 §2.2.2): a request with the same source,
//! Identifier and Request Authenticator as one seen within the window gets
//! the cached response, and no second piece of work is done. Bounded in size
//! and age. RadSec requests are keyed by their connection (see [`Source`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a request came from: a UDP source address, or a RadSec
/// connection (numbered for the process's life). The two never share an
/// entry, and a RadSec request is a duplicate only on the connection it
/// came on (RFC 6614 §2.2: over TLS a client retransmits only after
/// reconnecting, and then it is a new request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Udp(SocketAddr),
    Tls(u64),
}

pub type Key = (Source, u8, [u8; 16]);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not seen: the caller now owns it (marked in progress).
    New,
    /// Seen, still being worked on: drop the retransmission.
    InProgress,
    /// Seen and answered: resend this.
    Done(Arc<[u8]>),
}

struct Entry {
    at: Instant,
    response: Option<Arc<[u8]>>,
}

pub struct RetransmitCache {
    window: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Entry>,
    order: VecDeque<(Instant, Key)>,
}

impl RetransmitCache {
    pub fn new(window: Duration, capacity: usize) -> Self {
        RetransmitCache {
            window,
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Look the key up; if it is new, mark it in progress.
    pub fn check(&self, key: Key, now: Instant) -> Lookup {
        let mut g = self.lock();
        g.expire(now, self.window);
        if let Some(e) = g.map.get(&key) {
            return match &e.response {
                Some(r) => Lookup::Done(r.clone()),
                None => Lookup::InProgress,
            };
        }
        while g.map.len() >= self.capacity {
            match g.order.pop_front() {
                Some((_, k)) => {
                    g.map.remove(&k);
                }
                None => break,
            }
        }
        g.map.insert(
            key,
            Entry {
                at: now,
                response: None,
            },
        );
        g.order.push_back((now, key));
        Lookup::New
    }

    /// Store the response for a key taken with [`check`](Self::check).
    pub fn complete(&self, key: &Key, response: Arc<[u8]>) {
        let mut g = self.lock();
        if let Some(e) = g.map.get_mut(key) {
            e.response = Some(response);
        }
    }

    /// Forget a key whose request was not answered, so a retry is worked on.
    pub fn abandon(&self, key: &Key) {
        let mut g = self.lock();
        if matches!(g.map.get(key), Some(Entry { response: None, .. })) {
            g.map.remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((at, k)) = self.order.front().copied() {
            if now.duration_since(at) < window {
                break;
            }
            self.order.pop_front();
            // Only remove if the entry is the one queued (not re-inserted later).
            if self.map.get(&k).is_some_and(|e| e.at == at) {
                self.map.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u8) -> Key {
        (Source::Udp("127.0.0.1:1000".parse().unwrap()), id, [id; 16])
    }

    #[test]
    fn new_in_progress_done_then_expired() {
        let c = RetransmitCache::new(Duration::from_secs(5), 100);
        let t0 = Instant::now();
        assert_eq!(c.check(key(1), t0), Lookup::New);
        assert_eq!(c.check(key(1), t0), Lookup::InProgress);
        c.complete(&key(1), Arc::from(&b"resp"[..]));
        assert_eq!(
            c.check(key(1), t0 + Duration::from_secs(4)),
            Lookup::Done(Arc::from(&b"resp"[..]))
        );
        assert_eq!(c.check(key(1), t0 + Duration::from_secs(5)), Lookup::New);
    }

    #[test]
    fn abandoned_key_is_worked_again() {
        let c = RetransmitCache::new(Duration::from_secs(5), 100);
        let t0 = Instant::now();
        assert_eq!(c.check(key(1), t0), Lookup::New);
        c.abandon(&key(1));
        assert_eq!(c.check(key(1), t0), Lookup::New);
    }

    #[test]
    fn bounded_by_capacity() {
        let c = RetransmitCache::new(Duration::from_secs(5), 10);
        let t0 = Instant::now();
        for i in 0..200u8 {
            c.check(key(i), t0);
        }
        assert!(c.len() <= 10);
    }
}
