//! Learned thresholds on generated facilities whose normal running power is known.

mod monitor_support;

use meterstore::fleet::{FleetConfig, Role};
use meterstore::monitor::{Catalog, LearnOptions};
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
