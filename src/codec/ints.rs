//! Integer columns: frame-of-reference + bit-packing over 64-value mini-blocks, optionally
//! after a delta transform, with a two-level frame for mini-blocks that straddle a level
//! change.
//!
//! Layout (all little-endian):
//! ```text
//! mode      u8     0 = values, 1 = deltas (t[0] = 0, t[i] = v[i] - v[i-1], wrapping)
//! count     u32    number of values
//! first     i64    v[0] in delta mode, 0 in value mode
//! base      i64    smallest mini-block reference
//! ref_width u8     bits per packed reference
//! descs     u8 x ceil(count/64)   per mini-block: bit 7 = two-level, bits 0..7 = width w
//! refs      ceil(count/64) refs - base, packed 64 per group with ref_width bits
//! splits    one LEB128 varint per two-level mini-block, in order: its upper level - ref
//! payload   per mini-block: packed values of w bits (plain) or w+1 bits (two-level)
//! ```
//! A plain value is `ref + x`. A two-level value is `ref + (x >> 1) + (x & 1) * split`:
//! its low bit picks the level. Q: why two levels? A: a 64-value mini-block of 15-minute
//! data spans 16 hours, so nearly every one holds a switch between idle and production
//! load; one frame would pay the full load range in every value, two frames pay one bit
//! plus the noise (about 9% smaller on the synthetic fleet, `examples/fleet_bench.rs`).
//!
//! The encoder sizes value and delta mode and keeps the smaller (values on a tie: cheaper
//! to decode). Delta mode wins on smooth series such as cumulative registers.

use super::bitpack::{self, width_table, Padded, MINI_LEN};
use super::{simd, Cursor, DecodeError};

const MODE_VALUES: u8 = 0;
const MODE_DELTAS: u8 = 1;
/// Bytes before the descriptor array.
const HEADER_LEN: usize = 1 + 4 + 8 + 8 + 1;
/// Descriptor bit marking a two-level mini-block.
const TWO_LEVEL: u8 = 0x80;

/// Frame of one mini-block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frame {
    reference: i64,
    /// Offset width `w` (values), excluding the level bit.
    width: u8,
    /// Upper level minus reference, for two-level frames.
    split: Option<u64>,
}

impl Frame {
    fn packed_width(&self) -> u8 {
        self.width + self.split.is_some() as u8
    }
}

fn varint_len(v: u64) -> usize {
    (bitpack::bits_needed(v) as usize).div_ceil(7).max(1)
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn frame(c: &[i64], sorted: &mut Vec<i64>) -> Frame {
    let (lo, hi) = c
        .iter()
        .fold((c[0], c[0]), |(a, b), &v| (a.min(v), b.max(v)));
    let plain = Frame {
        reference: lo,
        width: bitpack::bits_needed(hi.wrapping_sub(lo) as u64),
        split: None,
    };
    if plain.width <= 2 {
        return plain;
    }
    sorted.clear();
    sorted.extend_from_slice(c);
    sorted.sort_unstable();
    let n = sorted.len();
    let mut best = plain;
    let mut best_bits = plain.width as usize * MINI_LEN;
    for k in 1..n {
        if sorted[k] == sorted[k - 1] {
            continue;
        }
        let low = bitpack::bits_needed(sorted[k - 1].wrapping_sub(lo) as u64);
        let high = bitpack::bits_needed(hi.wrapping_sub(sorted[k]) as u64);
        let w = low.max(high);
        if w >= 64 {
            continue;
        }
        let split = sorted[k].wrapping_sub(lo) as u64;
        let bits = (w as usize + 1) * MINI_LEN + varint_len(split) * 8;
        if bits < best_bits {
            best_bits = bits;
            best = Frame {
                reference: lo,
                width: w,
                split: Some(split),
            };
        }
    }
    best
}

fn frames(t: &[i64]) -> Vec<Frame> {
    let mut sorted = Vec::with_capacity(MINI_LEN);
    t.chunks(MINI_LEN).map(|c| frame(c, &mut sorted)).collect()
}

fn ref_layout(frames: &[Frame]) -> (i64, u8) {
    let base = frames.iter().map(|f| f.reference).min().unwrap_or(0);
    let max_off = frames
        .iter()
        .map(|f| f.reference.wrapping_sub(base) as u64)
        .max()
        .unwrap_or(0);
    (base, bitpack::bits_needed(max_off))
}

fn encoded_len(frames: &[Frame]) -> usize {
    let (_, ref_width) = ref_layout(frames);
    let groups = frames.len().div_ceil(MINI_LEN);
    HEADER_LEN
        + frames.len()
        + groups * bitpack::packed_len(ref_width)
        + frames
            .iter()
            .filter_map(|f| f.split)
            .map(varint_len)
            .sum::<usize>()
        + frames
            .iter()
            .map(|f| bitpack::packed_len(f.packed_width()))
            .sum::<usize>()
}

fn deltas(v: &[i64]) -> Vec<i64> {
    let mut t = Vec::with_capacity(v.len());
    if !v.is_empty() {
        t.push(0);
    }
    t.extend(v.windows(2).map(|w| w[1].wrapping_sub(w[0])));
    t
}

/// Appends the encoding of `v` to `out`.
pub fn encode(v: &[i64], out: &mut Vec<u8>) {
    let raw_frames = frames(v);
    let d = deltas(v);
    let delta_frames = frames(&d);
    let (mode, t, fr) = if encoded_len(&delta_frames) < encoded_len(&raw_frames) {
        (MODE_DELTAS, &d[..], delta_frames)
    } else {
        (MODE_VALUES, v, raw_frames)
    };
    let (base, ref_width) = ref_layout(&fr);
    out.reserve(encoded_len(&fr));
    out.push(mode);
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    let first = if mode == MODE_DELTAS { v[0] } else { 0 };
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&base.to_le_bytes());
    out.push(ref_width);
    out.extend(
        fr.iter()
            .map(|f| f.width | if f.split.is_some() { TWO_LEVEL } else { 0 }),
    );
    let mut buf = [0u64; MINI_LEN];
    for group in fr.chunks(MINI_LEN) {
        buf.fill(0);
        for (b, f) in buf.iter_mut().zip(group) {
            *b = f.reference.wrapping_sub(base) as u64;
        }
        bitpack::pack(&buf, ref_width, out);
    }
    for s in fr.iter().filter_map(|f| f.split) {
        put_varint(s, out);
    }
    for (chunk, f) in t.chunks(MINI_LEN).zip(&fr) {
        buf.fill(0);
        for (b, &x) in buf.iter_mut().zip(chunk) {
            let off = x.wrapping_sub(f.reference) as u64;
            *b = match f.split {
                None => off,
                Some(s) if off >= s => ((off - s) << 1) | 1,
                Some(_) => off << 1,
            };
        }
        bitpack::pack(&buf, f.packed_width(), out);
    }
}

