//! Fault injection through the I/O seam (`meterstore::faults`): a full disk, a failed
//! fsync and a failed rename, at every kind of place (log, segment, manifest, directory).
//! The caller gets an error, the store stays readable and consistent, and a reopen gives
//! back every acknowledged batch; a batch whose append failed is there wholly or not at
//! all.

use meterstore::faults::{inject, FaultOp};
use meterstore::{
    CompactionOptions, MeterMeta, Options, Reading, Store, SyncPolicy, UnknownMeters,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const T0: i64 = 1_704_038_400;
const STEP: i64 = 6 * 3600;
const METERS: [&str; 3] = ["A", "B", "C"];

fn opts() -> Options {
    Options {
        unknown_meters: UnknownMeters::Register(MeterMeta::default()),
        sync: SyncPolicy::EveryBatch,
        memtable_budget_bytes: 16 * 6 * 20,
        compaction: CompactionOptions {
            auto: true,
            max_segments_per_window: 3,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

/// Batch `b`: two readings of each meter at a time slot no other batch uses (batches
/// land in many months, out of order).
fn batch(b: u64) -> Vec<(&'static str, i64, f64)> {
    let slot = (b * 37) % 1000 + 1000 * (b / 1000);
    let t = T0 + slot as i64 * STEP;
    METERS
        .iter()
        .flat_map(|&m| [(m, t, b as f64), (m, t + 900, b as f64 + 0.25)])
        .collect()
}

fn append(s: &Store, b: u64) -> meterstore::Result<()> {
    let rows = batch(b);
    let r: Vec<Reading> = rows
        .iter()
        .map(|&(meter, ts, value)| Reading::new(meter, ts, value))
        .collect();
    s.append(&r)
}

fn content(s: &Store) -> BTreeMap<(String, i64), f64> {
    let mut out = BTreeMap::new();
    for id in s.meter_ids() {
        for (t, v) in s
            .history(&id, i64::MIN..i64::MAX)
            .expect("reads never fail")
        {
            out.insert((id.clone(), t), v);
        }
    }
    out
}

/// Acknowledged batches must be present; each batch in doubt wholly present or absent,
/// and once seen present it stays. Nothing else may be there.
struct Model {
    acked: BTreeSet<u64>,
    doubt: BTreeSet<u64>,
}

impl Model {
    /// Nothing written yet.
    fn new() -> Model {
        Model {
            acked: BTreeSet::new(),
            doubt: BTreeSet::new(),
        }
    }

    /// Appends `batches` to `s`, each acknowledged, flushing after every `flush_every`
    /// (never when `None`).
    fn appended(s: &Store, batches: std::ops::Range<u64>, flush_every: Option<u64>) -> Model {
        let mut model = Model::new();
        for b in batches {
            append(s, b).unwrap();
            model.acked.insert(b);
            if flush_every.is_some_and(|n| b % n == n - 1) {
                s.flush().unwrap();
            }
        }
        model
    }

    fn check(&mut self, s: &Store, ctx: &str) {
        let got = content(s);
        let mut expected = 0;
        for &b in &self.acked {
            for (m, t, v) in batch(b) {
                assert_eq!(
                    got.get(&(m.to_owned(), t)),
                    Some(&v),
                    "{ctx}: acked batch {b} lost"
                );
            }
            expected += batch(b).len();
        }
        let mut seen = Vec::new();
        for &b in &self.doubt {
            let present = batch(b)
                .iter()
                .filter(|(m, t, v)| got.get(&(m.to_string(), *t)) == Some(v))
                .count();
            assert!(
                present == 0 || present == batch(b).len(),
                "{ctx}: batch {b} is half there ({present} readings)"
            );
            if present > 0 {
                seen.push(b);
                expected += present;
            }
        }
        assert_eq!(got.len(), expected, "{ctx}: readings nobody wrote");
        for b in seen {
            self.doubt.remove(&b);
            self.acked.insert(b);
        }
    }
}

fn err(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, format!("injected: {what}"))
}

fn full_disk() -> io::Error {
    io::Error::from_raw_os_error(28) // ENOSPC
}

fn is_wal(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str() == "wal")
}

#[test]
fn full_disk_while_writing_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    let mut model = Model::appended(&s, 0..10, None);
    let guard = inject(dir.path(), |op, p| {
        (op == FaultOp::Write && is_wal(p)).then(full_disk)
    });
    assert!(append(&s, 10).is_err());
    model.doubt.insert(10);
    // The log stopped: further appends fail until the store is reopened.
    assert!(append(&s, 11).is_err());
    model.doubt.insert(11);
    drop(guard);
    assert!(append(&s, 12).is_err(), "still stopped without the fault");
    model.doubt.insert(12);
    model.check(&s, "before reopen");
    drop(s);
    let s = Store::open(dir.path(), opts()).unwrap();
    let r = s.recovery_report();
    assert!(
        r.wal.torn_tail_bytes_dropped > 0,
        "half a frame was cut: {r:?}"
    );
    model.check(&s, "after reopen");
    assert!(model.doubt.iter().all(|b| !model.acked.contains(b)));
    append(&s, 13).unwrap();
}

#[test]
fn failed_fsync_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    let mut model = Model::appended(&s, 0..5, None);
    let guard = inject(dir.path(), |op, p| {
        (op == FaultOp::Sync && is_wal(p)).then(|| err(io::ErrorKind::Other, "EIO on fdatasync"))
    });
    assert!(append(&s, 5).is_err());
    model.doubt.insert(5);
    assert!(s.flush().is_err(), "a flush needs the log");
    drop(guard);
    model.check(&s, "before reopen");
    drop(s);
    let s = Store::open(dir.path(), opts()).unwrap();
    model.check(&s, "after reopen");
    append(&s, 6).unwrap();
}

