//! `GET /dashboard` (managers and admins, issue 20 point 3): a few charts
//! of the codes of the businesses the operator may see, counted here in
//! Rust from the raw rows the store reads ([`Store::dashboard_facts`]), with
//! the clock and the time zone passed in (so the counting is unit-tested,
//! DST days included), and drawn as inline SVG by [`super::charts`].
//!
//! What is counted (hours and days are those of `[server] timezone`):
//!
//! - **Logins per hour**, the last 24 hours: sessions by the hour they
//!   started (`created_at`: the Access-Accept for a code with a device
//!   limit, else the accounting Start). A pending place whose wait ended
//!   without an accounting Start is not a login (the guest never got
//!   online, and the sweep deletes such places soon anyway, which would
//!   make the figure change by itself); one still waiting is.
//! - **Guests online**, at each hour mark of the last 24 hours and now:
//!   sessions the hotspot reported (accounting) that had started by then
//!   and had not ended. A pending place is never online: the hotspot has
//!   not said the guest is. A session closed as stale (no accounting for a
//!   long time) ends at its last accounting packet, not when the sweep
//!   noticed; any other closed session at its Stop (or close).
//! - **Minutes used per day**, the last 14 days: Acct-Session-Time of the
//!   sessions, summed by the day each session *started* (a session over
//!   midnight counts on its first day; running sessions count what they
//!   reported so far), rounded to the nearest minute per day.
//! - **Codes issued and first used per day**, the last 14 days: CreatedOn
//!   and FirstUsedOn by day (a code issued last month and first used today
//!   counts as used today).
//!
//! The hour buckets are real hours (3600 s) aligned to the local clock's
//! hour, so the 24 of them on a DST day read 01, 03, 04… (spring) or 02, 02
//! (autumn); a day is a local calendar day (23 or 25 hours on those days).
//!
//! [`Store::dashboard_facts`]: crate::store::Store::dashboard_facts

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Days, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::auth::Signed;
use super::charts::{self, Chart, Kind, Series};
use super::{html, message, store_trouble, UiState};
use crate::store::dashboard::{DashboardFacts, SessionFact, DASHBOARD_ROW_LIMIT};
use crate::store::operators::{Operator, Role};

/// Hour buckets of the logins chart.
pub const HOURS: usize = 24;
/// Day buckets of the daily charts.
pub const DAYS: usize = 14;

/// A bucket's names: short under the axis, long in the description and
/// the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub short: String,
    pub long: String,
}

/// The hours and days the charts cover, for one clock reading in one zone.
#[derive(Debug, Clone)]
pub struct Window {
    pub now: i64,
    pub tz: Tz,
    /// Start of the first hour bucket: the local hour of `now`, 23 hours
    /// earlier.
    pub first_hour: i64,
    /// The first of the [`DAYS`] local days (today is the last).
    pub first_day: NaiveDate,
    pub today: NaiveDate,
}

fn local(t: i64, tz: Tz) -> DateTime<Tz> {
    crate::token::ts(t).with_timezone(&tz)
}

/// The first instant of local day `d` (midnight, or the first hour that
/// exists where a zone skips midnight).
fn day_start(d: NaiveDate, tz: Tz) -> i64 {
    (0..24)
        .filter_map(|h| d.and_hms_opt(h, 0, 0))
        .find_map(|t| tz.from_local_datetime(&t).earliest())
        .map(|t| t.timestamp())
        .unwrap_or_else(|| {
            d.and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp()
        })
}

impl Window {
    pub fn new(now: i64, tz: Tz) -> Window {
        let l = local(now, tz);
        let this_hour = now - i64::from(l.minute() * 60 + l.second());
        let today = l.date_naive();
        Window {
            now,
            tz,
            first_hour: this_hour - (HOURS as i64 - 1) * 3600,
            first_day: today
                .checked_sub_days(Days::new(DAYS as u64 - 1))
                .unwrap_or(today),
            today,
        }
    }

