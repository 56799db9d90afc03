//! Timestamp columns.
//!
//! A regular series costs start, step, slot count and, only when slots are missing, a
//! description of the missing slots: a list of missing runs (the usual case: outages are
//! few and contiguous) or, when that would be larger, a bitmap of present slots. Anything
//! else falls back to delta-of-delta: the first timestamp, then the gaps between
//! neighbours as an integer column, whose own delta mode turns them into deltas of deltas
//! when that is markedly smaller.
//!
//! ```text
//! regular:   kind u8 = 0 | start i64 | step u32 | slots u32 | missing u8 | ...
//!            missing = 0: every slot present
//!            missing = 1: bitmap, ceil(slots / 8) bytes, bit k % 8 of byte k / 8 set
//!                         when slot k has a reading; bits past the last slot zero
//!            missing = 2: runs u32, then per run: skip varint, len varint, where the
//!                         run covers slots [prev_end + skip, prev_end + skip + len),
//!                         prev_end starting at 0; len >= 1, runs do not touch
//! irregular: kind u8 = 1 | first i64 | int column of ts[i+1] - ts[i]
//! ```
//! Timestamps are strictly increasing in both layouts.

use super::{ints, Cursor, DecodeError, Span};
use std::ops::Range;

const KIND_REGULAR: u8 = 0;
const KIND_IRREGULAR: u8 = 1;
const MISSING_NONE: u8 = 0;
const MISSING_BITMAP: u8 = 1;
const MISSING_RUNS: u8 = 2;

/// A regular column spans at most 2 slots per reading plus 64: past that the missing-slot
/// description (a bitmap at 1 bit a slot) is not clearly smaller than delta-of-delta
/// (about 1-2 bits a reading with gaps).
const MAX_SLOTS_PER_READING: usize = 2;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Why a varint could not be read.
enum VarintError {
    /// The bytes end inside it.
    Truncated,
    /// Its value does not fit `u64`.
    Overflow,
}

/// The next varint of `bytes`, which it moves past (on error, to where it stopped).
#[inline(always)]
fn next_varint(bytes: &mut std::slice::Iter<'_, u8>) -> Result<u64, VarintError> {
    // One or two bytes, the common case (runs of missing slots and the distances between
    // them below 2^14), without the loop.
    match *bytes.as_slice() {
        [b, ..] if b < 0x80 => {
            bytes.next();
            return Ok(b as u64);
        }
        [b0, b1, ..] if b1 < 0x80 => {
            bytes.nth(1);
            return Ok((b0 & 0x7f) as u64 | (b1 as u64) << 7);
        }
        _ => {}
    }
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.next().ok_or(VarintError::Truncated)?;
        // The tenth byte holds bit 63 only: 0 or 1.
        if shift == 63 && b > 1 {
            return Err(VarintError::Overflow);
        }
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(VarintError::Overflow)
}

#[inline]
fn get_varint(c: &mut Cursor<'_>, what: &'static str) -> Result<u64, DecodeError> {
    let at = c.pos();
    let rest = c.rest();
    let mut bytes = rest.iter();
    let v = next_varint(&mut bytes);
    let used = rest.len() - bytes.as_slice().len();
    match v {
        Ok(v) => {
            c.take(used, what)?;
            Ok(v)
        }
        Err(VarintError::Overflow) => Err(DecodeError::new("varint overflows u64", at)),
        Err(VarintError::Truncated) => Err(DecodeError::new(what, at + used)),
    }
}

