//! Scenario tests for every rule, on and off at the edges of its parameters, for
//! suppression windows and for the alarm lifecycle. Each scenario runs in batch and in
//! streaming mode, which must agree.

use meterstore::monitor::{
    evaluate, sort_alarms, Alarm, AlarmEvent, Catalog, CatalogMeter, EmergencyPeriod, Enterprise,
    ManualThreshold, MeterRole, Monitor, RuleConfig, RuleId, Suppression,
};
use meterstore::{Flag, MeterMeta, Options, Reading, Store, SyncPolicy};
use monitor_support::same_alarms;

mod monitor_support;

const T0: i64 = 1_704_038_400; // 2024-01-01T00:00+08:00
const IV: i64 = 900;
const DAYS: usize = 2;
const SLOTS: usize = DAYS * 96;

/// Slot of local hour `h` on day `d`.
fn slot(d: usize, h: usize) -> usize {
    d * 96 + h * 4
}

struct Scenario {
    cat: Catalog,
    /// Per meter: kW per slot, `None` for a missing reading.
    series: Vec<(String, Vec<Option<f64>>)>,
    /// Readings with a quality flag other than N: meter, slots, flag.
    flagged: Vec<(String, std::ops::Range<usize>, Flag)>,
}

impl Scenario {
    /// E1 with production P1 (off 5 kW, normal 50 kW, running 08:00-20:00 at 50 kW,
    /// 2 kW otherwise) and treatment T1 (off 2 kW, normal 10 kW, following production
    /// at 10 kW and 1 kW).
    fn new() -> Scenario {
        let mut cat = Catalog::new();
        cat.upsert_enterprise(Enterprise {
            id: "E1".into(),
            ..Enterprise::default()
        })
        .unwrap();
        let mut series = Vec::new();
        for (id, role, off, normal, on, idle) in [
            ("P1", MeterRole::Production, 5.0, 50.0, 50.0, 2.0),
            ("T1", MeterRole::Treatment, 2.0, 10.0, 10.0, 1.0),
        ] {
            cat.upsert_meter(CatalogMeter::new(id, "E1", role)).unwrap();
            cat.set_manual(
                id,
                ManualThreshold {
                    off_kw: Some(off),
                    normal_kw: Some(normal),
                },
            )
            .unwrap();
            let s = (0..SLOTS)
                .map(|k| {
                    let h = (k % 96) / 4;
                    Some(if (8..20).contains(&h) { on } else { idle })
                })
                .collect();
            series.push((id.to_owned(), s));
        }
        Scenario {
            cat,
            series,
            flagged: Vec::new(),
        }
    }

    fn set(&mut self, meter: &str, slots: std::ops::Range<usize>, kw: Option<f64>) {
        let s = &mut self.series.iter_mut().find(|s| s.0 == meter).unwrap().1;
        for v in &mut s[slots] {
            *v = kw;
        }
    }

    /// Runs batch and streaming (one interval per append); returns the alarms and the
    /// streaming events with the slot whose append emitted them.
    fn run(&self, cfg: &RuleConfig) -> (Vec<Alarm>, Vec<(usize, AlarmEvent)>) {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            sync: SyncPolicy::Never,
            ..Options::default()
        };
        let store = Store::open(dir.path(), opts).unwrap();
        for (id, _) in &self.series {
            store.register_meter(id, MeterMeta::default()).unwrap();
        }
        let mut mon = Monitor::new(&store, &self.cat, cfg.clone(), T0, 0);
        let mut events = Vec::new();
        for k in 0..SLOTS {
            let t = T0 + k as i64 * IV;
            let batch: Vec<Reading> = self
                .series
                .iter()
                .filter_map(|(id, s)| s[k].map(|kw| Reading::new(id, t, kw / 4.0)))
                .map(|r| r.with_flag(self.flag(r.meter, k)))
                .collect();
            store.append(&batch).unwrap();
            events.extend(mon.on_append(&batch).unwrap().into_iter().map(|e| (k, e)));
        }
        let to = T0 + SLOTS as i64 * IV;
        events.extend(mon.advance_to(to).unwrap().into_iter().map(|e| (SLOTS, e)));
        let mut stream: Vec<Alarm> = events
            .iter()
            .filter_map(|(_, e)| match e {
                AlarmEvent::Closed(a) => Some(a.clone()),
                AlarmEvent::Opened(_) => None,
            })
            .chain(mon.open_alarms())
            .collect();
        sort_alarms(&mut stream);
        let batch = evaluate(&store, &self.cat, cfg, T0..to).unwrap();
        if let Err(e) = same_alarms(&batch, &stream) {
            panic!("batch and streaming differ: {e}");
        }
        (batch, events)
    }

    fn flag(&self, meter: &str, k: usize) -> Flag {
        self.flagged
            .iter()
            .find(|(m, slots, _)| m == meter && slots.contains(&k))
            .map_or(Flag::Normal, |f| f.2)
    }

    fn alarms(&self, rule: RuleId) -> Vec<Alarm> {
        let cfg = RuleConfig {
            rules: vec![rule],
            ..RuleConfig::default()
        };
        self.run(&cfg).0
    }
}

