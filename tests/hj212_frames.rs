//! HJ 212 frames: the standard's test vector and examples, round trips through the
//! encoder, every truncation and single-byte change of a frame rejected, random bytes
//! and mutated frames never panic, one error per kind with its byte offset, the 9014
//! acknowledgement, and split messages reassembled.

use meterstore::hj212::{
    self, crc16, CpField, CpValue, DataTime, FrameErrorKind, Message, Packet, Reassembler,
};
use proptest::prelude::*;

mod hj212_support;
use hj212_support::framed;

const VECTOR: &[u8] = b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";

/// The standard's real-time data example (CN 2011), two pollutants.
const REALTIME: &str =
    "QN=20160801085857223;ST=32;CN=2011;PW=100000;MN=010000A8900016F000169DC0;Flag=5;\
CP=&&DataTime=20160801085857;w01018-Rtd=86.5,w01018-Flag=N;w21003-Rtd=1.29,w21003-Flag=T&&";
/// Minute data (CN 2051) with -Min/-Avg/-Max/-Cou.
const MINUTE: &str = "QN=20160801090000001;ST=32;CN=2051;PW=100000;MN=010000A8900016F000169DC0;Flag=4;\
CP=&&DataTime=20160801085000;w00000-Min=0.0,w00000-Avg=1.5,w00000-Max=3.25,w00000-Cou=90.0,w00000-Flag=N&&";

#[test]
fn the_test_vector_parses_and_its_crc_verifies() {
    let data = &VECTOR[6..VECTOR.len() - 6];
    assert_eq!(data.len(), 101);
    assert_eq!(crc16(data), 0x1C80);
    // CRC-16/MODBUS of the same bytes is another number: the standard's algorithm is not it.
    let mut modbus: u16 = 0xFFFF;
    for &b in data {
        modbus ^= u16::from(b);
        for _ in 0..8 {
            modbus = if modbus & 1 != 0 {
                (modbus >> 1) ^ 0xA001
            } else {
                modbus >> 1
            };
        }
    }
    assert_ne!(modbus, 0x1C80);
    let m = hj212::parse(VECTOR).unwrap();
    assert_eq!(m.qn.as_deref(), Some("20160801085857223"));
    assert_eq!((m.st.as_str(), m.cn, m.pw.as_str()), ("32", 1062, "100000"));
    assert_eq!(m.mn, "010000A8900016F000169DC0");
    assert_eq!(m.flag, Some(5));
    assert!(m.wants_ack());
    assert_eq!(m.packet, None);
    assert_eq!(
        m.cp,
        vec![vec![CpField {
            key: "RtdInterval".into(),
            value: CpValue::Text("30".into())
        }]]
    );
    // The encoder writes the same bytes back.
    assert_eq!(m.encode().unwrap(), VECTOR);
}

