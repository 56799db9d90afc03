//! Day/night windows in local time, turned into UTC cut points.
//!
//! A scan range `[from, to)` is cut at every local midnight and at every start and end of
//! the day window, in the scan's time zone. Each piece between two cuts is wholly day or
//! wholly night and lies in one local day, so a reading's class and day follow from the
//! piece that holds its interval start. Cuts are computed from the calendar in the zone
//! (through jiff), so 23- and 25-hour days and windows that cross midnight come out right.

use crate::error::{Error, Result};
use crate::types::UtcOffset;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Most local days one scan cuts (three cuts a day): a thousand years, more than any
/// store's [`Options::timestamp_range`](crate::Options::timestamp_range) allows by default.
const MAX_SCAN_DAYS: i64 = 366_000;

/// A time zone: a fixed offset or an IANA zone with daylight saving.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    name: String,
    /// Seconds east of UTC when the zone is a fixed offset.
    fixed: Option<i32>,
}

impl Zone {
    /// A fixed offset from UTC.
    pub fn fixed(offset: UtcOffset) -> Zone {
        let off = jiff::tz::Offset::from_seconds(offset.seconds()).unwrap_or(jiff::tz::Offset::UTC);
        Zone {
            tz: TimeZone::fixed(off),
            name: offset.to_string(),
            fixed: Some(off.seconds()),
        }
    }

    /// An IANA zone such as `Europe/London` (from the bundled tz database).
    pub fn iana(name: &str) -> Result<Zone> {
        let tz = TimeZone::get(name)
            .map_err(|e| Error::InvalidArgument(format!("time zone {name:?}: {e}")))?;
        Ok(Zone {
            tz,
            name: name.to_owned(),
            fixed: None,
        })
    }

    /// Parses `+08:00`-style offsets and `Area/City` names.
    pub fn parse(s: &str) -> Result<Zone> {
        if s.starts_with('+') || s.starts_with('-') || s == "Z" || s == "UTC" {
            let off = if s == "UTC" {
                UtcOffset::UTC
            } else {
                UtcOffset::parse(s)?
            };
            Ok(Zone::fixed(off))
        } else {
            Zone::iana(s)
        }
    }

    /// Seconds east of UTC when the zone is a fixed offset (no daylight saving).
    pub fn fixed_offset(&self) -> Option<i32> {
        self.fixed
    }

    /// The name this zone was made from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The jiff zone, for turning local civil times into instants.
    pub(crate) fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// Offset from UTC in force at `ts`, in seconds.
    pub fn offset_at(&self, ts: i64) -> i32 {
        match jiff::Timestamp::from_second(ts) {
            Ok(t) => self.tz.to_offset(t).seconds(),
            Err(_) => 0,
        }
    }

    /// The stretches of constant offset that cover `[from, to)`: `(first instant, offset
    /// in seconds)`, the first at `from`, in order.
    pub(crate) fn stretches(&self, from: i64, to: i64) -> Vec<(i64, i32)> {
        let mut out = vec![(from, self.offset_at(from))];
        if self.fixed.is_some() {
            return out;
        }
        let Ok(start) = jiff::Timestamp::from_second(from) else {
            return out;
        };
        for tr in self.tz.following(start) {
            let t = tr.timestamp().as_second();
            if t >= to {
                break;
            }
            let off = tr.offset().seconds();
            if t > from && out.last().is_some_and(|l| l.1 != off) {
                out.push((t, off));
            }
        }
        out
    }

    /// Local calendar date of `ts`.
    pub fn date_of(&self, ts: i64) -> Result<LocalDate> {
        Ok(LocalDate::from(self.civil_date(ts)?))
    }

    fn civil_date(&self, ts: i64) -> Result<Date> {
        let t = jiff::Timestamp::from_second(ts)
            .map_err(|e| Error::InvalidArgument(format!("timestamp {ts} out of range: {e}")))?;
        Ok(t.to_zoned(self.tz.clone()).date())
    }
}

/// A local calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalDate {
    /// Year.
    pub year: i16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of month, 1 to 31.
    pub day: u8,
}

impl From<Date> for LocalDate {
    fn from(d: Date) -> Self {
        LocalDate {
            year: d.year(),
            month: d.month() as u8,
            day: d.day() as u8,
        }
    }
}

impl std::fmt::Display for LocalDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The day window in local time, `[start, end)` in minutes after midnight. When `start`
/// is after `end` the window crosses midnight (day from `start` to `end` the next day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    start_min: u32,
    end_min: u32,
}

