//! Runs the whole-store day/night scan again and again in one process and prints each
//! scan's time and page faults: the driver behind the steady-state instruction counts of
//! `fleet_bench --callgrind` (`BENCHMARKS.md`) and behind interleaved A/B runs.
//!
//! ```sh
//! cargo run --release --example scan_repeat -- --store /tmp/fs300 --scans 8 --threads 2
//! ```
//!
//! Steady-state instructions of one scan (the first scan also checks every block's CRC and
//! keeps its layout; later scans do not): run it under callgrind with `--scans 1` and
//! `--scans 3` and halve the difference of the two totals (`fleet_bench --callgrind` does
//! this and divides by the readings; give `--tz` for a store of the `dst` shape).
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
use common::cli::{self, outln};
use meterstore::{DayNightScan, MeterFilter, Zone};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Repeat the whole-store day/night scan and time each one",
    after_help = cli::READ_EXIT_HELP
)]
struct Args {
    /// Store directory.
    #[arg(long)]
    store: String,
    /// Scans to run, 1 to 1,000,000.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    scans: u32,
    /// Worker threads per scan (0: one per core), at most 1024.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(0..=1024))]
    threads: u16,
    /// Seconds to sleep before each scan (a number of zero or more).
    #[arg(long, default_value_t = 0.0, value_parser = cli::non_negative)]
    pause: f64,
    /// Per local day results too.
    #[arg(long)]
    daily: bool,
    /// Zone of the day window: a fixed offset (+08:00) or an IANA name (Europe/Berlin).
    #[arg(long, default_value = "+08:00", allow_hyphen_values = true)]
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
    cli::finish(run(&Args::parse()))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let store = common::open_existing(args.store.as_ref())?;
    let scan = DayNightScan {
        zone: Zone::parse(&args.tz)?,
        threads: usize::from(args.threads),
        daily: args.daily,
        ..DayNightScan::default()
    };
    outln!("scan  time  minor faults  meters")?;
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
        outln!(
            "{i}  {:.3} ms  {faults}  {}",
            took.as_secs_f64() * 1e3,
            results.len()
        )?;
    }
    Ok(())
}
