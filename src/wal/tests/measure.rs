//! Appends per second of 1 MiB records under each policy, by hand:
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-wal cargo test --release --lib wal::tests::measure \
//!     -- --ignored --nocapture
//! ```
//!
//! Set `WAL_MEASURE_DIR` to measure on another file system than the temp dir's.

use super::*;
use std::time::Instant;

const RECORD: usize = 1 << 20;
const SECONDS: f64 = 2.0;

fn run(policy: SyncPolicy, threads: usize) {
    let base = std::env::var_os("WAL_MEASURE_DIR").map(PathBuf::from);
    let dir = match &base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let (wal, _) = Wal::open(dir.path(), policy, false, None).unwrap();
    let record = payload(1, RECORD);
    let start = Instant::now();
    let appends: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while start.elapsed().as_secs_f64() < SECONDS {
                        wal.append(&record).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<34} threads {threads}: {:>7.1} appends/s  {:>7.1} MiB/s  {:>5} syncs",
        format!("{policy:?}"),
        appends as f64 / secs,
        (appends * RECORD as u64) as f64 / secs / (1 << 20) as f64,
        wal.sync_count(),
    );
}

#[test]
#[ignore = "measurement, run by hand"]
fn appends_per_second_of_1_mib_records() {
    for threads in [1, 4] {
        for policy in [
            SyncPolicy::EveryBatch,
            SyncPolicy::Periodic { interval_ms: 10 },
            SyncPolicy::Periodic { interval_ms: 100 },
            SyncPolicy::Never,
        ] {
            run(policy, threads);
        }
    }
}
