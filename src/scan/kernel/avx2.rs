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
//! indirect call or unpredictable branch (measured: a table of width-specialised kernels
//! was slower, with the indirect call mispredicted on most mini-blocks). Mini-blocks cut by
//! the range (the first and last of a column at most) also mask their lanes. A mini-block
//! is read in place when [`group_reach`] bytes of its width from the values' start are
//! readable: in the column or after it (a block's column is followed by its CRC and the
//! rest of the mapped file, or by the zero slack of a decompressed body), else from a
//! padded copy.
//!
//! Mini-blocks wholly inside the range and one part (nearly all of a regular series)
//! take a loop of their own, [`IntColumn::stretch`], that steps the phase and reads the
//! next frame without the range and cut bookkeeping of the general loop (callgrind,
//! 300-meter scan: 13% fewer kernel instructions). It also takes the mini-blocks where a
//! gap in the series starts a new phase run (their marked lanes pieced from the runs)
//! and a column's partial last one, so a block with gaps is mostly one call (callgrind,
//! 300-meter scan at 0.5% gaps: 36.8 M -> 35.5 M instructions).

use super::mask::{lane_bits, phase_at, ClassMask, MaskWalk, MiniMask};
use super::ClassQuery;
use crate::codec::bitpack::{self, BitReader, Padded, MINI_LEN};
use crate::codec::ints::{decode_scalar, packed_width, IntColumn, Mini, MiniWalk};
use crate::codec::simd::x86::{group_reach, Pattern};
use crate::codec::simd::MAX_SIMD_WIDTH;
use std::arch::x86_64::*;

/// Mini-blocks between widenings of the 32-bit lane accumulators in the general loop
/// (the in-place loop of [`IntColumn::stretch`] derives a longer interval from the
/// column's widths). Q: why 8? A: a lane gets 8 values per mini-block, each an offset
/// below 2^24 plus a split below [`MAX_VECTOR_SPLIT`] (2^25) or a plain offset below 2^25,
/// so below 2^29 per mini-block and 2^32 over 8.
const FLUSH_EVERY: usize = 8;

/// Two-level splits at or above this take the scalar path (they would overflow lanes).
const MAX_VECTOR_SPLIT: u64 = 1 << 25;

/// Bytes ahead of the current mini-block to prefetch, two cache lines per mini-block (one
/// takes 100-140 bytes of 15-minute data): about ten mini-blocks ahead, into the next
/// block near a block's end. Q: why not the hardware prefetcher alone? A: blocks are a few
/// KiB, too short for it to ramp up. Against one line at 384 bytes the full-fleet scan was
/// about 10% faster; 2048 bytes or a third line measured the same (A/B in `BENCHMARKS.md`).
const PREFETCH_AHEAD: usize = 1024;

/// Bytes past a mini-block that reading its values in place may touch: the last group of
/// 8 reads 16 bytes from half its width, `group_reach(w) = 7w + w/2 + 16 <= 8w + 16` after
/// the values' start.
const READ_SLACK: usize = 16;

/// Lane sums of all values and of the marked ones (offsets from the frame references).
struct Lanes {
    total: __m256i,
    marked: __m256i,
}

/// Lane masks of a run of lanes `a..b`: the lanes at or after `a` and those at or after
/// `b`, both windows of one static table; the run is the first without the second (a
/// mini-block cut by the range or by a cut takes one run of lanes, and filling a 64-lane
/// mask per mini-block was most of the per-day kernel's work).
#[derive(Clone, Copy)]
struct LaneRun {
    from: &'static [u32; MINI_LEN],
    to: &'static [u32; MINI_LEN],
}

/// Zeros, then ones from index 64: the window at `64 - a` marks the lanes from `a` on.
static RISE: [u32; 2 * MINI_LEN] = {
    let mut t = [0u32; 2 * MINI_LEN];
    let mut i = MINI_LEN;
    while i < 2 * MINI_LEN {
        t[i] = u32::MAX;
        i += 1;
    }
    t
};

impl LaneRun {
    /// The lanes of `bits`, which must be one run of set bits (or none).
    #[inline(always)]
    fn of(bits: u64) -> LaneRun {
        let a = (bits.trailing_zeros() as usize).min(MINI_LEN);
        let b = MINI_LEN - bits.leading_zeros() as usize;
        debug_assert!(bits == 0 || bits == lane_bits(a, b), "{bits:#x}");
        let from = |n: usize| {
            RISE[MINI_LEN - n..2 * MINI_LEN - n]
                .try_into()
                .expect("64 lanes")
        };
        LaneRun {
            from: from(a),
            to: from(b),
        }
    }
}

