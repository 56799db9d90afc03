//! Time as users type it: a zone (`+08:00` or `Area/City`), instants as Unix seconds,
//! RFC 3339, a local date `YYYY-MM-DD` or a local date-time `YYYY-MM-DD HH:MM[:SS]`, and
//! local time printed back.

use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use meterstore::{UtcOffset, Zone};

/// A time zone as given on the command line: a fixed offset or an IANA zone.
#[derive(Debug, Clone)]
pub struct Tz {
    tz: TimeZone,
    name: String,
    fixed: bool,
}

impl Tz {
    /// Parses `+08:00`-style offsets (also `Z` and `UTC`) and IANA names such as
    /// `Asia/Shanghai` or `Europe/London`.
    pub fn parse(s: &str) -> Result<Tz, String> {
        let s = s.trim();
        let offset = match s {
            "Z" | "z" | "UTC" => Some(UtcOffset::UTC),
            _ if s.starts_with(['+', '-']) => Some(UtcOffset::parse(s).map_err(|e| e.to_string())?),
            _ => None,
        };
        match offset {
            Some(off) => Ok(Tz::fixed(off)),
            None => {
                let tz = TimeZone::get(s).map_err(|e| {
                    format!("{s:?} is neither an offset like +08:00 nor a known time zone: {e}")
                })?;
                Ok(Tz {
                    tz,
                    name: s.to_owned(),
                    fixed: false,
                })
            }
        }
    }

    /// A fixed offset from UTC.
    pub fn fixed(off: UtcOffset) -> Tz {
        // `UtcOffset` is at most 25 h either way, which jiff accepts.
        let offset = Offset::from_seconds(off.seconds()).unwrap_or(Offset::UTC);
        Tz {
            tz: TimeZone::fixed(offset),
            name: off.to_string(),
            fixed: true,
        }
    }

    /// The name it was made from (`+08:00`, `Asia/Shanghai`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the offset never changes.
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// The same zone for the library's scans.
    pub fn zone(&self) -> Zone {
        if self.fixed {
            Zone::fixed(self.offset_at(0))
        } else {
            // The name parsed as a jiff zone above, from the same bundled database.
            Zone::iana(&self.name).unwrap_or_else(|_| Zone::fixed(UtcOffset::UTC))
        }
    }

    /// The offset in force at `ts`.
    pub fn offset_at(&self, ts: i64) -> UtcOffset {
        let secs = timestamp(ts).map_or(0, |t| self.tz.to_offset(t).seconds());
        UtcOffset::from_seconds(secs).unwrap_or(UtcOffset::UTC)
    }

    /// Whether the offset changes anywhere in `[from, to)`.
    pub fn offset_changes(&self, from: i64, to: i64) -> bool {
        if self.fixed || from >= to {
            return false;
        }
        let (Ok(a), Ok(b)) = (timestamp(from), timestamp(to - 1)) else {
            return false;
        };
        self.tz
            .following(a)
            .next()
            .is_some_and(|t| t.timestamp() <= b)
    }

    /// Local date-time of `ts`.
    pub fn local(&self, ts: i64) -> DateTime {
        timestamp(ts).map_or(DateTime::ZERO, |t| self.tz.to_datetime(t))
    }

