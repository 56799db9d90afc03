//! The `import_csv` example's core (`examples/common/import.rs`) on small files: a round
//! trip against the source rows (plain and gzip, mixed timestamp formats), re-import
//! changing nothing, bad lines reported with their numbers and nothing imported, and the
//! meter catalog.

#[allow(dead_code, reason = "the module is shared: this test uses part of it")]
#[path = "../examples/common/mod.rs"]
mod common;

use common::import::{self, ImportConfig, ImportError, NewMeterDefaults};
use common::time::{parse_timestamp, Tz};
use meterstore::fleet::Fleet;
use meterstore::monitor::{Catalog, MeterRole};
use meterstore::{MeterMeta, Options, Quantity, Store};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

type Rows = BTreeMap<(String, i64), f64>;

fn cfg(store: &Path, input: &Path) -> ImportConfig {
    ImportConfig {
        store: store.to_owned(),
        input: input.to_owned(),
        meters: None,
        tz: Tz::parse("+08:00").unwrap(),
        skip_bad: false,
        progress: false,
        defaults: NewMeterDefaults::default(),
    }
}

/// Writes a small fleet (about 6 meters, 2 days) as CSV, cycling the timestamp format per row
/// (Unix seconds, RFC 3339 in UTC, local date-time in +08:00), value column `kwh`.
fn fleet_csv(path: &Path) -> Rows {
    let fleet = Fleet::with_meters(6, 2);
    let tz = Tz::parse("+08:00").unwrap();
    let mut out = String::from("meter_id,timestamp,kwh\n");
    let mut rows = Rows::new();
    let mut k = 0;
    for (i, m) in fleet.meters().iter().enumerate() {
        let (ts, vals) = fleet.series(i);
        for (t, v) in ts.into_iter().zip(vals) {
            let when = match k % 3 {
                0 => t.to_string(),
                1 => jiff::Timestamp::from_second(t).unwrap().to_string(),
                _ => tz.local(t).strftime("%Y-%m-%d %H:%M").to_string(),
            };
            k += 1;
            out.push_str(&format!("{},{when},{v}\n", m.id));
            rows.insert((m.id.clone(), t), v);
        }
    }
    std::fs::write(path, out).unwrap();
    rows
}

fn gzip(src: &Path, dst: &Path) {
    let data = std::fs::read(src).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&data).unwrap();
    std::fs::write(dst, enc.finish().unwrap()).unwrap();
}

/// Everything in the store, read back through the public API.
fn stored(dir: &Path) -> Rows {
    common::all_readings(dir).unwrap()
}

fn bad_lines(r: Result<import::ImportReport, ImportError>) -> (PathBuf, import::BadLines) {
    match r {
        Err(ImportError::BadLines { file, bad }) => (file, bad),
        other => panic!("expected bad lines, got {other:?}"),
    }
}

#[test]
fn round_trip_plain_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("readings.csv");
    let source = fleet_csv(&csv);
    let gz = dir.path().join("readings.csv.gz");
    gzip(&csv, &gz);
    for (name, input) in [("plain", &csv), ("gz", &gz)] {
        let store = dir.path().join(name);
        let r = import::run(&cfg(&store, input)).unwrap();
        assert_eq!(r.rows, source.len() as u64, "{name}");
        assert_eq!(r.imported, source.len() as u64, "{name}");
        let meters: std::collections::BTreeSet<&String> = source.keys().map(|k| &k.0).collect();
        assert_eq!(r.new_meters, meters.len(), "{name}");
        assert!(r.skipped.is_empty());
        // Bit-exact values, every (meter, ts) and nothing else.
        assert_eq!(stored(&store), source, "{name}");
        let s = Store::open(&store, Options::default()).unwrap();
        assert_eq!(s.meter_meta("M000000"), Some(MeterMeta::default()));
    }
}

#[test]
fn reimport_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("readings.csv");
    let source = fleet_csv(&csv);
    let store = dir.path().join("store");
    import::run(&cfg(&store, &csv)).unwrap();
    let ids = Store::open(&store, Options::default()).unwrap().meter_ids();
    let again = import::run(&cfg(&store, &csv)).unwrap();
    assert_eq!(again.imported, source.len() as u64);
    assert_eq!(again.new_meters, 0);
    assert_eq!(stored(&store), source);
    assert_eq!(
        Store::open(&store, Options::default()).unwrap().meter_ids(),
        ids
    );
}

