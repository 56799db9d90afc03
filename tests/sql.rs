//! The `datafusion` feature: the `meters` table (pushed-down filters, index row counts,
//! partitions), the `day_night` table functions against the native scan, SQL errors, and
//! shard stores queried as one table. Run with `cargo test --features datafusion --test sql`.

use meterstore::arrow::shard_of;
use meterstore::fleet::{Fleet, FleetConfig};
use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, MeterRole};
use meterstore::sql::datafusion::arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray,
};
use meterstore::sql::datafusion::arrow::datatypes::{Float64Type, Int64Type};
use meterstore::sql::datafusion::arrow::util::pretty::pretty_format_batches;
use meterstore::sql::datafusion::error::DataFusionError;
use meterstore::sql::datafusion::prelude::{SessionConfig, SessionContext};
use meterstore::sql::register;
use meterstore::{
    DayNightScan, DayWindow, EnterpriseDayNight, MeterDayNight, MeterFilter, Options, Store, Zone,
};
use std::collections::HashMap;
use std::path::Path;

/// 2024-01-30T00:00:00+08:00.
const START: i64 = 1_706_544_000;
const DAYS: u32 = 12;

fn fleet() -> Fleet {
    Fleet::new(FleetConfig {
        enterprises: 6,
        days: DAYS,
        start: START,
        ..Default::default()
    })
}

/// Meter `i` of the fleet with its production or treatment role (every fourth treats).
fn role(i: usize) -> MeterRole {
    if i % 4 == 3 {
        MeterRole::Treatment
    } else {
        MeterRole::Production
    }
}

/// A store of the meters of `fleet` that `keep` selects, with their catalog. Half the days
/// are flushed into segments, the rest stays in the log (memtable), and some readings
/// are written twice (a resend), so the scan meets every kind of source.
fn store_of(dir: &Path, fleet: &Fleet, keep: impl Fn(&str) -> bool) -> Store {
    let store = Store::open(dir, Options::default()).unwrap();
    let mut cat = Catalog::new();
    for (i, m) in fleet.meters().iter().enumerate() {
        if !keep(&m.id) {
            continue;
        }
        store.register_meter(&m.id, fleet.meta()).unwrap();
        fleet.append_meter(&store, i).unwrap();
        cat.upsert_enterprise(Enterprise {
            id: m.enterprise.clone(),
            ..Enterprise::default()
        })
        .unwrap();
        cat.upsert_meter(CatalogMeter::new(&m.id, &m.enterprise, role(i)))
            .unwrap();
    }
    cat.save(&store).unwrap();
    store.flush().unwrap();
    store
}

fn ctx_of(stores: &[&Store], partitions: usize) -> SessionContext {
    let ctx =
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions));
    register(&ctx, stores).unwrap();
    ctx
}

fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async { ctx.sql(sql).await?.collect().await })
}

