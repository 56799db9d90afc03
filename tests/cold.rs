//! The cold tier: `Store::compact_cold` and the policy's `cold_after` rewrite settled
//! windows into cold segments that every read takes as it took the hot ones (history,
//! aggregates, gaps, day/night scans, bit for bit), that survive a reopen, that late
//! readings rewrite correctly, and that a failure during the rewrite loses nothing.

mod support;

use meterstore::faults::{inject, FaultOp};
use meterstore::fleet::{Fleet, FleetConfig};
use meterstore::{
    Agg, Bucket, CompactionOptions, DayNightScan, MeterDayNight, MeterFilter, MeterMeta, Options,
    Quantity, Reading, Store, UtcOffset,
};
use std::io;
use support::JAN;

/// The test options with the cold tier on: windows that ended 62 days before the newest
/// reading go cold (the policy's setting a store opts into).
fn opts() -> Options {
    let mut o = support::opts();
    o.compaction.cold_after = Some(62 * 86_400);
    o
}

/// Everything a reader can ask of the store, per meter, as text (so that NaN sums of
/// the extreme float values compare equal to themselves).
#[derive(PartialEq)]
struct Answers {
    history: Vec<(String, Vec<(i64, u64)>)>,
    aggregates: Vec<String>,
    gaps: Vec<String>,
    day_night: Vec<DayNightRow>,
}

/// A day/night result: its exact fields as text, and its sums and ratios, which compare
/// equal within a relative 1e-12 (the scan adds the segments' shares in segment order,
/// which a rewrite changes: the rewritten windows get new sequence numbers, so sums may
/// differ in the last bits of an f64).
#[derive(Debug)]
struct DayNightRow {
    exact: String,
    sums: Vec<Option<f64>>,
}

impl PartialEq for DayNightRow {
    fn eq(&self, other: &Self) -> bool {
        let close = |a: &Option<f64>, b: &Option<f64>| match (a, b) {
            (Some(x), Some(y)) => {
                x == y
                    || (x.is_nan() && y.is_nan())
                    || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
            }
            (None, None) => true,
            _ => false,
        };
        self.exact == other.exact
            && self.sums.len() == other.sums.len()
            && self.sums.iter().zip(&other.sums).all(|(a, b)| close(a, b))
    }
}

/// Names the first kind of answer that differs, without printing them all.
impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.history.iter().map(|h| h.1.len()).sum();
        write!(
            f,
            "{n} readings, {} aggregates, {} gaps, {} day/night",
            self.aggregates.len(),
            self.gaps.len(),
            self.day_night.len()
        )
    }
}

#[track_caller]
fn assert_same(a: &Answers, b: &Answers, what: &str) {
    for (k, (x, y)) in a.history.iter().zip(&b.history).enumerate() {
        assert_eq!(x, y, "{what}: history of meter {k}");
    }
    for (x, y) in a.aggregates.iter().zip(&b.aggregates) {
        assert_eq!(x, y, "{what}: aggregates");
    }
    assert_eq!(a.gaps, b.gaps, "{what}: gaps");
    for (x, y) in a.day_night.iter().zip(&b.day_night) {
        assert_eq!(x, y, "{what}: day/night");
    }
    assert_eq!(a, b, "{what}");
}

fn answers(s: &Store) -> Answers {
    let all = i64::MIN / 4..i64::MAX / 4;
    let mut history = Vec::new();
    let mut aggregates = Vec::new();
    let mut gaps = Vec::new();
    for id in s.meter_ids() {
        let h: Vec<(i64, u64)> = s
            .history(&id, all.clone())
            .unwrap()
            .map(|(t, v)| (t, v.to_bits()))
            .collect();
        history.push((id.clone(), h));
        for bucket in [Bucket::Hour, Bucket::Day, Bucket::Month] {
            for agg in [Agg::Sum, Agg::Min, Agg::Max, Agg::Count, Agg::Avg] {
                // A range that cuts blocks, so that some are decoded, not answered from
                // their statistics.
                let range = JAN + 3 * 86_400 + 1234..JAN + 140 * 86_400;
                let a = s
                    .aggregate(&id, range, bucket, UtcOffset::CHINA, agg)
                    .unwrap();
                aggregates.push(format!("{a:?}"));
            }
        }
        gaps.push(format!("{:?}", s.gaps(&id, all.clone())));
    }
    let scan = DayNightScan {
        threads: 1,
        ..DayNightScan::default()
    };
    let mut day_night: Vec<MeterDayNight> = s
        .day_night(&MeterFilter::All, JAN..JAN + 150 * 86_400, &scan)
        .unwrap();
    // Per local day: the scan cuts each block at midnights.
    let daily = DayNightScan {
        daily: true,
        ..scan.clone()
    };
    day_night.extend(
        s.day_night(&MeterFilter::All, JAN..JAN + 150 * 86_400, &daily)
            .unwrap(),
    );
    // Ranges that cut windows and blocks.
    day_night.extend(
        s.day_night(
            &MeterFilter::All,
            JAN + 10 * 86_400 + 3600..JAN + 77 * 86_400 + 900,
            &scan,
        )
        .unwrap(),
    );
    Answers {
        history,
        aggregates,
        gaps,
        day_night: day_night.iter().map(rounded).collect(),
    }
}

