//! When a task runs next, and how to say it in words (`cmap schedule`, the spec's
//! schedule builder preview).
//!
//! Cron expressions are the standard 5 fields, read by croner in the task's IANA zone
//! with Vixie cron's DST behaviour: a local time that does not exist (clocks spring
//! forward) runs once at the next valid instant; a local time that happens twice (clocks
//! fall back) runs once.

use chrono::{DateTime, Duration, Utc};
use croner::parser::{CronParser, Seconds, Year};

use crate::compile::ir::{IntervalUnit, Schedule};

/// The first run strictly after `after`; `None` for manual and realtime schedules.
pub fn next_after(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match schedule {
        Schedule::Interval { interval, unit } => {
            let n = i64::try_from(*interval).ok()?;
            let step = match unit {
                IntervalUnit::Minutes => Duration::try_minutes(n)?,
                IntervalUnit::Hours => Duration::try_hours(n)?,
                IntervalUnit::Days => Duration::try_days(n)?,
                IntervalUnit::Weeks => Duration::try_weeks(n)?,
            };
            after.checked_add_signed(step)
        }
        Schedule::Cron {
            expression,
            timezone,
        } => {
            let cron = CronParser::builder()
                .seconds(Seconds::Disallowed)
                .year(Year::Disallowed)
                .build()
                .parse(expression)
                .ok()?;
            let local = after.with_timezone(timezone);
            cron.find_next_occurrence(&local, false)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }
        Schedule::Manual | Schedule::Realtime { .. } => None,
    }
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
        Schedule::Cron {
            expression,
            timezone,
        } => describe_cron(expression).map_or_else(
            || format!("Runs at cron `{expression}` ({timezone})"),
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
            expression: expr.into(),
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
