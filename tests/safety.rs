//! What is on disk is never destroyed or misread: a missing, stale or damaged file is an
//! error naming it and changes nothing; read-only opens never write; the writer's lock
//! survives the deletion of files; readers work beside a writer that compacts.

mod support;

use meterstore::{Error, MeterMeta, Options, Store};
use std::path::Path;
use support::{day, named, opts, snapshot, JAN};

fn all(s: &Store, m: &str) -> Vec<(i64, f64)> {
    s.history(m, i64::MIN..i64::MAX).unwrap().collect()
}

/// A store with two meters flushed into segments of two windows.
fn flushed_store(dir: &Path) {
    let s = Store::open(dir, opts()).unwrap();
    s.register_meter("A", MeterMeta::default()).unwrap();
    s.register_meter("B", MeterMeta::default()).unwrap();
    s.append(&day("A", JAN, 1.0)).unwrap();
    s.append(&day("B", JAN + 40 * 86_400, 2.0)).unwrap();
    s.close().unwrap();
}

/// Opening `dir` as a writer and as a reader both fail with [`Error::Damaged`] naming a
/// file that `file` accepts, and change nothing in it; returns the writer's error.
fn assert_damaged(dir: &Path, file: impl Fn(&str) -> bool) -> Error {
    let before = snapshot(dir);
    let w = Store::open(dir, opts()).err().unwrap();
    let r = Store::open_read_only(dir).err().unwrap();
    for e in [&w, &r] {
        assert!(matches!(e, Error::Damaged { .. }), "{e}");
        assert!(file(&named(e)), "{e}");
    }
    assert_eq!(snapshot(dir), before);
    w
}

#[test]
fn missing_manifest_is_damage_for_writers_and_readers_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    flushed_store(dir.path());
    std::fs::remove_file(dir.path().join("MANIFEST")).unwrap();
    let e = assert_damaged(dir.path(), |f| f == "MANIFEST");
    assert!(e.to_string().contains("seg-"), "{e}");
}

#[test]
fn a_new_store_writes_its_manifest_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    assert!(dir.path().join("MANIFEST").exists());
    drop(s);
    // Readers open it, empty; a path without a store is an error for them.
    let r = Store::open_read_only(dir.path()).unwrap();
    assert!(r.meter_ids().is_empty());
    let none = dir.path().join("nothing");
    let e = Store::open_read_only(&none).err().unwrap();
    assert!(e.to_string().contains("no store"), "{e}");
    assert!(!none.exists());
}

#[test]
fn missing_or_stale_meters_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    flushed_store(dir.path());
    let meters = dir.path().join("METERS");
    let two = std::fs::read(&meters).unwrap();
    // A copy of METERS from before meter B: same store, one meter fewer.
    {
        let s = Store::open(dir.path(), opts()).unwrap();
        s.register_meter("C", MeterMeta::default()).unwrap();
        s.append(&day("C", JAN, 3.0)).unwrap();
        s.close().unwrap();
    }
    for (what, bytes) in [("missing", None), ("stale", Some(two))] {
        let copy = tempfile::tempdir().unwrap();
        support::copy_dir(dir.path(), copy.path());
        let m = copy.path().join("METERS");
        match bytes {
            None => std::fs::remove_file(&m).unwrap(),
            Some(b) => std::fs::write(&m, b).unwrap(),
        }
        let e = assert_damaged(copy.path(), |f| f == "METERS");
        assert!(e.to_string().contains(what), "{e}");
    }
}

#[test]
fn stale_manifest_is_damage_and_newer_segments_survive() {
    let dir = tempfile::tempdir().unwrap();
    flushed_store(dir.path());
    let old = std::fs::read(dir.path().join("MANIFEST")).unwrap();
    {
        let s = Store::open(dir.path(), opts()).unwrap();
        s.register_meter("C", MeterMeta::default()).unwrap();
        s.append(&day("C", JAN, 3.0)).unwrap();
        s.close().unwrap();
    }
    std::fs::write(dir.path().join("MANIFEST"), old).unwrap();
    let e = assert_damaged(dir.path(), |f| f == "MANIFEST");
    assert!(e.to_string().contains("stale"), "{e}");
}

#[test]
fn stale_manifest_within_a_reservation_is_caught_by_the_log() {
    let dir = tempfile::tempdir().unwrap();
    flushed_store(dir.path());
    let old;
    {
        // One session, so the second flush uses seqs the first one reserved; no new
        // meter, so METERS does not change; the flush moves the log on.
        let s = Store::open(dir.path(), opts()).unwrap();
        s.append(&day("A", JAN + 86_400, 4.0)).unwrap();
        s.flush().unwrap();
        old = std::fs::read(dir.path().join("MANIFEST")).unwrap();
        s.append(&day("A", JAN + 2 * 86_400, 4.0)).unwrap();
        s.close().unwrap();
    }
    std::fs::write(dir.path().join("MANIFEST"), old).unwrap();
    assert_damaged(dir.path(), |f| f.starts_with("wal-"));
}

