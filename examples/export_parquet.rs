//! Exports a store's readings as Hive-partitioned Parquet, for DuckDB, Spark, Polars,
//! DataFusion or Trino. Needs the `arrow` feature.
//!
//! ```text
//! cargo run --release --features arrow --example export_parquet -- \
//!     --store DIR --out OUT [--from T --to T] [--shards N]
//! ```
//!
//! Writes `OUT/month=YYYY-MM/shard=NN/part-00000.parquet` (the month of each reading in
//! UTC; the shard is FNV-1a 64 of the meter id's UTF-8 bytes modulo N) with the columns
//! `meter_id` (string), `ts` (timestamp, milliseconds, UTC) and `value` (double), sorted
//! by `(meter_id, ts)`, ZSTD, full statistics; and `OUT/meters.parquet`, the meter catalog
//! (metadata, shard, and enterprise, role, facility and district from the store's
//! monitoring catalog `STORE/CATALOG`). The store is opened read-only, so the export runs
//! beside a writer and sees one snapshot of it.

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, outln};
use common::time::{parse_bound, Tz};
use indicatif::{ProgressBar, ProgressStyle};
use meterstore::arrow::{export_parquet, ExportOptions};
use meterstore::monitor::Catalog;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    about = "Export a store's readings as Hive-partitioned Parquet (month=YYYY-MM/shard=NN)",
    after_help = cli::READ_EXIT_HELP
)]
struct Args {
    /// Store directory (only read; a writer may have it open).
    #[arg(long)]
    store: PathBuf,
    /// Output directory; must not exist or be empty (anything else is refused, status 2).
    #[arg(long)]
    out: PathBuf,
    /// Range start: RFC 3339 or a UTC date YYYY-MM-DD (default: all).
    #[arg(long)]
    from: Option<String>,
    /// Range end: RFC 3339, or a UTC date YYYY-MM-DD taken as its whole day (default: all).
    #[arg(long)]
    to: Option<String>,
    /// Shards: meters are split by FNV-1a 64 of their id modulo N.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    shards: u32,
    /// Worker threads, each writing whole shards (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn run(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let usage = |m: String| cli::fail(cli::BAD_INPUT, m);
    let utc = Tz::parse("+00:00")?;
    let bound = |s: &Option<String>, end: bool| s.as_deref().map(|s| parse_bound(s, &utc, end));
    let from = bound(&a.from, false).transpose().map_err(usage)?;
    let to = bound(&a.to, true).transpose().map_err(usage)?;
    let (from, to) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
    if from >= to {
        return Err(usage("--from must be before --to".into()));
    }
    common::dirs::check_new_output(&a.out).map_err(usage)?;
    let store = common::open_existing(&a.store)?;
    let catalog = Catalog::load(&store)?;
    let snap = store.snapshot();
    let pb = if a.quiet {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} exporting {human_pos} readings ({per_sec}) {elapsed}",
        ) {
            pb.set_style(style);
        }
        pb
    };
    let opts = ExportOptions {
        range: from..to,
        shards: a.shards,
        threads: a.threads,
    };
    let started = Instant::now();
    let report = export_parquet(&snap, &catalog, &a.out, &opts, &|n| pb.inc(n))?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "exported {} readings of {} meters to {} files ({} bytes, {:.3} B/reading) and {} \
         in {secs:.2} s ({:.1} M readings/s)",
        report.readings,
        report.meters,
        report.files.len(),
        report.bytes,
        report.bytes as f64 / report.readings.max(1) as f64,
        a.out.join(meterstore::arrow::METERS_FILE).display(),
        report.readings as f64 / secs.max(1e-9) / 1e6,
    )?;
    Ok(())
}

fn main() -> ExitCode {
    cli::finish(run(&Args::parse()))
}
