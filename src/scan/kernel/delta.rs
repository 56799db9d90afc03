//! The day/night kernel for delta-mode columns, with explicit AVX2.
//!
//! A delta-mode column stores `t[j] = v[j] - v[j - 1]`, so a value is the level before its
//! mini-block plus the deltas up to its lane: with `L` the value before lane 0, the sum of
//! the values of the lanes in a set `S` is `L * |S| + sum over j of t[j] * w[j]`, where
//! `w[j]` counts the lanes of `S` at or after `j`. Nothing is prefix-summed: each group of
//! 8 packed offsets is unpacked into the 32-bit lanes of a register, as in the value-mode
//! kernel, and multiplied by its 8 weights. For a whole mini-block of one phase run the
//! weights of the day lanes are a row of the class mask's table (`ClassMask::weights`,
//! one per phase), and those of all lanes the constant `64 - j`; the frame's reference,
//! split and the level `L` are booked on the scalar side (the reference times the row's
//! sum, the split times the row's weights under the level bitmap), and the level moves on
//! by the mini-block's sum, one horizontal add of its offsets.
//!
//! A whole mini-block that a gap falls inside (a phase run starting past its lane 0) takes
//! a step of its own: its offsets are unpacked into the lanes as in that loop, with the
//! weights of its day lanes pieced from the runs (the rows of the two runs' phases joined
//! at the gap, or with several gaps inside the suffix counts of the pieced lanes).
//! Mini-blocks where a cut between parts or the range's ends fall take the general step:
//! their offsets are unpacked once, and the sums of the lanes below each cut and of the
//! whole mini-block are each one dot product with weights built from the lanes' bits
//! ([`suffix_counts`]); a part's share is the difference of two of them.
//!
//! The kernel takes columns with level bitmaps, offsets of at most [`MAX_DELTA_WIDTH`]
//! bits and values small enough that every sum fits `i64` ([`IntColumn::delta_kernel_fits`]);
//! the others are decoded and summed value by value.

use super::avx2::{lanes_sums, widen};
use super::mask::{lane_bits, set_weight, suffix_counts, ClassMask, MaskWalk};
use super::ClassQuery;
use crate::codec::bitpack::{self, BitReader, Padded, MINI_LEN};
use crate::codec::ints::{packed_width, IntColumn, Mini, MiniWalk};
use crate::codec::simd::{self, x86::Pattern};
use std::arch::x86_64::*;

/// Widest offsets the kernel takes: a lane gets 8 products a mini-block of an offset below
/// `2^22` and a weight of at most 64, below `2^31` together, so the 32-bit lanes hold at
/// least one mini-block between widenings.
pub(super) const MAX_DELTA_WIDTH: u8 = 22;

/// Lane `j`'s weight in the sum of all 64 values: `64 - j`.
static TAIL_LANES: [u32; MINI_LEN] = {
    let mut t = [0u32; MINI_LEN];
    let mut j = 0;
    while j < MINI_LEN {
        t[j] = (MINI_LEN - j) as u32;
        j += 1;
    }
    t
};
/// The sum of the weights `64 - j`.
const TAIL_SUM: i64 = (MINI_LEN * (MINI_LEN + 1) / 2) as i64;

/// The number of pairs `(j, i)` with `j` in `u`, `i` in `m` and `j <= i`: the split's
/// weight in the sum of the values of the lanes `m` of a two-level mini-block whose level
/// bitmap is `u` (each upper-level delta counts once for every lane of `m` at or after
/// it). Taken run by run of `m` (a day mask has one or two runs in a mini-block of 15-minute
/// data): a run `a..b` counts `b - a` for each bit of `u` below it and `b - j` for each bit
/// `j` of `u` inside it.
#[inline(always)]
fn pair_count(u: u64, mut m: u64) -> i64 {
    let mut n = 0i64;
    while m != 0 {
        let a = m.trailing_zeros() as usize;
        let b = a + (!(m >> a)).trailing_zeros().min(64 - a as u32) as usize;
        let run = lane_bits(a, b);
        let inside = u & run;
        // The sum of `b - j` over the bits `j` inside: `(b + 1)` each, less `j + 1` each.
        n += ((b - a) as u32 * (u & lane_bits(0, a)).count_ones()) as i64
            + ((b as u32 + 1) * inside.count_ones()) as i64
            - set_weight(inside) as i64;
        m &= !run;
    }
    n
}

