//! Small SVG charts for the dashboard, drawn on the server (the pages run
//! no script, and the CSP allows no inline style: colours come from classes
//! in ui.css). A chart is numbers and fixed texts only; every text is
//! escaped all the same. It scales to its box (`viewBox`, width 100%), and
//! it is an image with a title and a description that carries the
//! figures (`role="img"`); the page puts the same figures in a table.

use std::fmt::Write;

use super::dashboard::Label;

/// The drawing's size in its own units (the page scales it).
const W: f64 = 480.0;
const H: f64 = 230.0;
/// Room for the value axis on the left and the labels below.
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 32.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bar per bucket (side by side for several series).
    Bars,
    /// A line through a point per bucket.
    Line,
}

pub struct Series<'a> {
    /// What one and several of a value count, for the description
    /// ("login", "logins").
    pub one: &'a str,
    pub name: &'a str,
    /// Its CSS class (`s1`, `s2`: colours in ui.css).
    pub class: &'a str,
    pub values: &'a [i64],
}

impl Series<'_> {
    /// "1 login", "2 logins".
    fn words(&self, v: i64) -> String {
        format!("{v} {}", if v == 1 { self.one } else { self.name })
    }
}

pub struct Chart<'a> {
    /// Unique on the page: the title's and description's ids start with it.
    pub id: &'a str,
    pub title: &'a str,
    pub kind: Kind,
    /// One per bucket.
    pub labels: &'a [Label],
    /// Label every this many buckets under the axis (the description has
    /// them all).
    pub label_every: usize,
    pub series: Vec<Series<'a>>,
}

/// Text for XML: `&`, `<`, `>` and quotes escaped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The value axis for data up to `max`: its top and its step, a 1, 2 or 5
/// times a power of ten, at most four steps; whole numbers only, and a
/// scale of 0..1 for all-zero data.
pub fn scale(max: i64) -> (i64, i64) {
    let max = max.max(1).unsigned_abs();
    let raw = max.div_ceil(4);
    let mut pow = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = m * pow;
            if step >= raw {
                let top = max.div_ceil(step).saturating_mul(step);
                return (
                    i64::try_from(top).unwrap_or(i64::MAX),
                    i64::try_from(step).unwrap_or(i64::MAX),
                );
            }
        }
        match pow.checked_mul(10) {
            Some(p) if p <= u64::MAX / 5 => pow = p,
            _ => {
                let m = i64::try_from(max).unwrap_or(i64::MAX);
                return (m, m);
            }
        }
    }
}

