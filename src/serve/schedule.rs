//! When a task runs next, and how to say it in words (`cmap schedule`, the spec's
//! schedule builder preview).
//!
//! A cron expression (parsed once at check time, [`CronExpr`]) names local wall-clock
//! times in the task's IANA zone. Each wall-clock time it names runs once:
//!
//! - a time that exists once runs then;
//! - a time that does not exist (clocks spring forward over it) runs at the first valid
//!   instant after the gap, and every time of one gap runs there together, once: on
//!   New York's spring-forward day `0,30 2 * * *`, `*/15 2 * * *` and `0 2,3 * * *` each
//!   run once at 03:00 EDT, and `0 2,4 * * *` at 03:00 and 04:00;
//! - a time that happens twice (clocks fall back) runs once, at its first occurrence,
//!   when the expression names times of day (`30 1 * * *`, `*/15 1 * * *`);
//! - an expression whose hour field is `*` or `*/N` (or `@hourly`) names a frequency, not
//!   times of day: it runs in both passes of a repeated hour, as real time goes
//!   (`*/30 * * * *` runs at 01:00 and 01:30 EDT, then at 01:00 and 01:30 EST).
//!
//! That is cron(8)'s rule ("jobs that run at a particular time ... are affected; jobs
//! specified with wildcards are run based on the new time"), except that a gap is
//! handled alike for every expression, so that a run named by the expression is never
//! lost on a spring-forward day. croner finds the
//! //! matching wall-clock times (on naive local time, where no DST exists); the zone's
//! rules map each to an instant here. croner's own zone search skips a nonexistent time
//! unless minute and hour are both single values, which lost `0,30 2`, `*/15 2` and the
//! 02:00 of `0 2,4` on spring-forward days.

use chrono::offset::LocalResult;
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Timelike, Utc};

use crate::compile::ir::{CronExpr, IntervalUnit, Schedule};

/// The first run strictly after `after`; `None` for manual and realtime schedules, and
/// for a cron expression with no run before the year 5000 (croner's search limit; a
/// checked expression matches some day of every 400 years).
pub fn next_after(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match schedule {
        Schedule::Interval { interval, unit } => {
            // Bounded at check time (MAX_INTERVAL_MINUTES), and checked here anyway: a
            // date near the end of chrono's range has no next run rather than a panic.
            let minutes = interval.checked_mul(unit.minutes())?;
            let step = Duration::try_minutes(i64::try_from(minutes).ok()?)?;
            after.checked_add_signed(step)
        }
        Schedule::Cron { cron, timezone } => next_cron(cron, timezone, after),
        Schedule::Manual | Schedule::Realtime { .. } => None,
    }
}

