//! Cold blocks on the fast path: pco decodes a cold block's integers into a slice, and the
//! day/night sums are taken straight from it (no hot body is built), against the same
//! periodic class pattern and phase runs as the packed kernels (see `block.rs`).
//!
//! [`Column`] is what the block summing needs of a column: the packed [`IntColumn`] of a
//! hot block implements it with its kernels, [`Decoded`] with plain loops over the slice.
//! The class loop takes each stretch of values of consecutive phases up to one period at
//! a time against a window of the pattern laid out twice (`v & mask` per value), which
//! the compiler vectorises.

use super::kernel::{ClassMask, PhaseRun};
use super::register::excluded_deltas;
use crate::codec::ints::IntColumn;
use crate::codec::simd;
use crate::format::BLOCK_LEN;

/// A block's integer column as the day/night summing reads it.
pub(super) trait Column {
    /// Number of values.
    fn len(&self) -> usize;
    /// `(marked sum, marked count)` of values `runs[0].start..to` (see
    /// [`IntColumn::marked_sums`]).
    fn marked_sums(&self, runs: &[PhaseRun], to: usize, mask: &ClassMask) -> (i128, u64);
    /// Per part, `(marked sum, total sum, marked count)` (see
    /// [`IntColumn::class_sums_cut`]).
    fn class_sums_cut(
        &self,
        runs: &[PhaseRun],
        to: usize,
        mask: &ClassMask,
        cuts: &[usize],
        out: &mut [(i128, i128, u64)],
    );
    /// Adds to `out[j]` the sum of values `bounds[j]..bounds[j + 1]` (see
    /// [`IntColumn::range_sums`]).
    fn range_sums(&self, bounds: &[usize], out: &mut [i128]);
    /// The values, decoded into `scratch` where they are not at hand already.
    fn values<'s>(&'s self, scratch: &'s mut Vec<i64>) -> &'s [i64];
    /// Appends to `out`, as `(index, value)` in index order, each once and from index 1
    /// on, the values at `gaps` (sorted indices) and the negative values: the stored
    /// deltas a register's scan leaves out (across a gap; rollovers and meter exchanges).
    fn excluded(&self, gaps: &[usize], out: &mut Vec<(usize, i64)>);
}

impl Column for IntColumn<'_> {
    fn len(&self) -> usize {
        IntColumn::len(self)
    }
    fn marked_sums(&self, runs: &[PhaseRun], to: usize, mask: &ClassMask) -> (i128, u64) {
        IntColumn::marked_sums(self, runs, to, mask)
    }
    fn class_sums_cut(
        &self,
        runs: &[PhaseRun],
        to: usize,
        mask: &ClassMask,
        cuts: &[usize],
        out: &mut [(i128, i128, u64)],
    ) {
        IntColumn::class_sums_cut(self, runs, to, mask, cuts, out)
    }
    fn range_sums(&self, bounds: &[usize], out: &mut [i128]) {
        IntColumn::range_sums(self, bounds, out)
    }
    fn values<'s>(&'s self, scratch: &'s mut Vec<i64>) -> &'s [i64] {
        scratch.clear();
        self.decode_into(scratch);
        scratch
    }
    fn excluded(&self, gaps: &[usize], out: &mut Vec<(usize, i64)>) {
        // The header rules out negative values for most columns.
        excluded_deltas(self, gaps, !deltas_not_negative(self), out);
    }
}

/// Whether the stored deltas of `col` are all non-negative by its header: the smallest
/// reference is, and no reference, offset and split can add up past `2^62`.
fn deltas_not_negative(col: &IntColumn<'_>) -> bool {
    let largest = col.base() as i128
        + (1i128 << col.ref_width())
        + (1i128 << col.vector_width())
        + (1i128 << col.split_width());
    col.base() >= 0 && largest < 1i128 << 62
}

/// The class pattern of [`ClassMask`] as 64-bit lanes, for masked sums over a slice:
/// `lanes[p]` is all ones when phase `p % period` is marked, for `p < period + span`, so
/// that up to `span` values from any phase are one contiguous window; `marks[p]` is the
/// number of marked lanes below `p`. `span` is at least [`BLOCK_LEN`], so that a block's
/// run of consecutive phases is one window (a stretch per period cost a cold scan about
/// two instructions a reading more on 15-minute data).
#[derive(Default)]
pub(super) struct SliceMask {
    /// The address of the mask laid out: a scan's patterns live as long as its workers'
    /// scratch, so one address is one pattern.
    from: usize,
    period: usize,
    span: usize,
    lanes: Vec<i64>,
    marks: Vec<u32>,
}

impl SliceMask {
    /// Lays out `mask` unless it is the one laid out already.
    pub(super) fn set(&mut self, mask: &ClassMask) {
        let (from, period) = (mask as *const ClassMask as usize, mask.period());
        if (self.from, self.period) == (from, period) {
            return;
        }
        (self.from, self.period) = (from, period);
        self.span = BLOCK_LEN.max(period);
        self.lanes.clear();
        self.lanes
            .extend((0..period + self.span).map(|p| -(mask.is_marked(p % period) as i64)));
        self.marks.clear();
        self.marks.push(0);
        let mut n = 0;
        for &l in &self.lanes {
            n += (l != 0) as u32;
            self.marks.push(n);
        }
    }
}

