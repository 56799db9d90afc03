//! The in-place loop of the AVX2 kernel, [`IntColumn::stretch`]: the whole mini-blocks of
//! a regular series, read in place without per-mini-block checks.

use super::lanes::{mini, mini_split, vector_fits, widen, Frames, LaneRun, Lanes, Part, RefSum};
use super::{FLUSH_EVERY, PREFETCH_AHEAD};
use crate::codec::bitpack::{self, BitReader, MINI_LEN};
use crate::codec::ints::{packed_width, IntColumn, Mini, MiniWalk};
use crate::codec::simd::x86::{group_reach, Pattern};
use crate::codec::simd::MAX_SIMD_WIDTH;
use crate::scan::kernel::mask::{lane_bits, phase_at, window_from, ClassMask, MaskWalk};
use std::arch::x86_64::*;

/// The frames' sums of the whole mini-blocks the in-place loop takes, without the
/// column's base (added once after the loop rather than to every reference): the raw
/// references once per lane (every lane is in range) and once per marked lane, with the
/// splits of upper-level lanes, and the marked count.
struct WholeSums<S> {
    total: S,
    day: S,
    count: u64,
}

impl<S: RefSum> WholeSums<S> {
    const ZERO: Self = WholeSums {
        total: S::ZERO,
        day: S::ZERO,
        count: 0,
    };

    /// Adds these sums of `whole_n` whole mini-blocks, with the column's `base` once per
    /// lane, to a part's frames.
    #[inline(always)]
    fn add_to(self, f: &mut Frames<S>, base: i64, whole_n: usize) {
        f.total = f
            .total
            .add_times(base, (whole_n * MINI_LEN) as u32)
            .plus(self.total);
        f.day = f.day.add_times(base, self.count as u32).plus(self.day);
        f.count += self.count;
    }

    /// Books whole mini-block `m` with marked lanes `marked`; the totals only when
    /// `TOTALS`.
    #[inline(always)]
    fn book<const BITMAP: bool, const TOTALS: bool>(&mut self, m: &Mini, marked: u64) {
        let n_marked = marked.count_ones();
        if TOTALS {
            self.total = self.total.add_times(m.reference, MINI_LEN as u32);
        }
        self.day = self.day.add_times(m.reference, n_marked);
        self.count += n_marked as u64;
        if BITMAP {
            let split = m.split as u64;
            if TOTALS {
                self.total = self.total.add_split(split, m.levels.count_ones());
            }
            self.day = self.day.add_split(split, (m.levels & marked).count_ones());
        }
    }
}

/// The cuts of a query into parts, for [`IntColumn::stretch`]: the cuts (value indices,
/// non-decreasing), the current part, and the parts' sums.
pub(super) struct Parts<'c> {
    pub(super) cuts: &'c [usize],
    pub(super) part: &'c mut usize,
    pub(super) out: &'c mut [(i128, i128, u64)],
}

/// The mini-blocks summed into the in-place loop's lane accumulators since they were last
/// widened, and how many fit them.
struct LaneCount {
    in_lanes: usize,
    /// Mini-blocks whose values fit a lane's 32 bits, from the column's widths.
    widen_every: usize,
}

impl LaneCount {
    /// Counts `n` mini-blocks summed into `acc`; widens it into `sums` when 8 more might
    /// not fit.
    ///
    /// # Safety
    /// Must be inlined into a function with AVX2 enabled.
    #[inline(always)]
    unsafe fn summed<S>(&mut self, n: usize, acc: &mut Lanes, sums: &mut Part<S>) {
        self.in_lanes += n;
        if self.in_lanes > self.widen_every - FLUSH_EVERY {
            // SAFETY: the caller's contract.
            unsafe {
                widen(&mut acc.total, &mut sums.wide_total);
                widen(&mut acc.marked, &mut sums.wide_marked);
            }
            self.in_lanes = 0;
        }
    }
}

