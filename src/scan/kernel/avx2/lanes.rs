//! The vector side of the AVX2 kernel: one mini-block's offsets added to 32-bit lane
//! accumulators ([`mini`]), lane runs and masks, and the scalar sums of the frame
//! references that go with them ([`Part`]).

use super::{FLUSH_EVERY, MAX_VECTOR_SPLIT};
use crate::codec::bitpack::MINI_LEN;
use crate::codec::ints::Mini;
use crate::codec::simd::x86::Pattern;
use crate::codec::simd::MAX_SIMD_WIDTH;
use crate::scan::kernel::mask::lane_bits;
use std::arch::x86_64::*;

/// Lane sums of all values and of the marked ones (offsets from the frame references).
pub(super) struct Lanes {
    pub(super) total: __m256i,
    pub(super) marked: __m256i,
}

/// Lane masks of a run of lanes `a..b`: the lanes at or after `a` and those at or after
/// `b`, both windows of one static table; the run is the first without the second (a
/// mini-block cut by the range or by a cut takes one run of lanes, and filling a 64-lane
/// mask per mini-block was most of the per-day kernel's work).
#[derive(Clone, Copy)]
pub(super) struct LaneRun {
    pub(super) from: &'static [u32; MINI_LEN],
    pub(super) to: &'static [u32; MINI_LEN],
}