fn rows(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    query(ctx, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn plan(ctx: &SessionContext, sql: &str) -> String {
    let b = rows(ctx, &format!("EXPLAIN {sql}"));
    pretty_format_batches(&b).unwrap().to_string()
}

/// `(meter_id, ts, value bits)` rows of a `SELECT meter_id, ts, value` result.
fn readings(batches: &[RecordBatch]) -> Vec<(String, i64, u64)> {
    let mut out = Vec::new();
    for b in batches {
        let ids = b.column(0).as_string_view();
        let ts = b
            .column(1)
            .as_primitive::<meterstore::sql::datafusion::arrow::datatypes::TimestampSecondType>();
        let v = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.push((ids.value(i).to_owned(), ts.value(i), v.value(i).to_bits()));
        }
    }
    out.sort();
    out
}

/// The same rows from the store's own history reads.
fn expected(store: &Store, ids: &[&str], range: std::ops::Range<i64>) -> Vec<(String, i64, u64)> {
    let mut out = Vec::new();
    for id in ids {
        for (t, v) in store.history(id, range.clone()).unwrap() {
            out.push((id.to_string(), t, v.to_bits()));
        }
    }
    out.sort();
    out
}

/// Writes meter `id`'s first day again, each value plus `delta`, into the log: a newer
/// source that overlaps the older ones.
fn resend_first_day(store: &Store, id: &str, delta: f64) {
    let resend: Vec<meterstore::Reading> = store
        .history(id, START..START + 86_400)
        .unwrap()
        .map(|(ts, v)| meterstore::Reading::new(id, ts, v + delta))
        .collect();
    store.append(&resend).unwrap();
}

#[test]
fn filters_on_meter_and_time_are_applied_by_the_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let store = store_of(tmp.path(), &fleet, |_| true);
    // A resend of one meter's first day in a newer source: the newest write wins.
    resend_first_day(&store, &fleet.meters()[0].id, 1.0);
    let ids: Vec<&str> = fleet.meters().iter().map(|m| m.id.as_str()).collect();
    let ctx = ctx_of(&[&store], 3);
    let (a, b) = (ids[0], ids[5]);
    let (lo, hi) = (START + 3 * 86_400 + 900, START + 5 * 86_400);
    let cases: Vec<(String, Vec<&str>, std::ops::Range<i64>)> = vec![
        ("TRUE".into(), ids.clone(), i64::MIN..i64::MAX),
        (format!("meter_id = '{a}'"), vec![a], i64::MIN..i64::MAX),
        (
            format!("meter_id IN ('{a}', '{b}', 'nobody')"),
            vec![a, b],
            i64::MIN..i64::MAX,
        ),
        (
            format!("(meter_id = '{a}' OR '{b}' = meter_id)"),
            vec![a, b],
            i64::MIN..i64::MAX,
        ),
        (
            format!("ts >= to_timestamp_seconds({lo}) AND ts < to_timestamp_seconds({hi})"),
            ids.clone(),
            lo..hi,
        ),
        (
            format!(
                "meter_id = '{b}' AND ts BETWEEN TIMESTAMP '2024-02-02T16:15:00Z' AND \
                 TIMESTAMP '2024-02-03T00:00:00.5Z'"
            ),
            vec![b],
            1_706_890_500..1_706_918_401,
        ),
        (
            format!("ts > '2024-02-05T00:00:00+08:00' AND meter_id = '{a}'"),
            vec![a],
            1_707_062_401..i64::MAX,
        ),
        (
            format!("meter_id = '{a}' AND meter_id = '{b}'"),
            vec![],
            0..0,
        ),
    ];
    for (cond, want_ids, range) in cases {
        let sql = format!("SELECT meter_id, ts, value FROM meters WHERE {cond}");
        assert_eq!(
            readings(&rows(&ctx, &sql)),
            expected(&store, &want_ids, range.clone()),
            "{sql}"
        );
        let p = plan(&ctx, &sql);
        assert!(!p.contains("FilterExec"), "{sql}: the scan filters\n{p}");
        assert!(
            p.contains(&format!("MeterScanExec: meters={}", want_ids.len())) || want_ids.is_empty(),
            "{sql}\n{p}"
        );
    }
    // A filter the scan does not know stays with DataFusion, and the answer is right.
    let sql =
        format!("SELECT meter_id, ts, value FROM meters WHERE value > 0.5 AND meter_id = '{b}'");
    let want: Vec<_> = expected(&store, &[b], i64::MIN..i64::MAX)
        .into_iter()
        .filter(|r| f64::from_bits(r.2) > 0.5)
        .collect();
    assert_eq!(readings(&rows(&ctx, &sql)), want);
    assert!(plan(&ctx, &sql).contains("FilterExec"));
}

#[test]
fn row_counts_come_from_the_index_and_partitions_split_the_meters() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let store = store_of(tmp.path(), &fleet, |_| true);
    store.compact_all().unwrap();
    let total: usize = fleet
        .meters()
        .iter()
        .map(|m| store.history(&m.id, i64::MIN..i64::MAX).unwrap().len())
        .sum();
    let ctx = ctx_of(&[&store], 4);
    let sql = "SELECT count(*) FROM meters";
    let p = plan(&ctx, sql);
    // Answered from the exact count of the index: no scan runs.
    assert!(!p.contains("MeterScanExec"), "{p}");
    let n = rows(&ctx, sql)[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(n as usize, total);
    let p = plan(
        &ctx,
        "SELECT meter_id, sum(value) FROM meters GROUP BY meter_id",
    );
    assert!(p.contains("partitions=4"), "{p}");
    assert!(p.contains(&format!("rows={total} (exact)")), "{p}");
    // A limit is applied by the scan.
    let b = rows(&ctx, "SELECT * FROM meters LIMIT 7");
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 7);
}

