//! Every schedule of a table, over a whole year of DST changes in several zones, against
//! an independent computation: a walk over the UTC minutes of the year with its own cron
//! field matcher and the rule of the module docs stated plainly:
//!
//! - a UTC minute runs when its local wall-clock time matches and is seen for the first
//!   time (local time above every local time before it: the second half of a repeated
//!   hour is not a first time), or, when the hour field is `*` or `*/N` (a frequency),
//!   whenever its local time matches (both halves of a repeated hour);
//! - the first UTC minute after a gap runs when any skipped local minute matches.
//!
//! The zone enters only as its offset at each UTC minute (UTC to local, the direction
//! without gaps or overlaps); the walk goes span by span of constant offset, enumerating
//! the matching local minutes of each span, which is the same minute-by-minute rule
//! without the 500,000 steps a year per schedule. Only standard syntax is used (numbers,
//! `*`, ranges, steps, lists) with Vixie cron's day rule (both day fields restricted:
//! either matches).

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::next_after;
use crate::compile::ir::{CronExpr, Schedule};

const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/London",
    "Europe/Paris",
    // Southern hemisphere: DST across the new year.
    "Australia/Sydney",
    // A 30-minute DST shift.
    "Australia/Lord_Howe",
    // Transitions at midnight: the repeated hour is Saturday's 23:00, the skipped one
    // Sunday's 00:00.
    "America/Santiago",
    // No DST.
    "Asia/Kolkata",
    "UTC",
];

const SCHEDULES: &[&str] = &[
    // Fixed times: in the gap, in the repeated hour, at their edges, at midnight.
    "0 2 * * *",
    "30 2 * * *",
    "30 1 * * *",
    "0 3 * * *",
    "0 0 * * *",
    "30 23 * * *",
    // Lists and steps of minutes within one hour (the cases).
    "0,30 2 * * *",
    "*/15 2 * * *",
    "*/20 0 * * *",
    // Lists, ranges and steps of hours (`0 2,4`: the case).
    "0 2,4 * * *",
    "0 2,3 * * *",
    "15 1-3 * * *",
    "45 0-6/3 * * *",
    "5 22-23,0-1 * * *",
    // `*` and `*/N` hours (frequencies: both passes of a repeated hour run), on the days
    // of the week every zone here changes its clocks.
    "*/30 * * * 6,0",
    "0 */2 * * 6,0",
    "45 * * * 0",
    // Day of week, day of month, month, and both day fields (Vixie's OR).
    "0 2 * * 0",
    "30 2 * * 6,0",
    "0 2 1-14 3,4,9,10 *",
    "30 0 1,15 * 0",
    "*/30 1-2 * 10-11 0",
];

/// A cron field as the set of its values (`*`, `N`, `A-B`, `*/S`, `A-B/S`, lists).
fn field(text: &str, min: u32, max: u32) -> Vec<bool> {
    let mut set = vec![false; max as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().expect("a step")),
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (a.parse().expect("a number"), b.parse().expect("a number")),
                None => {
                    let n = r.parse().expect("a number");
                    (n, n)
                }
            },
        };
        for v in (lo..=hi).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    set
}

struct Spec {
    /// The hour field is `*` or `*/N`.
    every_hour: bool,
    minutes: Vec<i64>,
    hours: Vec<i64>,
    /// Per day (index from the walk's first local day): does the date match?
    days: Vec<bool>,
}

impl Spec {
    fn new(expr: &str, first_day: NaiveDate, n_days: usize) -> Spec {
        let f: Vec<&str> = expr.split_whitespace().collect();
        let (dom, month, dow) = (field(f[2], 1, 31), field(f[3], 1, 12), field(f[4], 0, 7));
        let (dom_star, dow_star) = (f[2] == "*", f[4] == "*");
        let days = (0..n_days)
            .map(|i| {
                let d = first_day + chrono::Days::new(i as u64);
                let wd = d.weekday().num_days_from_sunday() as usize;
                let dom_ok = dom[d.day() as usize];
                let dow_ok = dow[wd] || (wd == 0 && dow[7]);
                let day_ok = match (dom_star, dow_star) {
                    (true, true) => true,
                    (true, false) => dow_ok,
                    (false, true) => dom_ok,
                    (false, false) => dom_ok || dow_ok,
                };
                day_ok && month[d.month() as usize]
            })
            .collect();
        let values = |set: Vec<bool>| -> Vec<i64> {
            (0..set.len() as i64).filter(|v| set[*v as usize]).collect()
        };
        Spec {
            every_hour: f[1] == "*" || f[1].starts_with("*/"),
            minutes: values(field(f[0], 0, 59)),
            hours: values(field(f[1], 0, 23)),
            days,
        }
    }

    /// The matching local minutes in `[a, b]` (minutes since the walk's first local
    /// midnight), in order.
    fn matching(&self, a: i64, b: i64) -> Vec<i64> {
        let mut out = Vec::new();
        if a > b {
            return out;
        }
        for day in a.div_euclid(1440)..=b.div_euclid(1440) {
            if !self.days.get(day as usize).copied().unwrap_or(false) {
                continue;
            }
            for h in &self.hours {
                for m in &self.minutes {
                    let lm = day * 1440 + h * 60 + m;
                    if (a..=b).contains(&lm) {
                        out.push(lm);
                    }
                }
            }
        }
        out
    }
}

