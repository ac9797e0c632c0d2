//! Accounting decisions (SPEC §3): how a packet moves a session and how much
//! it charges. Charging is by the **increase** of Acct-Session-Time over the
//! highest value already seen for the session, so retransmitted, duplicated
//! or reordered packets never charge twice, and a lost Start is tolerated.

/// Acct-Status-Type (RFC 2866 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcctStatus {
    Start,
    Stop,
    Interim,
    AccountingOn,
    AccountingOff,
    Other(u32),
}

impl AcctStatus {
    pub fn from_u32(v: u32) -> AcctStatus {
        match v {
            1 => AcctStatus::Start,
            2 => AcctStatus::Stop,
            3 => AcctStatus::Interim,
            7 => AcctStatus::AccountingOn,
            8 => AcctStatus::AccountingOff,
            n => AcctStatus::Other(n),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AcctStatus::Start => "Start",
            AcctStatus::Stop => "Stop",
            AcctStatus::Interim => "Interim-Update",
            AcctStatus::AccountingOn => "Accounting-On",
            AcctStatus::AccountingOff => "Accounting-Off",
            AcctStatus::Other(_) => "other",
        }
    }
}

/// How a session already seen stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Live: no Stop yet.
    No,
    /// The NAS sent its Stop: anything later for it is a duplicate or late.
    ByStop,
    /// radgate presumed it over without a Stop (the stale-session sweep, the
    /// NAS's Accounting-On/Off). The NAS may still be running it: a later
    /// Interim-Update or Stop that reports more time resumes it.
    Presumed,
}

/// What is stored about a session already seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub ended: Ended,
    /// Highest Acct-Session-Time seen, seconds.
    pub session_time: i64,
}

/// Seconds after a session's Stop from which an Interim-Update or Stop for
/// its code and Acct-Session-Id cannot be one of its own late packets (they
/// were sent before the Stop, and a NAS retransmits for seconds, not a
/// minute): a new session whose Start was lost.
pub const LATE_PACKET: i64 = 60;

/// A stored session with the packet's NAS and Acct-Session-Id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub ended: Ended,
    /// Its User-Name names the same code as the packet's (or the packet has
    /// no User-Name).
    pub same_code: bool,
    /// Seconds from its end (Stop, or radgate closing it) to when the NAS
    /// first sent the packet (now minus Acct-Delay-Time); `None` while live.
    pub since_end: Option<i64>,
}

/// Which stored session a Start/Interim/Stop belongs to, among those with
/// its NAS and Acct-Session-Id (`candidates`, newest first): `Some(i)`, or
/// `None` for a session of its own. A NAS may reuse its session ids (a
/// counter that restarts after a reboot), so a packet belongs to the newest
/// session *of its code*, unless the NAS sent it after that session had
/// ended in a way that makes it another session: a Start sent after the end
/// (a session's own Start comes before its end), or an Interim/Stop sent
/// more than [`LATE_PACKET`] seconds after the session's Stop. A packet for
/// a code none of them has opens a new session. A Start for a live session
/// is always that session's (a late duplicate), and packets of an older
/// session that arrive late still find it, not the newer one.
pub fn match_session(candidates: &[Candidate], status: AcctStatus) -> Option<usize> {
    let i = candidates.iter().position(|c| c.same_code)?;
    let c = candidates[i];
    match (c.ended, c.since_end) {
        (Ended::No, _) | (_, None) => Some(i),
        (_, Some(t)) if status == AcctStatus::Start && t > 0 => None,
        (Ended::ByStop, Some(t)) if t > LATE_PACKET => None,
        _ => Some(i),
    }
}

/// The effect of one packet on one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Create the session (it was not seen before).
    pub open: bool,
    /// Close it (Stop).
    pub close: bool,
    /// Make it live again (an Interim-Update for a session presumed over).
    pub reopen: bool,
    /// Seconds to add to the token's usage.
    pub charge: i64,
    /// The session's new highest Acct-Session-Time.
    pub session_time: i64,
    /// Nothing to record (duplicate, or a packet for a closed session).
    pub ignore: bool,
}

