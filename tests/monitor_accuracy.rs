//! Defaults that work on generated fleets with known ground truth: switch-offs of two
//! hours or more during production and night producers are found with recall >= 0.95
//! and precision >= 0.90, with learned thresholds and default parameters.
//!
//! `MONITOR_FLEET_ENTERPRISES` and `MONITOR_FLEET_DAYS` scale the fleet up (the default
//! keeps the test quick in debug builds); `MONITOR_FLEET_NOISE` and `MONITOR_FLEET_GAPS`
//! make the data dirtier.

mod monitor_support;

use meterstore::fleet::FleetConfig;
use meterstore::monitor::{evaluate, LearnOptions, RuleConfig};
use monitor_support::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn envf(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn switch_offs_and_night_producers_are_found() {
    for seed in [7u64, 2024] {
        let cfg = FleetConfig {
            enterprises: env("MONITOR_FLEET_ENTERPRISES", 60),
            days: env("MONITOR_FLEET_DAYS", 14) as u32,
            noise: envf("MONITOR_FLEET_NOISE", 0.04),
            gap_share: envf("MONITOR_FLEET_GAPS", 0.005),
            night_producer_share: 0.2,
            switch_off_share: 0.3,
            seed,
            ..FleetConfig::default()
        };
        let (from, days) = (cfg.start, cfg.days as i64);
        let (_dir, store, fleet) = fleet_store(cfg);
        let mut cat = fleet_catalog(&fleet);
        let report = cat
            .learn(&store, from..from + 7 * DAY, &LearnOptions::default())
            .unwrap();
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let to = from + days * DAY;
        let alarms = evaluate(&store, &cat, &RuleConfig::default(), from..to).unwrap();
        let s = score(&fleet, &alarms, from, to);
        eprintln!(
            "seed {seed}: switch-offs {}/{} found (recall {:.3}), treatment alarms {}/{} true \
             (precision {:.3}); night producers {}/{} found (recall {:.3}), night alarms {}/{} \
             true (precision {:.3})",
            s.switch_offs_found,
            s.switch_offs,
            s.switch_recall(),
            s.treatment_alarms_true,
            s.treatment_alarms,
            s.switch_precision(),
            s.night_found,
            s.night_producers,
            s.night_recall(),
            s.night_alarms_true,
            s.night_alarms,
            s.night_precision()
        );
        assert!(s.switch_offs >= 10 && s.night_producers >= 3, "{s:?}");
        assert!(s.switch_recall() >= 0.95, "{s:?}");
        assert!(s.switch_precision() >= 0.90, "{s:?}");
        assert!(s.night_recall() >= 0.95, "{s:?}");
        assert!(s.night_precision() >= 0.90, "{s:?}");
    }
}
