//! The main job on built-in sample data: build a city of enterprises with production and
//! treatment meters, store it, reopen it, find the enterprises that produce at night and
//! the treatment facilities switched off during production, and show one suspect's
//! consumption as a table and a load-curve SVG.
//!
//! `cargo run --release --example quickstart`

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, outln};
use common::history::{self, HistoryQuery};
use common::time::Tz;
use indicatif::{ProgressBar, ProgressStyle};
use meterstore::fleet::{Fleet, FleetConfig, Role};
use meterstore::monitor::{evaluate, LearnOptions, RuleConfig, RuleId};
use meterstore::{
    Agg, Bucket, DayNightScan, DayWindow, EnterpriseDayNight, MeterFilter, Options, Store,
    UnknownMeters, UtcOffset, Zone,
};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Days of history used to learn each facility's normal running power.
const TRAINING_DAYS: i64 = 14;

#[derive(Parser)]
#[command(
    about = "The main job on built-in sample data: store a generated city of enterprises, \
        find night producers and switched-off treatment facilities, plot one suspect",
    long_about = "The main job on built-in sample data: build a city of enterprises with \
        production and treatment meters (15-minute readings), store it in DIR/store, reopen \
        it, scan day against night, learn each treatment facility's normal power from the \
        first 14 days and evaluate the alarm rules on the rest, and show one suspect's \
        consumption as a table and a load-curve SVG in DIR.\n\n\
        DIR/store must be new, empty, or a store an earlier quickstart made there (it is \
        rebuilt); any other directory there is refused and left alone.",
    after_help = cli::WRITE_EXIT_HELP
)]
struct Args {
    /// Enterprises of the sample city (about three meters each), 1 to 100,000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    enterprises: u32,
    /// Days of readings, 15 to 3650 (the first 14 train the alarm thresholds).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(15..=3650))]
    days: u32,
    /// Output directory: the store goes to DIR/store, the load curve to DIR.
    #[arg(long, value_name = "DIR", default_value = "target/quickstart")]
    dir: PathBuf,
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    let fleet = Fleet::new(FleetConfig {
        enterprises: args.enterprises as usize,
        days: args.days,
        ..FleetConfig::default()
    });
    // A fixed place by default, so the other examples can be pointed at it afterwards.
    let out = args.dir;
    let dir = out.join("store");
    common::dirs::claim(&dir, "quickstart", false).map_err(|e| cli::fail(cli::BAD_INPUT, e))?;
    outln!(
        "meterstore quickstart: {} meters of {} enterprises, {} days of 15-minute readings\nstore: {}",
        fleet.meters().len(),
        fleet.config().enterprises,
        fleet.config().days,
        dir.display()
    )?;

    // 1. Store the fleet, one batch per meter, and the enterprise catalog beside it.
    let opts = Options {
        unknown_meters: UnknownMeters::Register(fleet.meta()),
        ..Options::default()
    };
    {
        let store = Store::open(&dir, opts.clone())?;
        let bar = ProgressBar::new(fleet.meters().len() as u64).with_style(
            ProgressStyle::with_template("  storing {bar:40} {pos}/{len} meters {elapsed}")?,
        );
        let mut readings = 0usize;
        for i in 0..fleet.meters().len() {
            readings += fleet.append_meter(&store, i)?;
            bar.inc(1);
        }
        store.flush()?;
        bar.finish_and_clear();
        outln!(
            "stored {readings} readings in {} bytes ({:.2} bytes/reading, timestamps included)",
            store.segment_bytes(),
            store.segment_bytes() as f64 / readings as f64
        )?;
        common::fleet::catalog(&fleet)?.save(&store)?;
    }

