//! Cumulative registers on the fast path. The energy of a register reading is the step to
//! the next reading when that one follows one interval later and the step is not negative
//! (a rollover or a meter exchange); it is left out otherwise (see `docs/SCANS.md` and the
//! general path, [`scan_merged`](super::merged::scan_merged), which this path matches
//! reading for reading). A register's column is nearly always stored as deltas, and its
//! stored deltas are those steps: delta `j` is the energy of reading `j - 1`. So a block
//! wholly in the range is summed by the value kernel over its stored deltas
//! ([`IntColumn::stored_deltas`]), the phase of delta `j` being that of reading `j - 1`.
//! The deltas left out (those that span a gap in the block, and the negative ones, found
//! by decoding only the mini-blocks whose frame allows any) are summed with the others and
//! then taken off their part's sums, each with its value and phase. Without per-day
//! results the kernel sums the day deltas only: all deltas of a block add up to its last
//! reading less its first. The last reading of a block takes the first of the source that
//! starts one interval later (its index entry's first value), if any. Other blocks (value
//! mode, or at the range's ends) are decoded and taken reading by reading.

use super::accumulate::{assign, exact_total, i128_to_f64, Acc};
use super::block::{day_cuts, present_runs, Scratch};
use super::cold::{narrow, Column, Decoded};
use super::kernel::PhaseRun;
use super::periodic::Periodic;
use super::windows::Pieces;
use crate::codec::bitpack::{BitReader, Padded, MINI_LEN};
use crate::codec::ints::IntColumn;
use crate::codec::simd;
use crate::codec::timestamps::TsColumn;
use crate::codec::values::ValueKind;
use crate::engine::state::State;
use crate::error::Result;

/// A meter's sources as the scan collects them: `(segment, block, first ts, last ts)`, a
/// memtable as segment `usize::MAX` and its position among the memtables.
pub(super) type Source = (usize, usize, i64, i64);

/// The value of the reading at `t` of `meter` when a source (of `sources`, disjoint)
/// starts there.
fn first_reading_at(state: &State, meter: u32, sources: &[Source], t: i64) -> Option<f64> {
    let &(k, b, _, _) = sources.iter().find(|s| s.2 == t)?;
    if k != usize::MAX {
        return Some(state.segments[k].blocks()[b].first);
    }
    let s = state.memtables().nth(b)?.get(meter)?;
    let i = s.ts.partition_point(|&x| x < t);
    s.vals.get(i).copied()
}

/// One stored block `b` of segment `k` of a regular cumulative register of interval `step`
/// whose sources (`sources`, disjoint) reach no reading within one interval after the
/// range's end: each reading's energy, into `acc`.
#[expect(clippy::too_many_arguments, reason = "the scan context a block needs")]
#[inline]
pub(super) fn scan_register_block(
    state: &State,
    meter: u32,
    (k, b): (usize, usize),
    step: i64,
    pieces: &Pieces,
    periodic: Option<&Periodic>,
    sources: &[Source],
    acc: &mut Acc,
    scratch: &mut Scratch,
) -> Result<()> {
    let range = pieces.cuts[0]..pieces.cuts[pieces.len()];
    let seg = &state.segments[k];
    let entry = seg.blocks()[b];
    // The last reading's energy: up to the first of the source one interval later.
    let after = first_reading_at(state, meter, sources, entry.t_last + step);
    let inside = entry.t_first >= range.start && entry.t_last < range.end;
    let Scratch {
        zstd,
        ints,
        ts,
        vals,
        phase_runs,
        cut_values,
        class_out,
        gaps,
        delta_cuts: cuts,
        excluded,
        cold,
        cold_deltas,
        cold_mask,
        ..
    } = &mut *scratch;
    let mut sink = RegisterSums {
        step,
        acc,
        phase_runs,
        cut_values,
        class_out,
        gaps,
        cuts,
        excluded,
    };
    let done = match (periodic, inside) {
        (Some(pattern), true) if seg.is_cold_block(b) => {
            cold_mask.set(&pattern.mask);
            // Steps of magnitude up to twice the entry's largest reading, scaled.
            let largest = 2.0 * entry.min.abs().max(entry.max.abs());
            seg.with_cold_block(b, cold, |kind, ts, decoded| {
                // The readings' steps, as a delta-mode column stores them: step `j` is
                // reading `j` less reading `j - 1` (the first is the reading itself).
                cold_deltas.clear();
                cold_deltas.extend(decoded.first());
                cold_deltas.extend(decoded.windows(2).map(|w| w[1].wrapping_sub(w[0])));
                let scaled = largest * kind.divisor().unwrap_or(f64::INFINITY);
                let deltas = Decoded {
                    ints: cold_deltas,
                    mask: cold_mask,
                    narrow: narrow(scaled, decoded.len()),
                };
                // The kernel sums the totals too: a slice's marked sums cost as much.
                sink.sum(pattern, kind, ts, &deltas, None)
            })?
            .unwrap_or(false)
        }
        (Some(pattern), true) => seg.with_block(b, zstd, |v| {
            // The first reading is the column's; the last, the index entry's (exact
            // below 2^49 scaled, as a block's sum is).
            let last = v.kind.divisor().and_then(|d| exact_total(entry.last, d));
            let ends = last.map(|l| (v.ints.first(), l as i64));
            v.ints.is_delta() && sink.sum(pattern, v.kind, &v.ts, &v.ints.stored_deltas(), ends)
        })?,
        _ => false,
    };
    if done {
        // The block lies in the range and on the grid: its last reading is classed like
        // the others (not booked into the pieces, which a scan then has to fold).
        let diff = after.map(|a| a - entry.last).filter(|d| *d >= 0.0);
        if let (Some(diff), Some(pattern)) = (diff, periodic) {
            let (day, date) = pattern.classify(entry.t_last.div_euclid(step));
            let (e, s) = (diff, step as f64);
            acc.add_class(
                date,
                match day {
                    true => [e, 0.0, s, 0.0],
                    false => [0.0, e, 0.0, s],
                },
            );
            acc.readings += 1;
        }
        return Ok(());
    }
    ts.clear();
    vals.clear();
    seg.read_block(b, zstd, ints, ts, vals)?;
    let (t, vs) = (&*ts, &*vals);
    assign(pieces, t, acc, |i| {
        let (next_t, next_v) = match t.get(i + 1) {
            Some(&nt) => (nt, vs[i + 1]),
            None => (t[i] + step, after?),
        };
        let diff = next_v - vs[i];
        (next_t - t[i] == step && diff >= 0.0).then_some((diff, step as f64))
    });
    Ok(())
}