/// Zeros, then ones from index 64: the window at `64 - a` marks the lanes from `a` on.
pub(super) static RISE: [u32; 2 * MINI_LEN] = {
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
    pub(super) fn of(bits: u64) -> LaneRun {
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
/// Must be inlined into a function with AVX2 enabled (a `#[target_feature]` function
/// might not be inlined into the kernel's loops); `group_reach` of `m`'s width must be
/// readable from `src`, and [`vector_fits`] must hold for `m`.
#[inline(always)]
pub(super) unsafe fn mini<const PART: bool, const BITMAP: bool, const TOTALS: bool>(
    src: *const u8,
    m: &Mini,
    part: LaneRun,
    day: &[u32; MINI_LEN],
    acc: &mut Lanes,
) {
    // SAFETY: AVX2 is enabled where this function is inlined; the caller's contract.
    unsafe {
        let mut unused = Lanes {
            total: _mm256_setzero_si256(),
            marked: _mm256_setzero_si256(),
        };
        mini_parts::<PART, false, BITMAP, TOTALS>(src, m, part, day, acc, &mut unused)
    }
}

/// [`mini`] over a whole mini-block whose lanes belong to two parts: the offsets of the
/// lanes from `split.from` on go to `after`, the others to `before` (one pass over the
/// packed values for a mini-block that a local midnight cuts).
///
/// # Safety
/// As for [`mini`].
#[inline(always)]
pub(super) unsafe fn mini_split<const BITMAP: bool, const TOTALS: bool>(
    src: *const u8,
    m: &Mini,
    split: LaneRun,
    day: &[u32; MINI_LEN],
    before: &mut Lanes,
    after: &mut Lanes,
) {
    // SAFETY: the caller's contract.
    unsafe { mini_parts::<false, true, BITMAP, TOTALS>(src, m, split, day, before, after) }
}

/// The body of [`mini`] and [`mini_split`]: with `SPLIT`, the lanes from `part.from` on
/// go to `rest` instead of `acc`.
///
/// # Safety
/// As for [`mini`].
#[inline(always)]
unsafe fn mini_parts<
    const PART: bool,
    const SPLIT: bool,
    const BITMAP: bool,
    const TOTALS: bool,
>(
    src: *const u8,
    m: &Mini,
    part: LaneRun,
    day: &[u32; MINI_LEN],
    acc: &mut Lanes,
    rest: &mut Lanes,
) {
    // SAFETY: AVX2 is enabled where this function is inlined (the caller's contract).
    // `vector_fits` holds for `m`, so its width is at most `MAX_SIMD_WIDTH`; group `g`
    // starts `g * width` bytes after `src`, within the `group_reach` the caller
    // guarantees; the lane masks hold 64 lanes, and `g * 8 + 8 <= 64`.
    unsafe {
        let width = m.width() as usize;
        let pat = Pattern::new(width);
        let (level, split) = (m.two_level as i32, m.split as i32);
        let (mut total, mut marked) = (acc.total, acc.marked);
        let (mut rest_total, mut rest_marked) = (rest.total, rest.marked);
        let shift = _mm_cvtsi32_si128(level);
        let (level, split) = (_mm256_set1_epi32(level), _mm256_set1_epi32(split));
        let zero = _mm256_setzero_si256();
        let mut at = src;
        for g in 0..MINI_LEN / 8 {
            // A pointer stepped by the width (not `src + g * width`: a multiply or two per
            // group).
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
            if SPLIT {
                let from = _mm256_loadu_si256(part.from.as_ptr().add(g * 8) as *const __m256i);
                let y = _mm256_and_si256(x, from);
                x = _mm256_andnot_si256(from, x);
                if TOTALS {
                    rest_total = _mm256_add_epi32(rest_total, y);
                }
                rest_marked = _mm256_add_epi32(rest_marked, _mm256_and_si256(y, d));
            }
            if TOTALS {
                total = _mm256_add_epi32(total, x);
            }
            marked = _mm256_add_epi32(marked, _mm256_and_si256(x, d));
        }
        acc.total = total;
        acc.marked = marked;
        if SPLIT {
            rest.total = rest_total;
            rest.marked = rest_marked;
        }
    }
}

/// The scalar sums of the frame references: `i64` when the column's references are small
/// enough that no sum over it can overflow (always, for metered data), else `i128`.
pub(super) trait RefSum: Copy {
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
pub(super) struct Frames<S> {
    pub(super) day: S,
    pub(super) total: S,
    pub(super) count: u64,
}

impl<S: RefSum> Frames<S> {
    /// Books the frame of mini-block `m`, whose offsets [`mini`] added to the lanes
    /// `in_range` and `marked` (bits): its reference once per lane, and its split once per
    /// upper-level lane of a level bitmap (none for other frames).
    #[inline(always)]
    pub(super) fn book<const BITMAP: bool>(&mut self, m: &Mini, in_range: u64, marked: u64) {
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
pub(super) struct Part<S> {
    pub(super) frames: Frames<S>,
    pub(super) lanes: Lanes,
    pub(super) wide_total: __m256i,
    pub(super) wide_marked: __m256i,
    pub(super) since_flush: usize,
}

impl<S: RefSum> Part<S> {
    /// Zero sums.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn new() -> Self {
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
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn add_frame<const BITMAP: bool>(&mut self, m: &Mini, in_range: u64, marked: u64) {
        self.frames.book::<BITMAP>(m, in_range, marked);
        self.since_flush += 1;
        if self.since_flush == FLUSH_EVERY {
            self.flush();
        }
    }

    /// Widens the 32-bit lane sums into the 64-bit ones.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn flush(&mut self) {
        widen(&mut self.lanes.total, &mut self.wide_total);
        widen(&mut self.lanes.marked, &mut self.wide_marked);
        self.since_flush = 0;
    }

    /// Adds the part's sums to `out` and starts the next part from zero.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn close(&mut self, out: &mut (i128, i128, u64)) {
        self.flush();
        let (marked, total) = lanes_sums(self.wide_marked, self.wide_total);
        out.0 += self.frames.day.get() + marked;
        out.1 += self.frames.total.get() + total;
        out.2 += self.frames.count;
        *self = Part::new();
    }
}

/// Adds the 32-bit lanes of `narrow` to the 64-bit lanes of `wide` and clears `narrow`.
#[target_feature(enable = "avx2")]
#[inline]
pub(in crate::scan::kernel) fn widen(narrow: &mut __m256i, wide: &mut __m256i) {
    let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(*narrow));
    let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(*narrow));
    *wide = _mm256_add_epi64(*wide, _mm256_add_epi64(lo, hi));
    *narrow = _mm256_setzero_si256();
}

/// The sums of the 64-bit lanes of `a` and of `b`, reduced together in the vector. The
/// lanes hold sums of unsigned offsets read from memory (each below 2^32, a delta's
/// weight included), so all four of a vector add up far below 2^64: `u64` adds are exact.
#[target_feature(enable = "avx2")]
#[inline]
pub(in crate::scan::kernel) fn lanes_sums(a: __m256i, b: __m256i) -> (i128, i128) {
    // [a0 + a1, b0 + b1, a2 + a3, b2 + b3], then its two halves added: [a, b].
    let pairs = _mm256_add_epi64(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
    let both = _mm_add_epi64(
        _mm256_castsi256_si128(pairs),
        _mm256_extracti128_si256::<1>(pairs),
    );
    (
        _mm_cvtsi128_si64(both) as u64 as i128,
        _mm_extract_epi64::<1>(both) as u64 as i128,
    )
}

/// Whether the vector path takes a mini-block: value widths up to 25 and, in the version 1
/// layout, splits that fit the lanes (see [`FLUSH_EVERY`]).
#[inline(always)]
pub(super) fn vector_fits<const BITMAP: bool>(m: &Mini) -> bool {
    match BITMAP {
        true => m.width() <= MAX_SIMD_WIDTH,
        false => m.packed_width <= MAX_SIMD_WIDTH && (m.split as u64) < MAX_VECTOR_SPLIT,
    }
}
