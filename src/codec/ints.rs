//! Integer columns: frame-of-reference + bit-packing over 64-value mini-blocks, optionally
//! after a delta transform, with a two-level frame for mini-blocks that straddle a level
//! change.
//!
//! Layout (all little-endian):
//! ```text
//! mode      u8     bit 0: 0 = values, 1 = deltas (t[0] = 0, t[i] = v[i] - v[i-1],
//!                  wrapping); bit 1: two-level mini-blocks carry level bitmaps
//! count     u32    number of values
//! first     i64    v[0] in delta mode, 0 in value mode
//! base      i64    smallest mini-block reference
//! ref_width u8     bits per packed reference
//! descs     u8 x ceil(count/64)   per mini-block: bit 7 = two-level, bits 0..7 = width w
//! refs      n_mini values ref - base, ref_width bits each
//! split_w   u8     bits per split
//! splits    one per two-level mini-block, in order: upper level - ref, split_w bits each
//! payload   per mini-block: packed values of w bits (plain); for two-level ones either
//!           a u64 level bitmap then 64 values of w bits (mode bit 1, written since
//!           format version 2) or 64 values of w+1 bits (format version 1)
//! ```
//! A plain value is `ref + x`. A two-level value is `ref + x + split` where bit `i` of the
//! level bitmap is set, else `ref + x`; in the version 1 layout it is `ref + (x >> 1) +
//! (x & 1) * split`, the low bit picking the level. Either way a two-level mini-block takes
//! `(w+1)*8` bytes. Q: why a bitmap? A: sums need no per-value level step: the upper-level
//! share of a masked sum is `split` times a popcount of the bitmap under the mask, so the
//! scan kernel adds offsets only: five fewer vector instructions per 8 values (the A/B
//! timings against the version 1 layout are in `BENCHMARKS.md`).
//!
//! Q: why two levels? A: a 64-value mini-block of 15-minute data spans 16 hours, so nearly
//! every one holds a switch between idle and production load; one frame would pay the
//! full load range in every value, two frames pay one bit plus the noise (about 9% smaller
//! on the synthetic fleet, `examples/fleet_bench.rs`).
//!
//! The encoder sizes value and delta mode and keeps the smaller (values on a tie: cheaper
//! to decode). Delta mode wins on smooth series such as cumulative registers.

use super::bitpack::{self, width_table, BitReader, Padded, MINI_LEN};
use super::{simd, Cursor, DecodeError, Span};

const MODE_VALUES: u8 = 0;
const MODE_DELTAS: u8 = 1;
/// Mode flag: two-level mini-blocks keep their levels in a bitmap.
const MODE_LEVEL_BITMAP: u8 = 2;
/// Bytes before the descriptor array.
const HEADER_LEN: usize = 1 + 4 + 8 + 8 + 1;
/// Descriptor bit marking a two-level mini-block.
const TWO_LEVEL: u8 = 0x80;

/// The packed width of descriptor `d` (its mini-block takes 8 bytes per unit): the value
/// width plus the level bit or bitmap word of a two-level mini-block. At most 64 in a
/// valid column.
#[inline(always)]
fn packed_width(d: u8) -> u8 {
    (d & !TWO_LEVEL) + (d >> 7)
}

/// What a column's header needs from its descriptors: whether one has a packed width
/// above 64, the payload's size in 8-byte units, the number of two-level mini-blocks, and
/// the largest packed width and largest low 7 bits (the value width of a frame with a
/// level bitmap).
struct DescTotals {
    bad: bool,
    units: usize,
    n_two: usize,
    max_packed: u8,
    max_low: u8,
}