/// A decoded mini-block descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mini {
    reference: i64,
    split: i64,
    packed_width: u8,
    two_level: bool,
}

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
    if m.two_level {
        let s = m.split;
        for (d, &x) in dst.iter_mut().zip(offs) {
            let level = ((x & 1) as i64).wrapping_neg() & s;
            *d = r.wrapping_add((x >> 1) as i64).wrapping_add(level);
        }
    } else {
        for (d, &x) in dst.iter_mut().zip(offs) {
            *d = r.wrapping_add(x as i64);
        }
    }
}

type MiniDecoder = fn(&Padded, &Mini, &mut [i64; MINI_LEN]);
width_table!(DECODE_PLAIN, MiniDecoder, decode_plain);
width_table!(DECODE_TWO, MiniDecoder, decode_two);

/// A parsed, validated integer column borrowing its bytes; decodes mini-block by
/// mini-block.
pub struct IntColumn<'a> {
    deltas: bool,
    count: usize,
    first: i64,
    minis: Vec<Mini>,
    /// Byte offset of each mini-block's payload within `payload`, plus the end.
    offsets: Vec<usize>,
    payload: &'a [u8],
}

impl<'a> IntColumn<'a> {
    /// Parses and validates the header of a column; returns it and the bytes it used.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, usize), DecodeError> {
        let mut c = Cursor::new(bytes);
        let mode = c.u8("int column mode")?;
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
        let mut minis = Vec::with_capacity(n_mini);
        for (i, &d) in descs.iter().enumerate() {
            let (w, two) = (d & !TWO_LEVEL, d & TWO_LEVEL != 0);
            if w > 64 || (two && w > 63) {
                return Err(DecodeError::new(
                    "mini-block width out of range",
                    descs_at + i,
                ));
            }
            minis.push(Mini {
                reference: 0,
                split: 0,
                packed_width: w + two as u8,
                two_level: two,
            });
        }
        let mut buf = [0u64; MINI_LEN];
        let mut pad = Padded::default();
        for g in 0..n_mini.div_ceil(MINI_LEN) {
            let packed = c.take(bitpack::packed_len(ref_width), "mini-block references")?;
            bitpack::unpack(packed, ref_width, &mut pad, &mut buf);
            for (m, &o) in minis[g * MINI_LEN..].iter_mut().zip(&buf) {
                m.reference = base.wrapping_add(o as i64);
            }
        }
        for m in minis.iter_mut().filter(|m| m.two_level) {
            let at = c.pos();
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let b = c.u8("two-level split")?;
                if shift == 63 && b > 1 || shift > 63 {
                    return Err(DecodeError::new("two-level split overflows u64", at));
                }
                v |= ((b & 0x7f) as u64) << shift;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
            }
            m.split = v as i64;
        }
        let mut offsets = Vec::with_capacity(n_mini + 1);
        let mut off = 0usize;
        offsets.push(0);
        for m in &minis {
            off += bitpack::packed_len(m.packed_width);
            offsets.push(off);
        }
        let payload = c.take(off, "mini-block payload")?;
        let col = IntColumn {
            deltas: mode == MODE_DELTAS,
            count,
            first,
            minis,
            offsets,
            payload,
        };
        Ok((col, c.pos()))
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the column holds no values.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

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
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn decode_into_avx2(&self, out: &mut Vec<i64>) {
        self.decode_into_impl(out, true);
    }

    #[inline(always)]
    fn decode_into_impl(&self, out: &mut Vec<i64>, avx2: bool) {
        let start = out.len();
        out.resize(start + self.count, 0);
        let dst = &mut out[start..];
        let mut pad = Padded::default();
        let mut tail = [0i64; MINI_LEN];
        let mut offs = [0u32; MINI_LEN];
        for (k, m) in self.minis.iter().enumerate() {
            pad.load(&self.payload[self.offsets[k]..self.offsets[k + 1]]);
            let lo = k * MINI_LEN;
            let (full, n) = match dst.get_mut(lo..lo + MINI_LEN) {
                Some(full) => (full.try_into().expect("64 values"), MINI_LEN),
                None => (&mut tail, dst.len() - lo),
            };
            if m.packed_width <= simd::MAX_SIMD_WIDTH {
                simd::unpack_u32(&pad, m.packed_width, avx2, &mut offs);
                apply_frame(m, &offs, full);
            } else {
                let table = if m.two_level {
                    &DECODE_TWO
                } else {
                    &DECODE_PLAIN
                };
                table[m.packed_width as usize](&pad, m, full);
            }
            if n < MINI_LEN {
                dst[lo..].copy_from_slice(&tail[..n]);
            }
        }
        if self.deltas {
            let mut acc = self.first;
            for v in dst {
                acc = acc.wrapping_add(*v);
                *v = acc;
            }
        }
    }
}