    /// `ts` as RFC 3339 with the local offset: `2024-01-01T00:15:00+08:00`.
    pub fn rfc3339(&self, ts: i64) -> String {
        match timestamp(ts) {
            Ok(t) => t
                .to_zoned(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            Err(_) => ts.to_string(),
        }
    }

    /// `ts` for a table: `2024-01-01 00:15`, with seconds when not zero, and with the
    /// offset in zones whose offset changes (where a local time can occur twice).
    pub fn short(&self, ts: i64) -> String {
        let Ok(t) = timestamp(ts) else {
            return ts.to_string();
        };
        let z = t.to_zoned(self.tz.clone());
        let mut fmt = String::from("%Y-%m-%d %H:%M");
        if z.second() != 0 {
            fmt.push_str(":%S");
        }
        if !self.fixed {
            fmt.push_str(" %:z");
        }
        z.strftime(&fmt).to_string()
    }

    /// The instant of a local date-time; an error for a local time that a daylight-saving
    /// change skips or repeats (the data would be ambiguous).
    pub fn instant(&self, dt: DateTime) -> Result<i64, String> {
        let t = self
            .tz
            .to_ambiguous_timestamp(dt)
            .unambiguous()
            .map_err(|_| {
                format!(
                    "local time {dt} does not exist or occurs twice in {}",
                    self.name
                )
            })?;
        Ok(t.as_second())
    }

    /// The instant of a local date-time; a skipped time maps to the instant after the gap
    /// and a repeated one to its first occurrence (for drawing, never for data).
    pub fn instant_lenient(&self, dt: DateTime) -> Option<i64> {
        let t = self.tz.to_ambiguous_timestamp(dt).compatible().ok()?;
        Some(t.as_second())
    }

    /// The first instant of local `date`.
    pub fn day_start(&self, date: Date) -> Result<i64, String> {
        let z = date
            .to_zoned(self.tz.clone())
            .map_err(|e| format!("date {date} in {}: {e}", self.name))?;
        Ok(z.timestamp().as_second())
    }
}

fn timestamp(ts: i64) -> Result<Timestamp, String> {
    Timestamp::from_second(ts).map_err(|e| format!("timestamp {ts} out of range: {e}"))
}

/// A bound of a query range (`--from`, `--to`): an RFC 3339 instant, a local date
/// `YYYY-MM-DD` in `tz`, or a local date-time `YYYY-MM-DD HH:MM[:SS]` in `tz`.
///
/// An RFC 3339 bound is the instant it names, whatever its offset (`Z`, `+08:00`,
/// `-05:00`); `tz` plays no part. Readings sit on whole seconds and a range is
/// `[from, to)`, so a fractional second rounds up on both ends: the bound keeps exactly
/// the readings at or after `from` and before `to`. A date means its first instant as a
/// start and the end of that day as an end (so `--from 2024-01-01 --to 2024-01-31` is
/// all of January).
pub fn parse_bound(s: &str, tz: &Tz, end: bool) -> Result<i64, String> {
    let s = s.trim();
    if is_bare_date(s.as_bytes()) {
        let date: Date = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
        let date = if end {
            date.tomorrow().map_err(|e| format!("{s:?}: {e}"))?
        } else {
            date
        };
        return tz.day_start(date);
    }
    if let Some(dt) = local_datetime(s.as_bytes()) {
        let dt = dt.map_err(|e| format!("{s:?}: {e}"))?;
        return tz.instant(dt).map_err(|e| format!("{s:?}: {e}"));
    }
    let t: Timestamp = s.parse().map_err(|e: jiff::Error| {
        format!(
            "{s:?} is neither RFC 3339 (with Z or an offset), a date YYYY-MM-DD nor a local \
             YYYY-MM-DD HH:MM[:SS]: {e}"
        )
    })?;
    // `as_second` truncates towards zero, which is already the ceiling below the epoch.
    let up = i64::from(t.subsec_nanosecond() > 0);
    Ok(t.as_second() + up)
}

/// Exactly `YYYY-MM-DD`: a calendar date with nothing after it. (jiff's `Date` parser
/// also takes a date-time with an offset and keeps its date, which would turn an instant
/// into a whole local day.)
fn is_bare_date(b: &[u8]) -> bool {
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// An RFC 3339 instant (with `Z` or an offset) in whole seconds.
pub fn rfc3339(s: &str) -> Result<i64, String> {
    let t: Timestamp = s.parse().map_err(|e: jiff::Error| e.to_string())?;
    if t.subsec_nanosecond() != 0 {
        return Err("fractional seconds are not supported".into());
    }
    Ok(t.as_second())
}

/// The first instant a reading may have: 1970-01-01T00:00:00Z.
pub const FIRST_READING_TS: i64 = 0;
/// Readings must be before this instant: 2200-01-01T00:00:00Z.
pub const END_READING_TS: i64 = 7_258_118_400;

/// A timestamp of an imported row, its format recognised per value: Unix seconds
/// (`1704038400`), RFC 3339 (`2024-01-01T00:00:00+08:00`) or a local date-time
/// `YYYY-MM-DD HH:MM[:SS]` (`T` also accepted between date and time) read in `tz`. It
/// must lie in [`FIRST_READING_TS`]`..`[`END_READING_TS`] (1970 to 2199): see
/// [`check_reading_ts`].
pub fn parse_timestamp(s: &str, tz: &Tz) -> Result<i64, String> {
    let b = s.as_bytes();
    let unsigned = b.strip_prefix(b"-").unwrap_or(b);
    let ts = if !unsigned.is_empty() && unsigned.iter().all(u8::is_ascii_digit) {
        s.parse::<i64>()
            .map_err(|e| format!("Unix seconds {s:?}: {e}"))?
    } else if let Some(dt) = local_datetime(b) {
        let dt = dt.map_err(|e| format!("{s:?}: {e}"))?;
        tz.instant(dt)?
    } else {
        rfc3339(s).map_err(|_| {
            format!("{s:?} is not Unix seconds, RFC 3339 or a local YYYY-MM-DD HH:MM[:SS]")
        })?
    };
    check_reading_ts(ts)
}

/// `ts` if it lies in the range readings may have (1970 to 2199 UTC); otherwise an error
/// that names it, and names the unit when it reads as a plausible date in milliseconds,
/// microseconds or nanoseconds (a common mistake in exports).
pub fn check_reading_ts(ts: i64) -> Result<i64, String> {
    let range = FIRST_READING_TS..END_READING_TS;
    if range.contains(&ts) {
        return Ok(ts);
    }
    let utc = |t: i64| Timestamp::from_second(t).map_or(t.to_string(), |t| t.to_string());
    // Seconds after 1973-03-03, a plausible start of a meter's records.
    const PLAUSIBLE: i64 = 100_000_000;
    let unit = [
        (1_000, "milliseconds"),
        (1_000_000, "microseconds"),
        (1_000_000_000, "nanoseconds"),
    ]
    .into_iter()
    .find(|&(d, _)| ts >= PLAUSIBLE * d && range.contains(&(ts / d)));
    Err(match unit {
        Some((d, name)) => format!(
            "timestamp {ts} looks like {name} since 1970 ({} s would be {}): give Unix seconds",
            ts / d,
            utc(ts / d)
        ),
        None => format!(
            "timestamp {ts} ({}) is outside the range readings may have, 1970-01-01 to \
             2199-12-31 UTC",
            utc(ts)
        ),
    })
}

/// `YYYY-MM-DD HH:MM[:SS]` (or with `T`) without an offset: `None` when the shape does not
/// match, an error when it matches but is no valid date-time.
fn local_datetime(b: &[u8]) -> Option<Result<DateTime, String>> {
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        let mut v = 0i32;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i32::from(c - b'0');
        }
        Some(v)
    };
    let shape = b.len() >= 16
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && (b.len() == 16 || (b.len() == 19 && b[16] == b':'));
    if !shape {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi) = (digits(11..13)?, digits(14..16)?);
    let s = if b.len() == 19 { digits(17..19)? } else { 0 };
    // Each part has at most four digits, so the narrowing casts cannot wrap.
    Some(
        DateTime::new(y as i16, mo as i8, d as i8, h as i8, mi as i8, s as i8, 0)
            .map_err(|e| e.to_string()),
    )
}
