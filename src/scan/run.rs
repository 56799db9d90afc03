//! The scan driver: result types, meter selection, per-meter accumulation over pieces, the
//! fast path over packed blocks and the general path over merged readings.

use super::kernel::{ClassMask, PhaseRun};
use super::windows::{DayWindow, LocalDate, Pieces, Zone};
use crate::codec::timestamps::{Missing, SlotRanks, TsColumn};
use crate::codec::values::ValueKind;
use crate::engine::read::{for_each_source_span, prefetch_sources, spans_disjoint};
use crate::error::{Error, Result};
use crate::store::{collect_runs, merge_runs, State, Store};
use crate::types::{MeterMeta, Quantity};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Longest time one reading of an irregular meter is taken to cover (seconds). Q: why an
/// hour? A: a longer silence is a gap, not a reading that lasted; an hour is four times
/// the default 15-minute interval.
pub const MAX_IRREGULAR_COVER_S: i64 = 3600;

/// Parameters of a day/night scan.
#[derive(Debug, Clone)]
pub struct DayNightScan {
    /// The day window in local time. Default 08:00-20:00.
    pub window: DayWindow,
    /// The zone of the window and of local days. Default UTC+08:00.
    pub zone: Zone,
    /// Flag when average night power exceeds average day power by more than this factor.
    /// Default 1.5.
    pub threshold: f64,
    /// Also report every local day. Default false.
    pub daily: bool,
    /// Worker threads; 0 = one per available core. Default 0.
    pub threads: usize,
}

impl Default for DayNightScan {
    fn default() -> Self {
        DayNightScan {
            window: DayWindow::default(),
            zone: Zone::fixed(crate::types::UtcOffset::CHINA),
            threshold: 1.5,
            daily: false,
            threads: 0,
        }
    }
}

/// Which meters a scan covers.
pub enum MeterFilter<'a> {
    /// Every registered meter.
    All,
    /// These external ids; an unknown one is an error.
    Ids(&'a [String]),
    /// Meters whose id and metadata satisfy the predicate.
    Where(&'a (dyn Fn(&str, &MeterMeta) -> bool + Sync)),
}

/// Day/night figures of one meter (or enterprise) over a span.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DayNight {
    /// Energy in the day window, kWh.
    pub day_kwh: f64,
    /// Energy outside the day window, kWh.
    pub night_kwh: f64,
    /// Hours of the day window covered by readings.
    pub day_hours: f64,
    /// Hours of the night covered by readings.
    pub night_hours: f64,
    /// Hours of the day window in the span.
    pub day_expected_hours: f64,
    /// Hours of night in the span.
    pub night_expected_hours: f64,
    /// Average day power, kW: day energy over covered day hours; `None` without coverage.
    pub day_kw: Option<f64>,
    /// Average night power, kW.
    pub night_kw: Option<f64>,
    /// `night_kw / day_kw`; `None` when either is missing or day power is zero.
    pub ratio: Option<f64>,
    /// `ratio > threshold`.
    pub flagged: bool,
}

impl DayNight {
    fn finish(mut self, threshold: f64) -> DayNight {
        self.day_kw = (self.day_hours > 0.0).then(|| self.day_kwh / self.day_hours);
        self.night_kw = (self.night_hours > 0.0).then(|| self.night_kwh / self.night_hours);
        self.ratio = match (self.day_kw, self.night_kw) {
            (Some(d), Some(n)) if d > 0.0 => Some(n / d),
            _ => None,
        };
        self.flagged = self.ratio.is_some_and(|r| r > threshold);
        self
    }
}

/// One local day of a meter or enterprise.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyDayNight {
    /// The local date.
    pub date: LocalDate,
    /// Its figures.
    pub stats: DayNight,
}

/// Scan result of one meter.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterDayNight {
    /// External meter id.
    pub meter: String,
    /// Over the whole range.
    pub total: DayNight,
    /// Per local day (when [`DayNightScan::daily`]), days with readings only.
    pub daily: Vec<DailyDayNight>,
}

/// Scan result of one enterprise: its production meters combined.
#[derive(Debug, Clone, PartialEq)]
pub struct EnterpriseDayNight {
    /// Enterprise id.
    pub enterprise: String,
    /// Member meters that had readings.
    pub meters: Vec<String>,
    /// Over the whole range.
    pub total: DayNight,
    /// Per local day, when the meter results have them.
    pub daily: Vec<DailyDayNight>,
}

impl EnterpriseDayNight {
    /// Combines meter results by enterprise. `membership` maps a meter id to its
    /// enterprise; meters not in it are left out. Energies add up; average powers add up
    /// (the enterprise's load is the sum of its meters' loads), so the ratio compares the
    /// enterprise's night load with its day load; covered hours are the members' mean.
    /// Sorted by enterprise id.
    pub fn aggregate(
        meters: &[MeterDayNight],
        membership: &HashMap<String, String>,
        threshold: f64,
    ) -> Vec<EnterpriseDayNight> {
        let mut by: BTreeMap<&str, Vec<&MeterDayNight>> = BTreeMap::new();
        for m in meters {
            if let Some(e) = membership.get(&m.meter) {
                by.entry(e.as_str()).or_default().push(m);
            }
        }
        by.into_iter()
            .map(|(e, ms)| {
                let total = combine(ms.iter().map(|m| &m.total), threshold);
                let mut days: BTreeMap<LocalDate, Vec<&DayNight>> = BTreeMap::new();
                for m in &ms {
                    for d in &m.daily {
                        days.entry(d.date).or_default().push(&d.stats);
                    }
                }
                let daily = days
                    .into_iter()
                    .map(|(date, s)| DailyDayNight {
                        date,
                        stats: combine(s.into_iter(), threshold),
                    })
                    .collect();
                EnterpriseDayNight {
                    enterprise: e.to_owned(),
                    meters: ms.iter().map(|m| m.meter.clone()).collect(),
                    total,
                    daily,
                }
            })
            .collect()
    }
}

