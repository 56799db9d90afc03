//! What `import_csv` infers about meters new to the store: the interval from the grid of
//! each meter's timestamps (found in the validating pass), and the quantity and unit from
//! a `kw` / `kwh` suffix of the value column's name or of the meter id; each can be
//! overridden.

use meterstore::{MeterMeta, Quantity};
use std::collections::BTreeMap;
use std::fmt;

/// Distinct steps kept per meter; a meter with more distinct steps is irregular anyway.
const MAX_STEPS: usize = 32;

/// Share of the steps between consecutive readings of a meter that must equal the most
/// common one for it to be the meter's interval: scattered gaps of up to a quarter of the
/// readings leave well over half the steps at the interval, while readings at random
/// minutes spread their steps over many values.
pub const MIN_STEP_SHARE: f64 = 0.5;

/// The timestamps of one meter, as far as the interval goes.
#[derive(Debug, Clone, Default)]
pub struct GridStats {
    /// Greatest common divisor of every timestamp (0 before the first).
    gcd: u64,
    last: Option<i64>,
    /// Distinct positive steps between consecutive readings (file order), with counts.
    steps: Vec<(u64, u64)>,
    /// Steps not kept in `steps`.
    other_steps: u64,
    readings: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl GridStats {
    /// Adds a reading's timestamp.
    pub fn add(&mut self, ts: i64) {
        self.readings += 1;
        self.gcd = gcd(self.gcd, ts.unsigned_abs());
        if let Some(last) = self.last {
            let step = ts.abs_diff(last);
            if step > 0 {
                let full = self.steps.len() >= MAX_STEPS;
                match self.steps.iter_mut().find(|s| s.0 == step) {
                    Some(s) => s.1 += 1,
                    None if full => self.other_steps += 1,
                    None => self.steps.push((step, 1)),
                }
            }
        }
        self.last = Some(ts);
    }

    /// The interval: the most common step (the smaller of equals) when at least
    /// [`MIN_STEP_SHARE`] of the steps are that step and every timestamp lies on its grid
    /// (a multiple of it, as the store's grid is); `None` (irregular) otherwise, or with
    /// fewer than two distinct timestamps.
    pub fn interval(&self) -> Option<u32> {
        let &(step, n) = self
            .steps
            .iter()
            .max_by_key(|s| (s.1, std::cmp::Reverse(s.0)))?;
        let total: u64 = self.steps.iter().map(|s| s.1).sum::<u64>() + self.other_steps;
        let on_grid = self.gcd.is_multiple_of(step);
        let common = n as f64 >= MIN_STEP_SHARE * total as f64;
        (on_grid && common)
            .then(|| u32::try_from(step).ok())
            .flatten()
    }
}

/// What the tool may assume of meters new to the store; `None` fields are inferred.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewMeterDefaults {
    /// Interval of every new meter, seconds (`Some(None)` for irregular).
    pub interval_s: Option<Option<u32>>,
    /// Quantity of every new meter.
    pub kind: Option<Quantity>,
    /// Unit of every new meter.
    pub unit: Option<String>,
}

/// The quantity and unit a name's `kw` or `kwh` ending (after the last `.`, `_`, `-` or
/// space, or the whole name) says: power in kW or interval energy in kWh.
pub fn unit_hint(name: &str) -> Option<(Quantity, &'static str)> {
    let last = name
        .rsplit(['.', '_', '-', ' '])
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    match last.as_str() {
        "kw" => Some((Quantity::Power, "kW")),
        "kwh" => Some((Quantity::IntervalEnergy, "kWh")),
        _ => None,
    }
}

/// Where an inferred field came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Given on the command line.
    Flag,
    /// The timestamps' grid (interval) or a name's suffix (kind and unit).
    Data,
    /// Nothing said otherwise: 15-minute interval energy in kWh.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "given",
            Source::Data => "from the data",
            Source::Default => "default",
        })
    }
}

/// The metadata of a new meter and where each part came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    /// The metadata the meter is registered with.
    pub meta: MeterMeta,
    /// Source of the interval.
    pub interval_from: Source,
    /// Source of the kind and unit.
    pub kind_from: Source,
}

