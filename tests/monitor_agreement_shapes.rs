//! Batch and streaming evaluation agree on the generated shapes the fixed fixture of
//! `monitor_agreement` does not cover: cumulative registers with a CT change (power by
//! differencing), 5-minute power meters (quarter-hour units of three readings), gaps,
//! learned thresholds.

mod monitor_support;

use meterstore::monitor::{
    evaluate, sort_alarms, AlarmEvent, Catalog, LearnOptions, Monitor, RuleConfig,
};
use meterstore::{Options, Reading, Store};
use monitor_support::same_alarms;
use monitor_support::shapes::{shapes, GenFleet, Shape, DAY};
use std::collections::BTreeMap;

fn agree(shape: Shape) {
    let fleet = GenFleet::new(shape);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    fleet.fill(&store);
    let mut cat = Catalog::new();
    let rows = fleet
        .catalog_csv(true)
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split(',').map(str::to_owned).collect()))
        .collect::<Vec<_>>();
    cat.import_rows(rows).unwrap();
    let train = fleet.shape.train_days as i64 * DAY;
    cat.learn_from_start(&store, train, false, &LearnOptions::default())
        .unwrap();
    let (from, to) = (fleet.eval_start(), fleet.end());
    // The readings after the training, by timestamp: one append per instant.
    let mut by_ts: BTreeMap<i64, Vec<Reading>> = BTreeMap::new();
    for m in &fleet.meters {
        for &(ts, value) in m.readings.iter().filter(|r| r.0 >= from) {
            by_ts
                .entry(ts)
                .or_default()
                .push(Reading::new(&m.id, ts, value));
        }
    }
    let mut mon = Monitor::new(&store, &cat, RuleConfig::default(), from, 0);
    let mut stream = Vec::new();
    let mut take = |evs: Vec<AlarmEvent>| {
        stream.extend(evs.into_iter().filter_map(|e| match e {
            AlarmEvent::Closed(a) => Some(a),
            AlarmEvent::Opened(_) => None,
        }))
    };
    for batch in by_ts.values() {
        take(mon.on_append(batch).unwrap());
    }
    take(mon.advance_to(to).unwrap());
    stream.extend(mon.open_alarms());
    sort_alarms(&mut stream);
    let batch = evaluate(&store, &cat, &RuleConfig::default(), from..to).unwrap();
    assert!(
        batch
            .iter()
            .any(|a| a.rule == meterstore::monitor::RuleId::TreatmentStopped),
        "the shape has switch-offs to find"
    );
    same_alarms(&batch, &stream).unwrap();
}

#[test]
fn registers_and_five_minute_power_agree() {
    for shape in shapes(77).into_iter().skip(1) {
        agree(Shape {
            enterprises: 6,
            days: 18,
            ..shape
        });
    }
}