/// The sum of 64 products of offsets below `2^22` and weights of at most 64, exactly: 8
/// lane sums below `2^31`, added as `u64`.
#[inline(always)]
fn dot(offs: &[u32; MINI_LEN], row: &[u8; MINI_LEN]) -> u64 {
    let mut acc = [0u32; 8];
    for (x, w) in offs.chunks_exact(8).zip(row.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] = acc[l].wrapping_add(x[l].wrapping_mul(w[l] as u32));
        }
    }
    acc.iter().map(|&a| a as u64).sum()
}

/// The running sums of one part: the scalar bookings (references, splits, levels) and the
/// lane sums of the offsets times their weights, for the day lanes and for all lanes.
struct DeltaPart {
    day: i64,
    total: i64,
    count: u64,
    day_lanes: __m256i,
    total_lanes: __m256i,
    wide_day: __m256i,
    wide_total: __m256i,
    /// Mini-blocks summed into the 32-bit lanes since they were widened.
    in_lanes: usize,
}

impl DeltaPart {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new() -> DeltaPart {
        DeltaPart {
            day: 0,
            total: 0,
            count: 0,
            day_lanes: _mm256_setzero_si256(),
            total_lanes: _mm256_setzero_si256(),
            wide_day: _mm256_setzero_si256(),
            wide_total: _mm256_setzero_si256(),
            in_lanes: 0,
        }
    }

    /// Counts a mini-block summed into the lanes; widens them every `every`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn summed(&mut self, every: usize) {
        self.in_lanes += 1;
        if self.in_lanes >= every {
            widen(&mut self.day_lanes, &mut self.wide_day);
            widen(&mut self.total_lanes, &mut self.wide_total);
            self.in_lanes = 0;
        }
    }

    /// Adds the part's sums to `out` and starts the next part from zero.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn close(&mut self, out: &mut (i128, i128, u64)) {
        widen(&mut self.day_lanes, &mut self.wide_day);
        widen(&mut self.total_lanes, &mut self.wide_total);
        let (day, total) = lanes_sums(self.wide_day, self.wide_total);
        out.0 += self.day as i128 + day;
        out.1 += self.total as i128 + total;
        out.2 += self.count;
        *self = DeltaPart::new();
    }
}

/// Sums the offsets of a whole mini-block of width `width` (its packed values at `src`,
/// `group_reach` of the width readable) into the lanes: times the weights `row` into
/// `day`, times `64 - j` into `total` when `TOTALS`. Returns the sum of the offsets.
///
/// # Safety
/// Must be inlined into a function with AVX2 enabled; `width <= MAX_DELTA_WIDTH`; `row`
/// has 64 readable bytes.
#[inline(always)]
unsafe fn whole<const TOTALS: bool>(
    src: *const u8,
    width: usize,
    row: *const u8,
    day: &mut __m256i,
    total: &mut __m256i,
) -> i64 {
    // SAFETY: AVX2 is enabled where this function is inlined, the caller keeps the
    // width within the vector table and the loads inside the readable bytes (see above).
    unsafe {
        let pat = Pattern::new(width);
        let (mut sum, mut d, mut t) = (_mm256_setzero_si256(), *day, *total);
        let mut at = src;
        for g in 0..MINI_LEN / 8 {
            let x = pat.unpack_group(at);
            at = at.wrapping_add(width);
            sum = _mm256_add_epi32(sum, x);
            let w = _mm256_cvtepu8_epi32(_mm_loadl_epi64(row.add(8 * g) as *const __m128i));
            d = _mm256_add_epi32(d, _mm256_mullo_epi32(x, w));
            if TOTALS {
                let tail = _mm256_loadu_si256(TAIL_LANES.as_ptr().add(8 * g) as *const __m256i);
                t = _mm256_add_epi32(t, _mm256_mullo_epi32(x, tail));
            }
        }
        *day = d;
        *total = t;
        // 64 offsets below 2^22: the 32-bit lane sums cannot overflow.
        let s = _mm_add_epi32(
            _mm256_castsi256_si128(sum),
            _mm256_extracti128_si256::<1>(sum),
        );
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s) as u32 as i64
    }
}