fn rounded(d: &MeterDayNight) -> DayNightRow {
    let t = &d.total;
    DayNightRow {
        exact: format!(
            "{} {} {} {} {} {}",
            d.meter,
            t.day_hours,
            t.night_hours,
            t.day_expected_hours,
            t.night_expected_hours,
            d.daily.len()
        ),
        sums: vec![
            Some(t.day_kwh),
            Some(t.night_kwh),
            t.day_kw,
            t.night_kw,
            t.ratio,
        ],
    }
}

/// A store of five months: fleet meters (decimal Wh with gaps), a cumulative register, a
/// power meter with irregular timestamps and values that are not decimal (including -0.0,
/// subnormals and the extremes), and a regular power meter whose values are not decimal.
fn fill(s: &Store) {
    let fleet = Fleet::new(FleetConfig {
        enterprises: 3,
        days: 150,
        ..FleetConfig::default()
    });
    for (i, m) in fleet.meters().iter().enumerate() {
        s.register_meter(&m.id, fleet.meta()).unwrap();
        fleet.append_meter(s, i).unwrap();
    }
    let register = MeterMeta {
        kind: Quantity::CumulativeRegister,
        ..MeterMeta::default()
    };
    s.register_meter("REG", register).unwrap();
    // A register with an outage and a meter exchange (its counter restarts low).
    let reg: Vec<Reading> = (0..150 * 96)
        .filter(|k| !(5_000..5_003).contains(k))
        .map(|k: i64| {
            let start = if k < 9_000 { 123_456_789 } else { -9_000 * 37 };
            Reading::new(
                "REG",
                JAN + k * 900,
                (start + k * 37 + (k * k) % 11) as f64 / 100.0,
            )
        })
        .collect();
    s.append(&reg).unwrap();
    let power = MeterMeta {
        kind: Quantity::Power,
        interval_s: None,
        unit: "kW".into(),
    };
    s.register_meter("FLOAT", power).unwrap();
    let odd = [
        -0.0,
        5e-324,
        f64::MIN_POSITIVE / 8.0,
        f64::MAX,
        f64::MIN,
        1e-300,
    ];
    let mut t = JAN;
    let float: Vec<Reading> = (0..20_000)
        .map(|k: i64| {
            t += 1 + (k * 7919) % 900;
            let value = match k % 50 {
                0..=5 => odd[(k % 50) as usize],
                _ => (k as f64 * 0.001).sin() * 3.7,
            };
            Reading::new("FLOAT", t, value)
        })
        .collect();
    s.append(&float).unwrap();
    let regular_power = MeterMeta {
        kind: Quantity::Power,
        interval_s: Some(900),
        unit: "kW".into(),
    };
    s.register_meter("PI", regular_power).unwrap();
    let pi: Vec<Reading> = (0..150 * 96)
        .filter(|k| k % 1000 < 990)
        .map(|k: i64| Reading::new("PI", JAN + k * 900, (k % 97) as f64 * std::f64::consts::PI))
        .collect();
    s.append(&pi).unwrap();
    s.flush().unwrap();
}

#[test]
fn cold_windows_read_as_hot_ones_did() {
    let dir = tempfile::tempdir().unwrap();
    let mut hot_opts = opts();
    hot_opts.compaction.cold_after = None;
    let s = Store::open(dir.path(), hot_opts).unwrap();
    fill(&s);
    s.compact_all().unwrap();
    let hot = answers(&s);
    let hot_bytes = s.segment_bytes();
    s.close().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();

    let r = s.compact_cold().unwrap();
    // Every window but the newest ended before the newest reading (cold_after 62 days:
    // compact_cold uses it; two of the five months are that old).
    assert!(r.windows >= 2, "{r:?}");
    assert!(s.segment_bytes() < hot_bytes);
    assert_same(&answers(&s), &hot, "");
    // Done once: the cold windows are not rewritten again.
    assert_eq!(s.compact_cold().unwrap().windows, 0);
    s.close().unwrap();

    let s = Store::open(dir.path(), opts()).unwrap();
    assert_same(&answers(&s), &hot, "");
    drop(s);
    let ro = Store::open_read_only(dir.path()).unwrap();
    assert_same(&answers(&ro), &hot, "");
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "mts") {
            meterstore::verify_segment(&p).unwrap();
        }
    }
}