/// A file with one bad line of each kind, at known line numbers.
const BAD: &str = "\
meter_id,ts,value
M1,1704038400,1.5
M1,1704039300
M1,yesterday,1.5
M1,1704040200,abc
M1,1704041100,NaN
M1,1704041101,1.5
,1704042000,1.5
M1,2024-01-01 02:15,2
M1,2024-02-30 00:00,2
M2,2024-01-01T00:00:00Z,3
";

#[test]
fn bad_lines_are_listed_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, BAD).unwrap();
    let store = dir.path().join("store");
    // New meters on a 15-minute grid (inferred, M1 would be irregular).
    let grid = |store: &Path, input: &Path| ImportConfig {
        defaults: NewMeterDefaults {
            interval_s: Some(Some(900)),
            ..NewMeterDefaults::default()
        },
        ..cfg(store, input)
    };
    let (file, bad) = bad_lines(import::run(&grid(&store, &input)));
    assert_eq!(file, input);
    let lines: Vec<u64> = bad.listed.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 10]);
    assert_eq!(bad.count, 7);
    let reason = |line: u64| &bad.listed.iter().find(|b| b.line == line).unwrap().reason;
    assert!(
        reason(3).contains("expected 3 fields, found 2"),
        "{}",
        reason(3)
    );
    assert!(reason(4).contains("yesterday"), "{}", reason(4));
    assert!(reason(5).contains("not a number"), "{}", reason(5));
    assert!(reason(6).contains("not finite"), "{}", reason(6));
    assert!(reason(7).contains("interval grid"), "{}", reason(7));
    assert!(reason(8).contains("meter_id"), "{}", reason(8));
    assert!(reason(10).contains("2024-02-30"), "{}", reason(10));
    // Nothing imported: a new store is not even created.
    assert!(!store.exists());

    // Into an existing store: its contents stay as they were.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "meter_id,ts,value\nM1,1704038400,7\n").unwrap();
    import::run(&grid(&store, &good)).unwrap();
    let before = stored(&store);
    bad_lines(import::run(&cfg(&store, &input)));
    assert_eq!(stored(&store), before);
}

#[test]
fn skip_bad_imports_the_good_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, BAD).unwrap();
    let store = dir.path().join("store");
    let mut c = cfg(&store, &input);
    c.skip_bad = true;
    c.defaults.interval_s = Some(Some(900));
    let r = import::run(&c).unwrap();
    assert_eq!((r.rows, r.imported, r.skipped.count), (10, 3, 7));
    let rows = stored(&store);
    let want: Rows = [
        (("M1".to_owned(), 1_704_038_400), 1.5),
        (("M1".to_owned(), 1_704_046_500), 2.0),
        (("M2".to_owned(), 1_704_067_200), 3.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(rows, want);
}

/// Line 3 opens a quote that never closes; line 6 opens one that a stray quote on line
/// 8 would close, were fields allowed to span lines; line 12 does it after blank lines;
/// the others are good, quoted or not, with either line end.
const STRAY_QUOTES: &str = "meter_id,ts,kwh
M1,1704038400,1.5
M1,\"1704039300,2.5
M1,1704040200,3.5
\"M1\",\"1704041100\",\"4.5\"
M2,1704038400,\"5.5
M2,1704039300,6.5
M2,1704040200\",7.5
\"M\"\"3\",1704038400,8.5\r


\"M3,1704039300,9.5\r
M3,1704040200,10.5
";

#[test]
fn a_stray_quote_is_a_bad_line_and_swallows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("quotes.csv");
    std::fs::write(&input, STRAY_QUOTES).unwrap();
    let store = dir.path().join("store");
    // Refused whole, each bad line named.
    let (_, bad) = bad_lines(import::run(&cfg(&store, &input)));
    let lines: Vec<u64> = bad.listed.iter().map(|b| b.line).collect();
    // The CSV parser numbers a record after blank lines from the end of the record
    // before them (line 9 here), so only the first three numbers are exact.
    assert_eq!(lines[..3], [3, 6, 8], "{bad}");
    assert_eq!(lines.len(), 4, "{bad}");
    assert!(bad.listed[0].reason.contains("quote"), "{bad}");
    assert!(!store.exists());
    // With --skip-bad, the lines after a stray quote are imported.
    let r = import::run(&ImportConfig {
        skip_bad: true,
        ..cfg(&store, &input)
    })
    .unwrap();
    assert_eq!((r.rows, r.imported, r.skipped.count), (10, 6, 4));
    let want: Rows = [
        (("M1".to_owned(), 1_704_038_400), 1.5),
        (("M1".to_owned(), 1_704_040_200), 3.5),
        (("M1".to_owned(), 1_704_041_100), 4.5),
        (("M2".to_owned(), 1_704_039_300), 6.5),
        (("M\"3".to_owned(), 1_704_038_400), 8.5),
        (("M3".to_owned(), 1_704_040_200), 10.5),
    ]
    .into_iter()
    .collect();
    assert_eq!(stored(&store), want);
}