/// Appends the encoding of strictly increasing `ts` to `out`.
pub fn encode(ts: &[i64], out: &mut Vec<u8>) {
    debug_assert!(ts.windows(2).all(|w| w[0] < w[1]));
    if let Some((step, slots)) = regular_grid(ts) {
        out.push(KIND_REGULAR);
        out.extend_from_slice(&ts[0].to_le_bytes());
        out.extend_from_slice(&(step as u32).to_le_bytes());
        out.extend_from_slice(&(slots as u32).to_le_bytes());
        if slots == ts.len() {
            out.push(MISSING_NONE);
            return;
        }
        // Slot of each reading, from the one before: every gap is a multiple of the step,
        // and nearly all of them are one step (no division then).
        let slots_of = || {
            let mut k = 0usize;
            std::iter::once(0).chain(ts.windows(2).map(move |w| {
                let d = w[1].wrapping_sub(w[0]) as u64;
                k += if d == step { 1 } else { (d / step) as usize };
                k
            }))
        };
        let mut runs = Vec::new();
        let (mut prev_end, mut n_runs, mut prev) = (0usize, 0usize, 0usize);
        for k in slots_of().skip(1) {
            let a = prev + 1;
            if k > a {
                super::put_varint(&mut runs, (a - prev_end) as u64);
                super::put_varint(&mut runs, (k - a) as u64);
                prev_end = k;
                n_runs += 1;
            }
            prev = k;
        }
        if 4 + runs.len() < slots.div_ceil(8) {
            out.push(MISSING_RUNS);
            out.extend_from_slice(&(n_runs as u32).to_le_bytes());
            out.extend_from_slice(&runs);
        } else {
            out.push(MISSING_BITMAP);
            let at = out.len();
            out.resize(at + slots.div_ceil(8), 0);
            for k in slots_of() {
                out[at + k / 8] |= 1 << (k % 8);
            }
        }
        return;
    }
    out.push(KIND_IRREGULAR);
    out.extend_from_slice(&ts.first().copied().unwrap_or(0).to_le_bytes());
    let gaps: Vec<i64> = ts.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    ints::encode(&gaps, out);
}

/// The grid step and slot count when `ts` fits a regular layout.
fn regular_grid(ts: &[i64]) -> Option<(u64, usize)> {
    let (&first, &last) = (ts.first()?, ts.last()?);
    let mut step = 0u64;
    for w in ts.windows(2) {
        let d = w[1].checked_sub(w[0])? as u64;
        // A gap equal to the step so far leaves it (most gaps: no division).
        if d != step {
            step = gcd(step, d);
        }
    }
    if ts.len() == 1 {
        step = 1;
    }
    if step == 0 || step > u32::MAX as u64 {
        return None;
    }
    let slots = (last as i128 - first as i128) as u128 / step as u128 + 1;
    (slots <= (ts.len() * MAX_SLOTS_PER_READING + 64) as u128).then_some((step, slots as usize))
}

/// Which slots of a regular column have no reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing<'a> {
    /// Every slot has a reading.
    None,
    /// Present-slot bitmap.
    Bitmap(&'a [u8]),
    /// Missing runs `(first slot, length)`, increasing, not touching.
    Runs(RunList<'a>),
}

/// The missing runs of a regular column as stored (checked by [`TsColumn::parse`]):
/// read where they lie rather than copied into an allocation per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunList<'a> {
    /// `n` pairs of varints: the gap from the previous run's end (or slot 0), the length.
    bytes: &'a [u8],
    n: u32,
}

impl<'a> RunList<'a> {
    /// Number of runs.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// True when no slot is missing.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The runs `(first slot, length)` in order.
    ///
    /// `parse` has checked the varints, so they are read here straight from the bytes,
    /// without the bounds check and error path per byte of a `Cursor`: the day/night scan
    /// walks every block's runs.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        let mut bytes = self.bytes.iter();
        let mut varint = move || next_varint(&mut bytes).ok();
        let mut end = 0u64;
        (0..self.n).map_while(move |_| {
            let (skip, len) = (varint()?, varint()?);
            let first = end + skip;
            end = first + len;
            // Checked by `parse`: below the slot count, a `u32`.
            Some((first as u32, len as u32))
        })
    }
}

/// A parsed regular [`TsColumn`] as offsets into its bytes, kept by a segment for each
/// block it has checked (see [`crate::codec::ints::IntLayout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegularLayout {
    start: i64,
    step: u32,
    slots: u32,
    missing: MissingLayout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingLayout {
    None,
    /// The bitmap.
    Bitmap(Span),
    /// The runs' bytes, and their number.
    Runs(Span, u32),
}

