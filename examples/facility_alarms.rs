//! Treatment-facility monitoring with alarms.
//!
//! Without arguments: builds a sample fleet (enterprises with production and treatment
//! meters, some facilities switched off during production, some night producers), learns
//! each facility's normal running power from its first week, then replays the following
//! days interval by interval through `Store::append` and the streaming monitor, printing
//! alarms as they open and close. `--keep DIR` keeps that store (with its catalog) in DIR.
//!
//! With `--store DIR [--from T] [--to T] [--csv OUT]`: evaluates the store's catalog and
//! history in batch mode and writes one CSV row per alarm,
//! `rule,enterprise_id,meter_id,start,end,evidence` (RFC 3339 times, `end` empty while
//! open), to OUT or standard output. T is RFC 3339 or Unix seconds.
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

use clap::Parser;
use meterstore::fleet::{Fleet, FleetConfig};
use meterstore::monitor::{
    evaluate, Alarm, AlarmEvent, Catalog, LearnOptions, Monitor, RuleConfig,
};
use meterstore::{Agg, Bucket, Options, Reading, Store, SyncPolicy, UtcOffset};
use std::error::Error;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    about = "Treatment-facility alarms: streaming replay of a sample fleet, or batch evaluation of a store"
)]
struct Args {
    /// Evaluate this store in batch mode.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Start of the batch range (RFC 3339 or Unix seconds); default: first reading.
    #[arg(long)]
    from: Option<String>,
    /// End of the batch range (exclusive); default: after the last reading.
    #[arg(long)]
    to: Option<String>,
    /// Write the batch alarms to this CSV file instead of standard output.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// With --store: write the store's catalog as CSV (the columns import_csv --meters
    /// reads) to this file and stop. An export for people and other tools: the store's
    /// CATALOG stays the one source.
    #[arg(long, value_name = "OUT.csv")]
    export_catalog: Option<PathBuf>,
    /// Replay mode: keep the sample store in this directory.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Replay mode: number of enterprises.
    #[arg(long, default_value_t = 30)]
    enterprises: usize,
    /// Replay mode: days of data (the first 7 train the thresholds).
    #[arg(long, default_value_t = 14)]
    days: u32,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    match &args.store {
        Some(dir) => batch(&args, dir),
        None => replay(&args),
    }
}

fn rfc3339(t: i64) -> String {
    let off =
        jiff::tz::Offset::from_seconds(UtcOffset::CHINA.seconds()).unwrap_or(jiff::tz::Offset::UTC);
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.display_with_offset(off).to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn parse_time(s: &str) -> Result<i64, Box<dyn Error>> {
    if let Ok(t) = s.parse::<i64>() {
        return Ok(t);
    }
    Ok(s.parse::<jiff::Timestamp>()
        .map_err(|e| format!("{s:?} is neither RFC 3339 nor Unix seconds: {e}"))?
        .as_second())
}

fn meter_field(a: &Alarm) -> String {
    match a.rule {
        meterstore::monitor::RuleId::NightProduction
        | meterstore::monitor::RuleId::EmergencyCutMissed => a.meters.join(";"),
        _ => a.meters.first().cloned().unwrap_or_default(),
    }
}

/// Batch mode: the store's catalog and history over a range, as CSV.
fn batch(args: &Args, dir: &std::path::Path) -> Result<(), Box<dyn Error>> {
    let store = common::open_existing(dir)?;
    let catalog = Catalog::load(&store)?;
    if let Some(out) = &args.export_catalog {
        let mut w = csv::Writer::from_path(out).map_err(|e| format!("{}: {e}", out.display()))?;
        for row in catalog.export_rows() {
            w.write_record(&row)?;
        }
        w.flush()?;
        eprintln!(
            "wrote {} meters to {}",
            catalog.meters().count(),
            out.display()
        );
        return Ok(());
    }
    if catalog.meters().next().is_none() {
        return Err(format!("{}: the catalog is empty (no CATALOG file?)", dir.display()).into());
    }
    // The data's extent, from monthly counts and the last month's history.
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for m in catalog.meters() {
        let Ok(months) = store.aggregate(
            &m.id,
            i64::MIN..i64::MAX,
            Bucket::Month,
            UtcOffset::CHINA,
            Agg::Count,
        ) else {
            continue;
        };
        if let (Some(first), Some(last)) = (months.first(), months.last()) {
            if let Some((t, _)) = store.history(&m.id, first.start..i64::MAX)?.next() {
                lo = lo.min(t);
            }
            if let Some((t, _)) = store.history(&m.id, last.start..i64::MAX)?.last() {
                hi = hi.max(t + m.interval_s.unwrap_or(1) as i64);
            }
        }
    }
    let from = match &args.from {
        Some(s) => parse_time(s)?,
        None => lo,
    };
    let to = match &args.to {
        Some(s) => parse_time(s)?,
        None => hi,
    };
    if from >= to {
        return Err("no data in the range".into());
    }
    let t = std::time::Instant::now();
    let alarms = evaluate(&store, &catalog, &RuleConfig::default(), from..to)?;
    eprintln!(
        "{} alarms over {} .. {} in {:.2} s",
        alarms.len(),
        rfc3339(from),
        rfc3339(to),
        t.elapsed().as_secs_f64()
    );
    let out: Box<dyn std::io::Write> = match &args.csv {
        Some(p) => Box::new(std::fs::File::create(p)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "rule",
        "enterprise_id",
        "meter_id",
        "start",
        "end",
        "evidence",
    ])?;
    for a in &alarms {
        w.write_record([
            a.rule.as_str().to_owned(),
            a.enterprise.clone(),
            meter_field(a),
            rfc3339(a.start),
            a.end.map(rfc3339).unwrap_or_default(),
            a.evidence.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Replay mode: a sample fleet through the streaming monitor.
fn replay(args: &Args) -> Result<(), Box<dyn Error>> {
    let cfg = FleetConfig {
        enterprises: args.enterprises,
        days: args.days.max(8),
        night_producer_share: 0.15,
        switch_off_share: 0.3,
        ..FleetConfig::default()
    };
    let (start, days) = (cfg.start, cfg.days as i64);
    let fleet = Fleet::new(cfg);
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
            .map(|(&ts, &value)| Reading {
                meter: &m.id,
                ts,
                value,
            })
            .collect();
        store.append(&batch)?;
    }
    let report = catalog.learn(&store, start..train_end, &LearnOptions::default())?;
    catalog.save(&store)?;
    println!(
        "{} meters of {} enterprises; learned normal power of {} meters from the first week:",
        fleet.meters().len(),
        args.enterprises,
        report.learned.len()
    );
    for line in catalog.threshold_table().lines().take(9) {
        println!("  {line}");
    }
    println!("  ...\nreplaying {} days interval by interval:", days - 7);
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
            println!(
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
            );
        }
        t += 900;
    }
    let still = mon.open_alarms();
    println!(
        "{readings} readings replayed in {:.2} s: {opened} alarms opened, {closed} closed, {} still open",
        t0.elapsed().as_secs_f64(),
        still.len()
    );
    println!(
        "streaming monitor: {:.2} s for {readings} readings of {} meters = {:.2} M readings/s",
        in_monitor,
        fleet.meters().len(),
        readings as f64 / in_monitor.max(1e-9) / 1e6
    );
    if let Some(dir) = &args.keep {
        store.close()?;
        println!("store and catalog kept in {}", dir.display());
    }
    Ok(())
}
