//! The `imbalance` example's core: scan, flagged-first printing and the CSV contract.

#[allow(dead_code, reason = "the module is shared: this test uses part of it")]
#[path = "../examples/common/mod.rs"]
mod common;

use common::imbalance::{print, scan, write_csv, By, Request};
use meterstore::{MeterMeta, Options, Reading, Store};

const START: i64 = 1_704_038_400; // 2024-01-01T00:00+08:00

fn put(s: &Store, meter: &str, day_kw: f64, night_kw: f64) {
    s.register_meter(meter, MeterMeta::default()).unwrap();
    let r: Vec<Reading> = (0..7 * 96)
        .map(|k| {
            let h = (k % 96) / 4;
            let kw = if (8..20).contains(&h) {
                day_kw
            } else {
                night_kw
            };
            Reading {
                meter,
                ts: START + k * 900,
                value: kw * 0.25,
            }
        })
        .collect();
    s.append(&r).unwrap();
}

fn fixture() -> (tempfile::TempDir, Request) {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    {
        let s = Store::open(&store_dir, Options::default()).unwrap();
        put(&s, "M3", 0.0, 8.0);
        put(&s, "M1", 10.0, 40.0);
        put(&s, "M2", 30.0, 5.0);
        s.flush().unwrap();
    }
    std::fs::write(dir.path().join("meters.csv"), "meter_id,enterprise_id,role\nM1,E1,production\nM2,E1,production\nM3,E2,production\nM9,E2,treatment\n").unwrap();
    let req = Request {
        store: store_dir,
        from: Some("2024-01-01".into()),
        to: Some("2024-01-07".into()),
        day: "08:00-20:00".into(),
        tz: "+08:00".into(),
        threshold: 1.5,
        by: By::Meter,
        enterprises: Some(dir.path().join("meters.csv")),
        daily: false,
    };
    (dir, req)
}

#[test]
fn per_meter_csv_is_sorted_exact_and_flags_night_producers() {
    let (_d, req) = fixture();
    let rows = scan(&req).unwrap();
    let mut out = Vec::new();
    write_csv(&mut out, &rows, By::Meter).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "meter_id,day_kwh,night_kwh,day_hours,night_hours,ratio,flagged"
    );
    assert!(
        lines[1].starts_with("M1,") && lines[2].starts_with("M2,") && lines[3].starts_with("M3,")
    );
    let m1: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(m1[1].parse::<f64>().unwrap(), rows[0].stats.day_kwh);
    assert_eq!(m1[1], "840");
    assert_eq!(m1[2], "3360");
    assert_eq!((m1[3], m1[4]), ("84", "84"));
    assert_eq!((m1[5], m1[6]), ("4", "true"));
    assert!(lines[2].ends_with(",false"));
    let m3: Vec<&str> = lines[3].split(',').collect();
    assert_eq!((m3[5], m3[6]), ("", "false"), "no ratio without day energy");

    let mut printed = Vec::new();
    print(&mut printed, &rows, By::Meter).unwrap();
    let printed = String::from_utf8(printed).unwrap();
    assert!(printed.starts_with("1 of 3 meters flagged"));
    let first_row = printed.lines().nth(2).unwrap();
    assert!(first_row.starts_with("M1 "), "flagged first: {first_row}");
}

#[test]
fn per_enterprise_uses_production_meters() {
    let (_d, mut req) = fixture();
    req.by = By::Enterprise;
    let rows = scan(&req).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].id, "E1");
    assert_eq!(rows[0].stats.day_kw, Some(40.0));
    assert_eq!(rows[0].stats.night_kw, Some(45.0));
    assert!(!rows[0].stats.flagged);
    let mut out = Vec::new();
    write_csv(&mut out, &rows, By::Enterprise).unwrap();
    assert!(String::from_utf8(out)
        .unwrap()
        .starts_with("enterprise_id,day_kwh,"));
}

#[test]
fn bad_arguments_are_errors() {
    let (_d, mut req) = fixture();
    req.day = "8-20".into();
    assert!(scan(&req).is_err());
    let (_d, mut req) = fixture();
    req.from = Some("2024-02-01".into());
    req.to = Some("2024-01-01".into());
    assert!(scan(&req).is_err());
    let (_d, mut req) = fixture();
    req.by = By::Enterprise;
    req.enterprises = None;
    assert!(scan(&req).unwrap_err().contains("--enterprises"));
}

#[test]
fn an_instant_with_an_offset_bounds_the_scan_to_that_instant() {
    // 09:00 to 10:00 local is day time: one hour at 10 kW day load for M1, and no night.
    let (_d, mut req) = fixture();
    req.from = Some("2024-01-02T09:00:00+08:00".into());
    req.to = Some("2024-01-02T10:00:00+08:00".into());
    let rows = scan(&req).unwrap();
    let m1 = rows.iter().find(|r| r.id == "M1").unwrap();
    assert_eq!(m1.stats.day_kwh, 10.0);
    assert_eq!(m1.stats.night_kwh, 0.0);
    // The same hour written in UTC and at -05:00.
    for (from, to) in [
        ("2024-01-02T01:00:00Z", "2024-01-02T02:00:00Z"),
        ("2024-01-01T20:00:00-05:00", "2024-01-01T21:00:00-05:00"),
    ] {
        req.from = Some(from.into());
        req.to = Some(to.into());
        assert_eq!(scan(&req).unwrap(), rows, "{from} .. {to}");
    }
}

#[test]
fn per_enterprise_from_the_store_catalog() {
    use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, MeterRole};
    let (_d, mut req) = fixture();
    let mut cat = Catalog::new();
    for e in ["E1", "E2"] {
        cat.upsert_enterprise(Enterprise {
            id: e.into(),
            ..Enterprise::default()
        })
        .unwrap();
    }
    for (m, e) in [("M1", "E1"), ("M2", "E1"), ("M3", "E2")] {
        cat.upsert_meter(CatalogMeter::new(m, e, MeterRole::Production))
            .unwrap();
    }
    cat.save_dir(&req.store).unwrap();
    req.by = By::Enterprise;
    req.enterprises = None;
    let rows = scan(&req).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["E1", "E2"]
    );
    assert_eq!(rows[0].stats.day_kw, Some(40.0));
}
