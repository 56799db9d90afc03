//! The `imbalance` example's core: scan, flagged-first printing and the CSV contract.

#[allow(dead_code, reason = "the module is shared: this test uses part of it")]
#[path = "../examples/common/mod.rs"]
mod common;

use common::imbalance::{print, scan, write_csv, By, Request};
use meterstore::fleet::{Role, Shape, ShapedFleet};
use meterstore::{DayWindow, MeterMeta, Options, Reading, Store, UnknownMeters};
use std::collections::{BTreeMap, HashMap};

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
            Reading::new(meter, START + k * 900, kw * 0.25)
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

/// The CSV of `rows` as records of strings, header first.
fn csv_records(rows: &[common::imbalance::Row], by: By) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    write_csv(&mut out, rows, by).unwrap();
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[test]
fn daily_rows_per_meter_and_date() {
    let (_d, mut req) = fixture();
    req.daily = true;
    let rows = scan(&req).unwrap();
    let recs = csv_records(&rows, By::Meter);
    assert_eq!(
        recs[0].join(","),
        "meter_id,date,day_kwh,night_kwh,day_hours,night_hours,ratio,flagged"
    );
    // 3 meters x 7 local days, sorted by meter then date.
    assert_eq!(recs.len(), 1 + 21);
    assert_eq!(recs[1][..2], ["M1", "2024-01-01"]);
    assert_eq!(recs[7][..2], ["M1", "2024-01-07"]);
    assert_eq!(recs[8][..2], ["M2", "2024-01-01"]);
    // M1: 10 kW by day and 40 kW at night, every day.
    assert_eq!(recs[1][2..], ["120", "480", "12", "12", "4", "true"]);
    // M3 draws nothing by day: no ratio, not flagged.
    assert_eq!(recs[15][6..], ["", "false"]);
    let mut printed = Vec::new();
    print(&mut printed, &rows, By::Meter).unwrap();
    let printed = String::from_utf8(printed).unwrap();
    assert!(
        printed.starts_with("7 of 21 meter-days flagged"),
        "{printed}"
    );
}

/// Day kWh, night kWh, day readings, night readings.
type Sums = (f64, f64, u32, u32);

/// Per (id, local date).
type DayTally = BTreeMap<(String, String), Sums>;

