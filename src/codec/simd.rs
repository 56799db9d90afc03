//! AVX2 unpacking of mini-blocks into 32-bit offsets, with run-time detection.
//!
//! Packing is horizontal (value `i` at bit `i * w`), so each group of 8 values starts on a
//! byte boundary and spans `w` bytes. For `w <= 25` every value sits inside 4 bytes that
//! start at byte `k*w/8` of its group, so one group decodes as: two 16-byte loads (values
//! 0-3 and 4-7) into the halves of a 256-bit register, a byte shuffle that moves each
//! value's 4 bytes into its 32-bit lane, a per-lane shift, and a mask. The shuffle and shift
//! patterns depend only on `w` and are compile-time constants.
//!
//! The vector path stops at 25 bits: a value may start at bit 7 of its first byte, and
//! 7 + 25 = 32 bits is the most one 32-bit lane holds. Wider widths (rare for metered data) take the portable path.

use super::bitpack::{Padded, MINI_LEN};

/// Widest packing the AVX2 path decodes.
pub const MAX_SIMD_WIDTH: u8 = 25;

/// Whether this CPU runs the AVX2 path (checked once, cached by std).
#[inline]
pub fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Shuffle and shift patterns for width `w`: lane `k` of the result takes 4 bytes starting
/// at byte `k*w/8` (relative to the 16 bytes loaded for its half) and shifts by `k*w % 8`.
const fn patterns(w: usize) -> ([u8; 32], [u32; 8]) {
    let mut shuf = [0u8; 32];
    let mut shift = [0u32; 8];
    let mut k = 0;
    while k < 8 {
        let bit = k * w;
        let half_base = if k < 4 { 0 } else { 4 * w / 8 };
        let first = bit / 8 - half_base;
        let mut j = 0;
        while j < 4 {
            // Within each 128-bit half, pshufb indexes that half's 16 bytes.
            shuf[k * 4 + j] = (first + j) as u8;
            j += 1;
        }
        shift[k] = (bit % 8) as u32;
        k += 1;
    }
    (shuf, shift)
}