/// One register block's context for [`RegisterSums::sum`]: the meter's interval, the
/// sums and the worker's buffers.
struct RegisterSums<'s> {
    step: i64,
    acc: &'s mut Acc,
    phase_runs: &'s mut Vec<PhaseRun>,
    cut_values: &'s mut Vec<usize>,
    class_out: &'s mut Vec<(i128, i128, u64)>,
    gaps: &'s mut Vec<usize>,
    cuts: &'s mut Vec<usize>,
    excluded: &'s mut Vec<(usize, i64)>,
}

impl RegisterSums<'_> {
    /// Sums the readings' energies of a block wholly in the range, of kind `kind` and
    /// timestamps `ts`, from its stored deltas `deltas` (delta `j` is reading `j` less
    /// reading `j - 1`) against `pattern`; `false` (nothing summed) unless the block is
    /// decimal and on the meter's grid. `ends` gives the block's first and last reading
    /// as integers of its decimal scale, when they are known exactly.
    ///
    /// The phase runs cover every delta from the first kept one on, each in the phase of
    /// the reading before it; a delta across a gap lies in the run before the gap. The
    /// kernel sums them all, and the deltas left out (those across a gap and the negative
    /// ones: rollovers and meter exchanges) are then taken off their part's sums, each
    /// decoded on its own. Without per-day results the sum of all deltas is the last
    /// reading less the first (they telescope), so the kernel sums the marked deltas only.
    fn sum(
        &mut self,
        pattern: &Periodic,
        kind: ValueKind,
        ts: &TsColumn<'_>,
        deltas: &impl Column,
        ends: Option<(i64, i64)>,
    ) -> bool {
        let RegisterSums {
            step,
            ref mut acc,
            ref mut phase_runs,
            ref mut cut_values,
            ref mut class_out,
            ref mut gaps,
            ref mut cuts,
            ref mut excluded,
        } = *self;
        let (
            ValueKind::Decimal { .. },
            TsColumn::Regular {
                start,
                step: bstep,
                slots,
                missing,
            },
        ) = (kind, ts)
        else {
            return false;
        };
        if *bstep as i64 != step || start.rem_euclid(step) != 0 {
            return false;
        }
        let div = kind.divisor().unwrap_or(1.0);
        let g0 = start.div_euclid(step);
        let n = deltas.len();
        // Delta `j` is the energy of reading `j - 1`: each gap-free run of readings gives
        // the run of its deltas shifted by one; the delta that follows a gap is left out.
        phase_runs.clear();
        gaps.clear();
        present_runs(missing, *slots, |v0, k0, len| {
            if v0 > 0 {
                gaps.push(v0);
            }
            if len > 1 {
                pattern.push_runs(v0 + 1, g0 + k0 as i64, len - 1, phase_runs);
            }
        });
        let Some(&first) = phase_runs.first() else {
            // No two readings in consecutive slots: no energy.
            return true;
        };
        excluded.clear();
        deltas.excluded(gaps, excluded);
        // Cuts between local days (a reading's date is its delta's).
        let first_day = day_cuts(pattern, missing, g0, *slots, cut_values);
        cuts.clear();
        if first_day.is_some() {
            cuts.extend(cut_values.iter().map(|&c| c + 1));
        }
        class_out.clear();
        match (first_day, ends) {
            (None, Some((v_first, v_last))) => {
                // All deltas add up to the last reading less the first; the left-out ones
                // before the first run, which the kernel does not reach, come off here.
                let before: i128 = excluded
                    .iter()
                    .take_while(|e| e.0 < first.start)
                    .map(|e| e.1 as i128)
                    .sum();
                let (d, c) = deltas.marked_sums(phase_runs, n, &pattern.mask);
                class_out.push((d, v_last as i128 - v_first as i128 - before, c));
            }
            _ => {
                class_out.resize(cuts.len() + 1, (0, 0, 0));
                deltas.class_sums_cut(phase_runs, n, &pattern.mask, cuts, class_out);
            }
        }
        // Each part's left-out deltas off its sums, then the part into its date.
        let (mut run, mut e) = (0, excluded.partition_point(|e| e.0 < first.start));
        let period = pattern.mask.period();
        for (i, out) in class_out.iter_mut().enumerate() {
            let lo = if i == 0 { 0 } else { cuts[i - 1] }.max(first.start);
            let hi = cuts.get(i).copied().unwrap_or(n).max(lo);
            let mut all = (hi - lo) as u64;
            while let Some(&(j, d)) = excluded.get(e).filter(|x| x.0 < hi) {
                while phase_runs.get(run + 1).is_some_and(|r| r.start <= j) {
                    run += 1;
                }
                let r = phase_runs[run];
                out.1 -= d as i128;
                if pattern.mask.is_marked((r.phase + (j - r.start)) % period) {
                    out.0 -= d as i128;
                    out.2 -= 1;
                }
                all -= 1;
                e += 1;
            }
            let (day, total, c) = *out;
            let (day, total) = (i128_to_f64(day), i128_to_f64(total));
            acc.add_class(
                first_day.map(|f| f + i),
                [
                    day / div,
                    (total - day) / div,
                    (c as i64 * step) as f64,
                    ((all - c) as i64 * step) as f64,
                ],
            );
            acc.readings += all;
        }
        true
    }
}

