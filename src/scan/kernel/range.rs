//! Range sums: a column's values summed over index ranges, mini-block by mini-block from
//! the packed bytes.

use super::mask::lane_bits;
use crate::codec::bitpack::{Padded, MINI_LEN};
use crate::codec::ints::{decode_scalar, IntColumn};
use crate::codec::simd;

impl IntColumn<'_> {
    /// Adds to `out[j]` the sum of values `bounds[j]..bounds[j + 1]`, for sorted `bounds`
    /// within `0..=len` (`out.len() + 1 == bounds.len()`). Sums are exact (`i128`).
    ///
    /// The scan kernel: value-mode columns are summed straight from the packed bytes, one
    /// mini-block at a time (unpack to 32-bit offsets, then per-range sums of the offsets
    /// plus reference times count), without materialising the values. Delta-mode columns
    /// need a prefix sum and are decoded first.
    pub fn range_sums(&self, bounds: &[usize], out: &mut [i128]) {
        debug_assert!(out.len() + 1 == bounds.len() || (out.is_empty() && bounds.is_empty()));
        debug_assert!(
            bounds.windows(2).all(|w| w[0] <= w[1])
                && bounds.last().is_none_or(|&b| b <= self.len())
        );
        #[cfg(target_arch = "x86_64")]
        if simd::avx2_available() {
            // SAFETY: AVX2 was detected on this CPU.
            unsafe { self.range_sums_avx2(bounds, out) };
            return;
        }
        self.range_sums_impl(bounds, out, false);
    }

    /// [`IntColumn::range_sums`] compiled with AVX2 enabled; callable where AVX2 is
    /// enabled, or detected on this CPU.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn range_sums_avx2(&self, bounds: &[usize], out: &mut [i128]) {
        self.range_sums_impl(bounds, out, true);
    }

    #[inline(always)]
    fn range_sums_impl(&self, bounds: &[usize], out: &mut [i128], avx2: bool) {
        let (Some(&first), Some(&last)) = (bounds.first(), bounds.last()) else {
            return;
        };
        if first >= last {
            return;
        }
        if self.is_delta() {
            let mut v = Vec::with_capacity(self.len());
            self.decode_into_impl(&mut v, avx2);
            for (j, o) in out.iter_mut().enumerate() {
                *o += v[bounds[j]..bounds[j + 1]]
                    .iter()
                    .map(|&x| x as i128)
                    .sum::<i128>();
            }
            return;
        }
        let mut pad = Padded::default();
        let mut offs = [0u32; MINI_LEN];
        let mut wide = [0i64; MINI_LEN];
        // Range j holds the mini-block position being summed; ranges advance with minis.
        let mut j = bounds.partition_point(|&b| b <= first).saturating_sub(1);
        let k0 = first / MINI_LEN;
        for (k, (m, at)) in (k0..last.div_ceil(MINI_LEN)).zip(self.minis_from(k0)) {
            let m = &m;
            let lo = k * MINI_LEN;
            let hi = (lo + MINI_LEN).min(self.len());
            let p = pad.load(self.values_of(m, at));
            // Fast path: offsets below 2^25, so 64 of them sum within a u32. Each range's
            // share of the mini-block is a difference of prefix sums, and each prefix sum
            // is a fixed-length masked reduction (no loop remainders, fully vectorised).
            let fast = m.width() <= simd::MAX_SIMD_WIDTH;
            if fast {
                simd::unpack_u32(p, m.width(), avx2, &mut offs);
            } else {
                decode_scalar(p, m, &mut wide);
            }
            // Sum of the mini-block's first n values, exactly.
            let prefix = |n: usize| -> i128 {
                if !fast {
                    return wide[..n].iter().map(|&x| x as i128).sum();
                }
                let base = m.reference as i128 * n as i128;
                let split = m.split as u64 as i128;
                if m.low_bit() {
                    let (h, u) = masked_sums_two(&offs, n);
                    base + h as i128 + u as i128 * split
                } else {
                    let upper = (m.levels & lane_bits(0, n)).count_ones();
                    base + masked_sum(&offs, n) as i128 + upper as i128 * split
                }
            };
            let mut done_at = lo;
            let mut done_sum = 0i128;
            while j < out.len() && bounds[j] < hi {
                let a = bounds[j].max(lo);
                let b = bounds[j + 1].min(hi);
                if a < b {
                    if a > done_at {
                        done_sum = prefix(a - lo);
                    }
                    let upto = prefix(b - lo);
                    out[j] += upto - done_sum;
                    done_sum = upto;
                    done_at = b;
                }
                if bounds[j + 1] > hi {
                    break;
                }
                j += 1;
            }
        }
    }
}

/// Lane indexes as u32, so the masks below compare 32-bit lanes.
const LANE: [u32; MINI_LEN] = {
    let mut a = [0u32; MINI_LEN];
    let mut i = 0;
    while i < MINI_LEN {
        a[i] = i as u32;
        i += 1;
    }
    a
};

/// Sum of `offs[..n]`, as a fixed-length masked reduction.
#[inline(always)]
fn masked_sum(offs: &[u32; MINI_LEN], n: usize) -> u32 {
    let n = n as u32;
    let mut acc = [0u32; 8];
    for (x, i) in offs.chunks_exact(8).zip(LANE.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += if i[l] < n { x[l] } else { 0 };
        }
    }
    acc.iter().sum()
}

/// Sums of `x >> 1` and `x & 1` over `offs[..n]` (two-level offsets and level bits).
#[inline(always)]
fn masked_sums_two(offs: &[u32; MINI_LEN], n: usize) -> (u32, u32) {
    let n = n as u32;
    let (mut h, mut u) = ([0u32; 8], [0u32; 8]);
    for (x, i) in offs.chunks_exact(8).zip(LANE.chunks_exact(8)) {
        for l in 0..8 {
            let v = if i[l] < n { x[l] } else { 0 };
            h[l] += v >> 1;
            u[l] += v & 1;
        }
    }
    (h.iter().sum(), u.iter().sum())
}
