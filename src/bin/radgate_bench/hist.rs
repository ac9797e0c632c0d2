//! A latency histogram in nanoseconds with under 1% relative error at every
//! scale: exact below 256 ns, then 128 linear sub-buckets per power of two.
//! Fixed size, no allocation while recording, mergeable across shards.

const SUB: usize = 128;
const EXACT: u64 = 256;
/// Covers up to 2^48 ns (about 3 days): far beyond any timeout.
const MAX_EXP: u32 = 48;
const BUCKETS: usize = EXACT as usize + (MAX_EXP as usize - 8 + 1) * SUB;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

fn index(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= 8
    let e = e.min(MAX_EXP);
    let shift = e - 7;
    let m = ((v >> shift) as usize).min(2 * SUB - 1); // in [128, 256)
    EXACT as usize + (e as usize - 8) * SUB + (m - SUB)
}

/// The middle of the values that land in bucket `i`.
fn value_of(i: usize) -> u64 {
    if i < EXACT as usize {
        return i as u64;
    }
    let j = i - EXACT as usize;
    let e = (j / SUB) as u32 + 8;
    let m = (j % SUB + SUB) as u64;
    let shift = e - 7;
    (m << shift) + ((1u64 << shift) >> 1)
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            max: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, nanos: u64) {
        self.counts[index(nanos)] += 1;
        self.total += 1;
        self.sum += nanos as u128;
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            (self.sum / self.total as u128) as u64
        }
    }

    /// The value at quantile `q` (0..=1): the smallest recorded value with at
    /// least q of all values at or below it; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value_of(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_precise() {
        let mut last = 0;
        for v in (0..5_000_000u64)
            .step_by(37)
            .chain([u64::MAX / 2, u64::MAX])
        {
            let i = index(v);
            assert!(i >= last, "index not monotonic at {v}");
            assert!(i < BUCKETS);
            last = i;
            if (256..1u64 << MAX_EXP).contains(&v) {
                let r = value_of(i) as f64;
                assert!((r - v as f64).abs() / (v as f64) < 0.01, "v={v} r={r}");
            } else if v < 256 {
                assert_eq!(value_of(i), v);
            }
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.01, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.01, "{p99}");
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.quantile(1.0), 1_000_000.min(h.quantile(1.0)));
        let mut g = Histogram::default();
        g.record(7);
        g.merge(&h);
        assert_eq!(g.count(), 1001);
        assert_eq!(g.quantile(0.0), 7);
    }
}
