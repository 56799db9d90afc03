//! Codecs: pure functions from columns to bytes and back.
//!
//! Nothing here knows about files; the segment module frames these bytes with lengths and
//! checksums. Every decoder validates what it reads and returns a [`DecodeError`] naming the
//! offset (relative to the start of the bytes it was given) instead of panicking.

pub mod bitpack;
pub(crate) mod cold;
pub(crate) mod flags;
pub mod ints;
pub mod simd;
pub mod timestamps;
pub mod values;

/// A decoder found bytes that do not describe a valid column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was wrong.
    pub what: &'static str,
    /// Offset, relative to the start of the decoded bytes.
    pub at: usize,
}

impl DecodeError {
    pub(crate) fn new(what: &'static str, at: usize) -> Self {
        DecodeError { what, at }
    }
}

/// A subslice of a column's bytes as offset and length: what a kept column layout stores
/// in place of a reference, so that a segment rebuilds a checked column without parsing
/// it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    at: u32,
    len: u32,
}

impl Span {
    /// Where `part`, which lies inside `whole`, is in it.
    pub(crate) fn of(part: &[u8], whole: &[u8]) -> Span {
        let at = part.as_ptr() as usize - whole.as_ptr() as usize;
        debug_assert!(at + part.len() <= whole.len());
        Span {
            at: at as u32,
            len: part.len() as u32,
        }
    }

    /// Its offset.
    pub(crate) fn at(self) -> usize {
        self.at as usize
    }

    /// Where it ends.
    pub(crate) fn end(self) -> usize {
        self.at as usize + self.len as usize
    }

    /// Its bytes in `whole` (the slice it was taken from, or one with the same bytes).
    ///
    /// # Panics
    /// When they are not inside `whole`.
    pub(crate) fn in_bytes(self, whole: &[u8]) -> &[u8] {
        &whole[self.at()..self.end()]
    }
}

/// A bounds-checked little-endian cursor over a byte slice.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::new(what, self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let b = self.take(8, what)?;
        Ok(i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// An unsigned LEB128 varint of at most 10 bytes that fits in 64 bits.
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let at = self.pos;
        let mut u = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::new("varint overflows 64 bits", at));
            }
            u |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(u);
            }
        }
        Err(DecodeError::new("varint longer than 10 bytes", at))
    }
}

/// Appends `u` as an unsigned LEB128 varint (at most 10 bytes).
/// Appends `f(x)` for each `x` of `src` to `out`, writing straight into the spare
/// capacity: a plain indexed loop, which the compiler vectorises where `Vec::extend` over
/// a mapped iterator keeps a per-element length update.
#[inline(always)]
pub(crate) fn extend_map<T: Copy, U>(out: &mut Vec<U>, src: &[T], f: impl Fn(T) -> U) {
    let n = src.len();
    out.reserve(n);
    for (o, &x) in out.spare_capacity_mut()[..n].iter_mut().zip(src) {
        o.write(f(x));
    }
    // SAFETY: the loop above initialised the first `n` elements of the spare capacity,
    // which `reserve` made at least `n` long.
    unsafe { out.set_len(out.len() + n) };
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}
