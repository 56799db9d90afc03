//! The SQL benchmark: on a store that `fleet_bench` built (and its `--export` of the same
//! readings), in one run, the median seconds of
//! - the native day/night scan ([`meterstore::Snapshot::day_night`], all cores);
//! - `SELECT * FROM day_night(...)` through DataFusion (the same kernel, plus planning and
//!   the result as a table);
//! - a generic day/night `GROUP BY meter_id` over the `meters` table (DataFusion's own
//!   aggregation over every reading), twice: with the day window tested on the local
//!   minute of the day (`% 86400 / 60`, DuckDB's query) and on the local second of the
//!   day (`% 86400`, one division fewer);
//! - DuckDB's day/night query on its native table of the exported readings
//!   (`bench/peers/peers.py --query-only`, which also checks its results against an exact
//!   reference),
//!
//! and checks that the SQL results equal the native scan's. `bench/sql/run.sh` runs it for
//! several shapes and prints the table of BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --example fleet_bench -- --shape smooth --dir /tmp/f --export /tmp/f/export
//! cargo run --release --features datafusion --example sql_bench -- --store /tmp/f --export /tmp/f/export
//! ```

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
mod common;

use clap::Parser;
use common::cli;
use meterstore::sql::datafusion::arrow::array::{AsArray, RecordBatch};
use meterstore::sql::datafusion::arrow::datatypes::Float64Type;
use meterstore::sql::datafusion::prelude::SessionContext;
use meterstore::{DayNightScan, DayWindow, MeterFilter, Store, UtcOffset, Zone};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Day/night through SQL (DataFusion) against the native scan and DuckDB")]
struct Args {
    /// Store directory built by fleet_bench.
    #[arg(long)]
    store: PathBuf,
    /// fleet_bench's --export directory of the same store (readings.bin, meta.json).
    #[arg(long)]
    export: PathBuf,
    /// Timed repetitions of each query; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Python interpreter with duckdb, for the DuckDB query; `none` skips it.
    #[arg(long, default_value = "python3")]
    python: String,
}

fn main() -> ExitCode {
    cli::finish(run(Args::parse()))
}

/// Median seconds of `runs` calls of `f`, and its last result.
fn median<T>(
    runs: usize,
    mut f: impl FnMut() -> Result<T, Box<dyn std::error::Error>>,
) -> Result<(f64, T), Box<dyn std::error::Error>> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], last.ok_or("no run")?))
}

