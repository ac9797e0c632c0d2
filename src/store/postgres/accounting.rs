//! A batch's accounting on PostgreSQL, set-based: the sessions and tokens
//! the packets name are read in one go, each packet is decided in memory
//! in arrival order by the rules of `policy::accounting` (as if it ran
//! alone after the ones before it), and what changed is written back with
//! one statement per kind of change (`unnest` over arrays), whatever the
//! number of packets. Per batch: the lock of the tokens (which reads them)
//! and the 2 reads, sent with BEGIN in one round trip; at most 4 writes in
//! a second; COMMIT; and a read of the live sessions of a code that ran out.
//!
//! It takes the common packets only: Start, Interim-Update and Stop with a
//! User-Name and an Acct-Session-Id whose stored sessions all belong to
//! tokens the batch locked (by the packets' codes), fewer than the lookup
//! takes. The writer runs the others one by one (`account`): groups of
//! requests that include a login or another packet at the same time as
//! this, and groups this does not take after it.

use std::collections::HashMap;

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::writer::{Conn, LAST_ACCESS_RESOLUTION};
use crate::policy::accounting::{self, AcctStatus, Ended, Plan};
use crate::store::writer::{AcctJob, AcctOutcome};
use crate::store::{LiveSession, StoreError};
use crate::token::parse::code_key;

/// Sessions read per Acct-Session-Id (as `SESSIONS_BY_ID`); a packet whose
/// id has this many is left to the one-by-one path (which looks further).
const LOOKUP: usize = 16;

/// The sessions of each (NAS, Acct-Session-Id), newest first, with the
/// code each was used with and its token's code now.
pub(super) const SESSIONS: &str = "SELECT p.i, s.id, s.state = 'closed', s.session_time, \
     s.token_id, s.close_reason, COALESCE(s.user_name, t.access_code), s.stopped_at, t.code_key, \
     s.input_octets, s.output_octets \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS p(nas, sid, i) \
     CROSS JOIN LATERAL (SELECT id, state, session_time, token_id, close_reason, user_name, \
     stopped_at, input_octets, output_octets FROM sessions WHERE nas = p.nas AND acct_session_id = p.sid \
     ORDER BY id + 0 DESC LIMIT 16) s \
     CROSS JOIN LATERAL (SELECT access_code, code_key FROM access_tokens \
     WHERE id = s.token_id LIMIT 1) t ORDER BY p.i, s.id + 0 DESC";

/// The pending places (from Access-Accepts) of the batch's codes' tokens.
pub(super) const PENDING: &str = "SELECT id, token_id, device FROM sessions \
     WHERE token_id = ANY(ARRAY(SELECT id FROM access_tokens WHERE code_key = ANY($1))) \
     AND state IN ('pending', 'active') AND state = 'pending' ORDER BY id + 0";

/// Changes to sessions stored before the batch: NULL leaves a column as
/// it is; counters only grow.
pub(super) const UPDATE_SESSIONS: &str = "UPDATE sessions s SET \
     session_time = COALESCE(u.st, s.session_time), updated_at = u.now, \
     framed_ip = COALESCE(u.fip, s.framed_ip), input_octets = GREATEST(s.input_octets, u.io), \
     output_octets = GREATEST(s.output_octets, u.oo), input_packets = GREATEST(s.input_packets, u.ip), \
     output_packets = GREATEST(s.output_packets, u.op), user_name = COALESCE(u.un, s.user_name), \
     state = COALESCE(u.state, s.state), \
     stopped_at = CASE WHEN u.state IS NULL THEN s.stopped_at ELSE u.stopped END, \
     close_reason = CASE WHEN u.state IS NULL THEN s.close_reason ELSE u.reason END, \
     terminate_cause = CASE WHEN u.set_cause THEN u.cause ELSE s.terminate_cause END \
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], \
     $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::bool[], \
     $14::bigint[]) AS u(id, st, now, fip, io, oo, ip, op, un, state, stopped, reason, set_cause, cause) \
     WHERE s.id = u.id AND s.id = ANY($1)";

