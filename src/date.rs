//! The one date reader: every date cmap reads from outside (record fields, feed items,
//! API responses, `Retry-After` headers, stored token expiries) goes through [`parse`],
//! so a form learnt here is learnt everywhere. A leaf module: it imports nothing else of
//! the crate, so every layer may use it.
//!
//! Read (surrounding whitespace ignored, letters in any case):
//!
//! - **Epoch milliseconds**: a string of digits with an optional `-` (`1774915200000`,
//!   as HubSpot writes some properties).
//! - **RFC 3339 / ISO 8601**: `2026-03-31`, then `T`, `t` or spaces and `HH:MM`,
//!   `HH:MM:SS` or `HH:MM:SS.fff` (`,` too, any number of digits, nanoseconds kept), then
//!   an optional zone: `Z`, `+HH:MM`, `+HHMM` (Salesforce: `2024-01-15T10:30:00.000+0000`),
//!   `+HH`, or a zone name below, with or without a space before it. Years beyond 9999
//!   or before 0 are written with a sign and at least four digits (ISO 8601's expanded
//!   form, which is what [`format`] writes for them). Second 60 (a leap second) is read
//!   as the last second of its minute.
//! - **RFC 2822 / RFC 822 / RFC 850 / asctime** (RSS `pubDate`, HTTP dates, mail):
//!   `[Tue[sday][,]] 31 Mar[ch] 2026 08:00[:00[.fff]] [ZONE] [(comment)]`, the RFC 850
//!   date `31-Mar-26`, asctime `Tue Mar 31 08:00:00 2026`, and JavaScript's
//!   `Tue Mar 31 2026 08:00:00 GMT+0200 (Central European Summer Time)`; without a time,
//!   midnight. The day name is optional and not checked against the date (feeds get it
//!   wrong). Two-digit years are 2000-2049 and 1950-1999, three-digit years 1900 + the
//!   year (RFC 2822 section 4.3).
//!
//! Zones: numeric offsets `+HHMM`, `+HH:MM`, `+H[H]` (at most 23:59); `UT`, `UTC`, `GMT`
//! and `Z` (+0000); RFC 822's `EST` `EDT` `CST` `CDT` `MST` `MDT` `PST` `PDT`; the
//! military letters `A`-`I` and `K`-`Y`, read as -0000 because RFC 822 defined their
//! signs backwards and RFC 2822 section 4.3 says to treat them so; `GMT+0200` and
//! `UTC-5` (JavaScript, Java); and the names feeds commonly use whose meaning is not in
//! doubt (the table [`ZONES`]). Any other alphabetic name of 2 to 5 letters is -0000, as
//! RFC 2822 section 4.3 says for zones whose meaning is not known. A date without a
//! zone is UTC.
//!
//! A date outside chrono's range (about year -262143 to 262142), a number that does not
//! fit, a day that does not exist (`2026-02-30`) or an hour past 23 is an error, never a
//! panic. Written: RFC 3339 in UTC with milliseconds and `Z` ([`format`]).

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, Utc};

/// The forms [`parse`] reads, for error messages.
pub const ACCEPTED: &str = "RFC 3339 / ISO 8601, RFC 2822 or epoch milliseconds";

/// Why a text is not a date.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("the text is empty")]
    Empty,
    #[error("not a date form cmap reads ({ACCEPTED})")]
    Unrecognized,
    /// The form is known but a field is not: `2026-02-30`, hour 25, offset +25:00.
    #[error("{0}")]
    Invalid(String),
    /// A real date that chrono cannot represent (beyond about year ±262143).
    #[error("outside the dates cmap can represent (years -262143 to 262142)")]
    OutOfRange,
}

/// Reads a date in any of the forms the module docs list.
pub fn parse(text: &str) -> Result<DateTime<Utc>, DateError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DateError::Empty);
    }
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for an i64 is as far out of range as a huge i64.
        let ms: i64 = s.parse().map_err(|_| DateError::OutOfRange)?;
        return from_epoch_millis(ms);
    }
    if looks_iso(s) {
        iso(s)
    } else {
        textual(s)
    }
}

/// A date from milliseconds since 1970-01-01T00:00:00Z.
pub fn from_epoch_millis(ms: i64) -> Result<DateTime<Utc>, DateError> {
    DateTime::from_timestamp_millis(ms).ok_or(DateError::OutOfRange)
}

