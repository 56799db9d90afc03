//! Shared helpers of the monitor tests: a generated fleet in a store, its catalog, and
//! scoring alarms against the fleet's ground truth.
#![allow(
    dead_code,
    reason = "the module is shared: each monitor test uses part of it"
)]

use meterstore::fleet::{Fleet, FleetConfig, Role};
use meterstore::monitor::{Alarm, Catalog, CatalogMeter, Enterprise, MeterRole, RuleId};
use meterstore::{Options, Store};
use std::collections::{BTreeSet, HashMap};

pub const DAY: i64 = 86_400;

/// A store holding the whole fleet.
pub fn fleet_store(cfg: FleetConfig) -> (tempfile::TempDir, Store, Fleet) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let fleet = Fleet::new(cfg);
    for (i, m) in fleet.meters().iter().enumerate() {
        store.register_meter(&m.id, fleet.meta()).unwrap();
        fleet.append_meter(&store, i).unwrap();
    }
    (dir, store, fleet)
}

/// The catalog of a generated fleet: one enterprise per `E#####`, roles from the fleet.
pub fn fleet_catalog(fleet: &Fleet) -> Catalog {
    let mut cat = Catalog::new();
    for m in fleet.meters() {
        if cat.enterprise(&m.enterprise).is_none() {
            cat.upsert_enterprise(Enterprise {
                id: m.enterprise.clone(),
                name: format!("Enterprise {}", m.enterprise),
                ..Enterprise::default()
            })
            .unwrap();
        }
        let role = match m.role {
            Role::Production => MeterRole::Production,
            Role::Treatment => MeterRole::Treatment,
        };
        let mut cm = CatalogMeter::new(&m.id, &m.enterprise, role);
        cm.interval_s = Some(fleet.config().interval_s);
        cat.upsert_meter(cm).unwrap();
    }
    cat
}

/// Recall and precision of the switch-off and night-production findings.
#[derive(Debug, Clone, Copy)]
pub struct Scores {
    pub switch_offs: usize,
    pub switch_offs_found: usize,
    pub treatment_alarms: usize,
    pub treatment_alarms_true: usize,
    pub night_producers: usize,
    pub night_found: usize,
    pub night_alarms: usize,
    pub night_alarms_true: usize,
}

impl Scores {
    pub fn switch_recall(&self) -> f64 {
        self.switch_offs_found as f64 / self.switch_offs.max(1) as f64
    }
    pub fn switch_precision(&self) -> f64 {
        self.treatment_alarms_true as f64 / self.treatment_alarms.max(1) as f64
    }
    pub fn night_recall(&self) -> f64 {
        self.night_found as f64 / self.night_producers.max(1) as f64
    }
    pub fn night_precision(&self) -> f64 {
        self.night_alarms_true as f64 / self.night_alarms.max(1) as f64
    }
}

