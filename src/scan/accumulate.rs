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
    /// The same per local day (index into `Pieces::dates`), from the periodic paths that
    /// book floats; included in `class`. All zero unless `day_floats`.
    daily_class: Vec<[f64; 4]>,
    day_floats: bool,
    /// Per local day, the integer periodic kernel's sums over the blocks it cut into
    /// days, in units of [`Acc::day_scale`]: `(marked sum, total sum, marked count)`, as
    /// [`IntColumn::class_sums_cut`](crate::codec::ints::IntColumn::class_sums_cut) adds
    /// them. Not included in `class`: [`Acc::results`] converts them once per meter.
    day_sums: Vec<(i128, i128, u64)>,
    /// Per local day, the number of values summed into `day_sums`.
    day_values: Vec<u64>,
    /// The units of `day_sums`; `None` while they are all zero.
    day_scale: Option<DayScale>,
    /// Whether `day_sums` or `day_values` may hold anything ([`Acc::results`] takes them
    /// and leaves them zero, so the next meter need not clear them).
    day_dirty: bool,
    /// Whether any piece got data (else `energy` and `covered_s` are all zero).
    pub(super) pieces_used: bool,
}

/// How a block's integer sums become figures: energy is `sum / div * mult`, and each
/// value covers `step` seconds.
#[derive(Clone, Copy, PartialEq)]
pub(super) struct DayScale {
    pub(super) div: f64,
    pub(super) mult: f64,
    pub(super) step: i64,
}

