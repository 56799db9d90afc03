//! Runs the whole-store day/night scan again and again in one process and prints each
//! scan's time and page faults: the driver behind the steady-state instruction counts and
//! the interleaved A/B runs in `BENCHMARKS.md`.
//!
//! ```sh
//! cargo run --release --example scan_repeat -- --store /tmp/fs300 --scans 8 --threads 2
//! ```
//!
//! Steady-state instructions of one scan (the first scan also checks every block's CRC and
//! keeps its layout; later scans do not): run it under callgrind with `--scans 1` and
//! `--scans 3` and halve the difference of the two totals.
//!
//! ```sh
//! for n in 1 3; do
//!   valgrind --tool=callgrind --callgrind-out-file=cg.$n \
//!     target/release/examples/scan_repeat --store /tmp/fs300 --scans $n --threads 1
//! done
//! callgrind_annotate cg.1 | grep 'PROGRAM TOTALS'; callgrind_annotate cg.3 | grep 'PROGRAM TOTALS'
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use meterstore::{DayNightScan, MeterFilter, Zone};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Repeat the whole-store day/night scan and time each one")]
struct Args {
    /// Store directory.
    #[arg(long)]
    store: String,
    /// Scans to run.
    #[arg(long, default_value_t = 8)]
    scans: usize,
    /// Worker threads per scan (0: one per core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds to sleep before each scan.
    #[arg(long, default_value_t = 0.0)]
    pause: f64,
    /// Per local day results too.
    #[arg(long)]
    daily: bool,
    /// Zone of the day window: a fixed offset (+08:00) or an IANA name (Europe/Berlin).
    #[arg(long, default_value = "+08:00")]
    tz: String,
}

/// Minor page faults of this process so far, where `/proc` tells (Linux).
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state, ppid, pgrp, session, tty, tpgid, flags, then minflt.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split(' ').nth(7)?.parse().ok()
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if !args.pause.is_finite() || args.pause < 0.0 {
        return Err(format!("--pause {} must be a non-negative number", args.pause).into());
    }
    let store = common::open_existing(args.store.as_ref())?;
    let scan = DayNightScan {
        zone: Zone::parse(&args.tz)?,
        threads: args.threads,
        daily: args.daily,
        ..DayNightScan::default()
    };
    println!("scan  time  minor faults  meters");
    for i in 1..=args.scans {
        std::thread::sleep(Duration::from_secs_f64(args.pause));
        let faults = minor_faults();
        let start = Instant::now();
        let results = store.day_night(&MeterFilter::All, i64::MIN..i64::MAX, &scan)?;
        let took = start.elapsed();
        let faults = match (faults, minor_faults()) {
            (Some(a), Some(b)) => (b - a).to_string(),
            _ => "-".to_string(),
        };
        println!(
            "{i}  {:.3} ms  {faults}  {}",
            took.as_secs_f64() * 1e3,
            results.len()
        );
    }
    Ok(())
}
