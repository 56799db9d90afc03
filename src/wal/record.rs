//! The WAL's bytes: file header and record frames. Everything that writes or checks a
//! byte of a log file goes through this module; the prose spec is the "Write-ahead log"
//! section of `docs/FORMAT.md`.
//!
//! ```text
//! file header (32 bytes)
//! 0   magic        8 bytes  "MTRWAL\r\n"
//! 8   version      u8       format version
//! 9   reserved     3 bytes  zero
//! 12  file_id      u64      must equal the id in the file name
//! 20  base_lsn     u64      LSN of the first record this file holds (or would hold)
//! 28  header_crc   u32      crc32 of bytes 0..28
//!
//! record frame (20 + len bytes)
//! 0   len          u32      payload length, 1..=MAX_RECORD_LEN
//! 4   len_crc      u32      crc32 of bytes 0..4
//! 8   lsn          u64
//! 16  payload_crc  u32      crc32 of bytes 8..16 followed by the payload
//! 20  payload      len bytes
//! ```

use crate::error::{Error, Result};
use crate::format::{check_wal_version, FLAGS_WAL_VERSION};
use std::path::Path;

const U8: usize = 1;
const U32: usize = 4;
const U64: usize = 8;

/// Magic at the start of every log file.
pub(crate) const WAL_MAGIC: [u8; 8] = *b"MTRWAL\r\n";
/// Offset of the version byte in the file header.
pub(crate) const HEADER_VERSION: usize = WAL_MAGIC.len();
/// Offset of the file id.
pub(crate) const HEADER_FILE_ID: usize = HEADER_VERSION + U8 + 3;
/// Offset of the base LSN.
pub(crate) const HEADER_BASE_LSN: usize = HEADER_FILE_ID + U64;
/// Offset of the header CRC (covers bytes `0..HEADER_CRC`).
pub(crate) const HEADER_CRC: usize = HEADER_BASE_LSN + U64;
/// Length of the file header; the first frame starts here.
pub(crate) const HEADER_LEN: usize = HEADER_CRC + U32;

/// Offset of the payload length in a frame.
pub(crate) const FRAME_LEN: usize = 0;
/// Offset of the CRC of the length field alone.
pub(crate) const FRAME_LEN_CRC: usize = FRAME_LEN + U32;
/// Offset of the LSN.
pub(crate) const FRAME_LSN: usize = FRAME_LEN_CRC + U32;
/// Offset of the CRC of LSN and payload.
pub(crate) const FRAME_PAYLOAD_CRC: usize = FRAME_LSN + U64;
/// Length of a frame header; the payload starts here.
pub(crate) const FRAME_HEADER_LEN: usize = FRAME_PAYLOAD_CRC + U32;

/// Largest payload of one record, 64 MiB: a length that passed its own CRC by
/// accident (1 in 2^32) must still not make replay allocate or CRC gigabytes, and a
/// batch of a million readings encodes to well under this.
pub(crate) const MAX_RECORD_LEN: usize = 64 << 20;

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + U32)?.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + U64)?.try_into().ok()?))
}

