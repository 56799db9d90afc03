//! A parsed column and the walk over its mini-blocks: each one's frame and where its
//! packed values are. The scan kernels read a column through the crate-private accessors
//! here; the fields stay in the codec.

use super::layout::{packed_width, TWO_LEVEL};
use crate::codec::bitpack::{self, BitReader, MINI_LEN};
use crate::codec::Span;

/// A decoded mini-block descriptor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mini {
    pub(crate) reference: i64,
    pub(crate) split: i64,
    /// The mini-block's size in bytes over 8.
    pub(crate) packed_width: u8,
    pub(crate) two_level: bool,
    /// A two-level frame whose levels are in a bitmap.
    pub(crate) bitmap: bool,
    /// That bitmap (bit `i` set: value `i` is on the upper level); 0 for other frames.
    pub(crate) levels: u64,
}

impl Mini {
    /// The mini-block of descriptor `d` in a column of frame base `base`, with level
    /// bitmaps if `bitmaps`, with reference offset `reference` and, if it is two-level,
    /// split `split` and level bitmap `word` (its payload's first 8 bytes). The split and
    /// the word are read for every mini-block and zeroed for those without them: the frame
    /// kinds of successive mini-blocks are too mixed for a branch to predict.
    #[inline(always)]
    pub(crate) fn of(
        base: i64,
        bitmaps: bool,
        d: u8,
        reference: u64,
        split: u64,
        word: u64,
    ) -> Mini {
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
    pub(crate) fn width(&self) -> u8 {
        self.packed_width - self.bitmap as u8
    }

    /// Where the packed values start in the mini-block's bytes: after the bitmap, if any.
    #[inline(always)]
    pub(crate) fn values_at(&self) -> usize {
        8 * self.bitmap as usize
    }

    /// A two-level frame in the version 1 layout: the level is each value's low bit.
    #[inline(always)]
    pub(crate) fn low_bit(&self) -> bool {
        self.two_level && !self.bitmap
    }
}

/// A parsed, validated integer column borrowing its bytes; decodes mini-block by
/// mini-block. Parsing allocates nothing: frames are read from the packed descriptor,
/// reference and split arrays as the mini-blocks are walked (see [`MiniWalk`]).
pub struct IntColumn<'a> {
    pub(super) deltas: bool,
    /// Two-level mini-blocks carry level bitmaps (else the version 1 low-bit layout).
    pub(super) bitmap: bool,
    pub(super) count: usize,
    pub(super) first: i64,
    pub(super) base: i64,
    pub(super) ref_width: u8,
    pub(super) split_width: u8,
    /// The largest value width of the column's mini-blocks as the vector kernel sees it:
    /// the packed width in the version 1 layout, the width without the level bitmap
    /// otherwise.
    pub(super) vector_width: u8,
    pub(super) descs: &'a [u8],
    /// The packed references and everything after them in the column: reading a
    /// reference near the array's end still has whole 8-byte words under it.
    pub(super) refs: &'a [u8],
    /// The packed splits and the rest of the column, likewise.
    pub(super) splits: &'a [u8],
    pub(super) payload: &'a [u8],
    /// The payload and any readable bytes after it ([`IntColumn::read_past_end`]): the
    /// vector kernels read a mini-block in place when its group reach fits in here.
    pub(super) readable: &'a [u8],
    /// Where the payload starts in the bytes given to [`IntColumn::parse`].
    pub(super) payload_at: usize,
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

