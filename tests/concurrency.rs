//! Readers run queries in a loop while a writer appends and a maintenance thread flushes
//! and compacts. Every batch writes the same value to every meter at one timestamp (and
//! rewrites an older timestamp of every meter), and a run of readings to a ledger meter;
//! a reader must never see a batch in part: in a snapshot all meters agree, and a single
//! query of the ledger sees whole runs.

use meterstore::{
    Agg, Bucket, CompactionOptions, MeterMeta, Options, Reading, Store, SyncPolicy, UnknownMeters,
    UtcOffset,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const T0: i64 = 1_704_038_400;
/// Three hours a batch: the run crosses months, so windows get compacted while read.
const STEP: i64 = 3 * 3600;
const METERS: usize = 8;
const LEDGER_RUN: i64 = 12;
const BATCHES: u64 = 1500;

fn meter(j: usize) -> String {
    format!("M{j}")
}

fn batch(b: u64, ids: &[String]) -> Vec<Reading<'_>> {
    let t = T0 + b as i64 * STEP;
    let mut out: Vec<Reading> = ids.iter().map(|m| Reading::new(m, t, b as f64)).collect();
    if b >= 50 {
        let old = T0 + (b - 50) as i64 * STEP;
        out.extend(ids.iter().map(|m| Reading::new(m, old, b as f64 + 0.5)));
    }
    out.extend(
        (0..LEDGER_RUN)
            .map(|k| Reading::new("L", T0 + (b as i64 * LEDGER_RUN + k) * 900, b as f64)),
    );
    out
}

#[test]
fn readers_never_see_part_of_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            unknown_meters: UnknownMeters::Register(MeterMeta::default()),
            sync: SyncPolicy::Never,
            memtable_budget_bytes: 16 * 20 * 40,
            compaction: CompactionOptions {
                max_segments_per_window: 4,
                ..CompactionOptions::default()
            },
            ..Options::default()
        },
    )
    .unwrap();
    let ids: Vec<String> = (0..METERS).map(meter).collect();
    let done = AtomicBool::new(false);
    let (snapshots, ledger_reads, compactions) =
        (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            for b in 0..BATCHES {
                store.append(&batch(b, &ids)).unwrap();
            }
            done.store(true, Ordering::SeqCst);
        });
        s.spawn(|| {
            let mut k = 0u64;
            while !done.load(Ordering::SeqCst) {
                match k % 3 {
                    0 => store.flush().unwrap(),
                    1 => {
                        let r = store.compact_all().unwrap();
                        compactions.fetch_add(r.windows as u64, Ordering::Relaxed);
                    }
                    _ => {
                        store.compact().unwrap();
                    }
                }
                k += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                let mut last_seen = 0usize;
                while !done.load(Ordering::SeqCst) {
                    // A snapshot: every meter holds exactly the same readings.
                    let snap = store.snapshot();
                    let mut first: Option<Vec<(i64, u64)>> = None;
                    for id in snap.meter_ids().iter().filter(|m| m.starts_with('M')) {
                        let h: Vec<(i64, u64)> = snap
                            .history(id, i64::MIN..i64::MAX)
                            .unwrap()
                            .map(|(t, v)| (t, v.to_bits()))
                            .collect();
                        match &first {
                            None => first = Some(h),
                            Some(f) => assert_eq!(f, &h, "meter {id} differs within a snapshot"),
                        }
                    }
                    let n = first.map_or(0, |f| f.len());
                    assert!(
                        n >= last_seen,
                        "a later snapshot saw less ({n} < {last_seen})"
                    );
                    last_seen = n;
                    snapshots.fetch_add(1, Ordering::Relaxed);
                    // A single query: whole ledger runs, values agreeing with the count.
                    if let Ok(h) = store.history("L", i64::MIN..i64::MAX) {
                        let mut runs: BTreeMap<u64, i64> = BTreeMap::new();
                        for (_, v) in h {
                            *runs.entry(v as u64).or_default() += 1;
                        }
                        assert!(
                            runs.values().all(|&c| c == LEDGER_RUN),
                            "partial ledger run"
                        );
                        let count = store
                            .aggregate(
                                "L",
                                i64::MIN..i64::MAX,
                                Bucket::Month,
                                UtcOffset::CHINA,
                                Agg::Count,
                            )
                            .unwrap()
                            .iter()
                            .map(|b| b.count as i64)
                            .sum::<i64>();
                        assert_eq!(count % LEDGER_RUN, 0, "partial ledger run in an aggregate");
                        ledger_reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let snap = store.snapshot();
    for id in &ids {
        assert_eq!(
            snap.history(id, i64::MIN..i64::MAX).unwrap().len(),
            BATCHES as usize
        );
    }
    assert!(snapshots.load(Ordering::Relaxed) > 10, "readers ran");
    assert!(ledger_reads.load(Ordering::Relaxed) > 10);
    assert!(
        compactions.load(Ordering::Relaxed) > 0,
        "compactions ran during the reads"
    );
    eprintln!(
        "{} snapshots, {} ledger reads, {} windows compacted, {} segments at the end",
        snapshots.load(Ordering::Relaxed),
        ledger_reads.load(Ordering::Relaxed),
        compactions.load(Ordering::Relaxed),
        store.segment_count()
    );
}