/// Decide what a Start/Interim/Stop does to a session.
/// `reported`: Acct-Session-Time of the packet, if present (negative values
/// are treated as 0).
pub fn transition(seen: Option<Seen>, status: AcctStatus, reported: Option<i64>) -> Transition {
    let reported = reported.map(|r| r.max(0));
    match seen {
        None => {
            // A Start charges nothing; a first Interim or Stop (lost Start)
            // opens the session and charges what it reports.
            let t = match status {
                AcctStatus::Start => 0,
                _ => reported.unwrap_or(0),
            };
            Transition {
                open: true,
                close: status == AcctStatus::Stop,
                reopen: false,
                charge: t,
                session_time: t,
                ignore: false,
            }
        }
        Some(s) => {
            let ignored = Transition {
                open: false,
                close: false,
                reopen: false,
                charge: 0,
                session_time: s.session_time,
                ignore: true,
            };
            if status == AcctStatus::Start || s.ended == Ended::ByStop {
                return ignored;
            }
            let new = reported.unwrap_or(s.session_time).max(s.session_time);
            if s.ended == Ended::Presumed && new == s.session_time {
                // Nothing shows the session went on: leave it ended.
                return ignored;
            }
            Transition {
                open: false,
                close: status == AcctStatus::Stop,
                reopen: s.ended == Ended::Presumed && status != AcctStatus::Stop,
                charge: new - s.session_time,
                session_time: new,
                ignore: false,
            }
        }
    }
}

