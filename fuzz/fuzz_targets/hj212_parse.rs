//! The HJ 212 parser on arbitrary bytes: it never panics, and whatever it accepts the
//! encoder writes back to a frame that parses to the same message. Each input is tried
//! as a whole frame and as a data segment framed with its correct length and CRC, so
//! that mutations reach the field parser instead of stopping at the CRC.
//!
//! `cargo +nightly fuzz run hj212_parse` (from the repository root; needs cargo-fuzz).

#![no_main]

use libfuzzer_sys::fuzz_target;
use meterstore::hj212;

fn check(frame: &[u8]) {
    if let Ok(msg) = hj212::parse(frame) {
        let again = msg.encode().expect("a parsed message encodes");
        assert_eq!(hj212::parse(&again).expect("an encoded frame parses"), msg);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() <= hj212::MAX_DATA_LEN {
        let mut frame = format!("##{:04}", data.len()).into_bytes();
        frame.extend_from_slice(data);
        frame.extend_from_slice(format!("{:04X}\r\n", hj212::crc16(data)).as_bytes());
        check(&frame);
    }
});
