//! Lossless mapping of `f64` values to integers.
//!
//! A block is *decimal* at scale `s` when every value `v` equals `(i as f64) / 10^s` bit for
//! bit for some integer `|i| < 2^53`; its values are then stored as those integers, which
//! bit-pack far better than floats. Otherwise the block takes the float path: the raw IEEE
//! bit patterns as integers, which is lossless for every value including -0.0, subnormals
//! and NaN payloads.

use super::extend_map;

/// Largest decimal scale tried: `10^15` is exact in `f64`, and readings with more than 15
/// decimals are not decimal data in practice.
pub const MAX_SCALE: u8 = 15;

/// Largest magnitude of a scaled integer: beyond `2^53` not every integer is an `f64`.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

const POW10: [f64; MAX_SCALE as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// How a block's values map to integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// `value = int / 10^scale`, exactly.
    Decimal {
        /// Decimal exponent.
        scale: u8,
    },
    /// `value = f64::from_bits(int as u64)`.
    FloatBits,
}

impl ValueKind {
    /// The byte that names this kind in a block header, and the scale byte.
    pub fn to_bytes(self) -> (u8, u8) {
        match self {
            ValueKind::Decimal { scale } => (0, scale),
            ValueKind::FloatBits => (1, 0),
        }
    }

    /// Inverse of [`ValueKind::to_bytes`]; `None` for an unknown kind or scale.
    pub fn from_bytes(kind: u8, scale: u8) -> Option<Self> {
        match (kind, scale) {
            (0, s) if s <= MAX_SCALE => Some(ValueKind::Decimal { scale: s }),
            (1, 0) => Some(ValueKind::FloatBits),
            _ => None,
        }
    }

    /// `10^scale` for decimal kinds, as the divisor that turns an integer into its value.
    pub fn divisor(self) -> Option<f64> {
        match self {
            ValueKind::Decimal { scale } => Some(POW10[scale as usize]),
            ValueKind::FloatBits => None,
        }
    }
}

/// The integer `i` with `v == i / 10^scale` exactly, if any (`|i| < 2^53`).
#[inline]
fn scaled_exactly(v: f64, scale: u8) -> Option<i64> {
    let m = POW10[scale as usize];
    let x = v * m;
    if x.is_nan() || x.abs() >= MAX_EXACT {
        return None;
    }
    // Rounded by adding a signed half and truncating: `round` is a library call on
    // x86-64 without SSE4.1, and where the two differ (x within an ulp of a half) no
    // integer divides back to `v` anyway, which the check below finds.
    let i = (x + 0.5f64.copysign(x)) as i64;
    let back = if scale == 0 { i as f64 } else { i as f64 / m };
    (back.to_bits() == v.to_bits()).then_some(i)
}

/// Maps `vals` to integers in `out` (cleared first) and returns how.
///
/// One pass at the smallest scale that makes the values so far exact: a value that needs
/// a larger one starts the pass again at its scale (most blocks settle at the first
/// value).
pub fn to_ints(vals: &[f64], out: &mut Vec<i64>) -> ValueKind {
    out.clear();
    out.reserve(vals.len());
    let mut scale = 0u8;
    'scales: loop {
        for &v in vals {
            match scaled_exactly(v, scale) {
                Some(i) => out.push(i),
                None => {
                    out.clear();
                    // The smallest larger scale at which `v` is exact, if any.
                    match (scale + 1..=MAX_SCALE).find(|&s| scaled_exactly(v, s).is_some()) {
                        Some(s) => scale = s,
                        None => break 'scales,
                    }
                    continue 'scales;
                }
            }
        }
        return ValueKind::Decimal { scale };
    }
    out.clear();
    out.extend(vals.iter().map(|v| v.to_bits() as i64));
    ValueKind::FloatBits
}

/// Appends the values of `ints` under `kind` to `out`.
pub fn from_ints(kind: ValueKind, ints: &[i64], out: &mut Vec<f64>) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::avx2_available() {
        // SAFETY: AVX2 was detected on this CPU.
        unsafe { from_ints_avx2(kind, ints, out) };
        return;
    }
    from_ints_impl(kind, ints, out);
}

/// The same body compiled with AVX2 enabled: four divisions (and conversions) per
/// instruction, the bulk of reading a decimal column.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn from_ints_avx2(kind: ValueKind, ints: &[i64], out: &mut Vec<f64>) {
    from_ints_impl(kind, ints, out);
}

#[inline(always)]
fn from_ints_impl(kind: ValueKind, ints: &[i64], out: &mut Vec<f64>) {
    match kind {
        ValueKind::Decimal { scale } => {
            let m = POW10[scale as usize];
            // Every scaled integer of a block is below 2^53 and so converts exactly, by
            // either route; the offset route is a vector add where the instruction set
            // has no vector conversion from i64 (AVX2). A fold, not `all`: without an
            // early exit the check is a vector loop too.
            let near = ints.iter().fold(true, |ok, &i| {
                ok & (i.wrapping_add(OFFSET_HALF) as u64 <= OFFSET_SPAN)
            });
            if near {
                extend_map(out, ints, |i| offset_to_f64(i) / m);
            } else {
                extend_map(out, ints, |i| i as f64 / m);
            }
        }
        ValueKind::FloatBits => extend_map(out, ints, |i| f64::from_bits(i as u64)),
    }
}

/// 1.5 * 2^52: the doubles from `OFFSET - 2^51` to `OFFSET + 2^51` are the integers of that
/// range, each with the bits `OFFSET.to_bits() + (value - OFFSET)`.
const OFFSET: f64 = 6_755_399_441_055_744.0;
const OFFSET_HALF: i64 = 1 << 51;
const OFFSET_SPAN: u64 = 1 << 52;

/// `i as f64` for `-2^51 <= i <= 2^51`, exactly: the double `OFFSET + i` from its bits,
/// less `OFFSET` (a difference of two doubles of that range is exact).
#[inline(always)]
fn offset_to_f64(i: i64) -> f64 {
    f64::from_bits((OFFSET.to_bits() as i64).wrapping_add(i) as u64) - OFFSET
}

#[cfg(test)]
mod tests;