#[test]
fn a_quote_left_open_to_the_end_or_a_huge_line_is_one_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("open.csv");
    let mut text = String::from("meter_id,ts,kwh\nM1,1704038400,1.5\n");
    // An unterminated quote on the last line, with no line end after it.
    text.push_str("M1,1704039300,\"2.5");
    std::fs::write(&input, &text).unwrap();
    let (_, bad) = bad_lines(import::run(&cfg(&dir.path().join("a"), &input)));
    assert_eq!(bad.listed.iter().map(|b| b.line).collect::<Vec<_>>(), [3]);
    // A line of 3 MB (longer than a read of the guard) with quotes in it, and good
    // lines around it.
    let mut text = String::from("meter_id,ts,kwh\nM1,1704038400,1.5\nM1,\"");
    text.push_str(&"x\"".repeat(1_500_000));
    text.push_str(",1\nM1,1704039300,2.5\n");
    std::fs::write(&input, &text).unwrap();
    let store = dir.path().join("b");
    let r = import::run(&ImportConfig {
        skip_bad: true,
        ..cfg(&store, &input)
    })
    .unwrap();
    assert_eq!((r.rows, r.imported, r.skipped.count), (3, 2, 1));
    assert_eq!(r.skipped.listed[0].line, 3);
    assert!(
        r.skipped.listed[0].reason.contains("longer than"),
        "{}",
        r.skipped
    );
}

#[test]
fn a_header_without_the_needed_columns_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for (body, says) in [
        ("meter,ts,value\nM1,0,1\n", "no meter_id column"),
        ("meter_id,when,value\nM1,0,1\n", "timestamp column"),
        (
            "meter_id,ts,kwh,kvarh\nM1,0,1,2\n",
            "exactly one value column",
        ),
        ("", "empty file"),
    ] {
        let input = dir.path().join("h.csv");
        std::fs::write(&input, body).unwrap();
        match import::run(&cfg(&store, &input)) {
            Err(ImportError::Failed(m)) => assert!(m.contains(says), "{m}"),
            other => panic!("{body:?}: {other:?}"),
        }
    }
    // A byte-order mark, other capitalisation and any value column name are fine.
    let input = dir.path().join("ok.csv");
    std::fs::write(&input, "\u{feff}Meter_ID , Time ,Wirkarbeit\nM1,0,1\n").unwrap();
    assert_eq!(import::run(&cfg(&store, &input)).unwrap().imported, 1);
}

#[test]
fn local_times_that_daylight_saving_skips_or_repeats_are_bad_lines() {
    let london = Tz::parse("Europe/London").unwrap();
    // 2024-03-31 01:30 does not exist, 2024-10-27 01:30 occurs twice.
    assert!(parse_timestamp("2024-03-31 01:30", &london).is_err());
    assert!(parse_timestamp("2024-10-27 01:30:00", &london).is_err());
    assert_eq!(
        parse_timestamp("2024-10-27 02:30", &london),
        Ok(1_729_996_200)
    );
    let cst = Tz::parse("+08:00").unwrap();
    for (s, t) in [
        ("1704038400", 1_704_038_400),
        ("0", 0),
        ("2024-01-01 00:00", 1_704_038_400),
        ("2024-01-01T00:00:00", 1_704_038_400),
        ("2024-01-01 00:00:00", 1_704_038_400),
        ("2023-12-31T16:00:00Z", 1_704_038_400),
        ("2024-01-01T01:00:00+09:00", 1_704_038_400),
    ] {
        assert_eq!(parse_timestamp(s, &cst), Ok(t), "{s}");
    }
    for s in [
        "",
        "2024-01-01",
        "2024-01-01 24:00",
        "1.5",
        "2024-01-01T00:00:00.5Z",
        "-900",
        "7258118400",
        "2200-01-01T00:00:00Z",
        "9999-12-31 23:45",
    ] {
        assert!(parse_timestamp(s, &cst).is_err(), "{s}");
    }
}