/// The level after mini-block `m` whose offsets sum to `x`, from the level `level`
/// before it: the sum of its 64 deltas added.
#[inline(always)]
fn level_after(level: i64, m: &Mini, x: i64) -> i64 {
    level
        .wrapping_add(m.reference.wrapping_mul(MINI_LEN as i64))
        .wrapping_add(x)
        .wrapping_add(m.split.wrapping_mul(m.levels.count_ones() as i64))
}

/// Books whole mini-block `m`, whose offsets sum to `x` (already in the lanes, times their
/// weights), after the level `lvl`: its day lanes `marked`, whose weights sum to
/// `weight_sum`, into `day` and `count`, all its lanes into `total` when `TOTALS`, with
/// the level, the reference and the upper level's split times the lanes at or after each
/// of its deltas. Returns the level after it.
#[inline(always)]
fn book_whole<const TOTALS: bool>(
    m: &Mini,
    x: i64,
    lvl: i64,
    (marked, weight_sum): (u64, i64),
    (day, total, count): (&mut i64, &mut i64, &mut u64),
) -> i64 {
    let n_marked = marked.count_ones() as i64;
    *day = day
        .wrapping_add(lvl.wrapping_mul(n_marked))
        .wrapping_add(m.reference.wrapping_mul(weight_sum));
    *count += n_marked as u64;
    if TOTALS {
        *total = total
            .wrapping_add(lvl.wrapping_mul(MINI_LEN as i64))
            .wrapping_add(m.reference.wrapping_mul(TAIL_SUM));
    }
    if m.levels != 0 {
        *day = day.wrapping_add(m.split.wrapping_mul(pair_count(m.levels, marked)));
        if TOTALS {
            // Every lane at or after each upper-level one: `64 - j` for bit `j`.
            let u = m.levels;
            let tail = 65 * u.count_ones() as i64 - set_weight(u) as i64;
            *total = total.wrapping_add(m.split.wrapping_mul(tail));
        }
    }
    level_after(lvl, m, x)
}

/// One mini-block's offsets unpacked, with its frame and the level before it, for the
/// sums over lane sets of the general step.
struct Unpacked<'a> {
    offs: &'a [u32; MINI_LEN],
    m: &'a Mini,
    level: i64,
}

impl Unpacked<'_> {
    /// The sum of the values of the lanes in `set` (`row` is scratch for its weights).
    #[inline(always)]
    fn set_sum(&self, set: u64, row: &mut [u8; MINI_LEN]) -> i64 {
        suffix_counts(set, row);
        let m = self.m;
        self.level
            .wrapping_mul(set.count_ones() as i64)
            .wrapping_add(dot(self.offs, row) as i64)
            .wrapping_add(m.reference.wrapping_mul(set_weight(set) as i64))
            .wrapping_add(m.split.wrapping_mul(pair_count(m.levels, set)))
    }

    /// `(marked sum, total sum, marked count)` of the lanes of `range` (the total only
    /// when `TOTALS`), `marked` being a subset of them.
    #[inline(always)]
    fn sums<const TOTALS: bool>(
        &self,
        marked: u64,
        range: u64,
        row: &mut [u8; MINI_LEN],
    ) -> (i64, i64, u64) {
        let total = match TOTALS {
            true => self.set_sum(range, row),
            false => 0,
        };
        (self.set_sum(marked, row), total, marked.count_ones() as u64)
    }
}