impl DescTotals {
    /// One pass, 8 descriptors per 64-bit word: a descriptor's packed width (its low 7
    /// bits plus its top bit) is at most 128, so the widths of 8 stay in their bytes, and
    /// pairs of them in 16-bit lanes. Q: why not a plain loop over the bytes? A: it did not
    /// vectorise and took 14 instructions a descriptor, 15% of a block's work outside the
    /// scan kernel (callgrind, 300-meter scan).
    /// `descs` are the descriptors and `more` the column's bytes from them on: on x86-64
    /// [`DescTotals::of_sse2`] reads them 16 at a time from there when it can.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn of(descs: &[u8], more: &[u8]) -> DescTotals {
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

/// Bytes of `n` values of `w` bits packed in groups of 64, the last group partial.
fn array_len(n: usize, w: u8) -> usize {
    (n / MINI_LEN) * bitpack::packed_len(w) + bitpack::partial_len(n % MINI_LEN, w)
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
    #[cfg_attr(not(test), allow(dead_code))]
    LowBit,
}

/// Appends the encoding of `v` to `out`.
pub fn encode(v: &[i64], out: &mut Vec<u8>) {
    encode_with(v, Levels::Bitmap, out)
}

/// Appends the encoding of `v` to `out` with the given two-level layout.
pub(crate) fn encode_with(v: &[i64], levels: Levels, out: &mut Vec<u8>) {
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
    let (_, split_w) = split_layout(&fr);
    out.push(split_w);
    pack_array(fr.iter().filter_map(|f| f.split), split_w, out);
    let mut buf = [0u64; MINI_LEN];
    for (chunk, f) in t.chunks(MINI_LEN).zip(&fr) {
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

/// A decoded mini-block descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mini {
    reference: i64,
    split: i64,
    /// The mini-block's size in bytes over 8.
    packed_width: u8,
    two_level: bool,
    /// A two-level frame whose levels are in a bitmap.
    bitmap: bool,
    /// That bitmap (bit `i` set: value `i` is on the upper level); 0 for other frames.
    levels: u64,
}

impl Mini {
    /// The mini-block of descriptor `d` in a column of frame base `base`, with level
    /// bitmaps if `bitmaps`, with reference offset `reference` and, if it is two-level,
    /// split `split` and level bitmap `word` (its payload's first 8 bytes). The split and
    /// the word are read for every mini-block and zeroed for those without them: the frame
    /// kinds of successive mini-blocks are too mixed for a branch to predict.
    #[inline(always)]
    fn of(base: i64, bitmaps: bool, d: u8, reference: u64, split: u64, word: u64) -> Mini {
        let two_level = d & TWO_LEVEL != 0;
        let bitmap = two_level && bitmaps;
        Mini {
            reference: base.wrapping_add(reference as i64),
            split: (split & 0u64.wrapping_sub(two_level as u64)) as i64,
            packed_width: packed_width(d),
            two_level,
            bitmap,
            levels: word & 0u64.wrapping_sub(bitmap as u64),
        }
    }

    /// Bits per packed value.
    #[inline(always)]
    fn width(&self) -> u8 {
        self.packed_width - self.bitmap as u8
    }

    /// Where the packed values start in the mini-block's bytes: after the bitmap, if any.
    #[inline(always)]
    fn values_at(&self) -> usize {
        8 * self.bitmap as usize
    }

    /// A two-level frame in the version 1 layout: the level is each value's low bit.
    #[inline(always)]
    fn low_bit(&self) -> bool {
        self.two_level && !self.bitmap
    }
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
fn decode_scalar(p: &Padded, m: &Mini, dst: &mut [i64; MINI_LEN]) {
    if m.low_bit() {
        DECODE_TWO[m.packed_width as usize](p, m, dst)
    } else {
        DECODE_PLAIN[m.width() as usize](p, m, dst);
        add_levels(m, dst);
    }
}

/// A parsed, validated integer column borrowing its bytes; decodes mini-block by
/// mini-block. Parsing allocates nothing: frames are read from the packed descriptor,
/// reference and split arrays as the mini-blocks are walked (see [`MiniWalk`]).
pub struct IntColumn<'a> {
    deltas: bool,
    /// Two-level mini-blocks carry level bitmaps (else the version 1 low-bit layout).
    bitmap: bool,
    count: usize,
    first: i64,
    base: i64,
    ref_width: u8,
    split_width: u8,
    /// The largest value width of the column's mini-blocks as the vector kernel sees it:
    /// the packed width in the version 1 layout, the width without the level bitmap
    /// otherwise.
    vector_width: u8,
    descs: &'a [u8],
    /// The packed references and everything after them in the column: reading a
    /// reference near the array's end still has whole 8-byte words under it.
    refs: &'a [u8],
    /// The packed splits and the rest of the column, likewise.
    splits: &'a [u8],
    payload: &'a [u8],
    /// The payload and any readable bytes after it ([`IntColumn::read_past_end`]): the
    /// vector kernels read a mini-block in place when its group reach fits in here.
    readable: &'a [u8],
    /// Where the payload starts in the bytes given to [`IntColumn::parse`].
    payload_at: usize,
}

/// A parsed [`IntColumn`] as offsets into its bytes: kept by a segment for each block it
/// has checked, so that a block read again is not parsed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IntLayout {
    deltas: bool,
    bitmap: bool,
    count: u32,
    first: i64,
    base: i64,
    ref_width: u8,
    split_width: u8,
    vector_width: u8,
    /// Where the descriptors, the references and the splits start (there are `count / 64`
    /// descriptors, rounded up; the other two slices run to the payload's end).
    descs_at: u32,
    refs_at: u32,
    splits_at: u32,
    payload: Span,
}

/// Walks the mini-blocks of a column in order, yielding each one's frame and the offset
/// of its packed bytes in the payload.
pub(crate) struct MiniWalk<'c, 'a> {
    col: &'c IntColumn<'a>,
    k: usize,
    at: usize,
    /// At the next mini-block's reference.
    refs: BitReader,
    /// At the next two-level mini-block's split.
    splits: BitReader,
    /// The mini-blocks below this index [`IntColumn::stretch`] may read without checks: their
    /// references and splits have 8 readable bytes (a mini-block's split index never
    /// exceeds its own).
    unchecked_until: usize,
}

impl MiniWalk<'_, '_> {
    /// The frame of the next mini-block and the offset of its packed bytes, without
    /// moving past it.
    #[inline(always)]
    fn peek(&self) -> Option<(Mini, usize)> {
        let c = self.col;
        let &d = c.descs.get(self.k)?;
        // Only columns with level bitmaps have a word to read (the branch is the same for
        // the whole column).
        let word = match c.bitmap {
            true => c
                .payload
                .get(self.at..self.at + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
            false => 0,
        };
        let (reference, split) = (self.refs.get(c.refs), self.splits.get(c.splits));
        Some((
            Mini::of(c.base, c.bitmap, d, reference, split, word),
            self.at,
        ))
    }

    /// Moves past the mini-block `m` that [`MiniWalk::peek`] returned.
    #[inline(always)]
    fn skip(&mut self, m: &Mini) {
        self.refs.advance(1);
        self.splits.advance(m.two_level as usize);
        self.at += bitpack::packed_len(m.packed_width);
        self.k += 1;
    }
}

impl Iterator for MiniWalk<'_, '_> {
    type Item = (Mini, usize);

