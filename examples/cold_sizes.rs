//! Sizes of the hot and cold tiers against pcodec and zstd on the same readings, per data
//! shape, plus the speed of cold compaction, of a meter's history from cold, and of a
//! day/night scan over cold windows.
//!
//! For each shape it builds a store (every window compacted hot) and runs
//! `Store::compact_cold`, which rewrites every window but the newest (still open, so it
//! stays hot). Every column is measured on the readings of those windows: `hot` and `cold`
//! are the bytes of their segment files before and after, and the scan and history
//! figures read only them. The references take each meter's whole series of those
//! readings: pcodec (`pco`, the smallest of levels 8 and 12, on the decimal integers or
//! on the f64 values, plus the timestamps) and zstd level 19 (on the little-endian
//! timestamp deltas and integers). Bytes per reading count timestamps in every column.
//!
//! The `pco-blk` column is pcodec on the pieces a segment writer cuts a series into (a
//! calendar month in UTC+8, at most 4,096 readings), each piece its own chunk: the floor
//! of a cold tier whose blocks are chunks of their own.
//!
//! `--csv FILE` measures the readings of a long-format CSV (`meter_id,ts,value`, Unix
//! seconds) as one more shape, `csv`: meters whose id ends in `kw` as power, the others
//! as interval values, each at its most common step (`bench/real/uci_household.py` makes
//! one from a real dataset).
//!
//! ```text
//! cargo run --release --example cold_sizes -- --meters 100 --days 365
//! cargo run --release --example cold_sizes -- --shapes csv --csv uci.csv
//! ```

use clap::Parser;
use meterstore::fleet::{Fleet, FleetConfig};
use meterstore::{
    CompactionOptions, DayNightScan, MeterFilter, MeterMeta, Options, Quantity, Reading, Store,
    SyncPolicy,
};
use pco::standalone::simple_compress;
use pco::ChunkConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Hot and cold tier sizes against pcodec and zstd, per data shape")]
struct Args {
    /// Meters per shape (15-minute shapes; the 1-minute shapes take a fifth).
    #[arg(long, default_value_t = 100)]
    meters: usize,
    /// Days of 15-minute readings (the 1-minute shapes take a sixth).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Only these shapes (comma-separated names); default all.
    #[arg(long)]
    shapes: Option<String>,
    /// Also measure the readings of this CSV (meter_id,ts,value; Unix seconds), as shape
    /// `csv`.
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// A generated series per meter: timestamps and values.
type Series = Vec<(Vec<i64>, Vec<f64>)>;

/// The readings of a long-format CSV (`meter_id,ts,value`, Unix seconds, a header line),
/// per meter in id order, with their metadata.
fn csv_shape(path: &Path) -> Result<(Vec<MeterMeta>, Series), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut by_meter: BTreeMap<&str, (Vec<i64>, Vec<f64>)> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let mut f = line.split(',');
        let (Some(id), Some(ts), Some(v), None) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(format!("{}:{}: not meter_id,ts,value", path.display(), n + 1).into());
        };
        let bad = |what| format!("{}:{}: bad {what}", path.display(), n + 1);
        let e = by_meter.entry(id).or_default();
        e.0.push(ts.parse().map_err(|_| bad("timestamp"))?);
        e.1.push(v.parse().map_err(|_| bad("value"))?);
    }
    let mut metas = Vec::new();
    let mut series = Series::new();
    for (id, (ts, vals)) in by_meter {
        let mut order: Vec<usize> = (0..ts.len()).collect();
        order.sort_by_key(|&i| ts[i]);
        let ts: Vec<i64> = order.iter().map(|&i| ts[i]).collect();
        let vals: Vec<f64> = order.iter().map(|&i| vals[i]).collect();
        let mut steps: BTreeMap<i64, usize> = BTreeMap::new();
        for w in ts.windows(2) {
            *steps.entry(w[1] - w[0]).or_default() += 1;
        }
        let step = steps.iter().max_by_key(|s| *s.1).map_or(900, |s| *s.0);
        let kind = match id.to_ascii_lowercase().ends_with("kw") {
            true => Quantity::Power,
            false => Quantity::IntervalEnergy,
        };
        metas.push(MeterMeta {
            kind,
            interval_s: u32::try_from(step).ok(),
            unit: String::new(),
        });
        series.push((ts, vals));
    }
    Ok((metas, series))
}

