//! Imports meter readings from a long-format CSV file (plain or gzip) into a store.
//!
//! ```text
//! cargo run --release --example import_csv -- --store /tmp/meters --input readings.csv.gz \
//!     --meters meters.csv --tz +08:00
//! ```
//!
//! The readings file has a header with `meter_id`, a timestamp column (`ts`, `timestamp`,
//! `time` or `datetime`), exactly one more column, the value, whatever its name, and
//! optionally a `flag` column: the reading's HJ 212 quality flag, one upper-case letter of
//! `N F M S D C T B`, empty for `N`:
//!
//! ```text
//! meter_id,ts,kwh,flag
//! M000001,2024-01-01 00:00,0.512,
//! M000001,2024-01-01T00:15:00+08:00,0.498,M
//! M000001,1704039300,0.503,N
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, outln};
use common::import::{self, InputArgs, NewMeterDefaults};
use meterstore::Quantity;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Import meter readings from a long-format CSV file (plain or .gz) into a store",
    long_about = "Import meter readings from a long-format CSV file (plain or .gz) into a store.\n\n\
        The header names `meter_id`, a timestamp column (ts, timestamp, time or datetime), \
        exactly one value column, whatever its name, and optionally a `flag` column (one HJ 212 \
        quality flag letter of N F M S D C T B per reading, empty for N; any other value is a \
        bad line). Each timestamp may be Unix seconds, RFC 3339 \
        (2024-01-01T00:15:00+08:00) or a local YYYY-MM-DD HH:MM[:SS] read in --tz; a local time \
        that a daylight-saving change skips or repeats is a bad line, and so is a timestamp \
        outside 1970-01-01 to 2199-12-31 UTC (one that reads as milliseconds, microseconds or \
        nanoseconds is named as such).\n\n\
        The whole file is checked first: if any line is bad (wrong field count, unreadable \
        timestamp or value, a timestamp off the meter's interval grid), the bad lines are \
        listed with their line numbers and nothing is imported, unless --skip-bad. Importing \
        the same file again changes nothing: the later write of a (meter, timestamp) wins, with \
        the same value. Meters not yet in the store are registered with the interval their \
        timestamps keep (the most common step, if at least half the steps are that and every \
        timestamp is on its grid; irregular otherwise), as power in kW when the value column or \
        meter id ends in kw, else as interval energy in kWh; --meters, --interval, --kind and \
        --unit say otherwise, and the tool prints what it registered. Memory stays bounded whatever the file's size: \
        rows are streamed and appended in batches of 100,000 readings, and the store flushes \
        its 256 MiB memtable to segments (peak RSS 0.4 to 0.7 GB for 1 GB files).\n\n\
        Built with --features arrow, the input may also be Parquet: a file (recognised by its \
        PAR1 magic) or a directory of .parquet files such as an export_parquet output, whose \
        meters.parquet then fills the catalog as --meters does. Columns as in CSV (meter_id, \
        one timestamp column, one value column); a timestamp without a time zone is read in \
        --tz. Bad rows are named by file and row number, with the same all-or-nothing rule.",
    after_help = cli::IMPORT_EXIT_HELP
)]
struct Args {
    #[command(flatten)]
    input: InputArgs,
    /// Meter catalog, CSV with a header: meter_id, enterprise_id and role required; the
    /// other columns of the monitoring catalog optional (enterprise_name, industry,
    /// process, pollutants, district, facility, kind, interval_s, unit, multiplier,
    /// multiplier_changes, hj212_mn, hj212_code; see docs/MONITORING.md). It is imported
    /// into the store's catalog (STORE/CATALOG), which imbalance --by enterprise and
    /// facility_alarms read: a meter listed again replaces its entry. An empty interval_s,
    /// kind or unit is inferred as for any new meter. A bad line here stops the import.
    #[arg(long, value_name = "meters.csv")]
    meters: Option<PathBuf>,
    /// Interval of meters new to the store, seconds or `irregular` (default: inferred
    /// from each meter's timestamps).
    #[arg(long, value_parser = parse_interval)]
    interval: Option<Option<u32>>,
    /// Quantity of meters new to the store: interval_energy, cumulative_register, power or
    /// other (default: power for a value column or meter id ending in kw, else
    /// interval_energy).
    #[arg(long, value_parser = parse_kind)]
    kind: Option<Quantity>,
    /// Unit of meters new to the store (default: kW for power named so, else kWh).
    #[arg(long)]
    unit: Option<String>,
}

fn parse_interval(s: &str) -> Result<Option<u32>, String> {
    match s {
        "irregular" | "none" => Ok(None),
        _ => match s.parse::<u32>() {
            Ok(v) if v > 0 => Ok(Some(v)),
            _ => Err(format!(
                "{s:?} is not a positive number of seconds or `irregular`"
            )),
        },
    }
}

fn parse_kind(s: &str) -> Result<Quantity, String> {
    meterstore::monitor::parse_kind(s)
        .ok_or_else(|| format!("{s:?} is not interval_energy, cumulative_register, power or other"))
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = args.input.config(args.meters);
    cfg.defaults = NewMeterDefaults {
        interval_s: args.interval,
        kind: args.kind,
        unit: args.unit,
    };
    let r = import::run(&cfg).map_err(import::failure)?;
    let rate = r.rows as f64 / r.seconds.max(1e-9);
    if !r.skipped.is_empty() {
        eprint!("skipped {} bad lines:\n{}", r.skipped.count, r.skipped);
    }
    outln!(
        "imported {} readings from {} rows of {} in {:.1} s ({rate:.0} rows/s; \
         validating took {:.1} s) into {}",
        r.imported,
        r.rows,
        cfg.input.display(),
        r.seconds,
        r.validate_seconds,
        cfg.store.display()
    )?;
    if let Some(c) = &r.catalog {
        outln!(
            "catalog {}: {} meters listed ({} added, {} replaced), {} enterprises added",
            cfg.store.join(meterstore::monitor::CATALOG_FILE).display(),
            r.catalog_meters,
            c.meters_added,
            c.meters_replaced,
            c.enterprises_added
        )?;
    }
    outln!("{} meters new to the store", r.new_meters)?;
    for (what, ids) in common::infer::groups(&r.inferred) {
        let shown = ids.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        let more = if ids.len() > 5 { ", ..." } else { "" };
        outln!("  {} meters: {what}: {shown}{more}", ids.len())?;
    }
    Ok(())
}
