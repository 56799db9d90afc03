//! The `import_hj212` example's core (`examples/common/hj212.rs`) end to end: a generated
//! log of frames (two stations, real-time, minute and hour data, a split message,
//! non-data frames, an unknown station and code) imported through a meters CSV with HJ
//! 212 columns; the store holds exactly the expected readings, plain and gzip; importing
//! again changes nothing; bad lines are named and nothing is imported unless skipped.

#[allow(dead_code, reason = "the module is shared: this test uses part of it")]
#[path = "../examples/common/mod.rs"]
mod common;

use common::hj212::run;
use common::import::{ImportConfig, ImportError};
use common::time::Tz;
use meterstore::hj212::{CpField, CpValue, DataTime, Message, Packet, FLAG_SPLIT};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

type Rows = BTreeMap<(String, i64), f64>;

const METERS_CSV: &str = "meter_id,enterprise_id,role,kind,interval_s,unit,hj212_mn,hj212_code
REG1,E1,production,cumulative_register,0,kWh,ST01,i33201
EN1,E1,production,interval_energy,600,kWh,ST01,i33202
POW2,E2,treatment,power,600,kW,ST02,p01
HOUR2,E2,treatment,interval_energy,3600,kWh,ST02,i33202
";

/// 2024-03-01T00:00:00+08:00.
const T0: i64 = 1_709_222_400;
const CHINA: i64 = 8 * 3600;

fn data_time(ts: i64) -> DataTime {
    let s = jiff::Timestamp::from_second(ts + CHINA)
        .unwrap()
        .strftime("%Y%m%d%H%M%S")
        .to_string();
    DataTime::parse(&s).unwrap()
}

fn num(key: &str, v: f64) -> CpField {
    CpField {
        key: key.into(),
        value: CpValue::Number(v),
    }
}

fn flag(code: &str) -> CpField {
    flag_as(code, 'N')
}

fn flag_as(code: &str, letter: char) -> CpField {
    CpField {
        key: format!("{code}-Flag"),
        value: CpValue::Flag(letter),
    }
}

/// The flag the minute data of EN1 carries at interval `k` (every seventh in maintenance).
fn en1_flag(k: i64) -> char {
    if k % 7 == 0 {
        'M'
    } else {
        'N'
    }
}

fn message(mn: &str, cn: u16, ts: i64, items: Vec<Vec<CpField>>) -> Message {
    let mut cp = vec![vec![CpField {
        key: "DataTime".into(),
        value: CpValue::Time(data_time(ts)),
    }]];
    cp.extend(items);
    Message {
        qn: Some(format!("{}000", data_time(ts))),
        st: "32".into(),
        cn,
        pw: "123456".into(),
        mn: mn.into(),
        flag: Some(5),
        packet: None,
        cp,
    }
}

fn line(m: &Message) -> String {
    String::from_utf8(m.encode().unwrap()).unwrap()
}