/// Writes a date the one way cmap writes dates: RFC 3339 in UTC with milliseconds and
/// `Z` (`2026-03-31T08:00:00.000Z`; years beyond 0000-9999 with a sign, `+10000-...`).
pub fn format(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Names of zones beyond RFC 822's that feeds use and whose offset is not in doubt, in
/// minutes east of UTC. `IST` is India's (Indian feeds are where it appears; Irish and
/// Israeli feeds write offsets). Names not here fall under RFC 2822's -0000 rule.
pub const ZONES: &[(&str, i32)] = &[
    // RFC 822 / RFC 2822.
    ("UT", 0),
    ("UTC", 0),
    ("GMT", 0),
    ("Z", 0),
    ("EST", -5 * 60),
    ("EDT", -4 * 60),
    ("CST", -6 * 60),
    ("CDT", -5 * 60),
    ("MST", -7 * 60),
    ("MDT", -6 * 60),
    ("PST", -8 * 60),
    ("PDT", -7 * 60),
    // Common in feeds.
    ("WET", 0),
    ("WEST", 60),
    ("BST", 60),
    ("CET", 60),
    ("CEST", 120),
    ("MET", 60),
    ("MEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("MSK", 180),
    ("IST", 5 * 60 + 30),
    ("SGT", 8 * 60),
    ("HKT", 8 * 60),
    ("AWST", 8 * 60),
    ("JST", 9 * 60),
    ("KST", 9 * 60),
    ("ACST", 9 * 60 + 30),
    ("ACDT", 10 * 60 + 30),
    ("AEST", 10 * 60),
    ("AEDT", 11 * 60),
    ("NZST", 12 * 60),
    ("NZDT", 13 * 60),
    ("HST", -10 * 60),
    ("AKST", -9 * 60),
    ("AKDT", -8 * 60),
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// `[+-]YYYY-` (four digits, or a sign and at least four): the ISO 8601 path.
fn looks_iso(s: &str) -> bool {
    let b = s.as_bytes();
    let (signed, digits) = match b.first() {
        Some(b'+' | b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    let year_ok = if signed { n >= 4 } else { n == 4 };
    year_ok && digits.get(n) == Some(&b'-')
}

fn invalid(what: String) -> DateError {
    DateError::Invalid(what)
}

/// The calendar date, or why not: out of chrono's range, or a day that does not exist.
fn ymd(year: i64, month: u32, day: u32) -> Result<NaiveDate, DateError> {
    if !(1..=12).contains(&month) {
        return Err(invalid(format!("month {month} does not exist")));
    }
    let year = i32::try_from(year).map_err(|_| DateError::OutOfRange)?;
    if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
        return Ok(date);
    }
    // Told apart so the message is right: chrono refuses both the same way.
    if NaiveDate::from_ymd_opt(year, month, 1).is_none() {
        Err(DateError::OutOfRange)
    } else {
        Err(invalid(format!(
            "day {day} does not exist in {year:04}-{month:02}"
        )))
    }
}

/// A time of day; second 60 is a leap second (chrono's way: 59 s plus a whole second of
/// nanoseconds).
fn hms(hour: u32, minute: u32, second: u32, nano: u32) -> Result<NaiveTime, DateError> {
    let (second, nano) = if second == 60 {
        (59, nano.saturating_add(1_000_000_000))
    } else {
        (second, nano)
    };
    NaiveTime::from_hms_nano_opt(hour, minute, second, nano)
        .ok_or_else(|| invalid(format!("{hour:02}:{minute:02}:{second:02} is not a time")))
}

/// Local date and time at `offset_minutes` east of UTC, as an instant.
fn instant(
    date: NaiveDate,
    time: NaiveTime,
    offset_minutes: i32,
) -> Result<DateTime<Utc>, DateError> {
    date.and_time(time)
        .and_utc()
        .checked_sub_signed(TimeDelta::minutes(i64::from(offset_minutes)))
        .ok_or(DateError::OutOfRange)
}

/// A small cursor over ASCII bytes (every form read here is ASCII; anything else is
/// refused where it is met).
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Cursor<'a> {
        Cursor {
            b: s.as_bytes(),
            at: 0,
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn spaces(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
        self.at - start
    }
    /// Between `min` and `max` digits, as a number (`None` when fewer, or when it does
    /// not fit: callers bound `max` so that it always does).
    fn digits(&mut self, min: usize, max: usize) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        while self.at - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                    self.at += 1;
                }
                _ => break,
            }
        }
        (self.at - start >= min).then_some(n)
    }
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.at..).unwrap_or_default()
    }
    fn done(&self) -> bool {
        self.at >= self.b.len()
    }
}

