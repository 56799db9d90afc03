//! Bit-packing of 64-value mini-blocks.
//!
//! A mini-block holds [`MINI_LEN`] unsigned values, each below `2^width`, stored
//! LSB-first, value `i` at bit `i * width`. 64 values of `width` bits fill exactly `width`
//! little-endian `u64` words, so a mini-block never needs padding and its size is
//! `width * 8` bytes.
//!
//! Q: Why 64 values? A: it is the smallest count whose packed size is a whole number of
//! 64-bit words for every width, it keeps the per-mini-block reference and width (the
//! frame of reference) adaptive to local level changes such as a day/night switch, and a
//! fully unrolled 64-value unpack for a constant width compiles to straight-line shifts.

/// Values per mini-block.
pub const MINI_LEN: usize = 64;

/// Number of bits needed to hold `v` (0 for 0).
#[inline]
pub fn bits_needed(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

/// Packed size in bytes of one mini-block of `width` bits.
#[inline]
pub const fn packed_len(width: u8) -> usize {
    width as usize * 8
}

/// Appends the `width`-bit packing of `vals` to `out`. Every value must be below
/// `2^width` (checked in debug builds).
pub fn pack(vals: &[u64; MINI_LEN], width: u8, out: &mut Vec<u8>) {
    debug_assert!(width <= 64);
    if width == 0 {
        debug_assert!(vals.iter().all(|&v| v == 0));
        return;
    }
    let w = width as u32;
    let mut acc: u128 = 0;
    let mut nbits: u32 = 0;
    for &v in vals {
        debug_assert!(w == 64 || v >> w == 0, "value {v} exceeds width {w}");
        acc |= (v as u128) << nbits;
        nbits += w;
        if nbits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            nbits -= 64;
        }
    }
    debug_assert_eq!(nbits, 0);
}

/// Unpacks one mini-block of `width` bits from `bytes` (exactly `packed_len(width)` bytes).
#[inline]
pub fn unpack(bytes: &[u8], width: u8, out: &mut [u64; MINI_LEN]) {
    debug_assert_eq!(bytes.len(), packed_len(width));
    let mut words = [0u64; MINI_LEN + 1];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *w = u64::from_le_bytes(chunk.try_into().expect("chunks_exact yields 8 bytes"));
    }
    UNPACKERS[width as usize](&words, out);
}

type Unpacker = fn(&[u64; MINI_LEN + 1], &mut [u64; MINI_LEN]);

/// Unpacks with a compile-time width: every shift below is a constant after unrolling.
#[inline(always)]
fn unpack_const<const W: u32>(words: &[u64; MINI_LEN + 1], out: &mut [u64; MINI_LEN]) {
    if W == 0 {
        *out = [0; MINI_LEN];
        return;
    }
    let mask: u64 = if W == 64 { u64::MAX } else { (1u64 << W) - 1 };
    let mut i = 0;
    while i < MINI_LEN {
        let bit = i as u32 * W;
        let k = (bit / 64) as usize;
        let s = bit % 64;
        let lo = words[k] >> s;
        // The second word is only needed when the value crosses a word boundary; for a
        // constant W the compiler resolves this branch per unrolled position.
        let v = if s + W > 64 {
            lo | (words[k + 1] << (64 - s))
        } else {
            lo
        };
        out[i] = v & mask;
        i += 1;
    }
}

fn unpack_w<const W: u32>(words: &[u64; MINI_LEN + 1], out: &mut [u64; MINI_LEN]) {
    unpack_const::<W>(words, out)
}

macro_rules! unpackers {
    ($($w:literal)*) => { [$(unpack_w::<$w> as Unpacker),*] };
}

static UNPACKERS: [Unpacker; 65] = unpackers!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
    33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62
    63 64
);

#[cfg(test)]
mod tests;