/// The first run of `cron` in `tz` strictly after `after`, by the rule of the module
/// docs.
///
/// The map from a matching local time to its instant (earlier instant of a repeated
/// time, end of the gap for a skipped one) never decreases as the local time grows, so
/// the first match whose instant is after `after` is the answer. The walk starts at
/// `after`'s own local time: every earlier local time maps to `after` or before it. Only
/// the second half of a repeated hour, where local times map back to the first half, can
/// take more than one step: at most one per matching minute of that hour.
pub fn next_cron<Tz: TimeZone>(
    cron: &CronExpr,
    tz: &Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // One step per matching minute of a repeated range; the longest in the zone
    // database is a day (1,440 minutes), so the bound is never what stops the walk.
    const MAX_STEPS: usize = 4 * 1440;
    let repeats = cron.every_hour();
    let mut local = after.with_timezone(tz).naive_local();
    let mut first = None;
    for _ in 0..MAX_STEPS {
        let candidate = cron.cron().find_next_occurrence(&local, false).ok()?;
        let at = match tz.from_local_datetime(&candidate) {
            // A frequency also runs in the second pass of a repeated time.
            LocalResult::Ambiguous(earlier, later) if repeats && earlier <= after => {
                Some(later.with_timezone(&Utc))
            }
            _ => instant(tz, candidate),
        }?;
        if at > after {
            first = Some(at);
            break;
        }
        local = candidate;
    }
    // A frequency whose `after` is in the first pass of a repeated range: the second
    // pass comes before local times past `after`'s, so look there too.
    let second = if repeats {
        second_pass(cron, tz, after)
    } else {
        None
    };
    match (first, second) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// When `after` falls in the first pass of a repeated range of local times: the first
/// match of `cron` in the range's second pass, if any.
fn second_pass<Tz: TimeZone>(
    cron: &CronExpr,
    tz: &Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(tz).naive_local();
    let LocalResult::Ambiguous(_, later) = tz.from_local_datetime(&local) else {
        return None;
    };
    if later.with_timezone(&Utc) <= after {
        // Already in the second pass: the walk above covers it.
        return None;
    }
    // The range's first local minute (a repeated range is at most a day).
    let repeated =
        |t: NaiveDateTime| matches!(tz.from_local_datetime(&t), LocalResult::Ambiguous(..));
    let mut start = local.with_second(0)?.with_nanosecond(0)?;
    for _ in 0..1440 {
        let before = start.checked_sub_signed(Duration::minutes(1))?;
        if !repeated(before) {
            break;
        }
        start = before;
    }
    let mut from = start.checked_sub_signed(Duration::seconds(1))?;
    for _ in 0..1440 {
        let candidate = cron.cron().find_next_occurrence(&from, false).ok()?;
        match tz.from_local_datetime(&candidate) {
            LocalResult::Ambiguous(_, later) => {
                let later = later.with_timezone(&Utc);
                if later > after {
                    return Some(later);
                }
            }
            _ => return None,
        }
        from = candidate;
    }
    None
}

/// The instant a matching local time runs at: itself, the earlier of two, or the first
/// valid instant after the gap it falls in.
fn instant<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.with_timezone(&Utc)),
        LocalResult::None => after_gap(tz, local),
    }
}

/// The first instant after the gap that `local` falls in: the first local minute that
/// exists (a gap is at most a day), then back second by second to the gap's exact end,
/// for the zones whose old offsets had seconds.
fn after_gap<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let exists = |t: NaiveDateTime| match tz.from_local_datetime(&t) {
        LocalResult::Single(t) => Some(t),
        LocalResult::Ambiguous(t, _) => Some(t),
        LocalResult::None => None,
    };
    let mut minute = local.with_second(0)?.with_nanosecond(0)?;
    let mut found = None;
    for _ in 0..=1440 {
        minute = minute.checked_add_signed(Duration::minutes(1))?;
        if let Some(t) = exists(minute) {
            found = Some((minute, t));
            break;
        }
    }
    let (mut at, mut first) = found?;
    for _ in 0..59 {
        let Some(earlier) = at.checked_sub_signed(Duration::seconds(1)) else {
            break;
        };
        match exists(earlier) {
            Some(t) => (at, first) = (earlier, t),
            None => break,
        }
    }
    Some(first.with_timezone(&Utc))
}

/// The schedule in words: "Runs every 15 minutes", "Runs Mon-Fri at 2:00 AM America/New_York".
pub fn describe(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Manual => "Runs only when triggered".into(),
        Schedule::Realtime { .. } => "Runs on webhook deliveries".into(),
        Schedule::Interval { interval, unit } => {
            let unit = match unit {
                IntervalUnit::Minutes => "minute",
                IntervalUnit::Hours => "hour",
                IntervalUnit::Days => "day",
                IntervalUnit::Weeks => "week",
            };
            if *interval == 1 {
                format!("Runs every {unit}")
            } else {
                format!("Runs every {interval} {unit}s")
            }
        }
        Schedule::Cron { cron, timezone } => describe_cron(cron.text()).map_or_else(
            || format!("Runs at cron `{}` ({timezone})", cron.text()),
            |w| format!("{w} {timezone}"),
        ),
    }
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const PLURAL: [&str; 7] = [
    "Sundays",
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
];

