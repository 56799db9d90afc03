//! HJ 212 data to meter readings through the catalog, and the catalog's HJ 212 sources
//! (version-2 CATALOG files, version-1 files still open, CSV columns).

use meterstore::hj212::{self, FrameErrorKind, Hj212Map, MappedReading};
use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, Hj212Source, MeterRole};
use meterstore::{Flag, Quantity, UtcOffset, Zone};
use std::path::Path;

mod hj212_support;
use hj212_support::framed;

fn msg(mn: &str, cn: u16, time: &str, values: &str) -> hj212::Message {
    let data = format!(
        "QN=20240101080000000;ST=32;CN={cn};PW=123456;MN={mn};Flag=5;CP=&&DataTime={time};{values}&&"
    );
    hj212::parse(&framed(&data)).unwrap()
}

fn src(mn: &str, code: &str) -> Option<Hj212Source> {
    Some(Hj212Source {
        mn: mn.into(),
        code: code.into(),
    })
}

fn catalog() -> Catalog {
    let mut c = Catalog::new();
    c.upsert_enterprise(Enterprise {
        id: "E1".into(),
        ..Enterprise::default()
    })
    .unwrap();
    let mut meter = |id: &str, kind: Quantity, interval_s: Option<u32>, s: Option<Hj212Source>| {
        let mut m = CatalogMeter::new(id, "E1", MeterRole::Production);
        m.kind = kind;
        m.interval_s = interval_s;
        c.upsert_meter(m).unwrap();
        c.set_hj212_source(id, s).unwrap();
    };
    meter(
        "KWH",
        Quantity::CumulativeRegister,
        None,
        src("ST1", "i33201"),
    );
    meter(
        "E15",
        Quantity::IntervalEnergy,
        Some(900),
        src("ST1", "e15"),
    );
    meter("P", Quantity::Power, Some(900), src("ST1", "p01"));
    meter(
        "EH",
        Quantity::IntervalEnergy,
        Some(3600),
        src("ST2", "i33202"),
    );
    meter("ED", Quantity::IntervalEnergy, None, src("ST2", "i33203"));
    c
}

fn china() -> Zone {
    Zone::fixed(UtcOffset::CHINA)
}

/// 2024-01-01T00:00:00Z, 08:00 in China.
const T0: i64 = 1_704_067_200;

#[test]
fn each_kind_reads_its_value_at_the_local_data_time() {
    let map = Hj212Map::new(&catalog(), china());
    let mut out = Vec::new();
    // Real-time: the register's -Rtd at the sample moment.
    let o = map
        .map(
            &msg(
                "ST1",
                2011,
                "20240101080000",
                "i33201-Rtd=1234.5,i33201-Flag=N;zz-Rtd=1",
            ),
            &mut out,
        )
        .unwrap();
    assert_eq!(o.readings, 1);
    assert_eq!(o.unknown_codes, vec!["zz".to_owned()]);
    assert!(!o.unknown_station);
    assert_eq!(
        out,
        vec![MappedReading {
            meter: "KWH",
            ts: T0,
            value: 1234.5,
            flag: Flag::Normal
        }]
    );
    // Minute data: energy -Cou at the interval start; power -Avg before -Rtd.
    out.clear();
    let o = map
        .map(
            &msg(
                "ST1",
                2051,
                "20240101081500",
                "e15-Cou=3.5,e15-Max=9;p01-Rtd=99,p01-Avg=14,p01-Min=2,p01-Flag=M",
            ),
            &mut out,
        )
        .unwrap();
    assert_eq!((o.readings, o.unread), (2, 0));
    assert_eq!(
        out[0],
        MappedReading {
            meter: "E15",
            ts: T0 + 900,
            value: 3.5,
            flag: Flag::Normal
        }
    );
    assert_eq!(
        out[1],
        MappedReading {
            meter: "P",
            ts: T0 + 900,
            value: 14.0,
            flag: Flag::Maintenance
        }
    );
    // Hour and day data into meters of those intervals (or irregular ones).
    out.clear();
    map.map(
        &msg("ST2", 2061, "20240101090000", "i33202-Cou=12"),
        &mut out,
    )
    .unwrap();
    map.map(
        &msg("ST2", 2031, "20240102000000", "i33203-Cou=250"),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out[0],
        MappedReading {
            meter: "EH",
            ts: T0 + 3600,
            value: 12.0,
            flag: Flag::Normal
        }
    );
    assert_eq!(
        out[1],
        MappedReading {
            meter: "ED",
            ts: T0 + 16 * 3600,
            value: 250.0,
            flag: Flag::Normal
        }
    );
}

