//! Crash tests: a child process (this test binary run again with `METERSTORE_CRASH_CHILD`
//! set, as sled does) appends batches with an fsync per batch, flushes and compacts, and
//! prints the number of every batch once `append` has returned. The parent kills it with
//! SIGKILL at a random point (sometimes while it is still opening the store), reopens
//! the store and checks that every acknowledged batch is there, that the one batch in
//! flight is wholly there or wholly absent, and that the store opened cleanly. The next
//! child continues in the same directory, so recovery itself gets crashed too.
//!
//! 100 kills by default; `METERSTORE_CRASH_ITERS=1000 cargo test --release --test crash`
//! for more. `METERSTORE_CRASH_SEED` picks the random sequence (printed on failure).

use meterstore::{
    CompactionOptions, MeterMeta, Options, Reading, Store, SyncPolicy, UnknownMeters,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "METERSTORE_CRASH_CHILD";
const START_ENV: &str = "METERSTORE_CRASH_START";
const CHILD_SEED_ENV: &str = "METERSTORE_CRASH_CHILD_SEED";
/// 2024-01-01T00:00+08:00; batch `b` writes at `T0 + b * STEP`.
const T0: i64 = 1_704_038_400;
/// Six hours: about 120 batches a month, so flushes and compactions span windows.
const STEP: i64 = 6 * 3600;
/// A child stops by itself after this many batches (the parent normally kills it first).
const CHILD_MAX_BATCHES: u64 = 400;

/// splitmix64, so that a failing seed reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn opts(sync: SyncPolicy) -> Options {
    Options {
        unknown_meters: UnknownMeters::Register(MeterMeta {
            interval_s: Some(900),
            ..MeterMeta::default()
        }),
        sync,
        // About 30 batches: some flushes happen inline in an append.
        memtable_budget_bytes: 16 * 8 * 30,
        compaction: CompactionOptions {
            auto: true,
            max_segments_per_window: 3,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

/// The readings of batch `b`: four meters at the batch's own time, a resend over the
/// batch 40 back (ten days earlier, often in the previous month) and, every fifth batch,
/// a meter that the batch registers.
fn batch(b: u64) -> Vec<(String, i64, f64)> {
    let t = T0 + b as i64 * STEP;
    let mut out = Vec::new();
    for j in 0..4 {
        out.push((format!("M{j}"), t, (b * 10 + j) as f64));
    }
    if b.is_multiple_of(3) && b >= 40 {
        for j in 0..4 {
            out.push((format!("M{j}"), t - 40 * STEP, (b * 10 + j) as f64 + 0.5));
        }
    }
    if b.is_multiple_of(5) {
        out.push((format!("N{b}"), t, b as f64));
    }
    out
}

type Content = (BTreeMap<(String, i64), u64>, BTreeSet<String>);

/// What batches `0..n` leave.
fn model(n: u64) -> Content {
    let mut readings = BTreeMap::new();
    let mut meters = BTreeSet::new();
    for b in 0..n {
        for (m, t, v) in batch(b) {
            meters.insert(m.clone());
            readings.insert((m, t), v.to_bits());
        }
    }
    (readings, meters)
}

fn content(s: &Store) -> Content {
    let mut readings = BTreeMap::new();
    let ids = s.meter_ids();
    for id in &ids {
        for (t, v) in s.history(id, i64::MIN..i64::MAX).unwrap() {
            readings.insert((id.clone(), t), v.to_bits());
        }
    }
    (readings, ids.into_iter().collect())
}

/// The child: appends from batch `START` on until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let start: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let seed: u64 = std::env::var(CHILD_SEED_ENV).unwrap().parse().unwrap();
    let mut rng = Rng(seed);
    let sync = if seed.is_multiple_of(3) {
        SyncPolicy::Periodic { interval_ms: 1 }
    } else {
        SyncPolicy::EveryBatch
    };
    let store = Store::open(&dir, opts(sync)).unwrap();
    let out = std::io::stdout();
    for b in start..start + CHILD_MAX_BATCHES {
        let rows = batch(b);
        let readings: Vec<Reading> = rows
            .iter()
            .map(|(m, ts, value)| Reading::new(m, *ts, *value))
            .collect();
        store.append(&readings).unwrap();
        let mut o = out.lock();
        writeln!(o, "ACK {b}").unwrap();
        o.flush().unwrap();
        drop(o);
        match rng.below(12) {
            0 | 1 => store.flush().unwrap(),
            2 => {
                store.compact_all().unwrap();
            }
            _ => {}
        }
    }
}

fn iterations() -> u64 {
    std::env::var("METERSTORE_CRASH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// The batch number of an acknowledgement line (the test harness may print its own
/// "test crash_child ... " in front of the first one).
fn ack(line: &str) -> Option<u64> {
    let at = line.find("ACK ")?;
    Some(line[at + 4..].trim().parse().expect("ACK line"))
}

/// Runs one child from batch `start` and kills it; returns the acknowledged batches.
fn run_child(dir: &Path, start: u64, rng: &mut Rng) -> Vec<u64> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env(START_ENV, start.to_string())
        .env(CHILD_SEED_ENV, rng.next().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    // Kill after some acknowledgements, or (one time in eight) during open and replay.
    let target = match rng.below(8) {
        0 => 0,
        _ => 1 + rng.below(20),
    };
    while (acked.len() as u64) < target {
        match lines.next() {
            Some(Ok(l)) => acked.extend(ack(&l)),
            _ => break,
        }
    }
    let pause = match target {
        0 => rng.below(40_000),
        _ => rng.below(4_000),
    };
    std::thread::sleep(Duration::from_micros(pause));
    let _ = child.kill(); // SIGKILL
    let status = child.wait().unwrap();
    // Acknowledgements printed before the kill that we had not read yet.
    for l in lines.map_while(|l| l.ok()) {
        acked.extend(ack(&l));
    }
    if status.success() || status.code().is_some() {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
        assert!(
            status.success(),
            "child failed on its own ({status}):\n{err}"
        );
    }
    acked
}

#[test]
fn kill_at_random_points_and_recover() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed = std::env::var("METERSTORE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_2024);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut next = 0u64; // batches 0..next are in the store
    let (mut inflight_present, mut torn) = (0, 0);
    for it in 0..iterations() {
        let acked = run_child(dir.path(), next, &mut rng);
        let ctx = format!("seed {seed} iteration {it} start {next} acked {acked:?}");
        assert!(
            acked.iter().copied().eq(next..next + acked.len() as u64),
            "{ctx}: acknowledgements out of order"
        );
        let acked_to = next + acked.len() as u64;
        let s = Store::open(dir.path(), opts(SyncPolicy::Never))
            .unwrap_or_else(|e| panic!("{ctx}: store does not open: {e}"));
        let r = s.recovery_report();
        assert_eq!(r.wal.salvaged_corrupt_bytes, 0, "{ctx}");
        torn += u64::from(r.wal.torn_tail_bytes_dropped > 0);
        let got = content(&s);
        drop(s);
        if got == model(acked_to) {
            next = acked_to;
        } else if got == model(acked_to + 1) {
            // The batch in flight at the kill made it, wholly.
            next = acked_to + 1;
            inflight_present += 1;
        } else {
            let want = model(acked_to);
            let missing: Vec<_> = want
                .0
                .iter()
                .filter(|(k, _)| !got.0.contains_key(*k))
                .take(5)
                .collect();
            let extra: Vec<_> = got
                .0
                .iter()
                .filter(|(k, v)| want.0.get(*k) != Some(v))
                .take(5)
                .collect();
            panic!("{ctx}: store differs from batches 0..{acked_to} (and 0..={acked_to}): missing {missing:?}, different or extra {extra:?}, meters {:?} vs {:?}", got.1, want.1);
        }
    }
    eprintln!(
        "{} kills: {next} batches stored, in-flight batch present {inflight_present} times, torn log tail cut {torn} times",
        iterations()
    );
}