    /// The earliest instant any chart needs.
    pub fn since(&self) -> i64 {
        day_start(self.first_day, self.tz).min(self.first_hour)
    }

    /// The hour bucket of instant `t`, if in the window.
    fn hour(&self, t: i64) -> Option<usize> {
        if t < self.first_hour || t > self.now {
            return None;
        }
        usize::try_from((t - self.first_hour) / 3600)
            .ok()
            .filter(|i| *i < HOURS)
    }

    /// The day bucket of instant `t`, if in the window.
    fn day(&self, t: i64) -> Option<usize> {
        if t > self.now {
            return None;
        }
        let d = local(t, self.tz).date_naive();
        usize::try_from((d - self.first_day).num_days())
            .ok()
            .filter(|i| *i < DAYS)
    }

    /// The hour marks of the online chart: each hour bucket's start, and now.
    pub fn marks(&self) -> Vec<i64> {
        (0..HOURS as i64)
            .map(|i| self.first_hour + i * 3600)
            .chain(std::iter::once(self.now))
            .collect()
    }

    /// "today", "yesterday" or the date, for local day `d`.
    fn day_words(&self, d: NaiveDate) -> String {
        if d == self.today {
            "today".into()
        } else if self.today.pred_opt() == Some(d) {
            "yesterday".into()
        } else {
            d.format("%-d %b").to_string()
        }
    }

    /// The hour buckets' names: "14" and "Mon 14:00" (with the zone's
    /// abbreviation when the window crosses a change of offset, so that
    /// the autumn's two 02:00 can be told apart).
    pub fn hour_labels(&self) -> Vec<Label> {
        let starts: Vec<DateTime<Tz>> = (0..HOURS as i64)
            .map(|i| local(self.first_hour + i * 3600, self.tz))
            .collect();
        let offsets_change = starts.first().map(|d| d.format("%z").to_string())
            != starts.last().map(|d| d.format("%z").to_string());
        starts
            .iter()
            .map(|d| Label {
                short: d.format("%H").to_string(),
                long: if offsets_change {
                    d.format("%a %H:%M %Z").to_string()
                } else {
                    d.format("%a %H:%M").to_string()
                },
            })
            .collect()
    }

    /// The online chart's marks' names: the hour labels, and "now".
    pub fn mark_labels(&self) -> Vec<Label> {
        let mut v = self.hour_labels();
        v.push(Label {
            short: "now".into(),
            long: format!("now ({})", local(self.now, self.tz).format("%H:%M")),
        });
        v
    }

    /// The day buckets' names: "3" and "Mon 3 Jun".
    pub fn day_labels(&self) -> Vec<Label> {
        self.first_day
            .iter_days()
            .take(DAYS)
            .map(|d| Label {
                short: d.format("%-d").to_string(),
                long: d.format("%a %-d %b").to_string(),
            })
            .collect()
    }

    /// When the logins chart starts, in words: "yesterday 15:00".
    pub fn first_hour_words(&self) -> String {
        let l = local(self.first_hour, self.tz);
        format!("{} {}", self.day_words(l.date_naive()), l.format("%H:%M"))
    }
}

/// Whether a session row is a login (see the module's notes).
fn is_login(s: &SessionFact, now: i64) -> bool {
    match s.state.as_str() {
        "active" | "closed" => true,
        "pending" => s.expires_at.is_none_or(|e| e > now),
        _ => false,
    }
}

/// When the guest was online: from the start to the end (`None`: still
/// online); `None` for a place the hotspot never reported.
fn online_span(s: &SessionFact) -> Option<(i64, Option<i64>)> {
    match s.state.as_str() {
        "active" => Some((s.start, None)),
        "closed" => {
            let end = if s.close_reason.as_deref() == Some("stale") {
                s.updated_at
            } else {
                s.stopped_at.unwrap_or(s.updated_at)
            };
            Some((s.start, Some(end.max(s.start))))
        }
        _ => None,
    }
}