/// Appends to `out` the stored deltas of a register's delta-mode column `col` (viewed as
/// values, [`IntColumn::stored_deltas`]) that the scan leaves out, as `(index, delta)` in
/// index order, each once and from index 1 on: those at `gaps` (sorted indices of the
/// readings that follow a gap) and, when `negatives`, the negative ones (rollovers and
/// meter exchanges). Only the values at gaps are read, each on its own, and with
/// `negatives` the mini-blocks whose reference is negative (the only ones that can hold a
/// negative value: offsets and splits are not negative) are decoded.
pub(super) fn excluded_deltas(
    col: &IntColumn<'_>,
    gaps: &[usize],
    negatives: bool,
    out: &mut Vec<(usize, i64)>,
) {
    debug_assert!(!col.is_delta());
    if gaps.is_empty() && !negatives {
        return;
    }
    let minis = col.len().div_ceil(MINI_LEN);
    let (base, refs, ref_width) = (col.base(), col.refs(), col.ref_width());
    // The first mini-block from `k` on whose reference is negative (`minis` if none).
    let negative_from = |k: usize| -> usize {
        if !negatives {
            return minis;
        }
        let mut reference = BitReader::at(k, ref_width);
        for k in k..minis {
            if base.wrapping_add(reference.get(refs) as i64) < 0 {
                return k;
            }
            reference.advance(1);
        }
        minis
    };
    let mut walk = col.minis_from(0);
    // Buffers for decoding, made on the first mini-block that needs one.
    let mut decoded: Option<Decoding> = None;
    let (mut g, mut negative) = (0, negative_from(0));
    loop {
        // The next mini-block with a gap's delta or a negative reference.
        let k = gaps.get(g).map_or(minis, |&j| j / MINI_LEN).min(negative);
        if k >= minis {
            break;
        }
        let (lo, hi) = (k * MINI_LEN, ((k + 1) * MINI_LEN).min(col.len()));
        let mut marked = 0u64;
        while let Some(&j) = gaps.get(g).filter(|&&j| j < hi) {
            marked |= 1 << (j - lo);
            g += 1;
        }
        walk.advance_to(k);
        let (m, at) = walk.next().expect("mini-block within the column");
        // A mini-block that may hold negative values is decoded whole; a gap's value is
        // read on its own.
        let vals = match k == negative {
            true => {
                let d = decoded.get_or_insert_with(Default::default);
                let avx2 = simd::avx2_available();
                col.decode_mini(&m, at, avx2, &mut d.pad, &mut d.offs, &mut d.vals);
                marked |= (0..hi - lo).fold(0u64, |b, i| b | ((d.vals[i] < 0) as u64) << i);
                negative = negative_from(k + 1);
                Some(&d.vals)
            }
            false => None,
        };
        if k == 0 {
            marked &= !1;
        }
        while marked != 0 {
            let i = marked.trailing_zeros() as usize;
            let v = match vals {
                Some(vals) => vals[i],
                None => col.value_in(&m, at, i),
            };
            out.push((lo + i, v));
            marked &= marked - 1;
        }
    }
}