fn at(k: usize) -> i64 {
    T0 + k as i64 * IV
}

#[test]
fn quiet_enterprise_raises_nothing() {
    let (a, _) = Scenario::new().run(&RuleConfig::default());
    assert!(a.is_empty(), "{a:#?}");
}

#[test]
fn mismatch_opens_after_n_intervals() {
    let s0 = slot(0, 10);
    for (n, expect) in [(3, 0), (4, 1)] {
        let mut s = Scenario::new();
        s.set("T1", s0..s0 + n, Some(0.5));
        let a = s.alarms(RuleId::ProductionTreatmentMismatch);
        assert_eq!(a.len(), expect, "{n} intervals: {a:#?}");
        if expect == 1 {
            assert_eq!((a[0].start, a[0].end), (at(s0), Some(at(s0 + n))));
            assert_eq!(a[0].meters, vec!["T1".to_owned(), "P1".to_owned()]);
            assert_eq!(a[0].evidence.units, 4);
            assert_eq!(a[0].evidence.mean, 0.5);
            assert_eq!(a[0].evidence.context, Some(("production_kw", 50.0)));
        }
    }
    // Treatment low (below 0.6 x normal) counts too; exactly at the share does not.
    for (kw, expect) in [(5.99, 1), (6.0, 0)] {
        let mut s = Scenario::new();
        s.set("T1", s0..s0 + 4, Some(kw));
        assert_eq!(
            s.alarms(RuleId::ProductionTreatmentMismatch).len(),
            expect,
            "{kw}"
        );
    }
    // Production idle: no mismatch.
    let mut s = Scenario::new();
    let n0 = slot(0, 2);
    s.set("T1", n0..n0 + 8, Some(0.0));
    assert!(s.alarms(RuleId::ProductionTreatmentMismatch).is_empty());
}

#[test]
fn stopped_needs_off_level_and_running_production() {
    let s0 = slot(1, 9);
    for (n, kw, expect) in [(4, 1.99, 1), (3, 1.99, 0), (4, 2.0, 0)] {
        let mut s = Scenario::new();
        s.set("T1", s0..s0 + n, Some(kw));
        assert_eq!(
            s.alarms(RuleId::TreatmentStopped).len(),
            expect,
            "{n} x {kw}"
        );
    }
    // Off while production is idle as well: nothing to treat.
    let mut s = Scenario::new();
    s.set("T1", slot(0, 21)..slot(0, 23), Some(0.0));
    assert!(s.alarms(RuleId::TreatmentStopped).is_empty());
}

#[test]
fn underperforming_between_off_and_share_of_normal() {
    let s0 = slot(0, 9);
    for (n, kw, expect) in [(8, 5.0, 1), (7, 5.0, 0), (8, 6.0, 0), (8, 1.0, 0)] {
        let mut s = Scenario::new();
        s.set("T1", s0..s0 + n, Some(kw));
        let a = s.alarms(RuleId::TreatmentUnderperforming);
        assert_eq!(a.len(), expect, "{n} x {kw}: {a:#?}");
    }
    let cfg = RuleConfig {
        rules: vec![RuleId::TreatmentUnderperforming],
        underperforming_share: 0.4,
        ..RuleConfig::default()
    };
    let mut s = Scenario::new();
    s.set("T1", s0..s0 + 8, Some(5.0));
    assert!(s.run(&cfg).0.is_empty(), "5 kW is above 0.4 x 10 kW");
}