/// The header of a new log file.
pub(crate) fn encode_header(file_id: u64, base_lsn: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..HEADER_VERSION].copy_from_slice(&WAL_MAGIC);
    h[HEADER_VERSION] = FLAGS_WAL_VERSION;
    h[HEADER_FILE_ID..HEADER_BASE_LSN].copy_from_slice(&file_id.to_le_bytes());
    h[HEADER_BASE_LSN..HEADER_CRC].copy_from_slice(&base_lsn.to_le_bytes());
    let crc = crc32fast::hash(&h[..HEADER_CRC]);
    h[HEADER_CRC..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks the header at the start of `buf` (the bytes of `path`, which is named with
/// `file_id`) and returns its base LSN. An unknown version is
/// [`Error::UnsupportedVersion`]; every other failure is [`Error::Corrupt`] at offset 0.
pub(crate) fn decode_header(buf: &[u8], file_id: u64, path: &Path) -> Result<u64> {
    let bad = |what: &str| Err(Error::corrupt(path, 0, format!("log file header: {what}")));
    let Some(h) = buf.get(..HEADER_LEN) else {
        return bad("file shorter than the header");
    };
    if h[..HEADER_VERSION] != WAL_MAGIC {
        return bad("bad magic");
    }
    let stored = le_u32(h, HEADER_CRC);
    if stored != Some(crc32fast::hash(&h[..HEADER_CRC])) {
        return bad("checksum mismatch");
    }
    check_wal_version(h[HEADER_VERSION], path)?;
    if h[HEADER_VERSION + 1..HEADER_FILE_ID] != [0; 3] {
        return bad("reserved bytes are not zero");
    }
    if le_u64(h, HEADER_FILE_ID) != Some(file_id) {
        return bad("file id does not match the file name");
    }
    match le_u64(h, HEADER_BASE_LSN) {
        Some(lsn) if lsn > 0 => Ok(lsn),
        _ => bad("base LSN is zero"),
    }
}

/// The frame header for `payload` at `lsn`. `payload_crc` is the running CRC of the
/// payload alone (computed by the caller outside any lock); the LSN is folded in front
/// of it here with [`crc32fast::Hasher::combine`].
pub(crate) fn encode_frame_header(
    lsn: u64,
    payload_len: usize,
    payload_crc: &crc32fast::Hasher,
) -> [u8; FRAME_HEADER_LEN] {
    debug_assert!((1..=MAX_RECORD_LEN).contains(&payload_len));
    let mut f = [0u8; FRAME_HEADER_LEN];
    f[FRAME_LEN..FRAME_LEN_CRC].copy_from_slice(&(payload_len as u32).to_le_bytes());
    let len_crc = crc32fast::hash(&f[FRAME_LEN..FRAME_LEN_CRC]);
    f[FRAME_LEN_CRC..FRAME_LSN].copy_from_slice(&len_crc.to_le_bytes());
    f[FRAME_LSN..FRAME_PAYLOAD_CRC].copy_from_slice(&lsn.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&f[FRAME_LSN..FRAME_PAYLOAD_CRC]);
    h.combine(payload_crc);
    f[FRAME_PAYLOAD_CRC..].copy_from_slice(&h.finalize().to_le_bytes());
    f
}

/// A whole frame (header and payload) in one buffer; used by tests and tools.
#[cfg(test)]
pub(crate) fn encode_frame(lsn: u64, payload: &[u8]) -> Vec<u8> {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    let mut out = encode_frame_header(lsn, payload.len(), &h).to_vec();
    out.extend_from_slice(payload);
    out
}

/// What [`parse_frame`] found at an offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A frame whose length and payload checksums both verify.
    Valid {
        /// The record's LSN (not yet checked against its neighbours).
        lsn: u64,
        /// The payload.
        payload: &'a [u8],
        /// Offset just past the frame.
        end: usize,
    },
    /// The bytes end before the frame does: a frame header that is cut short, or a
    /// verified length that runs past the end.
    Truncated,
    /// Bytes that cannot be a frame; the string says which check failed.
    Invalid(&'static str),
}

/// The verified payload length of a frame whose bytes start `rest`: `Err(None)` when
/// fewer than the 8 bytes of the length header are there, `Err(Some(what))` when the
/// length fails its CRC or the range check.
fn frame_len(rest: &[u8]) -> std::result::Result<usize, Option<&'static str>> {
    let (Some(len), Some(len_crc)) = (le_u32(rest, FRAME_LEN), le_u32(rest, FRAME_LEN_CRC)) else {
        return Err(None);
    };
    if len_crc != crc32fast::hash(&len.to_le_bytes()) {
        return Err(Some("length checksum mismatch"));
    }
    let len = len as usize;
    if len == 0 || len > MAX_RECORD_LEN {
        return Err(Some("record length out of range"));
    }
    Ok(len)
}

/// Parses the frame starting at `pos` of `buf`. Never panics and never allocates: the
/// length is trusted only after its own CRC and the [`MAX_RECORD_LEN`] cap.
pub(crate) fn parse_frame(buf: &[u8], pos: usize) -> Frame<'_> {
    let rest = buf.get(pos..).unwrap_or_default();
    let len = match frame_len(rest) {
        Ok(len) => len,
        Err(None) => return Frame::Truncated,
        Err(Some(what)) => return Frame::Invalid(what),
    };
    let (Some(lsn), Some(stored), Some(payload)) = (
        le_u64(rest, FRAME_LSN),
        le_u32(rest, FRAME_PAYLOAD_CRC),
        rest.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len),
    ) else {
        return Frame::Truncated;
    };
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(payload);
    if h.finalize() != stored {
        return Frame::Invalid("record checksum mismatch");
    }
    Frame::Valid {
        lsn,
        payload,
        end: pos + FRAME_HEADER_LEN + len,
    }
}

/// The first offset at or after `from` where a valid frame starts: the resync scan that
/// tells a torn tail from corruption followed by good records, and that salvage uses to
/// skip a bad region.
pub(crate) fn find_next_frame(buf: &[u8], from: usize) -> Option<usize> {
    let last_start = buf.len().checked_sub(FRAME_HEADER_LEN + 1)?;
    (from..=last_start).find(|&p| matches!(parse_frame(buf, p), Frame::Valid { .. }))
}

/// How many records a dropped tail `buf[from..]` held, as far as can be told: one for
/// every frame whose length header verifies (stepping over its length), plus one for a
/// remainder that is not all zeros (a frame header cut short or scrambled). A zero-filled
/// region counts as no record.
pub(crate) fn count_tail_records(buf: &[u8], from: usize) -> u64 {
    let mut n = 0;
    let mut pos = from;
    while let Some(rest) = buf.get(pos..).filter(|r| !r.is_empty()) {
        match frame_len(rest) {
            Ok(len) => {
                n += 1;
                pos = pos.saturating_add(FRAME_HEADER_LEN + len);
            }
            Err(_) => {
                n += u64::from(rest.iter().any(|&b| b != 0));
                break;
            }
        }
    }
    n
}
