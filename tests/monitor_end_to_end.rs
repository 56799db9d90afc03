//! A user's way through the tools on generated CSV with known ground truth:
//! `import_csv --meters` (readings and catalog, intervals inferred), then
//! `facility_alarms --store` (thresholds learned from each meter's first 14 days and kept
//! in the catalog, the rest evaluated), its alarms CSV scored against the truth; and
//! `imbalance --by enterprise` grouping by the same catalog.

#[allow(dead_code, reason = "the module is shared: this test uses part of it")]
#[path = "../examples/common/mod.rs"]
mod common;
mod monitor_support;

use common::alarms::{self, BatchRequest};
use common::imbalance::{self, By, Request};
use common::import::{self, ImportConfig, NewMeterDefaults};
use common::time::Tz;
use meterstore::monitor::{Alarm, Catalog, Evidence, RuleId};
use meterstore::{Options, Store};
use monitor_support::shapes::{shapes, GenFleet, Shape};

/// Reads the alarms CSV back into alarms (evidence left empty).
fn read_alarms(path: &std::path::Path) -> Vec<Alarm> {
    let mut r = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "rule",
            "enterprise_id",
            "meter_id",
            "start",
            "end",
            "evidence"
        ]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            Alarm {
                rule: RuleId::parse(&rec[0]).unwrap(),
                enterprise: rec[1].to_owned(),
                meters: rec[2].split(';').map(str::to_owned).collect(),
                start: rec[3].parse().unwrap(),
                end: (!rec[4].is_empty()).then(|| rec[4].parse().unwrap()),
                evidence: Evidence {
                    metric: "",
                    units: 0,
                    mean: 0.0,
                    min: 0.0,
                    max: 0.0,
                    threshold: 0.0,
                    context: None,
                },
            }
        })
        .collect()
}

#[test]
fn import_then_alarms_then_imbalance() {
    let shape = Shape {
        enterprises: 12,
        ..shapes(4242).remove(0)
    };
    let fleet = GenFleet::new(shape);
    let dir = tempfile::tempdir().unwrap();
    let (readings, meters) = (dir.path().join("r.csv"), dir.path().join("meters.csv"));
    std::fs::write(&readings, fleet.readings_csv("kwh")).unwrap();
    std::fs::write(&meters, fleet.catalog_csv(false)).unwrap();
    let store = dir.path().join("store");
    let r = import::run(&ImportConfig {
        store: store.clone(),
        input: readings,
        meters: Some(meters),
        tz: Tz::parse("+08:00").unwrap(),
        skip_bad: false,
        progress: false,
        defaults: NewMeterDefaults::default(),
    })
    .unwrap();
    assert_eq!(r.new_meters, fleet.meters.len());
    {
        let s = Store::open(&store, Options::default()).unwrap();
        for m in &fleet.meters {
            assert_eq!(
                s.meter_meta(&m.id).unwrap().interval_s,
                Some(900),
                "{}",
                m.id
            );
        }
    }

    let out = dir.path().join("alarms.csv");
    let req = BatchRequest {
        store: store.clone(),
        from: None,
        to: None,
        train_days: 14,
        relearn: false,
        tz: "Asia/Shanghai".into(),
        csv: Some(out.clone()),
        export_catalog: None,
    };
    let n = alarms::batch(&req).unwrap();
    let got = read_alarms(&out);
    assert_eq!(got.len(), n);
    let s = monitor_support::shapes::score(&fleet, &got, fleet.eval_start(), fleet.end());
    eprintln!("end to end: {s}");
    assert!(s.switch_offs >= 20 && s.night_producers >= 2, "{s:?}");
    assert!(
        s.switch_recall() >= 0.97 && s.switch_precision() >= 0.95,
        "{s}"
    );
    assert!(
        s.night_recall() >= 0.97 && s.night_precision() >= 0.95,
        "{s}"
    );
    // Every alarm lies after the training, and the thresholds are in the catalog.
    assert!(got.iter().all(|a| a.start >= fleet.eval_start()));
    let cat = Catalog::load_dir(&store).unwrap();
    let learned = fleet.meters.iter().filter(|m| cat.learned(&m.id).is_some());
    assert_eq!(learned.count(), fleet.meters.len());
    // A second run learns nothing new and finds the same alarms.
    let again = alarms::batch(&req).unwrap();
    assert_eq!(again, n);
    assert_eq!(Catalog::load_dir(&store).unwrap(), cat);

    // imbalance --by enterprise reads the same catalog.
    let rows = imbalance::scan(&Request {
        store: store.clone(),
        from: None,
        to: None,
        day: "08:00-20:00".into(),
        tz: "+08:00".into(),
        threshold: 1.5,
        by: By::Enterprise,
        enterprises: None,
        daily: false,
    })
    .unwrap();
    assert_eq!(rows.len(), fleet.shape.enterprises);
    for row in &rows {
        assert_eq!(row.stats.flagged, fleet.night[&row.id], "{}", row.id);
    }
}

#[test]
fn alarms_of_a_store_without_catalog_or_with_a_bad_zone_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let req = |store: &std::path::Path, tz: &str| BatchRequest {
        store: store.to_owned(),
        from: None,
        to: None,
        train_days: 14,
        relearn: false,
        tz: tz.into(),
        csv: Some(dir.path().join("a.csv")),
        export_catalog: None,
    };
    // No store at all: not created.
    let missing = dir.path().join("nothing");
    assert!(alarms::batch(&req(&missing, "+08:00")).is_err());
    assert!(!missing.exists());
    // A store without a catalog.
    let store = dir.path().join("store");
    Store::open(&store, Options::default()).unwrap();
    let e = alarms::batch(&req(&store, "+08:00"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("import_csv --meters"), "{e}");
    // A catalog, but a zone that does not exist.
    let mut cat = Catalog::new();
    cat.import_rows([
        (
            1,
            vec!["meter_id".into(), "enterprise_id".into(), "role".into()],
        ),
        (2, vec!["M1".into(), "E1".into(), "treatment".into()]),
    ])
    .unwrap();
    cat.save_dir(&store).unwrap();
    let e = alarms::batch(&req(&store, "Mars/Olympus"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("Mars/Olympus"), "{e}");
}
