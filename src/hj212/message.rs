//! The data segment: `QN=...;ST=..;CN=....;PW=...;MN=...;Flag=.;[PNUM=..;PNO=..;]CP=&&...&&`,
//! parsed into a [`Message`] with every field checked.

use super::frame::{self, DATA_AT};
use super::{FrameError, FrameErrorKind, KNOWN_CNS};
use crate::scan::Zone;

/// Flag bit A: the sender wants an acknowledgement.
pub const FLAG_ACK: u8 = 0b01;
/// Flag bit D: the message is one packet of several (`PNUM` and `PNO` present).
pub const FLAG_SPLIT: u8 = 0b10;
/// Sub-item suffixes whose values are numbers: `code-Rtd`, `code-Avg`, ...
pub const NUMBER_SUFFIXES: [&str; 9] = [
    "Rtd", "Avg", "Min", "Max", "Cou", "ZsRtd", "ZsAvg", "ZsMin", "ZsMax",
];
/// Data flags of `code-Flag`: N normal, F stopped, M maintenance, S set by hand,
/// D fault, C calibration, T over the limit, B communication failure.
pub const DATA_FLAGS: &str = "NFMSDCTB";
/// CNs whose CP must hold a `DataTime`: real-time (2011), minute (2051), hour (2061)
/// and day (2031) data.
pub const DATA_CNS: [u16; 4] = [2011, 2051, 2061, 2031];

/// One parsed message (the data segment of a frame).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Request number, `YYYYMMDDhhmmsszzz` (17 digits); absent in some senders' uploads.
    pub qn: Option<String>,
    /// System code (2 digits), e.g. `32` surface-water pollution source, `91` the
    /// system's own exchanges.
    pub st: String,
    /// Command number, e.g. 2011 real-time data, 9014 data acknowledgement.
    pub cn: u16,
    /// Access password.
    pub pw: String,
    /// Station (data collector) number.
    pub mn: String,
    /// Flag byte: bits 0 ([`FLAG_ACK`]) and 1 ([`FLAG_SPLIT`]), protocol version in
    /// bits 2 to 7 (1 for HJ 212-2017). `None` when the field is absent.
    pub flag: Option<u8>,
    /// Packet count and number when the message is split (Flag bit D).
    pub packet: Option<Packet>,
    /// The CP items (`;`-separated), each a list of sub-items (`,`-separated).
    pub cp: Vec<Vec<CpField>>,
}

/// `PNUM` and `PNO` of a split message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Packets in the message (`PNUM`), at least 1.
    pub total: u16,
    /// This packet's number (`PNO`), 1 to `total`.
    pub number: u16,
}

/// One `key=value` sub-item of CP.
#[derive(Debug, Clone, PartialEq)]
pub struct CpField {
    /// The key, e.g. `DataTime`, `w01018-Rtd`, `RtdInterval`.
    pub key: String,
    /// The value, typed by the key.
    pub value: CpValue,
}

/// A CP value, typed by its key.
#[derive(Debug, Clone, PartialEq)]
pub enum CpValue {
    /// `DataTime`: a local date-time.
    Time(DataTime),
    /// `code-Rtd`, `-Avg`, `-Min`, `-Max`, `-Cou` and their `Zs` forms: a decimal number.
    Number(f64),
    /// `code-Flag`: one of [`DATA_FLAGS`].
    Flag(char),
    /// Any other key: the text as sent.
    Text(String),
}

/// A `YYYYMMDDhhmmss` date-time in the station's local time (a valid calendar date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataTime {
    /// Year, 4 digits.
    pub year: u16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day, 1 to the month's last.
    pub day: u8,
    /// Hour, 0 to 23.
    pub hour: u8,
    /// Minute, 0 to 59.
    pub minute: u8,
    /// Second, 0 to 59.
    pub second: u8,
}

impl DataTime {
    /// Parses `YYYYMMDDhhmmss`; `None` unless it is 14 digits naming a real date-time.
    pub fn parse(s: &str) -> Option<DataTime> {
        let b = s.as_bytes();
        if b.len() != 14 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u16>().ok();
        let t = DataTime {
            year: n(0..4)?,
            month: n(4..6)? as u8,
            day: n(6..8)? as u8,
            hour: n(8..10)? as u8,
            minute: n(10..12)? as u8,
            second: n(12..14)? as u8,
        };
        t.civil().is_some().then_some(t)
    }