fn combine<'a>(parts: impl Iterator<Item = &'a DayNight>, threshold: f64) -> DayNight {
    let mut out = DayNight::default();
    let (mut n, mut day_kw, mut night_kw) = (0usize, None::<f64>, None::<f64>);
    for p in parts {
        n += 1;
        out.day_kwh += p.day_kwh;
        out.night_kwh += p.night_kwh;
        out.day_hours += p.day_hours;
        out.night_hours += p.night_hours;
        out.day_expected_hours = out.day_expected_hours.max(p.day_expected_hours);
        out.night_expected_hours = out.night_expected_hours.max(p.night_expected_hours);
        if let Some(d) = p.day_kw {
            day_kw = Some(day_kw.unwrap_or(0.0) + d);
        }
        if let Some(x) = p.night_kw {
            night_kw = Some(night_kw.unwrap_or(0.0) + x);
        }
    }
    if n > 0 {
        out.day_hours /= n as f64;
        out.night_hours /= n as f64;
    }
    out.day_kw = day_kw;
    out.night_kw = night_kw;
    out.ratio = match (day_kw, night_kw) {
        (Some(d), Some(x)) if d > 0.0 => Some(x / d),
        _ => None,
    };
    out.flagged = out.ratio.is_some_and(|r| r > threshold);
    out
}

/// Energy and covered seconds per piece of one meter, plus totals per class from the
/// periodic kernel (which does not split by piece).
struct Acc {
    energy: Vec<f64>,
    covered_s: Vec<f64>,
    readings: u64,
    /// Day energy, night energy, day covered seconds, night covered seconds.
    class: [f64; 4],
    /// The same per local day (index into `Pieces::dates`), from the periodic kernel
    /// with per-day results; included in `class`.
    daily_class: Vec<[f64; 4]>,
    /// Whether any piece got data (else `energy` and `covered_s` are all zero).
    pieces_used: bool,
}