impl IntColumn<'_> {
    /// Whether [`IntColumn::delta_sums_avx2`] takes this delta-mode column: level bitmaps
    /// (format version 2), offsets of at most [`MAX_DELTA_WIDTH`] bits, at most 4,096
    /// values, and every value below `2^51` in magnitude by the header's bounds (the first
    /// value plus the count times the largest delta the frames allow), so that every sum
    /// the kernel forms fits `i64`.
    pub(super) fn delta_kernel_fits(&self) -> bool {
        let base = self.base() as i128;
        let largest_ref = base
            .abs()
            .max((base + (1i128 << self.ref_width()) - 1).abs());
        let largest_delta =
            largest_ref + (1i128 << self.vector_width()) + (1i128 << self.split_width());
        let bound = (self.first() as i128).abs() + self.len() as i128 * largest_delta;
        self.bitmap()
            && self.vector_width() <= MAX_DELTA_WIDTH
            && self.len() <= 1 << 12
            && bound < 1i128 << 51
    }

    /// The class sums of a delta-mode column on AVX2 (see the module documentation).
    ///
    /// # Safety
    /// The CPU must support AVX2, POPCNT, BMI1 and BMI2; [`IntColumn::delta_kernel_fits`]
    /// must hold.
    #[target_feature(enable = "avx2,popcnt,bmi1,bmi2")]
    pub(super) unsafe fn delta_sums_avx2(&self, q: &ClassQuery<'_>, out: &mut [(i128, i128, u64)]) {
        // SAFETY: the caller guarantees AVX2, POPCNT, BMI1 and BMI2 and that the kernel
        // takes the column, as `delta_sums` requires.
        unsafe {
            match q.totals || !q.cuts.is_empty() {
                true => self.delta_sums::<true>(q, out),
                false => self.delta_sums::<false>(q, out),
            }
        }
    }

    /// # Safety
    /// As for [`IntColumn::delta_sums_avx2`], into which it is inlined.
    #[inline(always)]
    unsafe fn delta_sums<const TOTALS: bool>(
        &self,
        q: &ClassQuery<'_>,
        out: &mut [(i128, i128, u64)],
    ) {
        // SAFETY: AVX2, POPCNT, BMI1 and BMI2 are enabled where this function is
        // inlined; the stretch gets mini-blocks below `in_place`, as it requires.
        unsafe {
            let (runs, to, mask, cuts) = (q.runs, q.to, q.mask, q.cuts);
            let from = runs[0].start;
            if from >= to {
                return;
            }
            debug_assert!(self.delta_kernel_fits());
            // Cuts at or before `from` leave their parts empty.
            let mut part_at = cuts.partition_point(|&c| c <= from);
            let mut part = DeltaPart::new();
            // The value before the next mini-block's lane 0.
            let mut level = self.first();
            let mut walk = MaskWalk::new(mask, runs, to);
            // Values before the range still move the level: the walk starts at the column's
            // first mini-block.
            let mut minis = self.minis_from(0);
            let in_place = minis.unchecked_until().min(self.in_place_until());
            // Mini-blocks between widenings: 8 products a lane below `2^(width + 6)` each.
            let widen_every = 1usize << (23 - self.vector_width().min(MAX_DELTA_WIDTH) as u32);
            let mut pad: Option<Padded> = None;
            let mut offs = [0u32; MINI_LEN];
            let mut row = [0u8; MINI_LEN];
            let k0 = from / MINI_LEN;
            let mut k = 0;
            while k < to.div_ceil(MINI_LEN) {
                let lo = k * MINI_LEN;
                while part_at < cuts.len() && cuts[part_at] <= lo {
                    part.close(&mut out[part_at]);
                    part_at += 1;
                }
                if k >= k0 && k < in_place {
                    if let Some((phase, run_end)) = walk.whole_from(lo) {
                        let stop = cuts.get(part_at).map_or(run_end, |&c| c.min(run_end));
                        if lo + MINI_LEN <= stop {
                            let end = (stop / MINI_LEN).min(in_place);
                            let last = self.delta_stretch::<TOTALS>(
                                &mut minis,
                                end,
                                phase,
                                mask,
                                &mut level,
                                &mut part,
                                widen_every,
                            );
                            walk.skipped(last, run_end);
                            k = end;
                            continue;
                        }
                    } else if let Some((phase, run_end)) = walk.gap_at(lo) {
                        // A whole mini-block that a gap falls inside, in one part.
                        if lo + MINI_LEN <= cuts.get(part_at).map_or(to, |&c| c.min(to)) {
                            let next = self.delta_gap::<TOTALS>(
                                &mut minis,
                                &mut walk,
                                (lo, phase, run_end),
                                &mut level,
                                &mut part,
                                widen_every,
                            );
                            walk.skipped(mask.prev_phase(next), walk.run_end());
                            k += 1;
                            continue;
                        }
                    }
                }
                // The general step: one mini-block, its lanes as bit sets.
                let (m, at) = minis.next().expect("mini-block within the column");
                let p = pad.get_or_insert_default().load(self.values_of(&m, at));
                simd::unpack_u32(p, m.width(), true, &mut offs);
                let x: i64 = offs.iter().map(|&o| o as i64).sum();
                if k >= k0 {
                    let mm = walk.next(lo);
                    let (marked, range) = (mm.marked & mm.range, mm.range);
                    let u = Unpacked {
                        offs: &offs,
                        m: &m,
                        level,
                    };
                    // The sums of the lanes below the last cut inside this mini-block.
                    let mut below = (0i64, 0i64, 0u64);
                    while part_at < cuts.len() && cuts[part_at] < lo + MINI_LEN {
                        let low = lane_bits(0, cuts[part_at] - lo);
                        let here = u.sums::<TOTALS>(marked & low, range & low, &mut row);
                        part.book(here, below);
                        part.close(&mut out[part_at]);
                        part_at += 1;
                        below = here;
                    }
                    part.book(u.sums::<TOTALS>(marked, range, &mut row), below);
                }
                level = level_after(level, &m, x);
                k += 1;
            }
            part.close(&mut out[part_at]);
        }
    }

    /// Sums whole mini-blocks from `minis`' next one up to mini-block `end` (exclusive),
    /// all in one phase run and one part, inside the range and readable in place; lane 0
    /// of the first is at `phase`. Moves `level` and `minis` past them and returns the
    /// phase of the last one's lane 0.
    ///
    /// # Safety
    /// Must be inlined into a function with AVX2, POPCNT and BMI2 enabled; the mini-blocks
    /// must be below `in_place_until` and the walk's `unchecked_until`.
    #[expect(clippy::too_many_arguments, reason = "the loop state the caller keeps")]
    #[inline(always)]
    unsafe fn delta_stretch<const TOTALS: bool>(
        &self,
        minis: &mut MiniWalk<'_, '_>,
        end: usize,
        phase: usize,
        mask: &ClassMask,
        level: &mut i64,
        part: &mut DeltaPart,
        widen_every: usize,
    ) -> usize {
        // SAFETY: AVX2, POPCNT and BMI2 are enabled where this function is inlined;
        // the pointer reads stay within the arrays and payload (see the comments below).
        unsafe {
            let (mut k, mut at, mut split_bit) =
                (minis.index(), minis.payload_at(), minis.split_bit());
            let payload = self.readable().as_ptr();
            let descs = self.descs().as_ptr();
            let (refs, splits) = (self.refs().as_ptr(), self.splits().as_ptr());
            let (ref_width, split_width) = (self.ref_width() as u32, self.split_width() as u32);
            let base = self.base();
            let (weights, weight_sums) = (mask.weights.as_ptr(), mask.weight_sums.as_ptr());
            let (bits, next) = (mask.bits.as_ptr(), mask.next.as_ptr());
            let (mut lvl, mut day, mut total, mut count) =
                (*level, part.day, part.total, part.count);
            let (mut p, mut last) = (phase, phase);
            while k < end {
                let d = *descs.add(k);
                // SAFETY: below `unchecked_until` the arrays have 8 bytes from the positions,
                // and below `in_place_until` the mini-block has its group reach and 8 bytes
                // readable. BMI2 is enabled.
                let reference = _bzhi_u64(
                    BitReader::get_raw(refs, k * ref_width as usize, u64::MAX),
                    ref_width,
                );
                let split = _bzhi_u64(BitReader::get_raw(splits, split_bit, u64::MAX), split_width);
                let word = u64::from_le((payload.add(at) as *const u64).read_unaligned());
                let m = Mini::of(base, true, d, reference, split, word);
                let src = payload.add(at + m.values_at());
                for line in [0, 64] {
                    _mm_prefetch::<_MM_HINT_T0>(src.wrapping_add(1024 + line) as *const i8);
                }
                // SAFETY: `p < period`: the weights hold 64 bytes per phase.
                let row = weights.add(p * MINI_LEN);
                let x = whole::<TOTALS>(
                    src,
                    m.width() as usize,
                    row,
                    &mut part.day_lanes,
                    &mut part.total_lanes,
                );
                lvl = book_whole::<TOTALS>(
                    &m,
                    x,
                    lvl,
                    (*bits.add(p), *weight_sums.add(p) as i64),
                    (&mut day, &mut total, &mut count),
                );
                split_bit += split_width as usize & 0usize.wrapping_sub(m.two_level as usize);
                at += bitpack::packed_len(packed_width(d));
                k += 1;
                part.summed(widen_every);
                last = p;
                p = *next.add(p) as usize;
            }
            minis.set_position(k, at, split_bit);
            (*level, part.day, part.total, part.count) = (lvl, day, total, count);
            last
        }
    }
}

