//! Cumulative registers on the fast path. The energy of a register reading is the step to
//! the next reading when that one follows one interval later and the step is not negative
//! (a rollover or a meter exchange); it is left out otherwise (see `docs/SCANS.md` and the
//! general path, [`scan_merged`](super::merged::scan_merged), which this path matches
//! reading for reading). A register's column is nearly always stored as deltas, and its
//! stored deltas are those steps: delta `j` is the energy of reading `j - 1`. So a block
//! wholly in the range is summed by the value kernel over its stored deltas
//! ([`IntColumn::stored_deltas`]), the phase of delta `j` being that of reading `j - 1`;
//! the deltas that span a gap in the block, and the negative ones (found by decoding the
//! mini-blocks whose frame allows any), are cut into parts of their own and
//! dropped. The last reading of a block takes the first of the source that starts one
//! interval later (its index entry's first value), if any. Other blocks (value mode, or
//! at the range's ends) are decoded and taken reading by reading.

use super::accumulate::{assign, i128_to_f64, Acc};
use super::block::{day_cuts, present_runs, Scratch};
use super::cold::{narrow, Column, Decoded};
use super::kernel::PhaseRun;
use super::periodic::Periodic;
use super::windows::Pieces;
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
        part_days,
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
        part_days,
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
                sink.sum(pattern, kind, ts, &deltas)
            })?
            .unwrap_or(false)
        }
        (Some(pattern), true) => seg.with_block(b, zstd, |v| {
            v.ints.is_delta() && sink.sum(pattern, v.kind, &v.ts, &v.ints.stored_deltas())
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
    part_days: &'s mut Vec<Option<Option<usize>>>,
}

impl RegisterSums<'_> {
    /// Sums the readings' energies of a block wholly in the range, of kind `kind` and
    /// timestamps `ts`, from its stored deltas `deltas` (delta `j` is reading `j` less
    /// reading `j - 1`) against `pattern`; `false` (nothing summed) unless the block is
    /// decimal and on the meter's grid.
    fn sum(
        &mut self,
        pattern: &Periodic,
        kind: ValueKind,
        ts: &TsColumn<'_>,
        deltas: &impl Column,
    ) -> bool {
        let RegisterSums {
            step,
            ref mut acc,
            ref mut phase_runs,
            ref mut cut_values,
            ref mut class_out,
            ref mut gaps,
            ref mut cuts,
            ref mut part_days,
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
        // Delta `j` is the energy of reading `j - 1`: the runs of readings shifted by one,
        // less each run's last reading (whose next one lies after a gap).
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
        // A block with a rollover or a meter exchange (a negative delta, which the header
        // rules out for the others): its negative deltas are dropped like those across gaps.
        {
            let gap_count = gaps.len();
            deltas.push_negatives(gaps);
            if gap_count > 0 && gaps.len() > gap_count {
                gaps.sort_unstable();
                gaps.dedup();
            }
        }
        // Cuts between local days (a reading's date is its delta's) and around each delta
        // that spans a gap; `part_days[i]` is `None` for a dropped part, else the date
        // index of part `i` (`None` without per-day results).
        let first_day = day_cuts(pattern, missing, g0, *slots, cut_values);
        cuts.clear();
        part_days.clear();
        let (mut d, mut g) = (0, 0);
        let day_cut = |d: usize| cut_values[d] + 1;
        loop {
            let next_day = (d < cut_values.len()).then(|| day_cut(d));
            let next_gap = gaps.get(g).copied();
            let date = Some(first_day.map(|f| f + d));
            match (next_day, next_gap) {
                (None, None) => break,
                (Some(c), None) => {
                    part_days.push(date);
                    cuts.push(c);
                    d += 1;
                }
                (Some(c), Some(e)) if c <= e => {
                    part_days.push(date);
                    cuts.push(c);
                    d += 1;
                }
                (_, Some(e)) => {
                    part_days.push(date);
                    part_days.push(None);
                    cuts.extend([e, e + 1]);
                    g += 1;
                }
            }
        }
        part_days.push(Some(first_day.map(|f| f + d)));
        if let Some(&first) = phase_runs.first() {
            class_out.clear();
            class_out.resize(cuts.len() + 1, (0, 0, 0));
            deltas.class_sums_cut(phase_runs, n, &pattern.mask, cuts, class_out);
            for (i, &(day, total, c)) in class_out.iter().enumerate() {
                let Some(date) = part_days[i] else {
                    continue;
                };
                // Deltas of the part from the first run's start on.
                let lo = if i == 0 { 0 } else { cuts[i - 1] }.max(first.start);
                let hi = cuts.get(i).copied().unwrap_or(n).max(lo);
                let all = (hi - lo) as u64;
                let (day, total) = (i128_to_f64(day), i128_to_f64(total));
                acc.add_class(
                    date,
                    [
                        day / div,
                        (total - day) / div,
                        (c as i64 * step) as f64,
                        ((all - c) as i64 * step) as f64,
                    ],
                );
                acc.readings += all;
            }
        }
        true
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
