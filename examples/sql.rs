//! SQL over stores through DataFusion: the readings as table `meters` (`meter_id`, `ts`,
//! `value`) and the day/night scan as table functions `day_night(from, to, day_window,
//! tz, threshold)` and `day_night_enterprise(..)`. Several `--store`s (shards, each meter
//! in one of them) are queried as one `meters` table. The stores are opened read-only, so
//! this works beside a running writer.
//!
//! ```text
//! cargo run --release --features datafusion --example sql -- --store DIR \
//!     "SELECT meter_id, count(*), sum(value) FROM meters GROUP BY meter_id ORDER BY 3 DESC LIMIT 5"
//! cargo run --release --features datafusion --example sql -- --store A --store B --csv out.csv \
//!     "SELECT * FROM day_night('2026-01-01', '2026-01-31', '08:00-20:00', '+08:00', 1.5) WHERE flagged"
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, Failure, BAD_INPUT};
use meterstore::sql::datafusion::arrow::array::RecordBatch;
use meterstore::sql::datafusion::arrow::csv::WriterBuilder;
use meterstore::sql::datafusion::arrow::util::pretty::pretty_format_batches;
use meterstore::sql::datafusion::error::DataFusionError;
use meterstore::sql::datafusion::prelude::SessionContext;
use meterstore::Store;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "SQL over meterstore stores (table `meters`, functions `day_night` and \
             `day_night_enterprise`)",
    after_help = cli::READ_EXIT_HELP
)]
struct Args {
    /// Store directory; repeat for shard stores, queried together as one `meters` table.
    #[arg(long, required = true)]
    store: Vec<PathBuf>,
    /// Write the result as CSV (header, RFC 3339 times, empty for null) to this file
    /// instead of printing a table.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The query.
    query: String,
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let stores = a
        .store
        .iter()
        .map(|dir| common::open_existing(dir).map_err(|e| format!("{}: {e}", dir.display())))
        .collect::<Result<Vec<Store>, String>>()?;
    let ctx = SessionContext::new();
    let refs: Vec<&Store> = stores.iter().collect();
    meterstore::sql::register(&ctx, &refs)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let batches = rt
        .block_on(async { ctx.sql(&a.query).await?.collect().await })
        .map_err(sql_error)?;
    match &a.csv {
        Some(path) => {
            let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let rows = write_csv(f, &batches)?;
            eprintln!("wrote {rows} rows to {}", path.display());
        }
        None => {
            let mut out = std::io::BufWriter::new(cli::stdout());
            writeln!(out, "{}", pretty_format_batches(&batches)?)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// A query that does not parse, plan or run is bad input (status 2); one that fails
/// reading the store is a failure (status 1).
fn sql_error(e: DataFusionError) -> Box<dyn std::error::Error> {
    match e.find_root() {
        DataFusionError::External(inner) if inner.is::<meterstore::Error>() => {
            Box::new(DataFusionError::External(format!("{inner}").into()))
        }
        _ => Box::new(Failure {
            code: BAD_INPUT,
            message: e.to_string(),
        }),
    }
}

/// Writes the batches as one CSV with a header; returns the rows written.
fn write_csv(
    out: impl Write,
    batches: &[RecordBatch],
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut w = WriterBuilder::new().with_header(true).build(out);
    let mut rows = 0;
    for b in batches {
        w.write(b)?;
        rows += b.num_rows();
    }
    Ok(rows)
}
