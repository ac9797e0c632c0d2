//! Optional Access-Accept attributes (SPEC §2): Idle-Timeout, Class,
//! Mikrotik-Rate-Limit, WISPr-Bandwidth-Max-Up/Down and
//! WISPr-Session-Terminate-Time, from the `[reply]` defaults, a
//! `[[business]]` override and the token's own RateLimit. Pure: no I/O.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// Rates of a Mikrotik-Rate-Limit, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// rx-rate: what the router receives from the guest (upload).
    pub up: u64,
    /// tx-rate: what the router sends to the guest (download).
    pub down: u64,
}

/// A rate as RouterOS writes it: `512k`, `2M`, `1.5M`, `1G`, `64000`
/// (k = 1,000). Returns bits per second.
fn parse_rate(s: &str) -> Option<u64> {
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1_000f64),
        (i, 'm' | 'M') => (&s[..i], 1_000_000f64),
        (i, 'g' | 'G') => (&s[..i], 1_000_000_000f64),
        _ => (s, 1f64),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let bps = (v * mult).round();
    // `u64::MAX as f64` is 2^64, one past the largest u64: below it, the
    // cast is exact for every value an f64 can hold.
    (bps.is_finite() && bps >= 0.0 && bps < u64::MAX as f64).then_some(bps as u64)
}

/// Check a Mikrotik-Rate-Limit value: `rx[/tx] [rx-burst[/tx-burst]
/// [threshold[/threshold] [burst-time[/burst-time] [priority]
/// [rx-min[/tx-min]]]]]`, e.g. `2M/5M` or `1M/4M 2M/8M 768k/3M 10/10 8`.
/// Returns the first pair (the limit). A single rate applies both ways.
pub fn parse_rate_limit(s: &str) -> Result<Rates, String> {
    let example = "(e.g. \"2M/5M\": upload/download as RouterOS writes them)";
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("is empty {example}"));
    }
    if t.len() > 200 {
        return Err("is too long (at most 200 characters)".into());
    }
    let mut fields = t.split_whitespace();
    let first = fields.next().unwrap_or_default();
    let pair = |f: &str| -> Option<(u64, u64)> {
        let mut it = f.splitn(2, '/');
        let a = parse_rate(it.next()?)?;
        let b = match it.next() {
            Some(b) => parse_rate(b)?,
            None => a,
        };
        Some((a, b))
    };
    let Some((up, down)) = pair(first) else {
        return Err(format!("{t:?} is not a rate limit {example}"));
    };
    for (i, f) in fields.enumerate() {
        // Burst pairs, thresholds, burst times (seconds), a priority (1-8),
        // minimum rates: all numbers with an optional unit, paired by '/'.
        let ok = if i == 3 {
            f.parse::<u8>().is_ok_and(|p| (1..=8).contains(&p))
        } else {
            pair(f).is_some()
        };
        if !ok || i > 4 {
            return Err(format!("{t:?}: field {:?} is not valid {example}", f));
        }
    }
    Ok(Rates { up, down })
}

/// One level of reply settings; `None` leaves the level below in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplySettings {
    /// Idle-Timeout in seconds (0: not sent).
    pub idle_timeout: Option<u32>,
    /// Mikrotik-Rate-Limit ("": not sent).
    pub rate_limit: Option<String>,
    /// Class, echoed by the NAS in accounting ("": not sent).
    pub class: Option<String>,
}

/// `[reply]` with the `[[business]]` overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyConfig {
    pub defaults: ReplySettings,
    /// Also send WISPr-Bandwidth-Max-Up/Down from the rate limit.
    pub wispr_bandwidth: bool,
    /// Send WISPr-Session-Terminate-Time at the end of the validity window.
    pub session_terminate_time: bool,
    pub businesses: HashMap<i64, ReplySettings>,
}

/// The optional attributes of one Access-Accept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyPlan {
    pub idle_timeout: Option<u32>,
    pub class: Option<String>,
    pub rate_limit: Option<String>,
    pub bandwidth: Option<Rates>,
    /// WISPr-Session-Terminate-Time, ISO 8601 (`2025-12-31T23:59:00+00:00`).
    pub terminate_time: Option<String>,
}

/// What to add to an Access-Accept for a token of `business_id` with its
/// own `token_rate_limit`, whose window ends at `window_end`. The token
/// beats its business, the business beats `[reply]`.
pub fn plan(
    cfg: &ReplyConfig,
    business_id: i64,
    token_rate_limit: Option<&str>,
    window_end: Option<i64>,
) -> ReplyPlan {
    let biz = cfg.businesses.get(&business_id);
    let pick = |f: fn(&ReplySettings) -> Option<&String>| {
        biz.and_then(f)
            .or_else(|| f(&cfg.defaults))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let rate_limit = token_rate_limit
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .or_else(|| pick(|s| s.rate_limit.as_ref()));
    let idle_timeout = biz
        .and_then(|b| b.idle_timeout)
        .or(cfg.defaults.idle_timeout)
        .filter(|t| *t > 0);
    let bandwidth = if cfg.wispr_bandwidth {
        rate_limit.as_deref().and_then(|r| parse_rate_limit(r).ok())
    } else {
        None
    };
    let terminate_time = if cfg.session_terminate_time {
        window_end
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
    } else {
        None
    };
    ReplyPlan {
        idle_timeout,
        class: pick(|s| s.class.as_ref()),
        rate_limit,
        bandwidth,
        terminate_time,
    }
}

/// A data allowance's remainder as a NAS takes it (SPEC §12): bytes, split
/// into the low 32 bits (Mikrotik-Total-Limit, ChilliSpot-Max-Total-Octets)
/// and the bits above (…-Gigawords, sent only when not 0). Sent with every
/// Access-Accept of a code with an allowance, like Session-Timeout, to
/// every NAS: each session is given the whole remainder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotalLimit {
    pub octets: u32,
    pub gigawords: Option<u32>,
}