fn two(c: &mut Cursor<'_>) -> Result<u32, DateError> {
    c.digits(2, 2)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(DateError::Unrecognized)
}

/// Fractional seconds after `.` or `,`: nanoseconds, digits past the ninth dropped.
fn fraction(c: &mut Cursor<'_>) -> Result<u32, DateError> {
    if !(c.eat(b'.') || c.eat(b',')) {
        return Ok(0);
    }
    let mut nano: u32 = 0;
    let mut n = 0;
    while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
        if n < 9 {
            nano = nano * 10 + u32::from(d - b'0');
        }
        n += 1;
        c.at += 1;
    }
    if n == 0 {
        return Err(DateError::Unrecognized);
    }
    for _ in n..9 {
        nano *= 10;
    }
    Ok(nano)
}

/// RFC 3339 / ISO 8601.
fn iso(s: &str) -> Result<DateTime<Utc>, DateError> {
    let mut c = Cursor::new(s);
    let negative = c.eat(b'-');
    let signed = negative || c.eat(b'+');
    // Nine digits always fit; a longer year is far outside chrono's range anyway.
    let year = c
        .digits(4, if signed { 9 } else { 4 })
        .ok_or(DateError::Unrecognized)?;
    if c.peek().is_some_and(|d| d.is_ascii_digit()) {
        return Err(DateError::OutOfRange);
    }
    let year = if negative {
        -(year as i64)
    } else {
        year as i64
    };
    if !c.eat(b'-') {
        return Err(DateError::Unrecognized);
    }
    let month = two(&mut c)?;
    if !c.eat(b'-') {
        return Err(DateError::Unrecognized);
    }
    let day = two(&mut c)?;
    let date = ymd(year, month, day)?;
    let gap = c.spaces();
    if c.done() {
        return instant(date, NaiveTime::MIN, 0);
    }
    // `T`, or spaces (RFC 3339 section 5.6 allows a space).
    if !(c.eat(b'T') || c.eat(b't') || gap > 0) {
        return Err(DateError::Unrecognized);
    }
    let hour = two(&mut c)?;
    if !c.eat(b':') {
        return Err(DateError::Unrecognized);
    }
    let minute = two(&mut c)?;
    let (second, nano) = if c.eat(b':') {
        (two(&mut c)?, fraction(&mut c)?)
    } else {
        (0, 0)
    };
    let time = hms(hour, minute, second, nano)?;
    // The cursor moved over ASCII only, so it sits on a character boundary.
    let rest = s.get(c.at..).ok_or(DateError::Unrecognized)?;
    instant(date, time, zone(&tokens(rest)?)?)
}

/// A token of the textual forms.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Word(&'a str),
    Num(&'a str),
    /// Hour, minute, second, nanosecond.
    Time(u32, u32, u32, u32),
    /// Minutes east of UTC.
    Offset(i32),
}

/// Splits a textual date into tokens: words, numbers, times and signed offsets;
/// commas and whitespace separate; `(comments)` (nested, RFC 2822 CFWS) are dropped.
fn tokens<'a>(s: &'a str) -> Result<Vec<Tok<'a>>, DateError> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    let bytes = s.as_bytes();
    let flush = |from: Option<usize>, to: usize, out: &mut Vec<Tok<'a>>| match from {
        Some(from) => piece(s.get(from..to).ok_or(DateError::Unrecognized)?, out),
        None => Ok(()),
    };
    for (i, &b) in bytes.iter().enumerate() {
        if depth > 0 {
            match b {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            continue;
        }
        match b {
            b'(' => {
                flush(start.take(), i, &mut out)?;
                depth = 1;
            }
            b')' => return Err(DateError::Unrecognized),
            b',' => flush(start.take(), i, &mut out)?,
            b if b.is_ascii_whitespace() => flush(start.take(), i, &mut out)?,
            _ => {
                if start.is_none() {
                    start = Some(i);
                }
            }
        }
    }
    if depth > 0 {
        return Err(DateError::Unrecognized);
    }
    flush(start.take(), bytes.len(), &mut out)?;
    Ok(out)
}