#[test]
fn data_examples_parse_with_typed_values() {
    let m = hj212::parse(&framed(REALTIME)).unwrap();
    assert_eq!(m.cn, 2011);
    assert_eq!(
        m.data_time(),
        Some(DataTime {
            year: 2016,
            month: 8,
            day: 1,
            hour: 8,
            minute: 58,
            second: 57
        })
    );
    assert_eq!(m.cp.len(), 3);
    assert_eq!(m.cp[1][0].value, CpValue::Number(86.5));
    assert_eq!(m.cp[2][1].value, CpValue::Flag('T'));
    let m = hj212::parse(&framed(MINUTE)).unwrap();
    let nums: Vec<f64> = m
        .fields()
        .filter_map(|f| match f.value {
            CpValue::Number(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(nums, [0.0, 1.5, 3.25, 90.0]);
    assert!(!m.wants_ack());
}

#[test]
fn the_ack_is_9014_echoing_the_qn() {
    let m = hj212::parse(&framed(REALTIME)).unwrap();
    let ack = m.ack().unwrap();
    assert_eq!(
        String::from_utf8(ack.encode().unwrap()).unwrap(),
        format!(
            "##0087QN=20160801085857223;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&{:04X}\r\n",
            crc16(b"QN=20160801085857223;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&")
        )
    );
    assert_eq!(ack.ack(), None, "an acknowledgement asks for none");
    // Commands other than uploads are answered with 9011/9012, not 9014.
    assert!(hj212::parse(VECTOR).unwrap().wants_ack());
    assert_eq!(hj212::parse(VECTOR).unwrap().ack(), None);
    assert_eq!(hj212::parse(&framed(MINUTE)).unwrap().ack(), None);
}

#[test]
fn every_truncation_is_an_error() {
    for frame in [VECTOR.to_vec(), framed(REALTIME), framed(MINUTE)] {
        for n in 0..frame.len() {
            let e = hj212::parse(&frame[..n]).expect_err("a truncated frame must not parse");
            assert!(e.offset.is_some_and(|o| o <= n), "{n}: {e}");
        }
        // And every frame with a byte too many.
        for k in 0..=frame.len() {
            let mut longer = frame.clone();
            longer.insert(k, b'0');
            assert!(hj212::parse(&longer).is_err(), "insertion at {k}");
        }
    }
}

#[test]
fn every_single_byte_change_is_an_error() {
    for frame in [VECTOR.to_vec(), framed(REALTIME), framed(MINUTE)] {
        let crc_at = frame.len() - 6;
        let original = hj212::parse(&frame).unwrap();
        for k in 0..frame.len() {
            for v in 0..=255u8 {
                if v == frame[k] {
                    continue;
                }
                let mut bad = frame.clone();
                bad[k] = v;
                match hj212::parse(&bad) {
                    Err(e) => assert!(e.offset.is_some(), "{e}"),
                    // The CRC's hex digits are read in either case: a letter's case
                    // change there names the same CRC and the same message.
                    Ok(m) => {
                        assert!(
                            (crc_at..crc_at + 4).contains(&k)
                                && frame[k].is_ascii_alphabetic()
                                && v.eq_ignore_ascii_case(&frame[k]),
                            "byte {k} changed to {v:#04x} still parses"
                        );
                        assert_eq!(m, original);
                    }
                }
            }
        }
    }
}

/// One case per kind of error: the data segment (framed with a correct CRC), the kind,
/// the byte offset of the problem in the frame, and a word of the message.
#[test]
fn each_malformed_field_is_named_with_its_offset() {
    let head = "QN=20160801085857223;ST=32;CN=2011;PW=100000;MN=MN1;Flag=4;";
    // The offset of the needle's last occurrence; an empty needle is the segment's end.
    let at = |s: &str, needle: &str| 6 + s.rfind(needle).unwrap();
    let cases: Vec<(String, FrameErrorKind, &str, &str)> = vec![
        (
            format!("{head}CP=&&DataTime=20160801085857;a-Rtd=1.5x&&"),
            FrameErrorKind::Number,
            "1.5x",
            "decimal",
        ),
        (
            format!("{head}CP=&&DataTime=20160801085857;a-Avg=&&"),
            FrameErrorKind::Number,
            "&&",
            "decimal",
        ),
        (
            format!("{head}CP=&&DataTime=20160801085857;a-Cou=1e5&&"),
            FrameErrorKind::Number,
            "1e5",
            "decimal",
        ),
        (
            format!("{head}CP=&&DataTime=20160801085857;a-Max=.5&&"),
            FrameErrorKind::Number,
            ".5",
            "decimal",
        ),
        (
            format!("{head}CP=&&DataTime=20160231085857;a-Rtd=1&&"),
            FrameErrorKind::DataTime,
            "20160231",
            "date-time",
        ),
        (
            format!("{head}CP=&&DataTime=2016080108585;a-Rtd=1&&"),
            FrameErrorKind::DataTime,
            "2016080108585",
            "date-time",
        ),
        (
            format!("{head}CP=&&a-Rtd=1&&"),
            FrameErrorKind::DataTime,
            "",
            "no DataTime",
        ),
        (
            format!("{head}CP=&&DataTime=20160801085857;DataTime=20160801085857&&"),
            FrameErrorKind::DataTime,
            "DataTime=20160801085857&&",
            "twice",
        ),
        (
            "QN=20160801085857223;ST=32;CN=2099;PW=1;MN=M;CP=&&&&".into(),
            FrameErrorKind::UnknownCn,
            "2099",
            "2099",
        ),
        (
            "QN=2016080108585722;ST=32;CN=9014;PW=1;MN=M;CP=&&&&".into(),
            FrameErrorKind::Field,
            "2016080108585722",
            "QN",
        ),
        (
            "ST=3;CN=9014;PW=1;MN=M;CP=&&&&".into(),
            FrameErrorKind::Field,
            "3;",
            "ST",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;XX=1;CP=&&&&".into(),
            FrameErrorKind::Field,
            "XX",
            "unknown field",
        ),
        (
            "ST=32;ST=32;CN=9014;PW=1;MN=M;CP=&&&&".into(),
            FrameErrorKind::Field,
            "ST=32;CN",
            "twice",
        ),
        (
            "ST=32;CN=9014;PW=1;CP=&&&&".into(),
            FrameErrorKind::Field,
            "",
            "MN",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=a b;CP=&&&&".into(),
            FrameErrorKind::Field,
            "a b",
            "MN",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;CP=&&".into(),
            FrameErrorKind::Field,
            "&&",
            "CP",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;CP=&&a=1;;b=2&&".into(),
            FrameErrorKind::Field,
            ";b=2",
            "empty CP item",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;CP=&&a=1,b&&".into(),
            FrameErrorKind::Field,
            "b&&",
            "KEY=VALUE",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;CP=&&a-Flag=X&&".into(),
            FrameErrorKind::Field,
            "X&&",
            "flag",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;Flag=256;CP=&&&&".into(),
            FrameErrorKind::Field,
            "256",
            "255",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;Flag=6;CP=&&&&".into(),
            FrameErrorKind::Field,
            "6;",
            "PNUM",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;Flag=4;PNUM=2;PNO=1;CP=&&&&".into(),
            FrameErrorKind::Field,
            "2;PNO",
            "bit D",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;Flag=6;PNUM=2;PNO=3;CP=&&&&".into(),
            FrameErrorKind::Field,
            "3;CP",
            "PNO",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M;CP=&&x=\u{7f}&&".into(),
            FrameErrorKind::Field,
            "\u{7f}",
            "printable",
        ),
        (
            "ST=32;CN=9014;PW=1;MN=M".into(),
            FrameErrorKind::Field,
            "MN=M",
            "CP",
        ),
    ];
    for (data, kind, needle, word) in cases {
        let e = hj212::parse(&framed(&data)).expect_err(&data);
        assert_eq!(e.kind, kind, "{data}: {e}");
        assert_eq!(e.offset, Some(at(&data, needle)), "{data}: {e}");
        assert!(
            e.to_string().to_lowercase().contains(&word.to_lowercase()),
            "{data}: {e} does not say {word:?}"
        );
    }
}

#[test]
fn framing_errors_name_length_crc_and_delimiters() {
    let mut bad_len = VECTOR.to_vec();
    bad_len[5] = b'2'; // ##0102
    let e = hj212::parse(&bad_len).unwrap_err();
    assert_eq!((e.kind, e.offset), (FrameErrorKind::Length, Some(2)));
    assert!(e.to_string().contains("102"), "{e}");
    let mut bad_crc = VECTOR.to_vec();
    let n = bad_crc.len();
    bad_crc[n - 3] = b'1'; // 1C81
    let e = hj212::parse(&bad_crc).unwrap_err();
    assert_eq!((e.kind, e.offset), (FrameErrorKind::Crc, Some(n - 6)));
    assert!(
        e.to_string().contains("1C81") && e.to_string().contains("1C80"),
        "{e}"
    );
    let e = hj212::parse(&VECTOR[..n - 1]).unwrap_err();
    assert_eq!(e.kind, FrameErrorKind::Length);
    let mut lf = VECTOR.to_vec();
    lf[n - 2] = b'\n';
    let e = hj212::parse(&lf).unwrap_err();
    assert_eq!((e.kind, e.offset), (FrameErrorKind::Header, Some(n - 2)));
    let e = hj212::parse(b"#*0000").unwrap_err();
    assert_eq!((e.kind, e.offset), (FrameErrorKind::Header, Some(1)));
    let e = hj212::parse(b"##00a1").unwrap_err();
    assert_eq!((e.kind, e.offset), (FrameErrorKind::Length, Some(4)));
}

#[test]
fn the_encoder_refuses_what_would_not_come_back() {
    let mut m = hj212::parse(&framed(REALTIME)).unwrap();
    m.cp[1][0].value = CpValue::Number(f64::NAN);
    assert!(m.encode().is_err());
    let mut m = hj212::parse(&framed(REALTIME)).unwrap();
    m.cp[1][0].value = CpValue::Text("86.5".into()); // a text under an -Rtd key
    assert!(m.encode().is_err());
    let mut m = hj212::parse(&framed(REALTIME)).unwrap();
    m.mn = "has;semicolon".into();
    assert!(m.encode().is_err());
    m.mn = "M".into();
    m.cp = vec![vec![CpField {
        key: "x".into(),
        value: CpValue::Text("y".repeat(10_000)),
    }]];
    assert!(m.encode().unwrap_err().to_string().contains("9999"));
}

fn split(whole: &Message, parts: usize) -> Vec<Message> {
    let chunks: Vec<_> = whole.cp.chunks(whole.cp.len().div_ceil(parts)).collect();
    let total = chunks.len() as u16;
    chunks
        .into_iter()
        .enumerate()
        .map(|(k, items)| {
            let mut p = whole.clone();
            p.flag = Some(whole.flag.unwrap_or(4) | hj212::FLAG_SPLIT);
            p.packet = Some(Packet {
                total,
                number: k as u16 + 1,
            });
            p.cp = items.to_vec();
            if k > 0 {
                p.cp.insert(0, whole.cp[0].clone()); // each packet repeats the DataTime
            }
            p
        })
        .collect()
}

#[test]
fn split_messages_are_reassembled_in_packet_order() {
    let data = "QN=20160801085857223;ST=32;CN=2011;PW=100000;MN=M1;Flag=4;\
CP=&&DataTime=20160801085857;a-Rtd=1;b-Rtd=2;c-Rtd=3;d-Rtd=4;e-Rtd=5&&";
    let whole = hj212::parse(&framed(data)).unwrap();
    let packets: Vec<Message> = split(&whole, 3)
        .iter()
        .map(|p| hj212::parse(&p.encode().unwrap()).unwrap())
        .collect();
    let mut r = Reassembler::new(16);
    assert_eq!(r.push(packets[2].clone(), 3).unwrap(), None);
    assert_eq!(r.push(packets[0].clone(), 1).unwrap(), None);
    assert_eq!(
        r.push(packets[0].clone(), 1).unwrap(),
        None,
        "a resend is ignored"
    );
    assert_eq!(r.pending(), 1);
    assert_eq!(r.push(packets[1].clone(), 2).unwrap(), Some(whole.clone()));
    assert_eq!(r.pending(), 0);
    // A message that is not split passes straight through.
    assert_eq!(r.push(whole.clone(), 9).unwrap(), Some(whole.clone()));
    // A packet that contradicts its siblings.
    r.push(packets[0].clone(), 1).unwrap();
    let mut other = packets[1].clone();
    other.packet = Some(Packet {
        total: 4,
        number: 2,
    });
    let e = r.push(other, 2).unwrap_err();
    assert_eq!(e.kind, FrameErrorKind::Packet);
    assert!(e.to_string().contains("PNUM"), "{e}");
    let mut changed = packets[0].clone();
    changed.cp[1][0].value = CpValue::Number(9.0);
    assert!(r
        .push(changed, 1)
        .unwrap_err()
        .to_string()
        .contains("twice"));
    let mut late = packets[1].clone();
    late.cp[0][0].value = CpValue::Time(DataTime::parse("20160801090000").unwrap());
    r.push(packets[2].clone(), 3).unwrap();
    assert!(r
        .push(late, 2)
        .unwrap_err()
        .to_string()
        .contains("DataTime"));
    // Incomplete messages are reported with their tags; the oldest is evicted first.
    let mut r = Reassembler::new(1);
    r.push(packets[0].clone(), 10).unwrap();
    let mut second = packets[1].clone();
    second.qn = Some("20160801085857224".into());
    r.push(second, 20).unwrap();
    let evicted = r.take_evicted();
    assert_eq!(evicted.len(), 1);
    assert_eq!(
        (evicted[0].total, evicted[0].received.clone()),
        (3, vec![(1, 10)])
    );
    let left = r.finish();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].qn, "20160801085857224");
    assert_eq!(left[0].received, vec![(2, 20)]);
    assert_eq!(r.pending(), 0);
}

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,24}"
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1_000_000_000i64..1_000_000_000, 0u32..7)
            .prop_map(|(m, s)| m as f64 / 10f64.powi(s as i32)),
        any::<f64>().prop_filter("finite", |v| v.is_finite() && v.abs() < 1e30),
    ]
}