/// Decides a new meter's metadata: the flags first, then the data (`stats`, when the file
/// holds readings of it, and the names' suffixes), then the default.
pub fn infer(
    id: &str,
    value_column: &str,
    stats: Option<&GridStats>,
    flags: &NewMeterDefaults,
) -> Inferred {
    let default = MeterMeta::default();
    let (interval_s, interval_from) = match (flags.interval_s, stats) {
        (Some(iv), _) => (iv, Source::Flag),
        (None, Some(s)) if s.readings > 0 => (s.interval(), Source::Data),
        (None, _) => (default.interval_s, Source::Default),
    };
    let hint = unit_hint(value_column).or_else(|| unit_hint(id));
    let (kind, unit, kind_from) = match (flags.kind, &flags.unit, hint) {
        (Some(k), Some(u), _) => (k, u.clone(), Source::Flag),
        (Some(k), None, _) => (k, default.unit.clone(), Source::Flag),
        (None, Some(u), Some((k, _))) => (k, u.clone(), Source::Flag),
        (None, Some(u), None) => (default.kind, u.clone(), Source::Flag),
        (None, None, Some((k, u))) => (k, u.to_owned(), Source::Data),
        (None, None, None) => (default.kind, default.unit.clone(), Source::Default),
    };
    Inferred {
        meta: MeterMeta {
            kind,
            interval_s,
            unit,
        },
        interval_from,
        kind_from,
    }
}

/// New meters grouped by what they were registered with, for the report.
pub fn groups(new: &[(String, Inferred)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, inf) in new {
        let iv = match inf.meta.interval_s {
            Some(s) => format!("{s} s interval"),
            None => "irregular".to_owned(),
        };
        let key = format!(
            "{iv} ({}), {} in {} ({})",
            inf.interval_from,
            meterstore::monitor::kind_name(inf.meta.kind),
            inf.meta.unit,
            inf.kind_from
        );
        out.entry(key).or_default().push(id.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(ts: impl IntoIterator<Item = i64>) -> GridStats {
        let mut s = GridStats::default();
        ts.into_iter().for_each(|t| s.add(t));
        s
    }

    #[test]
    fn grid_of_regular_gappy_and_irregular_meters() {
        let t0 = 1_704_038_400;
        for iv in [60, 300, 900, 1800, 3600] {
            // Every fifth reading missing, and one run of ten.
            let ts = (0..500)
                .filter(|k| k % 5 != 3 && !(100..110).contains(k))
                .map(|k| t0 + k * iv);
            assert_eq!(stats(ts).interval(), Some(iv as u32), "{iv}");
        }
        // Off the epoch grid of their step: irregular.
        assert_eq!(stats((0..50).map(|k| t0 + 7 + k * 900)).interval(), None);
        // Random seconds: irregular.
        let mut x = 1u64;
        let ts = (0..500).map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            t0 + (x >> 40) as i64 % 100_000
        });
        let mut v: Vec<i64> = ts.collect();
        v.sort();
        assert_eq!(stats(v).interval(), None);
        assert_eq!(stats([t0]).interval(), None);
    }

    #[test]
    fn suffixes_and_flags() {
        assert_eq!(unit_hint("hh.active_kw"), Some((Quantity::Power, "kW")));
        assert_eq!(unit_hint("kwh"), Some((Quantity::IntervalEnergy, "kWh")));
        assert_eq!(unit_hint("value"), None);
        let s = stats((0..10).map(|k| k * 60));
        let i = infer(
            "hh.active_kw",
            "value",
            Some(&s),
            &NewMeterDefaults::default(),
        );
        assert_eq!(
            (i.meta.interval_s, i.meta.kind, i.interval_from, i.kind_from),
            (Some(60), Quantity::Power, Source::Data, Source::Data)
        );
        let flags = NewMeterDefaults {
            interval_s: Some(Some(900)),
            kind: Some(Quantity::CumulativeRegister),
            unit: None,
        };
        let i = infer("hh.active_kw", "value", Some(&s), &flags);
        assert_eq!(
            (i.meta.interval_s, i.meta.kind, i.meta.unit.as_str()),
            (Some(900), Quantity::CumulativeRegister, "kWh")
        );
    }
}