impl Acc {
    /// Clears the accumulator for a scan over `n` pieces, keeping its allocations.
    fn reset(&mut self, n: usize, days: usize) {
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
    fn fold_total(&self, p: &Pieces, expected: (f64, f64), threshold: f64) -> DayNight {
        let pieces = 0..p.len();
        self.with_class(p, pieces, self.pieces_used, expected, self.class, threshold)
    }

    /// The result over `pieces`: folded from them when `from_pieces` (else they are all
    /// zero and only their `expected` hours count), plus class sums `c` (as
    /// [`Acc::add_class`] takes them).
    fn with_class(
        &self,
        p: &Pieces,
        pieces: Range<usize>,
        from_pieces: bool,
        expected: (f64, f64),
        c: [f64; 4],
        threshold: f64,
    ) -> DayNight {
        let mut d = match from_pieces {
            true => self.fold(p, pieces, f64::INFINITY),
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
    fn add_class(&mut self, day: Option<usize>, c: [f64; 4]) {
        if let Some(d) = day {
            for (a, b) in self.daily_class[d].iter_mut().zip(c) {
                *a += b;
            }
        }
        for (a, b) in self.class.iter_mut().zip(c) {
            *a += b;
        }
    }

    fn fold(&self, p: &Pieces, pieces: impl Iterator<Item = usize>, threshold: f64) -> DayNight {
        let mut d = DayNight::default();
        for j in pieces {
            let len_h = p.hours(j);
            let (e, h) = (self.energy[j], self.covered_s[j] / 3600.0);
            if p.is_day[j] {
                d.day_kwh += e;
                d.day_hours += h;
                d.day_expected_hours += len_h;
            } else {
                d.night_kwh += e;
                d.night_hours += h;
                d.night_expected_hours += len_h;
            }
        }
        d.finish(threshold)
    }
}

/// Adds readings (sorted, unique) to the pieces holding their start, each with its energy
/// and covered seconds from `f(i)`.
fn assign(p: &Pieces, ts: &[i64], acc: &mut Acc, mut f: impl FnMut(usize) -> Option<(f64, f64)>) {
    let mut j = 0usize;
    for (i, &t) in ts.iter().enumerate() {
        if t < p.cuts[0] {
            continue;
        }
        while j < p.len() && p.cuts[j + 1] <= t {
            j += 1;
        }
        if j >= p.len() {
            break;
        }
        if let Some((e, s)) = f(i) {
            acc.pieces_used = true;
            acc.energy[j] += e;
            acc.covered_s[j] += s;
            acc.readings += 1;
        }
    }
}

/// General path: merged readings of every source, one at a time.
fn scan_merged(st: &State, meter: u32, meta: &MeterMeta, p: &Pieces, acc: &mut Acc) -> Result<()> {
    let range = p.cuts[0]..p.cuts[p.len()];
    // A cumulative register needs the reading after the range end for the last difference.
    let read_range = match meta.kind {
        Quantity::CumulativeRegister => {
            range.start
                ..range.end.saturating_add(
                    MAX_IRREGULAR_COVER_S.max(meta.interval_s.unwrap_or(0) as i64) + 1,
                )
        }
        _ => range.clone(),
    };
    let (ts, vals) = merge_runs(collect_runs(st, meter, &read_range, |_, _| false)?);
    let cover = |i: usize| -> Option<i64> {
        match meta.interval_s {
            Some(s) => Some(s as i64),
            None => {
                let gap = match ts.get(i + 1) {
                    Some(n) => n - ts[i],
                    None if i > 0 => ts[i] - ts[i - 1],
                    None => return None,
                };
                Some(gap.min(MAX_IRREGULAR_COVER_S))
            }
        }
    };
    match meta.kind {
        Quantity::IntervalEnergy => assign(p, &ts, acc, |i| Some((vals[i], cover(i)? as f64))),
        Quantity::Power => assign(p, &ts, acc, |i| {
            let s = cover(i)? as f64;
            Some((vals[i] * s / 3600.0, s))
        }),
        Quantity::CumulativeRegister => assign(p, &ts, acc, |i| {
            let next = *ts.get(i + 1)?;
            let gap = next - ts[i];
            let ok = match meta.interval_s {
                Some(s) => gap == s as i64,
                None => gap <= MAX_IRREGULAR_COVER_S,
            };
            let diff = vals[i + 1] - vals[i];
            // Across a gap the energy's spread is unknown; a negative step is a rollover or
            // meter replacement. Both are left out rather than guessed.
            (ok && diff >= 0.0).then_some((diff, gap as f64))
        }),
        Quantity::Other => {}
    }
    Ok(())
}

/// Calls `f(first value index, first slot, length)` for each gap-free run of a regular
/// block with `slots` slots, in order.
fn present_runs(missing: &Missing<'_>, slots: u32, mut f: impl FnMut(usize, u32, usize)) {
    match missing {
        Missing::None => f(0, 0, slots as usize),
        Missing::Runs(runs) => {
            let (mut v, mut k) = (0usize, 0u32);
            for (first, len) in runs.iter() {
                if first > k {
                    f(v, k, (first - k) as usize);
                    v += (first - k) as usize;
                }
                k = first + len;
            }
            if k < slots {
                f(v, k, (slots - k) as usize);
            }
        }
        Missing::Bitmap(bm) => {
            let present = |k: u32| bm[k as usize / 8] >> (k % 8) & 1 == 1;
            let (mut v, mut k) = (0usize, 0u32);
            while k < slots {
                if !present(k) {
                    k += 1;
                    continue;
                }
                let first = k;
                while k < slots && present(k) {
                    k += 1;
                }
                f(v, first, (k - first) as usize);
                v += (k - first) as usize;
            }
        }
    }
}

/// The first slot of a grid of `step` seconds (slot `g` at `g * step`) at or after `t`.
fn slot_at_or_after(t: i64, step: i64) -> i64 {
    t.div_euclid(step) + (t.rem_euclid(step) != 0) as i64
}

/// Number of values in part `i` of `0..n` cut at `cuts`.
fn t_count(cuts: &[usize], i: usize, n: usize) -> u64 {
    let lo = if i == 0 { 0 } else { cuts[i - 1] };
    let hi = cuts.get(i).copied().unwrap_or(n);
    (hi - lo) as u64
}

/// The exact integer sum of a decimal block's values from its index entry's `sum`, which
/// the writer stores as that integer (converted to `f64`) over the divisor `div` (a power
/// of ten up to 10^15, exact in `f64`). Below 2^49 in magnitude the integer comes back
/// exactly: both roundings together move it by at most a relative 2^-52, under 1/8; larger
/// sums give `None` (the caller sums the values instead).
fn exact_total(sum: f64, div: f64) -> Option<i128> {
    let x = sum * div;
    // Rounded by adding a signed half and truncating (the integer is within 1/8), and
    // through i64: `round` and f64 to i128 are library calls.
    (x.abs() < (1u64 << 49) as f64).then(|| (x + 0.5f64.copysign(x)) as i64 as i128)
}

/// i128 to f64 is a slow library call; sums of metered data fit i64, so convert through
/// it and keep the wide path out of line.
#[inline]
fn i128_to_f64(s: i128) -> f64 {
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

/// The day/night pattern over one day of grid slots, with the stretches of constant UTC
/// offset of the scanned range: slot `g` of Unix time (`t = g * step`) in a stretch whose
/// offset is `shift` slots has phase `(g + shift) % period`, marked when it is day. A fixed
/// offset has one stretch; a zone with daylight saving one per change of offset, so a
/// reading is classed by the local time of its start either way.
struct Periodic {
    /// `(first grid slot, shift)` of each stretch, in order; the first from the start.
    shifts: Vec<(i64, i64)>,
    mask: ClassMask,
    /// With per-day results: the first grid slot of each local date after the first of
    /// the pieces (a reading at slot `g` is on date `#(day_slots <= g)`).
    day_slots: Option<Vec<i64>>,
}

impl Periodic {
    /// The pattern for meters of interval `step` s over `range`; `None` unless the step
    /// divides a day and every offset in force is a whole number of steps.
    fn new(
        step: u32,
        window: DayWindow,
        zone: &Zone,
        pieces: &Pieces,
        daily: bool,
    ) -> Option<Periodic> {
        let range = pieces.cuts[0]..pieces.cuts[pieces.len()];
        let step = step as i64;
        if 86_400 % step != 0 {
            return None;
        }
        // Each change of offset starts a stretch at the first grid slot at or after it.
        let shifts = zone
            .stretches(range.start, range.end)
            .into_iter()
            .map(|(t, off)| {
                let off = off as i64;
                (off.rem_euclid(step) == 0).then_some((slot_at_or_after(t, step), off / step))
            })
            .collect::<Option<Vec<_>>>()?;
        let period = (86_400 / step) as usize;
        let (a, b) = (window.start_min() as i64 * 60, window.end_min() as i64 * 60);
        let is_day: Vec<bool> = (0..period)
            .map(|p| {
                let s = p as i64 * step;
                if a < b {
                    s >= a && s < b
                } else {
                    s >= a || s < b
                }
            })
            .collect();
        let day_slots = daily.then(|| {
            (1..pieces.len())
                .filter(|&j| pieces.day_idx[j] != pieces.day_idx[j - 1])
                .map(|j| slot_at_or_after(pieces.cuts[j], step))
                .collect()
        });
        Some(Periodic {
            shifts,
            mask: ClassMask::new(&is_day),
            day_slots,
        })
    }

    /// Appends the phase runs of `len` values at grid slots `g..g + len` (no gaps), the
    /// first being value `v0` of its column: one run, cut where the offset changes.
    fn push_runs(&self, v0: usize, g: i64, len: usize, out: &mut Vec<PhaseRun>) {
        let phase = |slot: i64, shift: i64| self.mask.phase_of(slot + shift);
        // A fixed offset: one stretch, no search.
        if let [(_, shift)] = self.shifts[..] {
            out.push(PhaseRun {
                start: v0,
                phase: phase(g, shift),
            });
            return;
        }
        let i = self.shifts.partition_point(|s| s.0 <= g).saturating_sub(1);
        out.push(PhaseRun {
            start: v0,
            phase: phase(g, self.shifts[i].1),
        });
        for &(at, shift) in self.shifts[i + 1..]
            .iter()
            .take_while(|s| s.0 < g + len as i64)
        {
            out.push(PhaseRun {
                start: v0 + (at - g) as usize,
                phase: phase(at, shift),
            });
        }
    }
}

/// Per meter interval: the first grid slot at or after each cut, and the periodic pattern
/// when it applies.
type Grids = HashMap<u32, (Vec<i64>, Option<Periodic>)>;

/// Scratch buffers reused across a worker's meters.
#[derive(Default)]
struct Scratch {
    zstd: Vec<u8>,
    ints: Vec<i64>,
    ts: Vec<i64>,
    vals: Vec<f64>,
    bounds: Vec<usize>,
    sums: Vec<i128>,
    phase_runs: Vec<PhaseRun>,
    cut_values: Vec<usize>,
    class_out: Vec<(i128, i128, u64)>,
}

/// Fast path, one stored block `b` of segment `k` of a regular interval-energy or power
/// meter whose sources do not overlap: summed straight from its packed values, by the
/// periodic kernel or piece by piece. `grid[j]` is the first grid
/// slot (Unix time / step, rounded up) at or after cut `j`.
#[allow(clippy::too_many_arguments)]
fn scan_block(
    st: &State,
    (k, b): (usize, usize),
    step: i64,
    mult: f64,
    p: &Pieces,
    (grid, periodic): (&[i64], Option<&Periodic>),
    acc: &mut Acc,
    sc: &mut Scratch,
) -> Result<()> {
    let range = p.cuts[0]..p.cuts[p.len()];
    let seg = &st.segments[k];
    let e = seg.blocks()[b];
    let Scratch {
        zstd,
        ints,
        ts,
        vals,
        bounds,
        sums,
        phase_runs,
        cut_values,
        class_out,
        ..
    } = &mut *sc;
    let done = seg.with_block(b, zstd, |v| -> bool {
        let (
            ValueKind::Decimal { .. },
            TsColumn::Regular {
                start,
                step: bstep,
                slots,
                missing,
            },
        ) = (v.kind, &v.ts)
        else {
            return false;
        };
        if *bstep as i64 != step || start.rem_euclid(step) != 0 {
            return false;
        }
        let div = v.kind.divisor().unwrap_or(1.0);
        let inside = e.t_first >= range.start && e.t_last < range.end;
        if let (Some(per), true, false) = (periodic, inside, v.ints.is_delta()) {
            let g0 = start.div_euclid(step);
            phase_runs.clear();
            present_runs(missing, *slots, |v0, k0, len| {
                per.push_runs(v0, g0 + k0 as i64, len, phase_runs)
            });
            let n = v.ints.len();
            // With per-day results, cut the values at local midnights.
            let first_day = per.day_slots.as_ref().map(|ds| {
                let ranks = SlotRanks::new(missing);
                let i = ds.partition_point(|&d| d <= g0);
                cut_values.clear();
                cut_values.extend(
                    ds[i..]
                        .iter()
                        .take_while(|&&d| d < g0 + *slots as i64)
                        .map(|&d| ranks.rank(missing, (d - g0) as u32)),
                );
                i
            });
            let cuts = if first_day.is_some() {
                &cut_values[..]
            } else {
                &[]
            };
            class_out.clear();
            // The block lies wholly in the range: without cuts its total is the index
            // entry's sum, and the kernel sums the day values only.
            let total = match cuts.is_empty() {
                true => exact_total(e.sum, div),
                false => None,
            };
            match total {
                Some(total) => {
                    let (d, c) = v.ints.marked_sums(phase_runs, n, &per.mask);
                    class_out.push((d, total, c));
                }
                None => {
                    class_out.resize(cuts.len() + 1, (0, 0, 0));
                    v.ints
                        .class_sums_cut(phase_runs, n, &per.mask, cuts, class_out);
                }
            }
            for (i, &(d, t, c)) in class_out.iter().enumerate() {
                let all = t_count(cuts, i, n);
                let (d, t) = (i128_to_f64(d), i128_to_f64(t));
                acc.add_class(
                    first_day.map(|f| f + i),
                    [
                        d / div * mult,
                        (t - d) / div * mult,
                        (c as i64 * step) as f64,
                        ((all - c) as i64 * step) as f64,
                    ],
                );
            }
            acc.readings += n as u64;
            return true;
        }
        // The pieces the block overlaps.
        let j0 = p
            .cuts
            .partition_point(|&c| c <= e.t_first)
            .saturating_sub(1);
        let j1 = (p.cuts.partition_point(|&c| c <= e.t_last) - 1).min(p.len() - 1);
        let ranks = SlotRanks::new(missing);
        let first_slot = start.div_euclid(step);
        bounds.clear();
        bounds.extend(
            grid[j0..=j1 + 1]
                .iter()
                .map(|&g| ranks.rank(missing, (g - first_slot).clamp(0, *slots as i64) as u32)),
        );
        sums.clear();
        sums.resize(j1 - j0 + 1, 0);
        v.ints.range_sums(bounds, sums);
        for (k, s) in sums.iter().enumerate() {
            let n = bounds[k + 1] - bounds[k];
            let s = i128_to_f64(*s);
            acc.pieces_used = true;
            acc.energy[j0 + k] += s / div * mult;
            acc.covered_s[j0 + k] += (n as i64 * step) as f64;
            acc.readings += n as u64;
        }
        true
    })?;
    if !done {
        ts.clear();
        vals.clear();
        seg.read_block(b, zstd, ints, ts, vals)?;
        let (t, vs) = (&*ts, &*vals);
        assign(p, t, acc, |i| Some((vs[i] * mult, step as f64)));
    }
    Ok(())
}

/// The memtable readings of a fast-path meter (see [`scan_block`]).
fn scan_memtables(st: &State, meter: u32, step: i64, mult: f64, p: &Pieces, acc: &mut Acc) {
    let range = p.cuts[0]..p.cuts[p.len()];
    for mem in st.memtables() {
        if let Some(s) = mem.get(meter) {
            let r = s.range(&range);
            let (t, vs) = (&s.ts[r.clone()], &s.vals[r]);
            assign(p, t, acc, |i| Some((vs[i] * mult, step as f64)));
        }
    }
}

/// How one meter of a chunk is scanned.
#[derive(Clone, Copy)]
enum Plan {
    /// Nothing to scan (a quantity without energy, or no pieces).
    Skip,
    /// Already summed through its merged readings.
    Done,
    /// Its stored blocks (listed in the chunk's `sources`) through [`scan_block`], then its
    /// memtables.
    Blocks { step: u32, mult: f64 },
}

/// Resets `acc` for `meter` and picks its path. A meter whose sources overlap, or that is
/// irregular or cumulative, is summed right here from its merged readings; for the fast
/// path its sources, which the caller collected into `sources`, are left there ordered
/// by start.
#[allow(clippy::too_many_arguments)]
fn plan_meter(
    st: &State,
    meter: u32,
    p: &Pieces,
    grids: &Grids,
    acc: &mut Acc,
    sources: &mut [(usize, usize, i64, i64)],
    daily: bool,
) -> Result<Plan> {
    let meta = st.meters.meta(meter);
    if meta.kind == Quantity::Other || p.len() == 0 {
        return Ok(Plan::Skip);
    }
    acc.reset(p.len(), if daily { p.dates.len() } else { 0 });
    match (meta.kind, meta.interval_s) {
        (Quantity::IntervalEnergy | Quantity::Power, Some(step))
            if grids.contains_key(&step) && spans_disjoint(sources) =>
        {
            let mult = if meta.kind == Quantity::Power {
                step as f64 / 3600.0
            } else {
                1.0
            };
            Ok(Plan::Blocks { step, mult })
        }
        _ => {
            scan_merged(st, meter, meta, p, acc)?;
            Ok(Plan::Done)
        }
    }
}

/// Meters scanned together: their blocks are visited segment by segment, meter by meter,
/// which is the order they lie in the segment files (so reads are sequential).
const CHUNK: usize = 16;

/// Scans `meters` (at most [`CHUNK`]) into `work.accs`, meter `j` into `accs[j]` with its
/// plan in `plans[j]`.
fn scan_chunk(
    st: &State,
    meters: &[u32],
    p: &Pieces,
    grids: &Grids,
    work: &mut ChunkWork,
    daily: bool,
) -> Result<()> {
    let ChunkWork {
        accs,
        sources,
        plans,
        sc,
    } = work;
    // Each block-scanned meter's grid, looked up once rather than per segment; its
    // sources in segment order (checked disjoint already), so that each segment's blocks
    // are the next ones from a cursor.
    let mut grid_of = [None; CHUNK];
    let mut next = [0usize; CHUNK];
    for s in &mut sources[..meters.len()] {
        s.clear();
    }
    let range = p.cuts[0]..p.cuts[p.len()];
    for_each_source_span(st, meters, &range, |j, s| sources[j].push(s));
    for (j, &m) in meters.iter().enumerate() {
        plans[j] = plan_meter(st, m, p, grids, &mut accs[j], &mut sources[j], daily)?;
        if let Plan::Blocks { step, .. } = plans[j] {
            grid_of[j] = grids.get(&step);
            sources[j].sort_unstable_by_key(|s| s.0);
        }
    }
    for k in 0..st.segments.len() {
        for j in 0..meters.len() {
            let (Plan::Blocks { step, mult }, Some((grid, periodic))) = (plans[j], grid_of[j])
            else {
                continue;
            };
            while let Some(&(_, b, _, _)) = sources[j].get(next[j]).filter(|s| s.0 == k) {
                let g = (grid.as_slice(), periodic.as_ref());
                scan_block(st, (k, b), step as i64, mult, p, g, &mut accs[j], sc)?;
                next[j] += 1;
            }
        }
    }
    for (j, &m) in meters.iter().enumerate() {
        if let Plan::Blocks { step, mult } = plans[j] {
            scan_memtables(st, m, step as i64, mult, p, &mut accs[j]);
        }
    }
    Ok(())
}

/// A worker's state for [`scan_chunk`], reused across chunks.
struct ChunkWork {
    accs: Vec<Acc>,
    sources: Vec<Vec<(usize, usize, i64, i64)>>,
    plans: Vec<Plan>,
    sc: Scratch,
}

impl ChunkWork {
    fn new() -> ChunkWork {
        ChunkWork {
            accs: (0..CHUNK)
                .map(|_| Acc {
                    energy: Vec::new(),
                    covered_s: Vec::new(),
                    readings: 0,
                    class: [0.0; 4],
                    daily_class: Vec::new(),
                    pieces_used: true,
                })
                .collect(),
            sources: vec![Vec::new(); CHUNK],
            plans: vec![Plan::Skip; CHUNK],
            sc: Scratch::default(),
        }
    }
}

impl Store {
    /// Day/night scan of `meters` over `range` (UTC, half-open). The range is first clipped
    /// to the span of stored readings of the selected meters, so `i64::MIN..i64::MAX`
    /// scans everything. Returns one result per meter with readings in the range, sorted
    /// by meter id. Meters of kind [`Quantity::Other`] are skipped. Semantics:
    /// `docs/SCANS.md`.
    pub fn day_night(
        &self,
        meters: &MeterFilter<'_>,
        range: Range<i64>,
        scan: &DayNightScan,
    ) -> Result<Vec<MeterDayNight>> {
        if !(scan.threshold.is_finite() && scan.threshold >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "threshold {} must be a finite non-negative number",
                scan.threshold
            )));
        }
        // A snapshot holds no lock: appends, flushes and compactions go on during the scan.
        let snap = self.snapshot();
        let st = &snap.st;
        let selected: Vec<u32> = match meters {
            MeterFilter::All => (0..st.meters.len() as u32).collect(),
            MeterFilter::Ids(ids) => ids
                .iter()
                .map(|id| {
                    st.meters
                        .get(id)
                        .ok_or_else(|| Error::UnknownMeter(id.clone()))
                })
                .collect::<Result<_>>()?,
            MeterFilter::Where(f) => (0..st.meters.len() as u32)
                .filter(|&d| f(&st.meters.ids()[d as usize], st.meters.meta(d)))
                .collect(),
        };
        // Clip to the stored data so open-ended ranges work and expected hours describe
        // the span that holds readings.
        let Some((lo, hi)) = data_extent(st, &selected) else {
            return Ok(Vec::new());
        };
        let range = range.start.max(lo)..range.end.min(hi.saturating_add(1));
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let pieces = Pieces::new(range.start, range.end, scan.window, &scan.zone)?;
        // First grid slot at or after each cut, per distinct meter interval.
        // With a fixed offset and totals only, also the periodic day pattern.
        let mut grids: Grids = HashMap::new();
        let mut last = None;
        for &m in &selected {
            let step = st.meters.meta(m).interval_s;
            // Meters mostly share an interval: hash only where it changes.
            if step == last {
                continue;
            }
            last = step;
            if let Some(step) = step {
                grids.entry(step).or_insert_with(|| {
                    let s = step as i64;
                    let grid = pieces
                        .cuts
                        .iter()
                        .map(|&c| slot_at_or_after(c, s))
                        .collect();
                    (
                        grid,
                        Periodic::new(step, scan.window, &scan.zone, &pieces, scan.daily),
                    )
                });
            }
        }
        // Expected hours are the same for every meter: over the range, and per local day
        // (summed piece by piece in order, as `Acc::fold` does).
        let mut expected = (0.0, 0.0);
        let mut day_expected = vec![(0.0, 0.0); if scan.daily { pieces.dates.len() } else { 0 }];
        for j in 0..pieces.len() {
            let h = pieces.hours(j);
            let day = day_expected.get_mut(pieces.day_idx[j] as usize);
            for e in std::iter::once(&mut expected).chain(day) {
                match pieces.is_day[j] {
                    true => e.0 += h,
                    false => e.1 += h,
                }
            }
        }
        let threads = match scan.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
        .min(selected.len().max(1));
        let next = AtomicUsize::new(0);
        // The started workers' results, each list in id order (see `merge_in_id_order`).
        let results: Mutex<Vec<Vec<(IdKey, MeterDayNight)>>> = Mutex::new(Vec::new());
        let first_err: Mutex<Option<Error>> = Mutex::new(None);
        let state: &State = st;
        // One worker runs on the calling thread (`caller`): a scan on one thread starts
        // none. Its list, returned, is the one the others' are merged into.
        let worker = |caller: bool| {
            let mut work = ChunkWork::new();
            let mut mine = match caller && threads > 1 {
                true => with_room_for_all(selected.len()),
                false => Vec::with_capacity(selected.len() / threads + CHUNK),
            };
            // Meters are handed out in chunks: big enough to read each segment
            // sequentially and keep the counter off the hot path, small enough to
            // balance uneven meters. A worker takes its next chunk before scanning
            // the current one, to prefetch that chunk's index entries.
            let chunk_at =
                |i: usize| &selected[i.min(selected.len())..(i + CHUNK).min(selected.len())];
            let mut i = next.fetch_add(CHUNK, Ordering::Relaxed);
            while i < selected.len() {
                let ahead = next.fetch_add(CHUNK, Ordering::Relaxed);
                prefetch_sources(state, chunk_at(ahead));
                let chunk = chunk_at(i);
                i = ahead;
                if let Err(e) = scan_chunk(state, chunk, &pieces, &grids, &mut work, scan.daily) {
                    first_err
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(e);
                    next.store(selected.len(), Ordering::Relaxed);
                    return mine;
                }
                for (j, &m) in chunk.iter().enumerate() {
                    let acc = &work.accs[j];
                    if matches!(work.plans[j], Plan::Skip) || acc.readings == 0 {
                        continue;
                    }
                    let total = acc.fold_total(&pieces, expected, scan.threshold);
                    let daily = if scan.daily {
                        daily(&pieces, acc, &day_expected, scan.threshold)
                    } else {
                        Vec::new()
                    };
                    let meter = state.meters.ids()[m as usize].clone();
                    mine.push((
                        IdKey::of(&meter),
                        MeterDayNight {
                            meter,
                            total,
                            daily,
                        },
                    ));
                }
            }
            // Chunks go out in dense-id order, which is id order when meters were
            // registered in order: then the sort only checks.
            mine.sort_unstable_by(by_id);
            mine
        };
        let own = std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(|| {
                    let mine = worker(false);
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(mine);
                });
            }
            worker(true)
        });
        if let Some(e) = first_err.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(merge_in_id_order(own, results))
    }
}