    /// Moves on to mini-block `k` (at or after the next one) without reading the frames of
    /// those it passes: for a caller that wants a few mini-blocks of a column.
    #[inline]
    pub(crate) fn advance_to(&mut self, k: usize) {
        let passed = self.col.descs.get(self.k..k).unwrap_or(&[]);
        // Two plain sums over the descriptors (a packed width is the low bits plus the
        // two-level bit, [`packed_width`]), in `u16` per 256 of them (below 128 * 256),
        // which vectorises.
        let (mut low, mut two_level) = (0u64, 0u64);
        for chunk in passed.chunks(256) {
            let (mut l, mut t) = (0u16, 0u16);
            for &d in chunk {
                l += (d & !TWO_LEVEL) as u16;
                t += (d >> 7) as u16;
            }
            (low, two_level) = (low + l as u64, two_level + t as u64);
        }
        self.refs.advance(passed.len());
        self.splits.advance(two_level as usize);
        self.at += bitpack::packed_len(1) * (low + two_level) as usize;
        self.k = self.k.max(k);
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

    /// Whether the column stores deltas (its values need a prefix sum).
    pub fn is_delta(&self) -> bool {
        self.deltas
    }

    /// Value `i` of mini-block `m` (whose bytes start at `at`), read on its own: its
    /// packed offset plus the frame.
    #[inline]
    pub(crate) fn value_in(&self, m: &Mini, at: usize, i: usize) -> i64 {
        let packed = self.values_of(m, at);
        if m.low_bit() {
            // The level is each packed value's low bit.
            let x = BitReader::at(i, m.packed_width).get(packed);
            let level = ((x & 1) as i64).wrapping_neg() & m.split;
            return m
                .reference
                .wrapping_add((x >> 1) as i64)
                .wrapping_add(level);
        }
        let x = BitReader::at(i, m.width()).get(packed);
        let level = ((m.levels >> i & 1) as i64).wrapping_neg() & m.split;
        m.reference.wrapping_add(x as i64).wrapping_add(level)
    }

    /// The packed values of mini-block `m`, whose bytes start at `at`.
    #[inline(always)]
    pub(crate) fn values_of(&self, m: &Mini, at: usize) -> &[u8] {
        &self.payload[at + m.values_at()..at + bitpack::packed_len(m.packed_width)]
    }
}

/// Crate-private access for the scan kernels, which sum a column straight from its packed
/// arrays: the header fields and the arrays as parsed.
impl<'a> IntColumn<'a> {
    /// The smallest mini-block reference, which every reference offset is added to.
    #[inline(always)]
    pub(crate) fn base(&self) -> i64 {
        self.base
    }

    /// The first value of a delta-mode column (the values are it plus the running sums of
    /// the stored deltas); 0 in value mode.
    #[inline(always)]
    pub(crate) fn first(&self) -> i64 {
        self.first
    }

    /// A delta-mode column's stored deltas as a column of values (`t[0]` is the first,
    /// zero as the encoder writes it): the energies of a cumulative register's readings.
    #[inline(always)]
    pub(crate) fn stored_deltas(&self) -> IntColumn<'a> {
        IntColumn {
            deltas: false,
            first: 0,
            ..*self
        }
    }

    /// Bits per packed reference offset.
    #[inline(always)]
    pub(crate) fn ref_width(&self) -> u8 {
        self.ref_width
    }

    /// Bits per packed split.
    #[inline(always)]
    pub(crate) fn split_width(&self) -> u8 {
        self.split_width
    }

    /// Whether two-level mini-blocks carry level bitmaps (else the version 1 low bit).
    #[inline(always)]
    pub(crate) fn bitmap(&self) -> bool {
        self.bitmap
    }

    /// The largest value width of the column's mini-blocks as a vector kernel sees it:
    /// the packed width in the version 1 layout, the width without the level bitmap
    /// otherwise.
    #[inline(always)]
    pub(crate) fn vector_width(&self) -> u8 {
        self.vector_width
    }

    /// The mini-block descriptors.
    #[inline(always)]
    pub(crate) fn descs(&self) -> &'a [u8] {
        self.descs
    }

    /// The packed references and everything after them in the column.
    #[inline(always)]
    pub(crate) fn refs(&self) -> &'a [u8] {
        self.refs
    }

    /// The packed splits and everything after them in the column.
    #[inline(always)]
    pub(crate) fn splits(&self) -> &'a [u8] {
        self.splits
    }

    /// The mini-blocks' packed bytes.
    #[inline(always)]
    pub(crate) fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The payload and any readable bytes after it ([`IntColumn::read_past_end`]).
    #[inline(always)]
    pub(crate) fn readable(&self) -> &'a [u8] {
        self.readable
    }
}

/// Crate-private access for the scan kernels: a walk's position, read and set by a loop
/// that keeps it in locals.
impl MiniWalk<'_, '_> {
    /// The index of the next mini-block.
    #[inline(always)]
    pub(crate) fn index(&self) -> usize {
        self.k
    }

    /// The offset of the next mini-block's bytes in the payload.
    #[inline(always)]
    pub(crate) fn payload_at(&self) -> usize {
        self.at
    }

    /// The bit position of the next two-level mini-block's split.
    #[inline(always)]
    pub(crate) fn split_bit(&self) -> usize {
        self.splits.bit()
    }

    /// The mini-blocks below this index may be read without checks: their references and
    /// splits have 8 readable bytes.
    #[inline(always)]
    pub(crate) fn unchecked_until(&self) -> usize {
        self.unchecked_until
    }

    /// Moves the walk to mini-block `k`, whose bytes start at `at` in the payload and
    /// whose split (if it is two-level) at bit `split_bit`.
    #[inline(always)]
    pub(crate) fn set_position(&mut self, k: usize, at: usize, split_bit: usize) {
        self.k = k;
        self.at = at;
        self.refs.set_bit(k * self.col.ref_width as usize);
        self.splits.set_bit(split_bit);
    }
}