/// The figures of the charts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// Logins per hour bucket.
    pub logins: Vec<i64>,
    /// Sessions online at each of [`Window::marks`].
    pub online: Vec<i64>,
    /// Minutes used per day (rounded per day).
    pub minutes: Vec<i64>,
    /// Seconds used in the 14 days (the total in words is rounded from this).
    pub seconds_total: i64,
    /// Codes created per day.
    pub issued: Vec<i64>,
    /// Codes first used per day.
    pub used: Vec<i64>,
}

/// Count the facts into the window's buckets.
pub fn count(facts: &DashboardFacts, w: &Window) -> Figures {
    let mut logins = vec![0; HOURS];
    let marks = w.marks();
    let mut online = vec![0; marks.len()];
    let mut seconds = [0i64; DAYS];
    let mut issued = vec![0; DAYS];
    let mut used = vec![0; DAYS];
    for s in &facts.sessions {
        if !is_login(s, w.now) {
            continue;
        }
        if let Some(i) = w.hour(s.start) {
            logins[i] += 1;
        }
        if let Some(i) = w.day(s.start) {
            seconds[i] = seconds[i].saturating_add(s.session_time.max(0));
        }
        if let Some((start, end)) = online_span(s) {
            for (n, t) in online.iter_mut().zip(&marks) {
                if start <= *t && end.is_none_or(|e| e > *t) {
                    *n += 1;
                }
            }
        }
    }
    for t in &facts.tokens {
        if let Some(i) = w.day(t.created_on) {
            issued[i] += 1;
        }
        if let Some(i) = t.first_used_on.and_then(|f| w.day(f)) {
            used[i] += 1;
        }
    }
    Figures {
        logins,
        online,
        minutes: seconds.iter().map(|s| (s + 30) / 60).collect(),
        seconds_total: seconds.iter().fold(0i64, |a, s| a.saturating_add(*s)),
        issued,
        used,
    }
}

/// 1234567 as "1,234,567".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// "1 login", "2 logins".
fn count_words(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// One chart as the page shows it.
pub struct ChartView {
    pub id: &'static str,
    pub title: &'static str,
    /// The figures in words, above the chart.
    pub total: String,
    /// What is counted, under it.
    pub caption: String,
    /// The chart (SVG built from numbers and fixed texts, escaped).
    pub svg: String,
    /// (CSS class, name) of each series, when there are several.
    pub legend: Vec<(&'static str, &'static str)>,
    /// The table behind the chart: its column heads and rows.
    pub head: Vec<&'static str>,
    pub rows: Vec<(String, Vec<String>)>,
}

fn table(labels: &[Label], series: &[&[i64]]) -> Vec<(String, Vec<String>)> {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                l.long.clone(),
                series
                    .iter()
                    .map(|v| thousands(v.get(i).copied().unwrap_or(0)))
                    .collect(),
            )
        })
        .collect()
}