#[test]
fn unknown_stations_codes_and_missing_values_are_counted_not_stored() {
    let map = Hj212Map::new(&catalog(), china());
    let mut out = Vec::new();
    let o = map
        .map(
            &msg("ST9", 2011, "20240101080000", "i33201-Rtd=1"),
            &mut out,
        )
        .unwrap();
    assert!(o.unknown_station);
    assert!(!map.knows_station("ST9") && map.knows_station("ST1"));
    // An energy meter reads -Cou only; a minute frame without it leaves it unread.
    let o = map
        .map(&msg("ST1", 2051, "20240101081500", "e15-Avg=3"), &mut out)
        .unwrap();
    assert_eq!((o.readings, o.unread), (0, 1));
    // Frames that are not data give nothing.
    let o = map
        .map(
            &hj212::parse(&framed("ST=32;CN=1062;PW=1;MN=ST1;CP=&&RtdInterval=30&&")).unwrap(),
            &mut out,
        )
        .unwrap();
    assert_eq!(o, Default::default());
    assert!(out.is_empty());
}

#[test]
fn data_that_cannot_feed_its_meter_is_an_error_and_adds_nothing() {
    let map = Hj212Map::new(&catalog(), china());
    let mut out = Vec::new();
    // Off the 15-minute grid.
    let e = map
        .map(
            &msg("ST1", 2051, "20240101081700", "p01-Avg=1;e15-Cou=1"),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(e.kind, FrameErrorKind::Mapping);
    assert!(e.to_string().contains("grid"), "{e}");
    assert!(
        out.is_empty(),
        "the reading before the bad one is taken back"
    );
    // Hour energy into a 15-minute meter.
    let e = map
        .map(&msg("ST1", 2061, "20240101090000", "e15-Cou=1"), &mut out)
        .unwrap_err();
    assert!(
        e.to_string().contains("3600") && e.to_string().contains("E15"),
        "{e}"
    );
    // A local time that daylight saving skips.
    let london = Hj212Map::new(&catalog(), Zone::iana("Europe/London").unwrap());
    let e = london
        .map(
            &msg("ST1", 2011, "20240331013000", "i33201-Rtd=1"),
            &mut out,
        )
        .unwrap_err();
    assert!(e.to_string().contains("clock change"), "{e}");
    assert!(out.is_empty());
    // The same zone in winter: UTC.
    london
        .map(
            &msg("ST1", 2011, "20240101000000", "i33201-Rtd=1"),
            &mut out,
        )
        .unwrap();
    assert_eq!(out[0].ts, T0);
}

#[test]
fn flags_go_with_their_code_and_an_unknown_letter_is_a_frame_error_naming_the_field() {
    let map = Hj212Map::new(&catalog(), china());
    let mut out = Vec::new();
    map.map(
        &msg(
            "ST1",
            2051,
            "20240101081500",
            "p01-Avg=1,p01-Flag=D;e15-Cou=2,e15-Flag=C",
        ),
        &mut out,
    )
    .unwrap();
    let flags: Vec<(&str, Flag)> = out.iter().map(|r| (r.meter, r.flag)).collect();
    assert_eq!(flags, vec![("P", Flag::Fault), ("E15", Flag::Calibration)]);
    // A letter that is no data flag (lower case included) stops the frame at the parser.
    for bad in ["X", "m", "NN"] {
        let data = format!(
            "QN=20240101080000000;ST=32;CN=2051;PW=123456;MN=ST1;Flag=5;CP=&&DataTime=20240101081500;p01-Avg=1,p01-Flag={bad}&&"
        );
        let e = hj212::parse(&framed(&data)).unwrap_err();
        assert!(e.to_string().contains("p01-Flag"), "{bad}: {e}");
    }
    // A message built by hand with such a letter is a mapping error naming the field.
    let mut m = msg("ST1", 2051, "20240101081500", "p01-Avg=1,p01-Flag=N");
    let mut cp: Vec<hj212::CpField> = m.fields().cloned().collect();
    for f in &mut cp {
        if f.key == "p01-Flag" {
            f.value = hj212::CpValue::Flag('x');
        }
    }
    m.cp = vec![cp];
    out.clear();
    let e = map.map(&m, &mut out).unwrap_err();
    assert_eq!(e.kind, FrameErrorKind::Mapping);
    assert!(e.to_string().contains("p01-Flag"), "{e}");
    assert!(out.is_empty());
}

#[test]
fn sources_are_one_meter_each_and_go_with_their_meter() {
    let mut c = catalog();
    assert_eq!(c.hj212_source("KWH"), src("ST1", "i33201").as_ref());
    let e = c.set_hj212_source("P", src("ST1", "i33201")).unwrap_err();
    assert!(e.to_string().contains("KWH"), "{e}");
    assert!(c.set_hj212_source("P", src("bad mn;", "x")).is_err());
    assert!(c.set_hj212_source("P", src("ST1", "")).is_err());
    assert!(c.set_hj212_source("NOPE", src("ST1", "x")).is_err());
    // Moving a meter to another source frees the old one.
    c.set_hj212_source("KWH", src("ST1", "i33299")).unwrap();
    c.set_hj212_source("P", src("ST1", "i33201")).unwrap();
    c.remove_meter("P");
    assert!(c.hj212_sources().all(|(_, m)| m != "P"));
    c.set_hj212_source("E15", src("ST1", "i33201")).unwrap();
    c.set_hj212_source("E15", None).unwrap();
    assert_eq!(c.hj212_source("E15"), None);
    assert_eq!(c.hj212_sources().count(), 3);
}

#[test]
fn catalog_files_keep_sources_and_version_1_files_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let c = catalog();
    c.save_dir(dir.path()).unwrap();
    assert_eq!(std::fs::read(Catalog::path_in(dir.path())).unwrap()[8], 2);
    assert_eq!(Catalog::load_dir(dir.path()).unwrap(), c);
    // A version-1 file written by the previous build: everything in it, no sources.
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog_v1");
    let old = Catalog::load_dir(&v1).unwrap();
    assert_eq!(old.meters().count(), 2);
    assert_eq!(old.meter("M1").unwrap().multiplier_at(1_800_000_000), 40.0);
    assert_eq!(old.manual("T1").unwrap().off_kw, Some(1.5));
    assert_eq!(old.suppressions().len(), 1);
    assert_eq!(old.hj212_sources().count(), 0);
    // Saved again, it is version 2 and reads back equal.
    let mut newer = old.clone();
    newer.set_hj212_source("T1", src("ST1", "p01")).unwrap();
    newer.save_dir(dir.path()).unwrap();
    assert_eq!(Catalog::load_dir(dir.path()).unwrap(), newer);
}

