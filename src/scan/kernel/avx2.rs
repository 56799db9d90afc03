//! The periodic day/night kernel with explicit AVX2.
//!
//! One pass per mini-block, fused: each group of 8 values is unpacked into the 32-bit
//! lanes of a register straight from the column's bytes and added, whole and under the day
//! mask, to two 32-bit lane accumulators (widened to 64-bit lanes every [`FLUSH_EVERY`]
//! mini-blocks; the whole adds are left out when the caller wants the day sums only,
//! [`IntColumn::marked_sums`]). Nothing is stored per value and there is no horizontal
//! reduction per mini-block; per mini-block the scalar side adds the reference times the
//! lane counts (day lanes are a popcount of the pattern's precomputed bits) and, for a
//! two-level frame, the split times the upper-level lanes (a popcount of its level bitmap
//! under the same bits), in `i64` when the column's values cannot overflow it. Columns in
//! the version 1 layout, whose level is each value's low bit, resolve it in the vector
//! instead.
//!
//! One code path serves every packed width up to 25 and both frame kinds: the unpacking
//! constants of the width are loaded per mini-block and a plain frame is a two-level one
//! with no upper lanes, so successive mini-blocks of different widths and kinds cost no
//! indirect call or unpredictable branch (a table of width-specialised kernels would
//! mispredict its indirect call on most mini-blocks). Mini-blocks cut by
//! the range (the first and last of a column at most) also mask their lanes. A mini-block
//! is read in place when [`group_reach`] bytes of its width from the values' start are
//! readable: in the column or after it (a block's column is followed by its CRC and the
//! rest of the mapped file, or by the zero slack of a decompressed body), else from a
//! padded copy.
//!
//! Mini-blocks wholly inside the range (nearly all of a regular series) take a loop of
//! their own, [`IntColumn::stretch`], that steps the phase and reads the next frame
//! without the range bookkeeping of the general loop. It also takes the mini-blocks where
//! a gap in the series starts a new phase run (their marked lanes pieced from the runs),
//! a column's partial last one, and, for per-day results, those that a local midnight
//! cuts (one lane run per day, each booked to its day), so a block with gaps or days is
//! mostly one call. With a query cut into short parts (local days of 15-minute data,
//! see [`SHORT_PART`]), whole mini-blocks take [`IntColumn::days`] first, which reduces
//! each mini-block's lanes at once so that a part closes with three scalar adds. The
//! instruction counts behind these choices come from `scan_repeat` under
//! callgrind (see that example).

mod days;
mod lanes;
mod stretch;

use super::mask::{MaskWalk, MiniMask};
use super::ClassQuery;
use crate::codec::bitpack::{self, Padded, MINI_LEN};
use crate::codec::ints::{decode_scalar, packed_width, IntColumn};
use crate::codec::simd::x86::group_reach;
use crate::codec::simd::MAX_SIMD_WIDTH;
pub(super) use lanes::{lanes_sums, widen};
use lanes::{mini, vector_fits, LaneRun, Part, RefSum};
use stretch::Parts;

/// Mini-blocks between widenings of the 32-bit lane accumulators in the general loop
/// (the in-place loop of [`IntColumn::stretch`] derives a longer interval from the
/// column's widths). A lane gets 8 values per mini-block, each an offset below 2^24 plus a
/// split below [`MAX_VECTOR_SPLIT`] (2^25) or a plain offset below 2^25, so below 2^29 per
/// mini-block and 2^32 over 8.
const FLUSH_EVERY: usize = 8;

/// Parts of a query up to this many values long on average take the per-part loop
/// ([`IntColumn::days`]), which reduces each mini-block's lanes at once, rather than
/// [`IntColumn::stretch`], which widens and reduces its lanes at each part's end only:
/// for local days of 15-minute data (96 values) the per-part loop costs fewer
/// instructions, for days of 1-minute data (1,440) and for a register's parts between its
/// gaps more (`scan_repeat --daily` under callgrind).
const SHORT_PART: usize = 4 * MINI_LEN;

/// Two-level splits at or above this take the scalar path (they would overflow lanes).
const MAX_VECTOR_SPLIT: u64 = 1 << 25;

/// Bytes ahead of the current mini-block to prefetch, two cache lines per mini-block (one
/// takes 100-140 bytes of 15-minute data): about ten mini-blocks ahead, into the next
/// block near a block's end. The hardware prefetcher alone does not do: blocks are a few
/// KiB, too short for it to ramp up (the two-thread fleet scan of `scan_repeat` is the
/// benchmark for this distance).
const PREFETCH_AHEAD: usize = 1024;

