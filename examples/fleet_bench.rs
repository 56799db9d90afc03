//! The fleet benchmark: builds a synthetic fleet of one data shape (or each) on disk and
//! measures ingest, size, open time, one meter's history, full decode and the day/night
//! scan on 1 and 2 threads; optionally the scan's steady-state instructions per reading
//! (callgrind) and DuckDB's time for the same query on the same readings, in the same run.
//!
//! ```text
//! cargo build --release --examples
//! target/release/examples/fleet_bench --shape all --meters 1000 --dir /tmp/fleet \
//!     --callgrind --peers
//! target/release/examples/fleet_bench --shape dst --dir /tmp/fleet --reuse --export /tmp/x
//! ```
//!
//! `--shape NAME` picks one of `meterstore::fleet::Shape` (`sample`, `smooth`, `drops`,
//! `minute`, `register`, `dst`); `all` runs each in turn, in `DIR/NAME`, and ends with one
//! summary table. `--callgrind` runs `scan_repeat` (built beside this binary) under
//! `valgrind --tool=callgrind` with 1 and 3 scans on one thread and divides half the
//! difference of the two instruction totals by the readings: the instructions of one
//! steady-state scan, independent of the machine's load. `--peers` exports the readings
//! (`--export`, default `DIR/export`), runs `bench/peers/peers.py --query-only` on them
//! (DuckDB on its native table, with the same zone and quantity rules), which also checks
//! the engine's per-meter results that this benchmark writes beside the export, and
//! reports DuckDB's median time against the engine's two-thread scan.

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, outln};
use meterstore::fleet::{Shape, ShapedFleet};
use meterstore::{DayNightScan, MeterFilter, Options, Quantity, Reading, Store, UnknownMeters};
use std::io::Write;
use std::path::{Path, PathBuf};
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
    /// Days of readings, 1 to 36500.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    days: u32,
    /// Data shape: sample, smooth, drops, minute, register, dst, or all.
    #[arg(long, default_value = "sample")]
    shape: String,
    /// Seed of the generated fleet.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Store directory (with --shape all, one per shape inside): a new or empty one, or one
    /// that fleet_bench made before, which it clears and builds again (or reads again with
    /// --reuse). Any other directory that holds files is refused and left alone (status 2).
    #[arg(long, default_value = "target/fleet_bench")]
    dir: PathBuf,
    /// Reuse the store that an earlier fleet_bench run built in --dir instead of building
    /// it.
    #[arg(long)]
    reuse: bool,
    /// Timed repetitions of each query, 1 to 10,000; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    runs: u32,
    /// Write readings.bin, meta.json and the engine's results (engine.csv) for
    /// bench/peers/peers.py into this directory (with --shape all, one per shape inside).
    #[arg(long)]
    export: Option<PathBuf>,
    /// Steady-state instructions per reading of the one-thread scan, from callgrind.
    #[arg(long)]
    callgrind: bool,
    /// Time DuckDB's day/night query on the exported readings (implies an export).
    #[arg(long)]
    peers: bool,
    /// Python interpreter for --peers.
    #[arg(long, default_value = "python3")]
    python: String,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// How much of its core this thread gets: integer adds per clock cycle in eight
/// independent chains, the clock taken from one dependent chain. On a shared virtual
/// machine a vCPU may sit on one hyperthread of a physical core whose other half runs
/// someone else's work; a dependent chain runs at full speed either way, but
/// throughput-bound code (the scan kernel, which retires several instructions a cycle)
/// slows with the probe. About 3.5 adds a cycle means a core to itself; the figure is
/// printed beside each scan so that runs can be compared.
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
/// and all time. A two-thread scan waits for its slower worker, so a host that takes one
/// vCPU away for a while slows it where a one-thread scan on the other vCPU is not
/// touched; the host check above does not see that (both of its chains stop alike).
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