/// A day of frames and the readings they must leave in the store.
fn log() -> (String, Rows) {
    let mut out = String::new();
    let mut want = Rows::new();
    let mut put = |m: &str, ts: i64, v: f64| want.insert((m.to_owned(), ts), v);
    let mut register = 10_000.0;
    for k in 0..144 {
        let ts = T0 + k * 600;
        // Real-time register readings every 5 minutes (irregular meter), with an unknown code.
        for half in 0..2 {
            let t = ts + half * 300 + 7;
            register += 0.125 * ((k + half) % 9) as f64;
            let m = message(
                "ST01",
                2011,
                t,
                vec![
                    vec![num("i33201-Rtd", register), flag("i33201")],
                    vec![num("w00000-Rtd", 1.0)],
                ],
            );
            out.push_str(&line(&m));
            put("REG1", t, register);
        }
        // Minute data (10-minute intervals) of energy; the stations' day data alongside.
        let e = ((k * 37) % 100) as f64 / 8.0;
        let m = message(
            "ST01",
            2051,
            ts,
            vec![vec![
                num("i33202-Cou", e),
                num("i33202-Avg", e * 6.0),
                flag_as("i33202", en1_flag(k)),
            ]],
        );
        out.push_str(&line(&m));
        put("EN1", ts, e);
        let p = 40.0 + ((k * 13) % 17) as f64 * 0.5;
        let m = message(
            "ST02",
            2051,
            ts,
            vec![vec![
                num("p01-Avg", p),
                num("p01-Max", p + 3.0),
                num("p01-Rtd", 99.0),
            ]],
        );
        if k % 10 == 3 {
            // Split in two packets, the second first; each repeats the DataTime.
            let mut a = m.clone();
            a.flag = Some(4 | FLAG_SPLIT);
            a.packet = Some(Packet {
                total: 2,
                number: 1,
            });
            a.cp.truncate(1);
            let mut b = m.clone();
            b.flag = a.flag;
            b.packet = Some(Packet {
                total: 2,
                number: 2,
            });
            out.push_str(&line(&b));
            out.push_str(&line(&a));
        } else {
            out.push_str(&line(&m));
        }
        put("POW2", ts, p);
        // An unknown station, and an acknowledgement that carries no data.
        if k % 6 == 0 {
            out.push_str(&line(&message(
                "ST99",
                2051,
                ts,
                vec![vec![num("i33202-Cou", 1.0)]],
            )));
            out.push_str(&line(&m.ack().unwrap()));
        }
    }
    for h in 0..24 {
        let ts = T0 + h * 3600;
        let e = 100.0 + h as f64;
        // LF-only line ends, as some archives keep them.
        let l = line(&message(
            "ST02",
            2061,
            ts,
            vec![vec![num("i33202-Cou", e), num("i33202-Avg", e)]],
        ));
        out.push_str(l.trim_end());
        out.push('\n');
        put("HOUR2", ts, e);
    }
    (out, want)
}

struct Setup {
    _dir: tempfile::TempDir,
    store: PathBuf,
    input: PathBuf,
    meters: PathBuf,
    want: Rows,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (text, want) = log();
    let input = dir.path().join("frames.log");
    std::fs::write(&input, text).unwrap();
    let meters = dir.path().join("meters.csv");
    std::fs::write(&meters, METERS_CSV).unwrap();
    Setup {
        store: dir.path().join("store"),
        input,
        meters,
        want,
        _dir: dir,
    }
}

fn cfg(s: &Setup, input: &Path) -> ImportConfig {
    ImportConfig {
        store: s.store.clone(),
        input: input.to_owned(),
        meters: Some(s.meters.clone()),
        tz: Tz::parse("+08:00").unwrap(),
        skip_bad: false,
        progress: false,
        defaults: Default::default(),
    }
}

fn stored(dir: &Path) -> Rows {
    common::all_readings(dir).unwrap()
}