impl IntColumn<'_> {
    /// Adds to `out[j]` the sum of values `bounds[j]..bounds[j + 1]`, for sorted `bounds`
    /// within `0..=len` (`out.len() + 1 == bounds.len()`). Sums are exact (`i128`).
    ///
    /// The scan kernel: value-mode columns are summed straight from the packed bytes, one
    /// mini-block at a time (unpack to 32-bit offsets, then per-range sums of the offsets
    /// plus reference times count), without materialising the values. Delta-mode columns
    /// need a prefix sum and are decoded first.
    pub fn range_sums(&self, bounds: &[usize], out: &mut [i128]) {
        debug_assert_eq!(out.len() + 1, bounds.len());
        debug_assert!(
            bounds.windows(2).all(|w| w[0] <= w[1])
                && bounds.last().is_none_or(|&b| b <= self.count)
        );
        #[cfg(target_arch = "x86_64")]
        if simd::avx2_available() {
            // SAFETY: AVX2 was detected on this CPU.
            unsafe { self.range_sums_avx2(bounds, out) };
            return;
        }
        self.range_sums_impl(bounds, out, false);
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn range_sums_avx2(&self, bounds: &[usize], out: &mut [i128]) {
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
        if self.deltas {
            let mut v = Vec::with_capacity(self.count);
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
        let mut vals = [0u64; MINI_LEN];
        let mut wide = [0i64; MINI_LEN];
        // Range j currently being filled; ranges are visited in order with the minis.
        let mut j = bounds.partition_point(|&b| b <= first).saturating_sub(1);
        for k in first / MINI_LEN..last.div_ceil(MINI_LEN) {
            let m = &self.minis[k];
            let lo = k * MINI_LEN;
            let hi = (lo + MINI_LEN).min(self.count);
            pad.load(&self.payload[self.offsets[k]..self.offsets[k + 1]]);
            // Fast path: offsets fit 32 bits and the level split 32 bits, so a value minus
            // the reference fits 33 bits and 64 of them sum within a u64.
            let fast = m.packed_width <= simd::MAX_SIMD_WIDTH && (m.split as u64) < 1 << 32;
            if fast {
                simd::unpack_u32(&pad, m.packed_width, avx2, &mut offs);
                if m.two_level {
                    let s = m.split as u64;
                    for (v, &x) in vals.iter_mut().zip(&offs) {
                        *v = (x >> 1) as u64 + (x & 1) as u64 * s;
                    }
                } else {
                    for (v, &x) in vals.iter_mut().zip(&offs) {
                        *v = x as u64;
                    }
                }
            } else {
                let table = if m.two_level {
                    &DECODE_TWO
                } else {
                    &DECODE_PLAIN
                };
                table[m.packed_width as usize](&pad, m, &mut wide);
            }
            while j < out.len() && bounds[j] < hi {
                let a = bounds[j].max(lo);
                let b = bounds[j + 1].min(hi);
                if a < b {
                    out[j] += if fast {
                        let s: u64 = vals[a - lo..b - lo].iter().sum();
                        m.reference as i128 * (b - a) as i128 + s as i128
                    } else {
                        wide[a - lo..b - lo]
                            .iter()
                            .map(|&x| x as i128)
                            .sum::<i128>()
                    };
                }
                if bounds[j + 1] > hi {
                    break;
                }
                j += 1;
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

#[cfg(test)]
mod tests;