/// The zone's offset (minutes east of UTC) for every UTC minute of `[0, n)` from
/// `start`, as spans `(first minute, offset)`: found hour by hour, refined to the minute
/// where it changes.
fn spans(tz: Tz, start: DateTime<Utc>, n: i64) -> Vec<(i64, i64)> {
    let at = |i: i64| {
        let t = start + chrono::Duration::minutes(i);
        i64::from(
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc()
                / 60,
        )
    };
    let mut out = vec![(0, at(0))];
    let mut hour = 0;
    while hour < n {
        let end = (hour + 60).min(n);
        if at(end - 1) != out.last().map_or(0, |s| s.1) {
            for i in hour..end {
                let off = at(i);
                if Some(off) != out.last().map(|s| s.1) {
                    out.push((i, off));
                }
            }
        }
        hour = end;
    }
    out
}

/// The runs of `spec` by the walk, as UTC minutes from `start` (local minute = UTC minute
/// + offset + `shift`).
fn walk(spec: &Spec, spans: &[(i64, i64)], n: i64, shift: i64) -> Vec<i64> {
    let mut runs = Vec::new();
    // The highest local minute seen so far.
    let mut highest = i64::MIN;
    for (k, &(first, off)) in spans.iter().enumerate() {
        let last = spans.get(k + 1).map_or(n - 1, |s| s.0 - 1);
        let (local_first, local_last) = (first + off + shift, last + off + shift);
        // A gap before this span: the skipped local minutes run at its first minute.
        if k > 0
            && local_first > highest + 1
            && !spec.matching(highest + 1, local_first - 1).is_empty()
        {
            runs.push(first);
        }
        // First times only (the local minutes above every one seen before), unless the
        // schedule is a frequency.
        let from = if spec.every_hour {
            local_first
        } else {
            local_first.max(highest + 1)
        };
        for lm in spec.matching(from, local_last) {
            let u = lm - off - shift;
            if runs.last() != Some(&u) {
                runs.push(u);
            }
        }
        highest = highest.max(local_last);
    }
    runs
}

#[test]
fn every_schedule_over_a_year_of_dst_changes_matches_a_minute_by_minute_walk() {
    // The walk covers 2026 with two days of margin either side; runs are compared in
    // 2026 itself.
    let start = Utc.with_ymd_and_hms(2025, 12, 30, 0, 0, 0).unwrap();
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let n = (to - start).num_minutes() + 2 * 1440;
    // Local minutes count from the local midnight a day before the walk's first UTC day,
    // so that every local time of the walk is at or after it.
    let first_day = start.date_naive() - chrono::Days::new(1);
    let shift = 1440;
    let n_days = (n / 1440 + 4) as usize;

    // Zones split over two threads (the machine has two cores): next_after is the cost.
    let (a, b) = ZONES.split_at(ZONES.len() / 2);
    let (mut failures, mut checked) = (Vec::new(), 0);
    std::thread::scope(|scope| {
        let compare = |zones: &'static [&'static str]| {
            let mut failures = Vec::new();
            let mut checked = 0;
            for zone in zones {
                let tz: Tz = zone.parse().expect("a zone");
                let spans = spans(tz, start, n);
                for expr in SCHEDULES {
                    let spec = Spec::new(expr, first_day, n_days);
                    let want: Vec<DateTime<Utc>> = walk(&spec, &spans, n, shift)
                        .into_iter()
                        .map(|u| start + chrono::Duration::minutes(u))
                        .filter(|t| *t >= from && *t < to)
                        .collect();
                    let schedule = Schedule::Cron {
                        cron: CronExpr::parse(expr).expect("a cron expression"),
                        timezone: tz,
                    };
                    let mut got = Vec::new();
                    let mut t = from - chrono::Duration::seconds(1);
                    while let Some(next) = next_after(&schedule, t) {
                        if next >= to {
                            break;
                        }
                        got.push(next);
                        t = next;
                    }
                    checked += want.len();
                    if got != want {
                        failures.push(difference(zone, expr, tz, &got, &want));
                    }
                }
            }
            (failures, checked)
        };
        let other = scope.spawn(move || compare(b));
        let (f, c) = compare(a);
        failures.extend(f);
        checked += c;
        let (f, c) = other.join().expect("the other half of the zones");
        failures.extend(f);
        checked += c;
    });
    assert!(
        failures.is_empty(),
        "{} of {} schedules differ from the walk:\n{}",
        failures.len(),
        ZONES.len() * SCHEDULES.len(),
        failures.join("\n")
    );
    // The walk is not vacuous: every schedule ran, most of them hundreds of times.
    assert!(checked > 100_000, "the walk found only {checked} runs");
}

/// Where two run lists part, in UTC and local time.
fn difference(
    zone: &str,
    expr: &str,
    tz: Tz,
    got: &[DateTime<Utc>],
    want: &[DateTime<Utc>],
) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    let show = |v: &[DateTime<Utc>]| {
        v.iter()
            .skip(at.saturating_sub(1))
            .take(4)
            .map(|t| {
                format!(
                    "{} ({})",
                    t.format("%m-%d %H:%M"),
                    t.with_timezone(&tz).format("%a %H:%M %Z")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{zone} `{expr}`: {} runs, want {}; from run {at}:\n    got  {}\n    want {}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )
}