/// One whitespace-separated piece: `31-Mar-26` (RFC 850), `08:00:00`, `+0200`,
/// `GMT+0200`, a word or a number.
fn piece<'a>(p: &'a str, out: &mut Vec<Tok<'a>>) -> Result<(), DateError> {
    let b = p.as_bytes();
    let first = b.first().copied().ok_or(DateError::Unrecognized)?;
    if first.is_ascii_digit() && p.contains(':') {
        out.push(clock(p)?);
    } else if first.is_ascii_digit() && p.contains('-') {
        // RFC 850: `06-Nov-94`.
        let mut parts = p.split('-');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(d), Some(m), Some(y), None) if is_digits(d) && is_alpha(m) && is_digits(y) => {
                out.extend([Tok::Num(d), Tok::Word(m), Tok::Num(y)]);
            }
            _ => return Err(DateError::Unrecognized),
        }
    } else if first == b'+' || first == b'-' {
        out.push(Tok::Offset(offset(p)?));
    } else if is_digits(p) {
        out.push(Tok::Num(p));
    } else if first.is_ascii_alphabetic() {
        let letters = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
        let (word, rest) = p.split_at(letters);
        // A trailing dot on an abbreviation (`Mar.`), as some feeds write.
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        out.push(Tok::Word(word));
        if !rest.is_empty() {
            match rest.as_bytes().first() {
                // `GMT+0200`, `UTC-5`.
                Some(b'+' | b'-') => out.push(Tok::Offset(offset(rest)?)),
                _ => return Err(DateError::Unrecognized),
            }
        }
    } else {
        return Err(DateError::Unrecognized);
    }
    Ok(())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_alpha(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// `H:MM`, `HH:MM`, `HH:MM:SS`, `HH:MM:SS.fff`.
fn clock(p: &str) -> Result<Tok<'_>, DateError> {
    let mut c = Cursor::new(p);
    let hour = c.digits(1, 2).ok_or(DateError::Unrecognized)? as u32;
    if !c.eat(b':') {
        return Err(DateError::Unrecognized);
    }
    let minute = two(&mut c)?;
    let (second, nano) = if c.eat(b':') {
        (two(&mut c)?, fraction(&mut c)?)
    } else {
        (0, 0)
    };
    if !c.done() {
        return Err(DateError::Unrecognized);
    }
    // Checked here so the message names the time; `hms` checks again when building.
    hms(hour, minute, second, nano)?;
    Ok(Tok::Time(hour, minute, second, nano))
}

/// `+HHMM`, `-HH:MM`, `+HH`, `+H`: minutes east of UTC, at most 23:59 either way.
fn offset(p: &str) -> Result<i32, DateError> {
    let mut c = Cursor::new(p);
    let sign = if c.eat(b'-') {
        -1
    } else if c.eat(b'+') {
        1
    } else {
        return Err(DateError::Unrecognized);
    };
    let digits = c.rest().iter().take_while(|b| b.is_ascii_digit()).count();
    let (hours, minutes) = match digits {
        1 | 2 => {
            let h = c.digits(1, 2).ok_or(DateError::Unrecognized)?;
            let m = if c.eat(b':') {
                c.digits(2, 2).ok_or(DateError::Unrecognized)?
            } else {
                0
            };
            (h, m)
        }
        4 => {
            let h = c.digits(2, 2).ok_or(DateError::Unrecognized)?;
            (h, c.digits(2, 2).ok_or(DateError::Unrecognized)?)
        }
        _ => return Err(DateError::Unrecognized),
    };
    if !c.done() {
        return Err(DateError::Unrecognized);
    }
    if hours > 23 || minutes > 59 {
        return Err(invalid(format!(
            "the offset {p} is out of range (at most 23:59 either way)"
        )));
    }
    // Both at most two digits, so the sum fits an i32.
    Ok(sign * (hours as i32 * 60 + minutes as i32))
}

