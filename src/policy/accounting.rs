//! Accounting decisions (SPEC §3, §12): how a packet moves a session and how
//! much it charges. Charging is by the **increase** of Acct-Session-Time,
//! and of the octet counters (input + output, with Gigawords), over the
//! highest values already seen for the session, so retransmitted,
//! duplicated or reordered packets never charge twice, and a lost Start is
//! tolerated.

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

/// A session's octet counters (RFC 2866/2869: Acct-Input-Octets and
/// Acct-Output-Octets with their Gigawords), or the highest of each seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Octets {
    pub input: i64,
    pub output: i64,
}

impl Octets {
    /// Input + output: what a data allowance is charged (saturating).
    pub fn total(self) -> i64 {
        self.input.max(0).saturating_add(self.output.max(0))
    }

    /// Each counter's higher value (a high-water mark per direction: an
    /// older packet arriving late lowers neither).
    pub fn max(self, other: Octets) -> Octets {
        Octets {
            input: self.input.max(other.input),
            output: self.output.max(other.output),
        }
    }

    /// Negative counters (never from a sane NAS) count as 0.
    fn clamped(self) -> Octets {
        Octets {
            input: self.input.max(0),
            output: self.output.max(0),
        }
    }
}

/// What is stored about a session already seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub ended: Ended,
    /// Highest Acct-Session-Time seen, seconds.
    pub session_time: i64,
    /// Highest octet counters seen (what the session has been charged).
    pub octets: Octets,
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
    /// Octets (input + output) to add to the token's data usage.
    pub bytes: i64,
    /// The session's new highest octet counters.
    pub octets: Octets,
    /// Nothing to record (duplicate, or a packet for a closed session).
    pub ignore: bool,
}

/// Decide what a Start/Interim/Stop does to a session.
/// `reported`: Acct-Session-Time of the packet, if present (negative values
/// are treated as 0); `counters`: its octet counters (0 when absent).
pub fn transition(
    seen: Option<Seen>,
    status: AcctStatus,
    reported: Option<i64>,
    counters: Octets,
) -> Transition {
    let reported = reported.map(|r| r.max(0));
    let counters = counters.clamped();
    match seen {
        None => {
            // A Start charges nothing (its counters are 0 by definition;
            // some NASes send garbage there); a first Interim or Stop (lost
            // Start) opens the session and charges what it reports.
            let (t, o) = match status {
                AcctStatus::Start => (0, Octets::default()),
                _ => (reported.unwrap_or(0), counters),
            };
            Transition {
                open: true,
                close: status == AcctStatus::Stop,
                reopen: false,
                charge: t,
                session_time: t,
                bytes: o.total(),
                octets: o,
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
                bytes: 0,
                octets: s.octets,
                ignore: true,
            };
            if status == AcctStatus::Start || s.ended == Ended::ByStop {
                return ignored;
            }
            let new = reported.unwrap_or(s.session_time).max(s.session_time);
            let octets = s.octets.max(counters);
            let bytes = octets.total().saturating_sub(s.octets.total()).max(0);
            if s.ended == Ended::Presumed && new == s.session_time && bytes == 0 {
                // Nothing shows the session went on: leave it ended.
                return ignored;
            }
            Transition {
                open: false,
                close: status == AcctStatus::Stop,
                reopen: s.ended == Ended::Presumed && status != AcctStatus::Stop,
                charge: new - s.session_time,
                session_time: new,
                bytes,
                octets,
                ignore: false,
            }
        }
    }
}

/// A stored session with the packet's NAS and Acct-Session-Id, as a backend
/// reads it (see [`plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<'a> {
    pub ended: Ended,
    /// Highest Acct-Session-Time seen, seconds.
    pub session_time: i64,
    /// Highest octet counters seen.
    pub octets: Octets,
    /// The code key its packets named (its User-Name, else its token's code).
    pub code_key: &'a str,
    /// When it ended (Stop, or radgate closing it).
    pub stopped_at: Option<i64>,
}

/// What an accounting packet (Start, Interim-Update, Stop) brings to
/// [`plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub status: AcctStatus,
    /// The code key of its User-Name, if it has one.
    pub code_key: Option<&'a str>,
    /// Acct-Session-Time, if present.
    pub session_time: Option<i64>,
    /// Its octet counters, with Gigawords (0 when absent).
    pub octets: Octets,
    /// Acct-Delay-Time, seconds (0 without it).
    pub delay: i64,
    pub now: i64,
}