/// A decoded integer column: a cold block's values as pco gives them back.
pub(super) struct Decoded<'a> {
    pub(super) ints: &'a [i64],
    /// The pattern of the masks the scan passes, laid out by [`SliceMask::set`].
    pub(super) mask: &'a SliceMask,
    /// Whether every partial sum of up to all the values fits `i64` (the block's index
    /// entry bounds the values), so that a run is summed in `i64` lanes.
    pub(super) narrow: bool,
}

impl Decoded<'_> {
    /// `(marked sum, total sum)` of `vals`, the first at phase `phase`, with
    /// `vals.len() <= span`.
    #[inline(always)]
    fn stretch(&self, vals: &[i64], phase: usize) -> (i128, i128) {
        let lanes = &self.mask.lanes[phase..phase + vals.len()];
        if !self.narrow {
            return vals.iter().zip(lanes).fold((0, 0), |(d, t), (&v, &m)| {
                (d + (v & m) as i128, t + v as i128)
            });
        }
        #[cfg(target_arch = "x86_64")]
        if simd::avx2_available() {
            // SAFETY: AVX2 was detected on this CPU.
            return unsafe { masked_sums_avx2(vals, lanes) };
        }
        masked_sums(vals, lanes)
    }
}

/// `(Σ v & m, Σ v)` over `vals` and `lanes` in `i64` (the caller rules out overflow).
#[inline(always)]
fn masked_sums(vals: &[i64], lanes: &[i64]) -> (i128, i128) {
    let (mut d, mut t) = ([0i64; 4], [0i64; 4]);
    let (vc, lc) = (vals.chunks_exact(4), lanes.chunks_exact(4));
    let (vr, lr) = (vc.remainder(), lc.remainder());
    for (v, m) in vc.zip(lc) {
        for i in 0..4 {
            d[i] = d[i].wrapping_add(v[i] & m[i]);
            t[i] = t[i].wrapping_add(v[i]);
        }
    }
    for (&v, &m) in vr.iter().zip(lr) {
        d[0] = d[0].wrapping_add(v & m);
        t[0] = t[0].wrapping_add(v);
    }
    let add = |x: [i64; 4]| x.iter().fold(0i64, |a, &b| a.wrapping_add(b)) as i128;
    (add(d), add(t))
}

/// [`masked_sums`] compiled with AVX2 enabled; callable where AVX2 is enabled, or
/// detected on this CPU.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn masked_sums_avx2(vals: &[i64], lanes: &[i64]) -> (i128, i128) {
    masked_sums(vals, lanes)
}

impl Column for Decoded<'_> {
    fn len(&self) -> usize {
        self.ints.len()
    }

    fn marked_sums(&self, runs: &[PhaseRun], to: usize, mask: &ClassMask) -> (i128, u64) {
        let mut out = [(0, 0, 0)];
        self.class_sums_cut(runs, to, mask, &[], &mut out);
        (out[0].0, out[0].2)
    }

    fn class_sums_cut(
        &self,
        runs: &[PhaseRun],
        to: usize,
        mask: &ClassMask,
        cuts: &[usize],
        out: &mut [(i128, i128, u64)],
    ) {
        let (period, span) = (self.mask.period, self.mask.span);
        assert!(
            period == mask.period()
                && out.len() == cuts.len() + 1
                && to <= self.ints.len()
                && runs.iter().all(|r| r.phase < period),
            "class sums over a decoded column: the laid-out pattern, one output per part, \
             values within the column, phases below the period"
        );
        let Some(first) = runs.first() else {
            return;
        };
        let mut part = cuts.partition_point(|&c| c <= first.start);
        for (j, run) in runs.iter().enumerate() {
            let end = runs.get(j + 1).map_or(to, |n| n.start.min(to));
            let (mut i, mut phase) = (run.start, run.phase);
            while i < end {
                // Up to the run's end or the next cut, whichever comes first (and the
                // pattern's span).
                let stop = cuts
                    .get(part)
                    .map_or(end, |&c| c.clamp(i, end))
                    .min(i + span);
                let (d, t) = self.stretch(&self.ints[i..stop], phase);
                let o = &mut out[part.min(cuts.len())];
                o.0 += d;
                o.1 += t;
                o.2 += (self.mask.marks[phase + stop - i] - self.mask.marks[phase]) as u64;
                phase = (phase + stop - i) % period;
                i = stop;
                while part < cuts.len() && cuts[part] <= i {
                    part += 1;
                }
            }
        }
    }

    fn range_sums(&self, bounds: &[usize], out: &mut [i128]) {
        for (j, o) in out.iter_mut().enumerate() {
            let vals = &self.ints[bounds[j]..bounds[j + 1]];
            *o += match self.narrow {
                true => vals.iter().fold(0i64, |a, &v| a.wrapping_add(v)) as i128,
                false => vals.iter().map(|&v| v as i128).sum(),
            };
        }
    }

    fn values<'s>(&'s self, _: &'s mut Vec<i64>) -> &'s [i64] {
        self.ints
    }

    fn excluded(&self, gaps: &[usize], out: &mut Vec<(usize, i64)>) {
        let mut gaps = gaps.iter().peekable();
        for (j, &v) in self.ints.iter().enumerate().skip(1) {
            if gaps.next_if(|&&g| g == j).is_some() || v < 0 {
                out.push((j, v));
            }
        }
    }
}

/// Whether sums of up to `n` integers of magnitude at most `max_abs` (a bound from a
/// block's index entry, in integer units) fit `i64` in every partial sum.
pub(super) fn narrow(max_abs: f64, n: usize) -> bool {
    max_abs * (n as f64 + 1.0) < (1u64 << 62) as f64
}

#[cfg(test)]
mod tests;
