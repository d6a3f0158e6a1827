//! The date reader against dates from the field, its edges, and properties.

use super::*;
use chrono::{Datelike, FixedOffset};
use proptest::prelude::*;

/// `input -> RFC 3339 UTC, or "error: why"`.
fn read(input: &str) -> String {
    match parse(input) {
        Ok(dt) => format(&dt),
        Err(e) => format!("error: {e}"),
    }
}

#[track_caller]
fn table(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (input, want) in cases {
        let got = read(input);
        if got != *want {
            failures.push(format!("{input:?}\n   want {want}\n    got {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rss_and_mail_dates_with_every_zone_rfc_822_and_2822_define() {
    table(&[
        // The Google News case: the zone name `UTC` failed every record of the feed.
        ("Tue, 31 Mar 2026 08:00:00 UTC", "2026-03-31T08:00:00.000Z"),
        ("Mon, 03 Jun 2024 13:00:00 GMT", "2024-06-03T13:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 UT", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 Z", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 EST", "2026-03-31T13:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 EDT", "2026-03-31T12:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 CST", "2026-03-31T14:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 CDT", "2026-03-31T13:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 MST", "2026-03-31T15:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 MDT", "2026-03-31T14:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 PST", "2026-03-31T16:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 PDT", "2026-03-31T15:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 utc", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 gmt", "2026-03-31T08:00:00.000Z"),
        // Military letters: -0000 (RFC 2822 section 4.3); `J` was never a zone.
        ("Tue, 31 Mar 2026 08:00:00 A", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 M", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 N", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 Y", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 J", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        // Unknown names of 2 to 5 letters: -0000 (RFC 2822 section 4.3).
        ("Tue, 31 Mar 2026 08:00:00 XYZT", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 NOTAZONE", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        // Names feeds use.
        ("Tue, 31 Mar 2026 08:00:00 CEST", "2026-03-31T06:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 BST", "2026-03-31T07:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 IST", "2026-03-31T02:30:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 AEDT", "2026-03-30T21:00:00.000Z"),
        // Numeric offsets.
        ("Tue, 31 Mar 2026 08:00:00 +0200", "2026-03-31T06:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 -0000", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 +05:30", "2026-03-31T02:30:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 -0930", "2026-03-31T17:30:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 +2", "2026-03-31T06:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 +2400", "error: the offset +2400 is out of range (at most 23:59 either way)"),
        ("Tue, 31 Mar 2026 08:00:00 +0260", "error: the offset +0260 is out of range (at most 23:59 either way)"),
        ("Tue, 31 Mar 2026 08:00:00 +020", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
    ]);
}

#[test]
fn rss_dates_as_feeds_write_them() {
    table(&[
        // No day name, no seconds.
        ("31 Mar 2026 08:00 GMT", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00 GMT", "2026-03-31T08:00:00.000Z"),
        // No zone: UTC.
        ("Tue, 31 Mar 2026 08:00:00", "2026-03-31T08:00:00.000Z"),
        // One-digit day and hour, full names, no comma, extra whitespace, lower case.
        ("Tue, 1 Mar 2026 8:05:00 GMT", "2026-03-01T08:05:00.000Z"),
        ("Tuesday, 31 March 2026 08:00:00 GMT", "2026-03-31T08:00:00.000Z"),
        ("Tue 31 Mar 2026 08:00:00 GMT", "2026-03-31T08:00:00.000Z"),
        ("  Tue,   31  Mar\t2026   08:00:00    GMT \n", "2026-03-31T08:00:00.000Z"),
        ("tue, 31 mar 2026 08:00:00 gmt", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Sept 2026 08:00:00 GMT", "error: day 31 does not exist in 2026-09"),
        ("Thu, 30 Sept 2026 08:00:00 GMT", "2026-09-30T08:00:00.000Z"),
        ("Tue, 31 Mar. 2026 08:00:00 GMT", "2026-03-31T08:00:00.000Z"),
        // A day name that does not match the date: the date wins.
        ("Fri, 31 Mar 2026 08:00:00 GMT", "2026-03-31T08:00:00.000Z"),
        // Two- and three-digit years (RFC 2822 section 4.3).
        ("Tue, 31 Mar 26 08:00:00 GMT", "2026-03-31T08:00:00.000Z"),
        ("Wed, 31 Mar 99 08:00:00 GMT", "1999-03-31T08:00:00.000Z"),
        ("31 Mar 49 08:00:00 GMT", "2049-03-31T08:00:00.000Z"),
        ("31 Mar 50 08:00:00 GMT", "1950-03-31T08:00:00.000Z"),
        ("31 Mar 126 08:00:00 GMT", "2026-03-31T08:00:00.000Z"),
        // Fractional seconds, a comment.
        ("Tue, 31 Mar 2026 08:00:00.250 GMT", "2026-03-31T08:00:00.250Z"),
        ("Tue, 31 Mar 2026 08:00:00 +0000 (UTC)", "2026-03-31T08:00:00.000Z"),
        ("Tue, 31 Mar 2026 08:00:00 (a (nested) comment) -0500", "2026-03-31T13:00:00.000Z"),
        // A date alone.
        ("31 Mar 2026", "2026-03-31T00:00:00.000Z"),
        ("March 31, 2026", "2026-03-31T00:00:00.000Z"),
        // JavaScript's Date.toString and "Mar 31, 2026 08:00 UTC".
        ("Tue Mar 31 2026 10:00:00 GMT+0200 (Central European Summer Time)", "2026-03-31T08:00:00.000Z"),
        ("Mar 31, 2026 08:00 UTC", "2026-03-31T08:00:00.000Z"),
        ("Tue Mar 31 2026 03:00:00 UTC-5", "2026-03-31T08:00:00.000Z"),
        // Not dates.
        ("Tue, 30 Feb 2026 08:00:00 GMT", "error: day 30 does not exist in 2026-02"),
        ("Tue, 31 Mar 2026 24:00:00 GMT", "error: 24:00:00 is not a time"),
        ("Tue, 31 Mar 2026 08:60:00 GMT", "error: 08:60:00 is not a time"),
        ("Tue, 31 Foo 2026 08:00:00 GMT", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("Tue, 31 Mar 2026 08:00:00 GMT trailing", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("Tue, 31 Mar 2026 08:00:00 (unclosed", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("Tue, 31 Mar 2026 08:00:00 GMT)", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("Tue, 31 Mar 2026 08:00:00 GMT+0200 EST", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("Tue, 31 Mar 2026", "2026-03-31T00:00:00.000Z"),
        ("Tue, 31 Mar 08:00:00 GMT", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("yesterday", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("Tue, 31 Mar 2026 08:00:00 GMT ✓", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("Tue, 31 Mar 2", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
    ]);
}

#[test]
fn http_dates_in_all_three_forms() {
    // RFC 9110 section 5.6.7: IMF-fixdate, the obsolete RFC 850 form, asctime.
    table(&[
        ("Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37.000Z"),
        ("Sunday, 06-Nov-94 08:49:37 GMT", "1994-11-06T08:49:37.000Z"),
        ("Sun Nov  6 08:49:37 1994", "1994-11-06T08:49:37.000Z"),
        ("Sunday, 06-Nov-1994 08:49:37 GMT", "1994-11-06T08:49:37.000Z"),
        ("Sunday, 06-Nov 08:49:37 GMT", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
    ]);
}

#[test]
fn iso_8601_rfc_3339_and_what_apis_write() {
    table(&[
        ("2026-03-31", "2026-03-31T00:00:00.000Z"),
        ("  2026-03-31  ", "2026-03-31T00:00:00.000Z"),
        ("2026-03-31T08:15:30Z", "2026-03-31T08:15:30.000Z"),
        ("2026-03-31t08:15:30z", "2026-03-31T08:15:30.000Z"),
        ("2026-03-31T08:15:30.123456Z", "2026-03-31T08:15:30.123Z"),
        ("2026-03-31T08:15:30,5Z", "2026-03-31T08:15:30.500Z"),
        ("2026-03-31T08:15:30.1234567891234Z", "2026-03-31T08:15:30.123Z"),
        ("2026-03-31T08:15:30", "2026-03-31T08:15:30.000Z"),
        ("2026-03-31 08:15:30", "2026-03-31T08:15:30.000Z"),
        ("2026-03-31   08:15", "2026-03-31T08:15:00.000Z"),
        ("2026-03-31T08:15", "2026-03-31T08:15:00.000Z"),
        ("2026-03-31T08:15:30+02:00", "2026-03-31T06:15:30.000Z"),
        ("2026-03-31T08:15:30 +02:00", "2026-03-31T06:15:30.000Z"),
        ("2026-03-31T23:00:00-05", "2026-04-01T04:00:00.000Z"),
        ("2026-03-31 08:00:00 UTC", "2026-03-31T08:00:00.000Z"),
        ("2026-03-31 08:00:00 GMT+01:00", "2026-03-31T07:00:00.000Z"),
        // Salesforce.
        ("2024-01-15T10:30:00.000+0000", "2024-01-15T10:30:00.000Z"),
        ("2026-03-31T01:00:00.000-0500", "2026-03-31T06:00:00.000Z"),
        // HubSpot: ISO, and epoch milliseconds as a string.
        ("2024-01-15T10:30:00.000Z", "2024-01-15T10:30:00.000Z"),
        ("1705314600000", "2024-01-15T10:30:00.000Z"),
        ("-1000", "1969-12-31T23:59:59.000Z"),
        ("0", "1970-01-01T00:00:00.000Z"),
        // A leap second.
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:60.000Z"),
        // Not dates.
        ("2026-02-30", "error: day 30 does not exist in 2026-02"),
        ("2026-13-01", "error: month 13 does not exist"),
        ("2026-03-31T25:00:00Z", "error: 25:00:00 is not a time"),
        ("2026-03-31T08:00:00+25:00", "error: the offset +25:00 is out of range (at most 23:59 either way)"),
        ("2026-03-31X08:00", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("2026-03-31T08", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("2026-03-31T08:00:00.Z", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("2026-03-31T08:00:00.000+0000 trailing", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("2026-3-31", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("31/03/2026", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
        ("", "error: the text is empty"),
        ("   ", "error: the text is empty"),
        ("-", "error: not a date form cmap reads (RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds)"),
    ]);
}

#[test]
fn the_edges_of_chronos_range_are_errors_not_panics() {
    let max = DateTime::<Utc>::MAX_UTC.timestamp_millis();
    let min = DateTime::<Utc>::MIN_UTC.timestamp_millis();
    let max_s = max.to_string();
    let min_s = min.to_string();
    let past_max = (max + 1).to_string();
    let past_min = (min - 1).to_string();
    table(&[
        (&max_s, "+262142-12-31T23:59:59.999Z"),
        (&min_s, "-262143-01-01T00:00:00.000Z"),
        (
            &past_max,
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            &past_min,
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "9223372036854775807",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "-9223372036854775808",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "99999999999999999999999999999",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        // Expanded ISO years, as `format` writes them.
        ("+10000-01-01T00:00:00.000Z", "+10000-01-01T00:00:00.000Z"),
        ("-0001-06-01", "-0001-06-01T00:00:00.000Z"),
        ("+262142-12-31T23:59:59.999Z", "+262142-12-31T23:59:59.999Z"),
        (
            "+262142-12-31T23:59:59.999-01:00",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "-262143-01-01T00:00:00+01:00",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "+262143-01-01",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "-262144-12-31",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "+999999999-01-01",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "+99999999999999999999-01-01",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "31 Dec 262143 00:00:00 GMT",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
        (
            "31 Dec 99999999999 00:00:00 GMT",
            "error: outside the dates cmap can represent (years -262143 to 262142)",
        ),
    ]);
}

/// Writes `dt` as RFC 2822 in the zone of `offset_minutes`, named `zone`.
fn rfc2822(dt: DateTime<Utc>, offset_minutes: i32, zone: &str) -> String {
    let offset = FixedOffset::east_opt(offset_minutes * 60).expect("a valid offset");
    let local = dt.with_timezone(&offset);
    format!(
        "{}, {:02} {} {:04} {}",
        local.format("%a"),
        local.day(),
        local.format("%b"),
        local.year(),
        local.format("%H:%M:%S ").to_string() + zone
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Nothing panics, whatever the text.
    #[test]
    fn any_text_is_a_date_or_an_error(s in "\\PC{0,60}") {
        let _ = parse(&s);
    }

    /// Date-shaped noise, where the branches are.
    #[test]
    fn date_shaped_text_is_a_date_or_an_error(s in "[-+0-9:., ()TZtzA-Za-z]{0,40}") {
        let _ = parse(&s);
    }

    /// What cmap writes, it reads back exactly, over the whole range.
    #[test]
    fn format_then_parse_is_the_identity(ms in DateTime::<Utc>::MIN_UTC.timestamp_millis()..=DateTime::<Utc>::MAX_UTC.timestamp_millis()) {
        let dt = from_epoch_millis(ms).expect("in range");
        prop_assert_eq!(parse(&format(&dt)), Ok(dt));
        prop_assert_eq!(parse(&ms.to_string()), Ok(dt));
    }

    /// An RFC 2822 date in any zone of the table, or any numeric offset, is the instant
    /// that was written.
    #[test]
    fn rfc_2822_in_any_zone_reads_the_instant_written(
        secs in 0i64..=253_402_300_799, // 0000..9999, as RFC 2822 writes years
        zone in 0usize..ZONES.len(),
        minutes in -(23i32 * 60 + 59)..=(23 * 60 + 59),
    ) {
        let dt = DateTime::from_timestamp(secs, 0).expect("in range");
        let (name, offset) = ZONES[zone];
        prop_assert_eq!(parse(&rfc2822(dt, offset, name)), Ok(dt));
        let numeric = format!("{}{:02}{:02}", if minutes < 0 { '-' } else { '+' }, minutes.abs() / 60, minutes.abs() % 60);
        prop_assert_eq!(parse(&rfc2822(dt, minutes, &numeric)), Ok(dt));
    }
}