impl DayScale {
    /// Class sums (as [`Acc::add_class`] takes them) of integer sums `(marked, total,
    /// marked count)` over `values` values.
    #[inline(always)]
    fn class(self, (d, t, c): (i128, i128, u64), values: u64) -> [f64; 4] {
        let (d, t) = (i128_to_f64(d), i128_to_f64(t));
        [
            d / self.div * self.mult,
            (t - d) / self.div * self.mult,
            (c as i64 * self.step) as f64,
            ((values - c) as i64 * self.step) as f64,
        ]
    }
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
            day_floats: true,
            day_sums: Vec::new(),
            day_values: Vec::new(),
            day_scale: None,
            day_dirty: true,
            pieces_used: true,
        }
    }

    /// Clears the accumulator for a scan over `n` pieces and `days` local days (0 without
    /// per-day results), keeping its allocations.
    pub(super) fn reset(&mut self, n: usize, days: usize) {
        // Per-day sums are cleared only where they were used.
        if self.day_floats || self.daily_class.len() != days {
            self.daily_class.clear();
            self.daily_class.resize(days, [0.0; 4]);
        }
        self.day_floats = false;
        if self.day_dirty || self.day_sums.len() != days {
            self.day_sums.clear();
            self.day_sums.resize(days, (0, 0, 0));
            self.day_values.clear();
            self.day_values.resize(days, 0);
        }
        self.day_dirty = false;
        self.day_scale = None;
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

    /// The integer sums of local days `first..first + n` in units of `scale`, for the
    /// periodic kernel to add a block's parts to (`sums`), with the number of values of
    /// each part (`values`). Sums kept in other units are converted into the float sums
    /// first (a meter whose blocks change their decimal scale).
    #[inline]
    pub(super) fn day_ints(
        &mut self,
        first: usize,
        n: usize,
        scale: DayScale,
    ) -> (&mut [(i128, i128, u64)], &mut [u64]) {
        if self.day_scale != Some(scale) {
            self.flush_day_ints();
            self.day_scale = Some(scale);
        }
        self.day_dirty = true;
        (
            &mut self.day_sums[first..first + n],
            &mut self.day_values[first..first + n],
        )
    }

    /// Moves the integer day sums into the float ones (day and total) and clears them.
    #[cold]
    fn flush_day_ints(&mut self) {
        let Some(scale) = self.day_scale.take() else {
            return;
        };
        for d in 0..self.day_sums.len() {
            let (s, v) = (self.day_sums[d], self.day_values[d]);
            if v > 0 {
                self.add_class(Some(d), scale.class(s, v));
            }
            self.day_sums[d] = (0, 0, 0);
            self.day_values[d] = 0;
        }
    }

    /// The meter's figures over the whole range, and with per-day results (`daily`: the
    /// expected hours of each local day) those of each local day with readings. Takes the
    /// integer day sums (they are left zero).
    pub(super) fn results(
        &mut self,
        pieces: &Pieces,
        expected: (f64, f64),
        daily: Option<&[(f64, f64)]>,
        threshold: f64,
    ) -> (DayNight, Vec<DailyDayNight>) {
        // The integer day sums over all days, for the total.
        let mut ints = IntSums::default();
        let rows = match daily {
            Some(expected) => self.daily(pieces, expected, threshold, &mut ints),
            None => {
                for d in 0..self.day_values.len() {
                    self.take_day(d, &mut ints);
                }
                Vec::new()
            }
        };
        self.day_dirty = false;
        let mut class = self.class;
        if let Some(scale) = self.day_scale {
            add4(&mut class, scale.class(ints.sums, ints.values));
        }
        let total = self.with_class(
            pieces,
            0..pieces.len(),
            self.pieces_used,
            expected,
            class,
            threshold,
        );
        (total, rows)
    }

    /// The class sums of local day `d`: the float ones plus the integer ones converted,
    /// which are taken (left zero) and added to `ints`; and whether it has any.
    #[inline(always)]
    fn take_day(&mut self, d: usize, ints: &mut IntSums) -> ([f64; 4], bool) {
        let (mut c, mut any) = ([0.0; 4], false);
        if self.day_floats {
            c = self.daily_class[d];
            any = c[2] + c[3] > 0.0 || c[0] != 0.0 || c[1] != 0.0;
        }
        let values = std::mem::take(&mut self.day_values[d]);
        if values > 0 {
            let s = std::mem::take(&mut self.day_sums[d]);
            if let Some(scale) = self.day_scale {
                ints.add(s, values);
                add4(&mut c, scale.class(s, values));
            }
            any = true;
        }
        (c, any)
    }

    /// The figures of each local day with readings, given each day's expected hours;
    /// the integer day sums are taken into `ints` on the way.
    fn daily(
        &mut self,
        pieces: &Pieces,
        expected: &[(f64, f64)],
        threshold: f64,
        ints: &mut IntSums,
    ) -> Vec<DailyDayNight> {
        let mut out = Vec::with_capacity(pieces.dates.len());
        if let (false, false, Some(scale)) = (self.pieces_used, self.day_floats, self.day_scale) {
            // Only integer day sums (the common case): a day is in the result when it has
            // values.
            let days = pieces.dates.iter().zip(expected);
            let sums = self.day_sums.iter_mut().zip(self.day_values.iter_mut());
            for ((&date, &(day_h, night_h)), (s, v)) in days.zip(sums) {
                if *v == 0 {
                    continue;
                }
                let (s, values) = (std::mem::take(s), std::mem::take(v));
                ints.add(s, values);
                out.push(DailyDayNight {
                    date,
                    stats: day_stats(scale.class(s, values), (day_h, night_h), threshold),
                });
            }
            return out;
        }
        if !self.pieces_used {
            // Only class sums: a day is in the result when it has some.
            for (d, (&date, &(day_h, night_h))) in pieces.dates.iter().zip(expected).enumerate() {
                let (c, any) = self.take_day(d, ints);
                if any {
                    out.push(DailyDayNight {
                        date,
                        stats: day_stats(c, (day_h, night_h), threshold),
                    });
                }
            }
            return out;
        }
        let mut j = 0;
        while j < pieces.len() {
            let d = pieces.day_idx[j] as usize;
            let start = j;
            while j < pieces.len() && pieces.day_idx[j] as usize == d {
                j += 1;
            }
            let (c, from_class) = self.take_day(d, ints);
            // Pieces are all zero unless some reading took the piece-by-piece path.
            let from_pieces = (start..j).any(|k| self.covered_s[k] > 0.0 || self.energy[k] != 0.0);
            if from_class || from_pieces {
                out.push(DailyDayNight {
                    date: pieces.dates[d],
                    stats: self.with_class(
                        pieces,
                        start..j,
                        from_pieces,
                        expected[d],
                        c,
                        threshold,
                    ),
                });
            }
        }
        out
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
        self.day_floats = true;
        add4(&mut self.daily_class[day], c);
    }

    /// Adds class sums (as [`Acc::add_class`] takes them) to the totals only.
    #[inline]
    pub(super) fn add_total(&mut self, c: [f64; 4]) {
        add4(&mut self.class, c);
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

/// Integer day sums added up over days: `(marked, total, marked count)` and values.
#[derive(Default)]
struct IntSums {
    sums: (i128, i128, u64),
    values: u64,
}

impl IntSums {
    #[inline(always)]
    fn add(&mut self, (d, t, c): (i128, i128, u64), values: u64) {
        self.sums.0 += d;
        self.sums.1 += t;
        self.sums.2 += c;
        self.values += values;
    }
}

/// The figures of a day with class sums `c` (as [`Acc::add_class`] takes them) and
/// `expected` (day, night) hours.
#[inline(always)]
fn day_stats(c: [f64; 4], expected: (f64, f64), threshold: f64) -> DayNight {
    DayNight {
        day_kwh: c[0],
        night_kwh: c[1],
        day_hours: c[2] / 3600.0,
        night_hours: c[3] / 3600.0,
        day_expected_hours: expected.0,
        night_expected_hours: expected.1,
        ..DayNight::default()
    }
    .finish(threshold)
}

/// `a += b`, element by element.
#[inline(always)]
fn add4(a: &mut [f64; 4], b: [f64; 4]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
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
