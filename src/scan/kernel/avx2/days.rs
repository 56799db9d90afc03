//! The in-place loop of the AVX2 kernel for a query cut into parts (per-day results),
//! [`IntColumn::days`]: each whole mini-block summed into lanes of its own and reduced to
//! two scalars at once, so that a part (a local day, 1.5 mini-blocks of 15-minute data)
//! closes with three scalar adds.

use super::lanes::{mini, Frames, LaneRun, Lanes, Part, RefSum};
use super::stretch::Parts;
use crate::codec::bitpack::{self, BitReader, MINI_LEN};
use crate::codec::ints::{IntColumn, Mini, MiniWalk};
use crate::codec::simd::x86::Pattern;
use crate::scan::kernel::mask::{lane_bits, ClassMask, MaskWalk};
use std::arch::x86_64::*;

/// The sums of a part so far: its frames (references and splits booked per lane) and its
/// values' offsets from them, the latter summed from each mini-block's lanes.
struct Running<S> {
    frames: Frames<S>,
    marked: u64,
    total: u64,
}

impl<S: RefSum> Running<S> {
    const ZERO: Self = Running {
        frames: Frames {
            day: S::ZERO,
            total: S::ZERO,
            count: 0,
        },
        marked: 0,
        total: 0,
    };

    /// Adds the offsets of one mini-block's lanes and books its frame `m` for the lanes
    /// `in_range`, of which `marked` are marked.
    ///
    /// # Safety
    /// Must be inlined into a function with AVX2 enabled.
    #[inline(always)]
    unsafe fn add<const BITMAP: bool>(
        &mut self,
        lanes: &Lanes,
        m: &Mini,
        in_range: u64,
        marked: u64,
    ) {
        // SAFETY: the caller's contract.
        let (day, total) = unsafe { lane_sums32(lanes) };
        self.marked += day as u64;
        self.total += total as u64;
        self.frames.book::<BITMAP>(m, in_range, marked);
    }

    /// The part's sums, as [`Part::close`] adds them to its output.
    #[inline(always)]
    fn sums(&self) -> (i128, i128, u64) {
        (
            self.frames.day.get() + self.marked as i128,
            self.frames.total.get() + self.total as i128,
            self.frames.count,
        )
    }

    /// Adds these sums to `f`, the scalar side of a [`Part`] (the offsets as references
    /// of one lane: below 2^63, they are sums over one column).
    #[inline(always)]
    fn add_to(&self, f: &mut Frames<S>) {
        f.day = f.day.plus(self.frames.day).add_times(self.marked as i64, 1);
        f.total = f
            .total
            .plus(self.frames.total)
            .add_times(self.total as i64, 1);
        f.count += self.frames.count;
    }
}

/// The sums of the 32-bit lanes of one mini-block's marked and total lanes. A lane holds
/// 8 offsets of the mini-block, each below 2^26 ([`super::lanes::vector_fits`]: a value
/// below 2^25, or in the version 1 layout a halved one plus a split below 2^25), so all
/// 64 add up below 2^32.
///
/// # Safety
/// Must be inlined into a function with AVX2 enabled.
#[inline(always)]
unsafe fn lane_sums32(lanes: &Lanes) -> (u32, u32) {
    // SAFETY: the caller's contract.
    unsafe {
        // [m0+m1, m2+m3, t0+t1, t2+t3 | m4+m5, m6+m7, t4+t5, t6+t7], its halves added,
        // then added pairwise again: [m, t, m, t].
        let h = _mm256_hadd_epi32(lanes.marked, lanes.total);
        let s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
        let s = _mm_hadd_epi32(s, s);
        let both = _mm_cvtsi128_si64(s) as u64;
        (both as u32, (both >> 32) as u32)
    }
}

