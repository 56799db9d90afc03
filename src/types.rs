//! The data model: readings, meters and their metadata, and time helpers.

use crate::error::{Error, Result};

/// What a meter's values measure. Day/night scans and alarms treat them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// Energy consumed during each interval (kWh per interval). The default.
    IntervalEnergy,
    /// A cumulative energy register (a kWh counter).
    CumulativeRegister,
    /// Average or instantaneous power (kW).
    Power,
    /// Anything else (voltage, current, power factor, ...).
    Other,
}

impl Quantity {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Quantity::IntervalEnergy => 0,
            Quantity::CumulativeRegister => 1,
            Quantity::Power => 2,
            Quantity::Other => 3,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Quantity> {
        Some(match b {
            0 => Quantity::IntervalEnergy,
            1 => Quantity::CumulativeRegister,
            2 => Quantity::Power,
            3 => Quantity::Other,
            _ => return None,
        })
    }
}

/// Metadata of one meter, persisted with the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterMeta {
    /// What the values measure.
    pub kind: Quantity,
    /// Interval in seconds for a regular series (readings on the grid `k * interval` of
    /// Unix time), `None` for an irregular one.
    pub interval_s: Option<u32>,
    /// Unit of the values, e.g. `"kWh"`.
    pub unit: String,
}

impl Default for MeterMeta {
    /// 15-minute interval energy in kWh: the Q/GDW 1376.1 default curve.
    fn default() -> Self {
        MeterMeta {
            kind: Quantity::IntervalEnergy,
            interval_s: Some(900),
            unit: "kWh".to_owned(),
        }
    }
}

/// One reading to append: the meter's external id, the start of the interval as UTC Unix
/// seconds, the value and its quality flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading<'a> {
    /// External meter id, e.g. a meter serial `"M000123"`.
    pub meter: &'a str,
    /// Start of the interval, UTC Unix seconds.
    pub ts: i64,
    /// The value; must be finite.
    pub value: f64,
    /// The quality flag of the value ([`Flag::Normal`] for an ordinary reading). The newest
    /// write of a (meter, timestamp) wins with its flag, so a resend with a corrected flag
    /// replaces the old one.
    pub flag: Flag,
}

impl<'a> Reading<'a> {
    /// A reading flagged [`Flag::Normal`].
    pub fn new(meter: &'a str, ts: i64, value: f64) -> Reading<'a> {
        Reading {
            meter,
            ts,
            value,
            flag: Flag::Normal,
        }
    }

    /// The same reading with quality flag `flag`.
    pub fn with_flag(self, flag: Flag) -> Reading<'a> {
        Reading { flag, ..self }
    }
}

/// The quality flag of a reading, as HJ 212 (the Chinese pollution-source monitoring
/// protocol) marks each value with its `-Flag` sub-item: one upper-case letter.
///
/// A store keeps one flag with every reading; readings that are all [`Flag::Normal`] cost
/// nothing extra on disk. The monitor leaves readings whose flag is
/// [`excluded_from_monitoring`](Flag::excluded_from_monitoring) out of its judgement and
/// out of the thresholds it learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flag {
    /// `N`: normal operation.
    #[default]
    Normal,
    /// `F`: the monitored facility is stopped.
    Stopped,
    /// `M`: the instrument is under maintenance.
    Maintenance,
    /// `S`: the value was entered by hand.
    Manual,
    /// `D`: the instrument is faulty.
    Fault,
    /// `C`: the instrument is being calibrated.
    Calibration,
    /// `T`: the value is over the instrument's limit.
    OverLimit,
    /// `B`: the instrument's communication failed.
    Communication,
}

impl Flag {
    /// Every flag, [`Flag::Normal`] first.
    pub const ALL: [Flag; 8] = [
        Flag::Normal,
        Flag::Stopped,
        Flag::Maintenance,
        Flag::Manual,
        Flag::Fault,
        Flag::Calibration,
        Flag::OverLimit,
        Flag::Communication,
    ];

    /// The HJ 212 letter: `N`, `F`, `M`, `S`, `D`, `C`, `T` or `B`.
    pub fn letter(self) -> char {
        match self {
            Flag::Normal => 'N',
            Flag::Stopped => 'F',
            Flag::Maintenance => 'M',
            Flag::Manual => 'S',
            Flag::Fault => 'D',
            Flag::Calibration => 'C',
            Flag::OverLimit => 'T',
            Flag::Communication => 'B',
        }
    }