/// Portable reference: unpacks 64 values of width `w <= 32` into `out`.
pub fn unpack_u32_portable(p: &Padded, w: u8, out: &mut [u32; MINI_LEN]) {
    let bytes = p.bytes();
    let w = w as usize;
    let mask = if w == 32 {
        u32::MAX as u64
    } else {
        (1u64 << w) - 1
    };
    for (i, o) in out.iter_mut().enumerate() {
        let bit = i * w;
        let at = bit / 8;
        let v = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")) >> (bit % 8);
        *o = (v & mask) as u32;
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    struct Consts<const W: usize>;
    impl<const W: usize> Consts<W> {
        const P: ([u8; 32], [u32; 8]) = patterns(W);
        const HALF: usize = 4 * W / 8;
        const MASK: u32 = if W == 32 { u32::MAX } else { (1u32 << W) - 1 };
    }

    /// Bytes readable from a mini-block's start that [`unpack_group`] needs for all 8
    /// groups of width `w`: the last group's second 16-byte load ends there.
    pub(crate) const fn group_reach(w: usize) -> usize {
        7 * w + 4 * w / 8 + 16
    }

    /// The unpacking constants of one width: 128 bytes apart, so that a width indexes
    /// the table with one shift.
    #[repr(C, align(128))]
    #[derive(Clone, Copy)]
    struct WidthConsts {
        shuf: [u8; 32],
        shift: [u32; 8],
        mask: [u32; 8],
    }

    /// Shuffle and shift patterns and the value mask of every vector width, for
    /// [`Pattern`] (the mask is one load from the table, cheaper than computing it per
    /// mini-block).
    static PATTERNS: [WidthConsts; MAX_SIMD_WIDTH as usize + 1] = {
        let mut t = [WidthConsts {
            shuf: [0; 32],
            shift: [0; 8],
            mask: [0; 8],
        }; MAX_SIMD_WIDTH as usize + 1];
        let mut w = 0;
        while w <= MAX_SIMD_WIDTH as usize {
            let (shuf, shift) = patterns(w);
            t[w] = WidthConsts {
                shuf,
                shift,
                mask: [((1u64 << w) - 1) as u32; 8],
            };
            w += 1;
        }
        t
    };

    /// The unpacking constants of one width, loaded at run time: one code path serves
    /// every width, so a loop over mini-blocks of varying widths has no indirect call (an
    /// unpredictable branch per mini-block).
    pub(crate) struct Pattern {
        shuf: __m256i,
        shift: __m256i,
        mask: __m256i,
        half: usize,
    }

    impl Pattern {
        /// The constants of width `w`.
        ///
        /// # Safety
        /// `w <= MAX_SIMD_WIDTH`.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) unsafe fn new(w: usize) -> Pattern {
            debug_assert!(w <= MAX_SIMD_WIDTH as usize);
            // SAFETY: the caller keeps `w` within the table (no bounds check in the
            // kernel's loop, whose columns are checked once). Each load reads 32 bytes of
            // the entry, which is 128-byte aligned.
            unsafe {
                let c = PATTERNS.get_unchecked(w);
                Pattern {
                    shuf: _mm256_load_si256(c.shuf.as_ptr() as *const __m256i),
                    shift: _mm256_load_si256(c.shift.as_ptr() as *const __m256i),
                    mask: _mm256_load_si256(c.mask.as_ptr() as *const __m256i),
                    half: 4 * w / 8,
                }
            }
        }

        /// [`unpack_group`] with this pattern.
        ///
        /// # Safety
        /// As for [`unpack_group`] with this pattern's width.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) unsafe fn unpack_group(&self, base: *const u8) -> __m256i {
            // SAFETY: the caller guarantees 16 readable bytes at `base` and at
            // `base + half`.
            let (lo, hi) = unsafe {
                (
                    _mm_loadu_si128(base as *const __m128i),
                    _mm_loadu_si128(base.add(self.half) as *const __m128i),
                )
            };
            let both = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
            _mm256_and_si256(
                _mm256_srlv_epi32(_mm256_shuffle_epi8(both, self.shuf), self.shift),
                self.mask,
            )
        }
    }

    /// Unpacks the 8 values of the group starting at `base` (group `g` of a mini-block
    /// starts at byte `g * W`) into the 32-bit lanes of a register.
    ///
    /// # Safety
    /// `W <= 25`; 16 bytes must be readable at `base` and at `base + 4 * W / 8`.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) unsafe fn unpack_group<const W: usize>(base: *const u8) -> __m256i {
        // SAFETY: the patterns are 32 bytes each; the caller guarantees 16 readable bytes
        // at `base` and at `base + HALF`.
        let (shuf, shift, lo, hi) = unsafe {
            (
                _mm256_loadu_si256(Consts::<W>::P.0.as_ptr() as *const __m256i),
                _mm256_loadu_si256(Consts::<W>::P.1.as_ptr() as *const __m256i),
                _mm_loadu_si128(base as *const __m128i),
                _mm_loadu_si128(base.add(Consts::<W>::HALF) as *const __m128i),
            )
        };
        let mask = _mm256_set1_epi32(Consts::<W>::MASK as i32);
        let both = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
        _mm256_and_si256(
            _mm256_srlv_epi32(_mm256_shuffle_epi8(both, shuf), shift),
            mask,
        )
    }

    /// # Safety
    /// The CPU must support AVX2, and `W <= 25`.
    #[target_feature(enable = "avx2")]
    unsafe fn unpack_w<const W: usize>(src: &[u8], out: &mut [u32; MINI_LEN]) {
        // Every group reads at most `group_reach(W)` bytes into the buffer, which holds
        // 64*8 + 16 bytes; asserting it once lets the loop run unchecked.
        assert!(group_reach(W) <= src.len());
        for g in 0..MINI_LEN / 8 {
            // SAFETY: AVX2 is enabled on this function; the group's loads lie inside
            // `src` (asserted above), and the store is into `out`'s 64 u32s.
            unsafe {
                let v = unpack_group::<W>(src.as_ptr().add(g * W));
                _mm256_storeu_si256(out.as_mut_ptr().add(g * 8) as *mut __m256i, v);
            }
        }
    }

    type Unpack = unsafe fn(&[u8], &mut [u32; MINI_LEN]);
    static TABLE: [Unpack; 26] = [
        unpack_w::<0>,
        unpack_w::<1>,
        unpack_w::<2>,
        unpack_w::<3>,
        unpack_w::<4>,
        unpack_w::<5>,
        unpack_w::<6>,
        unpack_w::<7>,
        unpack_w::<8>,
        unpack_w::<9>,
        unpack_w::<10>,
        unpack_w::<11>,
        unpack_w::<12>,
        unpack_w::<13>,
        unpack_w::<14>,
        unpack_w::<15>,
        unpack_w::<16>,
        unpack_w::<17>,
        unpack_w::<18>,
        unpack_w::<19>,
        unpack_w::<20>,
        unpack_w::<21>,
        unpack_w::<22>,
        unpack_w::<23>,
        unpack_w::<24>,
        unpack_w::<25>,
    ];

    /// # Safety
    /// The CPU must support AVX2.
    pub(super) unsafe fn unpack(src: &[u8], w: u8, out: &mut [u32; MINI_LEN]) {
        // SAFETY: the caller guarantees AVX2; every entry asserts its reads.
        unsafe { TABLE[w as usize](src, out) }
    }
}

/// Unpacks 64 values of width `w <= MAX_SIMD_WIDTH` into `out`, with AVX2 when `avx2`
/// (the caller's cached [`avx2_available`]) is true, else portably.
#[inline]
pub fn unpack_u32(p: &Padded, w: u8, avx2: bool, out: &mut [u32; MINI_LEN]) {
    debug_assert!(w <= MAX_SIMD_WIDTH);
    #[cfg(target_arch = "x86_64")]
    if avx2 && w <= MAX_SIMD_WIDTH {
        // SAFETY: `avx2` comes from `avx2_available()`, and the width is in the table.
        unsafe { x86::unpack(p.bytes(), w, out) };
        return;
    }
    let _ = avx2;
    unpack_u32_portable(p, w, out);
}

#[cfg(test)]
mod tests {
    use super::super::bitpack;
    use super::*;

    #[test]
    fn avx2_matches_portable_for_every_width() {
        let avx2 = avx2_available();
        for w in 0..=MAX_SIMD_WIDTH {
            let mask = if w == 0 { 0 } else { (1u64 << w) - 1 };
            let mut vals = [0u64; MINI_LEN];
            for (i, v) in vals.iter_mut().enumerate() {
                *v = (i as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(w as u32)
                    & mask;
            }
            vals[5] = mask;
            let mut packed = Vec::new();
            bitpack::pack(&vals, w, &mut packed);
            let mut pad = Padded::default();
            pad.load(&[0xAB; MINI_LEN * 8]);
            pad.load(&packed);
            let (mut a, mut b) = ([0u32; MINI_LEN], [0u32; MINI_LEN]);
            unpack_u32(&pad, w, avx2, &mut a);
            unpack_u32_portable(&pad, w, &mut b);
            assert_eq!(a, b, "width {w}");
            let expect: Vec<u32> = vals.iter().map(|&v| v as u32).collect();
            assert_eq!(a.to_vec(), expect, "width {w}");
        }
    }
}