/// One shape's figures for the summary table.
struct Summary {
    shape: Shape,
    meters: usize,
    days: u32,
    readings: usize,
    bytes_per_reading: f64,
    /// Median scan seconds on 1 and 2 threads.
    scan_s: [f64; 2],
    /// Median seconds of the two-thread scan with per-day results.
    daily_s: f64,
    instructions_per_reading: Option<f64>,
    duckdb_s: Option<f64>,
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let shapes = if args.shape == "all" {
        Shape::ALL.to_vec()
    } else {
        vec![Shape::parse(&args.shape)?]
    };
    let several = shapes.len() > 1;
    let mut summaries = Vec::new();
    for shape in shapes {
        let (dir, export) = if several {
            let export = args.export.as_ref().map(|e| e.join(shape.name()));
            (args.dir.join(shape.name()), export)
        } else {
            (args.dir.clone(), args.export.clone())
        };
        let export = export.or_else(|| args.peers.then(|| dir.with_extension("export")));
        eprintln!("== shape {shape}: {}", dir.display());
        summaries.push(bench_shape(&args, shape, &dir, export.as_deref())?);
    }
    print_summary(&summaries)?;
    Ok(())
}

fn bench_shape(
    args: &Args,
    shape: Shape,
    dir: &Path,
    export: Option<&Path>,
) -> Result<Summary, Box<dyn std::error::Error>> {
    let fleet = ShapedFleet::new(shape, args.meters as usize, args.days, args.seed);
    let opts = Options {
        unknown_meters: UnknownMeters::Register(fleet.meta()),
        ..Options::default()
    };
    let mut rows: Vec<(String, String)> = Vec::new();

    let reuse = common::dirs::claim(dir, "fleet_bench", args.reuse)
        .map_err(|e| cli::fail(cli::BAD_INPUT, e))?;
    if !reuse {
        let store = Store::open(dir, opts.clone())?;
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
        for (i, series) in rx.into_iter().enumerate() {
            let id = &fleet.meters()[i].id;
            let batch: Vec<Reading> = series
                .ts
                .iter()
                .zip(&series.values)
                .map(|(&ts, &value)| Reading::new(id, ts, value))
                .collect();
            let (appended, d) = timed(|| store.append(&batch));
            appended?;
            ingest += d;
            readings += batch.len();
            if i % 500 == 499 {
                eprint!("\ringested {} meters", i + 1);
            }
        }
        gen.join().map_err(|_| "the generator thread panicked")?;
        let (flushed, d) = timed(|| store.flush());
        flushed?;
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

    let (store, open) = timed(|| Store::open(dir, opts.clone()));
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
    let bytes_per_reading = bytes as f64 / total as f64;
    rows.push(("readings stored".into(), total.to_string()));
    rows.push(("segment bytes".into(), bytes.to_string()));
    rows.push((
        "bytes per reading (timestamps included)".into(),
        format!("{bytes_per_reading:.3}"),
    ));
    rows.push((
        "decode via history(), 1 thread (cold first pass)".into(),
        format!(
            "{:.0} M readings/s",
            total as f64 / decode.as_secs_f64() / 1e6
        ),
    ));

    // One meter's history, warm: median over a spread of meters.
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

    let mut scan_s = [0.0; 2];
    let mut results = Vec::new();
    for (slot, threads) in [1usize, 2].into_iter().enumerate() {
        let scan = DayNightScan {
            threads,
            ..fleet.scan()
        };
        let (m, r) = timed_scans(&store, &scan, args.runs as usize, total, &mut rows)?;
        scan_s[slot] = m;
        results = r;
    }
    let daily = DayNightScan {
        threads: 2,
        daily: true,
        ..fleet.scan()
    };
    let (daily_s, _) = timed_scans(&store, &daily, args.runs as usize, total, &mut rows)?;

    if let Some(out) = export {
        export_readings(&store, &ids, &fleet, &results, out)?;
    }
    // The store's lock: scan_repeat opens the store itself.
    drop(store);
    let instructions_per_reading = if args.callgrind {
        let per = callgrind_per_reading(dir, fleet.zone().name(), total)?;
        rows.push((
            "steady-state scan instructions per reading, 1 thread (callgrind)".into(),
            format!("{per:.2}"),
        ));
        Some(per)
    } else {
        None
    };
    let mut duckdb_s = None;
    if let (Some(out), true) = (export, args.peers) {
        let s = common::peers::duckdb_seconds(&args.python, out, args.runs as usize)?;
        rows.push((
            format!(
                "DuckDB in-process query, same readings (median of {})",
                args.runs
            ),
            format!(
                "{:.1} ms: {:.1}x the engine's two-thread scan",
                s * 1e3,
                s / scan_s[1]
            ),
        ));
        duckdb_s = Some(s);
    }
    outln!(
        "\n| shape {shape}: {} meters x {} days of {}-s {} readings, zone {} | |",
        ids.len(),
        args.days,
        shape.interval_s(),
        quantity_name(shape.kind()),
        shape.zone_name(),
    )?;
    outln!("|---|---|")?;
    for (k, v) in &rows {
        outln!("| {k} | {v} |")?;
    }

    Ok(Summary {
        shape,
        meters: ids.len(),
        days: args.days,
        readings: total,
        bytes_per_reading,
        scan_s,
        daily_s,
        instructions_per_reading,
        duckdb_s,
    })
}

/// Runs `scan` `runs` times with the host checks beside it, adds its rows, and returns the
/// median seconds and the last results.
fn timed_scans(
    store: &Store,
    scan: &DayNightScan,
    runs: usize,
    total: usize,
    rows: &mut Vec<(String, String)>,
) -> Result<(f64, Vec<meterstore::MeterDayNight>), Box<dyn std::error::Error>> {
    let threads = scan.threads;
    let mut times = Vec::new();
    let mut probes = Vec::new();
    let mut results = Vec::new();
    let mut stolen = Some((0, 0));
    for _ in 0..runs.max(1) {
        probes.extend(host_check(threads));
        let before = cpu_ticks();
        let (r, d) = timed(|| store.day_night(&MeterFilter::All, i64::MIN..i64::MAX, scan));
        stolen = match (stolen, before, cpu_ticks()) {
            (Some(s), Some(b), Some(a)) => Some((s.0 + a.0 - b.0, s.1 + a.1 - b.1)),
            _ => None,
        };
        results = r?;
        times.push(d);
    }
    let flagged = results.iter().filter(|m| m.total.flagged).count();
    let per_core = |d: &Duration| total as f64 / d.as_secs_f64() / 1e9 / threads as f64;
    let slowest = per_core(times.iter().max().ok_or("no runs")?);
    let fastest = per_core(times.iter().min().ok_or("no runs")?);
    let m = median(times);
    rows.push((
        format!(
            "day/night scan{}, {threads} thread(s), median of {}",
            if scan.daily {
                " with per-day results"
            } else {
                ""
            },
            runs.max(1)
        ),
        format!(
            "{:.1} ms = {:.2} G readings/s ({:.2} G/s per core, runs {:.2}-{:.2}); \
             {flagged} meters flagged",
            m.as_secs_f64() * 1e3,
            total as f64 / m.as_secs_f64() / 1e9,
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
    Ok((m.as_secs_f64(), results))
}

/// The name of a quantity in meta.json and in table headings.
fn quantity_name(q: Quantity) -> &'static str {
    match q {
        Quantity::IntervalEnergy => "interval_energy",
        Quantity::Power => "power",
        Quantity::CumulativeRegister => "register",
        Quantity::Other => "other",
    }
}

/// Writes readings.bin, meta.json (see bench/peers/README.md) and engine.csv (the
/// engine's per-meter day and night kWh, meter numbered as in readings.bin) into `dir`.
fn export_readings(
    store: &Store,
    ids: &[String],
    fleet: &ShapedFleet,
    results: &[meterstore::MeterDayNight],
    dir: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
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
    let scan = fleet.scan();
    let shape = fleet.shape();
    let offset = match scan.zone.fixed_offset() {
        Some(s) => s.to_string(),
        None => "null".to_owned(),
    };
    let meta = format!(
        "{{\"n_meters\": {}, \"n_readings\": {n}, \"shape\": \"{shape}\", \"quantity\": \"{}\", \
         \"interval_s\": {}, \"tz\": \"{}\", \"tz_offset_s\": {offset}, \"day_start_min\": {}, \
         \"day_end_min\": {}, \"value_scale\": 1000}}\n",
        ids.len(),
        quantity_name(shape.kind()),
        shape.interval_s(),
        scan.zone.name(),
        scan.window.start_min(),
        scan.window.end_min(),
    );
    std::fs::write(dir.join("meta.json"), meta)?;
    let index: std::collections::HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut csv = String::from("meter,day_kwh,night_kwh\n");
    for r in results {
        let i = index
            .get(r.meter.as_str())
            .ok_or("scan result of an unknown meter")?;
        csv.push_str(&format!("{i},{},{}\n", r.total.day_kwh, r.total.night_kwh));
    }
    std::fs::write(dir.join("engine.csv"), csv)?;
    eprintln!("exported {n} readings to {}", dir.display());
    Ok(())
}

/// Steady-state instructions of one one-thread scan per reading: `scan_repeat` under
/// callgrind with 1 and 3 scans, half the difference of the totals (the first scan also
/// checks each block's CRC and keeps its layout).
fn callgrind_per_reading(
    store: &Path,
    zone: &str,
    readings: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let scan_repeat = exe.with_file_name("scan_repeat");
    if !scan_repeat.exists() {
        return Err(format!(
            "--callgrind needs {} (cargo build --release --examples)",
            scan_repeat.display()
        )
        .into());
    }
    let mut totals = [0u64; 2];
    for (slot, scans) in [1, 3].into_iter().enumerate() {
        let out = store.with_extension(format!("callgrind.{scans}"));
        let status = std::process::Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&scan_repeat)
            .arg("--store")
            .arg(store)
            .args([
                "--threads",
                "1",
                "--tz",
                zone,
                "--scans",
                &scans.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("valgrind: {e}"))?;
        if !status.success() {
            return Err(format!("valgrind on {} failed: {status}", scan_repeat.display()).into());
        }
        let text = std::fs::read_to_string(&out)?;
        totals[slot] = text
            .lines()
            .find_map(|l| l.strip_prefix("summary: ").or(l.strip_prefix("totals: ")))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .ok_or_else(|| format!("{}: no instruction total", out.display()))?;
        std::fs::remove_file(&out)?;
    }
    Ok(totals[1].saturating_sub(totals[0]) as f64 / 2.0 / readings as f64)
}

fn print_summary(all: &[Summary]) -> std::io::Result<()> {
    outln!(
        "\n| shape | meters x days | readings | bytes/reading | scan 1 thread, G/s | \
         scan 2 threads, G/s per core | per-day scan 2 threads, ms | instructions/reading | \
         DuckDB ms | DuckDB / scan (2 threads) |"
    )?;
    outln!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for s in all {
        let per_core = |secs: f64, threads: f64| s.readings as f64 / secs / 1e9 / threads;
        let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_owned(), f);
        outln!(
            "| {} | {} x {} | {} | {:.3} | {:.2} | {:.2} | {:.1} | {} | {} | {} |",
            s.shape,
            s.meters,
            s.days,
            s.readings,
            s.bytes_per_reading,
            per_core(s.scan_s[0], 1.0),
            per_core(s.scan_s[1], 2.0),
            s.daily_s * 1e3,
            opt(s.instructions_per_reading, &|v| format!("{v:.2}")),
            opt(s.duckdb_s, &|v| format!("{:.1}", v * 1e3)),
            opt(s.duckdb_s, &|v| format!("{:.1}x", v / s.scan_s[1])),
        )?;
    }
    Ok(())
}