#[test]
fn read_only_open_never_rewrites_a_damaged_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), opts()).unwrap();
        s.register_meter("A", MeterMeta::default()).unwrap();
        s.flush().unwrap();
        let reg = Options {
            unknown_meters: meterstore::UnknownMeters::Register(MeterMeta::default()),
            ..opts()
        };
        drop(s);
        let s = Store::open(dir.path(), reg).unwrap();
        s.append(&day("A", JAN, 1.0)).unwrap();
        s.append(&day("N", JAN, 5.0)).unwrap();
        // Dropped without a flush: both batches stay in the log.
    }
    let log = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&log).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&log, &bytes).unwrap();
    let before = snapshot(dir.path());
    let r = Store::open_read_only(dir.path()).unwrap();
    // The first batch is there; the damaged last record is reported, not cut.
    assert_eq!(all(&r, "A").len(), 96);
    assert_eq!(r.recovery_report().wal.torn_tail_records_dropped, 1);
    for e in [
        r.append(&day("A", JAN, 9.0)).err().unwrap(),
        r.flush().err().unwrap(),
        r.compact().err().unwrap(),
        r.register_meter("Z", MeterMeta::default()).err().unwrap(),
        r.drop_before(JAN).err().unwrap(),
    ] {
        assert!(matches!(e, Error::ReadOnly { .. }), "{e}");
    }
    r.refresh().unwrap();
    drop(r);
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn the_writer_lock_survives_a_deleted_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = Store::open(dir.path(), opts()).unwrap();
    for f in ["LOCK", "MANIFEST.lock"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    let e = Store::open(dir.path(), opts()).err().unwrap();
    assert!(matches!(e, Error::Locked { .. }), "{e}");
    // Readers need no lock.
    Store::open_read_only(dir.path()).unwrap();
    drop(w);
    Store::open(dir.path(), opts()).unwrap();
}

#[test]
fn a_reader_keeps_its_view_while_the_writer_compacts_and_refreshes_to_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let w = Store::open(dir.path(), opts()).unwrap();
    w.register_meter("A", MeterMeta::default()).unwrap();
    for d in 0..4 {
        w.append(&day("A", JAN + d * 86_400, d as f64)).unwrap();
        w.flush().unwrap();
    }
    let r = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(r.segment_count(), 4);
    let expect = all(&w, "A");
    w.compact_all().unwrap();
    assert_eq!(w.segment_count(), 1);
    // The old files are gone; the reader still reads what it mapped.
    assert_eq!(all(&r, "A"), expect);
    // Unflushed readings of the writer are in the log, which a refresh replays.
    w.append(&day("A", JAN + 10 * 86_400, 7.0)).unwrap();
    let rep = r.refresh().unwrap();
    assert_eq!(rep.readings_replayed, 96);
    assert_eq!(r.segment_count(), 1);
    assert_eq!(all(&r, "A"), all(&w, "A"));
}

#[test]
fn a_reader_in_a_loop_beside_a_writer_never_fails_nor_sees_part_of_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let w = Store::open(dir.path(), opts()).unwrap();
    w.register_meter("A", MeterMeta::default()).unwrap();
    w.flush().unwrap();
    let r = Store::open_read_only(dir.path()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            write_forty_days(&w);
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut seen = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) || seen < 40 * 96 {
            r.refresh().unwrap();
            let n = all(&r, "A").len();
            assert_eq!(n % 96, 0, "a partial batch: {n} readings");
            assert!(n >= seen, "went back from {seen} to {n}");
            seen = n;
        }
    });
}

/// Forty daily batches of meter A, with flushes and compactions in between.
fn write_forty_days(w: &Store) {
    for d in 0..40 {
        w.append(&day("A", JAN + d * 86_400, 1.0)).unwrap();
        if d % 3 == 2 {
            w.flush().unwrap();
        }
        if d % 7 == 6 {
            w.compact_all().unwrap();
        }
    }
}

/// Set in the child process of the next test: the store it writes.
const WRITER_CHILD_ENV: &str = "METERSTORE_SAFETY_WRITER_DIR";

/// The writer process of the next test.
#[test]
fn writer_child() {
    let Ok(dir) = std::env::var(WRITER_CHILD_ENV) else {
        return;
    };
    let w = Store::open(&dir, opts()).unwrap();
    write_forty_days(&w);
    w.close().unwrap();
}

#[test]
fn a_reader_process_beside_a_writer_process_never_fails_nor_sees_part_of_a_batch() {
    if std::env::var(WRITER_CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let w = Store::open(dir.path(), opts()).unwrap();
        w.register_meter("A", MeterMeta::default()).unwrap();
    }
    let r = Store::open_read_only(dir.path()).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["writer_child", "--exact", "--test-threads=1"])
        .env(WRITER_CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = 0;
    let mut reads = 0;
    loop {
        let done = child.try_wait().unwrap();
        r.refresh().unwrap();
        let n = all(&r, "A").len();
        assert_eq!(n % 96, 0, "a partial batch: {n} readings");
        assert!(n >= seen, "went back from {seen} to {n}");
        seen = n;
        reads += 1;
        if let Some(status) = done {
            assert!(status.success());
            break;
        }
    }
    r.refresh().unwrap();
    assert_eq!(all(&r, "A").len(), 40 * 96, "after {reads} reads");
}
