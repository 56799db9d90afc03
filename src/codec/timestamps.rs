//! Timestamp columns.
//!
//! A regular series costs start, step, slot count and, only when slots are missing, a
//! bitmap of present slots. Anything else falls back to delta-of-delta: the first
//! timestamp, then the gaps between neighbours as an integer column, whose own delta mode
//! turns them into deltas of deltas when that is smaller.
//!
//! ```text
//! regular:   kind u8 = 0 | start i64 | step u32 | slots u32 | has_bitmap u8 | bitmap
//! irregular: kind u8 = 1 | first i64 | int column of ts[i+1] - ts[i]
//! ```
//! The bitmap holds `ceil(slots / 8)` bytes, bit `k % 8` of byte `k / 8` set when slot `k`
//! has a reading. Timestamps are strictly increasing in both layouts.

use super::{ints, Cursor, DecodeError};

const KIND_REGULAR: u8 = 0;
const KIND_IRREGULAR: u8 = 1;

/// Q: why allow up to 2 slots per reading plus 64? A: past that the bitmap (1 bit a slot)
/// is no longer clearly smaller than delta-of-delta (about 1-2 bits a reading with gaps).
const MAX_SLOTS_PER_READING: usize = 2;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
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
            out.push(0);
        } else {
            out.push(1);
            let at = out.len();
            out.resize(at + slots.div_ceil(8), 0);
            for &t in ts {
                let k = ((t - ts[0]) as u64 / step) as usize;
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
        step = gcd(step, w[1].checked_sub(w[0])? as u64);
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
        /// Present-slot bitmap; `None` when every slot has a reading.
        bitmap: Option<&'a [u8]>,
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
                let bitmap = match c.u8("bitmap flag")? {
                    0 => {
                        if slots as usize != count {
                            return Err(DecodeError::new(
                                "slot count differs from reading count",
                                slots_at,
                            ));
                        }
                        None
                    }
                    1 => {
                        let at = c.pos();
                        let bm = c.take((slots as usize).div_ceil(8), "present-slot bitmap")?;
                        let present: usize = bm.iter().map(|b| b.count_ones() as usize).sum();
                        let tail_bits = slots as usize % 8;
                        if tail_bits != 0 && bm[bm.len() - 1] >> tail_bits != 0 {
                            return Err(DecodeError::new("bitmap bits past the last slot", at));
                        }
                        if present != count {
                            return Err(DecodeError::new(
                                "bitmap population differs from reading count",
                                at,
                            ));
                        }
                        Some(bm)
                    }
                    _ => return Err(DecodeError::new("unknown bitmap flag", c.pos() - 1)),
                };
                Ok((
                    TsColumn::Regular {
                        start,
                        step,
                        slots,
                        bitmap,
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

    /// Appends all timestamps to `out`.
    pub fn decode_into(&self, out: &mut Vec<i64>) {
        match self {
            TsColumn::Regular {
                start,
                step,
                slots,
                bitmap: None,
            } => {
                out.extend((0..*slots as i64).map(|k| start + k * *step as i64));
            }
            TsColumn::Regular {
                start,
                step,
                slots,
                bitmap: Some(bm),
            } => {
                for k in 0..*slots as usize {
                    if bm[k / 8] >> (k % 8) & 1 == 1 {
                        out.push(start + k as i64 * *step as i64);
                    }
                }
            }
            TsColumn::Irregular(ts) => out.extend_from_slice(ts),
        }
    }
}

#[cfg(test)]
mod tests;