/// The first 16 bytes of a meter id, zero-padded, as two big-endian words: ordering by
/// it and then by the whole id is ordering by id. Q: why not compare the ids alone? A: a
/// worker's ids were written by its own core; merging the workers' lists by the strings
/// read each id across cores (about 1.2 ms of a 90 ms two-thread fleet scan), the keys
/// lie in the lists themselves.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct IdKey(u64, u64);

impl IdKey {
    // Big-endian: the words compare as the bytes do (an order, not a stored format).
    #[allow(clippy::big_endian_bytes)]
    fn of(id: &str) -> IdKey {
        let mut b = [0u8; 16];
        let n = id.len().min(16);
        b[..n].copy_from_slice(&id.as_bytes()[..n]);
        let word = |w: &[u8]| u64::from_be_bytes(w.try_into().expect("8 bytes"));
        IdKey(word(&b[..8]), word(&b[8..]))
    }

    /// Orders ids given with their keys: by the keys, then by the ids where the keys are
    /// equal.
    fn cmp_ids(a: (IdKey, &str), b: (IdKey, &str)) -> std::cmp::Ordering {
        a.cmp(&b)
    }
}

/// Orders a worker's results by id (see [`IdKey`]).
fn by_id(a: &(IdKey, MeterDayNight), b: &(IdKey, MeterDayNight)) -> std::cmp::Ordering {
    IdKey::cmp_ids((a.0, &a.1.meter), (b.0, &b.1.meter))
}

