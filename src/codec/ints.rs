//! Integer columns: frame-of-reference + bit-packing over 64-value mini-blocks, optionally
//! after a delta transform.
//!
//! Layout (all little-endian):
//! ```text
//! mode      u8     0 = values, 1 = deltas (t[0] = 0, t[i] = v[i] - v[i-1], wrapping)
//! count     u32    number of values
//! first     i64    v[0] in delta mode, 0 in value mode
//! base      i64    smallest mini-block reference
//! ref_width u8     bits per packed reference
//! widths    u8 x ceil(count/64)            bits per value of each mini-block
//! refs      ceil(count/64) refs - base, packed 64 per group with ref_width bits
//! payload   per mini-block: widths[m] * 8 bytes; value = ref[m] + packed (wrapping)
//! ```
//! The encoder sizes both modes and keeps the smaller (values on a tie: cheaper to
//! decode). Delta mode wins on smooth series such as cumulative registers; value mode wins
//! on noisy interval energy, whose deltas are wider than the values' local range.

use super::bitpack::{self, MINI_LEN};
use super::{Cursor, DecodeError};

const MODE_VALUES: u8 = 0;
const MODE_DELTAS: u8 = 1;
/// Bytes before the widths array.
const HEADER_LEN: usize = 1 + 4 + 8 + 8 + 1;

/// Frame of reference of one mini-block: its minimum and the bits of its range.
#[derive(Clone, Copy)]
struct Frame {
    reference: i64,
    width: u8,
}

fn frames(t: &[i64]) -> Vec<Frame> {
    t.chunks(MINI_LEN)
        .map(|c| {
            let (mut lo, mut hi) = (c[0], c[0]);
            for &v in c {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            Frame {
                reference: lo,
                width: bitpack::bits_needed(hi.wrapping_sub(lo) as u64),
            }
        })
        .collect()
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
            .map(|f| bitpack::packed_len(f.width))
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
    out.extend(fr.iter().map(|f| f.width));
    let mut buf = [0u64; MINI_LEN];
    for group in fr.chunks(MINI_LEN) {
        buf.fill(0);
        for (b, f) in buf.iter_mut().zip(group) {
            *b = f.reference.wrapping_sub(base) as u64;
        }
        bitpack::pack(&buf, ref_width, out);
    }
    for (chunk, f) in t.chunks(MINI_LEN).zip(&fr) {
        buf.fill(0);
        for (b, &x) in buf.iter_mut().zip(chunk) {
            *b = x.wrapping_sub(f.reference) as u64;
        }
        bitpack::pack(&buf, f.width, out);
    }
}

/// A parsed, validated integer column borrowing its bytes; decodes mini-block by
/// mini-block.
pub struct IntColumn<'a> {
    deltas: bool,
    count: usize,
    first: i64,
    widths: &'a [u8],
    refs: Vec<i64>,
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
        let widths_at = c.pos();
        let widths = c.take(n_mini, "mini-block widths")?;
        if let Some(i) = widths.iter().position(|&w| w > 64) {
            return Err(DecodeError::new("mini-block width above 64", widths_at + i));
        }
        let mut refs = Vec::with_capacity(n_mini);
        let mut buf = [0u64; MINI_LEN];
        for g in 0..n_mini.div_ceil(MINI_LEN) {
            let packed = c.take(bitpack::packed_len(ref_width), "mini-block references")?;
            bitpack::unpack(packed, ref_width, &mut buf);
            let in_group = (n_mini - g * MINI_LEN).min(MINI_LEN);
            refs.extend(buf[..in_group].iter().map(|&o| base.wrapping_add(o as i64)));
        }
        let mut offsets = Vec::with_capacity(n_mini + 1);
        let mut off = 0usize;
        offsets.push(0);
        for &w in widths {
            off += bitpack::packed_len(w);
            offsets.push(off);
        }
        let payload = c.take(off, "mini-block payload")?;
        let col = IntColumn {
            deltas: mode == MODE_DELTAS,
            count,
            first,
            widths,
            refs,
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
        let start = out.len();
        out.reserve(self.count);
        let mut buf = [0u64; MINI_LEN];
        for m in 0..self.widths.len() {
            let bytes = &self.payload[self.offsets[m]..self.offsets[m + 1]];
            bitpack::unpack(bytes, self.widths[m], &mut buf);
            let n = (self.count - m * MINI_LEN).min(MINI_LEN);
            let r = self.refs[m];
            out.extend(buf[..n].iter().map(|&x| r.wrapping_add(x as i64)));
        }
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

#[cfg(test)]
mod tests;
