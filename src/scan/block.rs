//! The fast path: one stored block of a regular meter summed straight from its packed
//! values, by the periodic kernel or piece by piece, and the meter's unflushed readings.

use super::accumulate::{assign, exact_total, i128_to_f64, Acc, DayScale};
use super::cold::{narrow, Column, Decoded, SliceMask};
use super::kernel::{float_class_sums, PhaseRun};
use super::periodic::Periodic;
use super::windows::Pieces;
use crate::codec::timestamps::{Missing, SlotRanks, TsColumn};
use crate::codec::values::ValueKind;
use crate::engine::state::State;
use crate::error::Result;
use crate::segment::reader::BlockEntry;

/// Calls `f(first value index, first slot, length)` for each gap-free run of a regular
/// block with `slots` slots, in order.
pub(super) fn present_runs(
    missing: &Missing<'_>,
    slots: u32,
    mut f: impl FnMut(usize, u32, usize),
) {
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
            // The bits of slots `k..`, up to 64 of them (`valid`), zero past the bitmap: a
            // run of clear or set bits is skipped a word at a time.
            let window = |k: u32| -> (u64, u32) {
                let at = k as usize / 8;
                let mut w = [0u8; 8];
                let n = bm.len().saturating_sub(at).min(8);
                w[..n].copy_from_slice(&bm[at..at + n]);
                (u64::from_le_bytes(w) >> (k % 8), 64 - k % 8)
            };
            let (mut v, mut k) = (0usize, 0u32);
            while k < slots {
                let (w, valid) = window(k);
                let absent = w.trailing_zeros().min(valid);
                if absent > 0 {
                    k = k.saturating_add(absent);
                    continue;
                }
                let first = k;
                loop {
                    let (w, valid) = window(k);
                    let present = (!w).trailing_zeros().min(valid);
                    k = k.saturating_add(present);
                    if present < valid || k >= slots {
                        break;
                    }
                }
                let end = k.min(slots);
                f(v, first, (end - first) as usize);
                v += (end - first) as usize;
                k = end;
            }
        }
    }
}

/// With per-day results, the value indices of a regular block (first slot `g0`, `slots`
/// slots) where local dates after its first begin, into `out`; returns the index of the
/// block's first date among the scan's dates (`None` without per-day results).
pub(super) fn day_cuts(
    pattern: &Periodic,
    missing: &Missing<'_>,
    g0: i64,
    slots: u32,
    out: &mut Vec<usize>,
) -> Option<usize> {
    let ds = pattern.day_slots.as_ref()?;
    let i = ds.partition_point(|&d| d <= g0);
    let n = ds[i..].partition_point(|&d| d < g0 + slots as i64);
    let slots_in = ds[i..i + n].iter().map(|&d| (d - g0) as u32);
    out.clear();
    missing.ranks_sorted(slots_in, out);
    Some(i)
}

/// The phase runs of a regular block summed periodically (first slot `g0`, `slots`
/// slots) into `runs` and, with per-day results, the value indices where local dates
/// after its first begin into `cuts`, as [`day_cuts`] finds them but from the same walk
/// over the present runs (a date that begins in a gap begins at the value after it);
/// returns the index of the block's first date among the scan's dates (`None` without
/// per-day results).
fn runs_and_day_cuts(
    pattern: &Periodic,
    missing: &Missing<'_>,
    (g0, slots): (i64, u32),
    runs: &mut Vec<PhaseRun>,
    cuts: &mut Vec<usize>,
) -> Option<usize> {
    runs.clear();
    let Some(ds) = pattern.day_slots.as_ref() else {
        present_runs(missing, slots, |v0, k0, len| {
            pattern.push_runs(v0, g0 + k0 as i64, len, runs)
        });
        return None;
    };
    let i = ds.partition_point(|&d| d <= g0);
    let n = ds[i..].partition_point(|&d| d < g0 + slots as i64);
    let mut dates = ds[i..i + n].iter().map(|&d| (d - g0) as u32).peekable();
    cuts.clear();
    let mut values = 0;
    present_runs(missing, slots, |v0, k0, len| {
        pattern.push_runs(v0, g0 + k0 as i64, len, runs);
        // Dates that begin before this run ends: in the gap before it, at its first
        // value; inside it, at their own.
        while let Some(s) = dates.next_if(|&s| s < k0 + len as u32) {
            cuts.push(v0 + s.saturating_sub(k0) as usize);
        }
        values = v0 + len;
    });
    // Dates that begin after the last present slot, at the end.
    cuts.extend(dates.map(|_| values));
    Some(i)
}