impl IntColumn<'_> {
    /// Sums the whole mini-block at `minis`' next one, at value `lo`, inside the range, in
    /// one part and readable in place, whose lane 0 is at `phase` in the walk's run `r`
    /// and inside which that run ends (at `run_end`, a gap in the series): its weights are
    /// those of its pieced day lanes ([`gap_weights`]), its offsets unpacked once into
    /// the lanes as in the in-place loop. Moves `level`, `minis` and the walk past it and
    /// returns the phase of the next mini-block's lane 0. Out of line, so that the
    /// in-place loop keeps its registers.
    ///
    /// # Safety
    /// The CPU must support AVX2, POPCNT, BMI1 and BMI2; the mini-block must be below
    /// `in_place_until` and the walk's `unchecked_until`.
    #[target_feature(enable = "avx2,popcnt,bmi1,bmi2")]
    #[inline(never)]
    unsafe fn delta_gap<const TOTALS: bool>(
        &self,
        minis: &mut MiniWalk<'_, '_>,
        walk: &mut MaskWalk<'_>,
        (lo, phase, run_end): (usize, usize, usize),
        level: &mut i64,
        part: &mut DeltaPart,
        widen_every: usize,
    ) -> usize {
        let mut row = [0u8; MINI_LEN];
        // SAFETY: AVX2 is enabled; `phase` is below the period and `lo < run_end < lo +
        // 64`.
        let (marked, next) = unsafe { gap_weights(walk, lo, phase, run_end, &mut row) };
        let (k, at, split_bit) = (minis.index(), minis.payload_at(), minis.split_bit());
        let (ref_width, split_width) = (self.ref_width() as u32, self.split_width() as u32);
        // SAFETY: below `unchecked_until` the arrays have 8 bytes from the positions, and
        // below `in_place_until` the mini-block has its group reach and 8 bytes readable.
        // BMI2 and AVX2 are enabled, and the kernel takes the column.
        unsafe {
            let payload = self.readable().as_ptr();
            let reference = _bzhi_u64(
                BitReader::get_raw(self.refs().as_ptr(), k * ref_width as usize, u64::MAX),
                ref_width,
            );
            let split = _bzhi_u64(
                BitReader::get_raw(self.splits().as_ptr(), split_bit, u64::MAX),
                split_width,
            );
            let word = u64::from_le((payload.add(at) as *const u64).read_unaligned());
            let d = self.descs()[k];
            let m = Mini::of(self.base(), true, d, reference, split, word);
            let x = whole::<TOTALS>(
                payload.add(at + m.values_at()),
                m.width() as usize,
                row.as_ptr(),
                &mut part.day_lanes,
                &mut part.total_lanes,
            );
            *level = book_whole::<TOTALS>(
                &m,
                x,
                *level,
                (marked, set_weight(marked) as i64),
                (&mut part.day, &mut part.total, &mut part.count),
            );
            part.summed(widen_every);
            let step_split = split_width as usize & 0usize.wrapping_sub(m.two_level as usize);
            minis.set_position(
                k + 1,
                at + bitpack::packed_len(packed_width(d)),
                split_bit + step_split,
            );
        }
        next
    }
}

