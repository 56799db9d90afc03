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
//! `(w+1)*8` bytes. The levels are a bitmap so that sums need no per-value level step: the
//! upper-level share of a masked sum is `split` times a popcount of the bitmap under the
//! mask, and the scan kernel adds offsets only.
//!
//! Two levels, because a 64-value mini-block of 15-minute data spans 16 hours, so nearly
//! every one holds a switch between idle and production load: one frame would pay the
//! full load range in every value, two frames pay one bit plus the noise (the sizes are
//! measured by `examples/fleet_bench.rs`).
//!
//! The encoder sizes value and delta mode and keeps value mode unless delta mode is at
//! least an eighth smaller (`encode::DELTA_SAVING`): a delta-mode column costs the scan
//! kernel more per value. Delta mode wins on cumulative registers and other series whose
//! values climb.
//!
//! The steps live in their own files: the byte layout and the header parse (`layout`),
//! the encoder (`encode`), the parsed column and its mini-block walk (`column`), and the
//! decoders (`decode`). The day/night kernels that sum a column in place are the scan's
//! (`scan::kernel`).

mod column;
mod decode;
mod encode;
mod layout;

pub use column::IntColumn;
pub(crate) use column::{IntLayout, Mini, MiniWalk};
pub use decode::decode;
pub(crate) use decode::decode_scalar;
pub use encode::encode;
pub(crate) use encode::encode_plain;
#[cfg(test)]
pub(crate) use encode::{encode_as, encode_with, Levels, Mode};
pub(crate) use layout::packed_width;

#[cfg(test)]
pub(crate) mod tests;