#[test]
fn night_production_per_local_day() {
    // Day 1: production 20 kW by day; at night `night` kW: ratio night / 20.
    for (night, expect) in [(30.1, 1), (29.9, 0)] {
        let mut s = Scenario::new();
        s.set("P1", slot(1, 0)..slot(1, 8), Some(night));
        s.set("P1", slot(1, 8)..slot(1, 20), Some(20.0));
        s.set("P1", slot(1, 20)..slot(2, 0), Some(night));
        let a = s.alarms(RuleId::NightProduction);
        assert_eq!(a.len(), expect, "night {night}: {a:#?}");
        if expect == 1 {
            assert_eq!((a[0].start, a[0].end), (at(slot(1, 0)), None));
            assert!((a[0].evidence.mean - night / 20.0).abs() < 1e-9);
        }
    }
    // Too little of the night covered: the day is not judged.
    let mut s = Scenario::new();
    s.set("P1", slot(1, 0)..slot(1, 8), None);
    s.set("P1", slot(1, 20)..slot(2, 0), Some(100.0));
    s.set("P1", slot(1, 20)..slot(1, 23), None);
    assert!(s.alarms(RuleId::NightProduction).is_empty());
}

#[test]
fn silent_after_more_than_n_intervals() {
    let s0 = slot(0, 3);
    for (n, expect) in [(16, 0), (17, 1)] {
        let mut s = Scenario::new();
        s.set("T1", s0..s0 + n, None);
        let a = s.alarms(RuleId::MeterSilent);
        assert_eq!(a.len(), expect, "{n} missing: {a:#?}");
        if expect == 1 {
            assert_eq!((a[0].start, a[0].end), (at(s0), Some(at(s0 + n))));
            assert_eq!(a[0].meters, vec!["T1".to_owned()]);
        }
    }
}

#[test]
fn emergency_cut_against_baseline() {
    // Baseline day 0: mean production power (12 x 50 + 12 x 2) / 24 = 26 kW.
    for (kw, expect) in [(18.3, 1), (18.1, 0)] {
        let mut s = Scenario::new();
        s.set("P1", slot(1, 0)..slot(2, 0), Some(kw));
        s.cat
            .add_emergency(EmergencyPeriod {
                name: "red alert".into(),
                range: at(slot(1, 0))..at(slot(2, 0)),
                required_cut: 0.3,
                enterprises: vec!["E1".into()],
                baseline: Some(T0..at(slot(1, 0))),
            })
            .unwrap();
        let a = s.alarms(RuleId::EmergencyCutMissed);
        assert_eq!(a.len(), expect, "{kw} kW: {a:#?}");
        if expect == 1 {
            assert_eq!(
                (a[0].start, a[0].end),
                (at(slot(1, 0)), Some(at(slot(2, 0))))
            );
            assert_eq!(a[0].evidence.context, Some(("baseline_kw", 26.0)));
        }
    }
}

#[test]
fn suppression_windows_silence_alarms() {
    let s0 = slot(0, 10);
    let mut s = Scenario::new();
    s.set("T1", s0..s0 + 8, Some(0.0));
    // Declared maintenance of T1 covering the switch-off, for the treatment rules only.
    s.cat
        .add_suppression(Suppression {
            enterprise: "E1".into(),
            meter: Some("T1".into()),
            rules: vec![
                RuleId::ProductionTreatmentMismatch,
                RuleId::TreatmentStopped,
            ],
            range: at(s0 - 2)..at(s0 + 10),
            reason: "filter replacement".into(),
        })
        .unwrap();
    let (a, _) = s.run(&RuleConfig::default());
    assert!(a.is_empty(), "{a:#?}");
    // A window that ends inside the switch-off lets the rest through.
    let mut s = Scenario::new();
    s.set("T1", s0..s0 + 8, Some(0.0));
    s.cat
        .add_suppression(Suppression {
            enterprise: "E1".into(),
            meter: None,
            rules: Vec::new(),
            range: at(s0)..at(s0 + 3),
            reason: "declared shutdown".into(),
        })
        .unwrap();
    let a = s.alarms(RuleId::TreatmentStopped);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].start, a[0].end), (at(s0 + 3), Some(at(s0 + 8))));
}