/// `(id, day_kwh, night_kwh, day_hours, night_hours, ratio, flagged)` rows of a result.
type DnRow = (String, f64, f64, f64, f64, Option<f64>, bool);

fn day_night_rows(batches: &[RecordBatch]) -> Vec<DnRow> {
    let mut out = Vec::new();
    for b in batches {
        let id = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        let f = |i: usize| b.column(i).as_any().downcast_ref::<Float64Array>().unwrap();
        let flagged = b.column(6).as_any().downcast_ref::<BooleanArray>().unwrap();
        for r in 0..b.num_rows() {
            let ratio = f(5);
            out.push((
                id.value(r).to_owned(),
                f(1).value(r),
                f(2).value(r),
                f(3).value(r),
                f(4).value(r),
                (!ratio.is_null(r)).then(|| ratio.value(r)),
                flagged.value(r),
            ));
        }
    }
    out
}

fn native_rows<'a>(it: impl Iterator<Item = (&'a str, &'a meterstore::DayNight)>) -> Vec<DnRow> {
    it.map(|(id, d)| {
        let ratio = if d.day_kwh == 0.0 { None } else { d.ratio };
        (
            id.to_owned(),
            d.day_kwh,
            d.night_kwh,
            d.day_hours,
            d.night_hours,
            ratio,
            d.flagged,
        )
    })
    .collect()
}

fn native(
    store: &Store,
    range: std::ops::Range<i64>,
    day: &str,
    tz: &str,
    t: f64,
) -> Vec<MeterDayNight> {
    let scan = DayNightScan {
        window: DayWindow::parse(day).unwrap(),
        zone: Zone::parse(tz).unwrap(),
        threshold: t,
        ..DayNightScan::default()
    };
    store.day_night(&MeterFilter::All, range, &scan).unwrap()
}

fn membership(fleet: &Fleet) -> HashMap<String, String> {
    fleet
        .meters()
        .iter()
        .enumerate()
        .filter(|(i, _)| role(*i) == MeterRole::Production)
        .map(|(_, m)| (m.id.clone(), m.enterprise.clone()))
        .collect()
}

#[test]
fn day_night_functions_return_the_native_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let store = store_of(tmp.path(), &fleet, |_| true);
    let ctx = ctx_of(&[&store], 2);
    let cases = [
        (
            "'2024-01-30T00:00:00+08:00'",
            "'2024-02-05T00:00:00+08:00'",
            "08:00-20:00",
            "+08:00",
            1.5,
            START..START + 6 * 86_400,
        ),
        (
            "'2024-01-31'",
            "'2024-02-02'",
            "22:00-06:00",
            "Europe/London",
            0.5,
            1_706_659_200..1_706_918_400,
        ),
        (
            "NULL",
            "NULL",
            "08:00-20:00",
            "+08:00",
            1.5,
            i64::MIN..i64::MAX,
        ),
    ];
    for (from, to, day, tz, t, range) in cases {
        let sql = format!("SELECT * FROM day_night({from}, {to}, '{day}', '{tz}', {t})");
        let got = day_night_rows(&rows(&ctx, &sql));
        let meters = native(&store, range, day, tz, t);
        assert!(!meters.is_empty());
        assert_eq!(
            got,
            native_rows(meters.iter().map(|m| (m.meter.as_str(), &m.total))),
            "{sql}"
        );
        let sql = format!("SELECT * FROM day_night_enterprise({from}, {to}, '{day}', '{tz}', {t})");
        let got = day_night_rows(&rows(&ctx, &sql));
        let ents = EnterpriseDayNight::aggregate(&meters, &membership(&fleet), t);
        assert_eq!(
            got,
            native_rows(ents.iter().map(|e| (e.enterprise.as_str(), &e.total))),
            "{sql}"
        );
    }
    // Defaults for the trailing arguments, and SQL around the function.
    let two = rows(
        &ctx,
        "SELECT count(*) FROM day_night(NULL, NULL) WHERE ratio IS NOT NULL",
    );
    let n = two[0].column(0).as_primitive::<Int64Type>().value(0);
    assert_eq!(n as usize, fleet.meters().len());
}