/// What to do with an accounting packet, decided from the stored sessions
/// with its NAS and Acct-Session-Id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Record nothing; the reason, for the log.
    Ignore(&'static str),
    /// The lookup returned as many sessions as it takes, none of the
    /// packet's code: read the newest session of this id whose User-Name is
    /// the packet's (a NAS whose ids repeat that often) and decide on it
    /// alone with [`plan_own`]; without one, decide on the sessions read
    /// with [`plan`] and no lookup limit.
    LookForOwn,
    Record(Record),
}

/// A packet to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The stored session (index into the sessions given) it belongs to;
    /// `None`: a session of its own, to create.
    pub session: Option<usize>,
    /// The live sessions (indexes) a session of its own replaces: closed,
    /// reason `replaced`, when it is recorded.
    pub replaces: Vec<usize>,
    /// What it does to its session; `ignore` set for a duplicate or late
    /// packet (nothing to write).
    pub transition: Transition,
}

/// The longest Acct-Delay-Time believed: a day (what a NAS may plausibly
/// have queued).
const MAX_DELAY: i64 = 86_400;

/// Decide what a Start/Interim-Update/Stop does, given the stored sessions
/// with its NAS and Acct-Session-Id, newest first (at most `lookup_limit`
/// of them). See [`match_session`] and [`transition`].
pub fn plan(stored: &[Stored], p: &Packet, lookup_limit: usize) -> Plan {
    // Without User-Name a packet cannot tell sessions of several codes on
    // one id apart: it is not matched to any.
    if p.code_key.is_none()
        && stored
            .iter()
            .any(|s| stored.first().is_some_and(|f| f.code_key != s.code_key))
    {
        return Plan::Ignore("no User-Name, and several codes have used this Acct-Session-Id");
    }
    let candidates: Vec<Candidate> = stored.iter().map(|s| candidate(s, p, false)).collect();
    if stored.len() >= lookup_limit
        && p.code_key.is_some()
        && !candidates.iter().any(|c| c.same_code)
    {
        return Plan::LookForOwn;
    }
    decide(stored, &candidates, p)
}

/// [`plan`] on the one session of the packet's id found by its User-Name
/// (after [`Plan::LookForOwn`]).
pub fn plan_own(own: &Stored, p: &Packet) -> Plan {
    decide(std::slice::from_ref(own), &[candidate(own, p, true)], p)
}

fn candidate(s: &Stored, p: &Packet, own: bool) -> Candidate {
    // When the NAS sent the packet first.
    let event = p.now - p.delay.clamp(0, MAX_DELAY);
    Candidate {
        ended: s.ended,
        same_code: own || p.code_key.is_none_or(|k| k == s.code_key),
        since_end: s.stopped_at.map(|t| event - t),
    }
}

fn decide(stored: &[Stored], candidates: &[Candidate], p: &Packet) -> Plan {
    let session = match_session(candidates, p.status);
    let replaces = match session {
        Some(_) => Vec::new(),
        None => (0..stored.len())
            .filter(|&i| stored[i].ended == Ended::No)
            .collect(),
    };
    let seen = session.and_then(|i| stored.get(i)).map(|s| Seen {
        ended: s.ended,
        session_time: s.session_time,
        octets: s.octets,
    });
    Plan::Record(Record {
        session,
        replaces,
        transition: transition(seen, p.status, p.session_time, p.octets),
    })
}

/// How a session of its own is stored when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// `closed` for a first packet that is a Stop (its Start was lost),
    /// else `active`.
    pub state: &'static str,
    /// Closed now (a Stop).
    pub stopped: bool,
    pub terminate_cause: Option<u32>,
    pub close_reason: Option<&'static str>,
    /// Keep the packet's octet and packet counters (a Start's are 0 by
    /// definition; some NASes send garbage there).
    pub counters: bool,
}

/// How a packet that creates its session stores it.
pub fn opening(t: &Transition, status: AcctStatus, terminate_cause: Option<u32>) -> Opening {
    let counters = status != AcctStatus::Start;
    if t.close {
        Opening {
            state: "closed",
            stopped: true,
            terminate_cause,
            close_reason: Some("stop"),
            counters,
        }
    } else {
        Opening {
            state: "active",
            stopped: false,
            terminate_cause: None,
            close_reason: None,
            counters,
        }
    }
}

