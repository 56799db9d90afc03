//! On-disk constants: magics, format versions, and the offsets of every fixed-size
//! structure. Each offset is built from the previous field, so reordering a field is a
//! compile-visible change. The prose spec with byte diagrams is `docs/FORMAT.md`.

use crate::error::{Error, Result};
use std::path::Path;

/// Format versions this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum FormatVersion {
    /// The first version.
    V1 = 1,
    /// Integer columns may keep the levels of two-level mini-blocks in bitmaps.
    V2 = 2,
}

impl FormatVersion {
    /// The version this build writes.
    pub const CURRENT: FormatVersion = FormatVersion::V2;

    /// Checks a version byte read from `path`.
    pub fn check(byte: u8, path: &Path) -> Result<FormatVersion> {
        FormatVersion::try_from(byte).map_err(|_| Error::UnsupportedVersion {
            path: path.to_owned(),
            version: byte,
            supported: FormatVersion::CURRENT as u8,
        })
    }
}

impl TryFrom<u8> for FormatVersion {
    type Error = u8;
    fn try_from(b: u8) -> std::result::Result<Self, u8> {
        match b {
            1 => Ok(FormatVersion::V1),
            2 => Ok(FormatVersion::V2),
            other => Err(other),
        }
    }
}

/// Version byte of a segment file written by cold compaction: its blocks may be cold
/// (flag [`BLOCK_FLAG_COLD`]) and its footer flags mark it cold ([`FOOTER_FLAG_COLD`]).
/// Segments of hot blocks keep [`FormatVersion::CURRENT`], so that builds that do not
/// know cold blocks still read them. Segment versions skip 3, the version of MANIFEST and
/// METERS alone.
pub const COLD_SEGMENT_VERSION: u8 = 4;

/// Version byte of a segment that holds a block with a flag column (block flag
/// [`BLOCK_FLAG_FLAGS`]): [`COLD_SEGMENT_VERSION`] plus that flag, hot or cold. Segments
/// without flagged readings keep their older version, so that builds that do not know
/// flags still read them.
pub const FLAGS_SEGMENT_VERSION: u8 = 5;

/// Version byte of a log file this build writes: it may hold batches with flags (record
/// kind 2), which builds before it would take for corruption; the version makes them say
/// [`Error::UnsupportedVersion`] instead. Log files of [`FormatVersion`]s are read too.
pub const FLAGS_WAL_VERSION: u8 = FLAGS_SEGMENT_VERSION;

/// What a segment's version allows beyond [`FormatVersion::CURRENT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFeatures {
    /// Blocks may be cold and the footer flags are read.
    pub cold: bool,
    /// Blocks may end with a flag column.
    pub flags: bool,
}

/// Checks the version byte of a segment at `path`: every [`FormatVersion`],
/// [`COLD_SEGMENT_VERSION`] or [`FLAGS_SEGMENT_VERSION`]; returns what it allows.
pub fn check_segment_version(byte: u8, path: &Path) -> Result<SegmentFeatures> {
    let (cold, flags) = match byte {
        COLD_SEGMENT_VERSION => (true, false),
        FLAGS_SEGMENT_VERSION => (true, true),
        _ => {
            FormatVersion::check(byte, path).map_err(|_| Error::UnsupportedVersion {
                path: path.to_owned(),
                version: byte,
                supported: FLAGS_SEGMENT_VERSION,
            })?;
            (false, false)
        }
    };
    Ok(SegmentFeatures { cold, flags })
}

/// Checks the version byte of a log file at `path`: every [`FormatVersion`] or
/// [`FLAGS_WAL_VERSION`].
pub fn check_wal_version(byte: u8, path: &Path) -> Result<()> {
    if byte == FLAGS_WAL_VERSION {
        return Ok(());
    }
    FormatVersion::check(byte, path)
        .map(|_| ())
        .map_err(|_| Error::UnsupportedVersion {
            path: path.to_owned(),
            version: byte,
            supported: FLAGS_WAL_VERSION,
        })
}

const U8: usize = 1;
const U32: usize = 4;
const U64: usize = 8;

/// Magic at both ends of a segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"MTRSEG\r\n";
/// Magic of the MANIFEST file.
pub const MANIFEST_MAGIC: [u8; 8] = *b"MTRMANI\n";
/// Magic of the METERS catalog file.
pub const METERS_MAGIC: [u8; 8] = *b"MTRMETR\n";
/// Version byte of the MANIFEST and METERS envelopes this build writes. Versions 1 and 2
/// (the store's format version, written before the metadata had its own) have the same
/// layout without the cross-checks between the two files; this build reads them.
pub const METADATA_VERSION: u8 = 3;

// Segment header.
/// Offset of the version byte in a segment header.
pub const HEADER_VERSION: usize = SEGMENT_MAGIC.len();
/// Offset of the header CRC.
pub const HEADER_CRC: usize = HEADER_VERSION + U8 + 3;
/// Length of the segment header.
pub const HEADER_LEN: usize = HEADER_CRC + U32;