/// [`TotalLimit`] of `bytes_left` (at least 1 byte: a code with nothing
/// left is refused, and a limit of 0 means "no limit" to RouterOS).
pub fn total_limit(bytes_left: i64) -> TotalLimit {
    let b = u64::try_from(bytes_left.max(1)).unwrap_or(1);
    let gigawords = u32::try_from(b >> 32).unwrap_or(u32::MAX);
    TotalLimit {
        octets: (b & 0xFFFF_FFFF) as u32,
        gigawords: (gigawords != 0).then_some(gigawords),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_limits_split_into_gigawords() {
        assert_eq!(
            total_limit(500_000_000),
            TotalLimit {
                octets: 500_000_000,
                gigawords: None
            }
        );
        // 5 GB = 1 × 2^32 + 705,032,704.
        assert_eq!(
            total_limit(5_000_000_000),
            TotalLimit {
                octets: 705_032_704,
                gigawords: Some(1)
            }
        );
        assert_eq!(
            total_limit(1 << 32),
            TotalLimit {
                octets: 0,
                gigawords: Some(1)
            }
        );
        assert_eq!(total_limit(0).octets, 1, "never 0 (unlimited to RouterOS)");
        assert_eq!(total_limit(-5).octets, 1);
        assert_eq!(
            total_limit(i64::MAX),
            TotalLimit {
                octets: u32::MAX,
                gigawords: Some(i32::MAX as u32)
            }
        );
    }

    #[test]
    fn rate_limits() {
        assert_eq!(
            parse_rate_limit("2M/5M"),
            Ok(Rates {
                up: 2_000_000,
                down: 5_000_000
            })
        );
        assert_eq!(
            parse_rate_limit("512k"),
            Ok(Rates {
                up: 512_000,
                down: 512_000
            })
        );
        assert_eq!(parse_rate_limit("1.5M/64000").unwrap().up, 1_500_000);
        assert!(parse_rate_limit("1M/4M 2M/8M 768k/3M 10/10 8 256k/1M").is_ok());
        for bad in [
            "",
            "fast",
            "2X/5M",
            "2M/",
            "/5M",
            "1M/4M 2M/8M 768k/3M 10/10 9",
            "-1M",
            "1M 2M 3M 4M 5 6M 7M",
        ] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_units_and_what_is_not_a_rate() {
        assert_eq!(
            parse_rate_limit("1G/2g").map(|r| (r.up, r.down)),
            Ok((1_000_000_000, 2_000_000_000))
        );
        assert_eq!(
            parse_rate_limit("2K/3m").map(|r| (r.up, r.down)),
            Ok((2_000, 3_000_000))
        );
        // Only digits and a point before the unit: what f64 parsing would
        // also take (exponents, signs, words) is not a RouterOS rate.
        for bad in ["1e3", "1E3k", "+1M", "inf", "NaN", "1.5.2M", "M", "."] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
        // Larger than a u64 is refused, not capped.
        assert!(parse_rate_limit("99999999999G").is_err());
        assert!(parse_rate_limit("18446744073709551616").is_err());
        assert_eq!(
            parse_rate_limit("18446744073709549568").map(|r| r.up),
            Ok(18_446_744_073_709_549_568)
        );
    }

    #[test]
    fn a_rate_limit_is_at_most_200_characters() {
        let at_limit = format!("{}1M", "0".repeat(198));
        assert_eq!(at_limit.len(), 200);
        assert_eq!(parse_rate_limit(&at_limit).map(|r| r.up), Ok(1_000_000));
        let over = format!("0{at_limit}");
        assert!(parse_rate_limit(&over).unwrap_err().contains("too long"));
    }

    fn cfg() -> ReplyConfig {
        let mut c = ReplyConfig {
            defaults: ReplySettings {
                idle_timeout: Some(600),
                rate_limit: Some("1M/2M".into()),
                class: Some("guest".into()),
            },
            wispr_bandwidth: true,
            session_terminate_time: true,
            businesses: HashMap::new(),
        };
        c.businesses.insert(
            3,
            ReplySettings {
                idle_timeout: Some(0),
                rate_limit: Some("10M/20M".into()),
                class: None,
            },
        );
        c
    }

    #[test]
    fn token_beats_business_beats_defaults() {
        let c = cfg();
        let p = plan(&c, 0, None, None);
        assert_eq!(p.rate_limit.as_deref(), Some("1M/2M"));
        assert_eq!(p.idle_timeout, Some(600));
        assert_eq!(p.class.as_deref(), Some("guest"));
        assert_eq!(
            p.bandwidth,
            Some(Rates {
                up: 1_000_000,
                down: 2_000_000
            })
        );
        assert_eq!(p.terminate_time, None, "no window end");
        let p = plan(&c, 3, None, Some(1_767_225_540));
        assert_eq!(p.rate_limit.as_deref(), Some("10M/20M"));
        assert_eq!(p.idle_timeout, None, "0 switches it off for the business");
        assert_eq!(p.class.as_deref(), Some("guest"), "inherited");
        assert_eq!(
            p.terminate_time.as_deref(),
            Some("2025-12-31T23:59:00+00:00")
        );
        let p = plan(&c, 3, Some("256k/512k"), None);
        assert_eq!(p.rate_limit.as_deref(), Some("256k/512k"));
        assert_eq!(p.bandwidth.unwrap().down, 512_000);
    }

    #[test]
    fn nothing_by_default() {
        assert_eq!(
            plan(&ReplyConfig::default(), 0, None, Some(5)),
            ReplyPlan::default()
        );
    }
}