/// Scores `alarms` over `[from, to)` against the fleet's ground truth. A switch-off
/// counts when production ran for at least two hours of it (a meter above half its level)
/// and it lies in the range; it is found by an overlapping 产治不同步 or
/// `treatment_stopped` alarm on its treatment meter. A treatment alarm is true when it
/// overlaps any switch-off of its meter.
pub fn score(fleet: &Fleet, alarms: &[Alarm], from: i64, to: i64) -> Scores {
    let iv = fleet.config().interval_s as i64;
    let specs = fleet.meters();
    // Production running slots per enterprise.
    let mut running: HashMap<&str, BTreeSet<i64>> = HashMap::new();
    for (i, m) in specs.iter().enumerate() {
        if m.role != Role::Production {
            continue;
        }
        let (ts, vs) = fleet.series(i);
        let set = running.entry(&m.enterprise).or_default();
        for (t, v) in ts.iter().zip(&vs) {
            if v * 3600.0 / iv as f64 > 0.5 * m.level_kw {
                set.insert(*t);
            }
        }
    }
    let overlaps = |a: &Alarm, s: i64, e: i64| a.start < e && a.end.unwrap_or(i64::MAX) > s;
    let mut sc = Scores {
        switch_offs: 0,
        switch_offs_found: 0,
        treatment_alarms: 0,
        treatment_alarms_true: 0,
        night_producers: 0,
        night_found: 0,
        night_alarms: 0,
        night_alarms_true: 0,
    };
    let treatment_rules = [
        RuleId::ProductionTreatmentMismatch,
        RuleId::TreatmentStopped,
        RuleId::TreatmentUnderperforming,
    ];
    let mut enterprises: BTreeSet<(&str, bool)> = BTreeSet::new();
    for m in specs {
        enterprises.insert((&m.enterprise, m.night_producer));
        if m.role != Role::Treatment {
            continue;
        }
        let run = running.get(m.enterprise.as_str());
        for s in &m.switch_offs {
            if s.start < from || s.end > to {
                continue;
            }
            let ran = run.map_or(0, |r| r.range(s.clone()).count()) as i64 * iv;
            if ran < 2 * 3600 {
                continue;
            }
            sc.switch_offs += 1;
            if alarms.iter().any(|a| {
                matches!(
                    a.rule,
                    RuleId::ProductionTreatmentMismatch | RuleId::TreatmentStopped
                ) && a.meters[0] == m.id
                    && overlaps(a, s.start, s.end)
            }) {
                sc.switch_offs_found += 1;
            }
        }
        for a in alarms
            .iter()
            .filter(|a| treatment_rules.contains(&a.rule) && a.meters[0] == m.id)
        {
            sc.treatment_alarms += 1;
            if m.switch_offs.iter().any(|s| overlaps(a, s.start, s.end)) {
                sc.treatment_alarms_true += 1;
            }
        }
    }
    let night_truth: HashMap<&str, bool> = enterprises.iter().copied().collect();
    for (e, night) in &enterprises {
        if *night {
            sc.night_producers += 1;
            if alarms
                .iter()
                .any(|a| a.rule == RuleId::NightProduction && a.enterprise == *e)
            {
                sc.night_found += 1;
            }
        }
    }
    for a in alarms.iter().filter(|a| a.rule == RuleId::NightProduction) {
        sc.night_alarms += 1;
        if night_truth.get(a.enterprise.as_str()) == Some(&true) {
            sc.night_alarms_true += 1;
        }
    }
    sc
}

/// Compares two sorted alarm lists: everything exactly but the evidence's floating-point
/// figures, which may differ in the last bits (the day/night kernel sums in another order
/// than the streaming monitor).
pub fn same_alarms(a: &[Alarm], b: &[Alarm]) -> Result<(), String> {
    let key = |x: &Alarm| {
        (
            x.rule,
            x.enterprise.clone(),
            x.meters.clone(),
            x.start,
            x.end,
            x.evidence.units,
            x.evidence.metric,
        )
    };
    let ka: Vec<_> = a.iter().map(key).collect();
    let kb: Vec<_> = b.iter().map(key).collect();
    if ka != kb {
        return Err(format!("batch {ka:?}\nstream {kb:?}"));
    }
    let close = |p: f64, q: f64| p == q || (p - q).abs() <= 1e-9 * p.abs().max(q.abs());
    for (x, y) in a.iter().zip(b) {
        let (e, f) = (&x.evidence, &y.evidence);
        let ctx = match (e.context, f.context) {
            (Some((n, p)), Some((m, q))) => n == m && close(p, q),
            (None, None) => true,
            _ => false,
        };
        if !(close(e.mean, f.mean)
            && close(e.min, f.min)
            && close(e.max, f.max)
            && close(e.threshold, f.threshold)
            && ctx)
        {
            return Err(format!("evidence differs: {e:?} vs {f:?}"));
        }
    }
    Ok(())
}
