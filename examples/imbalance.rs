//! Day/night imbalance scan of a store: which meters (or enterprises) draw more power at
//! night than by day? Prints the flagged ones first and writes a CSV.
//!
//! ```text
//! cargo run --release --example imbalance -- --store target/quickstart/store --csv out.csv
//! cargo run --release --example imbalance -- --store DIR --by enterprise
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::{Parser, ValueEnum};
use common::cli;
use common::imbalance::{self, By, Request};
use common::time::Tz;
use meterstore::DayWindow;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum ByArg {
    Meter,
    Enterprise,
}

#[derive(Parser)]
#[command(
    about = "Day/night imbalance (night production) scan of a meterstore store",
    after_help = cli::READ_EXIT_HELP
)]
struct Args {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Range start: an RFC 3339 instant with Z or any offset, or a local date YYYY-MM-DD or
    /// date-time "YYYY-MM-DD HH:MM" in --tz (default: first reading).
    #[arg(long)]
    from: Option<String>,
    /// Range end, exclusive: an RFC 3339 instant, a local date-time in --tz, or a local date
    /// YYYY-MM-DD taken as its whole day (default: last reading).
    #[arg(long)]
    to: Option<String>,
    /// Day window in local time; may cross midnight (22:00-06:00).
    #[arg(long, default_value = "08:00-20:00", value_parser = parse_window)]
    day: String,
    /// Time zone: a fixed offset (+08:00) or an IANA name (Europe/London).
    #[arg(long, default_value = "+08:00", value_parser = parse_tz, allow_hyphen_values = true)]
    tz: String,
    /// Flag when average night power exceeds this times average day power.
    #[arg(long, default_value_t = 1.5, value_parser = cli::positive)]
    threshold: f64,
    /// One row per meter or per enterprise.
    #[arg(long, value_enum, default_value = "meter")]
    by: ByArg,
    /// meter_id,enterprise_id[,role,...] membership (with a role column, production meters
    /// only) instead of the production meters of the store's monitoring catalog
    /// (STORE/CATALOG, written by import_csv --meters).
    #[arg(long)]
    enterprises: Option<PathBuf>,
    /// Write every row, sorted by id, to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// A day window that `DayWindow` accepts, kept as given.
fn parse_window(s: &str) -> Result<String, String> {
    DayWindow::parse(s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

/// A zone that `Tz` accepts, kept as given.
fn parse_tz(s: &str) -> Result<String, String> {
    Tz::parse(s)?;
    Ok(s.to_owned())
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let by = match a.by {
        ByArg::Meter => By::Meter,
        ByArg::Enterprise => By::Enterprise,
    };
    let req = Request {
        store: a.store,
        from: a.from,
        to: a.to,
        day: a.day,
        tz: a.tz,
        threshold: a.threshold,
        by,
        enterprises: a.enterprises,
        daily: false,
    };
    let rows = imbalance::scan(&req)?;
    // The file first: a table cut short by a closed pipe (`| head`) still leaves it.
    if let Some(path) = &a.csv {
        let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        imbalance::write_csv(f, &rows, by)?;
        eprintln!("wrote {} rows to {}", rows.len(), path.display());
    }
    let mut out = std::io::BufWriter::new(cli::stdout());
    imbalance::print(&mut out, &rows, by)?;
    out.flush()?;
    Ok(())
}
