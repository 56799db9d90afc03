//! The periodic day/night kernel with explicit AVX2.
//!
//! One pass per mini-block, fused: each group of 8 values is unpacked into the 32-bit
//! lanes of a register straight from the column's bytes and added, whole and under the
//! day mask, to two 32-bit lane accumulators (widened to 64-bit lanes every
//! [`FLUSH_EVERY`] mini-blocks). Nothing is stored per value and there is no horizontal
//! reduction per mini-block. The parts that depend on the mini-block's frame are scalar
//! and use lane counts only: the reference times the number of lanes (day lanes are a
//! popcount of the pattern's precomputed bits) and, for two-level frames, the split times
//! the number of upper-level lanes (the level bits gathered with `movemask`). Two-level
//! offsets are shifted right by one before they are added, so both frame kinds share the
//! accumulators.
//!
//! One code path serves every packed width up to 25 and both frame kinds: the unpacking
//! constants of the width are loaded per mini-block and the two-level shift is a shift by
//! 0 or 1, so successive mini-blocks of different widths and kinds cost no indirect call
//! or unpredictable branch (measured: a table of width-specialised kernels was slower,
//! with the indirect call mispredicted on most mini-blocks). Mini-blocks cut by the range
//! (the first and last of a column at most) also mask their lanes. A mini-block is read in place when the column has [`group_reach`] bytes from its start,
//! else (the last one or two of a column) from a padded copy.

use super::{decode_scalar, ClassMask, IntColumn, MaskWalk, PhaseRun, MINI_LEN};
use crate::codec::bitpack::{self, Padded};
use crate::codec::simd::x86::{group_reach, Pattern};
use crate::codec::simd::MAX_SIMD_WIDTH;
use std::arch::x86_64::*;

/// Mini-blocks between widenings of the 32-bit lane accumulators. Q: why 16? A: a lane
/// gets 8 offsets below 2^25 per mini-block, and 16 * 8 * (2^25 - 1) < 2^32.
const FLUSH_EVERY: usize = 16;

/// Bytes ahead of the current mini-block to prefetch: about four mini-blocks of
/// 15-minute data.
const PREFETCH_AHEAD: usize = 384;

/// Lane sums of all offsets and of the marked ones.
struct Lanes {
    total: __m256i,
    marked: __m256i,
}

/// Sums one mini-block into `acc`: `src` holds its packed bytes (`group_reach` of the
/// pattern's width readable), `day` its class lanes, `part` (read when `PART`, for a
/// mini-block cut by the range) its lanes inside the range. Two-level offsets (`two`) are shifted right by one
/// before they are added; returns the level bits of the lanes (meaningless for plain
/// frames, whose split is zero).
///
/// # Safety
/// Must be inlined into a function with AVX2 enabled; the bytes must be readable.
#[inline(always)]
unsafe fn mini<const PART: bool>(
    src: *const u8,
    pat: &Pattern,
    width: usize,
    two: bool,
    part: &[u32; MINI_LEN],
    day: &[u32; MINI_LEN],
    acc: &mut Lanes,
) -> u64 {
    let (mut total, mut marked) = (acc.total, acc.marked);
    let mut levels = 0u64;
    let level_shift = _mm_cvtsi32_si128(two as i32);
    for g in 0..MINI_LEN / 8 {
        // SAFETY: the caller guarantees the bytes; the masks hold 64 lanes.
        let mut x = pat.unpack_group(src.add(g * width));
        if PART {
            let r = _mm256_loadu_si256(part.as_ptr().add(g * 8) as *const __m256i);
            x = _mm256_and_si256(x, r);
        }
        // Level bits and the shift are computed for both frame kinds: a branch on the kind
        // would be as unpredictable as the kinds of successive mini-blocks.
        let low = _mm256_slli_epi32::<31>(x);
        levels |= (_mm256_movemask_ps(_mm256_castsi256_ps(low)) as u8 as u64) << (g * 8);
        x = _mm256_srl_epi32(x, level_shift);
        let d = _mm256_loadu_si256(day.as_ptr().add(g * 8) as *const __m256i);
        total = _mm256_add_epi32(total, x);
        marked = _mm256_add_epi32(marked, _mm256_and_si256(x, d));
    }
    acc.total = total;
    acc.marked = marked;
    levels
}