fn field() -> impl Strategy<Value = CpField> {
    let code = "[a-z][0-9a-z]{1,7}";
    prop_oneof![
        (
            code,
            prop::sample::select(hj212::NUMBER_SUFFIXES.to_vec()),
            number()
        )
            .prop_map(|(c, s, v)| CpField {
                key: format!("{c}-{s}"),
                value: CpValue::Number(v)
            }),
        (
            code,
            prop::sample::select(hj212::DATA_FLAGS.chars().collect::<Vec<_>>())
        )
            .prop_map(|(c, f)| CpField {
                key: format!("{c}-Flag"),
                value: CpValue::Flag(f)
            }),
        ("[A-Z][A-Za-z]{0,12}", "[A-Za-z0-9 .:_-]{0,12}").prop_map(|(k, v)| CpField {
            key: k,
            value: CpValue::Text(v)
        }),
    ]
    .prop_filter("DataTime is typed", |f| f.key != "DataTime")
}

fn data_time() -> impl Strategy<Value = DataTime> {
    (1970u16..2100, 1u8..13, 1u8..29, 0u8..24, 0u8..60, 0u8..60).prop_map(
        |(year, month, day, hour, minute, second)| DataTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    (
        proptest::option::of("[0-9]{17}"),
        "[0-9]{2}",
        prop::sample::select(hj212::KNOWN_CNS.to_vec()),
        ident(),
        ident(),
        proptest::option::of(any::<u8>().prop_map(|f| f & !hj212::FLAG_SPLIT)),
        data_time(),
        proptest::collection::vec(proptest::collection::vec(field(), 1..5), 0..8),
    )
        .prop_map(|(qn, st, cn, pw, mn, flag, t, mut cp)| {
            if hj212::DATA_CNS.contains(&cn) || !cp.is_empty() {
                cp.insert(
                    0,
                    vec![CpField {
                        key: "DataTime".into(),
                        value: CpValue::Time(t),
                    }],
                );
            }
            Message {
                qn,
                st,
                cn,
                pw,
                mn,
                flag,
                packet: None,
                cp,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encoded_messages_parse_back_equal(m in message()) {
        let frame = m.encode().unwrap();
        prop_assert_eq!(hj212::parse(&frame).unwrap(), m.clone());
        prop_assert!(frame.starts_with(b"##") && frame.ends_with(b"\r\n"));
        if let Some(ack) = m.ack() {
            prop_assert_eq!(hj212::parse(&ack.encode().unwrap()).unwrap(), ack);
        }
    }

    /// A data message cut into packets (each repeating the DataTime) and sent in any
    /// rotation, with a packet resent before the last arrives, comes back whole.
    #[test]
    fn split_messages_come_back_whole_in_any_order(
        m in message(),
        parts in 1usize..6,
        order in any::<prop::sample::Index>(),
        resend in any::<prop::sample::Index>(),
    ) {
        let mut whole = m;
        whole.cn = 2051;
        whole.qn = Some("20240101000000000".into());
        prop_assume!(whole.cp.len() > parts);
        let mut packets = split(&whole, parts);
        let n = packets.len();
        packets.rotate_left(order.index(n));
        if n > 1 {
            let j = resend.index(n - 1);
            packets.insert(j + 1, packets[j].clone());
        }
        let mut r = Reassembler::new(4);
        let mut done = Vec::new();
        for (k, p) in packets.into_iter().enumerate() {
            let p = hj212::parse(&p.encode().unwrap()).unwrap();
            done.extend(r.push(p, k).unwrap());
        }
        let mut want = whole.clone();
        want.flag = Some(whole.flag.unwrap_or(4));
        prop_assert_eq!(done, vec![want]);
        prop_assert!(r.finish().is_empty());
    }

    /// The CRC against the standard's bit-by-bit description.
    #[test]
    fn crc_matches_the_bitwise_algorithm(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut crc: u16 = 0xFFFF;
        for &b in &bytes {
            crc = (crc >> 8) ^ u16::from(b);
            for _ in 0..8 {
                let low = crc & 1;
                crc >>= 1;
                if low != 0 {
                    crc ^= 0xA001;
                }
            }
        }
        prop_assert_eq!(crc16(&bytes), crc);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = hj212::parse(&bytes);
        let mut b = b"##".to_vec();
        b.extend_from_slice(&bytes);
        let _ = hj212::parse(&b);
    }

    /// Frames with several bytes changed, inserted or removed: an error with an offset
    /// inside the frame, or (when the CRC is fixed up after the change) a message that
    /// encodes back to a frame that parses to itself.
    #[test]
    fn mutated_frames_are_errors_or_consistent_messages(
        m in message(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        fix_crc in any::<bool>(),
    ) {
        let mut frame = m.encode().unwrap();
        let mut data = frame[6..frame.len() - 6].to_vec();
        for (at, byte, op) in &edits {
            let target = if fix_crc { &mut data } else { &mut frame };
            match op {
                0 if !target.is_empty() => { let k = at.index(target.len()); target[k] = *byte; }
                1 => { let k = at.index(target.len() + 1); target.insert(k, *byte); }
                _ if !target.is_empty() => { let k = at.index(target.len()); target.remove(k); }
                _ => {}
            }
        }
        if fix_crc {
            frame = format!("##{:04}", data.len()).into_bytes();
            frame.extend_from_slice(&data);
            frame.extend_from_slice(format!("{:04X}\r\n", crc16(&data)).as_bytes());
        }
        match hj212::parse(&frame) {
            Err(e) => prop_assert!(e.offset.is_some_and(|o| o <= frame.len()), "{}", e),
            Ok(back) => {
                let again = back.encode().unwrap();
                prop_assert_eq!(hj212::parse(&again).unwrap(), back);
            }
        }
    }
}