#[test]
fn daily_rows_in_a_dst_zone_match_a_reference_from_the_readings() {
    // Berlin local time over the spring-forward day (2024-03-31, 23 hours).
    let fleet = ShapedFleet::new(Shape::Dst, 6, 95, 3);
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let window = DayWindow::default();
    let mut tally = DayTally::new();
    let mut members = String::from("meter_id,enterprise_id,role\n");
    {
        let opts = Options {
            unknown_meters: UnknownMeters::Register(fleet.meta()),
            ..Options::default()
        };
        let s = Store::open(&store_dir, opts).unwrap();
        for (i, m) in fleet.meters().iter().enumerate() {
            fleet.append_meter(&s, i).unwrap();
            let role = if m.role == Role::Production {
                "production"
            } else {
                "treatment"
            };
            members.push_str(&format!("{},{},{role}\n", m.id, m.enterprise));
            let series = fleet.series(i);
            for (&t, &v) in series.ts.iter().zip(&series.values) {
                let z = jiff::Timestamp::from_second(t)
                    .unwrap()
                    .to_zoned(tz.clone());
                let day = window.contains_minute(z.hour() as u32 * 60 + z.minute() as u32);
                let e = tally
                    .entry((m.id.clone(), z.date().to_string()))
                    .or_default();
                if day {
                    (e.0, e.2) = (e.0 + v, e.2 + 1);
                } else {
                    (e.1, e.3) = (e.1 + v, e.3 + 1);
                }
            }
        }
        s.flush().unwrap();
    }
    let members_csv = dir.path().join("members.csv");
    std::fs::write(&members_csv, &members).unwrap();
    let req = Request {
        store: store_dir,
        from: None,
        to: None,
        day: "08:00-20:00".into(),
        tz: "Europe/Berlin".into(),
        threshold: 1.5,
        by: By::Meter,
        enterprises: Some(members_csv),
        daily: true,
    };
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let check = |rec: &[String], want: &Want| {
        let num = |i: usize| rec[i].parse::<f64>().unwrap();
        assert!(near(num(2), want.day_kwh), "{rec:?} vs {want:?}");
        assert!(near(num(3), want.night_kwh), "{rec:?} vs {want:?}");
        assert!(
            near(num(4), want.day_hours) && near(num(5), want.night_hours),
            "{rec:?} vs {want:?}"
        );
        match want.ratio {
            Some(r) if want.day_kwh != 0.0 => assert!(near(num(6), r), "{rec:?} vs {want:?}"),
            _ => assert_eq!(rec[6], "", "{rec:?}"),
        }
        assert_eq!(
            rec[7],
            (want.ratio.is_some_and(|r| r > 1.5)).to_string(),
            "{rec:?}"
        );
    };

    // Per meter: each row against its reference.
    let recs = csv_records(&scan(&req).unwrap(), By::Meter);
    assert_eq!(recs.len() - 1, tally.len());
    let hours = |n: u32| n as f64 * 0.25;
    for (rec, ((id, date), t)) in recs[1..].iter().zip(&tally) {
        assert_eq!((&rec[0], &rec[1]), (id, date));
        let (dk, nk) = (t.2 > 0)
            .then(|| t.0 / hours(t.2))
            .zip((t.3 > 0).then(|| t.1 / hours(t.3)))
            .unzip();
        let ratio = dk.zip(nk).and_then(|(d, n)| (d > 0.0).then(|| n / d));
        check(
            rec,
            &Want {
                day_kwh: t.0,
                night_kwh: t.1,
                day_hours: hours(t.2),
                night_hours: hours(t.3),
                ratio,
            },
        );
    }
    assert!(recs.iter().any(|r| r[1] == "2024-03-31"));

    // Per enterprise: production meters combined (energies and average powers add up,
    // covered hours are the members' mean).
    let enterprise_of: HashMap<&str, &str> = fleet
        .meters()
        .iter()
        .filter(|m| m.role == Role::Production)
        .map(|m| (m.id.as_str(), m.enterprise.as_str()))
        .collect();
    let mut by_e: BTreeMap<(String, String), Vec<Sums>> = BTreeMap::new();
    for ((id, date), t) in &tally {
        if let Some(e) = enterprise_of.get(id.as_str()) {
            by_e.entry((e.to_string(), date.clone()))
                .or_default()
                .push(*t);
        }
    }
    let req = Request {
        by: By::Enterprise,
        ..req
    };
    let recs = csv_records(&scan(&req).unwrap(), By::Enterprise);
    assert_eq!(recs[0][..2], ["enterprise_id", "date"]);
    assert_eq!(recs.len() - 1, by_e.len());
    for (rec, ((e, date), ms)) in recs[1..].iter().zip(&by_e) {
        assert_eq!((&rec[0], &rec[1]), (e, date));
        let n = ms.len() as f64;
        let sum = |f: &dyn Fn(&Sums) -> f64| ms.iter().map(f).sum::<f64>();
        let kw = |f: &dyn Fn(&Sums) -> Option<f64>| {
            ms.iter()
                .filter_map(f)
                .fold(None, |a: Option<f64>, v| Some(a.unwrap_or(0.0) + v))
        };
        let day_kw = kw(&|t| (t.2 > 0).then(|| t.0 / hours(t.2)));
        let night_kw = kw(&|t| (t.3 > 0).then(|| t.1 / hours(t.3)));
        let ratio = day_kw
            .zip(night_kw)
            .and_then(|(d, x)| (d > 0.0).then(|| x / d));
        check(
            rec,
            &Want {
                day_kwh: sum(&|t| t.0),
                night_kwh: sum(&|t| t.1),
                day_hours: sum(&|t| hours(t.2)) / n,
                night_hours: sum(&|t| hours(t.3)) / n,
                ratio,
            },
        );
    }
}

/// Expected figures of one CSV row.
#[derive(Debug)]
struct Want {
    day_kwh: f64,
    night_kwh: f64,
    day_hours: f64,
    night_hours: f64,
    ratio: Option<f64>,
}
