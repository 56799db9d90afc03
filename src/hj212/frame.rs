//! The frame around a data segment: `##`, the data segment's length as 4 decimal
//! digits, the data segment, its CRC as 4 hex digits, CR LF.
//!
//! ```text
//! 0      "##"
//! 2      length     4 ASCII decimal digits: bytes in the data segment (0 to 9999)
//! 6      data       `length` bytes: QN=...;ST=...;...;CP=&&...&&
//! 6+len  crc        4 ASCII hex digits: crc16 of the data segment
//! 10+len "\r\n"
//! ```

use super::{FrameError, FrameErrorKind};

/// Bytes of a frame around its data segment: `##`, length, CRC, CR LF.
pub const FRAME_OVERHEAD: usize = DATA_AT + 4 + 2;
/// Longest data segment the 4-digit length field can announce. (The standard caps a
/// data segment at 1024 bytes; longer ones that senders emit are accepted.)
pub const MAX_DATA_LEN: usize = 9999;

/// Offset of the length field.
const LEN_AT: usize = 2;
/// Offset of the data segment.
pub(super) const DATA_AT: usize = LEN_AT + 4;

/// The CRC of HJ 212-2017 appendix A over `data`: start at 0xFFFF; for each byte,
/// `crc = (crc >> 8) ^ byte`, then eight times shift right and XOR 0xA001 when the bit
/// shifted out was set. (Not CRC-16/MODBUS, which XORs the byte into the low end.)
///
/// After `(crc >> 8) ^ byte` the register holds at most 8 bits, so the eight shifts
/// depend on that byte alone and one table lookup replaces them.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0xFFFF, |crc, &b| {
        CRC_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The eight shift-and-XOR rounds of [`crc16`] applied to each byte value.
const CRC_TABLE: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
};

/// Wraps a data segment into a frame. The caller keeps `data` at most
/// [`MAX_DATA_LEN`] bytes.
pub(super) fn wrap(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + FRAME_OVERHEAD);
    out.extend_from_slice(b"##");
    out.extend_from_slice(format!("{:04}", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(format!("{:04X}", crc16(data)).as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

fn err(kind: FrameErrorKind, offset: usize, message: String) -> FrameError {
    FrameError {
        kind,
        offset: Some(offset),
        message,
    }
}

/// Checks the frame around the data segment (header, length, CRC, CR LF) and returns the
/// data segment, which starts at byte [`DATA_AT`] of `frame`.
pub(super) fn unwrap(frame: &[u8]) -> Result<&[u8], FrameError> {
    use FrameErrorKind::{Crc, Header, Length};
    if let Some(k) = (0..2.min(frame.len())).find(|&k| frame[k] != b'#') {
        return Err(err(
            Header,
            k,
            format!(
                "a frame starts with \"##\", not {:?}",
                show(&frame[..2.min(frame.len())])
            ),
        ));
    }
    let mut len = 0usize;
    for k in LEN_AT..DATA_AT {
        match frame.get(k) {
            Some(b) if b.is_ascii_digit() => len = len * 10 + usize::from(b - b'0'),
            Some(&b) => {
                return Err(err(
                    Length,
                    k,
                    format!("length field holds {:?}, not a decimal digit", b as char),
                ))
            }
            None => {
                return Err(err(
                    Length,
                    frame.len(),
                    format!(
                        "frame of {} bytes ends inside its 4-digit length field",
                        frame.len()
                    ),
                ))
            }
        }
    }
    let want = len + FRAME_OVERHEAD;
    if frame.len() != want {
        return Err(err(
            Length,
            LEN_AT,
            format!(
                "length field announces {len} bytes of data, so a frame of {want} bytes, \
                 but the frame has {}",
                frame.len()
            ),
        ));
    }
    let crc_at = DATA_AT + len;
    let data = &frame[DATA_AT..crc_at];
    let mut stored = 0u16;
    for (k, &b) in frame.iter().enumerate().skip(crc_at).take(4) {
        let d = (b as char).to_digit(16).ok_or_else(|| {
            err(
                Crc,
                k,
                format!("CRC field holds {:?}, not a hex digit", b as char),
            )
        })?;
        stored = (stored << 4) | d as u16;
    }
    if &frame[crc_at + 4..] != b"\r\n" {
        return Err(err(
            Header,
            crc_at + 4,
            format!(
                "a frame ends with CR LF, not {:?}",
                show(&frame[crc_at + 4..])
            ),
        ));
    }
    let computed = crc16(data);
    if computed != stored {
        return Err(err(
            Crc,
            crc_at,
            format!("CRC {stored:04X} does not match the data segment's {computed:04X}"),
        ));
    }
    Ok(data)
}

/// Bytes for an error message: UTF-8 with bad bytes replaced.
fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