#[test]
fn without_cold_after_compact_cold_takes_every_ended_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.compaction.cold_after = None;
    let s = Store::open(dir.path(), o).unwrap();
    fill(&s);
    let hot = answers(&s);
    // Five months: the four that ended before the newest reading.
    assert_eq!(s.compact_cold().unwrap().windows, 4);
    assert_same(&answers(&s), &hot, "");
    // And the policy leaves every window hot when cold_after is off.
    let dir2 = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.compaction.cold_after = None;
    let s2 = Store::open(dir2.path(), o).unwrap();
    fill(&s2);
    s2.compact().unwrap();
    let bytes = s2.segment_bytes();
    s2.compact().unwrap();
    assert_eq!(s2.segment_bytes(), bytes);
    assert!(bytes > s.segment_bytes());
}

#[test]
fn the_policy_makes_settled_windows_cold_and_late_readings_stay_correct() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    fill(&s);
    let before = s.segment_bytes();
    s.compact().unwrap();
    assert!(s.segment_bytes() < before);
    // Nothing more to do.
    assert_eq!(s.compact().unwrap().windows, 0);
    assert_eq!(s.compact_cold().unwrap().windows, 0);

    // A late reading into a cold window (January): a second segment in the window, which
    // the policy rewrites (settled) into one cold segment holding it.
    let late = JAN + 5 * 86_400 + 450;
    s.append(&[Reading::new("FLOAT", late, -0.0)]).unwrap();
    s.flush().unwrap();
    let n = s.segment_count();
    let r = s.compact().unwrap();
    assert_eq!(r.windows, 1, "{r:?}");
    assert_eq!(s.segment_count(), n - 1);
    let h: Vec<(i64, f64)> = s.history("FLOAT", late..late + 1).unwrap().collect();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].1.to_bits(), (-0.0f64).to_bits());
    assert!(s.segment_bytes() < before);
}

/// Every write, sync and rename of cold compaction fails in turn: the call errors, the
/// store answers as before, a reopen (as after a crash at that point) answers as before,
/// and a later compaction finishes the job.
#[test]
fn a_failure_during_cold_compaction_loses_nothing() {
    let base = tempfile::tempdir().unwrap();
    let seed = base.path().join("seed");
    let mut hot_opts = opts();
    hot_opts.compaction.cold_after = None;
    let s = Store::open(&seed, hot_opts).unwrap();
    fill(&s);
    s.compact_all().unwrap();
    let hot = answers(&s);
    s.close().unwrap();

    for op in [FaultOp::Write, FaultOp::Sync, FaultOp::Rename] {
        // The 1st, 2nd and 5th operation of its kind fail: inside the first output, in a
        // later one, and at the manifest switch.
        for nth in [1usize, 2, 5] {
            let dir = base.path().join(format!("{op:?}-{nth}"));
            std::fs::create_dir_all(&dir).unwrap();
            support::copy_dir(&seed, &dir);
            let s = Store::open(&dir, opts()).unwrap();
            let seen = std::sync::atomic::AtomicUsize::new(0);
            let guard = inject(&dir, move |o, _| {
                if o != op {
                    return None;
                }
                let k = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                (k == nth).then(|| io::Error::other("injected"))
            });
            let res = s.compact_cold();
            drop(guard);
            assert_same(&answers(&s), &hot, &format!("{op:?} {nth}: {res:?}"));
            drop(s);
            let s = Store::open(&dir, opts()).unwrap();
            assert_same(&answers(&s), &hot, &format!("{op:?} {nth} after reopen"));
            s.compact_cold().unwrap();
            assert_same(
                &answers(&s),
                &hot,
                &format!("{op:?} {nth} after a second compaction"),
            );
            assert_eq!(s.compact_cold().unwrap().windows, 0);
        }
    }
}

#[test]
fn negative_cold_after_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        compaction: CompactionOptions {
            cold_after: Some(-1),
            ..CompactionOptions::default()
        },
        ..opts()
    };
    assert!(Store::open(dir.path(), o).is_err());
}