/// Bytes past a mini-block that reading its values in place may touch: the last group of
/// 8 reads 16 bytes from half its width, `group_reach(w) = 7w + w/2 + 16 <= 8w + 16` after
/// the values' start.
const READ_SLACK: usize = 16;

impl IntColumn<'_> {
    /// Whether the vector path takes every mini-block of the column: every width and (in
    /// the version 1 layout) every split fits [`vector_fits`]. Columns of metered data
    /// nearly always do: a width of 25 bits is an offset of 33 million units within 64
    /// readings.
    #[inline(always)]
    pub(super) fn vector_fits_all<const BITMAP: bool>(&self) -> bool {
        self.vector_width() <= MAX_SIMD_WIDTH
            && (BITMAP || self.split_width() as u32 <= MAX_VECTOR_SPLIT.trailing_zeros())
    }

    /// The number of leading mini-blocks that the vector path can read in place: those
    /// followed by `READ_SLACK` readable bytes, all that reading one may touch past it.
    /// All of them when the payload is (a block's column is followed by its CRC and the
    /// rest of the mapped file, or by a decompressed body's zero slack); else all but the
    /// last few, found from the end.
    #[inline(always)]
    pub(crate) fn in_place_until(&self) -> usize {
        let mut after = self.readable().len() - self.payload().len();
        let mut k = self.descs().len();
        while k > 0 && after < READ_SLACK {
            k -= 1;
            after += bitpack::packed_len(packed_width(self.descs()[k]));
        }
        k
    }

    /// The body of [`IntColumn::class_sums_cut`] on AVX2.
    ///
    #[target_feature(enable = "avx2,popcnt,bmi1,bmi2")]
    pub(super) fn class_sums_avx2(&self, q: &ClassQuery<'_>, out: &mut [(i128, i128, u64)]) {
        // References above -2^50 and below 2^50 + 2^49, splits below 2^48: values below
        // 2^51 in magnitude, so sums over at most 2^12 of them stay below 2^63.
        let narrow = self.len() <= 1 << 12
            && self.base().unsigned_abs() < 1 << 50
            && self.ref_width() < 50
            && self.split_width() < 49;
        // Without totals only in the scan's common case (narrow, no cuts); elsewhere they
        // are summed and left unread.
        // SAFETY: AVX2, POPCNT, BMI1 and BMI2 are enabled on this function, which
        // `class_sums_with` is inlined into.
        unsafe {
            match (narrow, q.cuts.is_empty(), self.bitmap(), q.totals) {
                (true, true, true, false) => {
                    self.class_sums_with::<i64, false, true, false>(q, out)
                }
                (true, true, false, false) => {
                    self.class_sums_with::<i64, false, false, false>(q, out)
                }
                (true, true, true, _) => self.class_sums_with::<i64, false, true, true>(q, out),
                (true, false, true, _) => self.class_sums_with::<i64, true, true, true>(q, out),
                (false, _, true, _) => self.class_sums_with::<i128, true, true, true>(q, out),
                (true, true, false, _) => self.class_sums_with::<i64, false, false, true>(q, out),
                (true, false, false, _) => self.class_sums_with::<i64, true, false, true>(q, out),
                (false, _, false, _) => self.class_sums_with::<i128, true, false, true>(q, out),
            }
        }
    }

    /// The body of [`IntColumn::class_sums_avx2`] for one kind of column and query.
    ///
    /// # Safety
    /// Must be inlined into a function with AVX2, POPCNT, BMI1 and BMI2 enabled.
    #[inline(always)]
    unsafe fn class_sums_with<
        S: RefSum,
        const CUTS: bool,
        const BITMAP: bool,
        const TOTALS: bool,
    >(
        &self,
        q: &ClassQuery<'_>,
        out: &mut [(i128, i128, u64)],
    ) {
        let (runs, to, mask, cuts) = (q.runs, q.to, q.mask, q.cuts);
        let from = runs[0].start;
        if from >= to {
            return;
        }
        let mut sums = {
            // SAFETY: AVX2 is enabled where this function is inlined.
            unsafe { Part::<S>::new() }
        };
        // Cuts at or before `from` leave their parts empty.
        let mut part = cuts.partition_point(|&c| c <= from);
        // Zeroed on first use: most calls never need it.
        let mut pad: Option<Padded> = None;
        let mut walk = MaskWalk::new(mask, runs, to);
        // Parts of at most `SHORT_PART` values on average (local days of 15-minute data)
        // take [`IntColumn::days`].
        let short_parts = CUTS && cuts.len() * SHORT_PART >= to - from;
        let mut minis = self.minis_from(from / MINI_LEN);
        let mut k = from / MINI_LEN;
        while k < to.div_ceil(MINI_LEN) {
            let lo = k * MINI_LEN;
            // Parts that end where this mini-block starts (a local midnight on a mini-block
            // boundary) are closed here, so that the stretch loop takes it.
            while CUTS && part < cuts.len() && cuts[part] <= lo {
                // SAFETY: AVX2 is enabled where this function is inlined.
                unsafe { sums.close(&mut out[part]) };
                part += 1;
            }
            // Whole mini-blocks inside the range: the stretch loop, which also closes the
            // parts that end in them.
            if let Some((phase, end)) = walk.whole_from(lo) {
                // With short parts, the per-part loop first.
                if short_parts {
                    // SAFETY: the cuts are non-decreasing, those before `part` at or
                    // before `lo`, and `out` holds one part more.
                    let summed = unsafe {
                        self.days::<S, BITMAP, TOTALS>(
                            &mut minis,
                            &mut walk,
                            (phase, end),
                            Parts {
                                cuts,
                                part: &mut part,
                                out,
                            },
                            mask,
                            &mut sums,
                        )
                    };
                    if summed {
                        k = minis.index();
                        continue;
                    }
                }
                // SAFETY: the cuts are non-decreasing, those before `part` at or before
                // `lo`, and `out` holds one part more.
                let summed = unsafe {
                    self.stretch::<S, CUTS, BITMAP, TOTALS>(
                        &mut minis,
                        &mut walk,
                        (phase, end),
                        Parts {
                            cuts,
                            part: &mut part,
                            out,
                        },
                        mask,
                        &mut sums,
                    )
                };
                if summed {
                    k = minis.index();
                    continue;
                }
            }
            let (m, at) = minis.next().expect("mini-block within the column");
            let mm = walk.next(lo);
            let values = self.values_of(&m, at);
            let (mut range, mut marked) = (mm.range, mm.marked);
            // A mini-block holds the rest of the current part and possibly the start of
            // the next ones: each part's lanes are summed, then the part is closed.
            loop {
                // Without cuts (`CUTS` false, the common case) this is one pass.
                let cut = match CUTS {
                    true => cuts.get(part).map_or(usize::MAX, |&c| c.max(lo)),
                    false => usize::MAX,
                };
                let mine = if cut >= lo + MINI_LEN {
                    u64::MAX
                } else {
                    (1u64 << (cut - lo)) - 1
                };
                let (r, d) = (range & mine, marked & mine);
                if r != 0 {
                    if !vector_fits::<BITMAP>(&m) {
                        // Mini-blocks the vector path cannot take, summed exactly.
                        let mut vals = [0i64; MINI_LEN];
                        decode_scalar(pad.get_or_insert_default().load(values), &m, &mut vals);
                        let mask = MiniMask {
                            lanes: mm.lanes,
                            marked: d,
                            range: r,
                        };
                        mask.add_values(&vals, &mut out[part]);
                    } else {
                        let w = m.width() as usize;
                        let start = at + m.values_at();
                        let src = if self.readable().len() - start >= group_reach(w) {
                            self.readable()[start..].as_ptr()
                        } else {
                            pad.get_or_insert_default().load(values).bytes().as_ptr()
                        };
                        // `r` is one run of lanes: the range's, cut below a cut or above one.
                        let run = LaneRun::of(r);
                        // SAFETY: `src` has `group_reach(w)` readable bytes (checked above,
                        // or the padded copy of 64 * 8 + 16 bytes); `vector_fits` holds.
                        unsafe {
                            if r == u64::MAX {
                                mini::<false, BITMAP, true>(
                                    src,
                                    &m,
                                    run,
                                    mm.lanes,
                                    &mut sums.lanes,
                                );
                            } else {
                                mini::<true, BITMAP, true>(src, &m, run, mm.lanes, &mut sums.lanes);
                            }
                        }
                        // SAFETY: AVX2 is enabled where this function is inlined.
                        unsafe { sums.add_frame::<BITMAP>(&m, r, d) };
                    }
                }
                if mine == u64::MAX {
                    break;
                }
                // The cut falls inside this mini-block: close the part.
                // SAFETY: AVX2 is enabled where this function is inlined.
                unsafe { sums.close(&mut out[part]) };
                part += 1;
                range &= !mine;
                marked &= !mine;
            }
            k += 1;
        }
        // SAFETY: AVX2 is enabled where this function is inlined.
        unsafe { sums.close(&mut out[part.min(cuts.len())]) };
    }
}