/// Number of values in part `i` of `0..n` cut at `cuts`.
pub(super) fn t_count(cuts: &[usize], i: usize, n: usize) -> u64 {
    let lo = if i == 0 { 0 } else { cuts[i - 1] };
    let hi = cuts.get(i).copied().unwrap_or(n);
    (hi - lo) as u64
}

/// Scratch buffers reused across a worker's meters.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) zstd: Vec<u8>,
    pub(super) ints: Vec<i64>,
    pub(super) ts: Vec<i64>,
    pub(super) vals: Vec<f64>,
    bounds: Vec<usize>,
    sums: Vec<i128>,
    pub(super) phase_runs: Vec<PhaseRun>,
    pub(super) cut_values: Vec<usize>,
    pub(super) class_out: Vec<(i128, i128, u64)>,
    /// Per part of a float-bits block: marked sum, total sum, marked count.
    float_out: Vec<(f64, f64, u64)>,
    /// A register block's values that follow a gap.
    pub(super) gaps: Vec<usize>,
    /// A register block's cuts of its stored deltas.
    pub(super) delta_cuts: Vec<usize>,
    /// A register block's stored deltas left out: `(index, delta)`.
    pub(super) excluded: Vec<(usize, i64)>,
    /// The integers of a cold block.
    pub(super) cold: Vec<i64>,
    /// A cold register block's steps from one reading to the next.
    pub(super) cold_deltas: Vec<i64>,
    /// The class pattern as the sums over a cold block's integers take it.
    pub(super) cold_mask: SliceMask,
}

/// Fast path, one stored block `b` of segment `k` of a regular interval-energy or power
/// meter whose sources do not overlap: summed straight from its packed values (or from
/// the integers pco decodes of a cold block), by the periodic kernel or piece by piece.
/// `grid[j]` is the first grid slot (Unix time / step, rounded up) at or after cut `j`.
#[expect(
    clippy::too_many_arguments,
    reason = "the block, its meter's interval and grid, and the worker's sums and buffers"
)]
#[inline]
pub(super) fn scan_block(
    state: &State,
    (k, b): (usize, usize),
    step: i64,
    mult: f64,
    pieces: &Pieces,
    (grid, periodic): (&[i64], Option<&Periodic>),
    acc: &mut Acc,
    scratch: &mut Scratch,
) -> Result<()> {
    let seg = &state.segments[k];
    let entry = seg.blocks()[b];
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
        float_out,
        cold,
        cold_mask,
        ..
    } = &mut *scratch;
    let mut sink = BlockSums {
        entry: &entry,
        step,
        mult,
        pieces,
        grid,
        periodic,
        acc,
        ints,
        bounds,
        sums,
        phase_runs,
        cut_values,
        class_out,
        float_out,
    };
    let done = match seg.is_cold_block(b) {
        true => {
            if let Some(p) = periodic {
                cold_mask.set(&p.mask);
            }
            // Integers of magnitude up to the entry's largest value, scaled.
            let largest = entry.min.abs().max(entry.max.abs());
            seg.with_cold_block(b, cold, |kind, ts, decoded| {
                let scaled = largest * kind.divisor().unwrap_or(f64::INFINITY);
                let col = Decoded {
                    ints: decoded,
                    mask: cold_mask,
                    narrow: narrow(scaled, decoded.len()),
                };
                sink.sum(kind, ts, &col)
            })?
            .unwrap_or(false)
        }
        false => seg.with_block(b, zstd, |v| sink.sum(v.kind, &v.ts, &v.ints))?,
    };
    if !done {
        ts.clear();
        vals.clear();
        seg.read_block(b, zstd, ints, ts, vals)?;
        let (t, vs) = (&*ts, &*vals);
        assign(pieces, t, acc, |i| Some((vs[i] * mult, step as f64)));
    }
    Ok(())
}

/// One block's context for [`BlockSums::sum`]: its index entry, the meter's interval and
/// multiplier, the scan's pieces, grid and pattern, the sums and the worker's buffers.
struct BlockSums<'s> {
    entry: &'s BlockEntry,
    step: i64,
    mult: f64,
    pieces: &'s Pieces,
    grid: &'s [i64],
    periodic: Option<&'s Periodic>,
    acc: &'s mut Acc,
    ints: &'s mut Vec<i64>,
    bounds: &'s mut Vec<usize>,
    sums: &'s mut Vec<i128>,
    phase_runs: &'s mut Vec<PhaseRun>,
    cut_values: &'s mut Vec<usize>,
    class_out: &'s mut Vec<(i128, i128, u64)>,
    float_out: &'s mut Vec<(f64, f64, u64)>,
}