    fn civil(&self) -> Option<jiff::civil::DateTime> {
        jiff::civil::DateTime::new(
            i16::try_from(self.year).ok()?,
            self.month as i8,
            self.day as i8,
            self.hour as i8,
            self.minute as i8,
            self.second as i8,
            0,
        )
        .ok()
    }

    /// The instant (UTC Unix seconds) this local time names in `zone`; an error for a
    /// time that a daylight-saving change skips or repeats there, or an invalid one.
    pub fn to_utc(&self, zone: &Zone) -> Result<i64, String> {
        let civil = self
            .civil()
            .ok_or_else(|| format!("DataTime {self} is not a date-time"))?;
        zone.tz()
            .to_ambiguous_timestamp(civil)
            .unambiguous()
            .map(|t| t.as_second())
            .map_err(|_| {
                format!(
                    "DataTime {self} is skipped or repeated by a clock change in {}",
                    zone.name()
                )
            })
    }
}

impl std::fmt::Display for DataTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl Message {
    /// Whether the sender asks for an acknowledgement (Flag bit A).
    pub fn wants_ack(&self) -> bool {
        self.flag.is_some_and(|f| f & FLAG_ACK != 0)
    }

    /// The `DataTime` of the CP, if it has one.
    pub fn data_time(&self) -> Option<DataTime> {
        self.fields().find_map(|f| match f.value {
            CpValue::Time(t) if f.key == "DataTime" => Some(t),
            _ => None,
        })
    }

    /// Every CP sub-item, in order.
    pub fn fields(&self) -> impl Iterator<Item = &CpField> {
        self.cp.iter().flatten()
    }

    /// The 9014 data acknowledgement of an upload (CN 2xxx) that asks for one (Flag
    /// bit A): the same QN, PW and MN, ST 91, the sender's protocol version in Flag,
    /// empty CP. Other commands are answered with 9011/9012, not built here.
    pub fn ack(&self) -> Option<Message> {
        let upload = (2000..3000).contains(&self.cn);
        (upload && self.wants_ack()).then(|| Message {
            qn: self.qn.clone(),
            st: "91".to_owned(),
            cn: 9014,
            pw: self.pw.clone(),
            mn: self.mn.clone(),
            flag: self.flag.map(|f| f & !(FLAG_ACK | FLAG_SPLIT)),
            packet: None,
            cp: Vec::new(),
        })
    }
}

/// Parses one frame (`##`, length, data segment, CRC, CR LF; nothing before or after).
/// Every check names what is wrong and the byte offset in `frame` where it is.
pub fn parse(frame: &[u8]) -> Result<Message, FrameError> {
    let data = frame::unwrap(frame)?;
    parse_data(data, DATA_AT)
}

fn err(kind: FrameErrorKind, offset: usize, message: String) -> FrameError {
    FrameError {
        kind,
        offset: Some(offset),
        message,
    }
}

fn field_err(offset: usize, message: String) -> FrameError {
    err(FrameErrorKind::Field, offset, message)
}

/// Header field names, in the order the standard writes them.
const HEADER_FIELDS: [&str; 8] = ["QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"];