/// `(id, day, night)` of every row, by id.
fn sums(batches: &[RecordBatch]) -> HashMap<String, (f64, f64)> {
    let mut out = HashMap::new();
    for b in batches {
        let ids = b.column(0);
        let id = |i: usize| match ids.as_string_view_opt() {
            Some(a) => a.value(i).to_owned(),
            None => ids.as_string::<i32>().value(i).to_owned(),
        };
        let (d, n) = (
            b.column(1).as_primitive::<Float64Type>(),
            b.column(2).as_primitive::<Float64Type>(),
        );
        for i in 0..b.num_rows() {
            out.insert(id(i), (d.value(i), n.value(i)));
        }
    }
    out
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.export.join("meta.json"))?)?;
    let offset = meta["tz_offset_s"]
        .as_i64()
        .ok_or("the benchmark needs a fixed UTC offset (tz_offset_s in meta.json)")?;
    if meta["quantity"].as_str().unwrap_or("interval_energy") != "interval_energy" {
        return Err(
            "the benchmark's generic query sums interval energies: pick such a shape".into(),
        );
    }
    let (start, end) = (
        meta["day_start_min"].as_u64().ok_or("day_start_min")?,
        meta["day_end_min"].as_u64().ok_or("day_end_min")?,
    );
    let off = UtcOffset::from_seconds(offset as i32)?;
    let window = DayWindow::new(start as u32, end as u32)?;
    let (day, tz) = (
        format!(
            "{:02}:{:02}-{:02}:{:02}",
            start / 60,
            start % 60,
            end / 60,
            end % 60
        ),
        off.to_string(),
    );

    let store = Store::open_read_only(&a.store)?;
    let readings: usize = {
        let s = store.snapshot();
        s.meter_ids()
            .iter()
            .map(|id| {
                s.history(id, i64::MIN..i64::MAX)
                    .map(|h| h.len())
                    .unwrap_or(0)
            })
            .sum()
    };
    let scan = DayNightScan {
        window,
        zone: Zone::fixed(off),
        ..DayNightScan::default()
    };
    let snap = store.snapshot();
    let (native_s, native) = median(a.runs, || {
        Ok(snap.day_night(&MeterFilter::All, i64::MIN..i64::MAX, &scan)?)
    })?;

    let ctx = SessionContext::new();
    meterstore::sql::register(&ctx, &[&store])?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sql = |q: &str| -> Result<Vec<RecordBatch>, Box<dyn std::error::Error>> {
        Ok(rt.block_on(async { ctx.sql(q).await?.collect().await })?)
    };
    let dn = format!(
        "SELECT meter_id, day_kwh, night_kwh FROM day_night(NULL, NULL, '{day}', '{tz}', 1.5)"
    );
    let (dn_s, dn_rows) = median(a.runs, || sql(&dn))?;
    // The query a DataFusion user would write, with `is_day` from the local minute of the
    // day (the same as DuckDB's in bench/peers/peers.py) or from the local second of the
    // day (one integer division a row fewer).
    let generic = |is_day: &str| {
        format!(
            "SELECT meter_id, sum(CASE WHEN is_day THEN value ELSE 0 END) AS day, \
                    sum(CASE WHEN is_day THEN 0 ELSE value END) AS night \
             FROM (SELECT meter_id, value, {is_day} AS is_day FROM meters) \
             GROUP BY meter_id"
        )
    };
    let by_minute = generic(&format!(
        "((CAST(ts AS BIGINT) + {offset}) % 86400) / 60 BETWEEN {start} AND {}",
        end - 1
    ));
    let by_second = generic(&format!(
        "(CAST(ts AS BIGINT) + {offset}) % 86400 BETWEEN {} AND {}",
        start * 60,
        end * 60 - 1
    ));
    let (gen_s, gen_rows) = median(a.runs, || sql(&by_minute))?;
    let (sec_s, sec_rows) = median(a.runs, || sql(&by_second))?;

    // Both SQL results against the native scan: day_night exactly, the generic sums to
    // rounding (another summation order).
    let want: HashMap<String, (f64, f64)> = native
        .iter()
        .map(|m| (m.meter.clone(), (m.total.day_kwh, m.total.night_kwh)))
        .collect();
    if sums(&dn_rows) != want {
        return Err("day_night through SQL differs from the native scan".into());
    }
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0);
    for rows in [&gen_rows, &sec_rows] {
        let got = sums(rows);
        if got.len() != want.len()
            || want.iter().any(|(k, w)| {
                got.get(k)
                    .is_none_or(|g| !close(g.0, w.0) || !close(g.1, w.1))
            })
        {
            return Err("the generic GROUP BY differs from the native scan".into());
        }
    }

    let duck_s = match a.python.as_str() {
        "none" => None,
        py => Some(common::peers::duckdb_seconds(py, &a.export, a.runs)?),
    };
    let ms = |s: f64| format!("{:.1}", s * 1e3);
    println!(
        "RESULT shape={} readings={readings} native_ms={} day_night_sql_ms={} day_night_ratio={:.3} group_by_ms={} group_by_sec_ms={} duckdb_ms={} duckdb_over_group_by={} duckdb_over_group_by_sec={}",
        meta["shape"].as_str().unwrap_or("?"),
        ms(native_s),
        ms(dn_s),
        dn_s / native_s,
        ms(gen_s),
        ms(sec_s),
        duck_s.map_or("-".into(), ms),
        duck_s.map_or("-".into(), |d| format!("{:.2}", d / gen_s)),
        duck_s.map_or("-".into(), |d| format!("{:.2}", d / sec_s)),
    );
    Ok(())
}