impl BlockSums<'_> {
    /// Sums a block of kind `kind`, timestamps `ts` and integers `col` into the sums;
    /// `false` (nothing summed) unless its timestamps are on the meter's grid.
    fn sum(&mut self, kind: ValueKind, ts: &TsColumn<'_>, col: &impl Column) -> bool {
        let BlockSums {
            entry,
            step,
            mult,
            pieces,
            grid,
            periodic,
            ref mut acc,
            ref mut ints,
            ref mut bounds,
            ref mut sums,
            ref mut phase_runs,
            ref mut cut_values,
            ref mut class_out,
            ref mut float_out,
        } = *self;
        let range = pieces.cuts[0]..pieces.cuts[pieces.len()];
        let TsColumn::Regular {
            start,
            step: bstep,
            slots,
            missing,
        } = ts
        else {
            return false;
        };
        if *bstep as i64 != step || start.rem_euclid(step) != 0 {
            return false;
        }
        let inside = entry.t_first >= range.start && entry.t_last < range.end;
        let periodic = periodic.filter(|_| inside);
        let g0 = start.div_euclid(step);
        // With per-day results, a block summed periodically is cut at local midnights.
        let first_day = periodic.and_then(|pattern| {
            runs_and_day_cuts(pattern, missing, (g0, *slots), phase_runs, cut_values)
        });
        let cuts: &[usize] = if first_day.is_some() { cut_values } else { &[] };
        let div = match (kind, periodic) {
            (ValueKind::Decimal { .. }, _) => kind.divisor().unwrap_or(1.0),
            (ValueKind::FloatBits, Some(pattern)) => {
                // Float bits: decoded to their bit patterns and summed as floats.
                let bits = col.values(ints);
                float_out.clear();
                float_out.resize(cuts.len() + 1, (0.0, 0.0, 0));
                float_class_sums(bits, phase_runs, bits.len(), &pattern.mask, cuts, float_out);
                for (i, &(d, t, c)) in float_out.iter().enumerate() {
                    let all = t_count(cuts, i, bits.len());
                    acc.add_class(
                        first_day.map(|f| f + i),
                        [
                            d * mult,
                            (t - d) * mult,
                            (c as i64 * step) as f64,
                            ((all - c) as i64 * step) as f64,
                        ],
                    );
                }
                acc.readings += bits.len() as u64;
                return true;
            }
            (ValueKind::FloatBits, None) => return false,
        };
        if let Some(pattern) = periodic {
            let n = col.len();
            // The block lies wholly in the range: without cuts its total is the index
            // entry's sum, and the kernel sums the day values only.
            let total = match cuts.is_empty() {
                true => exact_total(entry.sum, div),
                false => None,
            };
            acc.readings += n as u64;
            if let Some(first_day) = first_day {
                // Per-day results: each local day's part added to the meter's integer day
                // sums, which the result converts once per day (and once for the total).
                let scale = DayScale { div, mult, step };
                let (sums, values) = acc.day_ints(first_day, cuts.len() + 1, scale);
                match total {
                    Some(total) => {
                        let (d, c) = col.marked_sums(phase_runs, n, &pattern.mask);
                        let s = &mut sums[0];
                        (s.0, s.1, s.2) = (s.0 + d, s.1 + total, s.2 + c);
                    }
                    None => col.class_sums_cut(phase_runs, n, &pattern.mask, cuts, sums),
                }
                let mut lo = 0;
                for (v, &hi) in values.iter_mut().zip(cuts.iter().chain([&n])) {
                    *v += (hi - lo) as u64;
                    lo = hi;
                }
                return true;
            }
            let (d, total, count) = match total {
                Some(total) => {
                    let (d, c) = col.marked_sums(phase_runs, n, &pattern.mask);
                    (d, total, c)
                }
                None => {
                    class_out.clear();
                    class_out.push((0, 0, 0));
                    col.class_sums_cut(phase_runs, n, &pattern.mask, &[], class_out);
                    class_out[0]
                }
            };
            let (d, t) = (i128_to_f64(d), i128_to_f64(total));
            acc.add_total([
                d / div * mult,
                (t - d) / div * mult,
                (count as i64 * step) as f64,
                ((n as u64 - count) as i64 * step) as f64,
            ]);
            return true;
        }
        // The pieces the block overlaps.
        let j0 = pieces
            .cuts
            .partition_point(|&c| c <= entry.t_first)
            .saturating_sub(1);
        let j1 = (pieces.cuts.partition_point(|&c| c <= entry.t_last) - 1).min(pieces.len() - 1);
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
        col.range_sums(bounds, sums);
        for (k, s) in sums.iter().enumerate() {
            let n = bounds[k + 1] - bounds[k];
            let s = i128_to_f64(*s);
            acc.pieces_used = true;
            acc.energy[j0 + k] += s / div * mult;
            acc.covered_s[j0 + k] += (n as i64 * step) as f64;
            acc.readings += n as u64;
        }
        true
    }
}