/// Parses a data segment that starts at byte `base` of its frame.
pub(super) fn parse_data(d: &[u8], base: usize) -> Result<Message, FrameError> {
    if let Some(k) = d.iter().position(|b| !(0x20..=0x7e).contains(b)) {
        return Err(field_err(
            base + k,
            format!("byte {:#04x} is not printable ASCII", d[k]),
        ));
    }
    // Printable ASCII is UTF-8.
    let s = std::str::from_utf8(d)
        .map_err(|e| field_err(base + e.valid_up_to(), "not ASCII".into()))?;
    let mut header: [Option<(usize, &str)>; 8] = [None; 8];
    let mut cp = None;
    let mut at = 0;
    while at < s.len() {
        let Some(eq) = find(&s[at..], b'=') else {
            return Err(field_err(
                base + at,
                format!("{:?} is not KEY=VALUE", &s[at..]),
            ));
        };
        let key = &s[at..at + eq];
        let vstart = at + eq + 1;
        if key == "CP" {
            cp = Some(parse_cp(&s[vstart..], base + vstart)?);
            break;
        }
        let Some(idx) = HEADER_FIELDS.iter().position(|h| *h == key) else {
            return Err(field_err(base + at, format!("unknown field {key:?}")));
        };
        let Some(semi) = find(&s[vstart..], b';') else {
            return Err(field_err(
                base + at,
                format!("field {key} does not end with ';' (CP=&&...&& comes last)"),
            ));
        };
        if header[idx].is_some() {
            return Err(field_err(base + at, format!("field {key} given twice")));
        }
        header[idx] = Some((base + vstart, &s[vstart..vstart + semi]));
        at = vstart + semi + 1;
    }
    let Some(cp) = cp else {
        return Err(field_err(
            base + s.len(),
            "no CP=&&...&& field at the end of the data segment".into(),
        ));
    };
    let end = base + s.len();
    let required = |i: usize| {
        header[i].ok_or_else(|| field_err(end, format!("no {} field", HEADER_FIELDS[i])))
    };
    let qn = header[0]
        .map(|f| digits(f, "QN", 17..=17).map(str::to_owned))
        .transpose()?;
    let st = digits(required(1)?, "ST", 2..=2)?.to_owned();
    let cn_field = required(2)?;
    let cn: u16 = digits(cn_field, "CN", 4..=4)?
        .parse()
        .map_err(|_| field_err(cn_field.0, "CN out of range".into()))?;
    if !KNOWN_CNS.contains(&cn) {
        return Err(err(
            FrameErrorKind::UnknownCn,
            cn_field.0,
            format!("CN {cn} is not a command of HJ 212-2017"),
        ));
    }
    let pw = ident(required(3)?, "PW")?;
    let mn = ident(required(4)?, "MN")?;
    let flag = match header[5] {
        None => None,
        Some(f) => Some(
            digits(f, "Flag", 1..=3)?
                .parse::<u8>()
                .map_err(|_| field_err(f.0, format!("Flag {} is over 255", f.1)))?,
        ),
    };
    let split = flag.is_some_and(|f| f & FLAG_SPLIT != 0);
    let packet = match (header[6], header[7]) {
        (None, None) if !split => None,
        (Some(n), Some(k)) if split => {
            let total: u16 = digits(n, "PNUM", 1..=4)?.parse().unwrap_or(0);
            let number: u16 = digits(k, "PNO", 1..=4)?.parse().unwrap_or(0);
            if total == 0 || number == 0 || number > total {
                return Err(field_err(
                    k.0,
                    format!("PNO {number} is not a packet number from 1 to PNUM {total}"),
                ));
            }
            Some(Packet { total, number })
        }
        (n, k) => {
            let at = n.or(k).map_or(header[5].map_or(end, |f| f.0), |f| f.0);
            return Err(field_err(
                at,
                if split {
                    "Flag bit D (split message) is set but PNUM and PNO are not both given".into()
                } else {
                    "PNUM or PNO is given but Flag bit D (split message) is not set".into()
                },
            ));
        }
    };
    let msg = Message {
        qn,
        st,
        cn,
        pw,
        mn,
        flag,
        packet,
        cp: cp.items,
    };
    check_data_time(&msg, cp.time_at, end)?;
    Ok(msg)
}

/// A data message (CN 2011/2051/2061/2031) holds exactly one `DataTime`; any other
/// message at most one.
fn check_data_time(msg: &Message, time_at: Vec<usize>, end: usize) -> Result<(), FrameError> {
    if time_at.len() > 1 {
        return Err(err(
            FrameErrorKind::DataTime,
            time_at[1],
            "DataTime given twice".into(),
        ));
    }
    if time_at.is_empty() && DATA_CNS.contains(&msg.cn) {
        return Err(err(
            FrameErrorKind::DataTime,
            end,
            format!("CN {} data has no DataTime in CP", msg.cn),
        ));
    }
    Ok(())
}

/// A field of `lens` decimal digits.
fn digits<'a>(
    (at, v): (usize, &'a str),
    name: &str,
    lens: std::ops::RangeInclusive<usize>,
) -> Result<&'a str, FrameError> {
    if lens.contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(v);
    }
    let n = if lens.start() == lens.end() {
        lens.start().to_string()
    } else {
        format!("{} to {}", lens.start(), lens.end())
    };
    Err(field_err(
        at,
        format!("{name} {v:?} is not {n} decimal digits"),
    ))
}