impl IntColumn<'_> {
    /// Sums the mini-blocks from `minis`' next one on while they lie wholly inside the
    /// range: the loop of the common case, without the range logic of
    /// [`IntColumn::class_sums_with`]. With `CUTS`, the values are cut into parts at
    /// `cuts` from `*part` on (the current part): where a cut falls on a mini-block's
    /// start, the current part is closed into `out[*part]`; where it falls inside a whole
    /// mini-block of one run (a local midnight in a regular series), the mini-block is
    /// summed as one lane run per part, each booked to its part, so that a per-day scan
    /// stays in this loop from day to day. Lane 0 of the first is
    /// at `phase` in run `walk.r`, which ends at `run_end`. Where a run ends inside a
    /// mini-block (a gap in the series), that mini-block's marked lanes are pieced from
    /// the runs it holds and the loop goes on in the next run; where the range ends inside
    /// one (a column's partial last mini-block), that one is summed under its lane mask.
    /// Takes only columns whose every mini-block fits the vector path
    /// ([`IntColumn::vector_fits_all`]), and only mini-blocks it can read in place
    /// ([`IntColumn::in_place_until`]), so that the loop checks no width or bound per
    /// mini-block; the rest is left to the caller. Returns whether it summed any
    /// mini-block; then `walk` is at the next one.
    ///
    /// The whole mini-blocks of a run go in batches, each within one aligned group of 8
    /// mini-blocks, whose 8 references (`ref_width` bytes) are unpacked at once by the
    /// vector path into a small array; the lanes are widened only when the column's
    /// widths say that 8 more mini-blocks might not fit them (for metered data, every few
    /// hundred). Without the totals (`TOTALS` false) the loop adds the day lanes only, and
    /// it leaves a plain frame's split unmasked (its zero level bitmap books none), which
    /// keeps fewer values in registers.
    ///
    /// Everything the loop updates per mini-block is a local, written back after it: the
    /// walk's state (index, payload offset, reference and split bit positions) and the
    /// part's scalar sums, read through `minis` and `sums`, would be spilled and reloaded
    /// on every mini-block. The loop walks descriptor and payload pointers, reads
    /// references and splits with BMI2 (`shrx`, `bzhi`: no mask or shift count in a
    /// register), steps the phase through a table (no period and step in registers),
    /// books each reference once per lane, and adds the column's base once after the loop
    /// rather than to every reference. Its instructions per mini-block are measured by
    /// `scan_repeat` under callgrind.
    ///
    /// # Safety
    /// Must be inlined into a function with AVX2, POPCNT, BMI1 and BMI2 enabled; `cuts`
    /// must be non-decreasing, those before `*part` at or before the next mini-block's
    /// start, and `out` must hold one part more than `cuts`.
    #[inline(always)]
    pub(super) unsafe fn stretch<
        S: RefSum,
        const CUTS: bool,
        const BITMAP: bool,
        const TOTALS: bool,
    >(
        &self,
        minis: &mut MiniWalk<'_, '_>,
        walk: &mut MaskWalk<'_>,
        (phase, run_end): (usize, usize),
        parts: Parts<'_>,
        mask: &ClassMask,
        sums: &mut Part<S>,
    ) -> bool {
        if !self.vector_fits_all::<BITMAP>() {
            return false;
        }
        let (k0, to) = (minis.index(), walk.to);
        let Parts { cuts, part, out } = parts;
        let unchecked = minis.unchecked_until().min(self.in_place_until());
        let payload = self.readable().as_ptr();
        let descs = self.descs().as_ptr();
        // SAFETY: the walk is at mini-block `k0` of the column, whose bytes start at its
        // payload offset: both inside their arrays.
        let mut desc = unsafe { descs.add(k0) };
        // The payload position as a pointer: fewer values for the loop to keep in
        // registers.
        // SAFETY: as for `desc`.
        let mut src_at = unsafe { payload.add(minis.payload_at()) };
        let (refs, splits) = (self.refs().as_ptr(), self.splits().as_ptr());
        let mut split_bit = minis.split_bit();
        let (ref_width, split_width) = (self.ref_width() as u32, self.split_width() as u32);
        // Groups of 8 references (`ref_width` bytes each) that the vector path can
        // unpack in place: `group_reach` of the width readable from the group's start.
        // SAFETY: the references lie in the column's bytes, which `readable` extends.
        let refs_readable =
            unsafe { self.readable().as_ptr_range().end.offset_from(refs) } as usize;
        let vector_ref_groups = match ref_width <= MAX_SIMD_WIDTH as u32 {
            true => refs_readable
                .checked_sub(group_reach(ref_width as usize))
                .map_or(0, |n| n / (ref_width as usize).max(1) + 1),
            false => 0,
        };
        // SAFETY: the width is at most `MAX_SIMD_WIDTH`.
        let ref_pattern =
            unsafe { Pattern::new((ref_width as usize).min(MAX_SIMD_WIDTH as usize)) };
        let (lanes, bits, next) = (mask.lanes.as_ptr(), mask.bits.as_ptr(), mask.next.as_ptr());
        // The lanes may hold mini-blocks of the general loop: widened here, so that
        // widening at every eighth mini-block of the stretch keeps the lanes in range.
        // SAFETY: AVX2 is enabled where this function is inlined.
        unsafe { sums.flush() };
        let mut acc = Lanes {
            total: sums.lanes.total,
            marked: sums.lanes.marked,
        };
        let mut whole_sums = WholeSums::ZERO;
        // A lane gets 8 values a mini-block, each below `2^value_bits` (a version 1
        // two-level value is a halved offset plus a split), so `2^(29 - value_bits)`
        // mini-blocks fit its 32 bits: at least `FLUSH_EVERY`, thousands for metered data.
        let value_bits = match BITMAP {
            true => self.vector_width() as u32,
            false => {
                (self.vector_width() as u32)
                    .saturating_sub(1)
                    .max(split_width)
                    + 1
            }
        };
        let mut lane_count = LaneCount {
            in_lanes: 0,
            widen_every: 1usize << (29 - value_bits.min(26)).min(24),
        };
        let whole = LaneRun::of(u64::MAX);
        let (mut phase, mut run_end) = (phase, run_end);
        // The end of the current part: its cut, or the range's end.
        let part_end = |part: usize| match CUTS {
            true => cuts.get(part).map_or(to, |&c| c.min(to)),
            false => to,
        };
        let mut stop = part_end(*part);
        // The first mini-block whose whole-block sums are not yet in `sums`.
        let mut k_part = k0;
        // Moves the local sums of the whole mini-blocks before mini-block `k` (all but
        // `apart` of those since `k_part`, which were booked to `sums` directly) and the
        // lanes into `sums`.
        macro_rules! commit {
            ($k:expr, $apart:expr) => {{
                std::mem::replace(&mut whole_sums, WholeSums::ZERO).add_to(
                    &mut sums.frames,
                    self.base(),
                    $k - k_part - $apart,
                );
                k_part = $k;
                sums.lanes = Lanes {
                    total: acc.total,
                    marked: acc.marked,
                };
            }};
        }
        // Closes the current part (committed) into `out` and starts the next, with lanes
        // `$lanes` (evaluated after the close, which zeroes `sums`).
        macro_rules! close_part {
            ($lanes:expr) => {{
                // SAFETY: AVX2 is enabled where this function is inlined; a part is closed
                // only at a cut, and `out` holds one part more than `cuts`.
                unsafe { sums.close(&mut out[*part]) };
                *part += 1;
                acc = $lanes;
                lane_count.in_lanes = 0;
                stop = part_end(*part);
            }};
        }
        // The reference offset of the mini-block at `desc`, read from the packed array.
        macro_rules! reference {
            () => {{
                // SAFETY: as in `frame!`.
                unsafe {
                    let ref_bit = desc.offset_from(descs) as usize * ref_width as usize;
                    _bzhi_u64(BitReader::get_raw(refs, ref_bit, u64::MAX), ref_width)
                }
            }};
        }
        // The frame of the mini-block at `desc` (of reference offset `reference`), and
        // where the next one starts.
        macro_rules! frame {
            ($base:expr, $reference:expr) => {{
                // SAFETY: below `unchecked` (the walk's `unchecked_until` and
                // `in_place_until`) the descriptor is in its array, the reference and
                // split arrays have 8 bytes from the positions, and the mini-block has
                // `READ_SLACK` readable bytes after it. BMI2 is enabled.
                let d = unsafe { *desc };
                // SAFETY: as above.
                let next_at = unsafe { src_at.add(bitpack::packed_len(packed_width(d))) };
                // SAFETY: as above.
                let split = unsafe {
                    _bzhi_u64(BitReader::get_raw(splits, split_bit, u64::MAX), split_width)
                };
                let word = match BITMAP {
                    // SAFETY: as above.
                    true => u64::from_le(unsafe { (src_at as *const u64).read_unaligned() }),
                    false => 0,
                };
                let mut m = Mini::of($base, BITMAP, d, $reference, split, word);
                if BITMAP {
                    // Unmasked: a plain frame's zero level bitmap books no split (and
                    // the loop keeps fewer values in registers).
                    m.split = split as i64;
                }
                debug_assert!(vector_fits::<BITMAP>(&m));
                (m, next_at)
            }};
        }
        // Moves past the mini-block `m` (ending at `next_at`).
        macro_rules! step {
            ($m:expr, $next_at:expr) => {{
                split_bit += split_width as usize & 0usize.wrapping_sub($m.two_level as usize);
                src_at = $next_at;
                // SAFETY: at most one past the last descriptor.
                desc = unsafe { desc.add(1) };
            }};
        }
        // Whether the range's partial last mini-block was summed (booked apart).
        let mut tail = false;
        // The references of group `cached_group` of 8 mini-blocks, unpacked by the vector
        // path: with cuts, a batch that a cut or a gap starts inside the group reuses them
        // (without cuts, checking costs more than the few gaps save).
        let mut group_refs = [0u64; 8];
        let mut cached_group = usize::MAX;
        loop {
            // Whole mini-blocks of the current run.
            // SAFETY: at most the number of descriptors (`unchecked`).
            let end = unsafe { descs.add((run_end.min(stop) / MINI_LEN).min(unchecked)) };
            while desc < end {
                // A batch: up to the end of the group of 8 mini-blocks that holds this
                // one, whose references are unpacked together; the lanes are widened
                // after it.
                // SAFETY: `desc` and `end` point into the descriptors.
                let (k, to_end) = unsafe {
                    (
                        desc.offset_from(descs) as usize,
                        end.offset_from(desc) as usize,
                    )
                };
                let (group, first) = (k / 8, k % 8);
                let n = to_end.min(8 - first);
                // SAFETY: at most `end`.
                let batch_end = unsafe { desc.add(n) };
                if CUTS && group == cached_group {
                    // Unpacked for an earlier batch of this group.
                } else if group < vector_ref_groups {
                    // SAFETY: `group_reach(ref_width)` bytes are readable from the
                    // group's start (`vector_ref_groups`); the stores fill `group_refs`'s
                    // 64 bytes.
                    unsafe {
                        let r = ref_pattern.unpack_group(refs.add(group * ref_width as usize));
                        let out = group_refs.as_mut_ptr() as *mut __m256i;
                        _mm256_storeu_si256(out, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(r)));
                        _mm256_storeu_si256(
                            out.add(1),
                            _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(r)),
                        );
                    }
                    cached_group = group;
                } else {
                    for (j, r) in group_refs.iter_mut().enumerate().skip(first).take(n) {
                        let bit = (k - first + j) * ref_width as usize;
                        // SAFETY: as in `frame!`.
                        *r = unsafe {
                            _bzhi_u64(BitReader::get_raw(refs, bit, u64::MAX), ref_width)
                        };
                    }
                    cached_group = usize::MAX;
                }
                // SAFETY: `first < 8`.
                let mut reference_at = unsafe { group_refs.as_ptr().add(first) };
                while desc < batch_end {
                    // SAFETY: `reference_at` stays within `group_refs` (one per mini-block
                    // of the batch, which lies within the group of 8).
                    let (m, next_at) = frame!(0, unsafe { *reference_at });
                    // SAFETY: as for `frame!`; at most one past `group_refs`.
                    let src = unsafe {
                        reference_at = reference_at.add(1);
                        src_at.add(m.values_at())
                    };
                    for line in [0, 64] {
                        let ahead = src.wrapping_add(PREFETCH_AHEAD + line);
                        // SAFETY: a prefetch reads nothing; SSE is part of x86-64.
                        unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8) };
                    }
                    // SAFETY: `phase < period`, and the lanes hold `period + 64` entries.
                    let day_lanes = unsafe { &*(lanes.add(phase) as *const [u32; MINI_LEN]) };
                    // SAFETY: the payload has `group_reach` of the width from the values'
                    // start (below `unchecked`), and the column fits the vector path.
                    unsafe { mini::<false, BITMAP, TOTALS>(src, &m, whole, day_lanes, &mut acc) };
                    // SAFETY: `phase < period`, the length of `bits` and `next`. `next` is
                    // `ClassMask::next_phase`'s table, read without its bounds check.
                    whole_sums.book::<BITMAP, TOTALS>(&m, unsafe { *bits.add(phase) });
                    step!(m, next_at);
                    // SAFETY: as above.
                    phase = unsafe { *next.add(phase) } as usize;
                }
                // SAFETY: AVX2 is enabled where this function is inlined.
                unsafe { lane_count.summed(n, &mut acc, sums) };
            }
            // The mini-block at `lo`, where the run or the part ends.
            // SAFETY: `desc` points into the descriptors or one past them.
            let k = unsafe { desc.offset_from(descs) } as usize;
            let lo = k * MINI_LEN;
            if k >= unchecked || lo >= to {
                break;
            }
            if CUTS && stop <= lo {
                // The current part ends where this mini-block starts.
                commit!(k, 0);
                close_part!(Lanes {
                    total: sums.lanes.total,
                    marked: sums.lanes.marked,
                });
            } else if run_end == lo {
                // The next run starts with this mini-block.
                walk.r += 1;
                phase = walk.runs[walk.r].phase;
            } else if lo + MINI_LEN <= stop && run_end < lo + MINI_LEN {
                // Runs end inside this whole mini-block: its marked lanes run by run.
                let (m, next_at) = frame!(0, reference!());
                let runs = walk.runs;
                let next_run = runs[walk.r + 1];
                let (marked, next_phase) = match runs.get(walk.r + 2) {
                    Some(after) if after.start < lo + MINI_LEN => {
                        (walk.piece(lo, 0, MINI_LEN), None)
                    }
                    _ => {
                        // One run starts inside (a single gap, the common case), at lane
                        // `c`: the lanes from it on read the pattern's window at `q`.
                        let c = run_end - lo;
                        let q = window_from(next_run, lo, c, mask);
                        walk.r += 1;
                        // SAFETY: `phase` and `q` are below the period, the length of
                        // `bits` and `next`.
                        unsafe {
                            let marked = (*bits.add(phase) & lane_bits(0, c))
                                | (*bits.add(q) & lane_bits(c, MINI_LEN));
                            (marked, Some(*next.add(q) as usize))
                        }
                    }
                };
                let day_lanes = walk.spread(marked);
                // SAFETY: as in the loop above.
                unsafe {
                    mini::<false, BITMAP, TOTALS>(
                        src_at.add(m.values_at()),
                        &m,
                        whole,
                        day_lanes,
                        &mut acc,
                    )
                };
                whole_sums.book::<BITMAP, TOTALS>(&m, marked);
                step!(m, next_at);
                // SAFETY: AVX2 is enabled where this function is inlined.
                unsafe { lane_count.summed(1, &mut acc, sums) };
                // Lane 0 of the next mini-block, in the run that holds it.
                phase = match next_phase {
                    Some(p) => p,
                    None => {
                        while walk.r + 1 < runs.len() && runs[walk.r + 1].start <= lo + MINI_LEN {
                            walk.r += 1;
                        }
                        phase_at(runs[walk.r], lo + MINI_LEN, mask)
                    }
                };
            } else if CUTS
                && stop < lo + MINI_LEN
                && lo + MINI_LEN <= to
                && run_end >= lo + MINI_LEN
            {
                // Cuts inside this whole mini-block of the run: one lane run per part, each
                // booked with the base to the part it belongs to.
                commit!(k, 0);
                let (m, next_at) = frame!(self.base(), reference!());
                // SAFETY: as in the loop above.
                let (src, day_lanes, day_bits) = unsafe {
                    (
                        src_at.add(m.values_at()),
                        &*(lanes.add(phase) as *const [u32; MINI_LEN]),
                        *bits.add(phase),
                    )
                };
                let cut = stop - lo;
                let next_stop = match CUTS {
                    true => part_end(*part + 1),
                    false => to,
                };
                if next_stop >= lo + MINI_LEN {
                    // One cut (the common case): one pass, the lanes from the cut on
                    // summed apart for the next part.
                    // SAFETY: AVX2 is enabled where this function is inlined.
                    let mut next_lanes = unsafe {
                        Lanes {
                            total: _mm256_setzero_si256(),
                            marked: _mm256_setzero_si256(),
                        }
                    };
                    let (head, tail) = (lane_bits(0, cut), lane_bits(cut, MINI_LEN));
                    // SAFETY: as in the loop above.
                    unsafe {
                        mini_split::<BITMAP, TOTALS>(
                            src,
                            &m,
                            LaneRun::of(tail),
                            day_lanes,
                            &mut acc,
                            &mut next_lanes,
                        )
                    };
                    sums.frames.book::<BITMAP>(&m, head, day_bits & head);
                    commit!(k + 1, 1);
                    close_part!(next_lanes);
                    sums.frames.book::<BITMAP>(&m, tail, day_bits & tail);
                } else {
                    // Several cuts: one lane run per part.
                    let mut a = 0;
                    loop {
                        // The cuts from `*part` on are at or after `lo`.
                        let b = (stop - lo).min(MINI_LEN);
                        if b > a {
                            let piece = lane_bits(a, b);
                            // SAFETY: as in the loop above.
                            unsafe {
                                mini::<true, BITMAP, TOTALS>(
                                    src,
                                    &m,
                                    LaneRun::of(piece),
                                    day_lanes,
                                    &mut acc,
                                )
                            };
                            sums.frames.book::<BITMAP>(&m, piece, day_bits & piece);
                        }
                        if b == MINI_LEN {
                            break;
                        }
                        // This mini-block is booked apart, in every part.
                        commit!(k + 1, k + 1 - k_part);
                        close_part!(Lanes {
                            total: sums.lanes.total,
                            marked: sums.lanes.marked,
                        });
                        a = b;
                    }
                }
                step!(m, next_at);
                // SAFETY: as above.
                phase = unsafe { *next.add(phase) } as usize;
                // SAFETY: AVX2 is enabled where this function is inlined.
                unsafe { lane_count.summed(1, &mut acc, sums) };
            } else if stop == to && run_end >= to && lo + MINI_LEN > to {
                // The range ends inside this mini-block, in the current run: its lanes up
                // to the end, booked with the base (the local sums are for whole ones).
                let (m, next_at) = frame!(self.base(), reference!());
                let lanes_in = lane_bits(0, to - lo);
                let run = LaneRun::of(lanes_in);
                // SAFETY: `phase < period`, the length of `bits` and `next` (the lanes
                // hold `period + 64` entries); the payload has `group_reach` of the width
                // from the values' start (below `unchecked`).
                unsafe {
                    let day_lanes = &*(lanes.add(phase) as *const [u32; MINI_LEN]);
                    mini::<true, BITMAP, TOTALS>(
                        src_at.add(m.values_at()),
                        &m,
                        run,
                        day_lanes,
                        &mut acc,
                    );
                    sums.frames
                        .book::<BITMAP>(&m, lanes_in, *bits.add(phase) & lanes_in);
                }
                // Not counted: the loop ends here, and the lanes are widened after it.
                step!(m, next_at);
                // SAFETY: as above.
                phase = unsafe { *next.add(phase) } as usize;
                tail = true;
                break;
            } else {
                break;
            }
            let runs = walk.runs;
            run_end = runs.get(walk.r + 1).map_or(to, |n| n.start.min(to));
        }
        // SAFETY: `desc` and `src_at` point into (or one past) their arrays.
        let (k, at) = unsafe {
            (
                desc.offset_from(descs) as usize,
                src_at.offset_from(payload) as usize,
            )
        };
        let summed = k > k0;
        minis.set_position(k, at, split_bit);
        whole_sums.add_to(&mut sums.frames, self.base(), k - k_part - tail as usize);
        sums.lanes = acc;
        // The general loop counts up to `FLUSH_EVERY` from here.
        // SAFETY: AVX2 is enabled where this function is inlined.
        unsafe { sums.flush() };
        if summed {
            // The walk goes on at the next mini-block, lane 0 at `phase` in run `r`.
            walk.skipped(mask.prev_phase(phase), run_end);
        }
        summed
    }
}