#[test]
fn timestamps_in_milliseconds_or_microseconds_are_named_and_refused_whole() {
    let cst = Tz::parse("+08:00").unwrap();
    for (s, unit) in [
        ("1704038400000", "milliseconds"),
        ("1704038400000000", "microseconds"),
        ("1704038400000000000", "nanoseconds"),
    ] {
        let e = parse_timestamp(s, &cst).unwrap_err();
        assert!(e.contains(unit), "{s}: {e}");
        assert!(
            e.contains("1704038400 s would be 2023-12-31T16:00:00Z"),
            "{e}"
        );
    }
    // Out of range, but no plausible date in another unit either.
    let e = parse_timestamp("9000000000", &cst).unwrap_err();
    assert!(
        e.contains("outside the range") && e.contains("2255-"),
        "{e}"
    );
    let e = parse_timestamp("-1", &cst).unwrap_err();
    assert!(e.contains("1969-12-31T23:59:59Z"), "{e}");
    // A file of milliseconds is refused before anything is stored, line by line.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ms.csv");
    let rows: String = (0..5i64)
        .map(|k| format!("M1,{},1.5\n", (1_704_038_400 + k * 900) * 1000))
        .collect();
    std::fs::write(&input, format!("meter_id,ts,kwh\n{rows}")).unwrap();
    let store = dir.path().join("store");
    let (_, bad) = bad_lines(import::run(&cfg(&store, &input)));
    assert_eq!(bad.count, 5);
    assert_eq!(bad.listed[0].line, 2);
    assert!(bad.listed[0].reason.contains("milliseconds"), "{bad}");
    assert!(!store.exists());
}

#[test]
fn the_catalog_registers_meters_and_is_the_stores_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let meters = dir.path().join("meters.csv");
    std::fs::write(
        &meters,
        "meter_id,enterprise_id,role,interval_s,kind,unit,facility,multiplier\n\
         P1,E1,production,3600,,,line 1,\n\
         T1,E1,treatment,,power,kW,bag filter,40\n\
         X1,E2,production,irregular,other,V,,\n",
    )
    .unwrap();
    let input = dir.path().join("r.csv");
    // P1 is hourly, so 00:15 is off its grid; X1 has no grid; T1's grid comes from its
    // timestamps (5 minutes).
    std::fs::write(
        &input,
        "meter_id,ts,v\nP1,2024-01-01 01:00,5\nT1,2024-01-01 00:15,2\nT1,2024-01-01 00:20,2\n\
         T1,2024-01-01 00:25,2\nX1,1704038401,230.5\n",
    )
    .unwrap();
    let r = import::run(&ImportConfig {
        meters: Some(meters.clone()),
        ..cfg(&store, &input)
    })
    .unwrap();
    assert_eq!((r.catalog_meters, r.new_meters, r.imported), (3, 3, 5));
    let s = Store::open(&store, Options::default()).unwrap();
    assert_eq!(s.meter_meta("P1").unwrap().interval_s, Some(3600));
    let t1 = s.meter_meta("T1").unwrap();
    assert_eq!(
        (t1.kind, t1.interval_s, t1.unit.as_str()),
        (Quantity::Power, Some(300), "kW")
    );
    assert_eq!(s.meter_meta("X1").unwrap().interval_s, None);
    drop(s);
    // One catalog: the store's CATALOG, with every column, as the store holds the meters.
    assert!(!store.join("enterprises.csv").exists());
    let cat = Catalog::load_dir(&store).unwrap();
    let t1 = cat.meter("T1").unwrap();
    assert_eq!(
        (
            t1.role,
            t1.interval_s,
            t1.facility.as_str(),
            t1.multiplier_at(0)
        ),
        (MeterRole::Treatment, Some(300), "bag filter", 40.0)
    );
    assert_eq!(cat.meters().count(), 3);

    // A second catalog updates the first: X1 moves to E3, Q1 is new.
    let more = dir.path().join("more.csv");
    std::fs::write(
        &more,
        "meter_id,enterprise_id,role,interval_s\nX1,E3,production,900\nQ1,E3,treatment,\n",
    )
    .unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "meter_id,ts,v\n").unwrap();
    // X1 is in the store as irregular: listing it with a 900 s grid conflicts.
    let (file, bad) = bad_lines(import::run(&ImportConfig {
        meters: Some(more.clone()),
        ..cfg(&store, &empty)
    }));
    assert_eq!(file, more);
    assert_eq!(bad.listed[0].line, 2);
    assert!(bad.listed[0].reason.contains("already in the store"));
    assert_eq!(
        Catalog::load_dir(&store).unwrap(),
        cat,
        "rejected: unchanged"
    );
    std::fs::write(
        &more,
        "meter_id,enterprise_id,role,interval_s\nX1,E3,production,\nQ1,E3,treatment,\n",
    )
    .unwrap();
    import::run(&ImportConfig {
        meters: Some(more),
        ..cfg(&store, &empty)
    })
    .unwrap();
    let cat = Catalog::load_dir(&store).unwrap();
    let ids: Vec<(&str, &str)> = cat
        .meters()
        .map(|m| (m.id.as_str(), m.enterprise.as_str()))
        .collect();
    assert_eq!(
        ids,
        [("P1", "E1"), ("Q1", "E3"), ("T1", "E1"), ("X1", "E3")]
    );
    assert_eq!(cat.meter("X1").unwrap().interval_s, None, "as in the store");
    // Q1 has no readings: the default grid.
    assert_eq!(cat.meter("Q1").unwrap().interval_s, Some(900));
}