/// Adds the offsets of mini-block `m` from its reference to `acc`: `src` holds its packed
/// values (`group_reach` of their width readable), `day` its class lanes, `part` (read
/// when `PART`, for a mini-block cut by the range) its lanes inside the range.
///
/// In a column with level bitmaps (`BITMAP`) the offsets are added as they are: the
/// splits of the upper-level values are booked on the scalar side ([`Part::add_frame`]).
/// In the version 1 layout a two-level offset `x` becomes `(x >> 1) + (x & 1) * split` in
/// the vector: `level` is 1 for two-level frames and 0 for plain ones (whose split is 0),
/// so both kinds run the same instructions and no branch has to guess the kind of the
/// next mini-block.
///
/// # Safety
/// Must be inlined into a function with AVX2 enabled; the bytes must be readable and
/// [`vector_fits`] must hold for `m`.
#[inline(always)]
unsafe fn mini<const PART: bool, const BITMAP: bool, const TOTALS: bool>(
    src: *const u8,
    m: &Mini,
    part: LaneRun,
    day: &[u32; MINI_LEN],
    acc: &mut Lanes,
) {
    let width = m.width() as usize;
    let pat = Pattern::new(width);
    let (level, split) = (m.two_level as i32, m.split as i32);
    let (mut total, mut marked) = (acc.total, acc.marked);
    let shift = _mm_cvtsi32_si128(level);
    let (level, split) = (_mm256_set1_epi32(level), _mm256_set1_epi32(split));
    let zero = _mm256_setzero_si256();
    let mut at = src;
    for g in 0..MINI_LEN / 8 {
        // SAFETY: the caller guarantees the bytes; the masks hold 64 lanes. A pointer
        // stepped by the width (not `src + g * width`: a multiply or two per group).
        let mut x = pat.unpack_group(at);
        at = at.wrapping_add(width);
        if PART {
            let from = _mm256_loadu_si256(part.from.as_ptr().add(g * 8) as *const __m256i);
            let to = _mm256_loadu_si256(part.to.as_ptr().add(g * 8) as *const __m256i);
            x = _mm256_andnot_si256(to, _mm256_and_si256(x, from));
        }
        if !BITMAP {
            let upper = _mm256_sub_epi32(zero, _mm256_and_si256(x, level));
            x = _mm256_add_epi32(_mm256_srl_epi32(x, shift), _mm256_and_si256(upper, split));
        }
        let d = _mm256_loadu_si256(day.as_ptr().add(g * 8) as *const __m256i);
        if TOTALS {
            total = _mm256_add_epi32(total, x);
        }
        marked = _mm256_add_epi32(marked, _mm256_and_si256(x, d));
    }
    acc.total = total;
    acc.marked = marked;
}

/// The scalar sums of the frame references: `i64` when the column's references are small
/// enough that no sum over it can overflow (always, for metered data), else `i128`.
trait RefSum: Copy {
    const ZERO: Self;
    fn add_times(self, r: i64, n: u32) -> Self;
    /// Adds a split (an unsigned difference of levels) `n` times.
    fn add_split(self, s: u64, n: u32) -> Self;
    fn get(self) -> i128;
    /// Adds another sum.
    fn plus(self, other: Self) -> Self;
}

impl RefSum for i64 {
    const ZERO: i64 = 0;
    #[inline(always)]
    fn add_times(self, r: i64, n: u32) -> i64 {
        self.wrapping_add(r.wrapping_mul(n as i64))
    }
    #[inline(always)]
    fn add_split(self, s: u64, n: u32) -> i64 {
        // Wrapping: the sums of the values are below 2^63, so they come out exact.
        self.add_times(s as i64, n)
    }
    #[inline(always)]
    fn get(self) -> i128 {
        self as i128
    }
    #[inline(always)]
    fn plus(self, other: i64) -> i64 {
        self.wrapping_add(other)
    }
}

