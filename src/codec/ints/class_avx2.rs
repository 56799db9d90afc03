//! The periodic day/night kernel with explicit AVX2 for whole mini-blocks.
//!
//! Per full mini-block: unpack to 32-bit offsets, then add the offsets and the offsets
//! under the day mask into 32-bit lane accumulators (flushed to 64-bit lanes every 8
//! mini-blocks), with no horizontal reduction per mini-block. The parts that depend on
//! the mini-block's frame are scalar: the reference times the lane counts (day lanes are a
//! popcount of the mask's sign bits), and for two-level frames the level bits, gathered
//! with `movemask` and counted with `popcnt`. Since `x >> 1 == (x - (x & 1)) / 2`, the
//! two-level offsets sum as `(sum x - level bits) / 2` over the whole run.

use super::{IntColumn, Padded, DECODE_PLAIN, DECODE_TWO, MINI_LEN};
use crate::codec::simd;
use std::arch::x86_64::*;

/// Mini-blocks between flushes of the 32-bit lane accumulators. Q: why 8? A: a lane gets
/// 8 offsets below 2^25 per mini-block, so 8 mini-blocks stay below 2^31.
const FLUSH_EVERY: usize = 8;

/// Bytes copied per mini-block: the largest packed size the vector path takes (25 bits x
/// 64 values), so one constant-size copy serves every width.
const FIXED_COPY: usize = simd::MAX_SIMD_WIDTH as usize * 8;

/// 64-bit lane accumulators fed by 32-bit ones.
struct Acc {
    narrow: __m256i,
    wide: __m256i,
}

impl Acc {
    #[inline(always)]
    unsafe fn new() -> Acc {
        Acc {
            narrow: _mm256_setzero_si256(),
            wide: _mm256_setzero_si256(),
        }
    }

    #[inline(always)]
    unsafe fn flush(&mut self) {
        let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(self.narrow));
        let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(self.narrow));
        self.wide = _mm256_add_epi64(self.wide, _mm256_add_epi64(lo, hi));
        self.narrow = _mm256_setzero_si256();
    }

    #[inline(always)]
    unsafe fn total(mut self) -> i128 {
        self.flush();
        let mut l = [0u64; 4];
        _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, self.wide);
        l.iter().map(|&x| x as i128).sum()
    }
}

impl IntColumn<'_> {
    /// The body of [`IntColumn::masked_class_sums`] on AVX2: whole mini-blocks inside
    /// `from..to` go through the vector loop, the partial ones at the ends through the
    /// portable code.
    ///
    /// # Safety
    /// The CPU must support AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn class_sums_avx2(
        &self,
        from: usize,
        to: usize,
        phase0: usize,
        period: usize,
        mask: &[u32],
    ) -> (i128, i128, u64) {
        let (first_full, last_full) = (from.div_ceil(MINI_LEN), to / MINI_LEN);
        if first_full >= last_full {
            return self.masked_class_sums_impl(from, to, phase0, period, mask, true);
        }
        let phase_at = |i: usize| (phase0 + (i - from)) % period;
        let (bf, cf) = (first_full * MINI_LEN, last_full * MINI_LEN);
        let head = self.masked_class_sums_impl(from, bf, phase0, period, mask, true);
        let tail = self.masked_class_sums_impl(cf, to, phase_at(cf), period, mask, true);
        let (mut day, mut total, mut count) = (head.0 + tail.0, head.1 + tail.1, head.2 + tail.2);

        let mut pad = Padded::default();
        let mut offs = [0u32; MINI_LEN];
        let mut wide = [0i64; MINI_LEN];
        let (mut tp, mut dp, mut tt, mut dt) = (Acc::new(), Acc::new(), Acc::new(), Acc::new());
        // Level bits of two-level frames, for the `(sum x - bits) / 2` correction.
        let (mut bits_t, mut bits_d) = (0i128, 0i128);
        let mut w = phase_at(bf);
        for (n, k) in (first_full..last_full).enumerate() {
            let m = &self.minis[k];
            let win = &mask[w..w + MINI_LEN];
            w += MINI_LEN;
            while w >= period {
                w -= period;
            }
            let at = self.offsets[k];
            if m.packed_width > simd::MAX_SIMD_WIDTH {
                pad.load(&self.payload[at..self.offsets[k + 1]]);
                let table = if m.two_level {
                    &DECODE_TWO
                } else {
                    &DECODE_PLAIN
                };
                table[m.packed_width as usize](&pad, m, &mut wide);
                for (i, &v) in wide.iter().enumerate() {
                    total += v as i128;
                    if win[i] != 0 {
                        day += v as i128;
                        count += 1;
                    }
                }
                continue;
            }
            // Through the padded copy (measured faster than unaligned loads straight from
            // the mapped column). A fixed-size copy compiles to a few vector moves instead
            // of a memmove call; the bytes past the mini-block only land above the masks.
            match self.payload.get(at..at + FIXED_COPY) {
                Some(src) => {
                    pad.load_fixed::<FIXED_COPY>(src.try_into().expect("fixed size"));
                }
                None => {
                    pad.load(&self.payload[at..self.offsets[k + 1]]);
                }
            }
            simd::unpack_u32(&pad, m.packed_width, true, &mut offs);
            let (mut daybits, mut levelbits) = (0u64, 0u64);
            let (t_acc, d_acc) = if m.two_level {
                (&mut tt, &mut dt)
            } else {
                (&mut tp, &mut dp)
            };
            for g in 0..MINI_LEN / 8 {
                // SAFETY: `offs` and `win` hold 64 u32s, so lanes g*8..g*8+8 are in bounds.
                let x = _mm256_loadu_si256(offs.as_ptr().add(g * 8) as *const __m256i);
                let mk = _mm256_loadu_si256(win.as_ptr().add(g * 8) as *const __m256i);
                t_acc.narrow = _mm256_add_epi32(t_acc.narrow, x);
                d_acc.narrow = _mm256_add_epi32(d_acc.narrow, _mm256_and_si256(x, mk));
                daybits |= (_mm256_movemask_ps(_mm256_castsi256_ps(mk)) as u32 as u64) << (g * 8);
                if m.two_level {
                    let lv = _mm256_slli_epi32::<31>(x);
                    levelbits |=
                        (_mm256_movemask_ps(_mm256_castsi256_ps(lv)) as u32 as u64) << (g * 8);
                }
            }
            let n_day = daybits.count_ones() as i128;
            let r = m.reference as i128;
            total += r * MINI_LEN as i128;
            day += r * n_day;
            count += n_day as u64;
            if m.two_level {
                let split = m.split as u64 as i128;
                let (bt, bd) = (
                    levelbits.count_ones() as i128,
                    (levelbits & daybits).count_ones() as i128,
                );
                bits_t += bt;
                bits_d += bd;
                total += split * bt;
                day += split * bd;
            }
            if n % FLUSH_EVERY == FLUSH_EVERY - 1 {
                for a in [&mut tp, &mut dp, &mut tt, &mut dt] {
                    a.flush();
                }
            }
        }
        total += tp.total() + (tt.total() - bits_t) / 2;
        day += dp.total() + (dt.total() - bits_d) / 2;
        (day, total, count)
    }
}