#[test]
fn readings_flagged_m_d_c_or_f_are_left_out_like_declared_maintenance() {
    let s0 = slot(0, 10);
    let facility = [
        RuleId::ProductionTreatmentMismatch,
        RuleId::TreatmentStopped,
    ];
    // The treatment facility stops for two hours while production runs: alarms.
    let mut s = Scenario::new();
    s.set("T1", s0..s0 + 8, Some(0.0));
    for rule in facility {
        assert_eq!(s.alarms(rule).len(), 1, "{rule} unflagged");
    }
    // The same stop with its readings flagged out of monitoring: no alarm, in batch and
    // streaming alike (`run` checks that they agree).
    for flag in [
        Flag::Maintenance,
        Flag::Fault,
        Flag::Calibration,
        Flag::Stopped,
    ] {
        s.flagged = vec![("T1".into(), s0..s0 + 8, flag)];
        let (a, events) = s.run(&RuleConfig::default());
        assert!(a.is_empty() && events.is_empty(), "{flag:?}: {a:#?}");
    }
    // Flags that declare nothing about the facility's state change nothing.
    for flag in [Flag::Manual, Flag::OverLimit, Flag::Communication] {
        s.flagged = vec![("T1".into(), s0..s0 + 8, flag)];
        for rule in facility {
            assert_eq!(s.alarms(rule).len(), 1, "{rule} flagged {flag:?}");
        }
    }
    // Flagged production readings leave their units out too.
    s.flagged = vec![("P1".into(), s0..s0 + 8, Flag::Maintenance)];
    assert!(s.run(&RuleConfig::default()).0.is_empty());
    // Only the first three intervals flagged: the rest of the stop opens the alarm at its
    // first unflagged interval, as a suppression window ending there does.
    s.flagged = vec![("T1".into(), s0..s0 + 3, Flag::Maintenance)];
    let a = s.alarms(RuleId::TreatmentStopped);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].start, a[0].end), (at(s0 + 3), Some(at(s0 + 8))));
    // Night production on day 1, with an hour of its night flagged F: the day is not
    // judged.
    let mut s = Scenario::new();
    s.set("P1", slot(1, 0)..slot(1, 8), Some(30.1));
    s.set("P1", slot(1, 8)..slot(1, 20), Some(20.0));
    s.set("P1", slot(1, 20)..slot(2, 0), Some(30.1));
    assert_eq!(s.alarms(RuleId::NightProduction).len(), 1);
    s.flagged = vec![("P1".into(), slot(1, 2)..slot(1, 3), Flag::Stopped)];
    assert!(s.alarms(RuleId::NightProduction).is_empty());
}

#[test]
fn lifecycle_open_hold_close_and_prompt_events() {
    let s0 = slot(0, 10);
    let mut s = Scenario::new();
    s.set("T1", s0..s0 + 12, Some(0.0));
    // Missing readings inside the switch-off hold the alarm open.
    s.set("T1", s0 + 5..s0 + 7, None);
    let cfg = RuleConfig {
        rules: vec![RuleId::TreatmentStopped],
        ..RuleConfig::default()
    };
    let (a, events) = s.run(&cfg);
    assert_eq!(a.len(), 1, "one alarm per rule and subject: {a:#?}");
    assert_eq!((a[0].start, a[0].end), (at(s0), Some(at(s0 + 12))));
    assert_eq!(a[0].evidence.units, 10);
    // Opened by the append of the fourth off interval, closed by the first good one.
    assert_eq!(events.len(), 2);
    assert!(matches!(&events[0], (k, AlarmEvent::Opened(x)) if *k == s0 + 3 && x.end.is_none()));
    assert!(matches!(&events[1], (k, AlarmEvent::Closed(_)) if *k == s0 + 12));
    // Two switch-offs far apart: two alarms.
    let mut s = Scenario::new();
    s.set("T1", s0..s0 + 4, Some(0.0));
    s.set("T1", s0 + 10..s0 + 14, Some(0.0));
    assert_eq!(s.run(&cfg).0.len(), 2);
    // More than `max_unknown_intervals` missing readings close it at the last bad one.
    let mut s = Scenario::new();
    s.set("T1", s0..s0 + 4, Some(0.0));
    s.set("T1", s0 + 4..s0 + 9, None);
    let a = s.run(&cfg).0;
    assert_eq!((a[0].start, a[0].end), (at(s0), Some(at(s0 + 4))));
}