#[test]
fn full_disk_and_failed_fsync_while_flushing() {
    for (name, op) in [
        ("full disk", FaultOp::Write),
        ("failed fsync", FaultOp::Sync),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            memtable_budget_bytes: 1 << 30,
            ..opts()
        };
        let s = Store::open(dir.path(), o.clone()).unwrap();
        let mut model = Model::appended(&s, 0..20, None);
        let guard = inject(dir.path(), move |o, p| {
            let seg = p.extension().is_some_and(|e| e == "tmp") && !is_wal(p);
            (o == op && seg).then(full_disk)
        });
        assert!(s.flush().is_err(), "{name}");
        model.check(&s, name);
        // The store goes on: appends work, and a later flush succeeds.
        append(&s, 20).unwrap();
        model.acked.insert(20);
        drop(guard);
        s.flush().unwrap();
        model.check(&s, name);
        drop(s);
        let s = Store::open(dir.path(), o).unwrap();
        model.check(&s, name);
        assert_eq!(
            s.recovery_report().wal.records,
            0,
            "{name}: the flush emptied the log"
        );
    }
}

#[test]
fn failed_rename_of_the_manifest_and_of_a_compaction_output() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        memtable_budget_bytes: 1 << 30,
        compaction: CompactionOptions {
            auto: false,
            ..CompactionOptions::default()
        },
        ..opts()
    };
    let s = Store::open(dir.path(), o.clone()).unwrap();
    let mut model = Model::appended(&s, 0..20, Some(5));
    // Batches 0..20 span six months: some month has segments of two flushes.
    assert!(s.segment_count() > 6, "{}", s.segment_count());
    let guard = inject(dir.path(), |op, p| {
        (op == FaultOp::Rename && p.file_name().is_some_and(|n| n == "MANIFEST"))
            .then(|| err(io::ErrorKind::PermissionDenied, "rename"))
    });
    append(&s, 20).unwrap();
    model.acked.insert(20);
    assert!(s.flush().is_err());
    assert!(s.compact_all().is_err());
    model.check(&s, "manifest rename failed");
    drop(guard);
    let guard = inject(dir.path(), |op, p| {
        (op == FaultOp::Rename && p.extension().is_some_and(|e| e == "mts"))
            .then(|| err(io::ErrorKind::PermissionDenied, "rename"))
    });
    assert!(s.compact_all().is_err());
    model.check(&s, "segment rename failed");
    drop(guard);
    // Crash now (drop without flush): the log still holds batch 20.
    drop(s);
    let s = Store::open(dir.path(), o).unwrap();
    assert!(s.recovery_report().orphan_files_removed > 0);
    model.check(&s, "after reopen");
    s.compact_all().unwrap();
    model.check(&s, "after compaction");
}