    /// The flag of an HJ 212 letter. Only the upper-case letters are flags: HJ 212 writes
    /// them upper case, and a lower-case letter is more likely a damaged field than a
    /// flag, so it gives `None` like any other character.
    pub fn from_letter(c: char) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.letter() == c)
    }

    /// Whether the monitor leaves a reading with this flag out of its judgement, as it does
    /// readings inside a declared maintenance window: `M` (maintenance), `D` (fault), `C`
    /// (calibration) and `F` (stopped), the flags under which the instrument or the
    /// facility is declared not to be in its ordinary state.
    pub fn excluded_from_monitoring(self) -> bool {
        matches!(
            self,
            Flag::Maintenance | Flag::Fault | Flag::Calibration | Flag::Stopped
        )
    }

    /// The byte that stands for the flag in the log and in segments: its letter.
    pub(crate) fn to_byte(self) -> u8 {
        self.letter() as u8
    }

    /// The flag of a stored byte.
    pub(crate) fn from_byte(b: u8) -> Option<Flag> {
        Flag::from_letter(b as char)
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// A fixed offset from UTC, in seconds east of Greenwich.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UtcOffset(i32);

impl UtcOffset {
    /// UTC itself.
    pub const UTC: UtcOffset = UtcOffset(0);
    /// China Standard Time, UTC+08:00, the default for day/night windows.
    pub const CHINA: UtcOffset = UtcOffset(8 * 3600);

    /// An offset of `secs` seconds east of UTC; at most 25 hours either way.
    pub fn from_seconds(secs: i32) -> Result<UtcOffset> {
        if secs.abs() > 25 * 3600 {
            return Err(Error::InvalidArgument(format!(
                "UTC offset of {secs} s is out of range"
            )));
        }
        Ok(UtcOffset(secs))
    }

    /// Seconds east of UTC.
    pub fn seconds(self) -> i32 {
        self.0
    }

    /// Parses `+08:00`, `-05:30`, `+0800`, `+08` or `Z`.
    pub fn parse(s: &str) -> Result<UtcOffset> {
        let bad = || Error::InvalidArgument(format!("{s:?} is not a UTC offset like +08:00"));
        if s == "Z" || s == "z" {
            return Ok(UtcOffset::UTC);
        }
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+') => (1, &s[1..]),
            Some(b'-') => (-1, &s[1..]),
            _ => return Err(bad()),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) || !(digits.len() == 2 || digits.len() == 4)
        {
            return Err(bad());
        }
        let h: i32 = digits[..2].parse().map_err(|_| bad())?;
        let m: i32 = if digits.len() == 4 {
            digits[2..].parse().map_err(|_| bad())?
        } else {
            0
        };
        if m >= 60 {
            return Err(bad());
        }
        UtcOffset::from_seconds(sign * (h * 3600 + m * 60))
    }
}

impl std::fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.0 < 0 { '-' } else { '+' };
        let a = self.0.abs();
        write!(f, "{s}{:02}:{:02}", a / 3600, a % 3600 / 60)
    }
}

/// Start (UTC Unix seconds) of the calendar month after the one that holds `ts`, in the
/// local time of `offset`.
pub(crate) fn next_month_start(ts: i64, offset: UtcOffset) -> i64 {
    let local = ts.saturating_add(offset.0 as i64);
    let days = local.div_euclid(86_400);
    let (y, m, _) = civil_from_days(days);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(ny, nm, 1)
        .saturating_mul(86_400)
        .saturating_sub(offset.0 as i64)
}

/// Start (UTC Unix seconds) of the calendar month that holds `ts`, in `offset`'s local time.
pub(crate) fn month_start(ts: i64, offset: UtcOffset) -> i64 {
    let local = ts.saturating_add(offset.0 as i64);
    let (y, m, _) = civil_from_days(local.div_euclid(86_400));
    days_from_civil(y, m, 1)
        .saturating_mul(86_400)
        .saturating_sub(offset.0 as i64)
}

// Proleptic Gregorian conversions (Howard Hinnant's algorithms). Kept here rather than
// going through jiff because block cutting calls them for every block and must not fail
// for timestamps outside jiff's supported range.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_and_print() {
        for (s, secs) in [
            ("+08:00", 28_800),
            ("-05:30", -19_800),
            ("+0800", 28_800),
            ("+08", 28_800),
            ("Z", 0),
        ] {
            assert_eq!(UtcOffset::parse(s).unwrap().seconds(), secs, "{s}");
        }
        assert_eq!(UtcOffset::CHINA.to_string(), "+08:00");
        for bad in ["08:00", "+8:0", "+08:60", "+99:00", ""] {
            assert!(UtcOffset::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn month_boundaries_in_china_time() {
        // 2024-01-31T16:00:00Z is 2024-02-01T00:00 in +08:00.
        let feb1 = 1_706_716_800;
        assert_eq!(month_start(feb1, UtcOffset::CHINA), feb1);
        assert_eq!(month_start(feb1 - 1, UtcOffset::CHINA), 1_704_038_400);
        // 2024 is a leap year: March starts 29 days later.
        assert_eq!(next_month_start(feb1, UtcOffset::CHINA), feb1 + 29 * 86_400);
    }

    #[test]
    fn flag_letters_roundtrip_and_only_upper_case_is_a_flag() {
        let letters: String = Flag::ALL.iter().map(|f| f.letter()).collect();
        assert_eq!(letters, "NFMSDCTB");
        for f in Flag::ALL {
            assert_eq!(Flag::from_letter(f.letter()), Some(f));
            assert_eq!(Flag::from_byte(f.to_byte()), Some(f));
            assert_eq!(Flag::from_letter(f.letter().to_ascii_lowercase()), None);
        }
        for c in ['A', 'X', ' ', '0', 'Ｎ'] {
            assert_eq!(Flag::from_letter(c), None, "{c:?}");
        }
        let excluded: String = Flag::ALL
            .iter()
            .filter(|f| f.excluded_from_monitoring())
            .map(|f| f.letter())
            .collect();
        assert_eq!(excluded, "FMDC");
        assert_eq!(Flag::default(), Flag::Normal);
    }

    #[test]
    fn civil_roundtrip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