/// Pending places a session confirmed, written whole.
pub(super) const CONFIRM: &str = "UPDATE sessions s SET state = u.state, nas = u.nas, \
     acct_session_id = u.sid, framed_ip = u.fip, session_time = u.st, updated_at = u.now, \
     expires_at = NULL, input_octets = u.io, output_octets = u.oo, input_packets = u.ip, \
     output_packets = u.op, user_name = u.un, stopped_at = u.stopped, terminate_cause = u.cause, \
     close_reason = u.reason \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
     $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[], \
     $13::bigint[], $14::bigint[], $15::text[]) \
     AS u(id, nas, sid, fip, st, now, io, oo, ip, op, un, state, stopped, cause, reason) \
     WHERE s.id = u.id AND s.id = ANY($1)";

/// New sessions, written whole.
pub(super) const INSERT: &str = "INSERT INTO sessions (token_id, nas, device, state, \
     acct_session_id, framed_ip, created_at, updated_at, session_time, input_octets, \
     output_octets, input_packets, output_packets, user_name, stopped_at, terminate_cause, \
     close_reason) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], \
     $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
     $11::bigint[], $12::bigint[], $13::bigint[], $14::text[], $15::bigint[], $16::bigint[], \
     $17::text[])";

/// What the batch charged each token, and its stamps.
pub(super) const CHARGE: &str =
    "UPDATE access_tokens t SET seconds_used = t.seconds_used + u.charge, \
     last_access = u.now, first_used_on = COALESCE(t.first_used_on, u.first), \
     spent_on = CASE WHEN u.spent IS NOT NULL AND t.single_use THEN COALESCE(t.spent_on, u.spent) \
     ELSE t.spent_on END, \
     bytes_used = CASE WHEN t.bytes_used > 9223372036854775807 - u.bytes THEN 9223372036854775807 \
     ELSE t.bytes_used + u.bytes END \
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], \
     $6::bigint[]) AS u(id, charge, now, first, spent, bytes) WHERE t.id = u.id AND t.id = ANY($1)";

/// (Each write also says `id = ANY($1)`: the rows are then looked up by
/// id, whatever the plan thinks of the table's size.)
///
/// The statements this module prepares (with the writer's).
pub(super) const STATEMENTS: &[&str] =
    &[SESSIONS, PENDING, UPDATE_SESSIONS, CONFIRM, INSERT, CHARGE];

struct Token {
    id: i64,
    business_id: i64,
    left: i64,
    /// Bytes left of its data allowance (`None`: unlimited).
    bytes_left: Option<i64>,
    user_limit: Option<i64>,
    last_access: Option<i64>,
    first_used_on: Option<i64>,
    /// What the batch writes to it.
    write: Option<TokenWrite>,
    ran_out: bool,
}

struct TokenWrite {
    charge: i64,
    bytes: i64,
    now: i64,
    first: i64,
    spent: Option<i64>,
}

/// A session as the batch sees it.
#[derive(Clone)]
struct Sess {
    at: At,
    ended: Ended,
    session_time: i64,
    /// Its octet counters' high-water marks.
    octets: accounting::Octets,
    code_key: String,
    stopped_at: Option<i64>,
    token_id: i64,
}

/// Where a session's changes go.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum At {
    /// Stored before the batch: an update.
    Stored(i64),
    /// A new row (index into `whole`).
    Whole(usize),
}

/// Changes to a stored session (NULL: unchanged).
#[derive(Default)]
struct Update {
    st: Option<i64>,
    now: i64,
    fip: Option<String>,
    io: Option<i64>,
    oo: Option<i64>,
    ip: Option<i64>,
    op: Option<i64>,
    un: Option<String>,
    state: Option<&'static str>,
    stopped: Option<i64>,
    reason: Option<&'static str>,
    cause: Option<Option<i64>>,
}