#[test]
fn a_log_imports_to_exactly_its_readings_and_again_changes_nothing() {
    let s = setup();
    let r = run(&cfg(&s, &s.input)).unwrap();
    assert_eq!(stored(&s.store), s.want);
    // Each code's -Flag is its reading's flag.
    {
        let store = meterstore::Store::open_read_only(&s.store).unwrap();
        let h = store.history("EN1", i64::MIN..i64::MAX).unwrap();
        let got: Vec<String> = h.flags().iter().map(|f| f.to_string()).collect();
        let want: Vec<String> = h
            .map(|(t, _)| en1_flag((t - T0) / 600).to_string())
            .collect();
        assert_eq!(got, want);
        assert!(got.iter().any(|f| f == "M"));
    }
    assert_eq!(r.readings, s.want.len() as u64);
    assert!(r.skipped.is_empty());
    // 144 x (2 real-time + 1 + 1 minute) + 14 split packets + 24 x (unknown + ack) + 24 hours.
    assert_eq!(r.frames, 144 * 4 + 15 + 24 * 2 + 24);
    assert_eq!(r.messages, r.frames - 15);
    assert_eq!(r.not_data, 24);
    assert_eq!(r.unknown_stations.get("ST99"), Some(&24));
    assert_eq!(
        r.unknown_codes.get(&("ST01".into(), "w00000".into())),
        Some(&288)
    );
    assert_eq!(r.unread, 0);
    // The catalog with its sources is saved with the store.
    let cat = meterstore::monitor::Catalog::load_dir(&s.store).unwrap();
    assert_eq!(cat.hj212_sources().count(), 4);
    // Again, from the saved catalog and gzip: the same store.
    let gz = s.input.with_extension("log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(&s.input).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let mut again = cfg(&s, &gz);
    again.meters = None;
    let r2 = run(&again).unwrap();
    assert_eq!(r2.readings, r.readings);
    assert_eq!(stored(&s.store), s.want);
}

fn bad_lines(r: Result<common::hj212::Hj212Report, ImportError>) -> Vec<(u64, String)> {
    match r {
        Err(ImportError::BadLines { bad, .. }) => {
            assert_eq!(bad.count as usize, bad.listed.len());
            bad.listed.into_iter().map(|b| (b.line, b.reason)).collect()
        }
        other => panic!("expected bad lines, got {other:?}"),
    }
}

#[test]
fn bad_frames_are_named_by_line_and_nothing_is_imported() {
    let s = setup();
    let text = std::fs::read_to_string(&s.input).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let good = lines[0].clone();
    // Line 3: a CRC digit changed. Line 6: truncated. Line 9: a valid frame whose
    // DataTime is not a date. Line 12: minute energy off the 10-minute grid. Line 15: a
    // split message whose second packet never comes. Line 18: not a frame.
    let mut crc = good.clone();
    let n = crc.len();
    crc.replace_range(n - 1.., if good.ends_with('0') { "1" } else { "0" });
    lines.insert(2, crc);
    lines.insert(5, good[..good.len() - 9].to_owned());
    let mut m = message("ST01", 2011, T0, vec![vec![num("i33201-Rtd", 1.0)]]);
    m.cp[0][0].value = CpValue::Text("20240230000000".into());
    let data = m.data_segment();
    lines.insert(
        8,
        format!(
            "##{:04}{data}{:04X}",
            data.len(),
            meterstore::hj212::crc16(data.as_bytes())
        ),
    );
    lines.insert(
        11,
        line(&message(
            "ST01",
            2051,
            T0 + 60,
            vec![vec![num("i33202-Cou", 1.0)]],
        ))
        .trim_end()
        .to_owned(),
    );
    let mut half = message(
        "ST02",
        2051,
        T0 + 7 * 86_400,
        vec![vec![num("p01-Avg", 1.0)]],
    );
    half.flag = Some(4 | FLAG_SPLIT);
    half.packet = Some(Packet {
        total: 2,
        number: 1,
    });
    lines.insert(14, line(&half).trim_end().to_owned());
    lines.insert(17, "hello".into());
    let bad_file = s.input.with_extension("bad.log");
    std::fs::write(&bad_file, lines.join("\n")).unwrap();
    let bad = bad_lines(run(&cfg(&s, &bad_file)));
    let at: Vec<u64> = bad.iter().map(|b| b.0).collect();
    assert_eq!(at, vec![3, 6, 9, 12, 18, 15], "{bad:?}");
    let says = |l: u64, w: &str| {
        let r = &bad.iter().find(|b| b.0 == l).unwrap().1;
        assert!(r.contains(w), "line {l}: {r:?} does not say {w:?}");
    };
    says(3, "bad CRC");
    says(6, "bad length");
    says(9, "DataTime");
    says(12, "grid");
    says(15, "ends without packets 2");
    says(18, "##");
    assert!(!s.store.exists(), "nothing imported, not even the catalog");
    // With --skip-bad the rest goes in.
    let mut skip = cfg(&s, &bad_file);
    skip.skip_bad = true;
    let r = run(&skip).unwrap();
    assert_eq!(r.skipped.count, 6);
    assert_eq!(stored(&s.store), s.want);
}

#[test]
fn a_catalog_without_sources_is_refused() {
    let s = setup();
    let mut c = cfg(&s, &s.input);
    c.meters = None;
    match run(&c) {
        Err(ImportError::Failed(m)) => assert!(m.contains("hj212_mn"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A bad meters CSV stops the import with its line.
    std::fs::write(
        &s.meters,
        "meter_id,enterprise_id,role,hj212_mn\nM1,E1,production,ST1\n",
    )
    .unwrap();
    match run(&cfg(&s, &s.input)) {
        Err(ImportError::BadLines { file, bad }) => {
            assert_eq!(file, s.meters);
            assert_eq!(bad.listed[0].line, 2);
        }
        other => panic!("{other:?}"),
    }
}