#[test]
fn bad_queries_are_sql_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let store = store_of(tmp.path(), &fleet, |_| true);
    let ctx = ctx_of(&[&store], 2);
    let cases = [
        ("SELECT nothing FROM meters", "nothing"),
        ("SELEC 1", "SELEC"),
        ("SELECT * FROM day_night('2024-01-30', '2024-02-01', '08:00-20:00', 'Mars/Olympus', 1.5)", "tz"),
        ("SELECT * FROM day_night('2024-01-30', '2024-02-01', '8-20')", "day_window"),
        ("SELECT * FROM day_night('yesterday', '2024-02-01')", "from"),
        ("SELECT * FROM day_night('2024-02-01', '2024-01-30')", "before"),
        ("SELECT * FROM day_night('2024-01-30', '2024-02-01', '08:00-20:00', '+08:00', -1)", "threshold"),
        ("SELECT * FROM day_night('2024-01-30', '2024-02-01', '08:00-20:00', '+08:00', 'x')", "threshold"),
        ("SELECT * FROM day_night('2024-01-30')", "arguments"),
        ("SELECT * FROM day_night(meter_id, '2024-02-01')", "constant"),
    ];
    for (sql, needle) in cases {
        match query(&ctx, sql) {
            Ok(_) => panic!("{sql}: no error"),
            Err(e) => assert!(e.to_string().contains(needle), "{sql}: {e}"),
        }
    }
    // No catalog: the per-enterprise function says what it needs.
    let bare = Store::open(tmp.path().join("bare"), Options::default()).unwrap();
    bare.register_meter("M1", meterstore::MeterMeta::default())
        .unwrap();
    let ctx = ctx_of(&[&bare], 1);
    let e = query(&ctx, "SELECT * FROM day_night_enterprise(NULL, NULL)").unwrap_err();
    assert!(e.to_string().contains("catalog"), "{e}");
}