/// A session written whole: inserted, or a pending place confirmed.
struct Whole {
    confirms: Option<i64>,
    token_id: i64,
    nas: String,
    device: Option<String>,
    sid: String,
    fip: Option<String>,
    created: i64,
    now: i64,
    st: i64,
    io: i64,
    oo: i64,
    ip: i64,
    op: i64,
    un: String,
    state: &'static str,
    stopped: Option<i64>,
    cause: Option<i64>,
    reason: Option<&'static str>,
}

/// What was read for the batch, and what the batch changes.
pub(super) struct Batch {
    tokens: Vec<Token>,
    /// Indexes into `tokens` by code key (several when businesses share a
    /// code), and by id.
    by_key: HashMap<String, Vec<usize>>,
    by_id: HashMap<i64, usize>,
    /// By (NAS, Acct-Session-Id), newest first.
    sessions: HashMap<(String, String), Vec<Sess>>,
    /// Pending places by token: (session id, device), oldest first.
    pending: HashMap<i64, Vec<(i64, Option<String>)>>,
    updates: HashMap<i64, Update>,
    /// In the order created.
    whole: Vec<Whole>,
}

/// The (NAS, Acct-Session-Id) of a packet this module may take.
fn pair(a: &AcctJob) -> Option<(String, String)> {
    match a.status {
        AcctStatus::Start | AcctStatus::Interim | AcctStatus::Stop => {}
        _ => return None,
    }
    a.user_name.as_ref()?;
    Some((a.nas.clone(), a.acct_session_id.clone()?))
}

/// Whether this module may take a packet, as far as the packet alone says.
pub(super) fn may_take(a: &AcctJob) -> bool {
    pair(a).is_some()
}

/// The sessions and pending places of a batch's packets, as read.
pub(super) struct Fetched {
    pairs: Vec<(String, String)>,
    sessions: Vec<Row>,
    pending: Vec<Row>,
}

/// Read the sessions and pending places of `jobs` (both queries sent at
/// once). They need only the packets, so the caller sends them with BEGIN
/// and the lock of the tokens, in one round trip; PostgreSQL runs them after
/// the lock. Nothing is read when no packet may be taken.
pub(super) async fn fetch(c: &Conn, jobs: &[&AcctJob]) -> Result<Fetched, tokio_postgres::Error> {
    let mut keys: Vec<String> = jobs
        .iter()
        .filter_map(|a| a.user_name.as_deref().map(code_key))
        .collect();
    keys.sort();
    keys.dedup();
    let mut pairs: Vec<(String, String)> = jobs.iter().filter_map(|a| pair(a)).collect();
    pairs.sort();
    pairs.dedup();
    if pairs.is_empty() {
        return Ok(Fetched {
            pairs,
            sessions: Vec::new(),
            pending: Vec::new(),
        });
    }
    let (nases, sids): (Vec<&str>, Vec<&str>) =
        pairs.iter().map(|(n, s)| (n.as_str(), s.as_str())).unzip();
    let (sessions, pending) = futures_util::future::try_join(
        c.query(SESSIONS, &[&nases, &sids]),
        c.query(PENDING, &[&keys]),
    )
    .await?;
    Ok(Fetched {
        pairs,
        sessions,
        pending,
    })
}

