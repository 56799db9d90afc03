//! Model test: random appends (late and out of order across months, with quality flags),
//! flushes, compactions, retention, clean reopens, crashes (drop without flush: the log
//! must bring everything back) and queries, against a `BTreeMap`.

use meterstore::{
    Agg, Bucket, CompactionOptions, Flag, MeterMeta, Options, Quantity, Reading, Store, SyncPolicy,
    UnknownMeters, UtcOffset,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

const METERS: [&str; 3] = ["A", "B", "C"];

/// Slot length: six hours, so 400 slots span four months (four windows).
const SLOT: i64 = 6 * 3600;

/// Per meter: timestamp to value and flag.
type Model = [BTreeMap<i64, (f64, Flag)>; 3];

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(usize, i64, f64, Flag)>),
    Flush,
    Reopen,
    /// Drop the store without flushing, as a crash would, and open it again.
    Crash,
    Compact,
    CompactAll,
    /// Retention at a slot (the window holding it is kept).
    DropBefore(i64),
    Query(usize, i64, i64),
    /// The query on a snapshot taken before an append that must not show in it.
    SnapshotQuery(usize),
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0i64..100_000).prop_map(|i| i as f64 / 1000.0),
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        Just(-0.0),
    ]
}

/// Mostly normal, so that batches and blocks of every kind (no flag, some flags) occur.
fn flag() -> impl Strategy<Value = Flag> {
    prop_oneof![
        6 => Just(Flag::Normal),
        1 => proptest::sample::select(Flag::ALL.to_vec()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec((0usize..3, 0i64..400, value(), flag()), 1..40)
            .prop_map(|v| Op::Append(v.into_iter().map(|(m, k, x, f)| (m, k * SLOT, x, f)).collect())),
        2 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
        1 => Just(Op::Compact),
        1 => Just(Op::CompactAll),
        1 => (0i64..200).prop_map(|k| Op::DropBefore(k * SLOT)),
        2 => (0usize..3, 0i64..400, 0i64..400).prop_map(|(m, a, b)| Op::Query(m, a.min(b) * SLOT, a.max(b) * SLOT + 1)),
        1 => (0usize..3).prop_map(Op::SnapshotQuery),
    ]
}

fn opts() -> Options {
    Options {
        unknown_meters: UnknownMeters::Register(MeterMeta {
            kind: Quantity::IntervalEnergy,
            interval_s: Some(900),
            unit: "kWh".into(),
        }),
        // Small enough that some appends flush inline.
        memtable_budget_bytes: 16 * 50,
        // Process crashes only: the page cache keeps what the log wrote.
        sync: SyncPolicy::Never,
        compaction: CompactionOptions {
            max_segments_per_window: 3,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

/// A meter's readings in `range` as (timestamp, value bits, flag); none for a meter the
/// store does not know yet.
fn history(h: meterstore::Result<meterstore::History>) -> Vec<(i64, u64, Flag)> {
    match h {
        Ok(h) => {
            let flags = h.flags().to_vec();
            h.zip(flags)
                .map(|((t, v), f)| (t, v.to_bits(), f))
                .collect()
        }
        Err(meterstore::Error::UnknownMeter(_)) => Vec::new(),
        Err(e) => panic!("{e}"),
    }
}

fn check(store: &Store, model: &Model, m: usize, range: std::ops::Range<i64>) {
    let got = history(store.history(METERS[m], range.clone()));
    let want: Vec<(i64, u64, Flag)> = model[m]
        .range(range.clone())
        .map(|(&t, &(v, f))| (t, v.to_bits(), f))
        .collect();
    assert_eq!(got, want, "meter {m} range {range:?}");
    for bucket in [Bucket::Day, Bucket::Month] {
        for agg in [
            Agg::Count,
            Agg::Max,
            Agg::Min,
            Agg::First,
            Agg::Last,
            Agg::Sum,
        ] {
            let got = match store.aggregate(METERS[m], range.clone(), bucket, UtcOffset::CHINA, agg)
            {
                Ok(g) => g,
                Err(meterstore::Error::UnknownMeter(_)) => Vec::new(),
                Err(e) => panic!("{e}"),
            };
            let want = naive_buckets(&model[m], range.clone(), bucket, agg);
            assert_eq!(got.len(), want.len(), "{bucket:?} {agg:?}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!((g.start, g.count), (w.0, w.2), "{bucket:?} {agg:?}");
                if agg == Agg::Sum {
                    let tol = 1e-9 * w.1.abs().max(1.0);
                    assert!(
                        (g.value - w.1).abs() <= tol || g.value == w.1,
                        "sum {} vs {}",
                        g.value,
                        w.1
                    );
                } else if matches!(agg, Agg::Max | Agg::Min) {
                    // -0.0 and 0.0 tie; either may be reported.
                    assert_eq!(g.value, w.1, "{bucket:?} {agg:?}");
                } else {
                    assert_eq!(
                        g.value.to_bits(),
                        w.1.to_bits(),
                        "{bucket:?} {agg:?} {} vs {}",
                        g.value,
                        w.1
                    );
                }
            }
        }
    }
}

/// The reference: per bucket start, (start, value, count), one reading at a time.
fn naive_buckets(
    model: &BTreeMap<i64, (f64, Flag)>,
    range: std::ops::Range<i64>,
    bucket: Bucket,
    agg: Agg,
) -> Vec<(i64, f64, u64)> {
    let mut by: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (&t, &(v, _)) in model.range(range) {
        by.entry(bucket.start(t, UtcOffset::CHINA))
            .or_default()
            .push(v);
    }
    by.into_iter()
        .map(|(s, v)| {
            let x = match agg {
                Agg::Count => v.len() as f64,
                Agg::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Agg::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
                Agg::First => v[0],
                Agg::Last => v[v.len() - 1],
                Agg::Sum => v.iter().sum(),
                Agg::Avg => v.iter().sum::<f64>() / v.len() as f64,
            };
            (s, x, v.len() as u64)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), opts()).unwrap();
        let mut model: Model = Default::default();
        for op in ops {
            match op {
                Op::Append(batch) => {
                    let readings: Vec<Reading> = batch.iter().map(|&(m, ts, value, f)| Reading::new(METERS[m], ts, value).with_flag(f)).collect();
                    store.append(&readings).unwrap();
                    for (m, t, v, f) in batch {
                        model[m].insert(t, (v, f));
                    }
                }
                Op::Flush => store.flush().unwrap(),
                Op::Reopen => {
                    store.close().unwrap();
                    store = Store::open(dir.path(), opts()).unwrap();
                }
                Op::Crash => {
                    drop(store);
                    store = Store::open(dir.path(), opts()).unwrap();
                }
                Op::Compact => {
                    store.compact().unwrap();
                }
                Op::CompactAll => {
                    store.compact_all().unwrap();
                }
                Op::DropBefore(t) => {
                    let rep = store.drop_before(t).unwrap();
                    let cutoff = Bucket::Month.start(t, UtcOffset::CHINA);
                    prop_assert_eq!(rep.cutoff, cutoff);
                    for m in model.iter_mut() {
                        m.retain(|&ts, _| ts >= cutoff);
                    }
                }
                Op::Query(m, a, b) => check(&store, &model, m, a..b),
                Op::SnapshotQuery(m) => {
                    let snap = store.snapshot();
                    let before = model.clone();
                    store.append(&[Reading::new(METERS[m], 7 * SLOT, 1234.5)]).unwrap();
                    model[m].insert(7 * SLOT, (1234.5, Flag::Normal));
                    let got = history(snap.history(METERS[m], i64::MIN..i64::MAX));
                    let want: Vec<(i64, u64, Flag)> = before[m].iter().map(|(&t, &(v, f))| (t, v.to_bits(), f)).collect();
                    prop_assert_eq!(got, want);
                }
            }
        }
        for m in 0..3 {
            check(&store, &model, m, i64::MIN..i64::MAX);
        }
    }
}
