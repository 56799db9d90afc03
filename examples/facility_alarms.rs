//! Treatment-facility monitoring with alarms.
//!
//! Without arguments: builds a sample fleet (enterprises with production and treatment
//! meters, some facilities switched off during production, some night producers), learns
//! each facility's normal running power from its first week, then replays the following
//! days interval by interval through `Store::append` and the streaming monitor, printing
//! alarms as they open and close. `--keep DIR` keeps that store (with its catalog) in DIR.
//!
//! With `--store DIR [--from T] [--to T] [--train-days 14] [--relearn] [--tz ZONE]
//! [--csv OUT]`: the store's catalog (STORE/CATALOG, as `import_csv --meters` writes it)
//! and history in batch mode. Production and treatment meters without learned thresholds
//! learn them from the first `--train-days` days of their own readings (every one with
//! `--relearn`), and the thresholds are saved in the catalog; the range after the training
//! is evaluated, and one CSV row per alarm, `rule,enterprise_id,meter_id,start,end,
//! evidence` (start and end UTC Unix seconds, `end` empty while open), goes to OUT or
//! standard output. T is RFC 3339 or Unix seconds; ZONE a fixed offset or an IANA name.
//!
//! ```text
//! cargo run --release --example facility_alarms
//! cargo run --release --example facility_alarms -- --keep /tmp/fleet
//! cargo run --release --example facility_alarms -- --store /tmp/fleet --csv alarms.csv
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use common::alarms::{self, meter_field, rfc3339, BatchRequest};

use clap::Parser;
use common::cli::{self, outln};
use meterstore::fleet::{Fleet, FleetConfig};
use meterstore::monitor::{AlarmEvent, LearnOptions, Monitor, RuleConfig};
use meterstore::{Options, Reading, Store, SyncPolicy};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Treatment-facility alarms: streaming replay of a sample fleet, or batch evaluation of a store",
    after_help = cli::WRITE_EXIT_HELP
)]
struct Args {
    /// Evaluate this store in batch mode.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Start of the batch range (RFC 3339 or Unix seconds); default: the end of the
    /// latest training window (or the first reading when nothing is learned).
    #[arg(long, allow_hyphen_values = true)]
    from: Option<String>,
    /// End of the batch range (exclusive); default: after the last reading.
    #[arg(long, allow_hyphen_values = true)]
    to: Option<String>,
    /// Write the batch alarms to this CSV file instead of standard output.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Days at the start of each meter's readings that its thresholds are learned from.
    #[arg(long, default_value_t = 14)]
    train_days: u32,
    /// Learn every meter's thresholds again, also those the catalog holds.
    #[arg(long)]
    relearn: bool,
    /// Time zone of local days, the day window and time-of-day slots: +08:00 or an IANA
    /// name such as Asia/Shanghai.
    #[arg(long, default_value = "+08:00", allow_hyphen_values = true)]
    tz: String,
    /// With --store: write the store's catalog as CSV (the columns import_csv --meters
    /// reads) to this file and stop. An export for people and other tools: the store's
    /// CATALOG stays the one source.
    #[arg(long, value_name = "OUT.csv")]
    export_catalog: Option<PathBuf>,
    /// Replay mode: keep the sample store in this directory, which must be new or empty
    /// (an existing store or other files there are refused, status 2).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Replay mode: number of enterprises, 1 to 100,000.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    enterprises: u32,
    /// Replay mode: days of data, 8 to 3650 (the first 7 train the thresholds).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(8..=3650))]
    days: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::finish(match &args.store {
        Some(dir) => {
            let req = BatchRequest {
                store: dir.clone(),
                from: args.from.clone(),
                to: args.to.clone(),
                train_days: args.train_days,
                relearn: args.relearn,
                tz: args.tz.clone(),
                csv: args.csv.clone(),
                export_catalog: args.export_catalog.clone(),
            };
            alarms::batch(&req).map(|_| ())
        }
        None => replay(&args),
    })
}