/// Bytes `0xff` then zeros from index 64: the window at `64 - c` selects bytes below `c`.
static BELOW: [u8; 2 * MINI_LEN] = {
    let mut t = [0u8; 2 * MINI_LEN];
    let mut i = 0;
    while i < MINI_LEN {
        t[i] = 0xff;
        i += 1;
    }
    t
};

/// The day lanes of the whole mini-block at value `lo`, whose lane 0 is at `phase` in the
/// walk's run `r` and inside which the next run starts (at `run_end`), with their delta
/// weights (suffix counts) in `row`; leaves the walk at the run of the next mini-block's
/// lane 0 and returns the lanes and that lane's phase.
///
/// With one run starting inside, at lane `c`, lanes from `c` on read the pattern's window
/// at some phase `q` and the others the window at `phase`: a lane `j >= c` weighs as in
/// row `q`, and a lane `j < c` as in row `phase` less that row's count from `c` on plus
/// row `q`'s (the day lanes from `c` on are `q`'s).
///
/// # Safety
/// Must be inlined into a function with AVX2 enabled; `lo < run_end < lo + 64`, and
/// `phase` below the period.
#[inline(always)]
unsafe fn gap_weights(
    walk: &mut MaskWalk<'_>,
    lo: usize,
    phase: usize,
    run_end: usize,
    row: &mut [u8; MINI_LEN],
) -> (u64, usize) {
    let mask = walk.mask;
    let crossing = walk.cross(lo, phase, run_end);
    let Some((c, q)) = crossing.single else {
        suffix_counts(crossing.marked, row);
        return (crossing.marked, crossing.next_phase);
    };
    // SAFETY: AVX2 is enabled where this function is inlined; the rows of `phase` and `q`
    // (below the period) are 64 bytes of the weights, the window of `BELOW` 64 of its
    // 128, and `row` 64 bytes.
    unsafe {
        let (wp, wq) = (
            mask.weights.as_ptr().add(phase * MINI_LEN),
            mask.weights.as_ptr().add(q * MINI_LEN),
        );
        // No carries past a byte: every weight is at most 64.
        let lift = _mm256_set1_epi8((*wq.add(c)).wrapping_sub(*wp.add(c)) as i8);
        let below = BELOW.as_ptr().add(MINI_LEN - c);
        for half in [0, 32] {
            let from_p = _mm256_add_epi8(_mm256_loadu_si256(wp.add(half) as *const __m256i), lift);
            let from_q = _mm256_loadu_si256(wq.add(half) as *const __m256i);
            let sel = _mm256_loadu_si256(below.add(half) as *const __m256i);
            _mm256_storeu_si256(
                row.as_mut_ptr().add(half) as *mut __m256i,
                _mm256_blendv_epi8(from_q, from_p, sel),
            );
        }
    }
    (crossing.marked, crossing.next_phase)
}

impl DeltaPart {
    /// Books the sums of the lanes up to a cut (`here`) less those up to the cut before
    /// it in the same mini-block (`below`).
    #[inline(always)]
    fn book(&mut self, here: (i64, i64, u64), below: (i64, i64, u64)) {
        self.day = self.day.wrapping_add(here.0.wrapping_sub(below.0));
        self.total = self.total.wrapping_add(here.1.wrapping_sub(below.1));
        self.count += here.2 - below.2;
    }
}
