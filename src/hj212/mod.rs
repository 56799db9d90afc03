//! HJ 212-2017 (污染物在线监控(监测)系统数据传输标准) frames: parse, build, acknowledge,
//! reassemble split messages, and map data to meters.
//!
//! A frame is `##`, the data segment's length as 4 decimal digits, the data segment,
//! its [`crc16`] as 4 hex digits, CR LF. The data segment holds `QN`, `ST`, `CN`, `PW`,
//! `MN`, `Flag` (bit A: acknowledgement wanted; bit D: `PNUM`/`PNO` present) and
//! `CP=&&...&&`: items separated by `;`, sub-items `key=value` by `,`, such as
//! `DataTime=20240101080000` and `i33201-Rtd=1234.5,i33201-Flag=N`.
//!
//! - [`parse`] checks a frame and returns a [`Message`]; every problem is a
//!   [`FrameError`] naming what is wrong and the byte offset.
//! - [`Message::encode`] builds a frame; [`Message::ack`] the 9014 acknowledgement.
//! - [`Reassembler`] joins the packets of split messages.
//! - [`Hj212Map`] turns data messages (CN 2011 real-time, 2051 minute, 2061 hour, 2031
//!   day) into readings of the catalog's meters (columns `hj212_mn` and `hj212_code`).
//!
//! ```
//! use meterstore::hj212::{self, CpField, CpValue, DataTime};
//! // The standard's test vector: CRC 1C80 over the 101-byte data segment.
//! let frame = b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;\
//!     MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";
//! let msg = hj212::parse(frame)?;
//! assert_eq!((msg.cn, msg.mn.as_str()), (1062, "010000A8900016F000169DC0"));
//! // Real-time data from the same station, asking for an acknowledgement (Flag=5).
//! let time = DataTime::parse("20160801085857").expect("a date-time");
//! let data = hj212::Message {
//!     cn: 2011,
//!     cp: vec![
//!         vec![CpField { key: "DataTime".into(), value: CpValue::Time(time) }],
//!         vec![CpField { key: "i33201-Rtd".into(), value: CpValue::Number(1234.5) }],
//!     ],
//!     ..msg
//! };
//! assert_eq!(hj212::parse(&data.encode()?)?, data);
//! let ack = data.ack().expect("Flag bit A asks for an acknowledgement");
//! assert_eq!(ack.data_segment(),
//!     "QN=20160801085857223;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod build;
mod frame;
mod map;
mod message;
mod reassemble;

pub use frame::{crc16, FRAME_OVERHEAD, MAX_DATA_LEN};
pub use map::{Hj212Map, MapOutcome, MappedReading};
pub use message::{
    parse, CpField, CpValue, DataTime, Message, Packet, DATA_CNS, DATA_FLAGS, FLAG_ACK, FLAG_SPLIT,
    NUMBER_SUFFIXES,
};
pub use reassemble::{Incomplete, Reassembler};

/// The command numbers (CN) of HJ 212-2017: initialisation and parameters (1000-1072),
/// data uploads (2011-2081), control (3011-3021) and the exchanges (9011-9014).
pub const KNOWN_CNS: [u16; 33] = [
    1000, 1011, 1012, 1013, 1061, 1062, 1063, 1064, 1072, 2011, 2012, 2021, 2022, 2031, 2041, 2051,
    2061, 2081, 3011, 3012, 3013, 3014, 3015, 3016, 3017, 3018, 3019, 3020, 3021, 9011, 9012, 9013,
    9014,
];

/// What kind of check a frame failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameErrorKind {
    /// Not `##` at the start or not CR LF at the end.
    Header,
    /// The length field is not 4 digits or does not match the frame.
    Length,
    /// The CRC field is not 4 hex digits or does not match the data segment.
    Crc,
    /// A header field or CP sub-item is missing, repeated, unknown or malformed.
    Field,
    /// A `-Rtd`/`-Avg`/`-Min`/`-Max`/`-Cou` value is not a decimal number.
    Number,
    /// A `DataTime` is not a date-time, repeated, or missing from data.
    DataTime,
    /// The CN is not a command of HJ 212-2017.
    UnknownCn,
    /// The packets of a split message do not fit together.
    Packet,
    /// Data that cannot feed its meter (off its interval grid, another interval, a
    /// local time the zone skips or repeats).
    Mapping,
}

impl FrameErrorKind {
    fn describe(self) -> &'static str {
        match self {
            FrameErrorKind::Header => "bad frame delimiters",
            FrameErrorKind::Length => "bad length",
            FrameErrorKind::Crc => "bad CRC",
            FrameErrorKind::Field => "bad field",
            FrameErrorKind::Number => "bad number",
            FrameErrorKind::DataTime => "bad DataTime",
            FrameErrorKind::UnknownCn => "unknown CN",
            FrameErrorKind::Packet => "bad split message",
            FrameErrorKind::Mapping => "data does not fit its meter",
        }
    }
}

/// A frame or message that was rejected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The check that failed.
    pub kind: FrameErrorKind,
    /// Byte offset in the frame where the problem is (`None` for problems of a whole
    /// message: split packets, mapping).
    pub offset: Option<usize>,
    /// What is wrong, for people.
    pub message: String,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(at) => write!(f, "{} at byte {at}: {}", self.kind.describe(), self.message),
            None => write!(f, "{}: {}", self.kind.describe(), self.message),
        }
    }
}

impl std::error::Error for FrameError {}

/// Whether `s` can be an MN or PW: 1 to 24 letters, digits, `-`, `_` or `.`.
pub(crate) fn is_ident(s: &str) -> bool {
    (1..=24).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `s` can be a code in a CP key (`code-Rtd`): letters, digits, `-`, `_`.
pub(crate) fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// A CP key `code-Suffix` split at its last `-`, or `None` without one. (The code may be
/// empty here; the parser rejects that for typed suffixes.)
pub(crate) fn split_key(key: &str) -> Option<(&str, &str)> {
    let k = key.bytes().rposition(|b| b == b'-')?;
    Some((&key[..k], &key[k + 1..]))
}
