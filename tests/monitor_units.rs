//! Quarter-hour units of 1-minute meters, judged only with 3/4 of their minutes (HJ 212's
//! 45 of 60): a switch-off seen in 12 of every 15 minutes raises alarms, one seen in 11
//! is not judged; batch and streaming agree.

use meterstore::monitor::{
    evaluate, sort_alarms, AlarmEvent, Catalog, CatalogMeter, Enterprise, ManualThreshold,
    MeterRole, Monitor, RuleConfig, RuleId,
};
use meterstore::{MeterMeta, Options, Quantity, Reading, Store, SyncPolicy};
use monitor_support::same_alarms;

mod monitor_support;

const T0: i64 = 1_704_038_400; // 2024-01-01T00:00+08:00
const H: i64 = 3600;

/// A store in `dir` and a catalog holding one enterprise, `E1`.
fn store_with_enterprise(dir: &std::path::Path) -> (Store, Catalog) {
    let opts = Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    };
    let store = Store::open(dir, opts).unwrap();
    let mut cat = Catalog::new();
    cat.upsert_enterprise(Enterprise {
        id: "E1".into(),
        ..Enterprise::default()
    })
    .unwrap();
    (store, cat)
}

#[test]
fn one_minute_units_need_three_quarters_of_their_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut cat) = store_with_enterprise(dir.path());
    let meta = MeterMeta {
        kind: Quantity::Power,
        interval_s: Some(60),
        unit: "kW".into(),
    };
    for (id, role, off, normal) in [
        ("P1", MeterRole::Production, 5.0, 50.0),
        ("T1", MeterRole::Treatment, 2.0, 10.0),
    ] {
        let mut m = CatalogMeter::new(id, "E1", role);
        (m.kind, m.interval_s, m.unit) = (meta.kind, meta.interval_s, meta.unit.clone());
        cat.upsert_meter(m).unwrap();
        let t = ManualThreshold {
            off_kw: Some(off),
            normal_kw: Some(normal),
        };
        cat.set_manual(id, t).unwrap();
        store.register_meter(id, meta.clone()).unwrap();
    }
    // Production runs 08:00-20:00; treatment follows, but is off 10:00-12:00 (every
    // minute reported), 14:00-16:00 (minutes 11-14 of each quarter hour lost) and
    // 16:00-18:00 (minutes 12-14 lost).
    let mut by_minute: Vec<Vec<(&str, f64)>> = Vec::new();
    for k in 0..24 * 60 {
        let t = T0 + k * 60;
        let h = (t - T0) as f64 / H as f64;
        let run = (8.0..20.0).contains(&h);
        let off = (10.0..12.0).contains(&h) || (14.0..18.0).contains(&h);
        let lost = match k % 15 {
            11.. if (14.0..16.0).contains(&h) => true,
            12.. if (16.0..18.0).contains(&h) => true,
            _ => false,
        };
        let mut row = vec![("P1", if run { 50.0 } else { 1.0 })];
        if !lost {
            row.push((
                "T1",
                if off {
                    0.1
                } else if run {
                    10.0
                } else {
                    0.5
                },
            ));
        }
        by_minute.push(row);
    }
    let mut mon = Monitor::new(&store, &cat, RuleConfig::default(), T0, 0);
    let mut stream = Vec::new();
    for (k, row) in by_minute.iter().enumerate() {
        let batch: Vec<Reading> = row
            .iter()
            .map(|&(meter, value)| Reading::new(meter, T0 + k as i64 * 60, value))
            .collect();
        store.append(&batch).unwrap();
        for e in mon.on_append(&batch).unwrap() {
            if let AlarmEvent::Closed(a) = e {
                stream.push(a);
            }
        }
    }
    let end = T0 + 24 * H;
    for e in mon.advance_to(end).unwrap() {
        if let AlarmEvent::Closed(a) = e {
            stream.push(a);
        }
    }
    stream.extend(mon.open_alarms());
    sort_alarms(&mut stream);
    let batch = evaluate(&store, &cat, &RuleConfig::default(), T0..end).unwrap();
    same_alarms(&batch, &stream).unwrap();
    let stopped: Vec<(i64, i64)> = batch
        .iter()
        .filter(|a| a.rule == RuleId::TreatmentStopped)
        .map(|a| ((a.start - T0) / 60, (a.end.unwrap() - T0) / 60))
        .collect();
    // 10:00-12:00 and 16:00-18:00 in quarter-hour units; 14:00-16:00 not judged.
    assert_eq!(stopped, [(600, 720), (960, 1080)], "{batch:#?}");
    assert!(batch
        .iter()
        .all(|a| a.evidence.units == 8 || a.rule == RuleId::MeterSilent));
}

#[test]
fn emergency_cuts_of_register_meters() {
    use meterstore::monitor::EmergencyPeriod;
    let dir = tempfile::tempdir().unwrap();
    let (store, mut cat) = store_with_enterprise(dir.path());
    let meta = MeterMeta {
        kind: Quantity::CumulativeRegister,
        interval_s: Some(900),
        unit: "kWh".into(),
    };
    let mut m = CatalogMeter::new("R1", "E1", MeterRole::Main);
    (m.kind, m.interval_s) = (meta.kind, meta.interval_s);
    cat.upsert_meter(m).unwrap();
    store.register_meter("R1", meta).unwrap();
    // 100 kW for 7 days, then 90 kW for a day (not cut by 30%), then 60 kW (cut).
    let day = 24 * H;
    let mut reg = 5000.0;
    let mut batch = Vec::new();
    for k in 0..9 * 96 {
        let t = T0 + k * 900;
        batch.push((t, reg));
        let kw = match (t - T0) / day {
            0..=6 => 100.0,
            7 => 90.0,
            _ => 60.0,
        };
        reg += kw * 0.25;
    }
    let readings: Vec<Reading> = batch
        .iter()
        .map(|&(ts, value)| Reading::new("R1", ts, value))
        .collect();
    store.append(&readings).unwrap();
    cat.add_emergency(EmergencyPeriod {
        name: "orange".into(),
        range: T0 + 7 * day..T0 + 9 * day,
        required_cut: 0.3,
        enterprises: vec![],
        baseline: None,
    })
    .unwrap();
    let cfg = RuleConfig {
        rules: vec![RuleId::EmergencyCutMissed],
        ..RuleConfig::default()
    };
    let alarms = evaluate(&store, &cat, &cfg, T0..T0 + 9 * day).unwrap();
    assert_eq!(alarms.len(), 1, "{alarms:#?}");
    let a = &alarms[0];
    assert_eq!((a.start, a.end), (T0 + 7 * day, Some(T0 + 8 * day)));
    assert!((a.evidence.mean - 0.9).abs() < 1e-9, "{a:#?}");
    assert!((a.evidence.context.unwrap().1 - 100.0).abs() < 1e-9);
}