impl RefSum for i128 {
    const ZERO: i128 = 0;
    #[inline(always)]
    fn add_times(self, r: i64, n: u32) -> i128 {
        self + r as i128 * n as i128
    }
    #[inline(always)]
    fn add_split(self, s: u64, n: u32) -> i128 {
        self + s as i128 * n as i128
    }
    #[inline(always)]
    fn get(self) -> i128 {
        self
    }
    #[inline(always)]
    fn plus(self, other: i128) -> i128 {
        self + other
    }
}

/// The scalar side of a part's sums: the frames' references and splits, booked per lane,
/// and the marked count.
#[derive(Clone, Copy)]
struct Frames<S> {
    day: S,
    total: S,
    count: u64,
}

impl<S: RefSum> Frames<S> {
    /// Books the frame of mini-block `m`, whose offsets [`mini`] added to the lanes
    /// `in_range` and `marked` (bits): its reference once per lane, and its split once per
    /// upper-level lane of a level bitmap (none for other frames).
    #[inline(always)]
    fn book<const BITMAP: bool>(&mut self, m: &Mini, in_range: u64, marked: u64) {
        self.total = self.total.add_times(m.reference, in_range.count_ones());
        self.day = self.day.add_times(m.reference, marked.count_ones());
        self.count += marked.count_ones() as u64;
        if BITMAP {
            let split = m.split as u64;
            self.total = self
                .total
                .add_split(split, (m.levels & in_range).count_ones());
            self.day = self.day.add_split(split, (m.levels & marked).count_ones());
        }
    }
}

/// The running sums of one part (the whole range, or one local day): the frames' scalar
/// sums and the lane accumulators of the offsets.
struct Part<S> {
    frames: Frames<S>,
    lanes: Lanes,
    wide_total: __m256i,
    wide_marked: __m256i,
    since_flush: usize,
}

impl<S: RefSum> Part<S> {
    /// # Safety
    /// Must be inlined into a function with AVX2 enabled.
    #[inline(always)]
    unsafe fn new() -> Self {
        Part {
            frames: Frames {
                day: S::ZERO,
                total: S::ZERO,
                count: 0,
            },
            lanes: Lanes {
                total: _mm256_setzero_si256(),
                marked: _mm256_setzero_si256(),
            },
            wide_total: _mm256_setzero_si256(),
            wide_marked: _mm256_setzero_si256(),
            since_flush: 0,
        }
    }

    /// Books the frame of mini-block `m` (see [`Frames::book`]), widening the lanes every
    /// [`FLUSH_EVERY`] mini-blocks.
    #[inline(always)]
    unsafe fn add_frame<const BITMAP: bool>(&mut self, m: &Mini, in_range: u64, marked: u64) {
        self.frames.book::<BITMAP>(m, in_range, marked);
        self.since_flush += 1;
        if self.since_flush == FLUSH_EVERY {
            self.flush();
        }
    }

    /// Widens the 32-bit lane sums into the 64-bit ones.
    #[inline(always)]
    unsafe fn flush(&mut self) {
        widen(&mut self.lanes.total, &mut self.wide_total);
        widen(&mut self.lanes.marked, &mut self.wide_marked);
        self.since_flush = 0;
    }

    /// Adds the part's sums to `out` and starts the next part from zero.
    #[inline(always)]
    unsafe fn close(&mut self, out: &mut (i128, i128, u64)) {
        self.flush();
        out.0 += self.frames.day.get() + lanes_sum(self.wide_marked);
        out.1 += self.frames.total.get() + lanes_sum(self.wide_total);
        out.2 += self.frames.count;
        *self = Part::new();
    }
}

/// Adds the 32-bit lanes of `narrow` to the 64-bit lanes of `wide` and clears `narrow`.
#[inline(always)]
pub(super) unsafe fn widen(narrow: &mut __m256i, wide: &mut __m256i) {
    let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(*narrow));
    let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(*narrow));
    *wide = _mm256_add_epi64(*wide, _mm256_add_epi64(lo, hi));
    *narrow = _mm256_setzero_si256();
}

#[inline(always)]
pub(super) unsafe fn lanes_sum(wide: __m256i) -> i128 {
    let mut l = [0u64; 4];
    _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, wide);
    l.iter().map(|&x| x as i128).sum()
}

/// Whether the vector path takes a mini-block: value widths up to 25 and, in the version 1
/// layout, splits that fit the lanes (see [`FLUSH_EVERY`]).
#[inline(always)]
fn vector_fits<const BITMAP: bool>(m: &Mini) -> bool {
    match BITMAP {
        true => m.width() <= MAX_SIMD_WIDTH,
        false => m.packed_width <= MAX_SIMD_WIDTH && (m.split as u64) < MAX_VECTOR_SPLIT,
    }
}