/// Replay mode: a sample fleet through the streaming monitor.
fn replay(args: &Args) -> Result<(), Box<dyn Error>> {
    let cfg = FleetConfig {
        enterprises: args.enterprises as usize,
        days: args.days,
        night_producer_share: 0.15,
        switch_off_share: 0.3,
        ..FleetConfig::default()
    };
    let (start, days) = (cfg.start, cfg.days as i64);
    let fleet = Fleet::new(cfg);
    if let Some(dir) = &args.keep {
        common::dirs::check_new_store(dir).map_err(|e| cli::fail(cli::BAD_INPUT, e))?;
    }
    let tmp = tempfile::tempdir()?;
    let dir = args.keep.clone().unwrap_or_else(|| tmp.path().to_owned());
    let opts = Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    };
    let store = Store::open(&dir, opts)?;
    let mut catalog = common::fleet::catalog(&fleet)?;
    for m in fleet.meters() {
        store.register_meter(&m.id, fleet.meta())?;
    }
    // Every meter's series, then the first week in bulk: the training window.
    let series: Vec<(Vec<i64>, Vec<f64>)> =
        (0..fleet.meters().len()).map(|i| fleet.series(i)).collect();
    let train_end = start + 7 * 86_400;
    for (m, (ts, vs)) in fleet.meters().iter().zip(&series) {
        let batch: Vec<Reading> = ts
            .iter()
            .zip(vs)
            .take_while(|(t, _)| **t < train_end)
            .map(|(&ts, &value)| Reading::new(&m.id, ts, value))
            .collect();
        store.append(&batch)?;
    }
    let report = catalog.learn(&store, start..train_end, &LearnOptions::default())?;
    catalog.save(&store)?;
    outln!(
        "{} meters of {} enterprises; learned normal power of {} meters from the first week:",
        fleet.meters().len(),
        args.enterprises,
        report.learned.len()
    )?;
    for line in catalog.threshold_table().lines().take(9) {
        outln!("  {line}")?;
    }
    outln!("  ...\nreplaying {} days interval by interval:", days - 7)?;
    let mut mon = Monitor::new(&store, &catalog, RuleConfig::default(), train_end, 0);
    let mut replay = common::fleet::Replay::new(&fleet, &series, train_end);
    let end = start + days * 86_400;
    let (mut opened, mut closed, mut readings) = (0, 0, 0usize);
    let mut in_monitor = 0.0;
    let t0 = std::time::Instant::now();
    let mut t = train_end;
    while t < end {
        let batch = replay.batch(t);
        store.append(&batch)?;
        readings += batch.len();
        let tm = std::time::Instant::now();
        let events = mon.on_append(&batch)?;
        in_monitor += tm.elapsed().as_secs_f64();
        for e in events {
            let (verb, a) = match &e {
                AlarmEvent::Opened(a) => {
                    opened += 1;
                    ("OPEN ", a)
                }
                AlarmEvent::Closed(a) => {
                    closed += 1;
                    ("CLOSE", a)
                }
            };
            let name = catalog
                .enterprise(&a.enterprise)
                .map_or("", |e| e.name.as_str());
            outln!(
                "{} {verb} {:<29} {} ({name}) {} since {}{} | {}",
                rfc3339(t),
                a.rule.as_str(),
                a.enterprise,
                meter_field(a),
                rfc3339(a.start),
                a.end
                    .map(|e| format!(" until {}", rfc3339(e)))
                    .unwrap_or_default(),
                a.evidence
            )?;
        }
        t += 900;
    }
    let still = mon.open_alarms();
    outln!(
        "{readings} readings replayed in {:.2} s: {opened} alarms opened, {closed} closed, {} still open",
        t0.elapsed().as_secs_f64(),
        still.len()
    )?;
    outln!(
        "streaming monitor: {:.2} s for {readings} readings of {} meters = {:.2} M readings/s",
        in_monitor,
        fleet.meters().len(),
        readings as f64 / in_monitor.max(1e-9) / 1e6
    )?;
    if let Some(dir) = &args.keep {
        store.close()?;
        outln!("store and catalog kept in {}", dir.display())?;
    }
    Ok(())
}
