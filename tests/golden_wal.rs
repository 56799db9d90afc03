//! The golden store with a write-ahead log, written by format version 1: a flushed
//! segment plus batches only in the log (meters registered through the log, overwrites,
//! out-of-order readings, an irregular meter, odd floats). Every later version must replay
//! it to the same content. Every truncation of the log replays a prefix of the batches
//! (a torn tail); bit flips give a prefix or an error naming the log file, never a panic.
//!
//! Regenerate (only when the format version changes, keeping the old fixture too):
//! `cargo test --test golden_wal -- --ignored write_golden_wal_fixture`

mod support;

use support::rewrite;

use meterstore::{Error, MeterMeta, Options, Quantity, Reading, Store, SyncPolicy, UnknownMeters};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FIXTURE: &str = "tests/fixtures/golden_wal_v1";
const T0: i64 = 1_704_038_400;

fn opts() -> Options {
    Options {
        unknown_meters: UnknownMeters::Register(MeterMeta::default()),
        sync: SyncPolicy::Never,
        ..Options::default()
    }
}

type Batch = Vec<(&'static str, i64, f64)>;

/// Batches appended before the flush, and after it (those are only in the log).
fn batches() -> (Vec<Batch>, Vec<Batch>) {
    let day = |m: &'static str, d: i64, base: f64| -> Batch {
        (0..96)
            .map(|k| (m, T0 + d * 86_400 + k * 900, base + k as f64 * 0.125))
            .collect()
    };
    let flushed = vec![day("M-a", 0, 1.0), day("M-b", 0, 2.0)];
    let mut logged = vec![
        day("M-a", 1, 3.0),
        // A meter registered through the log only.
        day("M-new", 0, 7.5),
        // Overwrites of flushed and logged readings, and a reading out of order.
        vec![
            ("M-a", T0 + 900, 99.0),
            ("M-a", T0 + 86_400, -1.0),
            ("M-b", T0 - 900 * 4, 0.5),
        ],
        // February: a second window.
        day("M-b", 40, 4.0),
    ];
    let irr: Batch = (0..50)
        .map(|k| {
            (
                "P-irr",
                T0 + k * 37 + (k * k) % 11,
                ((k as f64) + 0.5).sqrt(),
            )
        })
        .chain([
            ("P-irr", T0 - 1, -0.0),
            ("P-irr", T0 + 100_000, f64::MAX),
            ("P-irr", T0 + 100_001, 1e-300),
        ])
        .collect();
    logged.push(irr);
    (flushed, logged)
}

fn register_irregular(s: &Store) {
    s.register_meter(
        "P-irr",
        MeterMeta {
            kind: Quantity::Power,
            interval_s: None,
            unit: "kW".into(),
        },
    )
    .unwrap();
}

fn append(s: &Store, b: &Batch) {
    let r: Vec<Reading> = b
        .iter()
        .map(|&(meter, ts, value)| Reading::new(meter, ts, value))
        .collect();
    s.append(&r).unwrap();
}

type Content = BTreeMap<String, Vec<(i64, u64)>>;

/// What the flushed batches plus the first `n` logged batches leave.
fn expected(n: usize) -> Content {
    expected_without(n, usize::MAX)
}

/// What the flushed batches plus the first `n` logged batches but batch `skip` leave.
fn expected_without(n: usize, skip: usize) -> Content {
    let (flushed, logged) = batches();
    let mut m: BTreeMap<&str, BTreeMap<i64, f64>> = BTreeMap::new();
    let logged = logged[..n]
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != skip)
        .map(|p| p.1);
    for b in flushed.iter().chain(logged) {
        for &(id, t, v) in b {
            m.entry(id).or_default().insert(t, v);
        }
    }
    m.into_iter()
        .map(|(id, r)| {
            (
                id.to_owned(),
                r.into_iter().map(|(t, v)| (t, v.to_bits())).collect(),
            )
        })
        .collect()
}

fn content(s: &Store) -> Content {
    s.meter_ids()
        .into_iter()
        .map(|id| {
            let h = s
                .history(&id, i64::MIN..i64::MAX)
                .unwrap()
                .map(|(t, v)| (t, v.to_bits()))
                .collect();
            (id, h)
        })
        .filter(|(_, h): &(String, Vec<(i64, u64)>)| !h.is_empty())
        .collect()
}

#[test]
#[ignore = "writes the committed fixture; run only when adding a format version"]
fn write_golden_wal_fixture() {
    let dir = Path::new(FIXTURE);
    let _ = std::fs::remove_dir_all(dir);
    let s = Store::open(dir, opts()).unwrap();
    register_irregular(&s);
    let (flushed, logged) = batches();
    for b in &flushed {
        append(&s, b);
    }
    s.flush().unwrap();
    for b in &logged {
        append(&s, b);
    }
    s.sync().unwrap();
    drop(s); // no flush: the logged batches stay in the log
}