/// Whether recording this packet spends a single-use code: its session
/// ended, and not by the NAS or an admin ([`ends_the_guests_use`]).
pub fn spends(t: &Transition, terminate_cause: Option<u32>) -> bool {
    t.close && ends_the_guests_use(terminate_cause)
}

/// Whether a packet that charged `charge` seconds to a token that had
/// `left` seconds before it used the last of the time: the sessions still
/// running on the token are then to be disconnected (their
/// Session-Timeout assumed each was alone on the code). Every later
/// charging packet of a session that keeps running asks again.
pub fn used_up(left: i64, charge: i64) -> bool {
    charge > 0 && left.saturating_sub(charge) <= 0
}

/// [`used_up`] for a data allowance (SPEC §12): a packet that charged
/// `bytes` to a token with `left` bytes before it (`None`: no allowance,
/// never used up) used the last of its data.
pub fn data_used_up(left: Option<i64>, bytes: i64) -> bool {
    left.is_some_and(|left| used_up(left, bytes))
}

/// Whether this packet's charge leaves the token's other sessions to be
/// disconnected: it used the last of its time or of its data.
pub fn disconnects(left: i64, bytes_left: Option<i64>, t: &Transition) -> bool {
    used_up(left, t.charge) || data_used_up(bytes_left, t.bytes)
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

    /// A transition for a packet without octet counters.
    fn tr(seen: Option<Seen>, st: AcctStatus, t: Option<i64>) -> Transition {
        transition(seen, st, t, Octets::default())
    }

    fn active(t: i64) -> Option<Seen> {
        Some(Seen {
            ended: Ended::No,
            session_time: t,
            octets: Octets::default(),
        })
    }

    fn presumed(t: i64) -> Option<Seen> {
        Some(Seen {
            ended: Ended::Presumed,
            session_time: t,
            octets: Octets::default(),
        })
    }

    #[test]
    fn a_session_presumed_over_resumes_when_the_nas_reports_more_time() {
        // Swept as stale (or closed by Accounting-On) at 60 s; the NAS goes on.
        let t = tr(presumed(60), Interim, Some(600));
        assert_eq!((t.charge, t.session_time), (540, 600));
        assert!(t.reopen && !t.close && !t.ignore);
        let t = tr(presumed(60), Stop, Some(700));
        assert_eq!((t.charge, t.session_time), (640, 700));
        assert!(t.close && !t.reopen);
        // No more time reported: it stays ended, nothing charged.
        for st in [Interim, Stop] {
            let t = tr(presumed(600), st, Some(600));
            assert!(t.ignore && t.charge == 0, "{st:?}");
            assert!(tr(presumed(600), st, Some(300)).ignore);
        }
        assert!(tr(presumed(600), Start, Some(0)).ignore);
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
        let t = tr(None, Start, Some(0));
        assert!(t.open && !t.close && t.charge == 0);
        let t = tr(active(0), Interim, Some(600));
        assert_eq!((t.charge, t.session_time, t.close), (600, 600, false));
        let t = tr(active(600), Stop, Some(900));
        assert_eq!((t.charge, t.session_time, t.close), (300, 900, true));
    }

    #[test]
    fn duplicates_and_reordering_never_charge_twice() {
        assert_eq!(tr(active(600), Interim, Some(600)).charge, 0);
        // An older Interim arriving late.
        let t = tr(active(900), Interim, Some(600));
        assert_eq!((t.charge, t.session_time), (0, 900));
        // A second Start for a live session.
        assert!(tr(active(300), Start, Some(0)).ignore);
        // Anything after Stop.
        let closed = Some(Seen {
            ended: Ended::ByStop,
            session_time: 900,
            octets: Octets::default(),
        });
        for st in [Start, Interim, Stop] {
            let t = tr(closed, st, Some(1200));
            assert!(t.ignore && t.charge == 0, "{st:?}");
        }
    }

    #[test]
    fn lost_start_is_tolerated() {
        let t = tr(None, Interim, Some(600));
        assert!(t.open && !t.close);
        assert_eq!(t.charge, 600);
        let t = tr(None, Stop, Some(120));
        assert!(t.open && t.close);
        assert_eq!(t.charge, 120);
    }

    #[test]
    fn missing_or_negative_session_time() {
        assert_eq!(tr(active(100), Interim, None).charge, 0);
        assert_eq!(tr(None, Interim, Some(-5)).charge, 0);
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
        let t = tr(None, Start, Some(30));
        assert!(t.open && !t.close && !t.reopen && !t.ignore);
        assert_eq!((t.charge, t.session_time), (0, 0));
        let t = tr(active(t.session_time), Interim, Some(600));
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

    fn stored(ended: Ended, code_key: &str, stopped_at: Option<i64>) -> Stored<'_> {
        Stored {
            ended,
            session_time: 100,
            octets: Octets::default(),
            code_key,
            stopped_at,
        }
    }

    fn packet(status: AcctStatus, code_key: Option<&str>) -> Packet<'_> {
        Packet {
            status,
            code_key,
            session_time: Some(160),
            octets: Octets::default(),
            delay: 0,
            now: 10_000,
        }
    }

    #[test]
    fn a_packet_belongs_to_its_codes_live_session_and_charges_the_increase() {
        let s = [stored(Ended::No, "A", None)];
        let Plan::Record(r) = plan(&s, &packet(Interim, Some("A")), 16) else {
            panic!()
        };
        assert_eq!(r.session, Some(0));
        assert!(r.replaces.is_empty());
        assert_eq!(r.transition.charge, 60);
        assert!(!r.transition.ignore);
    }

    #[test]
    fn a_session_of_another_code_on_the_id_is_replaced() {
        let s = [
            stored(Ended::No, "B", None),
            stored(Ended::ByStop, "B", Some(1)),
        ];
        let Plan::Record(r) = plan(&s, &packet(Start, Some("A")), 16) else {
            panic!()
        };
        assert_eq!(r.session, None);
        assert_eq!(r.replaces, vec![0], "only the live one");
        assert!(r.transition.open);
    }

    #[test]
    fn without_user_name_several_codes_on_an_id_are_not_told_apart() {
        let s = [stored(Ended::No, "A", None), stored(Ended::No, "B", None)];
        assert!(matches!(
            plan(&s, &packet(Interim, None), 16),
            Plan::Ignore(_)
        ));
        // One code: the packet is that code's.
        let s = [stored(Ended::No, "A", None)];
        assert!(matches!(
            plan(&s, &packet(Interim, None), 16),
            Plan::Record(Record {
                session: Some(0),
                ..
            })
        ));
    }

    #[test]
    fn a_full_lookup_without_the_code_looks_for_its_own() {
        let s = vec![stored(Ended::ByStop, "B", Some(1)); 3];
        let p = packet(Interim, Some("A"));
        assert_eq!(plan(&s, &p, 3), Plan::LookForOwn);
        // Found by User-Name: of this code, and decided on alone.
        let own = stored(Ended::No, "whatever", None);
        let Plan::Record(r) = plan_own(&own, &p) else {
            panic!()
        };
        assert_eq!(r.session, Some(0));
        // Not found: decided on what was read (a session of its own).
        let Plan::Record(r) = plan(&s, &p, usize::MAX) else {
            panic!()
        };
        assert_eq!(r.session, None);
        // Fewer than the limit, or the code among them: no second look.
        assert_ne!(plan(&s, &p, 4), Plan::LookForOwn);
        assert_ne!(plan(&s, &packet(Interim, None), 3), Plan::LookForOwn);
    }

    #[test]
    fn acct_delay_time_dates_the_packet_bounded_by_a_day() {
        // Stopped at 9,000; an Interim at 10,000 is past LATE_PACKET, unless
        // the NAS says it sent it 990 s ago (then it is the session's own).
        let s = [stored(Ended::ByStop, "A", Some(9_000))];
        let mut p = packet(Interim, Some("A"));
        assert!(matches!(
            plan(&s, &p, 16),
            Plan::Record(Record { session: None, .. })
        ));
        p.delay = 990;
        assert!(matches!(
            plan(&s, &p, 16),
            Plan::Record(Record {
                session: Some(0),
                ..
            })
        ));
        // A delay beyond a day counts as a day.
        p.now = 9_000 + 86_400 + LATE_PACKET + 1;
        p.delay = i64::MAX;
        assert!(matches!(
            plan(&s, &p, 16),
            Plan::Record(Record { session: None, .. })
        ));
    }

    #[test]
    fn how_a_new_session_is_stored_and_what_spends_and_disconnects() {
        let stop = tr(None, Stop, Some(30));
        let o = opening(&stop, Stop, Some(1));
        assert_eq!(
            (
                o.state,
                o.stopped,
                o.terminate_cause,
                o.close_reason,
                o.counters
            ),
            ("closed", true, Some(1), Some("stop"), true)
        );
        let start = tr(None, Start, Some(0));
        let o = opening(&start, Start, Some(1));
        assert_eq!(
            (
                o.state,
                o.stopped,
                o.terminate_cause,
                o.close_reason,
                o.counters
            ),
            ("active", false, None, None, false)
        );
        assert!(spends(&stop, Some(1)));
        assert!(!spends(&stop, Some(6)));
        assert!(!spends(&start, None));
        assert!(used_up(60, 60));
        assert!(used_up(-5, 1));
        assert!(!used_up(61, 60));
        assert!(!used_up(0, 0), "a packet that charges nothing asks nothing");
    }

    fn octets(input: i64, output: i64) -> Octets {
        Octets { input, output }
    }

    fn seen(ended: Ended, t: i64, o: Octets) -> Option<Seen> {
        Some(Seen {
            ended,
            session_time: t,
            octets: o,
        })
    }

    #[test]
    fn octets_charge_their_increase_alongside_seconds() {
        // A Start charges nothing, whatever counters it carries.
        let t = transition(None, Start, Some(0), octets(500, 700));
        assert_eq!((t.bytes, t.octets), (0, Octets::default()));
        let t = transition(
            seen(Ended::No, 0, t.octets),
            Interim,
            Some(60),
            octets(1_000, 4_000),
        );
        assert_eq!((t.charge, t.bytes), (60, 5_000));
        assert_eq!(t.octets, octets(1_000, 4_000));
        let t = transition(
            seen(Ended::No, 60, t.octets),
            Stop,
            Some(90),
            octets(1_500, 6_000),
        );
        assert_eq!((t.charge, t.bytes, t.close), (30, 2_500, true));
    }

    #[test]
    fn a_retransmitted_or_older_interim_never_charges_octets_twice_or_subtracts() {
        let s = seen(Ended::No, 600, octets(10_000, 20_000));
        // The same counters again (a retransmission the cache missed).
        let t = transition(s, Interim, Some(600), octets(10_000, 20_000));
        assert_eq!((t.charge, t.bytes), (0, 0));
        // An older Interim arriving after a newer one: nothing, and the
        // high-water mark stays.
        let t = transition(s, Interim, Some(300), octets(4_000, 9_000));
        assert_eq!((t.charge, t.bytes), (0, 0));
        assert_eq!(t.octets, octets(10_000, 20_000));
        // One direction newer, the other older (reordered halves): only
        // the increase of the one that grew.
        let t = transition(s, Interim, Some(600), octets(12_000, 5_000));
        assert_eq!(t.bytes, 2_000);
        assert_eq!(t.octets, octets(12_000, 20_000));
        // Anything after the Stop.
        let closed = seen(Ended::ByStop, 900, octets(10_000, 20_000));
        let t = transition(closed, Stop, Some(900), octets(90_000, 90_000));
        assert!(t.ignore && t.bytes == 0);
    }

    #[test]
    fn gigawords_count_and_a_lost_start_charges_what_the_first_packet_reports() {
        // 1 Gigaword + 5 octets in, 2 Gigawords out.
        let o = octets(counter64(Some(5), Some(1)), counter64(Some(0), Some(2)));
        assert_eq!(o.total(), 3 * (1 << 32) + 5);
        let t = transition(None, Interim, Some(60), o);
        assert!(t.open);
        assert_eq!(t.bytes, 3 * (1 << 32) + 5);
        // The low word wrapped into the next Gigaword: still an increase.
        let before = octets(counter64(Some(u32::MAX), Some(0)), 0);
        let after = octets(counter64(Some(10), Some(1)), 0);
        let t = transition(seen(Ended::No, 60, before), Interim, Some(120), after);
        assert_eq!(t.bytes, 11);
        // A hostile NAS's counters saturate rather than overflow.
        let huge = octets(i64::MAX, i64::MAX);
        assert_eq!(huge.total(), i64::MAX);
        let t = transition(seen(Ended::No, 0, huge), Interim, Some(1), huge);
        assert_eq!(t.bytes, 0);
        // Negative counters (impossible on the wire) count as nothing.
        assert_eq!(transition(None, Stop, Some(1), octets(-5, -5)).bytes, 0);
    }

    #[test]
    fn a_reused_session_id_charges_the_new_sessions_octets_in_full() {
        // Stopped long ago with 9,000 octets; the NAS reuses the id and
        // its Start is lost: the new session's Interim opens a session of
        // its own and charges all it reports, not the difference.
        let s = [Stored {
            ended: Ended::ByStop,
            session_time: 100,
            octets: octets(4_000, 5_000),
            code_key: "A",
            stopped_at: Some(1_000),
        }];
        let p = Packet {
            status: Interim,
            code_key: Some("A"),
            session_time: Some(60),
            octets: octets(1_000, 2_000),
            delay: 0,
            now: 10_000,
        };
        let Plan::Record(r) = plan(&s, &p, 16) else {
            panic!()
        };
        assert_eq!(r.session, None);
        assert_eq!((r.transition.charge, r.transition.bytes), (60, 3_000));
    }

    #[test]
    fn a_session_presumed_over_resumes_when_more_octets_are_reported() {
        let s = seen(Ended::Presumed, 600, octets(100, 100));
        let t = transition(s, Interim, Some(600), octets(100, 100));
        assert!(t.ignore);
        let t = transition(s, Interim, Some(600), octets(100, 400));
        assert!(t.reopen && !t.ignore);
        assert_eq!((t.charge, t.bytes), (0, 300));
    }

    #[test]
    fn what_used_up_data_disconnects() {
        assert!(data_used_up(Some(100), 100));
        assert!(data_used_up(Some(0), 1));
        assert!(!data_used_up(Some(101), 100));
        assert!(!data_used_up(None, i64::MAX), "no allowance");
        assert!(!data_used_up(Some(0), 0), "charged nothing");
        let t = transition(
            seen(Ended::No, 0, Octets::default()),
            Interim,
            Some(10),
            octets(0, 50),
        );
        assert!(disconnects(3_600, Some(50), &t), "data ran out");
        assert!(disconnects(10, None, &t), "time ran out");
        assert!(!disconnects(3_600, Some(51), &t));
        assert!(!disconnects(3_600, None, &t));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// However a NAS's packets for one session arrive (any order,
            /// any of them repeated, the Start lost or not), the seconds
            /// and octets charged add up to the highest time and the
            /// highest counter of each direction among them: never more,
            /// never less, never negative.
            #[test]
            fn any_delivery_charges_the_highest_counters_once(
                packets in proptest::collection::vec(
                    (0i64..100_000, 0i64..(1 << 40), 0i64..(1 << 40)), 1..12),
                order in proptest::collection::vec(any::<prop::sample::Index>(), 1..30),
                with_start in any::<bool>(),
            ) {
                let mut seen: Option<Seen> = None;
                if with_start {
                    let t = transition(None, Start, Some(0), octets(7, 7));
                    prop_assert_eq!((t.charge, t.bytes), (0, 0));
                    seen = Some(Seen { ended: Ended::No, session_time: t.session_time, octets: t.octets });
                }
                let (mut secs, mut bytes) = (0i64, 0i64);
                let (mut top_t, mut top) = (0i64, Octets::default());
                for i in &order {
                    let (time, input, output) = packets[i.index(packets.len())];
                    let o = octets(input, output);
                    let t = transition(seen, Interim, Some(time), o);
                    prop_assert!(t.charge >= 0 && t.bytes >= 0);
                    secs += t.charge;
                    bytes += t.bytes;
                    top_t = top_t.max(time);
                    top = top.max(o);
                    prop_assert_eq!(t.octets, top);
                    seen = Some(Seen { ended: Ended::No, session_time: t.session_time, octets: t.octets });
                }
                prop_assert_eq!(secs, top_t);
                prop_assert_eq!(bytes, top.total());
            }
        }
    }
}
