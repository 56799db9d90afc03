//! Lossless mapping of `f64` values to integers.
//!
//! A block is *decimal* at scale `s` when every value `v` equals `(i as f64) / 10^s` bit for
//! bit for some integer `|i| < 2^53`; its values are then stored as those integers, which
//! bit-pack far better than floats. Otherwise the block takes the float path: the raw IEEE
//! bit patterns as integers, which is lossless for every value including -0.0, subnormals
//! and NaN payloads.

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

#[inline]
fn scaled_exactly(v: f64, scale: u8) -> Option<i64> {
    let m = POW10[scale as usize];
    let r = (v * m).round();
    if r.is_nan() || r.abs() >= MAX_EXACT {
        return None;
    }
    let i = r as i64;
    let back = if scale == 0 { i as f64 } else { i as f64 / m };
    (back.to_bits() == v.to_bits()).then_some(i)
}

fn scale_of(vals: &[f64]) -> Option<u8> {
    // The smallest scale that makes the first value exact is a lower bound for the block;
    // most blocks share one scale, so this usually settles it in one pass.
    let mut s = 0u8;
    for &v in vals {
        while scaled_exactly(v, s).is_none() {
            s += 1;
            if s > MAX_SCALE {
                return None;
            }
        }
    }
    Some(s)
}

/// Maps `vals` to integers in `out` (cleared first) and returns how.
pub fn to_ints(vals: &[f64], out: &mut Vec<i64>) -> ValueKind {
    out.clear();
    out.reserve(vals.len());
    if let Some(scale) = scale_of(vals) {
        // `scale_of` proved every value exact at its own smallest scale; a larger scale
        // stays exact as long as the integer fits, which the check below confirms.
        let all = vals.iter().map(|&v| scaled_exactly(v, scale));
        let start = out.len();
        let mut ok = true;
        for i in all {
            match i {
                Some(i) => out.push(i),
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return ValueKind::Decimal { scale };
        }
        out.truncate(start);
    }
    out.extend(vals.iter().map(|v| v.to_bits() as i64));
    ValueKind::FloatBits
}

/// Appends the values of `ints` under `kind` to `out`.
pub fn from_ints(kind: ValueKind, ints: &[i64], out: &mut Vec<f64>) {
    match kind {
        ValueKind::Decimal { scale: 0 } => out.extend(ints.iter().map(|&i| i as f64)),
        ValueKind::Decimal { scale } => {
            let m = POW10[scale as usize];
            out.extend(ints.iter().map(|&i| i as f64 / m));
        }
        ValueKind::FloatBits => out.extend(ints.iter().map(|&i| f64::from_bits(i as u64))),
    }
}

#[cfg(test)]
mod tests;
