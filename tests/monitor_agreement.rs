//! Batch and streaming evaluation give the same alarms on the same data, with readings
//! arriving in order and shuffled within the lateness bound, in batches of any size.

use meterstore::monitor::{
    evaluate, sort_alarms, Alarm, AlarmEvent, Catalog, CatalogMeter, EmergencyPeriod, Enterprise,
    ManualThreshold, MeterRole, Monitor, RuleConfig, RuleId, Suppression,
};
use meterstore::{MeterMeta, Options, Reading, Store, SyncPolicy};
use monitor_support::same_alarms;
use proptest::prelude::*;

mod monitor_support;

const T0: i64 = 1_704_038_400; // 2024-01-01T00:00+08:00
const IV: i64 = 900;
const DAYS: i64 = 3;
const SLOTS: usize = (DAYS * 96) as usize;

/// (meter, enterprise, role, off kW, normal kW, power levels in kW by code 0..=4)
type MeterSpec = (&'static str, &'static str, MeterRole, f64, f64, [f64; 5]);

const METERS: [MeterSpec; 5] = [
    (
        "M1",
        "E1",
        MeterRole::Production,
        5.0,
        50.0,
        [0.5, 3.1, 41.3, 60.7, 52.9],
    ),
    (
        "M2",
        "E1",
        MeterRole::Production,
        5.0,
        50.0,
        [0.7, 2.9, 38.3, 61.1, 47.7],
    ),
    (
        "M3",
        "E1",
        MeterRole::Treatment,
        2.0,
        10.0,
        [0.3, 1.7, 5.3, 10.1, 12.9],
    ),
    (
        "M4",
        "E2",
        MeterRole::Production,
        5.0,
        50.0,
        [0.9, 3.3, 44.9, 57.1, 51.1],
    ),
    (
        "M5",
        "E2",
        MeterRole::Treatment,
        2.0,
        10.0,
        [0.1, 1.3, 4.9, 9.7, 11.3],
    ),
];

fn catalog() -> Catalog {
    let mut c = Catalog::new();
    for e in ["E1", "E2"] {
        c.upsert_enterprise(Enterprise {
            id: e.into(),
            ..Enterprise::default()
        })
        .unwrap();
    }
    for (id, e, role, off, normal, _) in METERS {
        c.upsert_meter(CatalogMeter::new(id, e, role)).unwrap();
        c.set_manual(
            id,
            ManualThreshold {
                off_kw: Some(off),
                normal_kw: Some(normal),
            },
        )
        .unwrap();
    }
    c.add_suppression(Suppression {
        enterprise: "E1".into(),
        meter: None,
        rules: Vec::new(),
        range: T0 + 30 * 3600..T0 + 34 * 3600,
        reason: "maintenance".into(),
    })
    .unwrap();
    c.add_emergency(EmergencyPeriod {
        name: "orange alert".into(),
        range: T0 + 86_400..T0 + 3 * 86_400,
        required_cut: 0.3,
        enterprises: Vec::new(),
        baseline: Some(T0..T0 + 86_400),
    })
    .unwrap();
    c
}

/// Expands (length, code) segments to one code per slot; code 5 is a missing reading.
fn expand(segs: &[(usize, u8)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SLOTS);
    for &(len, code) in segs.iter().cycle() {
        for _ in 0..len {
            if out.len() == SLOTS {
                return out;
            }
            out.push(code);
        }
    }
    out
}

fn readings(codes: &[Vec<u8>]) -> Vec<(usize, i64, f64)> {
    let mut out = Vec::new();
    for k in 0..SLOTS {
        for (m, c) in codes.iter().enumerate() {
            if c[k] < 5 {
                let kw = METERS[m].5[c[k] as usize];
                // kWh per 15 minutes, at Wh resolution.
                out.push((m, T0 + k as i64 * IV, (kw * 250.0).round() / 1000.0));
            }
        }
    }
    out
}

