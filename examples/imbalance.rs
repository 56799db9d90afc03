//! Day/night imbalance scan of a store: which meters (or enterprises) draw more power at
//! night than by day? Prints the flagged ones first and writes a CSV.
//!
//! ```text
//! cargo run --release --example imbalance -- --store target/quickstart/store --csv out.csv
//! cargo run --release --example imbalance -- --store DIR --by enterprise --enterprises meters.csv
//! cargo run --release --example imbalance -- --store DIR --by enterprise --daily --csv days.csv
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::{Parser, ValueEnum};
use common::imbalance::{self, By, Request};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
enum ByArg {
    Meter,
    Enterprise,
}

#[derive(Parser)]
#[command(about = "Day/night imbalance (night production) scan of a meterstore store")]
struct Args {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Range start: RFC 3339 or a local date YYYY-MM-DD (default: first reading).
    #[arg(long)]
    from: Option<String>,
    /// Range end: RFC 3339, or a local date YYYY-MM-DD taken as its whole day (default: last reading).
    #[arg(long)]
    to: Option<String>,
    /// Day window in local time; may cross midnight (22:00-06:00).
    #[arg(long, default_value = "08:00-20:00")]
    day: String,
    /// Time zone: a fixed offset (+08:00) or an IANA name (Europe/London).
    #[arg(long, default_value = "+08:00")]
    tz: String,
    /// Flag when average night power exceeds this times average day power.
    #[arg(long, default_value_t = 1.5)]
    threshold: f64,
    /// One row per meter or per enterprise.
    #[arg(long, value_enum, default_value = "meter")]
    by: ByArg,
    /// meter_id,enterprise_id[,role,...] membership (with a role column, production meters
    /// only); default DIR/enterprises.csv as written by import_csv --meters, else the
    /// production meters of the store's monitoring catalog.
    #[arg(long)]
    enterprises: Option<PathBuf>,
    /// One row per meter (or enterprise) and local date, with a `date` column.
    #[arg(long)]
    daily: bool,
    /// Write every row, sorted by id (and date), to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
}

fn main() {
    let a = Args::parse();
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
        daily: a.daily,
    };
    let result = imbalance::scan(&req).and_then(|rows| {
        imbalance::print(&mut std::io::stdout().lock(), &rows, by).map_err(|e| e.to_string())?;
        if let Some(path) = &a.csv {
            let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            imbalance::write_csv(f, &rows, by)?;
            eprintln!("wrote {} rows to {}", rows.len(), path.display());
        }
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
