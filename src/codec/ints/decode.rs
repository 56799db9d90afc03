//! The decoders: a mini-block's packed values plus its frame, through the vector unpacker or
//! the per-width scalar decoders, and a whole column to values.

use super::column::{IntColumn, Mini};
use crate::codec::bitpack::{self, width_table, Padded, MINI_LEN};
use crate::codec::{simd, DecodeError};

/// Decodes one full mini-block of constant packed width `W` into `dst`, adding the frame.
fn decode_plain<const W: usize>(p: &Padded, m: &Mini, dst: &mut [i64; MINI_LEN]) {
    let r = m.reference;
    bitpack::unpack_with::<W>(p, |i, x| dst[i] = r.wrapping_add(x as i64));
}

fn decode_two<const W: usize>(p: &Padded, m: &Mini, dst: &mut [i64; MINI_LEN]) {
    let (r, s) = (m.reference, m.split);
    bitpack::unpack_with::<W>(p, |i, x| {
        let level = ((x & 1) as i64).wrapping_neg() & s;
        dst[i] = r.wrapping_add((x >> 1) as i64).wrapping_add(level);
    });
}

/// Adds a mini-block's frame to its unpacked offsets; a plain loop the compiler
/// vectorises.
#[inline(always)]
fn apply_frame(m: &Mini, offs: &[u32; MINI_LEN], dst: &mut [i64; MINI_LEN]) {
    let r = m.reference;
    if m.low_bit() {
        let s = m.split;
        for (d, &x) in dst.iter_mut().zip(offs) {
            let level = ((x & 1) as i64).wrapping_neg() & s;
            *d = r.wrapping_add((x >> 1) as i64).wrapping_add(level);
        }
    } else {
        for (d, &x) in dst.iter_mut().zip(offs) {
            *d = r.wrapping_add(x as i64);
        }
        add_levels(m, dst);
    }
}

/// Adds the split to the values a level bitmap puts on the upper level (none for other
/// frames, whose `levels` are 0).
#[inline(always)]
fn add_levels(m: &Mini, dst: &mut [i64; MINI_LEN]) {
    for (i, d) in dst.iter_mut().enumerate() {
        let up = ((m.levels >> i & 1) as i64).wrapping_neg() & m.split;
        *d = d.wrapping_add(up);
    }
}

type MiniDecoder = fn(&Padded, &Mini, &mut [i64; MINI_LEN]);
width_table!(DECODE_PLAIN, MiniDecoder, decode_plain);
width_table!(DECODE_TWO, MiniDecoder, decode_two);

/// Decodes a mini-block of any width through the per-width scalar decoders (the path for
/// widths above the vector unpacker's).
/// `p` holds the mini-block's packed values (from [`Mini::values_at`]).
pub(crate) fn decode_scalar(p: &Padded, m: &Mini, dst: &mut [i64; MINI_LEN]) {
    if m.low_bit() {
        DECODE_TWO[m.packed_width as usize](p, m, dst)
    } else {
        DECODE_PLAIN[m.width() as usize](p, m, dst);
        add_levels(m, dst);
    }
}

impl IntColumn<'_> {
    /// Appends all values to `out`.
    pub fn decode_into(&self, out: &mut Vec<i64>) {
        #[cfg(target_arch = "x86_64")]
        if simd::avx2_available() {
            // SAFETY: AVX2 was detected on this CPU.
            unsafe { self.decode_into_avx2(out) };
            return;
        }
        self.decode_into_impl(out, false);
    }

    /// The same body compiled with AVX2 enabled, so that the frame loops vectorise with
    /// 256-bit registers.
    ///
    /// Callable where AVX2 is enabled, or detected on this CPU.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn decode_into_avx2(&self, out: &mut Vec<i64>) {
        self.decode_into_impl(out, true);
    }

    /// Decodes mini-block `m` (its bytes at `at`) into `dst`: through the vector unpacker
    /// (AVX2 when `avx2`) for widths up to 25, else the scalar per-width decoders.
    #[inline(always)]
    pub(crate) fn decode_mini(
        &self,
        m: &Mini,
        at: usize,
        avx2: bool,
        pad: &mut Padded,
        offs: &mut [u32; MINI_LEN],
        dst: &mut [i64; MINI_LEN],
    ) {
        let p = pad.load(self.values_of(m, at));
        if m.width() <= simd::MAX_SIMD_WIDTH {
            simd::unpack_u32(p, m.width(), avx2, offs);
            apply_frame(m, offs, dst);
        } else {
            decode_scalar(p, m, dst);
        }
    }

    #[inline(always)]
    pub(crate) fn decode_into_impl(&self, out: &mut Vec<i64>, avx2: bool) {
        let start = out.len();
        out.reserve(self.count);
        let mut pad = Padded::default();
        let mut mini = [0i64; MINI_LEN];
        let mut offs = [0u32; MINI_LEN];
        // Each mini-block is decoded into `mini` (in L1) and copied to the end of `out`,
        // so that `out` is written once, not zeroed first.
        for (m, at) in self.minis_from(0) {
            self.decode_mini(&m, at, avx2, &mut pad, &mut offs, &mut mini);
            let n = (start + self.count - out.len()).min(MINI_LEN);
            out.extend_from_slice(&mini[..n]);
        }
        debug_assert_eq!(out.len(), start + self.count);
        if self.deltas {
            let mut acc = self.first;
            for v in &mut out[start..] {
                acc = acc.wrapping_add(*v);
                *v = acc;
            }
        }
    }
}

/// Decodes a whole column from `bytes`; returns the values and the bytes used.
pub fn decode(bytes: &[u8]) -> Result<(Vec<i64>, usize), DecodeError> {
    let (col, used) = IntColumn::parse(bytes)?;
    let mut out = Vec::new();
    col.decode_into(&mut out);
    Ok((out, used))
}
