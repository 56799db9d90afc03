//! Building frames: a [`Message`] written back to bytes, fields in the standard's order.

use super::frame::{self, MAX_DATA_LEN};
use super::message::{parse, CpValue, Message};
use crate::error::{Error, Result};
use std::fmt::Write;

impl Message {
    /// The data segment: `QN=...;ST=..;CN=....;PW=...;MN=...;Flag=.;[PNUM=..;PNO=..;]CP=&&...&&`,
    /// numbers in their shortest form that reads back to the same `f64`.
    pub fn data_segment(&self) -> String {
        let mut s = String::with_capacity(64 + 24 * self.cp.len());
        if let Some(qn) = &self.qn {
            let _ = write!(s, "QN={qn};");
        }
        let _ = write!(
            s,
            "ST={};CN={};PW={};MN={};",
            self.st, self.cn, self.pw, self.mn
        );
        if let Some(f) = self.flag {
            let _ = write!(s, "Flag={f};");
        }
        if let Some(p) = self.packet {
            let _ = write!(s, "PNUM={};PNO={};", p.total, p.number);
        }
        s.push_str("CP=&&");
        for (i, item) in self.cp.iter().enumerate() {
            if i > 0 {
                s.push(';');
            }
            for (j, f) in item.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                let _ = match &f.value {
                    CpValue::Time(t) => write!(s, "{}={t}", f.key),
                    CpValue::Number(v) => write!(s, "{}={v}", f.key),
                    CpValue::Flag(c) => write!(s, "{}={c}", f.key),
                    CpValue::Text(t) => write!(s, "{}={t}", f.key),
                };
            }
        }
        s.push_str("&&");
        s
    }

    /// The whole frame of this message, ready to send. The frame is parsed back before it
    /// is returned: a message that would not come back equal (a field the parser
    /// rejects, a value whose type does not match its key, a non-finite number, a data
    /// segment over 9999 bytes) is an [`Error::InvalidArgument`] naming the problem.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let data = self.data_segment();
        if data.len() > MAX_DATA_LEN {
            return Err(Error::InvalidArgument(format!(
                "HJ 212 data segment of {} bytes is over the {MAX_DATA_LEN} the length field holds",
                data.len()
            )));
        }
        let frame = frame::wrap(data.as_bytes());
        match parse(&frame) {
            Ok(back) if back == *self => Ok(frame),
            Ok(_) => Err(Error::InvalidArgument(
                "HJ 212 message would parse back differently: a CP value's type does not \
                 match its key (DataTime a time, -Rtd/-Avg/-Min/-Max/-Cou numbers, -Flag a flag)"
                    .into(),
            )),
            Err(e) => Err(Error::InvalidArgument(format!(
                "HJ 212 message does not make a valid frame: {e}"
            ))),
        }
    }
}
