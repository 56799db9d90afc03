//! Streaming monitor throughput: readings per second through `Monitor::on_append` for a
//! generated fleet of about 10,000 meters (3,334 enterprises), one append per 15-minute
//! interval, every rule on, manual thresholds at the generator's levels. Only the time
//! inside the monitor is counted (the readings are not stored: no rule here queries the
//! store).
//!
//! ```text
//! cargo run --release --example monitor_throughput [METERS] [DAYS]
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli::{self, outln};
use meterstore::fleet::{Fleet, FleetConfig, Role};
use meterstore::monitor::{
    Catalog, CatalogMeter, Enterprise, ManualThreshold, MeterRole, Monitor, RuleConfig,
};
use meterstore::{Options, Store};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Streaming monitor throughput: readings per second through Monitor::on_append",
    after_help = cli::READ_EXIT_HELP
)]
struct Args {
    /// Meters of the generated fleet, 1 to 10,000,000 (rounded up to whole enterprises of
    /// three).
    #[arg(default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    meters: u32,
    /// Days of 15-minute readings, 1 to 3650.
    #[arg(default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: u32,
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (meters, days) = (args.meters as usize, args.days);
    let fleet = Fleet::new(FleetConfig {
        enterprises: meters.div_ceil(3),
        days,
        switch_off_share: 0.3,
        night_producer_share: 0.15,
        ..FleetConfig::default()
    });
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), Options::default())?;
    let mut cat = Catalog::new();
    for m in fleet.meters() {
        if cat.enterprise(&m.enterprise).is_none() {
            cat.upsert_enterprise(Enterprise {
                id: m.enterprise.clone(),
                ..Enterprise::default()
            })?;
        }
        let role = match m.role {
            Role::Production => MeterRole::Production,
            Role::Treatment => MeterRole::Treatment,
        };
        cat.upsert_meter(CatalogMeter::new(&m.id, &m.enterprise, role))?;
        cat.set_manual(
            &m.id,
            ManualThreshold {
                off_kw: Some(0.4 * m.level_kw),
                normal_kw: Some(m.level_kw),
            },
        )?;
    }
    let series: Vec<_> = (0..fleet.meters().len()).map(|i| fleet.series(i)).collect();
    let start = fleet.config().start;
    let mut mon = Monitor::new(&store, &cat, RuleConfig::default(), start, 0);
    let mut replay = common::fleet::Replay::new(&fleet, &series, start);
    let (mut readings, mut events, mut secs) = (0usize, 0usize, 0.0);
    let mut t = start;
    while t < start + days as i64 * 86_400 {
        let batch = replay.batch(t);
        readings += batch.len();
        let clock = std::time::Instant::now();
        events += mon.on_append(&batch)?.len();
        secs += clock.elapsed().as_secs_f64();
        t += 900;
    }
    outln!(
        "{} meters, {days} days: {readings} readings, {events} alarm events, {secs:.3} s in the \
         monitor = {:.2} M readings/s",
        series.len(),
        readings as f64 / secs / 1e6
    )?;
    Ok(())
}