/// The memtable readings of a fast-path meter (see [`scan_block`]).
#[inline]
pub(super) fn scan_memtables(
    state: &State,
    meter: u32,
    step: i64,
    mult: f64,
    pieces: &Pieces,
    acc: &mut Acc,
) {
    let range = pieces.cuts[0]..pieces.cuts[pieces.len()];
    for mem in state.memtables() {
        if let Some(s) = mem.get(meter) {
            let r = s.range(&range);
            let (t, vs) = (&s.ts[r.clone()], &s.vals[r]);
            assign(pieces, t, acc, |i| Some((vs[i] * mult, step as f64)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{day_cuts, present_runs, runs_and_day_cuts};
    use crate::codec::timestamps::Missing;
    use crate::scan::kernel::ClassMask;
    use crate::scan::periodic::Periodic;
    use proptest::prelude::*;

    proptest! {
        /// The day cuts found from the walk over a block's present runs are the ranks of
        /// the dates' first slots, and its phase runs those of the present runs.
        #[test]
        fn day_cuts_from_the_runs_are_the_ranks(
            bits in proptest::collection::vec(any::<bool>(), 1..400),
            dates in proptest::collection::vec(-50i64..500, 0..12),
            g0 in -20i64..20,
        ) {
            let slots = bits.len() as u32;
            let mut bm = vec![0u8; bits.len().div_ceil(8)];
            for (k, &b) in bits.iter().enumerate() {
                bm[k / 8] |= (b as u8) << (k % 8);
            }
            let missing = Missing::Bitmap(&bm);
            let mut day_slots = dates;
            day_slots.sort_unstable();
            day_slots.dedup();
            let pattern = Periodic {
                shifts: vec![(i64::MIN, 3)],
                mask: ClassMask::new(&[true, false, false, true, false, true, true]),
                day_slots: Some(day_slots),
            };
            let (mut want, mut got) = (Vec::new(), Vec::new());
            let first = day_cuts(&pattern, &missing, g0, slots, &mut want);
            let mut runs = Vec::new();
            prop_assert_eq!(
                runs_and_day_cuts(&pattern, &missing, (g0, slots), &mut runs, &mut got),
                first
            );
            prop_assert_eq!(got, want);
            let mut want_runs = Vec::new();
            present_runs(&missing, slots, |v0, k0, len| {
                pattern.push_runs(v0, g0 + k0 as i64, len, &mut want_runs)
            });
            prop_assert_eq!(runs, want_runs);
        }

        /// The runs of a bitmap, found a word at a time, are the runs of its set bits.
        #[test]
        fn bitmap_runs_are_the_set_bits(bits in proptest::collection::vec(any::<bool>(), 1..300)) {
            let slots = bits.len() as u32;
            let mut bm = vec![0u8; bits.len().div_ceil(8)];
            for (k, &b) in bits.iter().enumerate() {
                bm[k / 8] |= (b as u8) << (k % 8);
            }
            let mut want = Vec::new();
            let (mut v, mut k) = (0usize, 0usize);
            while k < bits.len() {
                if !bits[k] {
                    k += 1;
                    continue;
                }
                let first = k;
                while k < bits.len() && bits[k] {
                    k += 1;
                }
                want.push((v, first as u32, k - first));
                v += k - first;
            }
            let mut got = Vec::new();
            present_runs(&Missing::Bitmap(&bm), slots, |v, k, n| got.push((v, k, n)));
            prop_assert_eq!(got, want);
        }
    }
}