/// The shapes: name, metadata per meter, series.
fn shapes(args: &Args) -> Vec<(&'static str, Vec<MeterMeta>, Series)> {
    let fleet = |meters: usize, days: u32, interval_s: u32, noise: f64| {
        let f = Fleet::new(FleetConfig {
            enterprises: meters.div_ceil(3),
            days,
            interval_s,
            noise,
            ..FleetConfig::default()
        });
        (0..f.meters().len().min(meters))
            .map(|i| f.series(i))
            .collect::<Series>()
    };
    let meta = |kind, interval_s| MeterMeta {
        kind,
        interval_s: Some(interval_s),
        unit: String::new(),
    };
    let (m, d) = (args.meters, args.days);
    let sample = fleet(m, d, 900, 0.04);
    let register: Series = sample
        .iter()
        .enumerate()
        .map(|(i, (ts, v))| {
            let mut wh = 1_000_000 * (i as i64 + 1);
            let vals = v
                .iter()
                .map(|x| {
                    wh += (x * 1000.0).round() as i64;
                    wh as f64 / 1000.0
                })
                .collect();
            (ts.clone(), vals)
        })
        .collect();
    let floats: Series = sample
        .iter()
        .map(|(ts, v)| {
            (
                ts.clone(),
                v.iter().map(|x| x * std::f64::consts::PI).collect(),
            )
        })
        .collect();
    let minute = fleet(m.div_ceil(5), d.div_ceil(6), 60, 0.03);
    let minute_kw: Series = minute
        .iter()
        .map(|(ts, v)| {
            let kw = v.iter().map(|x| (x * 60_000.0).round() / 1000.0).collect();
            (ts.clone(), kw)
        })
        .collect();
    let smooth = fleet(m, d, 900, 0.005);
    let shape =
        |name, kind, interval_s, s: Series| (name, vec![meta(kind, interval_s); s.len()], s);
    vec![
        shape("sample", Quantity::IntervalEnergy, 900, sample),
        shape("smooth", Quantity::IntervalEnergy, 900, smooth),
        shape("register", Quantity::CumulativeRegister, 900, register),
        shape("minute-wh", Quantity::IntervalEnergy, 60, minute),
        shape("minute-kw", Quantity::Power, 60, minute_kw),
        shape("floats", Quantity::Power, 900, floats),
    ]
}

/// The calendar month of `t` in UTC+8, the store's default window, as year * 12 + month.
fn month(t: i64) -> i64 {
    const OFFSET_S: i64 = 8 * 3600;
    let days = (t + OFFSET_S).div_euclid(86_400);
    // Civil month of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + (m <= 2) as i64) * 12 + m
}

/// The readings of `series` in windows before the one holding the newest reading: the
/// windows `Store::compact_cold` rewrites, as every other window is compared on them.
/// Also the first timestamp of the newest window.
fn settled(series: &Series) -> (Series, i64) {
    let newest = series
        .iter()
        .filter_map(|(t, _)| t.last().copied())
        .max()
        .unwrap_or(0);
    let cut = |t: &[i64]| t.partition_point(|&x| month(x) < month(newest));
    let start = series
        .iter()
        .filter_map(|(t, _)| t.get(cut(t)).copied())
        .min()
        .unwrap_or(newest);
    let old = series
        .iter()
        .map(|(t, v)| (t[..cut(t)].to_vec(), v[..cut(t)].to_vec()))
        .filter(|(t, _)| !t.is_empty())
        .collect();
    (old, start)
}

/// pcodec on the pieces a segment writer cuts `ts` into (see the module doc), summed.
fn pco_block_size(ts: &[i64], vals: &[f64]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < ts.len() {
        let limit = (i + 4096).min(ts.len());
        let j = i + ts[i..limit]
            .iter()
            .take_while(|&&t| month(t) == month(ts[i]))
            .count();
        total += pco_size(&ts[i..j], &vals[i..j]);
        i = j;
    }
    total
}

/// pcodec's smallest size of one series: timestamps plus values, each at the better of
/// levels 8 and 12, values as decimal integers (when they are) or as f64.
fn pco_size(ts: &[i64], vals: &[f64]) -> usize {
    let best_i64 = |x: &[i64]| {
        [8, 12]
            .iter()
            .filter_map(|&l| {
                simple_compress(x, &ChunkConfig::default().with_compression_level(l)).ok()
            })
            .map(|c| c.len())
            .min()
            .unwrap_or(usize::MAX)
    };
    let best_f64 = [8, 12]
        .iter()
        .filter_map(|&l| {
            simple_compress(vals, &ChunkConfig::default().with_compression_level(l)).ok()
        })
        .map(|c| c.len())
        .min()
        .unwrap_or(usize::MAX);
    let mut ints = Vec::new();
    let kind = meterstore::__bench::values::to_ints(vals, &mut ints);
    let best_ints = match kind {
        meterstore::__bench::values::ValueKind::Decimal { .. } => best_i64(&ints),
        meterstore::__bench::values::ValueKind::FloatBits => usize::MAX,
    };
    best_i64(ts) + best_ints.min(best_f64)
}