/// Adds the offsets of mini-block `m` (see [`mini`]) to `acc`, and those of the lanes
/// that `tail` marks (the lanes from a cut on) to `rest` as well: one pass over a
/// mini-block that a local midnight cuts, after which the part before the cut is `acc`
/// minus `rest`. Each group keeps four accumulators and its unpacked values in
/// registers, so this costs a whole mini-block's pass plus an and and two adds a group.
///
/// # Safety
/// As for [`mini`]: inlined into a function with AVX2 enabled, `group_reach` of `m`'s
/// width readable from `src`, and [`super::lanes::vector_fits`] holding for `m`.
#[inline(always)]
unsafe fn mini_cut<const BITMAP: bool, const TOTALS: bool>(
    src: *const u8,
    m: &Mini,
    tail: &[u32; MINI_LEN],
    day: &[u32; MINI_LEN],
    acc: &mut Lanes,
    rest: &mut Lanes,
) {
    // SAFETY: the caller's contract: the width is at most `MAX_SIMD_WIDTH`, group `g`
    // starts `g * width` bytes after `src`, and the lane tables hold 64 lanes.
    unsafe {
        let width = m.width() as usize;
        let pat = Pattern::new(width);
        let (level, split) = (m.two_level as i32, m.split as i32);
        let shift = _mm_cvtsi32_si128(level);
        let (level, split) = (_mm256_set1_epi32(level), _mm256_set1_epi32(split));
        let zero = _mm256_setzero_si256();
        let (mut total, mut marked) = (acc.total, acc.marked);
        let (mut rest_total, mut rest_marked) = (rest.total, rest.marked);
        let mut at = src;
        for g in 0..MINI_LEN / 8 {
            let mut x = pat.unpack_group(at);
            at = at.wrapping_add(width);
            if !BITMAP {
                // The version 1 layout: see `mini`.
                let upper = _mm256_sub_epi32(zero, _mm256_and_si256(x, level));
                x = _mm256_add_epi32(_mm256_srl_epi32(x, shift), _mm256_and_si256(upper, split));
            }
            let d = _mm256_loadu_si256(day.as_ptr().add(g * 8) as *const __m256i);
            let f = _mm256_loadu_si256(tail.as_ptr().add(g * 8) as *const __m256i);
            let xd = _mm256_and_si256(x, d);
            let y = _mm256_and_si256(x, f);
            if TOTALS {
                total = _mm256_add_epi32(total, x);
                rest_total = _mm256_add_epi32(rest_total, y);
            }
            marked = _mm256_add_epi32(marked, xd);
            rest_marked = _mm256_add_epi32(rest_marked, _mm256_and_si256(xd, f));
        }
        acc.total = total;
        acc.marked = marked;
        rest.total = rest_total;
        rest.marked = rest_marked;
    }
}

