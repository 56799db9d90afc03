//! Learned thresholds on generated facilities whose normal running power is known.

mod monitor_support;

use meterstore::fleet::{FleetConfig, Role};
use meterstore::monitor::{Catalog, LearnOptions};
use meterstore::{Flag, Reading};
use monitor_support::*;

#[test]
fn learned_normal_power_matches_the_generator() {
    let cfg = FleetConfig {
        enterprises: 40,
        days: 14,
        switch_off_share: 0.5,
        ..FleetConfig::default()
    };
    let from = cfg.start;
    let (_dir, store, fleet) = fleet_store(cfg);
    let mut cat = fleet_catalog(&fleet);
    let report = cat
        .learn(&store, from..from + 14 * DAY, &LearnOptions::default())
        .unwrap();
    assert_eq!(report.learned.len(), fleet.meters().len());
    for m in fleet.meters() {
        let n = cat.learned(&m.id).unwrap();
        // Running power is the generator's level with 4% noise; switch-offs (2% of the
        // level) and idle periods (5-25%) are ignored.
        let err = (n.normal_kw - m.level_kw).abs() / m.level_kw;
        assert!(
            err < 0.02,
            "{}: learned {} vs {}",
            m.id,
            n.normal_kw,
            m.level_kw
        );
        assert!(
            n.off_kw > 0.05 * m.level_kw && n.off_kw <= 0.5 * m.level_kw + 1e-9,
            "{}: off {} vs level {}",
            m.id,
            n.off_kw,
            m.level_kw
        );
        if m.role == Role::Treatment {
            // Per time-of-day slot: midday runs at the level for day producers.
            let noon = from + 12 * 3600 - 8 * 3600 + 3 * DAY;
            if !m.night_producer {
                assert!((n.normal_at(noon) - m.level_kw).abs() / m.level_kw < 0.05);
            }
        }
    }
    // Persisted and shown.
    cat.save(&store).unwrap();
    let back = Catalog::load(&store).unwrap();
    assert_eq!(back, cat);
    let table = back.threshold_table();
    assert!(table.contains("learned") && table.contains(&fleet.meters()[0].id));
}

/// Readings flagged maintenance, fault, calibration or stopped take no part in learning:
/// nine of fourteen days of a treatment meter at three times its level move its learned
/// normal power, and the same readings resent flagged `M` (`D`, `C`, `F`) no longer do.
#[test]
fn flagged_readings_take_no_part_in_learning() {
    let cfg = FleetConfig {
        enterprises: 1,
        days: 14,
        switch_off_share: 0.0,
        ..FleetConfig::default()
    };
    let from = cfg.start;
    let (_dir, store, fleet) = fleet_store(cfg);
    let m = fleet
        .meters()
        .iter()
        .find(|m| m.role == Role::Treatment)
        .expect("a treatment meter")
        .clone();
    let range = from..from + 14 * DAY;
    let odd: Vec<(i64, f64)> = store
        .history(&m.id, from + 2 * DAY..from + 11 * DAY)
        .unwrap()
        .map(|(t, v)| (t, 3.0 * v))
        .collect();
    let learn = |flag: Flag| {
        let batch: Vec<Reading> = odd
            .iter()
            .map(|&(t, v)| Reading::new(&m.id, t, v).with_flag(flag))
            .collect();
        store.append(&batch).unwrap();
        let mut cat = fleet_catalog(&fleet);
        cat.learn(&store, range.clone(), &LearnOptions::default())
            .unwrap();
        let n = cat.learned(&m.id).unwrap().normal_kw;
        (n - m.level_kw).abs() / m.level_kw
    };
    let unflagged = learn(Flag::Normal);
    assert!(unflagged > 0.2, "the odd days moved nothing: {unflagged}");
    for flag in [
        Flag::Maintenance,
        Flag::Fault,
        Flag::Calibration,
        Flag::Stopped,
    ] {
        let err = learn(flag);
        assert!(err < 0.02, "{flag:?}: learned normal off by {err}");
    }
    // Flags that do not exclude (manual, over limit, communication) keep the readings.
    assert!(learn(Flag::OverLimit) > 0.2);
}