fn run(
    codes: Vec<Vec<u8>>,
    delays: Vec<i64>,
    lateness: i64,
    chunk: usize,
) -> Result<Vec<Alarm>, String> {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    for (id, ..) in METERS {
        store.register_meter(id, MeterMeta::default()).unwrap();
    }
    let cat = catalog();
    let mut rs = readings(&codes);
    // Arrival order: by timestamp plus a delay of at most the lateness bound.
    let mut keyed: Vec<(i64, usize)> = rs
        .iter()
        .enumerate()
        .map(|(k, r)| (r.1 + delays[k % delays.len()].rem_euclid(lateness + 1), k))
        .collect();
    keyed.sort();
    rs = keyed.iter().map(|&(_, k)| rs[k]).collect();
    let to = T0 + DAYS * 86_400;
    let mut mon = Monitor::new(&store, &cat, RuleConfig::default(), T0, lateness);
    let mut stream: Vec<Alarm> = Vec::new();
    let mut take = |evs: Vec<AlarmEvent>| {
        for e in evs {
            if let AlarmEvent::Closed(a) = e {
                stream.push(a);
            }
        }
    };
    for part in rs.chunks(chunk.max(1)) {
        let batch: Vec<Reading> = part
            .iter()
            .map(|&(m, ts, value)| Reading::new(METERS[m].0, ts, value))
            .collect();
        store.append(&batch).unwrap();
        take(mon.on_append(&batch).unwrap());
    }
    take(mon.advance_to(to).unwrap());
    assert_eq!(mon.stats().late_dropped, 0);
    stream.extend(mon.open_alarms());
    sort_alarms(&mut stream);
    let batch = evaluate(&store, &cat, &RuleConfig::default(), T0..to).unwrap();
    same_alarms(&batch, &stream)?;
    Ok(batch)
}

fn segs() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec(
        (1usize..40, prop_oneof![8 => 0u8..5, 1 => Just(5u8)]),
        1..20,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        // 24 by default (quick in debug builds); PROPTEST_CASES asks for more.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn batch_and_stream_agree(
        codes in prop::collection::vec(segs().prop_map(|s| expand(&s)), 5),
        delays in prop::collection::vec(0i64..100_000, 1..64),
        lateness in prop_oneof![Just(0i64), Just(900), Just(7200)],
        chunk in prop_oneof![Just(1usize), Just(5), 1usize..400],
    ) {
        let delays = if lateness == 0 { vec![0] } else { delays };
        if let Err(e) = run(codes, delays, lateness, chunk) {
            prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn agree_on_some_alarms() {
    // A fixed case that raises every rule at least once.
    let mut codes = vec![vec![3u8; SLOTS]; 5];
    // E2 produces at night.
    let night: Vec<u8> = (0..SLOTS)
        .map(|k| {
            if (8..20).contains(&((k % 96) / 4)) {
                1
            } else {
                3
            }
        })
        .collect();
    codes[3] = night.clone();
    codes[4] = night;
    for c in &mut codes[2][40..60] {
        *c = 0; // treatment off: mismatch and stopped
    }
    for c in &mut codes[2][150..170] {
        *c = 2; // treatment low: underperforming
    }
    for c in &mut codes[0][200..230] {
        *c = 5; // silent
    }
    let a = run(codes.clone(), vec![0], 0, 5).unwrap();
    for rule in RuleId::ALL {
        assert!(a.iter().any(|x| x.rule == rule), "{rule} missing in {a:#?}");
    }
    let b = run(codes, (0..50).map(|k| k * 977).collect(), 7200, 37).unwrap();
    same_alarms(&a, &b).unwrap();
}

#[test]
fn readings_later_than_the_bound_are_dropped_without_alarms() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    for (id, ..) in METERS {
        store.register_meter(id, MeterMeta::default()).unwrap();
    }
    let cat = catalog();
    // Running normally, without the emergency period's cut: no rule has a reason to fire.
    let cfg = RuleConfig {
        rules: RuleId::ALL
            .into_iter()
            .filter(|r| *r != RuleId::EmergencyCutMissed)
            .collect(),
        ..RuleConfig::default()
    };
    // M3's reading of slot 10 arrives two intervals late.
    let rs = readings(&vec![vec![3u8; SLOTS]; 5]);
    let late_ts = T0 + 10 * IV;
    let (late, mut rest): (Vec<_>, Vec<_>) =
        rs.into_iter().partition(|r| r.0 == 2 && r.1 == late_ts);
    let at = rest.iter().position(|r| r.1 == late_ts + 2 * IV).unwrap();
    rest.splice(at..at, late);
    let mut mon = Monitor::new(&store, &cat, cfg.clone(), T0, 0);
    let mut events = Vec::new();
    for r in &rest {
        let batch = [Reading::new(METERS[r.0].0, r.1, r.2)];
        store.append(&batch).unwrap();
        events.extend(mon.on_append(&batch).unwrap());
    }
    let to = T0 + DAYS * 86_400;
    events.extend(mon.advance_to(to).unwrap());
    assert_eq!(mon.stats().late_dropped, 1);
    assert!(events.is_empty(), "{events:#?}");
    assert!(mon.open_alarms().is_empty());
    assert!(evaluate(&store, &cat, &cfg, T0..to).unwrap().is_empty());
}