// Segment footer, relative to its start.
/// Offset of `index_offset` in the footer.
pub const FOOTER_INDEX_OFFSET: usize = 0;
/// Offset of `index_len`.
pub const FOOTER_INDEX_LEN: usize = FOOTER_INDEX_OFFSET + U64;
/// Offset of `n_meters`.
pub const FOOTER_N_METERS: usize = FOOTER_INDEX_LEN + U64;
/// Offset of `n_blocks`.
pub const FOOTER_N_BLOCKS: usize = FOOTER_N_METERS + U32;
/// Offset of `index_crc`.
pub const FOOTER_INDEX_CRC: usize = FOOTER_N_BLOCKS + U32;
/// Offset of the version byte.
pub const FOOTER_VERSION: usize = FOOTER_INDEX_CRC + U32;
/// Offset of the footer flags (segment version [`COLD_SEGMENT_VERSION`]; zero before).
pub const FOOTER_FLAGS: usize = FOOTER_VERSION + U8;
/// Footer flag: the segment was written by cold compaction (its window is not rewritten
/// to cold again).
pub const FOOTER_FLAG_COLD: u8 = 1;
/// Offset of the footer CRC (covers bytes `0..FOOTER_CRC`).
pub const FOOTER_CRC: usize = FOOTER_FLAGS + 3;
/// Offset of the trailing magic.
pub const FOOTER_MAGIC: usize = FOOTER_CRC + U32;
/// Length of the footer.
pub const FOOTER_LEN: usize = FOOTER_MAGIC + SEGMENT_MAGIC.len();

/// Length of a meter entry in the index: meter, first block, block count.
pub const METER_ENTRY_LEN: usize = 3 * U32;
/// Length of a block entry in the index.
pub const BLOCK_ENTRY_LEN: usize = U64 + U32 + U32 + 2 * U64 + 5 * U64;

// Block header.
/// Offset of the value-kind byte in a block.
pub const BLOCK_VALUE_KIND: usize = U32;
/// Offset of the decimal scale byte.
pub const BLOCK_SCALE: usize = BLOCK_VALUE_KIND + U8;
/// Offset of the flags byte.
pub const BLOCK_FLAGS: usize = BLOCK_SCALE + U8;
/// Offset of the decompressed body length.
pub const BLOCK_BODY_LEN: usize = BLOCK_FLAGS + U8 + U8;
/// Offset of the body.
pub const BLOCK_BODY: usize = BLOCK_BODY_LEN + U32;
/// Bytes of a block that are not body: header plus trailing CRC.
pub const BLOCK_OVERHEAD: usize = BLOCK_BODY + U32;
/// Flag bit: the body is a zstd frame.
pub const BLOCK_FLAG_ZSTD: u8 = 1;
/// Flag bit: the body is cold (`codec::cold`), in segments of [`COLD_SEGMENT_VERSION`].
pub const BLOCK_FLAG_COLD: u8 = 2;
/// Flag bit: the (decompressed) body ends with a flag column (`codec::flags`), in segments
/// of [`FLAGS_SEGMENT_VERSION`]. May go with either of the other bits.
pub const BLOCK_FLAG_FLAGS: u8 = 4;

/// Most readings in one block, 4096: a month of 15-minute readings (2976) fits in one
/// block, so month buckets are answered from block statistics; the decoded block
/// (32 KiB of i64) stays in L1/L2 during a scan; and the 72-byte index entry costs under
/// 0.02 bytes a reading.
pub const BLOCK_LEN: usize = 4096;

// Envelope of MANIFEST and METERS.
/// Offset of the version byte in an envelope.
pub const ENV_VERSION: usize = 8;
/// Offset of the body length.
pub const ENV_BODY_LEN: usize = ENV_VERSION + U8 + 3;
/// Offset of the body CRC.
pub const ENV_BODY_CRC: usize = ENV_BODY_LEN + U32;
/// Offset of the header CRC (covers bytes `0..ENV_HEADER_CRC`).
pub const ENV_HEADER_CRC: usize = ENV_BODY_CRC + U32;
/// Offset of the body.
pub const ENV_BODY: usize = ENV_HEADER_CRC + U32;

#[cfg(test)]
mod tests {
    use super::*;

    /// The checksum is the IEEE CRC-32 (zlib's), as docs/FORMAT.md says: its check value.
    #[test]
    fn checksum_is_the_ieee_crc32() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn layout_matches_the_spec() {
        assert_eq!(HEADER_LEN, 16);
        assert_eq!(FOOTER_LEN, 44);
        assert_eq!(BLOCK_ENTRY_LEN, 72);
        assert_eq!(BLOCK_BODY, 12);
        assert_eq!(ENV_BODY, 24);
    }

    #[test]
    fn unknown_version_is_its_own_error() {
        let e = FormatVersion::check(9, Path::new("x")).unwrap_err();
        assert!(matches!(e, Error::UnsupportedVersion { version: 9, .. }));
        assert_eq!(
            FormatVersion::check(1, Path::new("x")).unwrap(),
            FormatVersion::V1
        );
        assert_eq!(
            FormatVersion::check(2, Path::new("x")).unwrap(),
            FormatVersion::V2
        );
    }
}