/// Results of `sql` as text, one line per row, sorted.
fn text(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let b = rows(ctx, sql);
    let s = pretty_format_batches(&b).unwrap().to_string();
    let mut lines: Vec<String> = s.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn shard_stores_query_as_one_table() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let single = store_of(&tmp.path().join("all"), &fleet, |_| true);
    let shards = 3u32;
    let parts: Vec<Store> = (0..shards)
        .map(|s| {
            store_of(&tmp.path().join(format!("s{s}")), &fleet, |id| {
                shard_of(id, shards) == s
            })
        })
        .collect();
    assert!(parts.iter().all(|p| !p.meter_ids().is_empty()));
    let one = ctx_of(&[&single], 2);
    let refs: Vec<&Store> = parts.iter().collect();
    let many = ctx_of(&refs, 2);
    let id = &fleet.meters()[1].id;
    let queries = [
        "SELECT meter_id, count(*), sum(value), min(ts), max(ts) FROM meters GROUP BY meter_id"
            .to_owned(),
        format!(
            "SELECT ts, value FROM meters WHERE meter_id = '{id}' AND ts < '2024-02-01T00:00:00Z'"
        ),
        "SELECT count(*) FROM meters".to_owned(),
        "SELECT * FROM day_night('2024-01-30', '2024-02-08', '08:00-20:00', 'Asia/Shanghai', 1.2)"
            .to_owned(),
        "SELECT * FROM day_night_enterprise('2024-01-30', '2024-02-08')".to_owned(),
    ];
    for sql in &queries {
        assert_eq!(text(&many, sql), text(&one, sql), "{sql}");
    }
    // Each shard alone is a table too; filters reach every shard's scan.
    let sql = format!(
        "SELECT count(*) FROM meters_shard{} WHERE meter_id = '{id}'",
        shard_of(id, shards)
    );
    let n = rows(&many, &sql)[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(
        n as usize,
        single.history(id, i64::MIN..i64::MAX).unwrap().len()
    );
    let p = plan(
        &many,
        &format!("SELECT value FROM meters WHERE meter_id = '{id}'"),
    );
    assert_eq!(p.matches("MeterScanExec").count(), shards as usize, "{p}");
    assert!(!p.contains("FilterExec"), "{p}");
    // A per-day roll-up in SQL over the union equals the single store's.
    let sql = "SELECT meter_id, date_trunc('day', ts) AS d, sum(value) FROM meters GROUP BY 1, 2";
    let (a, b) = (text(&many, sql), text(&one, sql));
    assert_eq!(a, b);
}

/// The `(meter_id, sum(value), count(*))` of every meter from the store's own reads.
fn sums_by_meter(store: &Store) -> Vec<(String, u64, i64)> {
    let mut ids = store.meter_ids();
    ids.sort();
    ids.into_iter()
        .map(|id| {
            let h: Vec<(i64, f64)> = store.history(&id, i64::MIN..i64::MAX).unwrap().collect();
            let sum: f64 = h.iter().map(|r| r.1).sum();
            (id, sum.to_bits(), h.len() as i64)
        })
        .collect()
}

#[test]
fn group_by_meter_runs_per_partition_in_sorted_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let store = store_of(tmp.path(), &fleet, |_| true);
    let want = sums_by_meter(&store);
    for partitions in [1, 2, 3, 5] {
        let ctx = ctx_of(&[&store], partitions);
        let sql = "SELECT meter_id, sum(value), count(*) FROM meters GROUP BY meter_id";
        let p = plan(&ctx, sql);
        if partitions > 1 {
            // Every meter's rows are in one partition, sorted: no shuffle, no hash table
            // of all the meters.
            assert!(!p.contains("RepartitionExec"), "{p}");
            assert!(p.contains("ordering_mode=Sorted"), "{p}");
        }
        let mut got: Vec<(String, u64, i64)> = Vec::new();
        for b in rows(&ctx, sql) {
            let ids = b.column(0).as_string_view();
            let s = b.column(1).as_primitive::<Float64Type>();
            let n = b.column(2).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                got.push((ids.value(i).to_owned(), s.value(i).to_bits(), n.value(i)));
            }
        }
        got.sort();
        // The scan gives each meter's readings in time order, and one partition sums a
        // meter alone, so the sums are the sequential ones, bit for bit.
        assert_eq!(got, want, "{partitions} partitions");

        // Sorted output needs a merge of the partitions, not a sort.
        let sql = "SELECT meter_id, ts, value FROM meters ORDER BY meter_id, ts";
        let p = plan(&ctx, sql);
        assert!(!p.contains("SortExec"), "{p}");
        let all: Vec<String> = fleet.meters().iter().map(|m| m.id.clone()).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let b = rows(&ctx, sql);
        let mut flat = Vec::new();
        for b in &b {
            let ids = b.column(0).as_string_view();
            let ts = b
                .column(1)
                .as_primitive::<meterstore::sql::datafusion::arrow::datatypes::TimestampSecondType>(
                );
            for i in 0..b.num_rows() {
                flat.push((ids.value(i).to_owned(), ts.value(i)));
            }
        }
        let keys: Vec<(String, i64)> = expected(&store, &all, i64::MIN..i64::MAX)
            .into_iter()
            .map(|r| (r.0, r.1))
            .collect();
        assert_eq!(
            flat, keys,
            "{partitions} partitions: in (meter_id, ts) order"
        );

        // A join on the id with another aggregate of the table keeps every meter's rows
        // together: each meter's last reading, found through the join.
        let sql = "SELECT m.meter_id, count(*) FROM meters m \
                   JOIN (SELECT meter_id, max(ts) AS last FROM meters GROUP BY meter_id) l \
                   ON m.meter_id = l.meter_id AND m.ts = l.last GROUP BY m.meter_id";
        let n: usize = rows(&ctx, sql)
            .iter()
            .map(|b| {
                let c = b.column(1).as_primitive::<Int64Type>();
                assert!(c.values().iter().all(|&v| v == 1));
                b.num_rows()
            })
            .sum();
        assert_eq!(n, want.len(), "{partitions} partitions");
    }
}