/// A 64-bit counter from its 32-bit value and Gigawords (RFC 2869 §5.1),
/// saturated at `i64::MAX` (Gigawords ≥ 2^31, 8 EiB, come only from a broken
/// or hostile NAS and must not turn into a negative count).
pub fn counter64(low: Option<u32>, gigawords: Option<u32>) -> i64 {
    let v = (u64::from(gigawords.unwrap_or(0)) << 32) | u64::from(low.unwrap_or(0));
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Whether a session that ended with this Acct-Terminate-Cause (RFC 2866)
/// spends a single-use code. Not when the NAS or an admin ended it: Admin
/// Reset (6, also what a Disconnect-Request from radgate causes), Admin
/// Reboot (7), NAS Request (10), NAS Reboot (11). Every other cause (User
/// Request, Idle/Session Timeout, Lost Carrier, …) and none at all do.
pub fn ends_the_guests_use(terminate_cause: Option<u32>) -> bool {
    !matches!(terminate_cause, Some(6 | 7 | 10 | 11))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_spends_a_single_use_code() {
        for c in [None, Some(1), Some(2), Some(4), Some(5), Some(17)] {
            assert!(ends_the_guests_use(c), "{c:?}");
        }
        for c in [6, 7, 10, 11] {
            assert!(!ends_the_guests_use(Some(c)), "{c}");
        }
    }
    use AcctStatus::*;

    fn active(t: i64) -> Option<Seen> {
        Some(Seen {
            ended: Ended::No,
            session_time: t,
        })
    }

    fn presumed(t: i64) -> Option<Seen> {
        Some(Seen {
            ended: Ended::Presumed,
            session_time: t,
        })
    }

    #[test]
    fn a_session_presumed_over_resumes_when_the_nas_reports_more_time() {
        // Swept as stale (or closed by Accounting-On) at 60 s; the NAS goes on.
        let t = transition(presumed(60), Interim, Some(600));
        assert_eq!((t.charge, t.session_time), (540, 600));
        assert!(t.reopen && !t.close && !t.ignore);
        let t = transition(presumed(60), Stop, Some(700));
        assert_eq!((t.charge, t.session_time), (640, 700));
        assert!(t.close && !t.reopen);
        // No more time reported: it stays ended, nothing charged.
        for st in [Interim, Stop] {
            let t = transition(presumed(600), st, Some(600));
            assert!(t.ignore && t.charge == 0, "{st:?}");
            assert!(transition(presumed(600), st, Some(300)).ignore);
        }
        assert!(transition(presumed(600), Start, Some(0)).ignore);
    }

    #[test]
    fn which_session_a_packet_belongs_to() {
        let c = |ended, same_code, since_end| Candidate {
            ended,
            same_code,
            since_end,
        };
        assert_eq!(match_session(&[], Interim), None);
        // The newest session of the packet's code, whatever its state.
        let live = [c(Ended::No, false, None), c(Ended::No, true, None)];
        for st in [Start, Interim, Stop] {
            assert_eq!(match_session(&live, st), Some(1), "{st:?}");
            // Another code only: a session of its own.
            assert_eq!(match_session(&live[..1], st), None, "{st:?}");
        }
        for ended in [Ended::ByStop, Ended::Presumed] {
            // Sent before (or in the second of) its end: its own packets.
            for t in [-30, 0] {
                for st in [Start, Interim, Stop] {
                    assert_eq!(match_session(&[c(ended, true, Some(t))], st), Some(0));
                }
            }
            // A Start sent after it ended: a new session.
            assert_eq!(match_session(&[c(ended, true, Some(1))], Start), None);
            // Interim/Stop: a session presumed over may still be running
            // (they resume it); after a Stop, only late by seconds.
            for st in [Interim, Stop] {
                let after = match_session(&[c(ended, true, Some(LATE_PACKET + 1))], st);
                let want = if ended == Ended::Presumed {
                    Some(0)
                } else {
                    None
                };
                assert_eq!(after, want, "{ended:?} {st:?}");
                assert_eq!(
                    match_session(&[c(ended, true, Some(LATE_PACKET))], st),
                    Some(0)
                );
            }
        }
    }

    #[test]
    fn start_interim_stop_charges_increases() {
        let t = transition(None, Start, Some(0));
        assert!(t.open && !t.close && t.charge == 0);
        let t = transition(active(0), Interim, Some(600));
        assert_eq!((t.charge, t.session_time, t.close), (600, 600, false));
        let t = transition(active(600), Stop, Some(900));
        assert_eq!((t.charge, t.session_time, t.close), (300, 900, true));
    }

    #[test]
    fn duplicates_and_reordering_never_charge_twice() {
        assert_eq!(transition(active(600), Interim, Some(600)).charge, 0);
        // An older Interim arriving late.
        let t = transition(active(900), Interim, Some(600));
        assert_eq!((t.charge, t.session_time), (0, 900));
        // A second Start for a live session.
        assert!(transition(active(300), Start, Some(0)).ignore);
        // Anything after Stop.
        let closed = Some(Seen {
            ended: Ended::ByStop,
            session_time: 900,
        });
        for st in [Start, Interim, Stop] {
            let t = transition(closed, st, Some(1200));
            assert!(t.ignore && t.charge == 0, "{st:?}");
        }
    }

    #[test]
    fn lost_start_is_tolerated() {
        let t = transition(None, Interim, Some(600));
        assert!(t.open && !t.close);
        assert_eq!(t.charge, 600);
        let t = transition(None, Stop, Some(120));
        assert!(t.open && t.close);
        assert_eq!(t.charge, 120);
    }

    #[test]
    fn missing_or_negative_session_time() {
        assert_eq!(transition(active(100), Interim, None).charge, 0);
        assert_eq!(transition(None, Interim, Some(-5)).charge, 0);
    }

    #[test]
    fn status_codes_and_counters() {
        assert_eq!(AcctStatus::from_u32(1), Start);
        assert_eq!(AcctStatus::from_u32(2), Stop);
        assert_eq!(AcctStatus::from_u32(3), Interim);
        assert_eq!(AcctStatus::from_u32(7), AccountingOn);
        assert_eq!(AcctStatus::from_u32(8), AccountingOff);
        assert_eq!(AcctStatus::from_u32(15), Other(15));
        assert_eq!(counter64(Some(5), Some(1)), (1 << 32) + 5);
        assert_eq!(counter64(None, None), 0);
    }

    #[test]
    fn a_start_never_charges_even_when_it_reports_time() {
        // Some NASes put an Acct-Session-Time on the Start: it opens the
        // session at 0 and charges nothing; the first Interim charges it all.
        let t = transition(None, Start, Some(30));
        assert!(t.open && !t.close && !t.reopen && !t.ignore);
        assert_eq!((t.charge, t.session_time), (0, 0));
        let t = transition(active(t.session_time), Interim, Some(600));
        assert_eq!(t.charge, 600);
    }

    #[test]
    fn a_start_for_a_live_session_is_its_own_whatever_its_age() {
        // Live sessions have no end; should one carry a time since an end,
        // a Start is still a late duplicate of the live session's.
        let live = Candidate {
            ended: Ended::No,
            same_code: true,
            since_end: Some(LATE_PACKET + 1),
        };
        for st in [Start, Interim, Stop] {
            assert_eq!(match_session(&[live], st), Some(0), "{st:?}");
        }
    }

    #[test]
    fn status_names() {
        for (s, name) in [
            (Start, "Start"),
            (Stop, "Stop"),
            (Interim, "Interim-Update"),
            (AccountingOn, "Accounting-On"),
            (AccountingOff, "Accounting-Off"),
            (Other(15), "other"),
        ] {
            assert_eq!(s.as_str(), name);
        }
    }
}
