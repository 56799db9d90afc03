//! Imports HJ 212-2017 frames (one per line, plain or gzip) into a store, through the
//! catalog's `hj212_mn` / `hj212_code` columns.
//!
//! ```text
//! cargo run --release --example import_hj212 -- --store /tmp/meters --input frames.log.gz \
//!     --meters meters.csv --tz +08:00
//! ```
//!
//! A line holds one frame, as collectors' logs and platform archives keep them:
//!
//! ```text
//! ##0121QN=20240101081500000;ST=32;CN=2051;PW=123456;MN=ST0001;Flag=4;CP=&&DataTime=20240101081000;i33202-Cou=3.5,i33202-Flag=N&&C841
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, outln};
use common::hj212::{self, MAX_LISTED_UNKNOWN};
use common::import::{self, InputArgs};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Import HJ 212-2017 frames (one per line, plain or .gz) into a store",
    long_about = "Import HJ 212-2017 frames (one per line, plain or .gz) into a store.\n\n\
        Each frame is checked whole (length, CRC, every field); split messages (Flag bit D) \
        are joined by MN and QN. Data messages (CN 2011 real-time, 2051 minute, 2061 hour, \
        2031 day) feed the meters the store's catalog maps to their station (MN) and code: \
        -Cou for an interval-energy meter, -Rtd (real-time) or -Avg for the others, at the \
        DataTime read in --tz, the stations' zone. Stations and codes the catalog does not name are counted and \
        reported, not stored.\n\n\
        The whole file is checked first: if any line is bad (a malformed frame, a split \
        message left incomplete, data off its meter's interval grid), the bad lines are listed \
        with their line numbers and nothing is imported, unless --skip-bad. Importing the same \
        file again changes nothing: the later write of a (meter, timestamp) wins, with the same \
        value.",
    after_help = cli::IMPORT_EXIT_HELP
)]
struct Args {
    #[command(flatten)]
    input: InputArgs,
    /// Meters CSV merged into the store's catalog first (meter_id, enterprise_id, role,
    /// kind, interval_s, unit, hj212_mn, hj212_code, ...); without it the store's catalog
    /// must already name the HJ 212 sources. A bad line here stops the import.
    #[arg(long, value_name = "meters.csv")]
    meters: Option<PathBuf>,
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = args.input.config(args.meters);
    let r = hj212::run(&cfg).map_err(import::failure)?;
    if !r.skipped.is_empty() {
        eprint!("skipped {} bad lines:\n{}", r.skipped.count, r.skipped);
    }
    outln!(
        "imported {} readings from {} frames ({} messages, {} without data) of {} in \
         {:.1} s into {}",
        r.readings,
        r.frames,
        r.messages,
        r.not_data,
        cfg.input.display(),
        r.seconds,
        cfg.store.display()
    )?;
    let list = |names: Vec<String>| {
        let more = names.len().saturating_sub(MAX_LISTED_UNKNOWN);
        let mut s = names
            .into_iter()
            .take(MAX_LISTED_UNKNOWN)
            .collect::<Vec<_>>()
            .join(", ");
        if more > 0 {
            s.push_str(&format!(" and {more} more"));
        }
        s
    };
    if !r.unknown_stations.is_empty() {
        outln!(
            "not stored: {} data messages from {} stations the catalog does not name: {}",
            r.unknown_station_messages(),
            r.unknown_stations.len(),
            list(
                r.unknown_stations
                    .iter()
                    .map(|(mn, n)| format!("{mn} ({n})"))
                    .collect()
            )
        )?;
    }
    if !r.unknown_codes.is_empty() {
        outln!(
            "not stored: {} values of {} codes that feed no meter: {}",
            r.unknown_code_values(),
            r.unknown_codes.len(),
            list(
                r.unknown_codes
                    .iter()
                    .map(|((mn, code), n)| format!("{mn}/{code} ({n})"))
                    .collect()
            )
        )?;
    }
    if r.unread > 0 {
        outln!(
            "not stored: {} mapped codes without the value their meter reads \
             (-Cou for energy, -Rtd or -Avg for the others)",
            r.unread
        )?;
    }
    Ok(())
}