/// The chart as an `<svg>` element.
pub fn svg(c: &Chart) -> String {
    let n = c.labels.len().max(1);
    let max = c
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let (top, step) = scale(max);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let base = TOP + plot_h;
    let y = |v: i64| base - (v.clamp(0, top) as f64) * plot_h / (top as f64);
    let slot = plot_w / n as f64;
    let centre = |i: usize| LEFT + (i as f64 + 0.5) * slot;

    let desc = c
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let figures = c
                .series
                .iter()
                .map(|s| s.words(s.values.get(i).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ");
            format!("{}: {figures}", l.long)
        })
        .collect::<Vec<_>>()
        .join("; ");

    let mut o = String::new();
    let id = esc(c.id);
    let _ = write!(
        o,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" \
         aria-labelledby=\"{id}-title {id}-desc\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}.</desc>",
        esc(c.title),
        esc(&desc)
    );
    // The value axis: grid lines and their numbers.
    o.push_str("<g class=\"grid\">");
    let mut v = 0;
    while v <= top {
        let _ = write!(
            o,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            W - RIGHT,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 5.0
        );
        match v.checked_add(step) {
            Some(next) => v = next,
            None => break,
        }
    }
    o.push_str("</g>");
    // The buckets' labels.
    o.push_str("<g class=\"labels\">");
    let every = c.label_every.max(1);
    for (i, l) in c.labels.iter().enumerate() {
        if i % every == 0 {
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                centre(i),
                base + 22.0,
                esc(&l.short)
            );
        }
    }
    o.push_str("</g>");
    match c.kind {
        Kind::Bars => {
            let k = c.series.len().max(1) as f64;
            let width = slot * 0.76 / k;
            for (j, s) in c.series.iter().enumerate() {
                let _ = write!(o, "<g class=\"{}\">", esc(s.class));
                for (i, v) in s.values.iter().enumerate().take(n) {
                    if *v <= 0 {
                        continue;
                    }
                    let x = LEFT + i as f64 * slot + slot * 0.12 + j as f64 * width;
                    let label = c.labels.get(i).map(|l| l.long.as_str()).unwrap_or("");
                    let _ = write!(
                        o,
                        "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\">\
                         <title>{}: {}</title></rect>",
                        y(*v),
                        base - y(*v),
                        esc(label),
                        esc(&s.words(*v))
                    );
                }
                o.push_str("</g>");
            }
        }
        Kind::Line => {
            for s in &c.series {
                let points = s
                    .values
                    .iter()
                    .enumerate()
                    .take(n)
                    .map(|(i, v)| format!("{:.1},{:.1}", centre(i), y(*v)))
                    .collect::<Vec<_>>()
                    .join(" ");
                let _ = write!(
                    o,
                    "<g class=\"{}\"><polyline points=\"{points}\" fill=\"none\"/>",
                    esc(s.class)
                );
                for (i, v) in s.values.iter().enumerate().take(n) {
                    let label = c.labels.get(i).map(|l| l.long.as_str()).unwrap_or("");
                    let _ = write!(
                        o,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{}: {}</title></circle>",
                        centre(i),
                        y(*v),
                        esc(label),
                        esc(&s.words(*v))
                    );
                }
                o.push_str("</g>");
            }
        }
    }
    // The base line over the bars' feet.
    let _ = write!(
        o,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{base:.1}\" y2=\"{base:.1}\"/></svg>",
        W - RIGHT
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<Label> {
        (0..n)
            .map(|i| Label {
                short: format!("{i:02}"),
                long: format!("hour {i}"),
            })
            .collect()
    }

    #[test]
    fn scales_are_round_and_all_zero_data_has_one() {
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(-5), (1, 1));
        assert_eq!(scale(1), (1, 1));
        assert_eq!(scale(3), (3, 1));
        assert_eq!(scale(4), (4, 1));
        assert_eq!(scale(5), (6, 2));
        assert_eq!(scale(7), (8, 2));
        assert_eq!(scale(10), (10, 5));
        assert_eq!(scale(11), (15, 5));
        assert_eq!(scale(132), (150, 50));
        assert_eq!(scale(1_000_000), (1_000_000, 500_000));
        assert!(scale(i64::MAX).0 >= 1);
    }

    #[test]
    fn a_bar_chart_is_an_image_with_its_figures_in_words() {
        let l = labels(3);
        let s = svg(&Chart {
            id: "t",
            title: "Logins <per> hour",
            kind: Kind::Bars,
            labels: &l,
            label_every: 2,
            series: vec![Series {
                one: "login",
                name: "logins",
                class: "s1",
                values: &[2, 1, 7],
            }],
        });
        assert!(s.starts_with(
            "<svg class=\"chart\" viewBox=\"0 0 480 230\" width=\"100%\" role=\"img\""
        ));
        assert!(s.contains("aria-labelledby=\"t-title t-desc\""));
        assert!(s.contains("<title id=\"t-title\">Logins &lt;per&gt; hour</title>"));
        assert!(s.contains(
            "<desc id=\"t-desc\">hour 0: 2 logins; hour 1: 1 login; hour 2: 7 logins.</desc>"
        ));
        assert_eq!(s.matches("<rect").count(), 3);
        assert!(s.contains("<title>hour 1: 1 login</title>"));
        // Labels 00 and 02 (every second); ticks 0, 2, 4, 6, 8.
        assert!(s.contains(">00</text>") && !s.contains(">01</text>") && s.contains(">02</text>"));
        for t in ["0", "2", "4", "6", "8"] {
            assert!(
                s.contains(&format!("text-anchor=\"end\">{t}</text>")),
                "{t}"
            );
        }
        assert!(!s.contains("style="), "the CSP forbids inline style");
    }

    #[test]
    fn all_zero_and_empty_charts_still_draw() {
        for values in [&[0, 0, 0][..], &[][..]] {
            let l = labels(values.len());
            let s = svg(&Chart {
                id: "z",
                title: "Nothing",
                kind: Kind::Line,
                labels: &l,
                label_every: 1,
                series: vec![Series {
                    one: "online",
                    name: "online",
                    class: "s1",
                    values,
                }],
            });
            assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
            assert!(s.ends_with("</svg>"));
        }
    }

    #[test]
    fn two_series_make_bars_side_by_side() {
        let l = labels(2);
        let s = svg(&Chart {
            id: "c",
            title: "Codes",
            kind: Kind::Bars,
            labels: &l,
            label_every: 1,
            series: vec![
                Series {
                    one: "issued",
                    name: "issued",
                    class: "s1",
                    values: &[3, 1],
                },
                Series {
                    one: "first used",
                    name: "first used",
                    class: "s2",
                    values: &[1, 0],
                },
            ],
        });
        assert!(s.contains("hour 0: 3 issued, 1 first used; hour 1: 1 issued, 0 first used."));
        assert!(s.contains("<g class=\"s2\">"));
        assert_eq!(s.matches("<rect").count(), 3);
    }
}
