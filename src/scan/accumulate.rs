//! Per-meter accumulation: energy and covered seconds per piece of the range, class sums
//! from the periodic kernel, and the fold of both into day/night figures.

use super::result::{DailyDayNight, DayNight};
use super::windows::Pieces;
use std::ops::Range;

/// Energy and covered seconds per piece of one meter, plus totals per class from the
/// periodic kernel (which does not split by piece).
pub(super) struct Acc {
    pub(super) energy: Vec<f64>,
    pub(super) covered_s: Vec<f64>,
    pub(super) readings: u64,
    /// Day energy, night energy, day covered seconds, night covered seconds.
    pub(super) class: [f64; 4],
    /// The same per local day (index into `Pieces::dates`), from the periodic kernel
    /// with per-day results; included in `class`.
    pub(super) daily_class: Vec<[f64; 4]>,
    /// Whether any piece got data (else `energy` and `covered_s` are all zero).
    pub(super) pieces_used: bool,
}

impl Acc {
    /// An accumulator with nothing allocated, to be [`Acc::reset`] before use.
    pub(super) fn new() -> Acc {
        Acc {
            energy: Vec::new(),
            covered_s: Vec::new(),
            readings: 0,
            class: [0.0; 4],
            daily_class: Vec::new(),
            pieces_used: true,
        }
    }

    /// Clears the accumulator for a scan over `n` pieces, keeping its allocations.
    pub(super) fn reset(&mut self, n: usize, days: usize) {
        self.daily_class.clear();
        self.daily_class.resize(days, [0.0; 4]);
        // Clearing a year of pieces for every meter costs as much as a meter's periodic
        // kernel; skip it when the previous meter left them untouched.
        if self.pieces_used || self.energy.len() != n {
            self.energy.clear();
            self.energy.resize(n, 0.0);
            self.covered_s.clear();
            self.covered_s.resize(n, 0.0);
        }
        self.pieces_used = false;
        self.readings = 0;
        self.class = [0.0; 4];
    }

    /// The whole range: every piece plus the class totals.
    pub(super) fn fold_total(
        &self,
        pieces: &Pieces,
        expected: (f64, f64),
        threshold: f64,
    ) -> DayNight {
        let all = 0..pieces.len();
        self.with_class(
            pieces,
            all,
            self.pieces_used,
            expected,
            self.class,
            threshold,
        )
    }

    /// The result over pieces `span`: folded from them when `from_pieces` (else they are all
    /// zero and only their `expected` hours count), plus class sums `c` (as
    /// [`Acc::add_class`] takes them).
    fn with_class(
        &self,
        pieces: &Pieces,
        span: Range<usize>,
        from_pieces: bool,
        expected: (f64, f64),
        c: [f64; 4],
        threshold: f64,
    ) -> DayNight {
        let mut d = match from_pieces {
            true => self.fold(pieces, span, f64::INFINITY),
            false => DayNight {
                day_expected_hours: expected.0,
                night_expected_hours: expected.1,
                ..DayNight::default()
            },
        };
        d.day_kwh += c[0];
        d.night_kwh += c[1];
        d.day_hours += c[2] / 3600.0;
        d.night_hours += c[3] / 3600.0;
        d.finish(threshold)
    }

    /// Adds class sums `[day energy, night energy, day s, night s]` for local day `day`
    /// (when per-day results are kept) and to the totals.
    #[inline]
    pub(super) fn add_class(&mut self, day: Option<usize>, c: [f64; 4]) {
        if let Some(d) = day {
            self.add_day(d, c);
        }
        self.add_total(c);
    }

    /// Adds class sums (as [`Acc::add_class`] takes them) for local day `day` only: the
    /// caller adds them to the totals, with [`Acc::add_total`].
    #[inline]
    pub(super) fn add_day(&mut self, day: usize, c: [f64; 4]) {
        for (a, b) in self.daily_class[day].iter_mut().zip(c) {
            *a += b;
        }
    }

    /// Adds class sums (as [`Acc::add_class`] takes them) to the totals only.
    #[inline]
    pub(super) fn add_total(&mut self, c: [f64; 4]) {
        for (a, b) in self.class.iter_mut().zip(c) {
            *a += b;
        }
    }

    fn fold(&self, pieces: &Pieces, span: impl Iterator<Item = usize>, threshold: f64) -> DayNight {
        let mut d = DayNight::default();
        for j in span {
            let len_h = pieces.hours(j);
            let (kwh, h) = (self.energy[j], self.covered_s[j] / 3600.0);
            if pieces.is_day[j] {
                d.day_kwh += kwh;
                d.day_hours += h;
                d.day_expected_hours += len_h;
            } else {
                d.night_kwh += kwh;
                d.night_hours += h;
                d.night_expected_hours += len_h;
            }
        }
        d.finish(threshold)
    }
}

