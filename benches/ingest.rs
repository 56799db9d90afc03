//! Ingest and compaction benchmarks, and the write amplification of the 62-day resend
//! pattern.
//!
//! - `ingest/<policy>`: sustained readings/s through log + memtable + flush into a fresh
//!   store: 2,000 meters x 28 days (5.3 million readings) appended day by day in batches
//!   of 500 meter-days (48,000 readings), memtable budget 32 MiB (a background flush every
//!   ~2.1 million readings), auto compaction off, timed until the final `flush` returns;
//!   `*_2_threads` splits the fleet over two appending threads;
//!   `periodic_10ms_auto_compaction` keeps the default auto compaction on.
//! - `compaction/month`: readings/s of `compact_all` over a month of 2,000 meters flushed
//!   daily (31 segments in one window).
//! - Before the timed benchmarks, the resend pattern (see [`resend_62_days`]) is run once
//!   and its write amplification printed. `METERSTORE_WA_METERS` and `METERSTORE_WA_DAYS`
//!   change its size; `METERSTORE_WA=0` skips it.
//!
//! `cargo bench --bench ingest`

use criterion::{criterion_group, Criterion, Throughput};
use meterstore::fleet::Fleet;
use meterstore::{CompactionOptions, Options, Reading, Store, SyncPolicy, UnknownMeters};
use std::path::Path;
use std::time::{Duration, Instant};

const DAY: usize = 96;

/// A fleet's readings, per meter.
struct Data {
    fleet: Fleet,
    series: Vec<(Vec<i64>, Vec<f64>)>,
}

impl Data {
    fn new(meters: usize, days: u32) -> Data {
        // No gaps, so that day `d` of every meter is readings `d*96..(d+1)*96`.
        let fleet = Fleet::new(meterstore::fleet::FleetConfig {
            enterprises: meters.div_ceil(3).max(1),
            days,
            gap_share: 0.0,
            ..Default::default()
        });
        let series = (0..fleet.meters().len()).map(|i| fleet.series(i)).collect();
        Data { fleet, series }
    }

    fn meters(&self) -> usize {
        self.series.len()
    }

    /// Readings of meters `ms` for days `days`, meter by meter.
    fn batch(&self, ms: std::ops::Range<usize>, days: std::ops::Range<usize>) -> Vec<Reading<'_>> {
        let mut out = Vec::with_capacity(ms.len() * days.len() * DAY);
        for m in ms {
            let (ts, vals) = &self.series[m];
            let id = &self.fleet.meters()[m].id;
            let r = days.start * DAY..(days.end * DAY).min(ts.len());
            out.extend(
                ts[r.clone()]
                    .iter()
                    .zip(&vals[r])
                    .map(|(&ts, &value)| Reading::new(id, ts, value)),
            );
        }
        out
    }

    fn opts(&self, sync: SyncPolicy, budget: usize, auto: bool) -> Options {
        Options {
            unknown_meters: UnknownMeters::Register(self.fleet.meta()),
            sync,
            memtable_budget_bytes: budget,
            compaction: CompactionOptions {
                auto,
                ..CompactionOptions::default()
            },
            ..Options::default()
        }
    }
}

/// Appends days `days` of meters `ms` in batches of `group` meter-days.
fn ingest(store: &Store, data: &Data, ms: std::ops::Range<usize>, days: u32, group: usize) {
    for d in 0..days as usize {
        let mut m = ms.start;
        while m < ms.end {
            let end = (m + group).min(ms.end);
            store.append(&data.batch(m..end, d..d + 1)).unwrap();
            m = end;
        }
    }
}

fn ingest_benches(c: &mut Criterion) {
    let days = 28;
    let data = Data::new(2_000, days);
    let readings = (data.meters() * DAY * days as usize) as u64;
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(readings));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    let periodic = |interval_ms| SyncPolicy::Periodic { interval_ms };
    let cases: [(&str, SyncPolicy, usize, bool); 9] = [
        ("every_batch", SyncPolicy::EveryBatch, 1, false),
        ("every_batch_2_threads", SyncPolicy::EveryBatch, 2, false),
        ("periodic_10ms", periodic(10), 1, false),
        ("periodic_10ms_2_threads", periodic(10), 2, false),
        ("periodic_2ms", periodic(2), 1, false),
        ("periodic_2ms_2_threads", periodic(2), 2, false),
        ("periodic_10ms_auto_compaction", periodic(10), 1, true),
        ("never", SyncPolicy::Never, 1, false),
        ("never_2_threads", SyncPolicy::Never, 2, false),
    ];
    for (name, sync, threads, auto) in cases {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let store = Store::open(dir.path(), data.opts(sync, 32 << 20, auto)).unwrap();
                    let n = data.meters();
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..threads {
                            let (store, data) = (&store, &data);
                            s.spawn(move || {
                                ingest(
                                    store,
                                    data,
                                    n * t / threads..n * (t + 1) / threads,
                                    days,
                                    500,
                                )
                            });
                        }
                    });
                    store.flush().unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