/// The buffers of [`IntColumn::decode_mini`].
struct Decoding {
    pad: Padded,
    offs: [u32; MINI_LEN],
    vals: [i64; MINI_LEN],
}

impl Default for Decoding {
    fn default() -> Decoding {
        Decoding {
            pad: Padded::default(),
            offs: [0; MINI_LEN],
            vals: [0; MINI_LEN],
        }
    }
}

/// The memtable readings of a fast-path register (see [`scan_register_block`]).
#[inline]
pub(super) fn scan_register_memtables(
    state: &State,
    meter: u32,
    step: i64,
    pieces: &Pieces,
    sources: &[Source],
    acc: &mut Acc,
) {
    let range = pieces.cuts[0]..pieces.cuts[pieces.len()];
    for mem in state.memtables() {
        let Some(s) = mem.get(meter) else {
            continue;
        };
        let r = s.range(&range);
        if r.is_empty() {
            continue;
        }
        let (t, vs) = (&s.ts[..], &s.vals[..]);
        assign(pieces, &t[r.clone()], acc, |i| {
            let i = r.start + i;
            let (next_t, next_v) = match t.get(i + 1) {
                Some(&nt) => (nt, vs[i + 1]),
                None => (
                    t[i] + step,
                    first_reading_at(state, meter, sources, t[i] + step)?,
                ),
            };
            let diff = next_v - vs[i];
            (next_t - t[i] == step && diff >= 0.0).then_some((diff, step as f64))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::excluded_deltas;
    use crate::codec::ints::tests::forced_encodings;
    use crate::codec::ints::IntColumn;
    use crate::scan::cold::{Column, Decoded, SliceMask};
    use proptest::prelude::*;

    proptest! {
        /// The deltas left out are those after a gap and the negative ones, with their
        /// values, whichever mini-blocks hold them and whatever their widths: from the
        /// packed column (by the header's rule and with every mini-block searched) and
        /// from decoded integers alike.
        #[test]
        fn excluded_deltas_are_the_gaps_and_the_negative_steps(
            steps in prop::collection::vec((0i64..3_000, 0u8..40), 2..700),
            gaps in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            // Steps of a register: mostly small, now and then large (wide mini-blocks) or
            // a reset to a low value (a negative step).
            let mut reading = 500_000i64;
            let readings: Vec<i64> = steps.iter().map(|&(s, kind)| {
                reading = match kind {
                    0 => s,
                    1 => reading + (s << 20),
                    _ => reading + s,
                };
                reading
            }).collect();
            let n = readings.len();
            let mut gaps: Vec<usize> = gaps.iter().map(|g| 1 + g.index(n - 1)).collect();
            gaps.sort_unstable();
            gaps.dedup();
            let want: Vec<(usize, i64)> = (1..n)
                .map(|j| (j, readings[j] - readings[j - 1]))
                .filter(|&(j, d)| d < 0 || gaps.contains(&j))
                .collect();
            let deltas: Vec<i64> = std::iter::once(readings[0])
                .chain(readings.windows(2).map(|w| w[1] - w[0]))
                .collect();
            let mask = SliceMask::default();
            let decoded = Decoded { ints: &deltas, mask: &mask, narrow: true };
            let mut got = Vec::new();
            decoded.excluded(&gaps, &mut got);
            prop_assert_eq!(&got, &want);
            for buf in forced_encodings(&readings) {
                let (col, _) = IntColumn::parse(&buf).unwrap();
                if !col.is_delta() {
                    continue;
                }
                let stored = col.stored_deltas();
                for all in [false, true] {
                    got.clear();
                    match all {
                        false => stored.excluded(&gaps, &mut got),
                        true => excluded_deltas(&stored, &gaps, true, &mut got),
                    }
                    prop_assert_eq!(&got, &want);
                }
            }
        }
    }
}