fn rows(text: &str) -> Vec<(usize, Vec<String>)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split(',').map(str::to_owned).collect()))
        .collect()
}

#[test]
fn the_meters_csv_takes_hj212_columns() {
    let mut c = Catalog::new();
    c.import_rows(rows(
        "meter_id,enterprise_id,role,kind,interval_s,hj212_mn,hj212_code\n\
         M1,E1,production,cumulative_register,0,ST1,i33201\n\
         M2,E1,treatment,power,900,ST1,p01\n\
         M3,E1,other,,,,",
    ))
    .unwrap();
    assert_eq!(c.hj212_source("M1"), src("ST1", "i33201").as_ref());
    assert_eq!(c.hj212_source("M2"), src("ST1", "p01").as_ref());
    assert_eq!(c.hj212_source("M3"), None);
    // Without the columns, sources stay as they are.
    c.import_rows(rows("meter_id,enterprise_id,role\nM1,E1,production"))
        .unwrap();
    assert_eq!(c.hj212_source("M1"), src("ST1", "i33201").as_ref());
    // One column without the other, and a source taken twice: bad rows, nothing changed.
    let before = c.clone();
    let e = c
        .import_rows(rows(
            "meter_id,enterprise_id,role,hj212_mn,hj212_code\n\
             M4,E1,other,ST1,\n\
             M5,E1,other,ST2,x\n\
             M6,E1,other,ST2,x\n\
             M7,E1,other,ST1,p01",
        ))
        .unwrap_err();
    let lines: Vec<usize> = e.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![2, 4, 5], "{e}");
    assert!(e.rows[0].message.contains("both"), "{e}");
    assert!(e.rows[2].message.contains("M2"), "{e}");
    assert_eq!(c, before);
}