/// PW and MN: 1 to 24 letters, digits, `-`, `_` or `.`.
fn ident((at, v): (usize, &str), name: &str) -> Result<String, FrameError> {
    if super::is_ident(v) {
        Ok(v.to_owned())
    } else {
        Err(field_err(
            at,
            format!("{name} {v:?} is not 1 to 24 letters, digits, '-', '_' or '.'"),
        ))
    }
}

struct Cp {
    items: Vec<Vec<CpField>>,
    /// Offsets of the `DataTime` sub-items.
    time_at: Vec<usize>,
}

/// Parses the value of `CP=`, which runs to the end of the data segment: `&&`, items
/// separated by `;`, sub-items by `,`, `&&`.
fn parse_cp(v: &str, base: usize) -> Result<Cp, FrameError> {
    let inner = v
        .strip_prefix("&&")
        .and_then(|r| r.strip_suffix("&&"))
        .filter(|_| v.len() >= 4)
        .ok_or_else(|| {
            field_err(
                base,
                "CP is not &&...&& up to the end of the data segment".into(),
            )
        })?;
    let mut cp = Cp {
        items: Vec::new(),
        time_at: Vec::new(),
    };
    if inner.is_empty() {
        return Ok(cp);
    }
    let mut at = base + 2;
    for item in pieces(inner, b';') {
        if item.is_empty() {
            return Err(field_err(at, "empty CP item".into()));
        }
        let mut fields = Vec::new();
        for sub in pieces(item, b',') {
            fields.push(parse_sub(sub, at, &mut cp.time_at)?);
            at += sub.len() + 1;
        }
        cp.items.push(fields);
    }
    Ok(cp)
}

/// One `key=value` sub-item at byte `at`.
fn parse_sub(sub: &str, at: usize, time_at: &mut Vec<usize>) -> Result<CpField, FrameError> {
    let Some((key, value)) = sub.split_once('=') else {
        return Err(field_err(
            at,
            format!("CP sub-item {sub:?} is not KEY=VALUE"),
        ));
    };
    if !super::is_code(key) {
        return Err(field_err(
            at,
            format!("CP key {key:?} is not letters, digits, '-' and '_'"),
        ));
    }
    let vat = at + key.len() + 1;
    if let Some(k) = value.bytes().position(|b| b == b'=' || b == b'&') {
        return Err(field_err(
            vat + k,
            format!("value of {key} holds {:?}", &value[k..k + 1]),
        ));
    }
    let suffix = super::split_key(key);
    let value = if key == "DataTime" {
        time_at.push(at);
        CpValue::Time(DataTime::parse(value).ok_or_else(|| {
            err(
                FrameErrorKind::DataTime,
                vat,
                format!("DataTime {value:?} is not a date-time YYYYMMDDhhmmss"),
            )
        })?)
    } else if let Some((code, s)) = suffix.filter(|(_, s)| NUMBER_SUFFIXES.contains(s)) {
        if code.is_empty() {
            return Err(field_err(at, format!("{key} has no code before -{s}")));
        }
        CpValue::Number(parse_number(value).ok_or_else(|| {
            err(
                FrameErrorKind::Number,
                vat,
                format!("{key} value {value:?} is not a decimal number"),
            )
        })?)
    } else if let Some((code, _)) = suffix.filter(|(_, s)| *s == "Flag") {
        let mut chars = value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if !code.is_empty() && DATA_FLAGS.contains(c) => CpValue::Flag(c),
            _ => {
                return Err(field_err(
                    vat,
                    format!("{key} value {value:?} is not one of the data flags {DATA_FLAGS}"),
                ))
            }
        }
    } else {
        CpValue::Text(value.to_owned())
    };
    Ok(CpField {
        key: key.to_owned(),
        value,
    })
}

/// A decimal number: optional `-`, digits, optionally `.` and digits; finite.
fn parse_number(v: &str) -> Option<f64> {
    let body = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Position of the first `b` in `s`. (A byte loop: the pieces are a few bytes long, too
/// short for a vectorised search to pay.)
fn find(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|x| x == b)
}

/// The pieces of `s` between `sep` bytes (ASCII), like `str::split`.
fn pieces(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match find(r, sep) {
            Some(k) => {
                rest = Some(&r[k + 1..]);
                Some(&r[..k])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}