/// The batch as read: `tokens`, the rows of the batch's LOCK_TOKENS (every
/// token its packets name by code, locked); `fetched`, from [`fetch`] for
/// (at least) the packets to decide.
pub(super) fn batch(tokens: &[Row], fetched: &Fetched) -> Result<Batch, StoreError> {
    let (pairs, sessions, pending) = (&fetched.pairs, &fetched.sessions, &fetched.pending);
    let mut b = Batch {
        tokens: Vec::with_capacity(tokens.len()),
        by_key: HashMap::new(),
        by_id: HashMap::new(),
        sessions: HashMap::new(),
        pending: HashMap::new(),
        updates: HashMap::new(),
        whole: Vec::new(),
    };
    for r in tokens {
        // Tokens locked for the batch's logins are not accounting's.
        if !r.try_get::<_, bool>(7)? {
            continue;
        }
        let key: String = r.try_get(1)?;
        let t = Token {
            id: r.try_get(0)?,
            business_id: r.try_get(2)?,
            left: r.try_get(3)?,
            bytes_left: r.try_get(8)?,
            user_limit: r.try_get(4)?,
            last_access: r.try_get(5)?,
            first_used_on: r.try_get(6)?,
            write: None,
            ran_out: false,
        };
        b.by_id.insert(t.id, b.tokens.len());
        b.by_key.entry(key).or_default().push(b.tokens.len());
        b.tokens.push(t);
    }
    for r in sessions {
        let i: i64 = r.try_get(0)?;
        let Some(p) = usize::try_from(i - 1).ok().and_then(|i| pairs.get(i)) else {
            continue;
        };
        let closed: bool = r.try_get(2)?;
        let reason: Option<String> = r.try_get(5)?;
        let used: String = r.try_get(6)?;
        b.sessions.entry(p.clone()).or_default().push(Sess {
            at: At::Stored(r.try_get(1)?),
            ended: ended(closed, reason.as_deref()),
            session_time: r.try_get(3)?,
            octets: accounting::Octets {
                input: r.try_get(9)?,
                output: r.try_get(10)?,
            },
            code_key: code_key(&used),
            stopped_at: r.try_get(7)?,
            token_id: r.try_get(4)?,
        });
    }
    for r in pending {
        let token: i64 = r.try_get(1)?;
        b.pending
            .entry(token)
            .or_default()
            .push((r.try_get(0)?, r.try_get(2)?));
    }
    Ok(b)
}

fn ended(closed: bool, reason: Option<&str>) -> Ended {
    match (closed, reason) {
        (false, _) => Ended::No,
        (true, Some("stale" | "nas-restart" | "replaced")) => Ended::Presumed,
        (true, _) => Ended::ByStop,
    }
}

impl Batch {
    /// Whether this module takes a packet, given what was read: its stored
    /// sessions all belong to tokens read (so locked, and their charges
    /// known here), and are fewer than the lookup takes.
    pub(super) fn takes(&self, a: &AcctJob) -> bool {
        let Some(p) = pair(a) else {
            return false;
        };
        match self.sessions.get(&p) {
            None => true,
            Some(v) => v.len() < LOOKUP && v.iter().all(|s| self.by_id.contains_key(&s.token_id)),
        }
    }

    /// Decide one packet (in arrival order), as `account` would have
    /// after the packets before it; the changes are kept for
    /// [`Batch::write`]. With the outcome: whether this packet used the
    /// code up (its `disconnect` is then filled from what `write` reads).
    pub(super) fn account(&mut self, a: &AcctJob) -> (AcctOutcome, bool) {
        self.decide(a)
    }