/// zstd level 19 of one series: timestamp deltas and the values' integers (decimal
/// integers or float bits), little-endian.
fn zstd_size(ts: &[i64], vals: &[f64]) -> usize {
    let mut ints = Vec::new();
    meterstore::__bench::values::to_ints(vals, &mut ints);
    let mut raw = Vec::with_capacity(16 * ts.len());
    let mut prev = 0i64;
    for &t in ts {
        raw.extend_from_slice(&(t - prev).to_le_bytes());
        prev = t;
    }
    for i in ints {
        raw.extend_from_slice(&i.to_le_bytes());
    }
    zstd::bulk::compress(&raw, 19).map_or(usize::MAX, |c| c.len())
}

fn build(dir: &Path, metas: &[MeterMeta], series: &Series) -> meterstore::Result<(Store, u64)> {
    let opts = Options {
        sync: SyncPolicy::Never,
        compaction: CompactionOptions {
            auto: false,
            cold_after: None,
            ..CompactionOptions::default()
        },
        ..Options::default()
    };
    let store = Store::open(dir, opts)?;
    let mut n = 0u64;
    for (i, (ts, vals)) in series.iter().enumerate() {
        let id = format!("M{i:06}");
        store.register_meter(&id, metas[i].clone())?;
        let batch: Vec<Reading> = ts
            .iter()
            .zip(vals)
            .map(|(&ts, &value)| Reading::new(&id, ts, value))
            .collect();
        store.append(&batch)?;
        n += batch.len() as u64;
    }
    store.flush()?;
    store.compact_all()?;
    Ok((store, n))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let only: Option<Vec<String>> = args
        .shapes
        .as_ref()
        .map(|s| s.split(',').map(str::to_owned).collect());
    let mut measured = shapes(&args);
    if let Some(path) = &args.csv {
        let (metas, series) = csv_shape(path)?;
        measured.push(("csv", metas, series));
    }
    println!(
        "{:<10} {:>10} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>10} {:>10} {:>11} {:>11}",
        "shape",
        "readings",
        "hot",
        "cold",
        "pco",
        "pco-blk",
        "zstd19",
        "cold/pco",
        "recomp M/s",
        "hist ms",
        "scan M/s",
        "scan hot"
    );
    for (name, metas, series) in measured {
        if only.as_ref().is_some_and(|o| !o.iter().any(|n| n == name)) {
            continue;
        }
        // Every figure is taken on the readings of the windows that go cold: the window
        // of the newest reading is still open and stays hot.
        let (old, cold_start) = settled(&series);
        let n: usize = old.iter().map(|(t, _)| t.len()).sum();
        let pco: usize = old.iter().map(|(t, v)| pco_size(t, v)).sum();
        let pco_blk: usize = old.iter().map(|(t, v)| pco_block_size(t, v)).sum();
        let zstd: usize = old.iter().map(|(t, v)| zstd_size(t, v)).sum();
        let dir = tempfile::tempdir()?;
        let (store, _) = build(dir.path(), &metas, &series)?;
        let scan = DayNightScan {
            threads: 1,
            ..DayNightScan::default()
        };
        let settled_range = i64::MIN / 4..cold_start;
        let t = Instant::now();
        store.day_night(&MeterFilter::All, settled_range.clone(), &scan)?;
        let scan_hot = n as f64 / t.elapsed().as_secs_f64() / 1e6;
        let t = Instant::now();
        let r = store.compact_cold()?;
        let recompress = r.readings_written as f64 / t.elapsed().as_secs_f64() / 1e6;
        if r.readings_written != n as u64 {
            return Err(format!(
                "{name}: cold compaction rewrote {} readings, the settled windows hold {n}",
                r.readings_written
            )
            .into());
        }
        let (hot, cold) = (r.bytes_read, r.bytes_written);
        let ids = store.meter_ids();
        let t = Instant::now();
        for id in &ids {
            let h = store.history(id, settled_range.clone())?;
            std::hint::black_box(h.count());
        }
        let hist_ms = t.elapsed().as_secs_f64() * 1e3 / ids.len() as f64;
        let t = Instant::now();
        store.day_night(&MeterFilter::All, settled_range.clone(), &scan)?;
        let scan_cold = n as f64 / t.elapsed().as_secs_f64() / 1e6;
        let per = |b: f64| b / n as f64;
        println!(
            "{:<10} {:>10} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>9.3} {:>10.1} {:>10.3} {:>11.1} {:>11.1}",
            name,
            n,
            per(hot as f64),
            per(cold as f64),
            per(pco as f64),
            per(pco_blk as f64),
            per(zstd as f64),
            cold as f64 / pco as f64,
            recompress,
            hist_ms,
            scan_cold,
            scan_hot
        );
    }
    Ok(())
}
