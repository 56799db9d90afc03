//! Timestamps at the extremes: appends take only the store's range (a batch with one
//! reading outside is rejected whole, naming it, and says when it looks like milliseconds
//! or microseconds); queries, buckets, compaction and scans over any range, up to the ends
//! of i64 and at any offset, never overflow, hang or allocate per empty bucket.

use meterstore::{
    Agg, Bucket, CompactionOptions, DayNightScan, Error, MeterFilter, MeterMeta, Options, Quantity,
    Reading, Store, SyncPolicy, UtcOffset, Window,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

const HI: i64 = 7_258_118_400; // 2200-01-01

fn opts(window: Window) -> Options {
    Options {
        sync: SyncPolicy::Never,
        background_flush: false,
        window,
        compaction: CompactionOptions {
            auto: false,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn irregular() -> MeterMeta {
    MeterMeta {
        kind: Quantity::Power,
        interval_s: None,
        unit: "kW".into(),
    }
}

fn any_ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(i64::MAX - 8),
        (-3i64..3),
        (HI - 3..HI + 3),
        (0..HI),
        (0..HI).prop_map(|t| t * 1000),
        (0..HI).prop_map(|t| t.saturating_mul(1_000_000)),
    ]
}

#[test]
fn milliseconds_are_named_and_the_batch_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts(Window::Month)).unwrap();
    s.register_meter("A", irregular()).unwrap();
    let ok = 1_772_323_200; // 2026-03-01
    let batch = [
        Reading::new("A", ok, 1.0),
        Reading::new("A", ok * 1000, 2.0),
    ];
    let e = s.append(&batch).unwrap_err();
    assert!(matches!(e, Error::InvalidReading { index: 1, .. }), "{e}");
    assert!(e.to_string().contains("milliseconds"), "{e}");
    let e = s
        .append(&[Reading::new("A", ok * 1_000_000, 1.0)])
        .unwrap_err();
    assert!(e.to_string().contains("microseconds"), "{e}");
    assert_eq!(s.history("A", i64::MIN..i64::MAX).unwrap().count(), 0);
    // A wider range is an option; one beyond the calendar is refused.
    let wide = Options {
        timestamp_range: -86_400 * 365..HI * 2,
        ..opts(Window::Month)
    };
    drop(s);
    let s = Store::open(dir.path(), wide).unwrap();
    s.append(&[Reading::new("A", -86_400, 1.0)]).unwrap();
    drop(s);
    let bad = Options {
        timestamp_range: 0..i64::MAX,
        ..opts(Window::Month)
    };
    assert!(matches!(
        Store::open(dir.path(), bad),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn extreme_query_ranges_and_bucket_spans_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let wide = Options {
        timestamp_range: Options::SUPPORTED_TIMESTAMPS,
        ..opts(Window::Month)
    };
    let s = Store::open(dir.path(), wide).unwrap();
    s.register_meter("A", MeterMeta::default()).unwrap();
    let (lo, hi) = (
        Options::SUPPORTED_TIMESTAMPS.start,
        Options::SUPPORTED_TIMESTAMPS.end,
    );
    let far = [lo, lo + 900, 0, hi - 900 * 2];
    let batch: Vec<Reading> = far.iter().map(|&ts| Reading::new("A", ts, 1.0)).collect();
    s.append(&batch).unwrap();
    s.flush().unwrap();
    s.compact_all().unwrap();
    for off in [
        UtcOffset::UTC,
        UtcOffset::CHINA,
        UtcOffset::from_seconds(-5 * 3600).unwrap(),
    ] {
        for b in [Bucket::Minutes15, Bucket::Hour, Bucket::Day, Bucket::Month] {
            // Years 1 to 9998 in 15-minute buckets: only the buckets with readings.
            let v = s
                .aggregate("A", i64::MIN..i64::MAX, b, off, Agg::Count)
                .unwrap();
            assert_eq!(v.iter().map(|x| x.count).sum::<u64>(), 4);
            assert!(v.len() <= 4);
        }
    }
    let gaps = s.gaps("A", i64::MIN..i64::MAX).unwrap();
    assert!(gaps.len() <= 3, "{gaps:?}");
    assert_eq!(s.history("A", i64::MIN..i64::MAX).unwrap().count(), 4);
    // Eight thousand years of day/night cuts would be 9 million pieces: refused.
    let e = s
        .day_night(
            &MeterFilter::All,
            i64::MIN..i64::MAX,
            &DayNightScan::default(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("local days"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn extremes_through_append_flush_compaction_queries_and_scans(
        batches in prop::collection::vec(prop::collection::vec((any_ts(), -1e6f64..1e6), 1..6), 1..5),
        days in prop::bool::ANY,
        from in any_ts(),
        to in any_ts(),
    ) {
        let window = if days { Window::Days(7) } else { Window::Month };
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), opts(window)).unwrap();
        s.register_meter("A", irregular()).unwrap();
        let mut model = BTreeMap::new();
        for b in &batches {
            let readings: Vec<Reading> = b
                .iter()
                .map(|&(ts, value)| Reading::new("A", ts, value))
                .collect();
            let first_bad = b.iter().position(|r| !(0..HI).contains(&r.0));
            match (s.append(&readings), first_bad) {
                (Ok(()), None) => model.extend(b.iter().copied()),
                (Err(Error::InvalidReading { index, .. }), Some(i)) => prop_assert_eq!(index, i),
                (r, bad) => prop_assert!(false, "append {:?} with bad reading {:?}", r, bad),
            }
            s.flush().unwrap();
        }
        s.compact_all().unwrap();
        let got: Vec<(i64, f64)> = s.history("A", i64::MIN..i64::MAX).unwrap().collect();
        let want: Vec<(i64, f64)> = model.iter().map(|(&t, &v)| (t, v)).collect();
        prop_assert_eq!(&got, &want);
        let in_range = model.range(from..).take_while(|r| *r.0 < to).count();
        prop_assert_eq!(s.history("A", from..to).unwrap().count(), in_range);
        for off in [UtcOffset::CHINA, UtcOffset::from_seconds(-12 * 3600).unwrap()] {
            for b in [Bucket::Minutes15, Bucket::Day, Bucket::Month] {
                let v = s.aggregate("A", from..to, b, off, Agg::Count).unwrap();
                prop_assert_eq!(v.iter().map(|x| x.count).sum::<u64>(), in_range as u64);
            }
        }
        let scan = DayNightScan::default();
        let r = s.day_night(&MeterFilter::All, i64::MIN..i64::MAX, &scan).unwrap();
        prop_assert!(r.len() <= 1);
        s.day_night(&MeterFilter::All, from..to, &scan).unwrap();
        drop(s);
        let r = Store::open_read_only(dir.path()).unwrap();
        prop_assert_eq!(r.history("A", i64::MIN..i64::MAX).unwrap().count(), model.len());
    }
}

/// The monitor fed readings and clock moves at the extremes, in a thread that must
/// finish within a minute (a hang fails the test instead of stalling it).
fn monitor_run(start: i64, stamps: Vec<i64>, advance: i64) -> Result<(), String> {
    use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, MeterRole, Monitor, RuleConfig};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), opts(Window::Month)).unwrap();
        let mut cat = Catalog::new();
        cat.upsert_enterprise(Enterprise {
            id: "E1".into(),
            ..Enterprise::default()
        })
        .unwrap();
        for (id, role) in [("P", MeterRole::Production), ("T", MeterRole::Treatment)] {
            s.register_meter(id, MeterMeta::default()).unwrap();
            let mut m = CatalogMeter::new(id, "E1", role);
            m.interval_s = Some(900);
            cat.upsert_meter(m).unwrap();
        }
        let mut mon = Monitor::new(&s, &cat, RuleConfig::default(), start, 3600);
        let mut res = Ok(());
        for &ts in &stamps {
            let batch = [Reading::new("P", ts, 5.0), Reading::new("T", ts, 0.0)];
            // Out-of-range readings are refused by the store; the monitor gets what it
            // would get from a caller that skips the store.
            let _ = s.append(&batch);
            if let Err(e) = mon.on_append(&batch) {
                res = Err(e.to_string());
            }
        }
        // Far moves are refused; the largest allowed one is decided.
        if mon.advance_to(advance).is_err() {
            let step = mon
                .watermark()
                .saturating_add(meterstore::monitor::MAX_ADVANCE_S);
            if let Err(e) = mon.advance_to(step.min(advance)) {
                res = Err(e.to_string());
            }
        }
        tx.send(res).unwrap();
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .map_err(|_| "the monitor did not finish within a minute".to_string())?
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_monitor_takes_extreme_times_without_panics_or_hangs(
        start in any_ts(),
        stamps in prop::collection::vec(any_ts().prop_map(|t| t.div_euclid(900).saturating_mul(900)), 0..4),
        advance in any_ts(),
    ) {
        prop_assert_eq!(monitor_run(start, stamps, advance), Ok(()));
    }
}
