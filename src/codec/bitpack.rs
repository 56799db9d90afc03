//! Bit-packing of 64-value mini-blocks.
//!
//! A mini-block holds [`MINI_LEN`] unsigned values, each below `2^width`, stored
//! LSB-first, value `i` at bit `i * width`. 64 values of `width` bits fill exactly `width`
//! little-endian `u64` words, so a mini-block never needs padding and its size is
//! `width * 8` bytes; every group of 8 values starts on a byte boundary (`width` bytes per
//! group).
//!
//! Mini-blocks hold 64 values: the smallest count whose packed size is a whole number of
//! 64-bit words for every width; it keeps the per-mini-block reference and width (the
//! frame of reference) adaptive to local level changes, and it amortises the per-block
//! dispatch on the width.
//!
//! Decoding copies a mini-block into a [`Padded`] buffer so that every value can be read
//! with one unaligned 8-byte load, a constant shift and a mask: with the width a
//! compile-time constant, the 8 values of a group compile to straight-line code.

/// Values per mini-block.
pub const MINI_LEN: usize = 64;

/// Bytes of slack after a packed mini-block so a value near its end can be read with a
/// full 8-byte load (and the u128 path for widths above 56 with 16 bytes).
const SLACK: usize = 16;

/// A mini-block copied into a buffer with slack after it.
pub struct Padded {
    buf: [u8; MINI_LEN * 8 + SLACK],
}

impl Default for Padded {
    fn default() -> Self {
        Padded {
            buf: [0; MINI_LEN * 8 + SLACK],
        }
    }
}

impl Padded {
    /// Loads packed bytes (at most `MINI_LEN * 8`). Bytes past them keep stale content,
    /// which only ever lands above a value's mask.
    #[inline]
    pub fn load(&mut self, bytes: &[u8]) -> &Self {
        self.buf[..bytes.len()].copy_from_slice(bytes);
        self
    }

    /// The whole buffer, slack included.
    #[inline]
    pub fn bytes(&self) -> &[u8; MINI_LEN * 8 + SLACK] {
        &self.buf
    }
}

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

/// Bytes used by the first `n` values of a mini-block of `width` bits.
#[inline]
pub const fn partial_len(n: usize, width: u8) -> usize {
    (n * width as usize).div_ceil(8)
}

/// Packs the first `n` of `vals` (the rest must be zero) and appends only the bytes they
/// occupy: short arrays (references, splits) do not pay for a whole mini-block.
pub fn pack_partial(vals: &[u64; MINI_LEN], n: usize, width: u8, out: &mut Vec<u8>) {
    let at = out.len();
    pack(vals, width, out);
    out.truncate(at + partial_len(n, width));
}

/// Reads a packed array of `width`-bit values (value `i` at bit `i * width`) one value
/// after another, keeping a bit position and the width's mask. Past the array's end, the
/// bits there (or zeros past the slice) are returned: callers pass slices that run on
/// after the array so that reads near its end are one 8-byte load.
#[derive(Clone, Copy, Debug)]
pub struct BitReader {
    bit: usize,
    width: u8,
    /// `width` low bits set.
    mask: u64,
}

impl BitReader {
    /// A reader at value `i`.
    pub fn at(i: usize, width: u8) -> BitReader {
        let mask = if width >= 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        BitReader {
            bit: i * width as usize,
            width,
            mask,
        }
    }

    /// The value at the reader's position.
    #[inline(always)]
    pub fn get(&self, array: &[u8]) -> u64 {
        let (at, sh) = (self.bit / 8, self.bit % 8);
        if self.width <= 56 {
            if let Some(b) = array.get(at..at + 8) {
                return (u64::from_le_bytes(b.try_into().expect("8 bytes")) >> sh) & self.mask;
            }
        }
        self.get_slow(array)
    }

    /// [`BitReader::get`] for widths above 56 (a value may span 9 bytes) and near the
    /// slice's end.
    #[cold]
    #[inline(never)]
    fn get_slow(&self, array: &[u8]) -> u64 {
        let (at, sh) = (self.bit / 8, self.bit % 8);
        let mut b = [0u8; 16];
        let tail = array.get(at..).unwrap_or(&[]);
        let n = tail.len().min(16);
        b[..n].copy_from_slice(&tail[..n]);
        (u128::from_le_bytes(b) >> sh) as u64 & self.mask
    }