/// A parsed timestamp column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TsColumn<'a> {
    /// Readings on a grid `start + k * step`, `k < slots`.
    Regular {
        /// First slot's timestamp.
        start: i64,
        /// Grid step in seconds.
        step: u32,
        /// Number of slots from the first to the last reading.
        slots: u32,
        /// The slots without a reading.
        missing: Missing<'a>,
    },
    /// Any strictly increasing sequence, decoded in full.
    Irregular(Vec<i64>),
}

impl<'a> TsColumn<'a> {
    /// Parses a column that must hold `count` timestamps; returns it and the bytes used.
    pub fn parse(bytes: &'a [u8], count: usize) -> Result<(Self, usize), DecodeError> {
        let mut c = Cursor::new(bytes);
        match c.u8("timestamp kind")? {
            KIND_REGULAR => {
                let start = c.i64("regular start")?;
                let step = c.u32("regular step")?;
                let slots_at = c.pos();
                let slots = c.u32("regular slot count")?;
                if step == 0 || slots == 0 {
                    return Err(DecodeError::new(
                        "regular grid with zero step or slots",
                        slots_at,
                    ));
                }
                let last = start as i128 + (slots as i128 - 1) * step as i128;
                if last > i64::MAX as i128 {
                    return Err(DecodeError::new("regular grid overflows i64", slots_at));
                }
                let present = |n: usize, at: usize| {
                    if n == count {
                        Ok(())
                    } else {
                        Err(DecodeError::new(
                            "present slots differ from reading count",
                            at,
                        ))
                    }
                };
                let missing = match c.u8("missing-slot kind")? {
                    MISSING_NONE => {
                        present(slots as usize, slots_at)?;
                        Missing::None
                    }
                    MISSING_BITMAP => {
                        let at = c.pos();
                        let bm = c.take((slots as usize).div_ceil(8), "present-slot bitmap")?;
                        let tail_bits = slots as usize % 8;
                        if tail_bits != 0 && bm[bm.len() - 1] >> tail_bits != 0 {
                            return Err(DecodeError::new("bitmap bits past the last slot", at));
                        }
                        // The first and last slot hold the first and last reading.
                        if bm[0] & 1 == 0
                            || bm[(slots as usize - 1) / 8] >> ((slots as usize - 1) % 8) & 1 == 0
                        {
                            return Err(DecodeError::new(
                                "bitmap misses the first or last slot",
                                at,
                            ));
                        }
                        present(bm.iter().map(|b| b.count_ones() as usize).sum(), at)?;
                        Missing::Bitmap(bm)
                    }
                    MISSING_RUNS => {
                        let at = c.pos();
                        let n = c.u32("missing run count")? as usize;
                        let runs_at = c.pos();
                        let (mut prev_end, mut missing) = (0u64, 0u64);
                        for _ in 0..n {
                            let skip = get_varint(&mut c, "missing run skip")?;
                            let len = get_varint(&mut c, "missing run length")?;
                            let first = prev_end.saturating_add(skip);
                            let end = first.saturating_add(len);
                            // Runs never touch each other, the first slot or the last.
                            if len == 0 || skip == 0 || end >= slots as u64 {
                                return Err(DecodeError::new(
                                    "missing run out of order or out of bounds",
                                    at,
                                ));
                            }
                            prev_end = end;
                            missing += len;
                        }
                        present((slots as u64 - missing) as usize, at)?;
                        Missing::Runs(RunList {
                            bytes: &bytes[runs_at..c.pos()],
                            n: n as u32,
                        })
                    }
                    _ => return Err(DecodeError::new("unknown missing-slot kind", c.pos() - 1)),
                };
                Ok((
                    TsColumn::Regular {
                        start,
                        step,
                        slots,
                        missing,
                    },
                    c.pos(),
                ))
            }
            KIND_IRREGULAR => {
                let first = c.i64("first timestamp")?;
                let at = c.pos();
                let (gaps, used) =
                    ints::decode(&bytes[at..]).map_err(|e| DecodeError::new(e.what, at + e.at))?;
                if gaps.len() + 1 != count.max(1) {
                    return Err(DecodeError::new(
                        "timestamp count differs from reading count",
                        at,
                    ));
                }
                let mut ts = Vec::with_capacity(count);
                if count > 0 {
                    ts.push(first);
                }
                let mut t = first;
                for g in gaps {
                    // Gaps are stored wrapping; read back as unsigned they are exact.
                    let next = t as i128 + (g as u64) as i128;
                    if g == 0 || next > i64::MAX as i128 {
                        return Err(DecodeError::new("timestamps not strictly increasing", at));
                    }
                    t = next as i64;
                    ts.push(t);
                }
                Ok((TsColumn::Irregular(ts), at + used))
            }
            _ => Err(DecodeError::new("unknown timestamp kind", 0)),
        }
    }