/// An empty result list with room for `n` results, its memory faulted in: the calling
/// worker's list, into which [`merge_in_id_order`] moves the other workers' results. Q:
/// why fault it in here? A: this runs while the other workers scan; faulted in by the
/// merge, while they wait, the pages took most of its 1.9 ms in a two-thread scan of
/// 10,000 meters (the allocator maps a fresh block for a list of that size every scan).
/// The room is for every selected meter, with readings in the range or not: at most 168
/// bytes a meter more than the results need, for the length of the scan.
fn with_room_for_all(n: usize) -> Vec<(IdKey, MeterDayNight)> {
    const _: () = assert!(std::mem::size_of::<(IdKey, MeterDayNight)>() <= 168);
    let mut list = Vec::with_capacity(n);
    let per_page = (4096 / std::mem::size_of::<(IdKey, MeterDayNight)>()).max(1);
    for slot in list.spare_capacity_mut().iter_mut().step_by(per_page) {
        // Through `black_box`: a store the compiler could prove dead.
        *std::hint::black_box(slot) = std::mem::MaybeUninit::zeroed();
    }
    list
}

/// Merges the started workers' result lists (`others`) into the calling worker's
/// (`own`), each in id order, from the back: the largest remaining result goes to the
/// last free place. Q: why not sort all results at the end? A: one thread then sorted
/// every result while the others waited (about 2 ms of a 90 ms fleet scan on two
/// threads); the workers now sort their own, and this moves each result once, into the
/// room [`with_room_for_all`] made in `own` (no list of the results' size is allocated).
fn merge_in_id_order(
    own: Vec<(IdKey, MeterDayNight)>,
    mut others: Vec<Vec<(IdKey, MeterDayNight)>>,
) -> Vec<MeterDayNight> {
    others.retain(|l| !l.is_empty());
    if others.is_empty() {
        // One worker's results (a one-thread scan): already in place.
        return own.into_iter().map(|r| r.1).collect();
    }
    let total = own.len() + others.iter().map(Vec::len).sum::<usize>();
    // `Option` of the pair has the pair's size (an id's pointer is never null), so this
    // and the last collect reuse `own`'s memory.
    const _: () = assert!(
        std::mem::size_of::<Option<(IdKey, MeterDayNight)>>()
            == std::mem::size_of::<(IdKey, MeterDayNight)>()
    );
    let mut out: Vec<Option<(IdKey, MeterDayNight)>> = own.into_iter().map(Some).collect();
    // `out[..kept]` holds `own`'s results not yet moved.
    let mut kept = out.len();
    out.resize_with(total, || None);
    for at in (0..total).rev() {
        let Some(i) = (0..others.len()).max_by(|&a, &b| by_id(last(&others[a]), last(&others[b])))
        else {
            // Only `own`'s results remain, already in their places.
            break;
        };
        let own_is_larger =
            kept > 0 && by_id(out[kept - 1].as_ref().expect("kept"), last(&others[i])).is_gt();
        if own_is_larger {
            out.swap(kept - 1, at);
            kept -= 1;
        } else {
            out[at] = others[i].pop();
            if others[i].is_empty() {
                others.swap_remove(i);
            }
        }
    }
    out.into_iter()
        .map(|r| r.expect("every place filled").1)
        .collect()
}