fn compaction_bench(c: &mut Criterion) {
    let days = 31;
    let data = Data::new(2_000, days);
    let template = tempfile::tempdir().unwrap();
    {
        let store = Store::open(
            template.path(),
            data.opts(SyncPolicy::Never, 1 << 30, false),
        )
        .unwrap();
        for d in 0..days as usize {
            store
                .append(&data.batch(0..data.meters(), d..d + 1))
                .unwrap();
            store.flush().unwrap();
        }
        assert_eq!(store.segment_count(), days as usize);
    }
    let readings = (data.meters() * DAY * days as usize) as u64;
    let mut g = c.benchmark_group("compaction");
    g.throughput(Throughput::Elements(readings));
    g.sample_size(10);
    g.bench_function("month", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                copy_dir(template.path(), dir.path());
                let store =
                    Store::open(dir.path(), data.opts(SyncPolicy::Never, 1 << 30, false)).unwrap();
                let start = Instant::now();
                let r = store.compact_all().unwrap();
                total += start.elapsed();
                assert_eq!((r.windows, r.readings_written), (1, readings));
            }
            total
        })
    });
    g.finish();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "LOCK" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The 62-day resend pattern. A fleet is ingested in time order, one day at a time (the
/// day's readings in batches of 100 meters). Every day, 1% of the meters (a different 1%
/// each day, so each meter does it every 100 days) also re-send their previous 62 days,
/// one batch per meter: what Q/GDW 1376.1 terminals do after an outage. That is 0.62
/// times the fresh volume again, all of it duplicates. The store flushes at the end of
/// every day (a nightly flush: the worst case for compaction; a memtable budget would
/// batch several days) and runs the default compaction policy after each flush.
///
/// Write amplification = all segment bytes written (flushes and compactions) / segment
/// bytes written by flushes. The log's bytes are not counted.
fn resend_62_days(meters: usize, days: u32, nightly: bool) {
    let data = Data::new(meters, days);
    let dir = tempfile::tempdir().unwrap();
    let budget = if nightly { 1 << 30 } else { 64 << 20 };
    let store = Store::open(dir.path(), data.opts(SyncPolicy::Never, budget, true)).unwrap();
    let n = data.meters();
    let (mut fresh, mut resent) = (0u64, 0u64);
    let start = Instant::now();
    for d in 0..days as usize {
        let mut m = 0;
        while m < n {
            let b = data.batch(m..(m + 100).min(n), d..d + 1);
            fresh += b.len() as u64;
            store.append(&b).unwrap();
            m += 100;
        }
        for m in (0..n).filter(|m| (m + d) % 100 == 0) {
            let b = data.batch(m..m + 1, d.saturating_sub(62)..d);
            if !b.is_empty() {
                resent += b.len() as u64;
                store.append(&b).unwrap();
            }
        }
        if nightly {
            store.flush().unwrap();
        }
    }
    store.flush().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let s = store.stats();
    eprintln!(
        "resend_62_days ({}): {n} meters x {days} days: {fresh} fresh + {resent} resent readings in {secs:.1} s ({:.2} M readings/s)\n  \
         flushes {} wrote {:.1} MB ({:.3} B/reading); compaction rewrote {} windows in {} passes, wrote {:.1} MB ({} readings)\n  \
         write amplification {:.2} (segment bytes written / flushed); total written / final size {:.2}; \
         final: {} segments, {:.1} MB ({:.3} B/reading); compaction readings per ingested reading {:.2}",
        if nightly { "nightly flush" } else { "flush by 64 MiB budget" },
        (fresh + resent) as f64 / secs / 1e6,
        s.flushes,
        s.flushed_bytes as f64 / 1e6,
        s.flushed_bytes as f64 / (fresh + resent) as f64,
        s.windows_compacted,
        s.compactions,
        s.compaction_bytes_written as f64 / 1e6,
        s.compaction_readings_written,
        s.write_amplification(),
        (s.flushed_bytes + s.compaction_bytes_written) as f64 / s.segment_bytes as f64,
        s.segments,
        s.segment_bytes as f64 / 1e6,
        s.segment_bytes as f64 / fresh as f64,
        s.compaction_readings_written as f64 / (fresh + resent) as f64,
    );
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

criterion_group!(benches, ingest_benches, compaction_bench);

fn main() {
    if env_or("METERSTORE_WA", 1) != 0 {
        let (meters, days) = (
            env_or("METERSTORE_WA_METERS", 1_000),
            env_or("METERSTORE_WA_DAYS", 180),
        );
        resend_62_days(meters, days as u32, true);
        resend_62_days(meters, days as u32, false);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
