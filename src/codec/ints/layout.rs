//! The column's byte layout: the header fields and descriptor flags, the sizes derived
//! from the descriptors, and the parse that checks a column's header against its bytes.

use super::column::IntColumn;
use crate::codec::bitpack::{self, MINI_LEN};
use crate::codec::{Cursor, DecodeError};

pub(super) const MODE_VALUES: u8 = 0;
pub(super) const MODE_DELTAS: u8 = 1;
/// Mode flag: two-level mini-blocks keep their levels in a bitmap.
pub(super) const MODE_LEVEL_BITMAP: u8 = 2;
/// Bytes before the descriptor array.
pub(super) const HEADER_LEN: usize = 1 + 4 + 8 + 8 + 1;
/// Descriptor bit marking a two-level mini-block.
pub(super) const TWO_LEVEL: u8 = 0x80;

/// The packed width of descriptor `d` (its mini-block takes 8 bytes per unit): the value
/// width plus the level bit or bitmap word of a two-level mini-block. At most 64 in a
/// valid column.
#[inline(always)]
pub(crate) fn packed_width(d: u8) -> u8 {
    (d & !TWO_LEVEL) + (d >> 7)
}

/// What a column's header needs from its descriptors: whether one has a packed width
/// above 64, the payload's size in 8-byte units, the number of two-level mini-blocks, and
/// the largest packed width and largest low 7 bits (the value width of a frame with a
/// level bitmap).
pub(super) struct DescTotals {
    pub(super) bad: bool,
    pub(super) units: usize,
    pub(super) n_two: usize,
    pub(super) max_packed: u8,
    pub(super) max_low: u8,
}

impl DescTotals {
    /// One pass, 8 descriptors per 64-bit word: a descriptor's packed width (its low 7
    /// bits plus its top bit) is at most 128, so the widths of 8 stay in their bytes, and
    /// pairs of them in 16-bit lanes (a plain loop over the bytes does not vectorise, and
    /// every block read takes this pass).
    /// `descs` are the descriptors and `more` the column's bytes from them on: on x86-64
    /// [`DescTotals::of_sse2`] reads them 16 at a time from there when it can.
    #[cfg_attr(
        not(target_arch = "x86_64"),
        expect(unused_variables, reason = "`more` is read by the SSE2 path only")
    )]
    pub(super) fn of(descs: &[u8], more: &[u8]) -> DescTotals {
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = Self::of_sse2(descs, more) {
            return t;
        }
        const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        const ONES: u64 = 0x0101_0101_0101_0101;
        const TOPS: u64 = 0x8080_8080_8080_8080;
        const PAIRS: u64 = 0x00ff_00ff_00ff_00ff;
        let mut t = DescTotals {
            bad: false,
            units: 0,
            n_two: 0,
            max_packed: descs.iter().map(|&d| packed_width(d)).max().unwrap_or(0),
            max_low: descs.iter().map(|&d| d & !TWO_LEVEL).max().unwrap_or(0),
        };
        let mut words = descs.chunks_exact(8);
        let mut add = |x: u64| {
            let widths = (x & LOW7) + ((x >> 7) & ONES);
            // A width of 65 or more sets its byte's top bit once 63 is added (at most 191).
            t.bad |= (widths + 63 * ONES) & TOPS != 0;
            let pairs = (widths & PAIRS) + ((widths >> 8) & PAIRS);
            t.units += (pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48) as usize;
            // The top bits as 0 or 1 per byte, summed by the multiply into the top byte
            // (`count_ones` is a long sequence where POPCNT is not enabled).
            t.n_two += (((x & TOPS) >> 7).wrapping_mul(ONES) >> 56) as usize;
        };
        for w in &mut words {
            add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        // The last few, padded with zero descriptors (width 0, one level).
        let rest = words.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        add(u64::from_le_bytes(last));
        t
    }

    /// [`DescTotals::of`] 16 descriptors at a time with SSE2 (part of x86-64): the byte
    /// sums of the widths and of the two-level flags by `psadbw` (a popcount of the flags
    /// is a long sequence without POPCNT). `None` when
    /// `more` does not hold the descriptors rounded up to 16 bytes (the bytes past them
    /// are masked off).
    #[cfg(target_arch = "x86_64")]
    fn of_sse2(descs: &[u8], more: &[u8]) -> Option<DescTotals> {
        use std::arch::x86_64::*;
        let n = descs.len();
        let bytes = more.get(..n.div_ceil(16) * 16)?;
        if bytes.as_ptr() != descs.as_ptr() {
            return None;
        }
        // SAFETY: SSE2 is part of x86-64; every load is inside `bytes`.
        unsafe {
            let (low7, one, zero) = (_mm_set1_epi8(0x7f), _mm_set1_epi8(1), _mm_setzero_si128());
            // A packed width of 65 or more: above 64 as a signed byte, for widths of at
            // most 128 (127 + 1), so compare the width minus 1 with 63.
            let limit = _mm_set1_epi8(63);
            let (mut sums, mut bad, mut twos) = (zero, zero, zero);
            let (mut max_packed, mut max_low) = (zero, zero);
            for (i, chunk) in bytes.chunks_exact(16).enumerate() {
                let x = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
                // The last chunk's bytes past the descriptors count as zero.
                let keep = (n - i * 16).min(16);
                let x = match keep {
                    16 => x,
                    k => _mm_and_si128(
                        x,
                        _mm_loadu_si128(KEEP[16 - k..].as_ptr() as *const __m128i),
                    ),
                };
                let top = _mm_and_si128(_mm_srli_epi16::<7>(x), one);
                let low = _mm_and_si128(x, low7);
                let widths = _mm_add_epi8(low, top);
                max_packed = _mm_max_epu8(max_packed, widths);
                max_low = _mm_max_epu8(max_low, low);
                sums = _mm_add_epi64(sums, _mm_sad_epu8(widths, zero));
                twos = _mm_add_epi64(twos, _mm_sad_epu8(top, zero));
                bad = _mm_or_si128(bad, _mm_cmpgt_epi8(_mm_sub_epi8(widths, one), limit));
            }
            let total =
                |v: __m128i| _mm_cvtsi128_si64(v) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
            let max = |v: __m128i| {
                let mut b = [0u8; 16];
                _mm_storeu_si128(b.as_mut_ptr() as *mut __m128i, v);
                b.into_iter().max().unwrap_or(0)
            };
            Some(DescTotals {
                bad: _mm_movemask_epi8(bad) != 0,
                units: total(sums) as usize,
                n_two: total(twos) as usize,
                max_packed: max(max_packed),
                max_low: max(max_low),
            })
        }
    }
}