/// The last result of a list that is not empty.
fn last(list: &[(IdKey, MeterDayNight)]) -> &(IdKey, MeterDayNight) {
    list.last().expect("lists are not empty")
}

/// First and last timestamp stored for any of `meters`.
fn data_extent(st: &State, meters: &[u32]) -> Option<(i64, i64)> {
    let mut ext: Option<(i64, i64)> = None;
    let mut widen = |a: i64, b: i64| {
        ext = Some(ext.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
    };
    // Stored blocks. Every meter: each segment's span, taken when it was opened.
    if meters.len() == st.meters.len() {
        for (a, b) in st.segments.iter().filter_map(|s| s.span()) {
            widen(a, b);
        }
    } else {
        for (&m, seg) in meters
            .iter()
            .flat_map(|m| st.segments.iter().map(move |s| (m, s)))
        {
            let r = seg.meter_blocks(m);
            if !r.is_empty() {
                widen(
                    seg.blocks()[r.start].t_first,
                    seg.blocks()[r.end - 1].t_last,
                );
            }
        }
    }
    // Unflushed readings.
    for &m in meters {
        for mem in st.memtables() {
            if let Some(s) = mem.get(m).filter(|s| !s.ts.is_empty()) {
                widen(s.ts[0], s.ts[s.ts.len() - 1]);
            }
        }
    }
    ext
}

fn daily(p: &Pieces, acc: &Acc, expected: &[(f64, f64)], threshold: f64) -> Vec<DailyDayNight> {
    let mut out = Vec::with_capacity(p.dates.len());
    let mut j = 0;
    while j < p.len() {
        let d = p.day_idx[j];
        let start = j;
        while j < p.len() && p.day_idx[j] == d {
            j += 1;
        }
        let c = acc.daily_class.get(d as usize).copied().unwrap_or_default();
        let from_class = c[2] + c[3] > 0.0 || c[0] != 0.0 || c[1] != 0.0;
        // Pieces are all zero unless some reading took the piece-by-piece path.
        let from_pieces =
            acc.pieces_used && (start..j).any(|k| acc.covered_s[k] > 0.0 || acc.energy[k] != 0.0);
        if from_class || from_pieces {
            let e = expected[d as usize];
            out.push(DailyDayNight {
                date: p.dates[d as usize],
                stats: acc.with_class(p, start..j, from_pieces, e, c, threshold),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{
        by_id, exact_total, merge_in_id_order, with_room_for_all, DayNight, IdKey, MeterDayNight,
    };
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

        /// Ordering by key, then id, is ordering by id: ids that share their first 16
        /// bytes, ids shorter than 16 bytes, ids with NUL bytes and non-ASCII ids alike.
        #[test]
        fn id_keys_order_like_the_ids(
            prefix in "[a-c\\x00]{0,18}",
            a in "[a-c\\x00é]{0,6}",
            b in "[a-c\\x00é]{0,6}",
        ) {
            let (a, b) = (format!("{prefix}{a}"), format!("{prefix}{b}"));
            prop_assert_eq!(IdKey::cmp_ids((IdKey::of(&a), &a), (IdKey::of(&b), &b)), a.cmp(&b));
        }

        /// Workers' lists, each sorted by id, merge into all the results in id order.
        /// (A scan of a small store rarely gives the second worker any meters, so the
        /// day/night tests alone do not exercise the merge.)
        #[test]
        fn merged_lists_come_in_id_order(
            ids in proptest::collection::btree_set("[a-c]{0,3}[0-9]{0,20}", 0..60),
            worker in proptest::collection::vec(0usize..3, 60),
            room in any::<bool>(),
        ) {
            let mut lists: Vec<Vec<(IdKey, MeterDayNight)>> = vec![Vec::new(); 3];
            for (id, &w) in ids.iter().zip(&worker) {
                let r = MeterDayNight { meter: id.clone(), total: DayNight::default(), daily: Vec::new() };
                lists[w].push((IdKey::of(id), r));
            }
            for l in &mut lists {
                l.sort_unstable_by(by_id);
            }
            // The calling worker's list with room for all, or (as on one thread) without.
            let mut own = match room {
                true => with_room_for_all(ids.len()),
                false => Vec::new(),
            };
            own.append(&mut lists[0]);
            let merged: Vec<String> = merge_in_id_order(own, lists.split_off(1))
                .into_iter()
                .map(|r| r.meter)
                .collect();
            prop_assert_eq!(merged, ids.into_iter().collect::<Vec<_>>());
        }
    }
}