impl DayWindow {
    /// A window from `start` to `end`, given as minutes after local midnight (0..1440);
    /// they must differ.
    pub fn new(start_min: u32, end_min: u32) -> Result<DayWindow> {
        if start_min >= 1440 || end_min >= 1440 || start_min == end_min {
            return Err(Error::InvalidArgument(format!(
                "day window {start_min}-{end_min} min: both ends must be below 1440 and differ"
            )));
        }
        Ok(DayWindow { start_min, end_min })
    }

    /// Parses `HH:MM-HH:MM`, e.g. `08:00-20:00` or `22:00-06:00`.
    pub fn parse(s: &str) -> Result<DayWindow> {
        let bad = || Error::InvalidArgument(format!("{s:?} is not a window like 08:00-20:00"));
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let hm = |t: &str| -> Result<u32> {
            let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
            let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            Ok(h * 60 + m)
        };
        DayWindow::new(hm(a)?, hm(b)?)
    }

    /// Minutes after midnight when the day starts.
    pub fn start_min(&self) -> u32 {
        self.start_min
    }

    /// Minutes after midnight when the day ends.
    pub fn end_min(&self) -> u32 {
        self.end_min
    }

    /// Whether local minute-of-day `m` is in the day window (for a local time that
    /// exists once).
    pub fn contains_minute(&self, m: u32) -> bool {
        if self.start_min < self.end_min {
            m >= self.start_min && m < self.end_min
        } else {
            m >= self.start_min || m < self.end_min
        }
    }
}

impl Default for DayWindow {
    /// 08:00 to 20:00.
    fn default() -> Self {
        DayWindow {
            start_min: 8 * 60,
            end_min: 20 * 60,
        }
    }
}

impl std::fmt::Display for DayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = (self.start_min, self.end_min);
        write!(f, "{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60)
    }
}

/// Pieces of a scan range: `cuts[j]..cuts[j+1]` is piece `j`, with its class and local
/// day index (into `dates`).
#[derive(Debug, Clone)]
pub(crate) struct Pieces {
    pub cuts: Vec<i64>,
    pub is_day: Vec<bool>,
    pub day_idx: Vec<u32>,
    pub dates: Vec<LocalDate>,
}

impl Pieces {
    pub(crate) fn len(&self) -> usize {
        self.is_day.len()
    }

    /// Length of piece `j` in hours.
    pub(crate) fn hours(&self, j: usize) -> f64 {
        (self.cuts[j + 1] - self.cuts[j]) as f64 / 3600.0
    }

    /// Cuts `[from, to)` wherever the local date or the class (inside the day window or
    /// not) of the local time changes: at local midnights and window edges within each
    /// stretch of constant UTC offset, and where the offset changes. So a reading belongs
    /// to the piece of its start and the piece's class is that of its local time, also on
    /// days with daylight-saving changes (a window edge inside a skipped hour starts the
    /// day at the jump; one inside a repeated hour is crossed twice).
    pub(crate) fn new(from: i64, to: i64, window: DayWindow, zone: &Zone) -> Result<Pieces> {
        let mut cuts = vec![from];
        let mut days = 0i64;
        if from < to {
            let stretches = zone.stretches(from, to);
            let edges = [0, window.start_min as i64 * 60, window.end_min as i64 * 60];
            for (i, &(s, off)) in stretches.iter().enumerate() {
                let e = stretches.get(i + 1).map_or(to, |n| n.0);
                if s > from {
                    cuts.push(s);
                }
                let off = off as i64;
                let (d0, d1) = (
                    s.saturating_add(off).div_euclid(86_400),
                    (e - 1).saturating_add(off).div_euclid(86_400),
                );
                days += d1 - d0 + 1;
                if days > MAX_SCAN_DAYS {
                    return Err(Error::InvalidArgument(format!(
                        "a day/night scan over {from}..{to} spans more than {MAX_SCAN_DAYS} \
                         local days; scan a shorter range"
                    )));
                }
                for d in d0..=d1 {
                    for edge in edges {
                        let t = d
                            .saturating_mul(86_400)
                            .saturating_add(edge)
                            .saturating_sub(off);
                        if t > s && t < e {
                            cuts.push(t);
                        }
                    }
                }
            }
            cuts.sort_unstable();
            cuts.dedup();
        }
        cuts.push(to);
        let n = cuts.len() - 1;
        let (mut is_day, mut day_idx) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut dates: Vec<LocalDate> = Vec::new();
        for &start in &cuts[..n] {
            let local = start.saturating_add(zone.offset_at(start) as i64);
            is_day.push(window.contains_minute((local.rem_euclid(86_400) / 60) as u32));
            let date = zone.date_of(start)?;
            if dates.last() != Some(&date) {
                dates.push(date);
            }
            day_idx.push(dates.len() as u32 - 1);
        }
        Ok(Pieces {
            cuts,
            is_day,
            day_idx,
            dates,
        })
    }
}

#[cfg(test)]
mod tests;