/// The directory fsync after the manifest's rename fails: the new manifest may or may not
/// be on disk. Neither may lose data, and the segments it lists must still exist.
#[test]
fn failed_directory_sync_after_publishing() {
    for skip in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            memtable_budget_bytes: 1 << 30,
            ..opts()
        };
        let s = Store::open(dir.path(), o.clone()).unwrap();
        let mut model = Model::appended(&s, 0..12, Some(4));
        let root = dir.path().to_owned();
        let n = Arc::new(AtomicU64::new(0));
        let n2 = n.clone();
        let guard = inject(dir.path(), move |op, p| {
            (op == FaultOp::Sync && p == root && n2.fetch_add(1, Ordering::SeqCst) == skip)
                .then(|| err(io::ErrorKind::Other, "EIO on directory fsync"))
        });
        let res = s.compact_all();
        drop(guard);
        if n.load(Ordering::SeqCst) > skip {
            assert!(res.is_err(), "skip {skip}");
        }
        model.check(&s, "before reopen");
        drop(s);
        let s = Store::open(dir.path(), o).unwrap();
        model.check(&s, &format!("skip {skip}: after reopen"));
    }
}

/// Random faults in random places during a random workload; after each failure the
/// store is checked, and half the time reopened.
#[test]
fn random_faults() {
    let seeds: u64 = std::env::var("METERSTORE_FAULT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    for seed in 0..seeds {
        random_faults_with(seed);
    }
}

fn random_faults_with(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let rng = Arc::new(Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1));
    let next = |r: &Mutex<u64>| {
        let mut x = r.lock().unwrap();
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    };
    let enabled = Arc::new(AtomicBool::new(false));
    let injected = Arc::new(AtomicU64::new(0));
    let (r2, e2, i2) = (rng.clone(), enabled.clone(), injected.clone());
    let _guard = inject(dir.path(), move |op, _| {
        if !e2.load(Ordering::SeqCst) || next(&r2) % 100 >= 3 {
            return None;
        }
        i2.fetch_add(1, Ordering::SeqCst);
        Some(match op {
            FaultOp::Write => full_disk(),
            FaultOp::Sync => err(io::ErrorKind::Other, "EIO"),
            FaultOp::Rename => err(io::ErrorKind::PermissionDenied, "rename"),
        })
    });
    // Odd seeds flush inline, even ones on the background flusher.
    let o = || Options {
        background_flush: seed.is_multiple_of(2),
        ..opts()
    };
    let mut s = Store::open(dir.path(), o()).unwrap();
    let mut model = Model::new();
    let mut b = 0u64;
    let mut failures = 0;
    for step in 0..300 {
        enabled.store(true, Ordering::SeqCst);
        let roll = next(&rng) % 100;
        let res = match roll {
            0..=69 => {
                b += 1;
                let r = append(&s, b);
                match &r {
                    Ok(()) => model.acked.insert(b),
                    Err(_) => model.doubt.insert(b),
                };
                r.map(|_| ())
            }
            70..=84 => s.flush(),
            85..=91 => s.compact_all().map(|_| ()),
            _ => s.compact().map(|_| ()),
        };
        enabled.store(false, Ordering::SeqCst);
        if res.is_err() {
            failures += 1;
            let ctx = format!("seed {seed} step {step}: {res:?}");
            model.check(&s, &ctx);
            if next(&rng) % 2 == 0 {
                drop(s);
                s = Store::open(dir.path(), o()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                model.check(&s, &format!("{ctx}, reopened"));
            }
        }
    }
    drop(s);
    let s = Store::open(dir.path(), o()).unwrap();
    model.check(&s, &format!("seed {seed}: final"));
    assert!(
        failures > 0 && injected.load(Ordering::SeqCst) > 0,
        "seed {seed}: no fault hit"
    );
}