/// The four charts of figures `f` over window `w`.
pub fn charts(f: &Figures, w: &Window) -> Vec<ChartView> {
    let zone = w.tz.name();
    let hours = w.hour_labels();
    let marks = w.mark_labels();
    let days = w.day_labels();
    let mut out = Vec::new();

    let total: i64 = f.logins.iter().sum();
    out.push(ChartView {
        id: "logins",
        title: "Logins per hour",
        total: format!(
            "{} in the last 24 hours (since {}).",
            count_words(total, "login", "logins"),
            w.first_hour_words()
        ),
        caption: format!(
            "Sessions by the hour they started ({zone} time); the last hour is the one running now. \
             A login counts once the hotspot reports it through accounting (or at once, for a code \
             with a device limit)."
        ),
        svg: charts::svg(&Chart {
            id: "logins",
            title: "Logins per hour, the last 24 hours",
            kind: Kind::Bars,
            labels: &hours,
            label_every: 3,
            series: vec![Series {
                one: "login",
                name: "logins",
                class: "s1",
                values: &f.logins,
            }],
        }),
        legend: Vec::new(),
        head: vec!["Hour", "Logins"],
        rows: table(&hours, &[&f.logins]),
    });

    let now_online = f.online.last().copied().unwrap_or(0);
    let (peak_at, peak) = f
        .online
        .iter()
        .enumerate()
        .max_by_key(|(i, n)| (**n, *i))
        .map(|(i, n)| (i, *n))
        .unwrap_or((0, 0));
    let peak_words = if peak == 0 {
        "none in the last 24 hours".to_string()
    } else {
        let when = if peak_at + 1 == marks.len() {
            "now"
        } else {
            marks.get(peak_at).map(|l| l.long.as_str()).unwrap_or("")
        };
        format!("at most {} ({when})", thousands(peak))
    };
    out.push(ChartView {
        id: "online",
        title: "Guests online",
        total: format!(
            "{} online now; {peak_words}.",
            count_words(now_online, "guest", "guests")
        ),
        caption: format!(
            "Sessions the hotspot reported running at each full hour ({zone} time) and now. \
             A login the hotspot never confirmed with accounting does not count."
        ),
        svg: charts::svg(&Chart {
            id: "online",
            title: "Guests online at each hour of the last 24 hours",
            kind: Kind::Line,
            labels: &marks,
            label_every: 3,
            series: vec![Series {
                one: "online",
                name: "online",
                class: "s1",
                values: &f.online,
            }],
        }),
        legend: Vec::new(),
        head: vec!["At", "Online"],
        rows: table(&marks, &[&f.online]),
    });

    let minutes_total = (f.seconds_total + 30) / 60;
    out.push(ChartView {
        id: "minutes",
        title: "Minutes used per day",
        total: format!(
            "{} used in the last 14 days{}.",
            count_words(minutes_total, "minute", "minutes"),
            if minutes_total >= 120 {
                format!(" (about {} hours)", thousands((minutes_total + 30) / 60))
            } else {
                String::new()
            }
        ),
        caption: format!(
            "Time used by sessions, counted on the day each session started ({zone} time): a \
             session over midnight counts on its first day, one still running with what it has \
             used so far."
        ),
        svg: charts::svg(&Chart {
            id: "minutes",
            title: "Minutes used per day, the last 14 days",
            kind: Kind::Bars,
            labels: &days,
            label_every: 1,
            series: vec![Series {
                one: "minute",
                name: "minutes",
                class: "s1",
                values: &f.minutes,
            }],
        }),
        legend: Vec::new(),
        head: vec!["Day", "Minutes"],
        rows: table(&days, &[&f.minutes]),
    });

    let issued: i64 = f.issued.iter().sum();
    let used: i64 = f.used.iter().sum();
    out.push(ChartView {
        id: "codes",
        title: "Codes issued and used per day",
        total: format!(
            "{} issued and {} first used in the last 14 days.",
            count_words(issued, "code", "codes"),
            thousands(used)
        ),
        caption: format!(
            "Codes by the day they were made, and by the day of their first login ({zone} time)."
        ),
        svg: charts::svg(&Chart {
            id: "codes",
            title: "Codes issued and first used per day, the last 14 days",
            kind: Kind::Bars,
            labels: &days,
            label_every: 1,
            series: vec![
                Series {
                    one: "issued",
                    name: "issued",
                    class: "s1",
                    values: &f.issued,
                },
                Series {
                    one: "first used",
                    name: "first used",
                    class: "s2",
                    values: &f.used,
                },
            ],
        }),
        legend: vec![("s1", "issued"), ("s2", "first used")],
        head: vec!["Day", "Issued", "First used"],
        rows: table(&days, &[&f.issued, &f.used]),
    });
    out
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    operator: Option<&'a Operator>,
    page: &'a str,
    scope: String,
    zone: &'a str,
    truncated: bool,
    limit: String,
    charts: Vec<ChartView>,
}

