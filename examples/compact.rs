//! Runs compaction on a store from the command line, with progress, and prints its
//! segment bytes before and after: the compaction policy by default, or with `--cold`
//! every window old enough for the cold tier (`Store::compact_cold`).
//!
//! ```text
//! cargo run --release --example compact -- --store /tmp/meters
//! cargo run --release --example compact -- --store /tmp/meters --cold
//! cargo run --release --example compact -- --store /tmp/meters --cold --cold-after-days 0
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, outln};
use indicatif::{ProgressBar, ProgressStyle};
use meterstore::{CompactionOptions, Options, Store};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    about = "Compact a store (the policy, or --cold: every window old enough for the cold tier)",
    after_help = cli::WRITE_EXIT_HELP
)]
struct Args {
    /// Store directory (must hold a store: a mistyped path is an error, not a new store).
    #[arg(long)]
    store: PathBuf,
    /// Rewrite every window that ended --cold-after-days before the newest reading into
    /// one cold segment now.
    #[arg(long)]
    cold: bool,
    /// Days after the end of a window (before the newest reading) before it goes cold.
    #[arg(long, default_value_t = 62, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    cold_after_days: u32,
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let opts = Options {
        create_if_missing: false,
        compaction: CompactionOptions {
            auto: false,
            cold_after: Some(args.cold_after_days as i64 * 86_400),
            ..CompactionOptions::default()
        },
        ..Options::default()
    };
    let store = Store::open(&args.store, opts)
        .map_err(|e| cli::fail(cli::BAD_INPUT, format!("{}: {e}", args.store.display())))?;
    // Everything in the log goes into segments first, so that the sizes compare like
    // with like.
    store.flush()?;
    let (bytes, files) = (store.segment_bytes(), store.segment_count());
    outln!("before: {bytes} bytes in {files} segments")?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} windows, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(if args.cold { "cold" } else { "compact" });
    let started = Instant::now();
    let report = store.compact_with_progress(args.cold, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let (after, after_files) = (store.segment_bytes(), store.segment_count());
    outln!("after:  {after} bytes in {after_files} segments")?;
    outln!(
        "{} windows rewritten ({} readings, {:.1} M readings/s); {:.1}% of the bytes before",
        report.windows,
        report.readings_written,
        report.readings_written as f64 / secs.max(1e-9) / 1e6,
        after as f64 * 100.0 / (bytes.max(1)) as f64
    )?;
    store.close()?;
    Ok(())
}

fn main() -> ExitCode {
    // clap ends bad usage itself with status 2 (`cli::BAD_INPUT`).
    cli::finish(run(&Args::parse()))
}