fn copy_fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    support::copy_dir(Path::new(FIXTURE), tmp.path());
    let log = std::fs::read_dir(tmp.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("fixture has a log file");
    (tmp, log)
}

#[test]
fn golden_wal_replays_to_the_same_content() {
    let (tmp, _) = copy_fixture();
    let s = Store::open(tmp.path(), opts()).unwrap();
    let r = s.recovery_report();
    let n = batches().1.len();
    assert_eq!(r.wal.records, n as u64);
    assert_eq!(r.meters_replayed, 1, "M-new is registered by the log only");
    assert_eq!(
        (r.wal.torn_tail_bytes_dropped, r.wal.salvaged_corrupt_bytes),
        (0, 0)
    );
    assert_eq!(content(&s), expected(n));
    // And again after a flush and a compaction.
    s.flush().unwrap();
    s.compact_all().unwrap();
    drop(s);
    let s = Store::open(tmp.path(), opts()).unwrap();
    assert_eq!(content(&s), expected(n));
}

/// The number of logged batches a replayed content holds, if it is a prefix.
fn prefix_len(got: &Content) -> Option<usize> {
    (0..=batches().1.len()).rev().find(|&n| &expected(n) == got)
}

#[test]
fn every_truncation_of_the_log_replays_a_prefix() {
    let (tmp, log) = copy_fixture();
    let bytes = std::fs::read(&log).unwrap();
    let mut last = usize::MAX;
    // Every seventh cut (each open syncs the log); the log module cuts at every byte.
    for cut in (0..=bytes.len())
        .rev()
        .filter(|c| c % 7 == 0 || *c == bytes.len())
    {
        rewrite(&log, &bytes[..cut]);
        // Each open upgrades the fixture's MANIFEST (version 2) to version 3, under which a
        // log file shorter than its header is damage (log files are created whole);
        // these cuts test the replay rules of the store as written: put it back.
        let manifest = tmp.path().join("MANIFEST");
        rewrite(
            &manifest,
            &std::fs::read(Path::new(FIXTURE).join("MANIFEST")).unwrap(),
        );
        let s = Store::open(tmp.path(), opts()).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        let n = prefix_len(&content(&s)).unwrap_or_else(|| panic!("cut {cut}: not a prefix"));
        assert!(n <= last, "cut {cut}: shorter log, more batches");
        assert_eq!(s.recovery_report().wal.records, n as u64, "cut {cut}");
        last = n;
        drop(s);
        // The open cut the torn tail off (or rewrote a torn header): put the file back.
        let _ = std::fs::remove_dir_all(tmp.path().join("wal"));
        std::fs::create_dir_all(tmp.path().join("wal")).unwrap();
        std::fs::write(&log, &bytes[..cut]).unwrap();
    }
    assert_eq!(last, 0);
}

#[test]
fn bit_flips_in_the_log_give_a_prefix_or_an_error_naming_it() {
    let (tmp, log) = copy_fixture();
    let bytes = std::fs::read(&log).unwrap();
    let n = batches().1.len();
    let (mut errors, mut cut) = (0, 0);
    for bit in (0..bytes.len() * 8).step_by(29) {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        let _ = std::fs::remove_dir_all(tmp.path().join("wal"));
        std::fs::create_dir_all(tmp.path().join("wal")).unwrap();
        std::fs::write(&log, &b).unwrap();
        match Store::open(tmp.path(), opts()) {
            Ok(s) => {
                // Only a flip in the last record can be taken for a torn tail.
                assert_eq!(prefix_len(&content(&s)), Some(n - 1), "bit {bit}");
                cut += 1;
            }
            Err(Error::Corrupt { path, .. }) | Err(Error::ChecksumMismatch { path, .. }) => {
                assert!(
                    path.starts_with(tmp.path().join("wal")),
                    "bit {bit}: {path:?}"
                );
                errors += 1;
            }
            Err(Error::UnsupportedVersion { .. }) => errors += 1,
            Err(e) => panic!("bit {bit}: {e}"),
        }
    }
    assert!(errors > 0 && cut > 0);
}

#[test]
fn corruption_before_the_tail_is_an_error_unless_salvaged() {
    let (tmp, log) = copy_fixture();
    let mut bytes = std::fs::read(&log).unwrap();
    // A payload byte of the first record (header 32 bytes, frame header 20).
    bytes[32 + 20 + 40] ^= 0x10;
    rewrite(&log, &bytes);
    match Store::open(tmp.path(), opts()) {
        Err(Error::Corrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (log.clone(), 32));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let s = Store::open(
        tmp.path(),
        Options {
            salvage_wal: true,
            ..opts()
        },
    )
    .unwrap();
    let r = &s.recovery_report().wal;
    let n = batches().1.len();
    assert_eq!(r.records, n as u64 - 1);
    assert!(r.salvaged_corrupt_bytes > 0);
    assert_eq!(content(&s), expected_without(n, 0));
}