/// Common shapes in words (without the zone); `None` for the rest.
fn describe_cron(expression: &str) -> Option<String> {
    let f: Vec<&str> = expression.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = f.as_slice() else {
        return None;
    };
    if let (Some(step), "*", "*", "*", "*") = (minute.strip_prefix("*/"), *hour, *dom, *month, *dow)
    {
        return Some(format!("Runs every {step} minutes"));
    }
    if let (Ok(m), "*", "*", "*", "*") = (minute.parse::<u32>(), *hour, *dom, *month, *dow) {
        return Some(format!("Runs every hour at minute {m}"));
    }
    let (m, h) = (minute.parse::<u32>().ok()?, hour.parse::<u32>().ok()?);
    if m > 59 || h > 23 {
        return None;
    }
    let at = format!(
        "{}:{m:02} {}",
        if h % 12 == 0 { 12 } else { h % 12 },
        if h < 12 { "AM" } else { "PM" }
    );
    let day = |s: &str| s.parse::<usize>().ok().map(|d| d % 7);
    match (*dom, *month, *dow) {
        ("*", "*", "*") => Some(format!("Runs every day at {at}")),
        ("*", "*", d) if d.contains('-') => {
            let (a, b) = d.split_once('-')?;
            Some(format!("Runs {}-{} at {at}", DAYS[day(a)?], DAYS[day(b)?]))
        }
        ("*", "*", d) if d.contains(',') => {
            let names: Option<Vec<&str>> = d.split(',').map(|x| day(x).map(|i| DAYS[i])).collect();
            Some(format!("Runs on {} at {at}", names?.join(", ")))
        }
        ("*", "*", d) => Some(format!("Runs on {} at {at}", PLURAL[day(d)?])),
        (d, "*", "*") => {
            let n: u32 = d.parse().ok()?;
            Some(format!("Runs on day {n} of every month at {at}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(expr: &str, tz: &str) -> Schedule {
        Schedule::Cron {
            cron: CronExpr::parse(expr).expect("a cron expression"),
            timezone: tz.parse().expect("zone"),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("date")
            .with_timezone(&Utc)
    }

    fn check(schedule: &Schedule, after: &str, expect: &[&str]) {
        let mut t = at(after);
        let mut got = Vec::new();
        for _ in 0..expect.len() {
            t = next_after(schedule, t).expect("a next run");
            got.push(t.to_rfc3339());
        }
        let want: Vec<String> = expect.iter().map(|s| at(s).to_rfc3339()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn intervals() {
        let every15 = Schedule::Interval {
            interval: 15,
            unit: IntervalUnit::Minutes,
        };
        check(
            &every15,
            "2026-11-25T10:00:00Z",
            &["2026-11-25T10:15:00Z", "2026-11-25T10:30:00Z"],
        );
        let weekly = Schedule::Interval {
            interval: 1,
            unit: IntervalUnit::Weeks,
        };
        check(&weekly, "2026-11-25T10:00:00Z", &["2026-12-02T10:00:00Z"]);
        assert_eq!(next_after(&Schedule::Manual, Utc::now()), None);
    }

    #[test]
    fn cron_in_a_zone_across_dst() {
        // 2 AM New York: EST is UTC-5, EDT UTC-4.
        let daily = cron("0 2 * * *", "America/New_York");
        check(
            &daily,
            "2026-11-25T12:00:00Z",
            &["2026-11-26T07:00:00Z", "2026-11-27T07:00:00Z"],
        );
        // Spring forward (2026-03-08): 2:00-3:00 does not exist; the run happens once, at 3:00 EDT.
        check(
            &daily,
            "2026-03-07T12:00:00Z",
            &["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"],
        );
        // Fall back (2026-11-01): 1:30 happens twice; it runs once.
        let half_one = cron("30 1 * * *", "America/New_York");
        check(
            &half_one,
            "2026-10-31T12:00:00Z",
            &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        );
        // The cases, New York's spring-forward day (2026-03-08, 02:00-03:00 EST
        // does not exist; 03:00 EDT is 07:00Z): the skipped runs run once at 03:00 EDT,
        // whatever other times the day has. croner alone ran none of them.
        check(
            &cron("0,30 2 * * *", "America/New_York"),
            "2026-03-08T06:00:00Z",
            &["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"],
        );
        check(
            &cron("*/15 2 * * *", "America/New_York"),
            "2026-03-08T06:00:00Z",
            &["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"],
        );
        check(
            &cron("0 2,4 * * *", "America/New_York"),
            "2026-03-08T06:00:00Z",
            &[
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z",
                "2026-03-09T06:00:00Z",
            ],
        );
        // 02:00 skipped and 03:00 itself: one run at the one instant.
        check(
            &cron("0 2,3 * * *", "America/New_York"),
            "2026-03-08T06:00:00Z",
            &["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"],
        );
        // Fall back: every half hour is a frequency: 01:00 and 01:30 EDT, then 01:00 and
        // 01:30 EST, then 02:00 EST.
        check(
            &cron("*/30 * * * *", "America/New_York"),
            "2026-11-01T04:45:00Z",
            &[
                "2026-11-01T05:00:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T06:30:00Z",
                "2026-11-01T07:00:00Z",
            ],
        );
        // ... while times of day run once: 01:00, 01:15, 01:30, 01:45 EDT, then the next day.
        check(
            &cron("*/15 1 * * *", "America/New_York"),
            "2026-11-01T04:59:00Z",
            &[
                "2026-11-01T05:00:00Z",
                "2026-11-01T05:15:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-01T05:45:00Z",
                "2026-11-02T06:00:00Z",
            ],
        );
        // `@hourly` is a frequency too; `@daily` a time of day.
        check(
            &cron("@hourly", "America/New_York"),
            "2026-11-01T04:30:00Z",
            &[
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T07:00:00Z",
            ],
        );
        // Lord Howe's 30-minute shift (2026-10-04, 02:00-02:30 skipped; 02:30 +11 is
        // 15:30Z the day before).
        check(
            &cron("*/15 2 * * *", "Australia/Lord_Howe"),
            "2026-10-03T15:00:00Z",
            &[
                "2026-10-03T15:30:00Z",
                "2026-10-03T15:45:00Z",
                "2026-10-04T15:00:00Z",
            ],
        );
        // Rare days are found however far: February 29 on a Monday (croner's AND).
        check(
            &cron("0 0 29 2 +1", "UTC"),
            "2026-01-01T00:00:00Z",
            &["2044-02-29T00:00:00Z", "2072-02-29T00:00:00Z"],
        );
        // Mondays 8 AM, and Paris.
        check(
            &cron("0 8 * * 1", "America/New_York"),
            "2026-11-25T00:00:00Z",
            &["2026-11-30T13:00:00Z"],
        );
        check(
            &cron("0 6 * * *", "Europe/Paris"),
            "2026-03-28T12:00:00Z",
            &["2026-03-29T04:00:00Z"],
        );
        let _ = Utc.timestamp_opt(0, 0);
    }

    #[test]
    fn in_words() {
        let cases = [
            (
                cron("0 2 * * *", "America/New_York"),
                "Runs every day at 2:00 AM America/New_York",
            ),
            (
                cron("0 2 * * 1-5", "America/New_York"),
                "Runs Mon-Fri at 2:00 AM America/New_York",
            ),
            (
                cron("0 8 * * 1", "America/New_York"),
                "Runs on Mondays at 8:00 AM America/New_York",
            ),
            (
                cron("30 18 * * 1,3,5", "UTC"),
                "Runs on Mon, Wed, Fri at 6:30 PM UTC",
            ),
            (
                cron("0 6 1 * *", "UTC"),
                "Runs on day 1 of every month at 6:00 AM UTC",
            ),
            (cron("*/10 * * * *", "UTC"), "Runs every 10 minutes UTC"),
            (cron("0 0 1 1 *", "UTC"), "Runs at cron `0 0 1 1 *` (UTC)"),
            (
                Schedule::Interval {
                    interval: 1,
                    unit: IntervalUnit::Hours,
                },
                "Runs every hour",
            ),
            (
                Schedule::Interval {
                    interval: 15,
                    unit: IntervalUnit::Minutes,
                },
                "Runs every 15 minutes",
            ),
            (Schedule::Manual, "Runs only when triggered"),
        ];
        for (schedule, words) in cases {
            assert_eq!(describe(&schedule), words);
        }
    }
}

#[cfg(test)]
mod dst;