    // 2. Reopen; scan day against night for every meter, then per enterprise.
    let store = Store::open(&dir, opts)?;
    let t = Instant::now();
    let meters = store.day_night(
        &MeterFilter::All,
        i64::MIN..i64::MAX,
        &DayNightScan::default(),
    )?;
    let scanned = t.elapsed();
    let membership: HashMap<String, String> = fleet
        .meters()
        .iter()
        .filter(|m| m.role == Role::Production)
        .map(|m| (m.id.clone(), m.enterprise.clone()))
        .collect();
    let mut enterprises = EnterpriseDayNight::aggregate(&meters, &membership, 1.5);
    let flagged = enterprises.iter().filter(|e| e.total.flagged).count();
    outln!(
        "\nday/night scan of {} meters in {:.1} ms: {flagged} of {} enterprises draw more than 1.5x their day load at night",
        meters.len(),
        scanned.as_secs_f64() * 1e3,
        enterprises.len()
    )?;
    enterprises.sort_by(|a, b| {
        b.total
            .ratio
            .unwrap_or(0.0)
            .total_cmp(&a.total.ratio.unwrap_or(0.0))
    });
    outln!("\ntop suspected night producers (day 08:00-20:00, UTC+08:00):")?;
    outln!(
        "{:<8} {:>6} {:>12} {:>12} {:>9} {:>9} {:>7}",
        "enterpr.",
        "meters",
        "day kWh",
        "night kWh",
        "day kW",
        "night kW",
        "ratio"
    )?;
    for e in enterprises.iter().take(10) {
        let t = &e.total;
        outln!(
            "{:<8} {:>6} {:>12.1} {:>12.1} {:>9.1} {:>9.1} {:>7.2}",
            e.enterprise,
            e.meters.len(),
            t.day_kwh,
            t.night_kwh,
            t.day_kw.unwrap_or(0.0),
            t.night_kw.unwrap_or(0.0),
            t.ratio.unwrap_or(f64::NAN)
        )?;
    }
    let truth: HashMap<&str, bool> = fleet
        .meters()
        .iter()
        .map(|m| (m.enterprise.as_str(), m.night_producer))
        .collect();
    let hits = enterprises
        .iter()
        .filter(|e| e.total.flagged && truth[e.enterprise.as_str()])
        .count();
    let actual = enterprises
        .iter()
        .filter(|e| truth[e.enterprise.as_str()])
        .count();
    outln!("ground truth: {actual} night producers; {flagged} flagged, {hits} of them real")?;

    // 3. Learn each facility's normal running power, then evaluate the alarm rules.
    let start = fleet.config().start;
    let train_end = start + TRAINING_DAYS * 86_400;
    let end = start + fleet.config().days as i64 * 86_400;
    let mut catalog = meterstore::monitor::Catalog::load(&store)?;
    let learned = catalog.learn(&store, start..train_end, &LearnOptions::default())?;
    catalog.save(&store)?;
    let t = Instant::now();
    let alarms = evaluate(&store, &catalog, &RuleConfig::default(), train_end..end)?;
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &alarms {
        *per_rule.entry(a.rule.as_str()).or_default() += 1;
    }
    outln!(
        "\nalarms from day {TRAINING_DAYS} on, with thresholds learned for {} meters from the first {TRAINING_DAYS} days ({:.1} s):",
        learned.learned.len(),
        t.elapsed().as_secs_f64()
    )?;
    for (rule, n) in &per_rule {
        outln!("  {rule:<32} {n}")?;
    }
    let open: Vec<_> = alarms.iter().filter(|a| a.end.is_none()).collect();
    outln!("still open at the end of the data: {}", open.len())?;
    for a in open.iter().take(5) {
        outln!(
            "  {} {} [{}]: {}",
            a.rule.as_str(),
            a.enterprise,
            a.meters.join(","),
            a.evidence
        )?;
    }
    if let Some(a) = alarms
        .iter()
        .find(|a| a.rule == RuleId::ProductionTreatmentMismatch)
    {
        outln!(
            "first treatment switch-off found: {} at {}: {}",
            a.enterprise,
            Zone::fixed(UtcOffset::CHINA).date_of(a.start)?,
            a.evidence
        )?;
    }

    // 4. One suspect's daily consumption, and its last week as a load curve.
    if let Some(top) = enterprises.first() {
        let meter = top.meters[0].clone();
        let days = store.aggregate(
            &meter,
            i64::MIN..i64::MAX,
            Bucket::Day,
            UtcOffset::CHINA,
            Agg::Sum,
        )?;
        outln!(
            "\nlast 7 days of meter {meter} (enterprise {}), kWh per local day:",
            top.enterprise
        )?;
        let zone = Zone::fixed(UtcOffset::CHINA);
        for d in days.iter().rev().take(7).rev() {
            outln!(
                "  {}  {:>10.3} kWh  from {} readings",
                zone.date_of(d.start)?,
                d.value,
                d.count
            )?;
        }
        let tz = Tz::fixed(UtcOffset::CHINA);
        let q = HistoryQuery {
            meter: meter.clone(),
            from: Some(end - 7 * 86_400),
            to: Some(end),
            bucket: None,
        };
        let view = history::query(&store, &q, &tz).map_err(|e| format!("{e:?}"))?;
        let svg = out.join(format!("{meter}.svg"));
        let drawn = history::load_curve(&view, &tz, DayWindow::default()).write_svg(&svg)?;
        outln!(
            "load curve of its last 7 days ({} points, night shaded): {}",
            drawn.points,
            svg.display()
        )?;
    }
    outln!(
        "\ndone in {:.1} s. Next: cargo run --release --example query_history -- --store {} --meter M000001 --bucket day",
        t0.elapsed().as_secs_f64(),
        dir.display()
    )?;
    Ok(())
}
