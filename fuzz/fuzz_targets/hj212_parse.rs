//! The HJ 212 parser on arbitrary bytes: it never panics, and whatever it accepts the
//! encoder writes back to a frame that parses to the same message.
//!
//! `cargo +nightly fuzz run hj212_parse` (from the repository root; needs cargo-fuzz).

#![no_main]

use libfuzzer_sys::fuzz_target;
use meterstore::hj212;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = hj212::parse(data) {
        let frame = msg.encode().expect("a parsed message encodes");
        assert_eq!(hj212::parse(&frame).expect("an encoded frame parses"), msg);
    }
});