/// `GET /dashboard` (managers and admins).
pub async fn page(State(s): State<Arc<UiState>>, Signed(op): Signed) -> Response {
    if op.role < Role::Manager {
        return message(
            StatusCode::FORBIDDEN,
            Some(&op),
            "Not for your role",
            "Only a manager or an admin may see the dashboard.",
        );
    }
    let tz = s.config.server.timezone;
    let w = Window::new(Utc::now().timestamp(), tz);
    let scope = super::pages::scope(&op);
    let facts = match s
        .store
        .dashboard_facts(w.since(), w.now, scope.as_deref())
        .await
    {
        Ok(f) => f,
        Err(e) => return store_trouble(&op, &e),
    };
    let figures = count(&facts, &w);
    let scope = match scope.as_deref() {
        None => "all businesses".to_string(),
        Some([b]) => format!("business {b}"),
        Some(v) => format!(
            "businesses {}",
            v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    html(
        StatusCode::OK,
        &DashboardPage {
            operator: Some(&op),
            page: "dashboard",
            scope,
            zone: tz.name(),
            truncated: facts.truncated,
            limit: thousands(DASHBOARD_ROW_LIMIT),
            charts: charts(&figures, &w),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dashboard::TokenFact;

    fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        tz.with_ymd_and_hms(y, m, d, h, min, 0)
            .earliest()
            .map(|t| t.timestamp())
            .unwrap_or_default()
    }

    fn session(start: i64, state: &str, end: Option<i64>, secs: i64) -> SessionFact {
        SessionFact {
            start,
            state: state.into(),
            expires_at: None,
            stopped_at: end,
            updated_at: end.unwrap_or(start),
            session_time: secs,
            close_reason: end.map(|_| "stop".into()),
        }
    }

    #[test]
    fn an_empty_database_gives_zeros_and_charts_that_still_draw() {
        let tz = chrono_tz::Europe::Berlin;
        let w = Window::new(at(tz, 2025, 6, 3, 14, 20), tz);
        let f = count(&DashboardFacts::default(), &w);
        assert_eq!(f.logins, vec![0; HOURS]);
        assert_eq!(f.online, vec![0; HOURS + 1]);
        assert_eq!((f.minutes.len(), f.seconds_total), (DAYS, 0));
        assert!(f.issued.iter().chain(&f.used).all(|n| *n == 0));
        let c = charts(&f, &w);
        assert_eq!(c.len(), 4);
        assert_eq!(
            c[0].total,
            "0 logins in the last 24 hours (since yesterday 15:00)."
        );
        assert_eq!(
            c[1].total,
            "0 guests online now; none in the last 24 hours."
        );
        assert_eq!(c[2].total, "0 minutes used in the last 14 days.");
        assert_eq!(
            c[3].total,
            "0 codes issued and 0 first used in the last 14 days."
        );
        for v in &c {
            assert!(
                v.svg.starts_with("<svg") && !v.svg.contains("NaN"),
                "{}",
                v.svg
            );
        }
    }

    #[test]
    fn logins_online_minutes_and_codes_are_counted_in_local_hours_and_days() {
        let tz = chrono_tz::Europe::Berlin;
        let now = at(tz, 2025, 6, 3, 14, 20);
        let w = Window::new(now, tz);
        assert_eq!(w.first_hour, at(tz, 2025, 6, 2, 15, 0));
        assert_eq!(w.first_day, NaiveDate::from_ymd_opt(2025, 5, 21).unwrap());
        assert_eq!(w.since(), at(tz, 2025, 5, 21, 0, 0));
        let facts = DashboardFacts {
            sessions: vec![
                // Over several hours: 10:30 to 13:10, 2 h 40 min.
                session(
                    at(tz, 2025, 6, 3, 10, 30),
                    "closed",
                    Some(at(tz, 2025, 6, 3, 13, 10)),
                    9600,
                ),
                // Running since 14:05.
                session(at(tz, 2025, 6, 3, 14, 5), "active", None, 600),
                // Yesterday 23:50 to today 00:20: minutes on yesterday.
                session(
                    at(tz, 2025, 6, 2, 23, 50),
                    "closed",
                    Some(at(tz, 2025, 6, 3, 0, 20)),
                    1800,
                ),
                // Before the 24 hours, in the 14 days.
                session(
                    at(tz, 2025, 5, 25, 9, 0),
                    "closed",
                    Some(at(tz, 2025, 5, 25, 10, 0)),
                    3600,
                ),
                // Before the 14 days: nothing.
                session(
                    at(tz, 2025, 5, 20, 23, 0),
                    "closed",
                    Some(at(tz, 2025, 5, 20, 23, 30)),
                    1800,
                ),
                // A place that expired unused, and one still waiting.
                SessionFact {
                    expires_at: Some(at(tz, 2025, 6, 3, 12, 1)),
                    ..session(at(tz, 2025, 6, 3, 12, 0), "pending", None, 0)
                },
                SessionFact {
                    expires_at: Some(now + 30),
                    ..session(now - 30, "pending", None, 0)
                },
                // Stale: online until its last accounting (11:15), not the sweep.
                SessionFact {
                    updated_at: at(tz, 2025, 6, 3, 11, 15),
                    close_reason: Some("stale".into()),
                    ..session(
                        at(tz, 2025, 6, 3, 11, 0),
                        "closed",
                        Some(at(tz, 2025, 6, 3, 12, 30)),
                        900,
                    )
                },
            ],
            tokens: vec![
                TokenFact {
                    created_on: at(tz, 2025, 6, 3, 9, 0),
                    first_used_on: Some(at(tz, 2025, 6, 3, 10, 30)),
                },
                TokenFact {
                    created_on: at(tz, 2025, 6, 3, 9, 0),
                    first_used_on: None,
                },
                TokenFact {
                    created_on: at(tz, 2025, 4, 1, 9, 0),
                    first_used_on: Some(at(tz, 2025, 6, 2, 23, 50)),
                },
            ],
            truncated: false,
        };
        let f = count(&facts, &w);
        let hour = |h: usize| (h + 24 - 15) % 24; // bucket of local hour h
        assert_eq!(f.logins.iter().sum::<i64>(), 5, "{:?}", f.logins);
        assert_eq!(
            (f.logins[hour(10)], f.logins[hour(11)], f.logins[hour(14)]),
            (1, 1, 2)
        );
        assert_eq!(f.logins[hour(23)], 1);
        assert_eq!(f.logins[hour(12)], 0, "the expired place is no login");
        // Online: the long session at 11, 12 and 13 (not 10: it began at
        // 10:30; not 14: it ended at 13:10); the stale one at 11 only.
        let online = |h: usize| f.online[hour(h)];
        assert_eq!(
            (online(10), online(11), online(12), online(13), online(14)),
            (0, 2, 1, 1, 0)
        );
        assert_eq!(online(0), 1, "the midnight session");
        assert_eq!(
            *f.online.last().unwrap(),
            1,
            "the running one, not the waiting place"
        );
        // Minutes by the day the session started.
        assert_eq!(f.minutes[13], (9600 + 600 + 900) / 60);
        assert_eq!(f.minutes[12], 30, "yesterday's session over midnight");
        assert_eq!(f.minutes[4], 60);
        assert_eq!(f.minutes.iter().sum::<i64>(), 160 + 10 + 15 + 30 + 60);
        assert_eq!(f.seconds_total, 9600 + 600 + 900 + 1800 + 3600);
        assert_eq!((f.issued[13], f.used[13], f.used[12]), (2, 1, 1));
        assert_eq!(
            f.issued.iter().sum::<i64>(),
            2,
            "last April's code is not issued in the window"
        );
        let c = charts(&f, &w);
        assert_eq!(
            c[0].total,
            "5 logins in the last 24 hours (since yesterday 15:00)."
        );
        assert_eq!(c[1].total, "1 guest online now; at most 2 (Tue 11:00).");
        assert_eq!(
            c[2].total,
            "275 minutes used in the last 14 days (about 5 hours)."
        );
        assert_eq!(
            c[3].total,
            "2 codes issued and 2 first used in the last 14 days."
        );
        assert_eq!(
            c[2].rows[13],
            ("Tue 3 Jun".to_string(), vec!["185".to_string()])
        );
    }

    #[test]
    fn a_dst_day_has_23_or_25_hours_and_the_hours_say_so() {
        let tz = chrono_tz::Europe::Berlin;
        // Spring: 30 March 2025, 02:00 CET became 03:00 CEST.
        let now = at(tz, 2025, 3, 30, 12, 10);
        let w = Window::new(now, tz);
        let labels = w.hour_labels();
        let shorts: Vec<&str> = labels.iter().map(|l| l.short.as_str()).collect();
        assert_eq!(&shorts[13..17], ["01", "03", "04", "05"], "{shorts:?}");
        assert_eq!(shorts.last(), Some(&"12"));
        assert_eq!(labels[13].long, "Sun 01:00 CET");
        assert_eq!(labels[14].long, "Sun 03:00 CEST");
        // A session from 01:30 to 03:30 local is one hour long and online
        // at the 03:00 mark only.
        let facts = DashboardFacts {
            sessions: vec![session(
                at(tz, 2025, 3, 30, 1, 30),
                "closed",
                Some(at(tz, 2025, 3, 30, 3, 30)),
                3600,
            )],
            ..DashboardFacts::default()
        };
        let f = count(&facts, &w);
        assert_eq!(f.logins[13], 1);
        assert_eq!((f.online[13], f.online[14], f.online[15]), (0, 1, 0));
        // The day is one bucket (of 23 hours).
        assert_eq!(f.minutes[13], 60);

        // Autumn: 26 October 2025, 03:00 CEST became 02:00 CET: 02 twice.
        let w = Window::new(at(tz, 2025, 10, 26, 12, 10), tz);
        let labels = w.hour_labels();
        let shorts: Vec<&str> = labels.iter().map(|l| l.short.as_str()).collect();
        assert_eq!(&shorts[11..15], ["01", "02", "02", "03"], "{shorts:?}");
        assert_eq!(labels[12].long, "Sun 02:00 CEST");
        assert_eq!(labels[13].long, "Sun 02:00 CET");
        assert_eq!(shorts.last(), Some(&"12"));
        // 25 hours of the day: a session at 00:30 and one at 23:30 are the same day.
        let w = Window::new(at(tz, 2025, 10, 26, 23, 59), tz);
        let facts = DashboardFacts {
            sessions: vec![
                session(
                    at(tz, 2025, 10, 26, 0, 30),
                    "closed",
                    Some(at(tz, 2025, 10, 26, 1, 0)),
                    60,
                ),
                session(at(tz, 2025, 10, 26, 23, 30), "active", None, 60),
            ],
            ..DashboardFacts::default()
        };
        let f = count(&facts, &w);
        assert_eq!(f.minutes[13], 2);
        assert_eq!(f.logins.iter().sum::<i64>(), 1, "00:30 is 24.5 hours back");
        // On a day without DST the labels carry no zone.
        let w = Window::new(at(tz, 2025, 6, 3, 14, 20), tz);
        assert_eq!(w.hour_labels()[0].long, "Mon 15:00");
    }

    #[test]
    fn numbers_read_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1234), "-1,234");
        assert_eq!(count_words(1, "login", "logins"), "1 login");
        assert_eq!(count_words(1500, "login", "logins"), "1,500 logins");
    }
}
