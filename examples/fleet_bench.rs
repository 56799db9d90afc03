//! The fleet benchmark: builds a synthetic fleet on disk and measures ingest, size, open
//! time, one meter's history, full decode and the day/night scan; optionally exports the
//! same readings for the peer scripts in `bench/peers/`.
//!
//! ```text
//! cargo run --release --example fleet_bench -- --meters 10000 --days 365 --dir /tmp/fleet
//! cargo run --release --example fleet_bench -- --dir /tmp/fleet --reuse --export /tmp/fleet-export
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, outln};
use meterstore::fleet::Fleet;
use meterstore::{DayNightScan, MeterFilter, Options, Reading, Store, UnknownMeters};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Fleet benchmark: ingest, size, open, history, decode and day/night scan",
    after_help = cli::WRITE_EXIT_HELP
)]
struct Args {
    /// Number of meters, 1 to 10,000,000 (rounded up to whole enterprises of three).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    meters: u32,
    /// Days of 15-minute readings, 1 to 36500.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    days: u32,
    /// Store directory: a new or empty one, or one that fleet_bench made before, which it
    /// clears and builds again (or reads again with --reuse). Any other directory that
    /// holds files is refused and left alone (status 2).
    #[arg(long, default_value = "target/fleet_bench")]
    dir: PathBuf,
    /// Reuse the store that an earlier fleet_bench run built in --dir instead of building
    /// it.
    #[arg(long)]
    reuse: bool,
    /// Timed repetitions of each query, 1 to 10,000; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    runs: u32,
    /// Write readings.bin and meta.json for bench/peers/peers.py into this directory.
    #[arg(long)]
    export: Option<PathBuf>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// How much of its core this thread gets: integer adds per clock cycle in eight
/// independent chains, the clock taken from one dependent chain. Q: why in a benchmark?
/// A: on a shared virtual machine a vCPU may sit on one hyperthread of a physical core
/// whose other half runs someone else's work; a dependent chain runs at full speed either
/// way, but throughput-bound code (the scan kernel, which retires several instructions a
/// cycle) slows with the probe. Seen on the benchmark machine (BENCHMARKS.md): about 3.5
/// adds a cycle with the core to itself, 1.4 to 2.2 while shared; printed beside the scan
/// so that runs can be compared.
#[cfg(target_arch = "x86_64")]
fn adds_per_cycle() -> Option<f64> {
    use std::arch::asm;
    const N: u32 = 5_000_000;
    let t = Instant::now();
    let mut x = 0u64;
    for _ in 0..N {
        // SAFETY: register arithmetic only.
        unsafe { asm!("add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1", inout(reg) x) };
    }
    let cycle = t.elapsed().as_secs_f64() / (4 * N) as f64;
    let t = Instant::now();
    let (mut a, mut b, mut c, mut d) = (0u64, 0u64, 0u64, 0u64);
    for _ in 0..N {
        // SAFETY: register arithmetic only.
        unsafe {
            asm!(
                "add {0}, 1", "add {1}, 1", "add {2}, 1", "add {3}, 1",
                "add {0}, 1", "add {1}, 1", "add {2}, 1", "add {3}, 1",
                inout(reg) a, inout(reg) b, inout(reg) c, inout(reg) d,
            )
        };
    }
    let per_add = t.elapsed().as_secs_f64() / (8 * N) as f64;
    std::hint::black_box((x, a, b, c, d));
    Some(cycle / per_add)
}

#[cfg(not(target_arch = "x86_64"))]
fn adds_per_cycle() -> Option<f64> {
    None
}

/// [`adds_per_cycle`] on `threads` threads at once (one per core the scan uses), averaged.
fn host_check(threads: usize) -> Option<f64> {
    let each: Vec<Option<f64>> = std::thread::scope(|s| {
        let probes: Vec<_> = (0..threads).map(|_| s.spawn(adds_per_cycle)).collect();
        probes
            .into_iter()
            .map(|p| p.join().ok().flatten())
            .collect()
    });
    let each: Option<Vec<f64>> = each.into_iter().collect();
    each.map(|v| v.iter().sum::<f64>() / v.len() as f64)
}

/// The machine's CPU time so far as `(stolen, all)` in clock ticks, from the `cpu` line of
/// `/proc/stat` (Linux): time the hypervisor ran something else while a vCPU wanted to run,
/// and all time. Q: why? A: a two-thread scan waits for its slower worker, so a host that
/// takes one vCPU away for a while slows it where a one-thread scan, run on the other
/// vCPU, is not touched; the host check above does not see it (both of its chains stop
/// alike).
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is counted in user).
    Some((*ticks.get(7)?, ticks.iter().take(8).sum()))
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let fleet = Fleet::with_meters(args.meters as usize, args.days);
    let opts = Options {
        unknown_meters: UnknownMeters::Register(fleet.meta()),
        ..Options::default()
    };
    let mut rows: Vec<(String, String)> = Vec::new();

    let reuse = common::dirs::claim(&args.dir, "fleet_bench", args.reuse)
        .map_err(|e| cli::fail(cli::BAD_INPUT, e))?;
    if !reuse {
        let store = Store::open(&args.dir, opts.clone())?;
        let mut ingest = Duration::ZERO;
        let mut readings = 0usize;
        // Generation runs on a second thread, one meter ahead, so the timed part is the
        // store's own work: append (validation, memtable) and flushes.
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let gen_fleet = fleet.clone();
        let gen = std::thread::spawn(move || {
            for i in 0..gen_fleet.meters().len() {
                if tx.send(gen_fleet.series(i)).is_err() {
                    break;
                }
            }
        });
        for (i, (ts, vals)) in rx.into_iter().enumerate() {
            let id = &fleet.meters()[i].id;
            let batch: Vec<Reading> = ts
                .iter()
                .zip(&vals)
                .map(|(&ts, &value)| Reading {
                    meter: id,
                    ts,
                    value,
                })
                .collect();
            let ((), d) = timed(|| store.append(&batch).expect("append"));
            ingest += d;
            readings += batch.len();
            if i % 500 == 499 {
                eprint!("\ringested {} meters", i + 1);
            }
        }
        gen.join().expect("generator thread");
        let ((), d) = timed(|| store.flush().expect("flush"));
        ingest += d;
        eprintln!();
        rows.push(("readings".into(), readings.to_string()));
        rows.push((
            "ingest (append + flush, meter by meter)".into(),
            format!(
                "{:.1} M readings/s",
                readings as f64 / ingest.as_secs_f64() / 1e6
            ),
        ));
    }

    let (store, open) = timed(|| Store::open(&args.dir, opts.clone()));
    let store = store?;
    rows.push((
        "open store".into(),
        format!("{:.1} ms", open.as_secs_f64() * 1e3),
    ));
    let ids = store.meter_ids();
    let (total, decode) = timed(|| {
        ids.iter()
            .map(|id| store.history(id, i64::MIN..i64::MAX).map(|h| h.len()))
            .sum::<Result<usize, _>>()
    });
    let total = total?;
    let bytes = store.segment_bytes();
    rows.push(("readings stored".into(), total.to_string()));
    rows.push(("segment bytes".into(), bytes.to_string()));
    rows.push((
        "bytes per reading (timestamps included)".into(),
        format!("{:.3}", bytes as f64 / total as f64),
    ));
    rows.push((
        "decode via history(), 1 thread (cold first pass)".into(),
        format!(
            "{:.0} M readings/s",
            total as f64 / decode.as_secs_f64() / 1e6
        ),
    ));

    // One meter's year of history, warm: median over a spread of meters.
    let sample: Vec<&String> = ids.iter().step_by((ids.len() / 200).max(1)).collect();
    for id in &sample {
        let _ = store.history(id, i64::MIN..i64::MAX)?.len();
    }
    let lat: Vec<Duration> = sample
        .iter()
        .map(|id| timed(|| store.history(id, i64::MIN..i64::MAX).map(|h| h.len())).1)
        .collect();
    let mut sorted = lat.clone();
    sorted.sort();
    rows.push((
        format!("history of one meter ({} days), warm median", args.days),
        format!("{:.0} µs", median(lat).as_secs_f64() * 1e6),
    ));
    rows.push((
        "  p99".into(),
        format!(
            "{:.0} µs",
            sorted[sorted.len() * 99 / 100].as_secs_f64() * 1e6
        ),
    ));

    for threads in [1usize, 2] {
        let scan = DayNightScan {
            threads,
            ..DayNightScan::default()
        };
        let mut times = Vec::new();
        let mut probes = Vec::new();
        let mut flagged = 0;
        let mut stolen = Some((0, 0));
        for _ in 0..args.runs {
            probes.extend(host_check(threads));
            let before = cpu_ticks();
            let (r, d) = timed(|| store.day_night(&MeterFilter::All, i64::MIN..i64::MAX, &scan));
            stolen = match (stolen, before, cpu_ticks()) {
                (Some(s), Some(b), Some(a)) => Some((s.0 + a.0 - b.0, s.1 + a.1 - b.1)),
                _ => None,
            };
            flagged = r?.iter().filter(|m| m.total.flagged).count();
            times.push(d);
        }
        let per_core = |d: &Duration| total as f64 / d.as_secs_f64() / 1e9 / threads as f64;
        let slowest = per_core(times.iter().max().expect("at least one run"));
        let fastest = per_core(times.iter().min().expect("at least one run"));
        let m = median(times);
        let rate = total as f64 / m.as_secs_f64();
        rows.push((
            format!(
                "day/night scan, {threads} thread(s), median of {}",
                args.runs
            ),
            format!(
                "{:.1} ms = {:.2} G readings/s ({:.2} G/s per core, runs {:.2}-{:.2}); \
                 {flagged} meters flagged",
                m.as_secs_f64() * 1e3,
                rate / 1e9,
                per_core(&m),
                slowest,
                fastest,
            ),
        ));
        if !probes.is_empty() {
            probes.sort_by(f64::total_cmp);
            rows.push((
                "  host check before each run: integer adds per cycle and core".into(),
                format!(
                    "median {:.2} ({:.2}-{:.2}; about 3.5 with the core to itself, see \
                     `adds_per_cycle`)",
                    probes[probes.len() / 2],
                    probes[0],
                    probes[probes.len() - 1]
                ),
            ));
        }
        if let Some((steal, all)) = stolen.filter(|s| s.1 > 0) {
            rows.push((
                "  CPU time stolen by the host during the runs".into(),
                format!(
                    "{:.1}% of both vCPUs' time ({steal} of {all} ticks, /proc/stat)",
                    100.0 * steal as f64 / all as f64
                ),
            ));
        }
    }

    outln!(
        "\n| fleet: {} meters x {} days of 15-min readings | |",
        ids.len(),
        args.days
    )?;
    outln!("|---|---|")?;
    for (k, v) in &rows {
        outln!("| {k} | {v} |")?;
    }

    if let Some(dir) = &args.export {
        std::fs::create_dir_all(dir)?;
        let mut out = std::io::BufWriter::with_capacity(
            1 << 22,
            std::fs::File::create(dir.join("readings.bin"))?,
        );
        let mut n = 0usize;
        for (i, id) in ids.iter().enumerate() {
            for (t, v) in store.history(id, i64::MIN..i64::MAX)? {
                out.write_all(&(i as u32).to_le_bytes())?;
                out.write_all(&t.to_le_bytes())?;
                out.write_all(&v.to_le_bytes())?;
                n += 1;
            }
        }
        out.flush()?;
        let meta = format!(
            "{{\"n_meters\": {}, \"n_readings\": {n}, \"interval_s\": 900, \"tz_offset_s\": 28800, \"day_start_min\": 480, \"day_end_min\": 1200, \"value_scale\": 1000}}\n",
            ids.len()
        );
        std::fs::write(dir.join("meta.json"), meta)?;
        eprintln!("exported {n} readings to {}", dir.display());
    }
    Ok(())
}