    /// A regular column as offsets into `bytes`, the slice it was parsed from, for
    /// [`TsColumn::from_layout`]; `None` for an irregular one (decoded in full).
    pub(crate) fn layout(&self, bytes: &[u8]) -> Option<RegularLayout> {
        let TsColumn::Regular {
            start,
            step,
            slots,
            missing,
        } = self
        else {
            return None;
        };
        let missing = match missing {
            Missing::None => MissingLayout::None,
            Missing::Bitmap(b) => MissingLayout::Bitmap(Span::of(b, bytes)),
            Missing::Runs(r) => MissingLayout::Runs(Span::of(r.bytes, bytes), r.n),
        };
        Some(RegularLayout {
            start: *start,
            step: *step,
            slots: *slots,
            missing,
        })
    }

    /// The column that [`TsColumn::parse`] of `bytes` returned when it gave `l` (through
    /// [`TsColumn::layout`]), without checking anything again.
    ///
    /// # Panics
    /// When `l` does not fit in `bytes` (it came from other bytes).
    pub(crate) fn from_layout(bytes: &'a [u8], l: &RegularLayout) -> TsColumn<'a> {
        TsColumn::Regular {
            start: l.start,
            step: l.step,
            slots: l.slots,
            missing: match l.missing {
                MissingLayout::None => Missing::None,
                MissingLayout::Bitmap(b) => Missing::Bitmap(b.in_bytes(bytes)),
                MissingLayout::Runs(r, n) => Missing::Runs(RunList {
                    bytes: r.in_bytes(bytes),
                    n,
                }),
            },
        }
    }

    /// Appends all timestamps to `out`.
    pub fn decode_into(&self, out: &mut Vec<i64>) {
        match self {
            TsColumn::Regular {
                start,
                step,
                slots,
                missing,
            } => {
                let at = |k: u32| start + k as i64 * *step as i64;
                match missing {
                    Missing::None => extend_grid(out, *start, *step, 0..*slots),
                    Missing::Bitmap(bm) => out.extend(
                        (0..*slots)
                            .filter(|&k| bm[k as usize / 8] >> (k % 8) & 1 == 1)
                            .map(at),
                    ),
                    Missing::Runs(runs) => {
                        let mut k = 0u32;
                        for (first, len) in runs.iter() {
                            extend_grid(out, *start, *step, k..first);
                            k = first + len;
                        }
                        extend_grid(out, *start, *step, k..*slots);
                    }
                }
            }
            TsColumn::Irregular(ts) => out.extend_from_slice(ts),
        }
    }

    /// First and last timestamp.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        match self {
            TsColumn::Regular {
                start, step, slots, ..
            } => Some((*start, start + (*slots as i64 - 1) * *step as i64)),
            TsColumn::Irregular(ts) => Some((*ts.first()?, *ts.last()?)),
        }
    }
}

/// Appends the timestamps of grid slots `slots` (`start + k * step`) to `out`, as a
/// running sum: a vector add per four slots where the instruction set has no 64-bit
/// vector multiply (AVX2). Wrapping adds give the same values as the products, which a
/// parsed column keeps within `i64`.
fn extend_grid(out: &mut Vec<i64>, start: i64, step: u32, slots: Range<u32>) {
    let n = slots.len();
    out.reserve(n);
    let mut t = start.wrapping_add(slots.start as i64 * step as i64);
    for o in &mut out.spare_capacity_mut()[..n] {
        o.write(t);
        t = t.wrapping_add(step as i64);
    }
    // SAFETY: the loop above initialised the first `n` elements of the spare capacity,
    // which `reserve` made at least `n` long.
    unsafe { out.set_len(out.len() + n) };
}

