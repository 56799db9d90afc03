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
//! refs      n_mini values ref - base, ref_width bits each
//! split_w   u8     bits per split
//! splits    one per two-level mini-block, in order: upper level - ref, split_w bits each
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

/// Reads `n` values packed by [`pack_array`], handing each to `f` in order.
fn unpack_array(
    c: &mut Cursor<'_>,
    n: usize,
    w: u8,
    what: &'static str,
    mut f: impl FnMut(usize, u64),
) -> Result<(), DecodeError> {
    let mut pad = Padded::default();
    let mut buf = [0u64; MINI_LEN];
    for g in 0..n.div_ceil(MINI_LEN) {
        let k = (n - g * MINI_LEN).min(MINI_LEN);
        let bytes = c.take(bitpack::partial_len(k, w), what)?;
        bitpack::unpack(bytes, w, &mut pad, &mut buf);
        for (i, &v) in buf[..k].iter().enumerate() {
            f(g * MINI_LEN + i, v);
        }
    }
    Ok(())
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
        unpack_array(
            &mut c,
            n_mini,
            ref_width,
            "mini-block references",
            |i, o| {
                minis[i].reference = base.wrapping_add(o as i64);
            },
        )?;
        let split_at = c.pos();
        let split_w = c.u8("split width")?;
        if split_w > 64 {
            return Err(DecodeError::new("split width above 64", split_at));
        }
        let two: Vec<usize> = (0..n_mini).filter(|&i| minis[i].two_level).collect();
        unpack_array(&mut c, two.len(), split_w, "two-level splits", |i, sp| {
            minis[two[i]].split = sp as i64;
        })?;
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
        for k in first / MINI_LEN..last.div_ceil(MINI_LEN) {
            let m = &self.minis[k];
            let lo = k * MINI_LEN;
            let hi = (lo + MINI_LEN).min(self.count);
            pad.load(&self.payload[self.offsets[k]..self.offsets[k + 1]]);
            // Fast path: offsets below 2^25, so 64 of them sum within a u32. Each range's
            // share of the mini-block is a difference of prefix sums, and each prefix sum
            // is a fixed-length masked reduction (no loop remainders, fully vectorised).
            let fast = m.packed_width <= simd::MAX_SIMD_WIDTH;
            if fast {
                simd::unpack_u32(&pad, m.packed_width, avx2, &mut offs);
            } else {
                let table = if m.two_level {
                    &DECODE_TWO
                } else {
                    &DECODE_PLAIN
                };
                table[m.packed_width as usize](&pad, m, &mut wide);
            }
            // Sum of the mini-block's first n values, exactly.
            let prefix = |n: usize| -> i128 {
                if !fast {
                    return wide[..n].iter().map(|&x| x as i128).sum();
                }
                let base = m.reference as i128 * n as i128;
                if m.two_level {
                    let (h, u) = masked_sums_two(&offs, n);
                    base + h as i128 + u as i128 * m.split as u64 as i128
                } else {
                    base + masked_sum(&offs, n) as i128
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

impl IntColumn<'_> {
    /// Day/total sums of values `from..to` whose lanes a periodic class pattern marks:
    /// value `from + i` has phase `(phase0 + i) % period`, and `mask[p]` (length at least
    /// `period + 64`, with `mask[p] == mask[p % period]`) is `u32::MAX` for marked phases
    /// and 0 otherwise. Returns `(marked sum, total sum, marked count)`, exact.
    ///
    /// The periodic kernel of the day/night scan: with a fixed UTC offset, the class of a
    /// reading of a gap-free regular run is a function of its index, so each 64-value
    /// mini-block is one masked reduction against a sliding window of the pattern.
    pub fn masked_class_sums(
        &self,
        from: usize,
        to: usize,
        phase0: usize,
        period: usize,
        mask: &[u32],
    ) -> (i128, i128, u64) {
        assert!(period > 0 && mask.len() >= period + MINI_LEN && to <= self.count && !self.deltas);
        #[cfg(target_arch = "x86_64")]
        if simd::avx2_available() {
            // SAFETY: AVX2 was detected on this CPU.
            return unsafe { self.masked_class_sums_avx2(from, to, phase0, period, mask) };
        }
        self.masked_class_sums_impl(from, to, phase0, period, mask, false)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn masked_class_sums_avx2(
        &self,
        from: usize,
        to: usize,
        phase0: usize,
        period: usize,
        mask: &[u32],
    ) -> (i128, i128, u64) {
        if std::arch::is_x86_feature_detected!("popcnt") {
            return self.class_sums_avx2(from, to, phase0, period, mask);
        }
        self.masked_class_sums_impl(from, to, phase0, period, mask, true)
    }

    #[inline(always)]
    fn masked_class_sums_impl(
        &self,
        from: usize,
        to: usize,
        phase0: usize,
        period: usize,
        mask: &[u32],
        avx2: bool,
    ) -> (i128, i128, u64) {
        let (mut day, mut total, mut count) = (0i128, 0i128, 0u64);
        if from >= to {
            return (day, total, count);
        }
        let mut pad = Padded::default();
        let mut offs = [0u32; MINI_LEN];
        let mut wide = [0i64; MINI_LEN];
        let first_mini = from / MINI_LEN;
        // Phase of lane 0 of the first mini-block (which may start before `from`), then
        // advanced by 64 per mini-block without a division.
        let mut w = (phase0 + period - (from - first_mini * MINI_LEN) % period) % period;
        for k in first_mini..to.div_ceil(MINI_LEN) {
            let m = &self.minis[k];
            let lo = k * MINI_LEN;
            let (a, b) = (from.max(lo) - lo, to.min(lo + MINI_LEN) - lo);
            let win: &[u32; MINI_LEN] = mask[w..w + MINI_LEN].try_into().expect("64 lanes");
            w += MINI_LEN;
            while w >= period {
                w -= period;
            }
            pad.load(&self.payload[self.offsets[k]..self.offsets[k + 1]]);
            if m.packed_width > simd::MAX_SIMD_WIDTH {
                let table = if m.two_level {
                    &DECODE_TWO
                } else {
                    &DECODE_PLAIN
                };
                table[m.packed_width as usize](&pad, m, &mut wide);
                for i in a..b {
                    total += wide[i] as i128;
                    if win[i] != 0 {
                        day += wide[i] as i128;
                        count += 1;
                    }
                }
                continue;
            }
            simd::unpack_u32(&pad, m.packed_width, avx2, &mut offs);
            // Lane sums of x and of its level bit, for all lanes and for marked lanes.
            let (mut xt, mut bt, mut xd, mut bd, mut cd) =
                ([0u32; 8], [0u32; 8], [0u32; 8], [0u32; 8], [0u32; 8]);
            if a == 0 && b == MINI_LEN {
                for (x, mk) in offs.chunks_exact(8).zip(win.chunks_exact(8)) {
                    for l in 0..8 {
                        xt[l] += x[l];
                        bt[l] += x[l] & 1;
                        xd[l] += x[l] & mk[l];
                        bd[l] += x[l] & mk[l] & 1;
                        cd[l] += mk[l] & 1;
                    }
                }
            } else {
                let (a32, b32) = (a as u32, b as u32);
                for ((x, i), mk) in offs
                    .chunks_exact(8)
                    .zip(LANE.chunks_exact(8))
                    .zip(win.chunks_exact(8))
                {
                    for l in 0..8 {
                        let inr = if i[l] >= a32 && i[l] < b32 {
                            u32::MAX
                        } else {
                            0
                        };
                        let (v, dm) = (x[l] & inr, mk[l] & inr);
                        xt[l] += v;
                        bt[l] += v & 1;
                        xd[l] += v & dm;
                        bd[l] += v & dm & 1;
                        cd[l] += dm & 1;
                    }
                }
            }
            let sum = |a: [u32; 8]| a.iter().map(|&x| x as u64).sum::<u64>() as i128;
            let n_day = sum(cd);
            let r = m.reference as i128;
            // Plain: value = ref + x. Two-level: value = ref + (x >> 1) + (x & 1) * split,
            // and the sum of x >> 1 is (sum of x - sum of x & 1) / 2.
            let (t, d) = if m.two_level {
                let split = m.split as u64 as i128;
                let (st, sd) = (sum(bt), sum(bd));
                (
                    (sum(xt) - st) / 2 + split * st,
                    (sum(xd) - sd) / 2 + split * sd,
                )
            } else {
                (sum(xt), sum(xd))
            };
            total += r * (b - a) as i128 + t;
            day += r * n_day + d;
            count += n_day as u64;
        }
        (day, total, count)
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