#[test]
fn the_flag_column_gives_each_readings_quality_flag() {
    use meterstore::sql::datafusion::arrow::array::DictionaryArray;
    use meterstore::sql::datafusion::arrow::datatypes::Int8Type;
    use meterstore::Flag;
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let store = store_of(tmp.path(), &fleet, |_| true);
    let ids: Vec<String> = fleet.meters().iter().map(|m| m.id.clone()).collect();
    // Flagged rewrites of a few readings of two meters: some flushed into a segment, some
    // left in the log.
    let mut flagged = Vec::new();
    for (k, id) in [&ids[1], &ids[4]].into_iter().enumerate() {
        let h: Vec<(i64, f64)> = store.history(id, i64::MIN..i64::MAX).unwrap().collect();
        for (j, flag) in Flag::ALL.iter().enumerate().skip(1) {
            let (ts, v) = h[j * 97 + k];
            flagged.push((id.clone(), ts, *flag));
            store
                .append(&[meterstore::Reading::new(id, ts, v).with_flag(*flag)])
                .unwrap();
        }
        if k == 0 {
            store.flush().unwrap();
        }
    }
    let ctx = ctx_of(&[&store], 3);
    // `(meter_id, ts, flag letter)` rows of a `SELECT meter_id, ts, flag` result, sorted.
    let flag_rows = |sql: &str| -> Vec<(String, i64, String)> {
        let mut out = Vec::new();
        for b in rows(&ctx, sql) {
            let id = b.column(0).as_string_view();
            let ts = b
                .column(1)
                .as_primitive::<meterstore::sql::datafusion::arrow::datatypes::TimestampSecondType>(
                );
            let d: &DictionaryArray<Int8Type> = b.column(2).as_dictionary();
            let letters = d.values().as_string::<i32>();
            for (i, &k) in d.keys().values().iter().enumerate() {
                let l = letters.value(k as usize).to_owned();
                out.push((id.value(i).to_owned(), ts.value(i), l));
            }
        }
        out.sort();
        out
    };
    // Every reading with its flag, as the store's history reads give them.
    let mut want = Vec::new();
    for id in &ids {
        let h = store.history(id, i64::MIN..i64::MAX).unwrap();
        let flags = h.flags().to_vec();
        for ((ts, _), f) in h.zip(flags) {
            want.push((id.clone(), ts, f.to_string()));
        }
    }
    want.sort();
    assert_eq!(flag_rows("SELECT meter_id, ts, flag FROM meters"), want);
    // Filtering and grouping on it.
    let got = flag_rows("SELECT meter_id, ts, flag FROM meters WHERE flag <> 'N'");
    let mut want: Vec<_> = flagged
        .iter()
        .map(|(id, ts, f)| (id.clone(), *ts, f.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    let sql = "SELECT count(*) FROM meters WHERE flag IN ('M', 'D')";
    let n = rows(&ctx, sql)[0]
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(n, 4);
    // Built only when a query uses it.
    let p = plan(
        &ctx,
        "SELECT meter_id, sum(value) FROM meters GROUP BY meter_id",
    );
    assert!(p.contains("projection=[meter_id, value]"), "{p}");
    let p = plan(&ctx, "SELECT * FROM meters");
    assert!(p.contains("projection=[meter_id, ts, value, flag]"), "{p}");
}

#[test]
fn counts_by_meter_need_no_readings_where_the_index_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let store = store_of(tmp.path(), &fleet, |_| true);
    // A resend of one meter's first day in a newer source: that meter's index count is
    // only an upper bound, so its readings are read and counted.
    resend_first_day(&store, &fleet.meters()[0].id, 0.0);
    let ctx = ctx_of(&[&store], 3);
    let mid = START + 2 * 86_400 + 450;
    for (cond, range) in [
        ("TRUE".to_owned(), i64::MIN..i64::MAX),
        (format!("ts >= to_timestamp_seconds({mid})"), mid..i64::MAX),
    ] {
        let sql = format!("SELECT meter_id, count(*) FROM meters WHERE {cond} GROUP BY meter_id");
        let p = plan(&ctx, &sql);
        assert!(p.contains("projection=[meter_id]"), "{p}");
        let mut got = Vec::new();
        for b in rows(&ctx, &sql) {
            let ids = b.column(0).as_string_view();
            let n = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                got.push((ids.value(i).to_owned(), n.value(i) as usize));
            }
        }
        got.sort();
        let mut want: Vec<(String, usize)> = fleet
            .meters()
            .iter()
            .map(|m| {
                (
                    m.id.clone(),
                    store.history(&m.id, range.clone()).unwrap().len(),
                )
            })
            .filter(|m| m.1 > 0)
            .collect();
        want.sort();
        assert_eq!(got, want, "{sql}");
    }
}