/// 16 ones then 16 zeros: the window at `16 - k` keeps the first `k` bytes.
#[cfg(target_arch = "x86_64")]
static KEEP: [u8; 32] = {
    let mut t = [0u8; 32];
    let mut i = 0;
    while i < 16 {
        t[i] = 0xff;
        i += 1;
    }
    t
};

/// Bytes of `n` values of `w` bits packed in groups of 64, the last group partial.
pub(super) fn array_len(n: usize, w: u8) -> usize {
    (n / MINI_LEN) * bitpack::packed_len(w) + bitpack::partial_len(n % MINI_LEN, w)
}

impl<'a> IntColumn<'a> {
    /// Parses and validates the header of a column; returns it and the bytes it used.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, usize), DecodeError> {
        let mut c = Cursor::new(bytes);
        let mode = c.u8("int column mode")?;
        let (bitmap, mode) = (mode & MODE_LEVEL_BITMAP != 0, mode & !MODE_LEVEL_BITMAP);
        if mode != MODE_VALUES && mode != MODE_DELTAS {
            return Err(DecodeError::new("unknown int column mode", 0));
        }
        let count = c.u32("int column count")? as usize;
        let first = c.i64("int column first value")?;
        let base = c.i64("int column base")?;
        let ref_width = c.u8("int column reference width")?;
        if ref_width > 64 {
            return Err(DecodeError::new("reference width above 64", c.pos() - 1));
        }
        let n_mini = count.div_ceil(MINI_LEN);
        let descs_at = c.pos();
        let descs = c.take(n_mini, "mini-block descriptors")?;
        // The position of a bad descriptor is looked for only on error.
        let totals = DescTotals::of(descs, &bytes[descs_at..]);
        let DescTotals {
            bad, units, n_two, ..
        } = totals;
        if bad {
            let i = descs
                .iter()
                .position(|&d| packed_width(d) > 64)
                .unwrap_or(0);
            return Err(DecodeError::new(
                "mini-block width out of range",
                descs_at + i,
            ));
        }
        let payload_len = bitpack::packed_len(1) * units;
        let refs_at = c.pos();
        c.take(array_len(n_mini, ref_width), "mini-block references")?;
        let split_at = c.pos();
        let split_width = c.u8("split width")?;
        if split_width > 64 {
            return Err(DecodeError::new("split width above 64", split_at));
        }
        let splits_at = c.pos();
        c.take(array_len(n_two, split_width), "two-level splits")?;
        let payload_at = c.pos();
        let payload = c.take(payload_len, "mini-block payload")?;
        let (refs, splits) = (&bytes[refs_at..c.pos()], &bytes[splits_at..c.pos()]);
        let col = IntColumn {
            deltas: mode == MODE_DELTAS,
            bitmap,
            count,
            first,
            base,
            ref_width,
            split_width,
            vector_width: match bitmap {
                true => totals.max_low,
                false => totals.max_packed,
            },
            descs,
            refs,
            splits,
            payload,
            readable: payload,
            payload_at,
        };
        Ok((col, c.pos()))
    }
}
