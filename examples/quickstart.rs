//! The main job on built-in sample data: build a fleet of enterprises with production and
//! treatment meters, store it, reopen it, find the enterprises that produce at night, and
//! show one suspect's daily consumption.
//!
//! `cargo run --release --example quickstart`

use meterstore::fleet::{Fleet, FleetConfig, Role};
use meterstore::{
    Agg, Bucket, DayNightScan, EnterpriseDayNight, MeterFilter, Options, Reading, Store,
    UnknownMeters, UtcOffset, Zone,
};
use std::collections::HashMap;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    // 1,000 enterprises (about 3,000 meters), 90 days of 15-minute readings.
    let fleet = Fleet::new(FleetConfig {
        enterprises: 1000,
        days: 90,
        ..FleetConfig::default()
    });
    // A fixed place, so the other examples can be pointed at it afterwards.
    let dir = std::path::PathBuf::from("target/quickstart/store");
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "meterstore quickstart: {} meters of {} enterprises, {} days of 15-minute readings",
        fleet.meters().len(),
        fleet.config().enterprises,
        fleet.config().days
    );
    println!("store: {}", dir.display());

    // 1. Store the fleet: one batch per meter, then flush to an immutable segment.
    let opts = Options {
        unknown_meters: UnknownMeters::Register(fleet.meta()),
        ..Options::default()
    };
    {
        let store = Store::open(&dir, opts.clone())?;
        let n = fleet.meters().len();
        let mut readings = 0usize;
        for (i, m) in fleet.meters().iter().enumerate() {
            let (ts, vals) = fleet.series(i);
            let batch: Vec<Reading> = ts
                .iter()
                .zip(&vals)
                .map(|(&ts, &value)| Reading {
                    meter: &m.id,
                    ts,
                    value,
                })
                .collect();
            store.append(&batch)?;
            readings += batch.len();
            if i % 500 == 499 || i + 1 == n {
                eprint!("\r  storing meters {:>5}/{n}", i + 1);
            }
        }
        store.flush()?;
        eprintln!();
        println!(
            "stored {readings} readings in {} bytes ({:.2} bytes/reading, timestamps included)",
            store.segment_bytes(),
            store.segment_bytes() as f64 / readings as f64
        );
    }

    // 2. Reopen and scan day against night for every meter, then per enterprise.
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
    println!("\nday/night scan of {} meters in {:.1} ms: {flagged} of {} enterprises draw more than 1.5x their day load at night", meters.len(), scanned.as_secs_f64() * 1e3, enterprises.len());
    enterprises.sort_by(|a, b| {
        b.total
            .ratio
            .unwrap_or(0.0)
            .total_cmp(&a.total.ratio.unwrap_or(0.0))
    });
    println!("\ntop suspected night producers (08:00-20:00 day, UTC+08:00):");
    println!(
        "{:<8} {:>6} {:>12} {:>12} {:>10} {:>10} {:>7}",
        "enterpr.", "meters", "day kWh", "night kWh", "day kW", "night kW", "ratio"
    );
    for e in enterprises.iter().take(10) {
        let t = &e.total;
        println!(
            "{:<8} {:>6} {:>12.1} {:>12.1} {:>10.1} {:>10.1} {:>7.2}",
            e.enterprise,
            e.meters.len(),
            t.day_kwh,
            t.night_kwh,
            t.day_kw.unwrap_or(0.0),
            t.night_kw.unwrap_or(0.0),
            t.ratio.unwrap_or(f64::NAN)
        );
    }
    // The fleet knows its ground truth: how well did the default threshold do?
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
    println!("ground truth: {actual} night producers; flagged {flagged}, of which {hits} are real");

    // 3. One suspect's daily history.
    if let Some(top) = enterprises.first() {
        let meter = &top.meters[0];
        let days = store.aggregate(
            meter,
            i64::MIN..i64::MAX,
            Bucket::Day,
            UtcOffset::CHINA,
            Agg::Sum,
        )?;
        println!(
            "\nlast 7 days of meter {meter} (enterprise {}), kWh per local day:",
            top.enterprise
        );
        let zone = Zone::fixed(UtcOffset::CHINA);
        for d in days.iter().rev().take(7).rev() {
            println!(
                "  {}  {:>10.3} kWh  from {} readings",
                zone.date_of(d.start)?,
                d.value,
                d.count
            );
        }
    }
    println!(
        "\ndone in {:.1} s; the store stays in {} for the other examples",
        t0.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}
