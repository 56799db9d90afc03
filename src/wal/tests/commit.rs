//! Sync policies and group commit.

use super::*;
use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::Instant;

/// `threads` threads append `per_thread` records each at the same time; checks the LSNs
/// and that a reopen gives every record back. Returns the syncs run and the time taken.
fn concurrent_appends(policy: SyncPolicy, threads: usize, per_thread: usize) -> (u64, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), policy, false, None).unwrap();
    let barrier = Barrier::new(threads);
    let start = Instant::now();
    let results: Vec<Vec<(u64, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (wal, barrier) = (&wal, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    (0..per_thread)
                        .map(|k| {
                            let p = format!("thread {t} record {k}").into_bytes();
                            (wal.append(&p).unwrap(), p)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = start.elapsed();
    let syncs = wal.sync_count();
    let mut by_lsn = BTreeMap::new();
    for recs in &results {
        assert!(
            recs.windows(2).all(|w| w[0].0 < w[1].0),
            "per-thread LSNs increase"
        );
        for (lsn, p) in recs {
            assert!(
                by_lsn.insert(*lsn, p.clone()).is_none(),
                "LSN {lsn} handed out twice"
            );
        }
    }
    let n = (threads * per_thread) as u64;
    assert!(
        by_lsn.keys().copied().eq(1..=n),
        "LSNs are 1..={n} without gaps"
    );
    drop(wal);
    let (_, rep) = Wal::open(dir.path(), policy, false, None).unwrap();
    assert_eq!(rep.records, by_lsn.into_iter().collect::<Vec<_>>());
    (syncs, elapsed)
}

#[test]
fn group_commit_every_batch_from_many_threads() {
    let (syncs, _) = concurrent_appends(SyncPolicy::EveryBatch, 8, 100);
    assert!((1..=800).contains(&syncs), "{syncs} syncs");
}

#[test]
fn group_commit_periodic_shares_syncs_and_keeps_the_interval() {
    let interval_ms = 20;
    let (syncs, elapsed) = concurrent_appends(SyncPolicy::Periodic { interval_ms }, 4, 10);
    // Syncs start at least `interval_ms` apart, the first at once.
    let most = elapsed.as_millis() as u64 / interval_ms + 1;
    assert!(syncs <= most, "{syncs} syncs in {elapsed:?}");
    // Each appender waits for a sync, and four share each one.
    assert!(syncs < 40, "{syncs} syncs for 40 appends");
}

#[test]
fn never_policy_syncs_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), SyncPolicy::Never, false, None).unwrap();
    for k in 0..10u64 {
        wal.append(&payload(k, 100)).unwrap();
    }
    assert_eq!(wal.sync_count(), 0);
    wal.sync().unwrap();
    assert_eq!(wal.sync_count(), 1);
    // Nothing new: nothing to sync.
    wal.sync().unwrap();
    assert_eq!(wal.sync_count(), 1);
}

#[test]
fn periodic_append_returns_after_a_sync_and_the_record_is_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = SyncPolicy::Periodic { interval_ms: 50 };
    let (wal, _) = Wal::open(dir.path(), policy, false, None).unwrap();
    let start = Instant::now();
    assert_eq!(wal.append(b"first").unwrap(), 1);
    assert_eq!(wal.sync_count(), 1);
    // The second sync may not start within 50 ms of the first.
    assert_eq!(wal.append(b"second").unwrap(), 2);
    assert!(
        start.elapsed() >= Duration::from_millis(50),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(wal.sync_count(), 2);
    let bytes = std::fs::read(&log_files(dir.path())[0]).unwrap();
    let Frame::Valid { lsn, payload, end } = parse_frame(&bytes, HEADER_LEN) else {
        panic!("first record missing");
    };
    assert_eq!((lsn, payload), (1, &b"first"[..]));
    assert!(matches!(
        parse_frame(&bytes, end),
        Frame::Valid {
            lsn: 2,
            payload: b"second",
            ..
        }
    ));
}

/// Spins until record `lsn` has been written (its appender then waits for a sync).
fn wait_until_written(wal: &Wal, lsn: u64) {
    while wal.lock_active().next_lsn <= lsn {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn forced_sync_does_not_wait_for_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let policy = SyncPolicy::Periodic {
        interval_ms: 60_000,
    };
    let (wal, _) = Wal::open(dir.path(), policy, false, None).unwrap();
    wal.append(b"first").unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        // This appender leads the next sync and would wait a minute for it.
        let waiter = s.spawn(|| wal.append(b"second").unwrap());
        wait_until_written(&wal, 2);
        wal.sync().unwrap();
        assert_eq!(waiter.join().unwrap(), 2);
    });
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn rotate_makes_earlier_records_durable_for_waiting_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let policy = SyncPolicy::Periodic {
        interval_ms: 60_000,
    };
    let (wal, _) = Wal::open(dir.path(), policy, false, None).unwrap();
    wal.append(b"first").unwrap();
    let start = Instant::now();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| wal.append(b"second").unwrap());
        wait_until_written(&wal, 2);
        assert_eq!(wal.rotate().unwrap(), 2);
        assert_eq!(waiter.join().unwrap(), 2);
    });
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}