/// Adds readings (sorted, unique) to the pieces holding their start, each with its energy
/// and covered seconds from `f(i)`.
pub(super) fn assign(
    pieces: &Pieces,
    ts: &[i64],
    acc: &mut Acc,
    mut f: impl FnMut(usize) -> Option<(f64, f64)>,
) {
    let mut j = 0usize;
    for (i, &t) in ts.iter().enumerate() {
        if t < pieces.cuts[0] {
            continue;
        }
        while j < pieces.len() && pieces.cuts[j + 1] <= t {
            j += 1;
        }
        if j >= pieces.len() {
            break;
        }
        if let Some((kwh, s)) = f(i) {
            acc.pieces_used = true;
            acc.energy[j] += kwh;
            acc.covered_s[j] += s;
            acc.readings += 1;
        }
    }
}

/// The exact integer sum of a decimal block's values from its index entry's `sum`, which
/// the writer stores as that integer (converted to `f64`) over the divisor `div` (a power
/// of ten up to 10^15, exact in `f64`). Below 2^49 in magnitude the integer comes back
/// exactly: both roundings together move it by at most a relative 2^-52, under 1/8; larger
/// sums give `None` (the caller sums the values instead).
pub(super) fn exact_total(sum: f64, div: f64) -> Option<i128> {
    let x = sum * div;
    // Rounded by adding a signed half and truncating (the integer is within 1/8), and
    // through i64: `round` and f64 to i128 are library calls.
    (x.abs() < (1u64 << 49) as f64).then(|| (x + 0.5f64.copysign(x)) as i64 as i128)
}

/// i128 to f64 is a slow library call; sums of metered data fit i64, so convert through
/// it and keep the wide path out of line.
#[inline]
pub(super) fn i128_to_f64(s: i128) -> f64 {
    #[cold]
    #[inline(never)]
    fn wide(s: i128) -> f64 {
        s as f64
    }
    let narrow = s as i64;
    if narrow as i128 == s {
        narrow as f64
    } else {
        wide(s)
    }
}

pub(super) fn daily(
    pieces: &Pieces,
    acc: &Acc,
    expected: &[(f64, f64)],
    threshold: f64,
) -> Vec<DailyDayNight> {
    let mut out = Vec::with_capacity(pieces.dates.len());
    if !acc.pieces_used {
        // Only the periodic kernel's class sums: a day is in the result when it has some.
        for (d, &c) in acc.daily_class.iter().enumerate() {
            if c[2] + c[3] > 0.0 || c[0] != 0.0 || c[1] != 0.0 {
                out.push(DailyDayNight {
                    date: pieces.dates[d],
                    stats: acc.with_class(pieces, 0..0, false, expected[d], c, threshold),
                });
            }
        }
        return out;
    }
    let mut j = 0;
    while j < pieces.len() {
        let d = pieces.day_idx[j];
        let start = j;
        while j < pieces.len() && pieces.day_idx[j] == d {
            j += 1;
        }
        let c = acc.daily_class.get(d as usize).copied().unwrap_or_default();
        let from_class = c[2] + c[3] > 0.0 || c[0] != 0.0 || c[1] != 0.0;
        // Pieces are all zero unless some reading took the piece-by-piece path.
        let from_pieces =
            acc.pieces_used && (start..j).any(|k| acc.covered_s[k] > 0.0 || acc.energy[k] != 0.0);
        if from_class || from_pieces {
            let day_expected = expected[d as usize];
            out.push(DailyDayNight {
                date: pieces.dates[d as usize],
                stats: acc.with_class(pieces, start..j, from_pieces, day_expected, c, threshold),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::exact_total;
    use crate::codec::values::ValueKind;
    use proptest::prelude::*;

    #[test]
    fn exact_totals_at_the_edges() {
        let edge = (1i64 << 49) - 1;
        for scale in 0u8..=15 {
            let div = ValueKind::Decimal { scale }.divisor().unwrap();
            for s in [
                0,
                1,
                -1,
                2,
                -2,
                5,
                -5,
                999,
                -999,
                edge,
                -edge,
                edge - 1,
                1 - edge,
            ] {
                assert_eq!(
                    exact_total(s as f64 / div, div),
                    Some(s as i128),
                    "{s} {scale}"
                );
            }
            assert_eq!(exact_total(-0.0, div), Some(0));
            assert_eq!(exact_total(f64::NAN, div), None);
            assert_eq!(exact_total(f64::INFINITY, div), None);
        }
    }

    proptest! {
        /// A block's exact integer sum comes back from its index entry's `sum` as the
        /// writer computes it (`i128` sum to `f64`, over the divisor), at every scale, up
        /// to 2^49 in magnitude; beyond 2^50 there is none.
        #[test]
        fn exact_totals_come_back_from_the_index_sum(
            s in -(1i64 << 49) + 1..(1i64 << 49),
            far in (1i64 << 50)..i64::MAX,
            scale in 0u8..=15,
        ) {
            let div = ValueKind::Decimal { scale }.divisor().unwrap();
            prop_assert_eq!(exact_total(s as i128 as f64 / div, div), Some(s as i128));
            for far in [far, -far] {
                prop_assert_eq!(exact_total(far as i128 as f64 / div, div), None);
            }
        }
    }
}