/// Adds the 32-bit lanes of `narrow` to the 64-bit lanes of `wide` and clears `narrow`.
#[inline(always)]
unsafe fn widen(narrow: &mut __m256i, wide: &mut __m256i) {
    let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(*narrow));
    let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(*narrow));
    *wide = _mm256_add_epi64(*wide, _mm256_add_epi64(lo, hi));
    *narrow = _mm256_setzero_si256();
}

#[inline(always)]
unsafe fn lanes_sum(wide: __m256i) -> i128 {
    let mut l = [0u64; 4];
    _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, wide);
    l.iter().map(|&x| x as i128).sum()
}

impl IntColumn<'_> {
    /// The body of [`IntColumn::class_sums`] on AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn class_sums_avx2(
        &self,
        runs: &[PhaseRun],
        to: usize,
        mask: &ClassMask,
    ) -> (i128, i128, u64) {
        let (mut day, mut total, mut count) = (0i128, 0i128, 0u64);
        let from = runs[0].start;
        if from >= to {
            return (day, total, count);
        }
        let mut acc = Lanes {
            total: _mm256_setzero_si256(),
            marked: _mm256_setzero_si256(),
        };
        let (mut wide_total, mut wide_marked) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut pad = Padded::default();
        let mut in_range = [0u32; MINI_LEN];
        let mut since_flush = 0;
        let mut walk = MaskWalk::new(mask, runs, to);
        let mut minis = self.minis_from(from / MINI_LEN);
        for k in from / MINI_LEN..to.div_ceil(MINI_LEN) {
            let (m, at) = minis.next().expect("mini-block within the column");
            let mm = walk.next(k * MINI_LEN);
            let bytes = &self.payload[at..at + bitpack::packed_len(m.packed_width)];
            if m.packed_width > MAX_SIMD_WIDTH {
                let mut vals = [0i64; MINI_LEN];
                decode_scalar(pad.load(bytes), &m, &mut vals);
                let mut sums = (day, total, count);
                mm.add_values(&vals, &mut sums);
                (day, total, count) = sums;
                continue;
            }
            let pw = m.packed_width as usize;
            let src = if self.payload.len() - at >= group_reach(pw) {
                bytes.as_ptr()
            } else {
                pad.load(bytes).bytes().as_ptr()
            };
            let part = mm.range != u64::MAX;
            if part {
                for (i, r) in in_range.iter_mut().enumerate() {
                    *r = 0u32.wrapping_sub((mm.range >> i & 1) as u32);
                }
            }
            // SAFETY: AVX2 is enabled here; `src` has `group_reach(pw)` readable bytes
            // (checked above, or the padded copy of 64 * 8 + 16 bytes); pw <= 25.
            // Blocks are a few KiB, too short for the hardware prefetcher to get ahead.
            _mm_prefetch::<_MM_HINT_T0>(src.wrapping_add(PREFETCH_AHEAD) as *const i8);
            let pat = Pattern::new(pw);
            let levels = if part {
                mini::<true>(src, &pat, pw, m.two_level, &in_range, mm.lanes, &mut acc)
            } else {
                mini::<false>(src, &pat, pw, m.two_level, &in_range, mm.lanes, &mut acc)
            };
            let (n_all, n_day) = (mm.range.count_ones(), mm.marked.count_ones());
            let r = m.reference as i128;
            total += r * n_all as i128;
            day += r * n_day as i128;
            count += n_day as u64;
            // Plain frames have a zero split: no branch on the frame kind.
            let split = m.split as u64 as i128;
            total += split * (levels & mm.range).count_ones() as i128;
            day += split * (levels & mm.marked).count_ones() as i128;
            since_flush += 1;
            if since_flush == FLUSH_EVERY {
                widen(&mut acc.total, &mut wide_total);
                widen(&mut acc.marked, &mut wide_marked);
                since_flush = 0;
            }
        }
        widen(&mut acc.total, &mut wide_total);
        widen(&mut acc.marked, &mut wide_marked);
        total += lanes_sum(wide_total);
        day += lanes_sum(wide_marked);
        (day, total, count)
    }
}
