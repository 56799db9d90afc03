//! Immutable segment files: written once by [`writer`], mapped and read by [`reader`].
//!
//! Where a byte is written: `writer.rs` (`write_block`, `finish`). Where it is read back:
//! `reader.rs` (`Segment::open` for header, footer and index; `Segment::with_block` for
//! blocks). Where it is checked: the same functions, before anything is interpreted.

mod mmap;
pub(crate) mod reader;
pub(crate) mod writer;

pub use reader::verify_segment;
pub(crate) use reader::Segment;
pub(crate) use writer::{Coding, HotSize, SegmentWriter};

#[cfg(test)]
mod tests;