#[test]
fn a_read_only_store_beside_its_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let writer = store_of(tmp.path(), &fleet, |_| true);
    let id = fleet.meters()[0].id.clone();
    let last = START + i64::from(DAYS) * 86_400;
    writer
        .append(&[meterstore::Reading::new(&id, last, 7.5)])
        .unwrap();
    let reader = Store::open_read_only(tmp.path()).unwrap();
    let ctx = ctx_of(&[&reader], 2);
    let sql = format!(
        "SELECT value FROM meters WHERE meter_id = '{id}' AND ts = to_timestamp_seconds({last})"
    );
    let b = rows(&ctx, &sql);
    assert_eq!(b[0].column(0).as_primitive::<Float64Type>().value(0), 7.5);
}

/// The `sql` example, built once for these tests (debug, with the feature).
fn sql_example() -> std::process::Command {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let exe = BUILT.get_or_init(|| {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["build", "--example", "sql", "--features", "datafusion"])
            .args(["--message-format=json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "cargo build --example sql failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains("\"kind\":[\"example\"]") && l.contains("\"executable\":\""))
            .expect("the example's artifact");
        let at = line.find("\"executable\":\"").unwrap() + "\"executable\":\"".len();
        let len = line[at..].find('"').unwrap();
        std::path::PathBuf::from(&line[at..at + len])
    });
    std::process::Command::new(exe)
}

#[test]
fn sql_example_prints_writes_csv_and_exits_2_on_bad_sql() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet();
    let dir = tmp.path().join("store");
    let writer = store_of(&dir, &fleet, |_| true);
    let ctx = ctx_of(&[&writer], 2);
    // A table, beside the writer (the example opens the store read-only).
    let id = &fleet.meters()[2].id;
    let o = sql_example()
        .arg("--store")
        .arg(&dir)
        .arg(format!(
            "SELECT meter_id, count(*) AS n FROM meters WHERE meter_id = '{id}' GROUP BY meter_id"
        ))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let n = writer.history(id, i64::MIN..i64::MAX).unwrap().len();
    assert!(
        out.contains(&format!("| {id} ")) && out.contains(&format!(" {n} ")),
        "{out}"
    );
    // CSV with the imbalance conventions: empty ratio for null, true/false flags.
    let csv = tmp.path().join("dn.csv");
    let q = "SELECT * FROM day_night('2024-01-30', '2024-02-05', '08:00-20:00', '+08:00', 1.5) ORDER BY meter_id";
    let o = sql_example()
        .arg("--store")
        .arg(&dir)
        .arg("--csv")
        .arg(&csv)
        .arg(q)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("meter_id,day_kwh,night_kwh,day_hours,night_hours,ratio,flagged")
    );
    let body: Vec<&str> = lines.collect();
    let want = day_night_rows(&rows(&ctx, q));
    assert_eq!(body.len(), want.len());
    for (line, w) in body.iter().zip(&want) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], w.0);
        assert_eq!(f[1].parse::<f64>().unwrap(), w.1, "{line}");
        assert_eq!(f[2].parse::<f64>().unwrap(), w.2, "{line}");
        assert_eq!(f[5].parse::<f64>().ok(), w.5, "{line}");
        assert_eq!(f[6], w.6.to_string());
    }
    // Bad SQL: status 2 and the SQL error, no panic.
    for q in [
        "SELECT nope FROM meters",
        "SELECT * FROM day_night('2024-01-30', 'soon')",
    ] {
        let o = sql_example()
            .arg("--store")
            .arg(&dir)
            .arg(q)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{q}: {err}");
        assert!(
            err.starts_with("error: ") && !err.contains("panicked"),
            "{q}: {err}"
        );
    }
    // No store there: status 1, naming the path.
    let o = sql_example()
        .arg("--store")
        .arg(tmp.path().join("none"))
        .arg("SELECT 1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("none"));
}