#[test]
fn new_meters_get_their_grid_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let input = dir.path().join("r.csv");
    let t0 = 1_704_038_400i64;
    let mut text = String::from("meter_id,ts,value\n");
    // 1-, 5-, 15-, 30- and 60-minute meters with gaps, a 1-minute power channel, and one
    // at random seconds.
    let grids = [
        ("m1", 60),
        ("m5", 300),
        ("m15", 900),
        ("m30", 1800),
        ("m60", 3600),
    ];
    for (id, iv) in grids {
        for k in (0..400i64).filter(|k| k % 7 != 3 && !(50..60).contains(k)) {
            text.push_str(&format!("{id},{},1.5\n", t0 + k * iv));
        }
    }
    for k in 0..300i64 {
        text.push_str(&format!("hh.active_kw,{},0.4\n", t0 + k * 60));
    }
    let mut x = t0;
    for k in 0..300i64 {
        x += 20 + (k * 7919) % 97;
        text.push_str(&format!("odd,{x},1\n"));
    }
    std::fs::write(&input, text).unwrap();
    let r = import::run(&cfg(&store, &input)).unwrap();
    assert_eq!(r.new_meters, 7);
    let s = Store::open(&store, Options::default()).unwrap();
    for (id, iv) in grids {
        let m = s.meter_meta(id).unwrap();
        assert_eq!(
            (m.interval_s, m.kind),
            (Some(iv as u32), Quantity::IntervalEnergy),
            "{id}"
        );
    }
    let hh = s.meter_meta("hh.active_kw").unwrap();
    assert_eq!(
        (hh.interval_s, hh.kind, hh.unit.as_str()),
        (Some(60), Quantity::Power, "kW")
    );
    assert_eq!(s.meter_meta("odd").unwrap().interval_s, None);
    assert_eq!(s.history("odd", i64::MIN..i64::MAX).unwrap().count(), 300);
    drop(s);
    let groups = common::infer::groups(&r.inferred);
    assert!(groups
        .keys()
        .any(|k| k.starts_with("60 s interval (from the data), power in kW")));

    // Overrides: every new meter gets what the flags say; off-grid lines are bad.
    let store2 = dir.path().join("store2");
    let mut c = cfg(&store2, &input);
    c.defaults = NewMeterDefaults {
        interval_s: Some(Some(900)),
        kind: Some(Quantity::Power),
        unit: Some("MW".into()),
    };
    let (_, bad) = bad_lines(import::run(&c));
    assert!(bad.listed[0]
        .reason
        .contains("off meter m1's 900 s interval grid"));
    c.defaults.interval_s = Some(None);
    let r = import::run(&c).unwrap();
    assert_eq!(r.new_meters, 7);
    let s = Store::open(&store2, Options::default()).unwrap();
    let m = s.meter_meta("m15").unwrap();
    assert_eq!(
        (m.interval_s, m.kind, m.unit.as_str()),
        (None, Quantity::Power, "MW")
    );
}