    fn decide(&mut self, a: &AcctJob) -> (AcctOutcome, bool) {
        let now = a.now;
        let (Some(p), Some(user)) = (pair(a), a.user_name.as_deref()) else {
            return (AcctOutcome::ignored("no Acct-Session-Id"), false);
        };
        let sid = p.1.clone();
        let packet_code = code_key(user);
        let packet = a.packet(Some(&packet_code));
        let rows = self.sessions.entry(p).or_default();
        let stored: Vec<accounting::Stored> = rows
            .iter()
            .map(|s| accounting::Stored {
                ended: s.ended,
                session_time: s.session_time,
                octets: s.octets,
                code_key: &s.code_key,
                stopped_at: s.stopped_at,
            })
            .collect();
        let record = match accounting::plan(&stored, &packet, usize::MAX) {
            Plan::Record(r) => r,
            Plan::Ignore(why) => return (AcctOutcome::ignored(why), false),
            Plan::LookForOwn => {
                return (AcctOutcome::ignored("no session found by User-Name"), false)
            }
        };
        let tr = record.transition;
        let matched = record.session.and_then(|i| rows.get(i)).cloned();
        if tr.ignore {
            return (
                AcctOutcome {
                    token_id: matched.map(|s| s.token_id),
                    ..AcctOutcome::ignored("duplicate or late packet")
                },
                false,
            );
        }
        let token_id = match matched {
            Some(s) => {
                // The session's own packet: its time, counters, state.
                if let Some(i) = record.session {
                    if let Some(r) = rows.get_mut(i) {
                        r.session_time = tr.session_time;
                        r.octets = tr.octets;
                        if tr.close {
                            r.ended = Ended::ByStop;
                            r.stopped_at = Some(now);
                        } else if tr.reopen {
                            r.ended = Ended::No;
                            r.stopped_at = None;
                        }
                    }
                }
                let cause = a.terminate_cause.map(i64::from);
                match s.at {
                    At::Stored(id) => {
                        let u = self.updates.entry(id).or_default();
                        u.st = Some(tr.session_time);
                        u.now = now;
                        u.fip = a.framed_ip.clone().or(u.fip.take());
                        u.io = Some(u.io.unwrap_or(0).max(a.input_octets));
                        u.oo = Some(u.oo.unwrap_or(0).max(a.output_octets));
                        u.ip = Some(u.ip.unwrap_or(0).max(a.input_packets));
                        u.op = Some(u.op.unwrap_or(0).max(a.output_packets));
                        u.un = a.user_name.clone().or(u.un.take());
                        if tr.close {
                            u.state = Some("closed");
                            u.stopped = Some(now);
                            u.reason = Some("stop");
                            u.cause = Some(cause);
                        } else if tr.reopen {
                            u.state = Some("active");
                            u.stopped = None;
                            u.reason = None;
                        }
                    }
                    At::Whole(k) => {
                        if let Some(w) = self.whole.get_mut(k) {
                            w.st = tr.session_time;
                            w.now = now;
                            w.fip = a.framed_ip.clone().or(w.fip.take());
                            w.io = w.io.max(a.input_octets);
                            w.oo = w.oo.max(a.output_octets);
                            w.ip = w.ip.max(a.input_packets);
                            w.op = w.op.max(a.output_packets);
                            w.un = user.to_string();
                            if tr.close {
                                w.state = "closed";
                                w.stopped = Some(now);
                                w.reason = Some("stop");
                                w.cause = cause;
                            } else if tr.reopen {
                                w.state = "active";
                                w.stopped = None;
                                w.reason = None;
                            }
                        }
                    }
                }
                s.token_id
            }
            None => {
                // A session of its own: its code's token.
                let found: Vec<usize> = self
                    .by_key
                    .get(&packet_code)
                    .map(|v| {
                        v.iter()
                            .copied()
                            .filter(|&i| {
                                a.business_id.is_none_or(|b| {
                                    self.tokens.get(i).is_some_and(|t| t.business_id == b)
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if found.len() > 1 {
                    tracing::warn!(
                        nas = %a.nas,
                        "code matches tokens of several businesses; set business_id on the client"
                    );
                }
                let Some(token) = found
                    .first()
                    .filter(|_| found.len() == 1)
                    .and_then(|&i| self.tokens.get(i))
                else {
                    return (AcctOutcome::ignored("unknown code"), false);
                };
                let token_id = token.id;
                let limited = token.user_limit.is_some();
                // The sessions it replaces are closed.
                for &i in &record.replaces {
                    let Some(r) = rows.get_mut(i) else { continue };
                    r.ended = Ended::Presumed;
                    r.stopped_at = Some(now);
                    match r.at {
                        At::Stored(id) => {
                            let u = self.updates.entry(id).or_default();
                            u.now = now;
                            u.state = Some("closed");
                            u.stopped = Some(now);
                            u.reason = Some("replaced");
                        }
                        At::Whole(k) => {
                            if let Some(w) = self.whole.get_mut(k) {
                                w.now = now;
                                w.state = "closed";
                                w.stopped = Some(now);
                                w.reason = Some("replaced");
                            }
                        }
                    }
                }
                let o = accounting::opening(&tr, a.status, a.terminate_cause);
                let (io, oo, ip, op) = a.opening_counters(&o);
                // The device's pending place from its Access-Accept, if any
                // (only a token with a UserLimit has places).
                let confirms = if limited {
                    self.pending.get_mut(&token_id).and_then(|places| {
                        let i = places.iter().position(|(_, d)| *d == a.device)?;
                        Some(places.remove(i).0)
                    })
                } else {
                    None
                };
                let k = self.whole.len();
                self.whole.push(Whole {
                    confirms,
                    token_id,
                    nas: a.nas.clone(),
                    device: a.device.clone(),
                    sid,
                    fip: a.framed_ip.clone(),
                    created: now,
                    now,
                    st: tr.session_time,
                    io,
                    oo,
                    ip,
                    op,
                    un: user.to_string(),
                    state: o.state,
                    stopped: o.stopped.then_some(now),
                    cause: o.terminate_cause.map(i64::from),
                    reason: o.close_reason,
                });
                rows.insert(
                    0,
                    Sess {
                        at: At::Whole(k),
                        ended: if tr.close { Ended::ByStop } else { Ended::No },
                        session_time: tr.session_time,
                        octets: tr.octets,
                        code_key: packet_code.clone(),
                        stopped_at: o.stopped.then_some(now),
                        token_id,
                    },
                );
                token_id
            }
        };
        // Charge the token, stamp it, spend it (as `account`).
        let Some(t) = self
            .by_id
            .get(&token_id)
            .and_then(|&i| self.tokens.get_mut(i))
        else {
            return (AcctOutcome::ignored("unknown code"), false);
        };
        let spends = accounting::spends(&tr, a.terminate_cause);
        let stale = t
            .last_access
            .is_none_or(|l| now - l >= LAST_ACCESS_RESOLUTION);
        if stale || tr.charge != 0 || tr.bytes != 0 || spends || t.first_used_on.is_none() {
            let w = t.write.get_or_insert(TokenWrite {
                charge: 0,
                bytes: 0,
                now,
                first: now,
                spent: None,
            });
            w.charge += tr.charge;
            w.bytes = w.bytes.saturating_add(tr.bytes);
            w.now = now;
            if spends && w.spent.is_none() {
                w.spent = Some(now);
            }
            t.last_access = Some(now);
            t.first_used_on = t.first_used_on.or(Some(now));
        }
        let used_up = accounting::disconnects(t.left, t.bytes_left, &tr);
        t.left -= tr.charge;
        t.bytes_left = t.bytes_left.map(|b| b.saturating_sub(tr.bytes));
        t.ran_out |= used_up;
        (
            AcctOutcome {
                token_id: Some(token_id),
                charged: tr.charge,
                bytes: tr.bytes,
                closed: u64::from(tr.close),
                ignored: None,
                // Filled in from `write` for a packet that used the code up.
                disconnect: Vec::new(),
            },
            used_up,
        )
    }

    /// Write the batch's changes (one statement per kind, pipelined) and
    /// read the live sessions of the tokens that ran out, to disconnect;
    /// with `commit`, the COMMIT goes out behind them, in the same round
    /// trip. `committed` is true only when every statement and the COMMIT
    /// succeeded (PostgreSQL answers a COMMIT of a failed transaction with
    /// a ROLLBACK, not an error, so each statement's result is checked).
    pub(super) async fn write(self, c: &Conn, commit: bool) -> Result<Written, StoreError> {
        let mut ids = Vec::new();
        let mut st = Vec::new();
        let mut now = Vec::new();
        let mut fip = Vec::new();
        let (mut io, mut oo, mut ip, mut op) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut un = Vec::new();
        let mut state = Vec::new();
        let mut stopped = Vec::new();
        let mut reason = Vec::new();
        let mut set_cause = Vec::new();
        let mut cause = Vec::new();
        for (id, u) in &self.updates {
            ids.push(*id);
            st.push(u.st);
            now.push(u.now);
            fip.push(u.fip.as_deref());
            io.push(u.io);
            oo.push(u.oo);
            ip.push(u.ip);
            op.push(u.op);
            un.push(u.un.as_deref());
            state.push(u.state);
            stopped.push(u.stopped);
            reason.push(u.reason);
            set_cause.push(u.cause.is_some());
            cause.push(u.cause.flatten());
        }
        let update_params: [&(dyn ToSql + Sync); 14] = [
            &ids, &st, &now, &fip, &io, &oo, &ip, &op, &un, &state, &stopped, &reason, &set_cause,
            &cause,
        ];
        let (confirm, insert): (Vec<&Whole>, Vec<&Whole>) =
            self.whole.iter().partition(|w| w.confirms.is_some());
        let c_id: Vec<i64> = confirm.iter().filter_map(|w| w.confirms).collect();
        let c_nas: Vec<&str> = confirm.iter().map(|w| w.nas.as_str()).collect();
        let c_sid: Vec<&str> = confirm.iter().map(|w| w.sid.as_str()).collect();
        let c_fip: Vec<Option<&str>> = confirm.iter().map(|w| w.fip.as_deref()).collect();
        let c_st: Vec<i64> = confirm.iter().map(|w| w.st).collect();
        let c_now: Vec<i64> = confirm.iter().map(|w| w.now).collect();
        let c_io: Vec<i64> = confirm.iter().map(|w| w.io).collect();
        let c_oo: Vec<i64> = confirm.iter().map(|w| w.oo).collect();
        let c_ip: Vec<i64> = confirm.iter().map(|w| w.ip).collect();
        let c_op: Vec<i64> = confirm.iter().map(|w| w.op).collect();
        let c_un: Vec<&str> = confirm.iter().map(|w| w.un.as_str()).collect();
        let c_state: Vec<&str> = confirm.iter().map(|w| w.state).collect();
        let c_stopped: Vec<Option<i64>> = confirm.iter().map(|w| w.stopped).collect();
        let c_cause: Vec<Option<i64>> = confirm.iter().map(|w| w.cause).collect();
        let c_reason: Vec<Option<&str>> = confirm.iter().map(|w| w.reason).collect();
        let confirm_params: [&(dyn ToSql + Sync); 15] = [
            &c_id, &c_nas, &c_sid, &c_fip, &c_st, &c_now, &c_io, &c_oo, &c_ip, &c_op, &c_un,
            &c_state, &c_stopped, &c_cause, &c_reason,
        ];
        let i_token: Vec<i64> = insert.iter().map(|w| w.token_id).collect();
        let i_nas: Vec<&str> = insert.iter().map(|w| w.nas.as_str()).collect();
        let i_device: Vec<Option<&str>> = insert.iter().map(|w| w.device.as_deref()).collect();
        let i_state: Vec<&str> = insert.iter().map(|w| w.state).collect();
        let i_sid: Vec<&str> = insert.iter().map(|w| w.sid.as_str()).collect();
        let i_fip: Vec<Option<&str>> = insert.iter().map(|w| w.fip.as_deref()).collect();
        let i_created: Vec<i64> = insert.iter().map(|w| w.created).collect();
        let i_now: Vec<i64> = insert.iter().map(|w| w.now).collect();
        let i_st: Vec<i64> = insert.iter().map(|w| w.st).collect();
        let i_io: Vec<i64> = insert.iter().map(|w| w.io).collect();
        let i_oo: Vec<i64> = insert.iter().map(|w| w.oo).collect();
        let i_ip: Vec<i64> = insert.iter().map(|w| w.ip).collect();
        let i_op: Vec<i64> = insert.iter().map(|w| w.op).collect();
        let i_un: Vec<&str> = insert.iter().map(|w| w.un.as_str()).collect();
        let i_stopped: Vec<Option<i64>> = insert.iter().map(|w| w.stopped).collect();
        let i_cause: Vec<Option<i64>> = insert.iter().map(|w| w.cause).collect();
        let i_reason: Vec<Option<&str>> = insert.iter().map(|w| w.reason).collect();
        let insert_params: [&(dyn ToSql + Sync); 17] = [
            &i_token, &i_nas, &i_device, &i_state, &i_sid, &i_fip, &i_created, &i_now, &i_st,
            &i_io, &i_oo, &i_ip, &i_op, &i_un, &i_stopped, &i_cause, &i_reason,
        ];
        let written: Vec<(i64, &TokenWrite)> = self
            .tokens
            .iter()
            .filter_map(|t| t.write.as_ref().map(|w| (t.id, w)))
            .collect();
        let t_id: Vec<i64> = written.iter().map(|(id, _)| *id).collect();
        let t_charge: Vec<i64> = written.iter().map(|(_, w)| w.charge).collect();
        let t_now: Vec<i64> = written.iter().map(|(_, w)| w.now).collect();
        let t_first: Vec<i64> = written.iter().map(|(_, w)| w.first).collect();
        let t_spent: Vec<Option<i64>> = written.iter().map(|(_, w)| w.spent).collect();
        let t_bytes: Vec<i64> = written.iter().map(|(_, w)| w.bytes).collect();
        let charge_params: [&(dyn ToSql + Sync); 6] =
            [&t_id, &t_charge, &t_now, &t_first, &t_spent, &t_bytes];
        let ran_out: Vec<i64> = self
            .tokens
            .iter()
            .filter(|t| t.ran_out)
            .map(|t| t.id)
            .collect();
        // In this order on the connection: the writes, then the reads of
        // what ran out (which see them).
        let writes = async {
            let skip = |n: usize| n == 0;
            futures_util::future::try_join4(
                async {
                    if skip(ids.len()) {
                        Ok(0)
                    } else {
                        c.execute(UPDATE_SESSIONS, &update_params).await
                    }
                },
                async {
                    if skip(c_id.len()) {
                        Ok(0)
                    } else {
                        c.execute(CONFIRM, &confirm_params).await
                    }
                },
                async {
                    if skip(i_token.len()) {
                        Ok(0)
                    } else {
                        c.execute(INSERT, &insert_params).await
                    }
                },
                async {
                    if skip(t_id.len()) {
                        Ok(0)
                    } else {
                        c.execute(CHARGE, &charge_params).await
                    }
                },
            )
            .await
        };
        let live = futures_util::future::try_join_all(ran_out.iter().map(|id| async move {
            c.query(super::writer::LIVE_SESSIONS, &[id])
                .await
                .map(|rows| (*id, rows))
        }));
        let commit_now = async {
            if commit {
                Some(c.commit().await)
            } else {
                None
            }
        };
        // Sent in this order on the first poll: writes, reads, COMMIT.
        let (written, live, committed) =
            futures_util::future::join3(writes, live, commit_now).await;
        written?;
        let live = live?;
        let committed = match committed {
            Some(r) => {
                r?;
                true
            }
            None => false,
        };
        let mut out = HashMap::with_capacity(live.len());
        for (id, rows) in live {
            match super::writer::live_rows(&rows) {
                Ok(l) => {
                    out.insert(id, l);
                }
                // Committed: the charge stands; only the disconnect is lost.
                Err(e) if committed => {
                    tracing::warn!(error = %e, token_id = id, "PostgreSQL: cannot read the live sessions of a code that ran out; they are not disconnected now");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Written {
            live: out,
            committed,
        })
    }
}

/// What [`Batch::write`] did: the live sessions of the tokens that ran out,
/// and whether the transaction is committed.
pub(super) struct Written {
    pub(super) live: HashMap<i64, Vec<LiveSession>>,
    pub(super) committed: bool,
}
