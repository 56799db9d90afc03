//! The encoder: a frame per mini-block (one level or two), value or delta mode by size,
//! and the column's bytes.

use super::layout::{
    array_len, HEADER_LEN, MODE_DELTAS, MODE_LEVEL_BITMAP, MODE_VALUES, TWO_LEVEL,
};
use crate::codec::bitpack::{self, MINI_LEN};

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

/// Bytes of the packed splits of two-level frames (plus their width byte).
fn splits_len(frames: &[Frame]) -> usize {
    let (n, w) = split_layout(frames);
    1 + array_len(n, w)
}

/// Appends `vals` packed with `w` bits in groups of 64, the last group partial.
fn pack_array(vals: impl Iterator<Item = u64>, w: u8, out: &mut Vec<u8>) {
    let mut buf = [0u64; MINI_LEN];
    let mut n = 0;
    for v in vals {
        buf[n] = v;
        n += 1;
        if n == MINI_LEN {
            bitpack::pack(&buf, w, out);
            n = 0;
        }
    }
    if n > 0 {
        buf[n..].fill(0);
        bitpack::pack_partial(&buf, n, w, out);
    }
}

fn split_layout(frames: &[Frame]) -> (usize, u8) {
    let splits = frames.iter().filter_map(|f| f.split);
    let n = splits.clone().count();
    (n, bitpack::bits_needed(splits.max().unwrap_or(0)))
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
        // The split itself costs about its own bits in the packed split array.
        let bits = (w as usize + 1) * MINI_LEN + bitpack::bits_needed(split) as usize;
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
    HEADER_LEN
        + frames.len()
        + array_len(frames.len(), ref_width)
        + splits_len(frames)
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

/// How two-level mini-blocks mark the level of each value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Levels {
    /// A 64-bit bitmap before the packed values (what this version writes).
    Bitmap,
    /// The low bit of each packed value (format version 1; still read, and written by
    /// tests that keep its decoders covered).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "written only by the tests that cover its decoders"
        )
    )]
    LowBit,
}

/// Appends the encoding of `v` to `out`.
pub fn encode(v: &[i64], out: &mut Vec<u8>) {
    encode_with(v, Levels::Bitmap, out)
}

/// Delta mode is kept when it is at least `1 / DELTA_SAVING` of the value mode's size
/// smaller, not whenever it is smaller: a delta-mode mini-block costs the scan kernel a
/// multiply per 8 values and a horizontal add more than a value-mode one, which small
/// savings (smooth loads) do not repay and large ones (cumulative registers) do; the
/// measurements behind the rule are in `docs/FORMAT.md`.
pub(crate) const DELTA_SAVING: usize = 8;

/// Which mode the encoder stores a column in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Values unless deltas are at least `1 / DELTA_SAVING` smaller: what the writer does.
    Chosen,
    /// Values, whatever the size (tests force each mode).
    #[cfg_attr(not(test), expect(dead_code, reason = "tests force each mode"))]
    Values,
    /// Deltas, whatever the size.
    #[cfg_attr(not(test), expect(dead_code, reason = "tests force each mode"))]
    Deltas,
}

/// Appends the encoding of `v` to `out` with the given two-level layout.
pub(crate) fn encode_with(v: &[i64], levels: Levels, out: &mut Vec<u8>) {
    encode_as(v, levels, Mode::Chosen, out)
}

/// Appends the encoding of `v` to `out` with the given two-level layout and mode.
pub(crate) fn encode_as(v: &[i64], levels: Levels, mode: Mode, out: &mut Vec<u8>) {
    let d = deltas(v);
    let (mode, t, fr) = match mode {
        Mode::Chosen => {
            let (raw_frames, delta_frames) = (frames(v), frames(&d));
            let values_len = encoded_len(&raw_frames);
            match encoded_len(&delta_frames) <= values_len - values_len / DELTA_SAVING {
                true => (MODE_DELTAS, &d[..], delta_frames),
                false => (MODE_VALUES, v, raw_frames),
            }
        }
        Mode::Values => (MODE_VALUES, v, frames(v)),
        Mode::Deltas => (MODE_DELTAS, &d[..], frames(&d)),
    };
    write(v, mode, t, &fr, levels, out);
}

/// Appends `v` in value mode with one plain frame per mini-block: no two-level search and
/// no delta trial, for a column that lives only in memory and is read once (a cold
/// block rebuilt for a scan), where encoding time counts more than size.
pub(crate) fn encode_plain(v: &[i64], out: &mut Vec<u8>) {
    let fr: Vec<Frame> = v
        .chunks(MINI_LEN)
        .map(|c| {
            let (lo, hi) = c
                .iter()
                .fold((c[0], c[0]), |(a, b), &x| (a.min(x), b.max(x)));
            Frame {
                reference: lo,
                width: bitpack::bits_needed(hi.wrapping_sub(lo) as u64),
                split: None,
            }
        })
        .collect();
    write(v, MODE_VALUES, v, &fr, Levels::Bitmap, out);
}

/// Appends the column of `v`, stored as `t` (`v` or its deltas, as `mode` says) in the
/// frames `fr`.
fn write(v: &[i64], mode: u8, t: &[i64], fr: &[Frame], levels: Levels, out: &mut Vec<u8>) {
    let (base, ref_width) = ref_layout(fr);
    out.reserve(encoded_len(fr));
    let flag = match levels {
        Levels::Bitmap => MODE_LEVEL_BITMAP,
        Levels::LowBit => 0,
    };
    out.push(mode | flag);
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    let first = if mode == MODE_DELTAS { v[0] } else { 0 };
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&base.to_le_bytes());
    out.push(ref_width);
    out.extend(
        fr.iter()
            .map(|f| f.width | if f.split.is_some() { TWO_LEVEL } else { 0 }),
    );
    pack_array(
        fr.iter().map(|f| f.reference.wrapping_sub(base) as u64),
        ref_width,
        out,
    );
    let (_, split_w) = split_layout(fr);
    out.push(split_w);
    pack_array(fr.iter().filter_map(|f| f.split), split_w, out);
    let mut buf = [0u64; MINI_LEN];
    for (chunk, f) in t.chunks(MINI_LEN).zip(fr) {
        buf.fill(0);
        let mut upper = 0u64;
        for (i, (b, &x)) in buf.iter_mut().zip(chunk).enumerate() {
            let off = x.wrapping_sub(f.reference) as u64;
            let (off, up) = match f.split {
                Some(s) if off >= s => (off - s, true),
                _ => (off, false),
            };
            upper |= (up as u64) << i;
            *b = match (f.split, levels) {
                (Some(_), Levels::LowBit) => (off << 1) | up as u64,
                _ => off,
            };
        }
        match (f.split, levels) {
            (Some(_), Levels::Bitmap) => {
                out.extend_from_slice(&upper.to_le_bytes());
                bitpack::pack(&buf, f.width, out);
            }
            _ => bitpack::pack(&buf, f.packed_width(), out),
        }
    }
}
