//! Shared by the HJ 212 tests.

/// A frame around `data` with its correct CRC: frames whose content is bad, or that the
/// encoder would not write.
pub fn framed(data: &str) -> Vec<u8> {
    let crc = meterstore::hj212::crc16(data.as_bytes());
    format!("##{:04}{data}{crc:04X}\r\n", data.len()).into_bytes()
}