impl IntColumn<'_> {
    /// Whether the vector path takes every mini-block of the column: every width and (in
    /// the version 1 layout) every split fits [`vector_fits`]. Columns of metered data
    /// nearly always do: a width of 25 bits is an offset of 33 million units within 64
    /// readings.
    #[inline(always)]
    fn vector_fits_all<const BITMAP: bool>(&self) -> bool {
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
    /// # Safety
    /// The CPU must support AVX2, POPCNT, BMI1 and BMI2.
    #[target_feature(enable = "avx2,popcnt,bmi1,bmi2")]
    pub(super) unsafe fn class_sums_avx2(&self, q: &ClassQuery<'_>, out: &mut [(i128, i128, u64)]) {
        // References above -2^50 and below 2^50 + 2^49, splits below 2^48: values below
        // 2^51 in magnitude, so sums over at most 2^12 of them stay below 2^63.
        let narrow = self.len() <= 1 << 12
            && self.base().unsigned_abs() < 1 << 50
            && self.ref_width() < 50
            && self.split_width() < 49;
        // Without totals only in the scan's common case (narrow, no cuts); elsewhere they
        // are summed and left unread.
        match (narrow, q.cuts.is_empty(), self.bitmap(), q.totals) {
            (true, true, true, false) => self.class_sums_with::<i64, false, true, false>(q, out),
            (true, true, false, false) => self.class_sums_with::<i64, false, false, false>(q, out),
            (true, true, true, _) => self.class_sums_with::<i64, false, true, true>(q, out),
            (true, false, true, _) => self.class_sums_with::<i64, true, true, true>(q, out),
            (false, _, true, _) => self.class_sums_with::<i128, true, true, true>(q, out),
            (true, true, false, _) => self.class_sums_with::<i64, false, false, true>(q, out),
            (true, false, false, _) => self.class_sums_with::<i64, true, false, true>(q, out),
            (false, _, false, _) => self.class_sums_with::<i128, true, false, true>(q, out),
        }
    }

    /// Sums the mini-blocks from `minis`' next one on while they lie wholly inside the
    /// range and the current part (up to `stop`): the loop of the common case, without
    /// the range and cut logic of [`IntColumn::class_sums_with`]. Lane 0 of the first is
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
    /// hundred). Callgrind, steady-state 300-meter scan: with the column-wide check and
    /// the batches, 152 -> 132 instructions a mini-block plus about 60 a batch (about 6
    /// mini-blocks, gaps cutting the groups), 32.6 M -> 31.2 M for the whole scan. Without
    /// the totals (`TOTALS` false) and with a plain frame's split left unmasked (its zero
    /// level bitmap books none), 113 a mini-block: the loop no longer spills the
    /// registers it shuffled around the split's read (28.1 M for the whole scan).
    ///
    /// The walk's state (index, payload offset, reference and split bit positions) and
    /// the part's scalar sums are kept in locals for the loop and written back after it:
    /// read through `minis` and `sums` on every mini-block, they were spilled and
    /// reloaded (callgrind, 300-meter scan: kernel 39.3 M -> 35.8 M instructions; about 85
    /// of a mini-block's instructions are the vector work). The loop walks descriptor and
    /// payload pointers, reads references and splits with BMI2 (`shrx`, `bzhi`: no mask
    /// or shift count in a register), steps the phase through a table (no period and
    /// step in registers), books each reference once per lane, and adds the column's
    /// base once after the loop rather than to every reference (callgrind, 300-meter
    /// scan: 170 -> 151 instructions per mini-block with the 128-byte-aligned width
    /// constants of `simd::x86` and the groups read through a stepped pointer).
    ///
    /// # Safety
    /// Must be inlined into a function with AVX2, POPCNT and BMI2 enabled; `stop` at most
    /// the walk's range end.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn stretch<S: RefSum, const BITMAP: bool, const TOTALS: bool>(
        &self,
        minis: &mut MiniWalk<'_, '_>,
        walk: &mut MaskWalk<'_>,
        phase: usize,
        run_end: usize,
        stop: usize,
        mask: &ClassMask,
        sums: &mut Part<S>,
    ) -> bool {
        if !self.vector_fits_all::<BITMAP>() {
            return false;
        }
        let (k0, to) = (minis.index(), walk.to);
        let unchecked = minis.unchecked_until().min(self.in_place_until());
        let payload = self.readable().as_ptr();
        let descs = self.descs().as_ptr();
        let mut desc = descs.add(k0);
        // The payload position as a pointer: fewer values for the loop to keep in
        // registers.
        let mut src_at = payload.add(minis.payload_at());
        let (refs, splits) = (self.refs().as_ptr(), self.splits().as_ptr());
        let mut split_bit = minis.split_bit();
        let (ref_width, split_width) = (self.ref_width() as u32, self.split_width() as u32);
        // Groups of 8 references (`ref_width` bytes each) that the vector path can
        // unpack in place: `group_reach` of the width readable from the group's start.
        let refs_readable = self.readable().as_ptr_range().end.offset_from(refs) as usize;
        let vector_ref_groups = match ref_width <= MAX_SIMD_WIDTH as u32 {
            true => refs_readable
                .checked_sub(group_reach(ref_width as usize))
                .map_or(0, |n| n / (ref_width as usize).max(1) + 1),
            false => 0,
        };
        let ref_pattern = Pattern::new((ref_width as usize).min(MAX_SIMD_WIDTH as usize));
        let (lanes, bits, next) = (mask.lanes.as_ptr(), mask.bits.as_ptr(), mask.next.as_ptr());
        // The lanes may hold mini-blocks of the general loop: widened here, so that
        // widening at every eighth mini-block of the stretch keeps the lanes in range.
        sums.flush();
        let mut acc = Lanes {
            total: sums.lanes.total,
            marked: sums.lanes.marked,
        };
        // The frames' sums of whole mini-blocks without the column's base, which is
        // added once after the loop: the raw references once per lane (every lane is in
        // range) and per marked lane, with the splits of upper-level lanes.
        let (mut total, mut day, mut count) = (S::ZERO, S::ZERO, 0u64);
        let whole = LaneRun::of(u64::MAX);
        let (mut phase, mut run_end) = (phase, run_end);
        // The reference offset of the mini-block at `desc`, read from the packed array.
        macro_rules! reference {
            () => {{
                let ref_bit = desc.offset_from(descs) as usize * ref_width as usize;
                // SAFETY: as in `frame!`.
                _bzhi_u64(BitReader::get_raw(refs, ref_bit, u64::MAX), ref_width)
            }};
        }
        // The frame of the mini-block at `desc` (of reference offset `reference`), and
        // where the next one starts.
        macro_rules! frame {
            ($base:expr, $reference:expr) => {{
                let d = *desc;
                let next_at = src_at.add(bitpack::packed_len(packed_width(d)));
                // SAFETY: below `unchecked` (the walk's `unchecked_until` and
                // `in_place_until`) the arrays have 8 bytes from the positions and the
                // mini-block has `READ_SLACK` readable bytes after it. BMI2 is enabled.
                let split = _bzhi_u64(BitReader::get_raw(splits, split_bit, u64::MAX), split_width);
                let word = match BITMAP {
                    true => u64::from_le((src_at as *const u64).read_unaligned()),
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
        let widen_every = 1usize << (29 - value_bits.min(26)).min(24);
        // Mini-blocks summed into the lanes since they were last widened.
        let mut in_lanes = 0usize;
        // Counts `n` mini-blocks summed into the lanes; widens them when 8 more might
        // not fit.
        macro_rules! summed {
            ($n:expr) => {{
                in_lanes += $n;
                if in_lanes > widen_every - FLUSH_EVERY {
                    widen(&mut acc.total, &mut sums.wide_total);
                    widen(&mut acc.marked, &mut sums.wide_marked);
                    in_lanes = 0;
                }
            }};
        }
        // Moves past the mini-block `m` (ending at `next_at`).
        macro_rules! step {
            ($m:expr, $next_at:expr) => {{
                split_bit += split_width as usize & 0usize.wrapping_sub($m.two_level as usize);
                src_at = $next_at;
                desc = desc.add(1);
            }};
        }
        // Moves past the mini-block `m` and counts it.
        macro_rules! advance {
            ($m:expr, $next_at:expr) => {{
                step!($m, $next_at);
                summed!(1);
            }};
        }
        // Books whole mini-block `m` with marked lanes `marked` in the local sums.
        macro_rules! book {
            ($m:expr, $marked:expr) => {{
                let (m, marked): (&Mini, u64) = ($m, $marked);
                let n_marked = marked.count_ones();
                if TOTALS {
                    total = total.add_times(m.reference, MINI_LEN as u32);
                }
                day = day.add_times(m.reference, n_marked);
                count += n_marked as u64;
                if BITMAP {
                    let split = m.split as u64;
                    if TOTALS {
                        total = total.add_split(split, m.levels.count_ones());
                    }
                    day = day.add_split(split, (m.levels & marked).count_ones());
                }
            }};
        }
        // Whether the range's partial last mini-block was summed (booked apart).
        let mut tail = false;
        loop {
            // Whole mini-blocks of the current run.
            let end = descs.add((run_end.min(stop) / MINI_LEN).min(unchecked));
            while desc < end {
                // A batch: up to the end of the group of 8 mini-blocks that holds this
                // one, whose references are unpacked together; the lanes are widened
                // after it.
                let k = desc.offset_from(descs) as usize;
                let (group, first) = (k / 8, k % 8);
                let n = (end.offset_from(desc) as usize).min(8 - first);
                let batch_end = desc.add(n);
                let mut group_refs = [0u64; 8];
                if group < vector_ref_groups {
                    // SAFETY: `group_reach(ref_width)` bytes are readable from the
                    // group's start (`vector_ref_groups`); AVX2 is enabled.
                    let r = ref_pattern.unpack_group(refs.add(group * ref_width as usize));
                    let out = group_refs.as_mut_ptr() as *mut __m256i;
                    _mm256_storeu_si256(out, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(r)));
                    _mm256_storeu_si256(
                        out.add(1),
                        _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(r)),
                    );
                } else {
                    for (j, r) in group_refs.iter_mut().enumerate().skip(first).take(n) {
                        let bit = (k - first + j) * ref_width as usize;
                        // SAFETY: as in `frame!`.
                        *r = _bzhi_u64(BitReader::get_raw(refs, bit, u64::MAX), ref_width);
                    }
                }
                let mut reference_at = group_refs.as_ptr().add(first);
                while desc < batch_end {
                    let (m, next_at) = frame!(0, *reference_at);
                    reference_at = reference_at.add(1);
                    let src = src_at.add(m.values_at());
                    for line in [0, 64] {
                        let ahead = src.wrapping_add(PREFETCH_AHEAD + line);
                        _mm_prefetch::<_MM_HINT_T0>(ahead as *const i8);
                    }
                    // SAFETY: `phase < period`, and the lanes hold `period + 64` entries.
                    let day_lanes = &*(lanes.add(phase) as *const [u32; MINI_LEN]);
                    // SAFETY: AVX2 is enabled; the payload has `group_reach` of the width
                    // from the values' start (checked above).
                    mini::<false, BITMAP, TOTALS>(src, &m, whole, day_lanes, &mut acc);
                    // SAFETY: `phase < period`, the length of `bits` and `next`. `next` is
                    // `ClassMask::next_phase`'s table, read without its bounds check.
                    book!(&m, *bits.add(phase));
                    step!(m, next_at);
                    phase = *next.add(phase) as usize;
                }
                summed!(n);
            }
            // The mini-block at `lo`, where the run or the part ends.
            let k = desc.offset_from(descs) as usize;
            let lo = k * MINI_LEN;
            if k >= unchecked || lo >= stop {
                break;
            }
            if run_end == lo {
                // The next run starts with this mini-block.
                walk.r += 1;
                phase = walk.runs[walk.r].phase;
            } else if lo + MINI_LEN <= stop && run_end < lo + MINI_LEN {
                // Runs end inside this whole mini-block: its marked lanes run by run.
                let (m, next_at) = frame!(0, reference!());
                let marked = walk.piece(lo, 0, MINI_LEN);
                let day_lanes = walk.spread(marked);
                // SAFETY: as in the loop above.
                mini::<false, BITMAP, TOTALS>(
                    src_at.add(m.values_at()),
                    &m,
                    whole,
                    day_lanes,
                    &mut acc,
                );
                book!(&m, marked);
                advance!(m, next_at);
                // Lane 0 of the next mini-block, in the run that holds it.
                let runs = walk.runs;
                while walk.r + 1 < runs.len() && runs[walk.r + 1].start <= lo + MINI_LEN {
                    walk.r += 1;
                }
                phase = phase_at(runs[walk.r], lo + MINI_LEN, mask);
            } else if stop == to && run_end >= to && lo + MINI_LEN > to {
                // The range ends inside this mini-block, in the current run: its lanes up
                // to the end, booked with the base (the local sums are for whole ones).
                let (m, next_at) = frame!(self.base(), reference!());
                let lanes_in = lane_bits(0, to - lo);
                // SAFETY: `phase < period`, the payload has `group_reach` of the width
                // from the values' start (checked above); AVX2 is enabled.
                let day_lanes = &*(lanes.add(phase) as *const [u32; MINI_LEN]);
                let run = LaneRun::of(lanes_in);
                mini::<true, BITMAP, TOTALS>(
                    src_at.add(m.values_at()),
                    &m,
                    run,
                    day_lanes,
                    &mut acc,
                );
                sums.frames
                    .book::<BITMAP>(&m, lanes_in, *bits.add(phase) & lanes_in);
                // Not counted: the loop ends here, and the lanes are widened after it.
                step!(m, next_at);
                phase = *next.add(phase) as usize;
                tail = true;
                break;
            } else {
                break;
            }
            let runs = walk.runs;
            run_end = runs.get(walk.r + 1).map_or(to, |n| n.start.min(to));
        }
        let k = desc.offset_from(descs) as usize;
        let (summed, whole_n) = (k > k0, k - k0 - tail as usize);
        minis.set_position(k, src_at.offset_from(payload) as usize, split_bit);
        let f = &mut sums.frames;
        let base = self.base();
        f.total = f
            .total
            .add_times(base, (whole_n * MINI_LEN) as u32)
            .plus(total);
        f.day = f.day.add_times(base, count as u32).plus(day);
        f.count += count;
        sums.lanes = acc;
        // The general loop counts up to `FLUSH_EVERY` from here.
        sums.flush();
        if summed {
            // The walk goes on at the next mini-block, lane 0 at `phase` in run `r`.
            walk.skipped(mask.prev_phase(phase), run_end);
        }
        summed
    }

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
        let mut sums = Part::<S>::new();
        // Cuts at or before `from` leave their parts empty.
        let mut part = cuts.partition_point(|&c| c <= from);
        // Zeroed on first use: most calls never need it.
        let mut pad: Option<Padded> = None;
        let mut walk = MaskWalk::new(mask, runs, to);
        let mut minis = self.minis_from(from / MINI_LEN);
        let mut k = from / MINI_LEN;
        while k < to.div_ceil(MINI_LEN) {
            let lo = k * MINI_LEN;
            // Parts that end where this mini-block starts (a local midnight on a mini-block
            // boundary) are closed here, so that the stretch loop takes it.
            while CUTS && part < cuts.len() && cuts[part] <= lo {
                sums.close(&mut out[part]);
                part += 1;
            }
            // Whole mini-blocks inside the range and one part: the stretch loop.
            if let Some((phase, end)) = walk.whole_from(lo) {
                let stop = match CUTS {
                    true => cuts.get(part).map_or(to, |&c| c.min(to)),
                    false => to,
                };
                if self.stretch::<S, BITMAP, TOTALS>(
                    &mut minis, &mut walk, phase, end, stop, mask, &mut sums,
                ) {
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
                        // SAFETY: AVX2 is enabled here; `src` has `group_reach(w)` readable
                        // bytes (checked above, or the padded copy of 64 * 8 + 16 bytes);
                        // w <= 25.
                        // `r` is one run of lanes: the range's, cut below a cut or above one.
                        let run = LaneRun::of(r);
                        if r == u64::MAX {
                            mini::<false, BITMAP, true>(src, &m, run, mm.lanes, &mut sums.lanes);
                        } else {
                            mini::<true, BITMAP, true>(src, &m, run, mm.lanes, &mut sums.lanes);
                        }
                        sums.add_frame::<BITMAP>(&m, r, d);
                    }
                }
                if mine == u64::MAX {
                    break;
                }
                // The cut falls inside this mini-block: close the part.
                sums.close(&mut out[part]);
                part += 1;
                range &= !mine;
                marked &= !mine;
            }
            k += 1;
        }
        sums.close(&mut out[part.min(cuts.len())]);
    }
}
