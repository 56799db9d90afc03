//! Imports meter readings from a long-format CSV file (plain or gzip) into a store.
//!
//! ```text
//! cargo run --release --example import_csv -- --store /tmp/meters --input readings.csv.gz \
//!     --meters meters.csv --tz +08:00
//! ```
//!
//! The readings file has a header with `meter_id`, a timestamp column (`ts`, `timestamp`,
//! `time` or `datetime`) and exactly one more column, the value, whatever its name:
//!
//! ```text
//! meter_id,ts,kwh
//! M000001,2024-01-01 00:00,0.512
//! M000001,2024-01-01T00:15:00+08:00,0.498
//! M000001,1704039300,0.503
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::import::{self, ImportConfig, ImportError};
use common::time::Tz;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Import meter readings from a long-format CSV file (plain or .gz) into a store",
    long_about = "Import meter readings from a long-format CSV file (plain or .gz) into a store.\n\n\
        The header names `meter_id`, a timestamp column (ts, timestamp, time or datetime) and \
        exactly one value column, whatever its name. Each timestamp may be Unix seconds, RFC 3339 \
        (2024-01-01T00:15:00+08:00) or a local YYYY-MM-DD HH:MM[:SS] read in --tz; a local time \
        that a daylight-saving change skips or repeats is a bad line.\n\n\
        The whole file is checked first: if any line is bad (wrong field count, unreadable \
        timestamp or value, a timestamp off the meter's interval grid), the bad lines are \
        listed with their line numbers and nothing is imported, unless --skip-bad. Importing \
        the same file again changes nothing: the later write of a (meter, timestamp) wins, with \
        the same value. Meters not yet in the store are registered as 15-minute interval energy \
        in kWh, unless --meters says otherwise. Memory stays bounded whatever the file's size: \
        rows are streamed and appended in batches of 100,000 readings, and the store flushes \
        its 256 MiB memtable to segments (peak RSS 0.4 to 0.7 GB for 1 GB files).\n\n\
        Built with --features arrow, the input may also be Parquet: a file (recognised by its \
        PAR1 magic) or a directory of .parquet files such as an export_parquet output, whose \
        meters.parquet then registers the meters. Columns as in CSV (meter_id, one timestamp \
        column, one value column); a timestamp without a time zone is read in --tz. Bad rows \
        are named by file and row number, with the same all-or-nothing rule.\n\n\
        Exit status: 0 on success, 2 when bad lines stopped the import, 1 on other errors."
)]
struct Args {
    /// Store directory (created if missing).
    #[arg(long)]
    store: PathBuf,
    /// Readings file, CSV or gzip-compressed CSV; with the arrow feature also a Parquet
    /// file or a directory of them.
    #[arg(long)]
    input: PathBuf,
    /// Meter catalog, CSV with a header: meter_id,enterprise_id,role required; interval_s
    /// (seconds, default 900, or `irregular`), kind (interval_energy, cumulative_register,
    /// power, other) and unit (default kWh) optional; further columns ignored. Its meters
    /// are registered in the store, and its meter_id,enterprise_id,role rows are written
    /// to STORE/enterprises.csv (merged with the rows already there), where the examples
    /// that group meters by enterprise read them. A bad line here stops the import.
    #[arg(long, value_name = "meters.csv")]
    meters: Option<PathBuf>,
    /// Time zone of local date-times in the file: an offset like +08:00 or an IANA name
    /// like Asia/Shanghai.
    #[arg(long, default_value = "+08:00", value_parser = Tz::parse)]
    tz: Tz,
    /// Import the good lines of a file with bad ones (in one pass), and report the bad.
    #[arg(long)]
    skip_bad: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = ImportConfig {
        store: args.store,
        input: args.input,
        meters: args.meters,
        tz: args.tz,
        skip_bad: args.skip_bad,
        progress: !args.quiet,
    };
    match import::run(&cfg) {
        Ok(r) => {
            let rate = r.rows as f64 / r.seconds.max(1e-9);
            println!(
                "imported {} readings from {} rows of {} in {:.1} s ({rate:.0} rows/s; \
                 validating took {:.1} s) into {}",
                r.imported,
                r.rows,
                cfg.input.display(),
                r.seconds,
                r.validate_seconds,
                cfg.store.display()
            );
            if r.catalog_meters > 0 {
                println!(
                    "catalog: {} meters registered, enterprises written to {}",
                    r.catalog_meters,
                    cfg.store.join(import::ENTERPRISES_FILE).display()
                );
            }
            println!("{} meters new to the store", r.new_meters);
            if !r.skipped.is_empty() {
                eprint!("skipped {} bad lines:\n{}", r.skipped.count, r.skipped);
            }
            ExitCode::SUCCESS
        }
        Err(e @ ImportError::BadLines { .. }) => {
            // The list of bad lines ends with a newline.
            eprint!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
