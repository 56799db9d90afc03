//! Prints one meter's history as a table, and optionally writes it as CSV and draws its
//! load curve as SVG.
//!
//! ```text
//! cargo run --release --example query_history -- --store /tmp/meters --meter M000001 \
//!     --from 2024-03-01 --to 2024-03-07 --tz Asia/Shanghai --plot m1.svg
//! cargo run --release --example query_history -- --store /tmp/meters --meter M000001 \
//!     --bucket day --agg sum --csv m1-daily.csv
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli;
use common::history::{self, HistoryQuery, QueryError};
use common::time::{parse_bound, Tz};
use meterstore::{Agg, Bucket, DayWindow};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Print a meter's history as a table, write it as CSV, plot its load curve as SVG",
    long_about = "Print a meter's history as an aligned table (local time, value, a marker line \
        for every gap in its interval grid), optionally write it as CSV and draw its load curve \
        as SVG with night hours shaded and gaps as breaks in the line.\n\n\
        With --bucket, values are aggregated per bucket aligned to local time. Buckets use a \
        fixed UTC offset: for an IANA zone, the offset in force at the start of the range (a \
        note says so when the zone changes offset within the range).\n\n\
        An unknown meter id exits with status 2 and suggests the closest registered ids; so \
        does a --bucket range of more than 1,000,000 buckets.",
    after_help = cli::READ_EXIT_HELP
)]
struct Args {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Meter id.
    #[arg(long)]
    meter: String,
    /// Start: an RFC 3339 instant with Z or any offset (2024-03-01T12:00:00-05:00), or a
    /// local date 2024-03-01 or date-time "2024-03-01 12:00" in --tz. Default: the first
    /// reading.
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// End, exclusive: an RFC 3339 instant, a local date-time in --tz, or a local date
    /// meaning the end of that day (so --from 2024-03-01 --to 2024-03-31 is all of
    /// March). Default: after the last reading.
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// Time zone of dates, of the table and of night hours: +08:00 or Area/City.
    #[arg(long, default_value = "+08:00", value_parser = Tz::parse, allow_hyphen_values = true)]
    tz: Tz,
    /// Aggregate per bucket: 15m, hour, day or month. Every bucket of the range is a row;
    /// a range of more than 1,000,000 buckets is refused (status 2).
    #[arg(long, value_parser = history::parse_bucket)]
    bucket: Option<Bucket>,
    /// Aggregate with --bucket: sum, avg, min or max. Default: sum for interval energy,
    /// avg for other quantities.
    #[arg(long, value_parser = history::parse_agg, requires = "bucket")]
    agg: Option<Agg>,
    /// Draw the load curve into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Day window for the plot's shading (local time; outside it is night).
    #[arg(long, default_value = "08:00-20:00", value_parser = parse_window)]
    day_window: DayWindow,
    /// Write the rows as CSV: meter_id,ts,local_time,value,flag (flag: the reading's HJ 212
    /// quality flag letter, N for a normal one), or with --bucket
    /// meter_id,bucket_start,local_time,value,count (buckets with readings).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

/// Readings beyond which a curve is denser than the plot's pixels (1000 wide).
const LONG_CURVE_POINTS: usize = 5000;

fn parse_window(s: &str) -> Result<DayWindow, String> {
    DayWindow::parse(s).map_err(|e| e.to_string())
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if !args.store.is_dir() {
        return Err(format!("no store at {}", args.store.display()).into());
    }
    let store = common::open_existing(&args.store)?;
    let bound = |s: &Option<String>, end| {
        s.as_deref()
            .map(|s| parse_bound(s, &args.tz, end))
            .transpose()
    };
    let (from, to) = (bound(&args.from, false)?, bound(&args.to, true)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err("--from must be before --to".into());
        }
    }
    let agg = match (args.bucket, args.agg, store.meter_meta(&args.meter)) {
        (Some(b), Some(a), _) => Some((b, a)),
        (Some(b), None, Some(m)) => Some((b, history::default_agg(&m))),
        _ => None,
    };
    let q = HistoryQuery {
        meter: args.meter.clone(),
        from,
        to,
        bucket: agg,
    };
    let view = history::query(&store, &q, &args.tz)?;
    // Files first: a table cut short by a closed pipe (`| head`) still leaves them.
    let mut wrote = Vec::new();
    if let Some(path) = &args.csv {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        history::write_csv(std::io::BufWriter::new(file), &view, &args.tz)?;
        wrote.push(format!("wrote {}", path.display()));
    }
    if let Some(path) = &args.plot {
        let drawn = history::load_curve(&view, &args.tz, args.day_window).write_svg(path)?;
        wrote.push(format!(
            "wrote {} ({} points in {} line pieces and {} dots)",
            path.display(),
            drawn.points,
            drawn.lines,
            drawn.dots
        ));
        if drawn.points > LONG_CURVE_POINTS && args.bucket.is_none() {
            wrote.push("tip: --bucket hour (or day) draws a long range more readably".into());
        }
    }
    let mut out = std::io::BufWriter::new(cli::stdout());
    history::write_table(&mut out, &view, &args.tz)?;
    out.flush()?;
    for w in wrote {
        eprintln!("{w}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::finish(run(&args).map_err(|e| {
        let usage = e.downcast_ref::<QueryError>().is_some_and(|q| {
            matches!(
                q,
                QueryError::UnknownMeter { .. } | QueryError::TooManyBuckets { .. }
            )
        });
        match usage {
            true => cli::fail(cli::BAD_INPUT, e.to_string()),
            false => e,
        }
    }))
}