#[test]
fn a_bad_catalog_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let meters = dir.path().join("meters.csv");
    std::fs::write(
        &meters,
        "meter_id,enterprise_id,role,interval_s,kind\n\
         A,E1,production,900,\n\
         B,E1,,900,\n\
         A,E2,production,900,\n\
         C,E2,treatment,-5,\n\
         D,E2,treatment,,battery\n",
    )
    .unwrap();
    let input = dir.path().join("r.csv");
    std::fs::write(&input, "meter_id,ts,v\nA,1704038400,1\n").unwrap();
    let (file, bad) = bad_lines(import::run(&ImportConfig {
        meters: Some(meters.clone()),
        ..cfg(&store, &input)
    }));
    assert_eq!(file, meters);
    let got: Vec<(u64, bool)> = bad
        .listed
        .iter()
        .map(|b| (b.line, b.reason.is_empty()))
        .collect();
    assert_eq!(got, vec![(3, false), (4, false), (5, false), (6, false)]);
    assert!(bad.listed[1].reason.contains("already listed on line 2"));
    assert!(!store.exists());
}

/// The flags of `meter` in the store at `dir`, in time order.
fn stored_flags(dir: &Path, meter: &str) -> Vec<(i64, meterstore::Flag)> {
    let s = Store::open_read_only(dir).unwrap();
    let h = s.history(meter, i64::MIN..i64::MAX).unwrap();
    let flags = h.flags().to_vec();
    h.map(|(t, _)| t).zip(flags).collect()
}

#[test]
fn a_flag_column_sets_each_readings_flag_and_a_bad_letter_rejects_the_file() {
    use meterstore::Flag;
    let dir = tempfile::tempdir().unwrap();
    let t = 1_704_038_400;
    // The flag column anywhere (found by its name), empty for N.
    let input = dir.path().join("flags.csv");
    std::fs::write(
        &input,
        format!(
            "meter_id,FLAG,ts,kwh\nM1,,{t},1.5\nM1,M,{},2.5\nM1,N,{},3.5\nM1, D ,{},4.5\n",
            t + 900,
            t + 1800,
            t + 2700
        ),
    )
    .unwrap();
    let store = dir.path().join("store");
    let r = import::run(&cfg(&store, &input)).unwrap();
    assert_eq!(r.imported, 4);
    assert_eq!(
        stored_flags(&store, "M1"),
        vec![
            (t, Flag::Normal),
            (t + 900, Flag::Maintenance),
            (t + 1800, Flag::Normal),
            (t + 2700, Flag::Fault)
        ]
    );
    assert_eq!(stored(&store)[&("M1".to_owned(), t + 900)], 2.5);

    // A re-import with corrected flags replaces them.
    let fix = dir.path().join("fix.csv");
    std::fs::write(
        &fix,
        format!("meter_id,ts,value,flag\nM1,{},2.5,N\n", t + 900),
    )
    .unwrap();
    import::run(&cfg(&store, &fix)).unwrap();
    assert_eq!(stored_flags(&store, "M1")[1], (t + 900, Flag::Normal));

    // A letter that is no flag (lower case included): the whole file is refused, each bad
    // line named with the column and the value.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "meter_id,ts,value,flag\nM2,{t},1,F\nM2,{},2,X\nM2,{},3,m\nM2,{},4,NN\n",
            t + 900,
            t + 1800,
            t + 2700
        ),
    )
    .unwrap();
    let fresh = dir.path().join("fresh");
    let (_, lines) = bad_lines(import::run(&cfg(&fresh, &bad)));
    let listed: Vec<(u64, &str)> = lines
        .listed
        .iter()
        .map(|b| (b.line, b.reason.as_str()))
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    for ((line, reason), (want_line, value)) in
        listed
            .iter()
            .zip([(3, "\"X\""), (4, "\"m\""), (5, "\"NN\"")])
    {
        assert_eq!(*line, want_line);
        assert!(
            reason.contains("column flag") && reason.contains(value),
            "{reason}"
        );
    }
    assert!(!fresh.exists(), "nothing imported");
    // --skip-bad imports the good line with its flag.
    let mut c = cfg(&fresh, &bad);
    c.skip_bad = true;
    assert_eq!(import::run(&c).unwrap().imported, 1);
    assert_eq!(stored_flags(&fresh, "M2"), vec![(t, Flag::Stopped)]);

    // Two flag columns are a header error.
    let two = dir.path().join("two.csv");
    std::fs::write(&two, format!("meter_id,ts,value,flag,Flag\nM3,{t},1,N,N\n")).unwrap();
    match import::run(&cfg(&fresh, &two)) {
        Err(e) => assert!(e.to_string().contains("more than one flag column"), "{e}"),
        Ok(r) => panic!("imported {r:?}"),
    }
}