impl Missing<'_> {
    /// Appends to `out` the number of readings in slots `0..k` for each `k` of `ks`
    /// (non-decreasing, each at most the column's slot count): one walk over the runs
    /// or the bitmap's words for all of them, where [`SlotRanks`] prepares the whole
    /// column for ranks in any order.
    pub(crate) fn ranks_sorted(&self, ks: impl Iterator<Item = u32>, out: &mut Vec<usize>) {
        match self {
            Missing::None => out.extend(ks.map(|k| k as usize)),
            Missing::Runs(runs) => {
                let mut runs = runs.iter().peekable();
                let mut gone = 0u32;
                for k in ks {
                    // Runs that end at or before `k` are missing whole; one that starts
                    // before `k` and ends after it, up to `k`.
                    while let Some(&(first, len)) = runs.peek() {
                        if first + len > k {
                            break;
                        }
                        gone += len;
                        runs.next();
                    }
                    let partial = match runs.peek() {
                        Some(&(first, _)) if first < k => k - first,
                        _ => 0,
                    };
                    out.push((k - gone - partial) as usize);
                }
            }
            Missing::Bitmap(bm) => {
                // Word `w` of the bitmap (slots `64w..`), zero past its end.
                let word = |w: usize| {
                    let at = (w * 8).min(bm.len());
                    let n = (bm.len() - at).min(8);
                    let mut b = [0u8; 8];
                    b[..n].copy_from_slice(&bm[at..at + n]);
                    u64::from_le_bytes(b)
                };
                // Present slots below slot `64 * w`.
                let (mut w, mut present) = (0usize, 0u32);
                for k in ks {
                    let k = k as usize;
                    while (w + 1) * 64 <= k {
                        present += word(w).count_ones();
                        w += 1;
                    }
                    let partial = match k - w * 64 {
                        0 => 0,
                        r => (word(w) & ((1u64 << r) - 1)).count_ones(),
                    };
                    out.push((present + partial) as usize);
                }
            }
        }
    }
}

/// Maps slots of a regular column to reading indexes.
pub struct SlotRanks {
    /// Present slots before each bitmap byte (bitmap), or per run: (first slot, missing
    /// slots before the run's end).
    prefix: Vec<u32>,
    /// The missing runs `(first slot, length)`, for runs.
    runs: Vec<(u32, u32)>,
}

impl SlotRanks {
    /// Prepares ranking for `missing`.
    pub fn new(missing: &Missing<'_>) -> SlotRanks {
        let (mut prefix, mut list) = (Vec::new(), Vec::new());
        match missing {
            Missing::None => {}
            Missing::Bitmap(bm) => {
                let mut c = 0u32;
                for &b in bm.iter() {
                    prefix.push(c);
                    c += b.count_ones();
                }
                prefix.push(c);
            }
            Missing::Runs(runs) => {
                let mut gone = 0u32;
                for (first, len) in runs.iter() {
                    gone += len;
                    prefix.push(gone);
                    list.push((first, len));
                }
            }
        }
        SlotRanks { prefix, runs: list }
    }

    /// Number of readings in slots `0..k` (for `k <= slots`).
    #[inline]
    pub fn rank(&self, missing: &Missing<'_>, k: u32) -> usize {
        match missing {
            Missing::None => k as usize,
            Missing::Bitmap(bm) => {
                let (byte, bit) = (k as usize / 8, k % 8);
                let partial = if bit == 0 {
                    0
                } else {
                    (bm[byte] & ((1u8 << bit) - 1)).count_ones()
                };
                (self.prefix[byte] + partial) as usize
            }
            Missing::Runs(_) => {
                // Runs that start before k; the last of them may cover k partly.
                let runs = &self.runs;
                let n = runs.partition_point(|r| r.0 < k);
                if n == 0 {
                    return k as usize;
                }
                let (first, len) = runs[n - 1];
                let before = if n >= 2 { self.prefix[n - 2] } else { 0 };
                let in_last = (k - first).min(len);
                (k - before - in_last) as usize
            }
        }
    }
}

#[cfg(test)]
mod tests;