impl IntColumn<'_> {
    /// Sums the whole mini-blocks of one phase run from `minis`' next one on, cut into
    /// parts at `cuts` from `*part` on, while they lie inside the range and can be read in
    /// place: the per-day counterpart of [`IntColumn::stretch`], which keeps the lanes of
    /// many mini-blocks and pays a widening and a reduction of four vectors at each part's
    /// end. Here each mini-block's lanes are reduced at once (a few instructions, and no
    /// lane can overflow); a part ends with three scalar adds to `out`, and a mini-block
    /// that a cut falls inside is read once into both parts ([`mini_cut`]) or, with
    /// several cuts, once per part. Lane 0 of the first mini-block is at `phase` in the
    /// walk's run, which ends at `run_end`. The sums of the part current at the start
    /// are in `sums` (closed into `out` with the first cut); those of the part current at
    /// the end go there. Returns whether it summed any mini-block; then `walk` and
    /// `minis` are at the next one, which a gap, the range's end or the end of what can
    /// be read in place leaves to the caller.
    ///
    /// # Safety
    /// Must be inlined into a function with AVX2, POPCNT, BMI1 and BMI2 enabled; `cuts`
    /// must be non-decreasing, those before `*part` at or before the next mini-block's
    /// start, and `out` must hold one part more than `cuts`.
    #[inline(always)]
    pub(super) unsafe fn days<S: RefSum, const BITMAP: bool, const TOTALS: bool>(
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
        let Parts { cuts, part, out } = parts;
        let k0 = minis.index();
        // Whole mini-blocks of the run, inside the range, readable in place.
        let end = (run_end.min(walk.to) / MINI_LEN)
            .min(minis.unchecked_until())
            .min(self.in_place_until());
        if k0 >= end {
            return false;
        }
        let payload = self.readable().as_ptr();
        let (descs, refs, splits) = (
            self.descs().as_ptr(),
            self.refs().as_ptr(),
            self.splits().as_ptr(),
        );
        let mut at = minis.payload_at();
        let mut split_bit = minis.split_bit();
        let (ref_width, split_width) = (self.ref_width() as u32, self.split_width() as u32);
        let (lanes, bits, next) = (mask.lanes.as_ptr(), mask.bits.as_ptr(), mask.next.as_ptr());
        let whole = LaneRun::of(u64::MAX);
        let base = self.base();
        let mut phase = phase;
        // The sums of the current part since this call began, and whether it is the part
        // that was current then (whose earlier sums are in `sums`).
        let mut run = Running::<S>::ZERO;
        let mut first_part = true;
        let mut stop = cuts.get(*part).copied().unwrap_or(usize::MAX);
        // Closes the current part into `out` and starts the next.
        macro_rules! close_part {
            () => {{
                if first_part {
                    run.add_to(&mut sums.frames);
                    // SAFETY: AVX2 is enabled where this function is inlined.
                    unsafe { sums.close(&mut out[*part]) };
                    first_part = false;
                } else {
                    let (day, total, count) = run.sums();
                    let o = &mut out[*part];
                    o.0 += day;
                    o.1 += total;
                    o.2 += count;
                }
                run = Running::ZERO;
                *part += 1;
                stop = cuts.get(*part).copied().unwrap_or(usize::MAX);
            }};
        }
        // SAFETY: AVX2 is enabled where this function is inlined.
        let zero = unsafe { _mm256_setzero_si256() };
        for k in k0..end {
            let lo = k * MINI_LEN;
            // Parts that end where this mini-block starts.
            while stop <= lo {
                close_part!();
            }
            // SAFETY: `k` is below `unchecked_until` and `in_place_until`: the
            // descriptor is in its array, the reference and split arrays have 8 bytes
            // from the positions, and the mini-block's values have `group_reach` of
            // their width readable. BMI2 is enabled.
            let (m, src) = unsafe {
                let d = *descs.add(k);
                let reference = _bzhi_u64(
                    BitReader::get_raw(refs, k * ref_width as usize, u64::MAX),
                    ref_width,
                );
                let split = _bzhi_u64(BitReader::get_raw(splits, split_bit, u64::MAX), split_width);
                let word = match BITMAP {
                    true => u64::from_le((payload.add(at) as *const u64).read_unaligned()),
                    false => 0,
                };
                let m = Mini::of(base, BITMAP, d, reference, split, word);
                (m, payload.add(at + m.values_at()))
            };
            // SAFETY: `phase` is below the period; the lanes hold `period + 64` entries.
            let (day_lanes, day_bits) = unsafe {
                (
                    &*(lanes.add(phase) as *const [u32; MINI_LEN]),
                    *bits.add(phase),
                )
            };
            let mut acc = Lanes {
                total: zero,
                marked: zero,
            };
            if stop >= lo + MINI_LEN {
                // The whole mini-block in the current part.
                // SAFETY: as above; the column fits the vector path.
                unsafe {
                    mini::<false, BITMAP, TOTALS>(src, &m, whole, day_lanes, &mut acc);
                    run.add::<BITMAP>(&acc, &m, u64::MAX, day_bits);
                }
            } else if cuts.get(*part + 1).is_none_or(|&c| c >= lo + MINI_LEN) {
                // One cut inside (a local midnight): one pass, the lanes from the cut on
                // summed apart for the next part.
                let (head, tail) = (lane_bits(0, stop - lo), lane_bits(stop - lo, MINI_LEN));
                let mut rest = Lanes {
                    total: zero,
                    marked: zero,
                };
                // SAFETY: as above; AVX2 is enabled where this function is inlined. The
                // lanes of `rest` are among those of `acc`, so the differences are the
                // lanes before the cut.
                unsafe {
                    mini_cut::<BITMAP, TOTALS>(
                        src,
                        &m,
                        LaneRun::of(tail).from,
                        day_lanes,
                        &mut acc,
                        &mut rest,
                    );
                    acc.total = _mm256_sub_epi32(acc.total, rest.total);
                    acc.marked = _mm256_sub_epi32(acc.marked, rest.marked);
                    run.add::<BITMAP>(&acc, &m, head, day_bits & head);
                }
                close_part!();
                // SAFETY: as above.
                unsafe { run.add::<BITMAP>(&rest, &m, tail, day_bits & tail) };
            } else {
                // Several cuts inside: one lane run per part.
                let mut a = 0;
                loop {
                    let b = stop.saturating_sub(lo).min(MINI_LEN);
                    if b > a {
                        let piece = lane_bits(a, b);
                        acc = Lanes {
                            total: zero,
                            marked: zero,
                        };
                        // SAFETY: as above.
                        unsafe {
                            mini::<true, BITMAP, TOTALS>(
                                src,
                                &m,
                                LaneRun::of(piece),
                                day_lanes,
                                &mut acc,
                            );
                            run.add::<BITMAP>(&acc, &m, piece, day_bits & piece);
                        }
                    }
                    if b == MINI_LEN {
                        break;
                    }
                    close_part!();
                    a = b;
                }
            }
            at += bitpack::packed_len(m.packed_width);
            split_bit += split_width as usize & 0usize.wrapping_sub(m.two_level as usize);
            // SAFETY: `phase` is below the period, the length of `next`.
            phase = unsafe { *next.add(phase) } as usize;
        }
        // The current part's sums go on in `sums`.
        run.add_to(&mut sums.frames);
        minis.set_position(end, at, split_bit);
        walk.skipped(mask.prev_phase(phase), run_end);
        true
    }
}