    /// The value at bit `bit` of `array`, masked by `mask`: [`BitReader::get`] without its
    /// checks, one unaligned 8-byte load, for loops that keep the position in a register.
    ///
    /// # Safety
    /// The 8 bytes from byte `bit / 8` of `array` must be readable: for a value below
    /// [`BitReader::unchecked_below`] of the array's length and width.
    #[inline(always)]
    pub unsafe fn get_raw(array: *const u8, bit: usize, mask: u64) -> u64 {
        // SAFETY: by the caller.
        let word = unsafe { (array.add(bit / 8) as *const u64).read_unaligned() };
        (u64::from_le(word) >> (bit % 8)) & mask
    }

    /// The number of leading values of an array of `len` bytes that
    /// [`BitReader::get_raw`] may read: those whose byte has 8 bytes after it, for
    /// widths up to 56 (a wider value may span 9 bytes).
    pub fn unchecked_below(len: usize, width: u8) -> usize {
        match (width, len.checked_sub(8)) {
            (57.., _) | (_, None) => 0,
            (0, Some(_)) => usize::MAX,
            (w, Some(room)) => ((room + 1) * 8).div_ceil(w as usize),
        }
    }

    /// [`BitReader::unchecked_below`] capped at `n`, without its division when all of the
    /// first `n` values can be read (the usual case: a column's arrays are followed by
    /// the rest of the column).
    #[inline]
    pub fn unchecked_below_max(len: usize, width: u8, n: usize) -> usize {
        let last_byte = n.saturating_sub(1) * width as usize / 8;
        match width <= 56 && last_byte + 8 <= len {
            true => n,
            false => Self::unchecked_below(len, width).min(n),
        }
    }

    /// The reader's position in bits, for loops that keep it in a register.
    #[inline(always)]
    pub fn bit(&self) -> usize {
        self.bit
    }

    /// Moves the reader to bit `bit`, a position that [`BitReader::bit`] plus whole values
    /// gave.
    #[inline(always)]
    pub fn set_bit(&mut self, bit: usize) {
        self.bit = bit;
    }

    /// The mask of a value's bits.
    #[cfg(test)]
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// Moves on by `n` values.
    #[inline(always)]
    pub fn advance(&mut self, n: usize) {
        self.bit += n * self.width as usize;
    }
}

/// Value `k` (0..8) of the 8-value group starting at byte `base`, for a constant width.
#[inline(always)]
fn get<const W: usize>(p: &Padded, base: usize, k: usize) -> u64 {
    let bit = k * W;
    let off = base + bit / 8;
    let sh = bit % 8;
    let mask = if W == 64 { u64::MAX } else { (1u64 << W) - 1 };
    let v = if W + sh <= 64 {
        u64::from_le_bytes(p.buf[off..off + 8].try_into().expect("8 bytes")) >> sh
    } else {
        (u128::from_le_bytes(p.buf[off..off + 16].try_into().expect("16 bytes")) >> sh) as u64
    };
    v & mask
}

/// Unpacks a mini-block of constant width `W`, handing each value to `f` in order.
#[inline(always)]
pub fn unpack_with<const W: usize>(p: &Padded, mut f: impl FnMut(usize, u64)) {
    for g in 0..MINI_LEN / 8 {
        let base = g * W;
        for k in 0..8 {
            f(g * 8 + k, get::<W>(p, base, k));
        }
    }
}

/// Expands `$m!(table_name, fn_name)` into a 65-entry table of monomorphised functions,
/// one per width.
macro_rules! width_table {
    ($name:ident, $ty:ty, $f:ident) => {
        pub(crate) static $name: [$ty; 65] = [
            $f::<0>, $f::<1>, $f::<2>, $f::<3>, $f::<4>, $f::<5>, $f::<6>, $f::<7>, $f::<8>,
            $f::<9>, $f::<10>, $f::<11>, $f::<12>, $f::<13>, $f::<14>, $f::<15>, $f::<16>,
            $f::<17>, $f::<18>, $f::<19>, $f::<20>, $f::<21>, $f::<22>, $f::<23>, $f::<24>,
            $f::<25>, $f::<26>, $f::<27>, $f::<28>, $f::<29>, $f::<30>, $f::<31>, $f::<32>,
            $f::<33>, $f::<34>, $f::<35>, $f::<36>, $f::<37>, $f::<38>, $f::<39>, $f::<40>,
            $f::<41>, $f::<42>, $f::<43>, $f::<44>, $f::<45>, $f::<46>, $f::<47>, $f::<48>,
            $f::<49>, $f::<50>, $f::<51>, $f::<52>, $f::<53>, $f::<54>, $f::<55>, $f::<56>,
            $f::<57>, $f::<58>, $f::<59>, $f::<60>, $f::<61>, $f::<62>, $f::<63>, $f::<64>,
        ];
    };
}
pub(crate) use width_table;

#[cfg(test)]
mod tests;