/// The zone tokens after a time: none (UTC), an offset, a name, or `GMT+0200`.
fn zone(t: &[Tok<'_>]) -> Result<i32, DateError> {
    match t {
        [] => Ok(0),
        [Tok::Offset(o)] => Ok(*o),
        [Tok::Word(name)] => zone_name(name),
        [Tok::Word(name), Tok::Offset(o)]
            if ["GMT", "UTC", "UT"]
                .iter()
                .any(|z| z.eq_ignore_ascii_case(name)) =>
        {
            Ok(*o)
        }
        _ => Err(DateError::Unrecognized),
    }
}

/// A zone name's offset in minutes east of UTC (module docs: RFC 822 names, the
/// military letters, [`ZONES`], and -0000 for other names of 2 to 5 letters).
fn zone_name(name: &str) -> Result<i32, DateError> {
    if let Some((_, minutes)) = ZONES.iter().find(|(z, _)| z.eq_ignore_ascii_case(name)) {
        return Ok(*minutes);
    }
    match name.len() {
        // RFC 2822 4.3: military zones are -0000 (`J` was never a zone).
        1 if !name.eq_ignore_ascii_case("j") => Ok(0),
        // RFC 2822 4.3: other alphabetic zones of unknown meaning are -0000.
        2..=5 => Ok(0),
        _ => Err(DateError::Unrecognized),
    }
}

/// The index (0-11) of a month name or its abbreviation (three letters or more of the
/// name: `Mar`, `March`, `Sept`).
fn month(word: &str) -> Option<u32> {
    prefix_of(word, &MONTHS)
}

fn is_day_name(word: &str) -> bool {
    prefix_of(word, &DAYS).is_some()
}

fn prefix_of(word: &str, names: &[&str]) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    names
        .iter()
        .position(|n| n.starts_with(&lower))
        .and_then(|i| u32::try_from(i).ok())
}

/// A year as written: two digits are 2000-2049 or 1950-1999, three digits 1900 + the
/// year (RFC 2822 section 4.3), four or more as they are.
fn year(digits: &str) -> Result<i64, DateError> {
    if digits.len() > 9 {
        return Err(DateError::OutOfRange);
    }
    let n: i64 = digits.parse().map_err(|_| DateError::Unrecognized)?;
    Ok(match digits.len() {
        2 if n < 50 => 2000 + n,
        2 | 3 => 1900 + n,
        1 => return Err(DateError::Unrecognized),
        _ => n,
    })
}

fn day(digits: &str) -> Result<u32, DateError> {
    if digits.len() > 2 {
        return Err(DateError::Unrecognized);
    }
    digits.parse().map_err(|_| DateError::Unrecognized)
}

/// RFC 2822 / RFC 822 / RFC 850 / asctime / JavaScript (module docs).
fn textual(s: &str) -> Result<DateTime<Utc>, DateError> {
    let all = tokens(s)?;
    let mut t = all.as_slice();
    if let [Tok::Word(w), rest @ ..] = t {
        if is_day_name(w) {
            t = rest;
        }
    }
    let word_month = |w: &str| month(w).ok_or(DateError::Unrecognized);
    // (day, month index, year digits, time, zone tokens)
    let (d, m, y, time, zone_tokens) = match t {
        // RFC 2822, RFC 822, RFC 850: 31 Mar 2026 08:00:00 GMT
        [Tok::Num(d), Tok::Word(m), Tok::Num(y), Tok::Time(h, mi, s, n), zone @ ..] => {
            (*d, word_month(m)?, *y, (*h, *mi, *s, *n), zone)
        }
        // asctime: Tue Mar 31 08:00:00 2026
        [Tok::Word(m), Tok::Num(d), Tok::Time(h, mi, s, n), Tok::Num(y), zone @ ..] => {
            (*d, word_month(m)?, *y, (*h, *mi, *s, *n), zone)
        }
        // JavaScript, and "Mar 31, 2026 08:00 UTC": Mar 31 2026 08:00:00 GMT+0200
        [Tok::Word(m), Tok::Num(d), Tok::Num(y), Tok::Time(h, mi, s, n), zone @ ..] => {
            (*d, word_month(m)?, *y, (*h, *mi, *s, *n), zone)
        }
        // A date alone: midnight UTC.
        [Tok::Num(d), Tok::Word(m), Tok::Num(y)] => (*d, word_month(m)?, *y, (0, 0, 0, 0), &[][..]),
        [Tok::Word(m), Tok::Num(d), Tok::Num(y)] => (*d, word_month(m)?, *y, (0, 0, 0, 0), &[][..]),
        _ => return Err(DateError::Unrecognized),
    };
    let date = ymd(year(y)?, m + 1, day(d)?)?;
    let (h, mi, sec, nano) = time;
    let time = hms(h, mi, sec, nano)?;
    instant(date, time, zone(zone_tokens)?)
}

#[cfg(test)]
mod tests {
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
}