    #[inline(always)]
    fn next(&mut self) -> Option<(Mini, usize)> {
        let next = self.peek()?;
        self.skip(&next.0);
        Some(next)
    }
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

    /// The column as offsets into `bytes`, the slice it was parsed from, for
    /// [`IntColumn::from_layout`].
    pub(crate) fn layout(&self, bytes: &[u8]) -> IntLayout {
        let at = |s: &[u8]| Span::of(s, bytes).at() as u32;
        IntLayout {
            deltas: self.deltas,
            bitmap: self.bitmap,
            count: self.count as u32,
            first: self.first,
            base: self.base,
            ref_width: self.ref_width,
            split_width: self.split_width,
            vector_width: self.vector_width,
            descs_at: at(self.descs),
            refs_at: at(self.refs),
            splits_at: at(self.splits),
            payload: Span::of(self.payload, bytes),
        }
    }

    /// The column that [`IntColumn::parse`] of `bytes` returned when it gave `l` (through
    /// [`IntColumn::layout`]), without checking anything again.
    ///
    /// # Panics
    /// When `l` does not fit in `bytes` (it came from other bytes).
    pub(crate) fn from_layout(bytes: &'a [u8], l: &IntLayout) -> IntColumn<'a> {
        let payload = l.payload.in_bytes(bytes);
        let end = l.payload.end();
        IntColumn {
            deltas: l.deltas,
            bitmap: l.bitmap,
            count: l.count as usize,
            first: l.first,
            base: l.base,
            ref_width: l.ref_width,
            split_width: l.split_width,
            vector_width: l.vector_width,
            descs: {
                let at = l.descs_at as usize;
                &bytes[at..at + (l.count as usize).div_ceil(MINI_LEN)]
            },
            refs: &bytes[l.refs_at as usize..end],
            splits: &bytes[l.splits_at as usize..end],
            payload,
            readable: payload,
            payload_at: l.payload.at(),
        }
    }

    /// Lets the vector kernels read past the column's end into `ext`: the bytes given to
    /// [`IntColumn::parse`] followed by more readable bytes (the rest of a mapped file,
    /// say). Reading a column's last mini-block in place then needs no padded copy. Bytes
    /// read past the payload only ever land above a value's mask. `ext` is ignored unless
    /// it starts with the column's bytes.
    pub(crate) fn read_past_end(&mut self, ext: &'a [u8]) {
        if let Some(r) = ext.get(self.payload_at..) {
            if r.as_ptr() == self.payload.as_ptr() && r.len() >= self.payload.len() {
                self.readable = r;
            }
        }
    }

    /// The mini-blocks from `k` on (`k` at most the number of mini-blocks).
    #[inline]
    pub(crate) fn minis_from(&self, k: usize) -> MiniWalk<'_, 'a> {
        let before = &self.descs[..k];
        MiniWalk {
            col: self,
            k,
            at: before
                .iter()
                .map(|&d| bitpack::packed_len(packed_width(d)))
                .sum(),
            refs: BitReader::at(k, self.ref_width),
            splits: BitReader::at(
                before.iter().filter(|&&d| d & TWO_LEVEL != 0).count(),
                self.split_width,
            ),
            // Computed once per walk.
            unchecked_until: BitReader::unchecked_below_max(
                self.refs.len(),
                self.ref_width,
                self.descs.len(),
            )
            .min(BitReader::unchecked_below_max(
                self.splits.len(),
                self.split_width,
                self.descs.len(),
            )),
        }
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

    /// The packed values of mini-block `m`, whose bytes start at `at`.
    #[inline(always)]
    fn values_of(&self, m: &Mini, at: usize) -> &[u8] {
        &self.payload[at + m.values_at()..at + bitpack::packed_len(m.packed_width)]
    }

    /// Decodes mini-block `m` (its bytes at `at`) into `dst`: through the vector unpacker
    /// (AVX2 when `avx2`) for widths up to 25, else the scalar per-width decoders.
    #[inline(always)]
    fn decode_mini(
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
    fn decode_into_impl(&self, out: &mut Vec<i64>, avx2: bool) {
        let start = out.len();
        out.resize(start + self.count, 0);
        let dst = &mut out[start..];
        let mut pad = Padded::default();
        let mut tail = [0i64; MINI_LEN];
        let mut offs = [0u32; MINI_LEN];
        for (k, (m, at)) in self.minis_from(0).enumerate() {
            let lo = k * MINI_LEN;
            let (full, n) = match dst.get_mut(lo..lo + MINI_LEN) {
                Some(full) => (full.try_into().expect("64 values"), MINI_LEN),
                None => (&mut tail, dst.len() - lo),
            };
            self.decode_mini(&m, at, avx2, &mut pad, &mut offs, full);
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
        debug_assert!(out.len() + 1 == bounds.len() || (out.is_empty() && bounds.is_empty()));
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
        let mut wide = [0i64; MINI_LEN];
        // Range j holds the mini-block position being summed; ranges advance with minis.
        let mut j = bounds.partition_point(|&b| b <= first).saturating_sub(1);
        let k0 = first / MINI_LEN;
        for (k, (m, at)) in (k0..last.div_ceil(MINI_LEN)).zip(self.minis_from(k0)) {
            let m = &m;
            let lo = k * MINI_LEN;
            let hi = (lo + MINI_LEN).min(self.count);
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

/// A periodic class pattern for [`IntColumn::class_sums`]: a value at phase `p`
/// (`0 <= p < period`) is marked when `marked[p]`.
#[derive(Debug, Clone)]
pub struct ClassMask {
    period: usize,
    /// How far the phase moves from one mini-block to the next: `64 % period`.
    step: usize,
    /// `u32::MAX` for marked phases, 0 otherwise; `period + 64` entries, so that the 64
    /// lanes of a mini-block starting at any phase are one contiguous window.
    lanes: Vec<u32>,
    /// Per phase `p`: bit `i` set when phase `p + i` is marked, for the 64 lanes.
    bits: Vec<u64>,
    /// `u64::MAX / period + 1`, for [`ClassMask::phase_of`].
    magic: u64,
    /// Per phase `p`: the phase 64 values on, `(p + 64) % period` (a table lookup keeps
    /// the period and step out of the kernel loop's registers).
    next: Vec<u32>,
}

impl ClassMask {
    /// The pattern with period `marked.len()`, which must not be zero.
    pub fn new(marked: &[bool]) -> ClassMask {
        let period = marked.len();
        assert!(period > 0, "a class pattern needs a period");
        let lanes: Vec<u32> = (0..period + MINI_LEN)
            .map(|p| if marked[p % period] { u32::MAX } else { 0 })
            .collect();
        let bits = (0..period)
            .map(|p| (0..MINI_LEN).fold(0u64, |acc, i| acc | ((lanes[p + i] & 1) as u64) << i))
            .collect();
        ClassMask {
            period,
            step: MINI_LEN % period,
            lanes,
            bits,
            magic: (u64::MAX / period as u64).wrapping_add(1),
            next: (0..period)
                .map(|p| ((p + MINI_LEN) % period) as u32)
                .collect(),
        }
    }

    /// `x` modulo the period (Euclidean). Q: why not `rem_euclid`? A: it divides, and
    /// the scan takes a phase for every run of a block; from 0 to 2^32 this is Lemire's
    /// multiply-only remainder, exact for every 32-bit `x` and period.
    #[inline(always)]
    pub(crate) fn phase_of(&self, x: i64) -> usize {
        match u32::try_from(x) {
            Ok(x) => {
                let low = self.magic.wrapping_mul(x as u64);
                ((low as u128 * self.period as u128) >> 64) as usize
            }
            Err(_) => x.rem_euclid(self.period as i64) as usize,
        }
    }

    /// The pattern's period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The phase of lane 0 of the mini-block after one whose lane 0 is at `phase`.
    #[inline(always)]
    fn next_phase(&self, phase: usize) -> usize {
        self.next[phase] as usize
    }

    /// The phase of lane 0 of the mini-block before one whose lane 0 is at `phase`.
    #[inline(always)]
    fn prev_phase(&self, phase: usize) -> usize {
        if phase >= self.step {
            phase - self.step
        } else {
            phase + self.period - self.step
        }
    }
}

/// A stretch of a column whose values have consecutive phases: value `start + i` has
/// phase `(phase + i) % period`, up to the next stretch's start. Stretches split a regular
/// series at its gaps (a gap of `n` slots moves the phase of the values after it by `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseRun {
    /// First value index.
    pub start: usize,
    /// Phase of that value, below the pattern's period.
    pub phase: usize,
}

/// The arguments of [`IntColumn::class_sums_cut`], checked, for its implementations.
#[derive(Clone, Copy)]
struct ClassQuery<'q> {
    runs: &'q [PhaseRun],
    to: usize,
    mask: &'q ClassMask,
    cuts: &'q [usize],
    /// Whether the total sums are wanted (else the kernel may leave them out).
    totals: bool,
}

/// Bits `a..b` of a 64-bit lane mask (`a <= b <= 64`).
#[inline(always)]
fn lane_bits(a: usize, b: usize) -> u64 {
    let upto = |n: usize| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    upto(b) & !upto(a)
}

/// The 8 lanes (`u32::MAX` or 0) of each byte of a lane bitmask: a mini-block's 64 lanes
/// are spread from its bits in 8 table copies (a loop over the bits took 3 instructions
/// a lane).
static BYTE_LANES: [[u32; 8]; 256] = {
    let mut t = [[0u32; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut j = 0;
        while j < 8 {
            if b >> j & 1 == 1 {
                t[b][j] = u32::MAX;
            }
            j += 1;
        }
        b += 1;
    }
    t
};

/// The class lanes of one mini-block after another, for [`IntColumn::class_sums`].
struct MaskWalk<'m> {
    mask: &'m ClassMask,
    runs: &'m [PhaseRun],
    to: usize,
    /// The run holding the first in-range lane of the next mini-block.
    r: usize,
    /// Phase of lane 0 of the previous mini-block if it lay wholly in run `r`.
    last: Option<usize>,
    /// With `last`: where run `r` or the range ends, so a mini-block ending before it is
    /// whole and in run `r`.
    clear_until: usize,
    /// The lanes of a mini-block that spans runs, written whole before each use.
    merged: [u32; MINI_LEN],
}

/// Class lanes of one mini-block: `u32::MAX` lanes of marked values (garbage outside
/// `range`), the same as bits, and the bits of the lanes in `from..to`.
struct MiniMask<'w> {
    lanes: &'w [u32; MINI_LEN],
    marked: u64,
    range: u64,
}

impl MiniMask<'_> {
    /// Adds decoded values to `(marked sum, total sum, marked count)`, lane by lane.
    fn add_values(&self, vals: &[i64; MINI_LEN], sums: &mut (i128, i128, u64)) {
        for (i, &v) in vals.iter().enumerate() {
            if self.range >> i & 1 == 1 {
                sums.1 += v as i128;
                if self.marked >> i & 1 == 1 {
                    sums.0 += v as i128;
                    sums.2 += 1;
                }
            }
        }
    }
}

impl<'m> MaskWalk<'m> {
    fn new(mask: &'m ClassMask, runs: &'m [PhaseRun], to: usize) -> Self {
        MaskWalk {
            mask,
            runs,
            to,
            r: 0,
            last: None,
            clear_until: 0,
            merged: [0; MINI_LEN],
        }
    }

    /// When the mini-block starting at value `lo` and the ones after it lie wholly in the
    /// range and in one run: the phase of its lane 0 and where that run (or the range)
    /// ends. Mini-blocks must come in order, as for [`MaskWalk::next`].
    #[inline(always)]
    fn whole_from(&mut self, lo: usize) -> Option<(usize, usize)> {
        let runs = self.runs;
        if lo < runs[0].start {
            return None;
        }
        while self.r + 1 < runs.len() && runs[self.r + 1].start <= lo {
            self.r += 1;
            self.last = None;
        }
        let end = runs
            .get(self.r + 1)
            .map_or(self.to, |n| n.start.min(self.to));
        (lo + MINI_LEN <= end).then(|| (self.lane0_phase(lo), end))
    }

    /// The phase of lane 0 of the mini-block at `lo`, in run `r`: stepped from `last`
    /// (lane 0 of the mini-block before, in the same run) when set, which saves a division.
    #[inline(always)]
    fn lane0_phase(&self, lo: usize) -> usize {
        match self.last {
            Some(prev) => self.mask.next_phase(prev),
            None => phase_at(self.runs[self.r], lo, self.mask),
        }
    }

    /// Records that whole mini-blocks of the current run were summed without
    /// [`MaskWalk::next`], the last one with lane 0 at `phase`; the run ends at `end`.
    #[inline(always)]
    fn skipped(&mut self, phase: usize, end: usize) {
        self.last = Some(phase);
        self.clear_until = end;
    }

    /// The lanes of the mini-block starting at value `lo`; mini-blocks must come in order.
    #[inline(always)]
    fn next(&mut self, lo: usize) -> MiniMask<'_> {
        let runs = self.runs;
        // The common case: a whole mini-block in the same run as the previous one.
        if let Some(prev) = self.last.filter(|_| lo + MINI_LEN <= self.clear_until) {
            let p = self.mask.next_phase(prev);
            self.last = Some(p);
            return MiniMask {
                lanes: self.mask.lanes[p..p + MINI_LEN]
                    .try_into()
                    .expect("64 lanes"),
                marked: self.mask.bits[p],
                range: u64::MAX,
            };
        }
        let a = runs[0].start.max(lo) - lo;
        let b = self.to.min(lo + MINI_LEN) - lo;
        let range = lane_bits(a, b);
        while self.r + 1 < runs.len() && runs[self.r + 1].start <= lo + a {
            self.r += 1;
            self.last = None;
        }
        let single = self.r + 1 == runs.len() || runs[self.r + 1].start >= lo + b;
        if single {
            let p = self.lane0_phase(lo);
            self.last = Some(p);
            self.clear_until = runs
                .get(self.r + 1)
                .map_or(self.to, |n| n.start.min(self.to));
            return MiniMask {
                lanes: self.mask.lanes[p..p + MINI_LEN]
                    .try_into()
                    .expect("64 lanes"),
                marked: self.mask.bits[p] & range,
                range,
            };
        }
        // Gaps inside this mini-block: piece the bits together run by run, then spread
        // them to lanes.
        self.last = None;
        let marked = self.piece(lo, a, b);
        MiniMask {
            lanes: self.spread(marked),
            marked,
            range,
        }
    }

    /// The marked bits of lanes `a..b` of the mini-block at value `lo`, whose lane `a`
    /// lies in run `r`, pieced together run by run; leaves `r` at the run of lane `b - 1`.
    #[inline(always)]
    fn piece(&mut self, lo: usize, a: usize, b: usize) -> u64 {
        let runs = self.runs;
        let mut marked = 0u64;
        let mut i = a;
        while i < b {
            let run = runs[self.r];
            let end = runs.get(self.r + 1).map_or(b, |n| (n.start - lo).min(b));
            let p = phase_at(run, lo + i, self.mask);
            marked |= (self.mask.bits[p] << i) & lane_bits(i, end);
            i = end;
            if end < b {
                self.r += 1;
            }
        }
        marked
    }

    /// The lanes of `marked` bits, in the walk's buffer (8 table copies rather than a
    /// loop over the bits).
    #[inline(always)]
    fn spread(&mut self, marked: u64) -> &[u32; MINI_LEN] {
        for (g, lanes) in self.merged.chunks_exact_mut(8).enumerate() {
            lanes.copy_from_slice(&BYTE_LANES[(marked >> (8 * g)) as u8 as usize]);
        }
        &self.merged
    }
}

/// Phase of value `v` (which may precede the run's start) in `run`.
#[inline(always)]
fn phase_at(run: PhaseRun, v: usize, mask: &ClassMask) -> usize {
    mask.phase_of(run.phase as i64 + v as i64 - run.start as i64)
}

impl IntColumn<'_> {
    /// Sums of the values `runs[0].start..to` whose phase the class pattern marks, where
    /// `runs` (non-empty, starts increasing) give the phases. Returns `(marked sum, total
    /// sum, marked count)`, exact.
    ///
    /// The periodic kernel of the day/night scan: with a fixed UTC offset, the class of a
    /// reading of a regular series is a function of its index, so each 64-value mini-block
    /// is one masked reduction against a window of the pattern (pieced together where a
    /// gap falls inside the mini-block).
    pub fn class_sums(&self, runs: &[PhaseRun], to: usize, mask: &ClassMask) -> (i128, i128, u64) {
        let mut out = [(0, 0, 0)];
        self.class_sums_cut(runs, to, mask, &[], &mut out);
        out[0]
    }

    /// [`IntColumn::class_sums`] without the total sum: `(marked sum, marked count)`, for a
    /// caller that knows the total already (the day/night scan takes it from the block's
    /// index entry when the block lies wholly in the range). Q: why a method of its own?
    /// A: the AVX2 kernel then skips the total's lane adds and frame booking (callgrind, a
    /// meter-year's 12 blocks: 78.5 k instructions against 89.7 k for `class_sums`).
    pub fn marked_sums(&self, runs: &[PhaseRun], to: usize, mask: &ClassMask) -> (i128, u64) {
        let mut out = [(0, 0, 0)];
        self.class_sums_query(runs, to, mask, &[], false, &mut out);
        (out[0].0, out[0].2)
    }

    /// [`IntColumn::class_sums`] with the values cut into consecutive parts at `cuts`
    /// (value indices, non-decreasing): `out[i]` (`out.len() == cuts.len() + 1`) gets the
    /// sums of the values from cut `i - 1` (or the start) up to cut `i` (or `to`). The
    /// day/night scan cuts at local midnights for per-day results.
    pub fn class_sums_cut(
        &self,
        runs: &[PhaseRun],
        to: usize,
        mask: &ClassMask,
        cuts: &[usize],
        out: &mut [(i128, i128, u64)],
    ) {
        self.class_sums_query(runs, to, mask, cuts, true, out)
    }

    /// [`IntColumn::class_sums_cut`], with the total sums left out (unspecified in `out`)
    /// unless `totals`.
    fn class_sums_query(
        &self,
        runs: &[PhaseRun],
        to: usize,
        mask: &ClassMask,
        cuts: &[usize],
        totals: bool,
        out: &mut [(i128, i128, u64)],
    ) {
        assert!(
            !runs.is_empty()
                && runs
                    .windows(2)
                    .all(|w| w[0].start < w[1].start && w[1].start < to)
                && runs.iter().all(|r| r.phase < mask.period)
                && to <= self.count
                && !self.deltas
                && cuts.windows(2).all(|w| w[0] <= w[1])
                && out.len() == cuts.len() + 1,
            "class_sums: runs must be non-empty, increasing, within the column, phases below \
             the period; cuts non-decreasing with one output more"
        );
        let q = ClassQuery {
            runs,
            to,
            mask,
            cuts,
            totals,
        };
        #[cfg(target_arch = "x86_64")]
        if simd::avx2_available()
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
        {
            // SAFETY: AVX2, POPCNT, BMI1 and BMI2 were detected on this CPU.
            return unsafe { self.class_sums_avx2(&q, out) };
        }
        self.class_sums_portable(&q, out)
    }

    /// [`IntColumn::class_sums`] over one run: values `from..to`, the first at `phase0`.
    pub fn masked_class_sums(
        &self,
        from: usize,
        to: usize,
        phase0: usize,
        mask: &ClassMask,
    ) -> (i128, i128, u64) {
        if from >= to {
            return (0, 0, 0);
        }
        self.class_sums(
            &[PhaseRun {
                start: from,
                phase: phase0,
            }],
            to,
            mask,
        )
    }

    /// The reference: every mini-block decoded to values, then summed lane by lane.
    fn class_sums_portable(&self, q: &ClassQuery<'_>, out: &mut [(i128, i128, u64)]) {
        let (runs, to, mask, cuts) = (q.runs, q.to, q.mask, q.cuts);
        let from = runs[0].start;
        if from >= to {
            return;
        }
        let mut pad = Padded::default();
        let mut vals = [0i64; MINI_LEN];
        let mut offs = [0u32; MINI_LEN];
        let mut walk = MaskWalk::new(mask, runs, to);
        let mut minis = self.minis_from(from / MINI_LEN);
        let mut part = 0;
        for k in from / MINI_LEN..to.div_ceil(MINI_LEN) {
            let (m, at) = minis.next().expect("mini-block within the column");
            self.decode_mini(&m, at, false, &mut pad, &mut offs, &mut vals);
            let mm = walk.next(k * MINI_LEN);
            for (i, &v) in vals.iter().enumerate() {
                while part < cuts.len() && cuts[part] <= k * MINI_LEN + i {
                    part += 1;
                }
                if mm.range >> i & 1 == 1 {
                    let o = &mut out[part];
                    o.1 += v as i128;
                    if mm.marked >> i & 1 == 1 {
                        o.0 += v as i128;
                        o.2 += 1;
                    }
                }
            }
        }
    }

    /// Whether the column stores deltas (its values need a prefix sum).
    pub fn is_delta(&self) -> bool {
        self.deltas
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

/// Decodes a whole column from `bytes`; returns the values and the bytes used.
pub fn decode(bytes: &[u8]) -> Result<(Vec<i64>, usize), DecodeError> {
    let (col, used) = IntColumn::parse(bytes)?;
    let mut out = Vec::new();
    col.decode_into(&mut out);
    Ok((out, used))
}

#[cfg(target_arch = "x86_64")]
mod class_avx2;

#[cfg(test)]
mod tests;
