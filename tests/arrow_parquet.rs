//! The `arrow` feature: Parquet export and import (`export_parquet`, the Parquet input of
//! `import_csv`), the shard hash, and day/night results that roll up over shards.
//! Run with `cargo test --features arrow`.
#![cfg(feature = "arrow")]

#[allow(dead_code, reason = "the module is shared: this test uses part of it")]
#[path = "../examples/common/mod.rs"]
mod common;

use common::import::{self, ImportConfig, ImportError};
use common::time::Tz;
use meterstore::arrow::arrow_array::cast::AsArray;
use meterstore::arrow::arrow_array::types::{
    Float64Type, TimestampMillisecondType, TimestampSecondType,
};
use meterstore::arrow::arrow_array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampSecondArray,
};
use meterstore::arrow::arrow_schema::{DataType, Field, Schema, TimeUnit};
use meterstore::arrow::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use meterstore::arrow::parquet::arrow::ArrowWriter;
use meterstore::arrow::parquet::basic::Compression;
use meterstore::arrow::{
    day_night_batch, export_parquet, readings_schema, shard_of, ExportOptions, ReadingsBuilder,
    METERS_FILE,
};
use meterstore::fleet::Fleet;
use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, MeterRole};
use meterstore::{
    DayNightScan, EnterpriseDayNight, Flag, MeterDayNight, MeterFilter, MeterMeta, Options,
    Quantity, Reading, Store,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every meter's history as `(ts, value bits)`, and its metadata.
type Dump = BTreeMap<String, (Option<MeterMeta>, Vec<(i64, u64)>)>;

fn dump(store: &Store) -> Dump {
    store
        .meter_ids()
        .into_iter()
        .map(|id| {
            let h = store.history(&id, i64::MIN..i64::MAX).unwrap();
            let rows = h.map(|(t, v)| (t, v.to_bits())).collect();
            (id.clone(), (store.meter_meta(&id), rows))
        })
        .collect()
}

/// A store with several shapes: the synthetic fleet (15-minute energy at Wh resolution,
/// gaps) over two UTC month ends, an hourly power meter, an irregular meter, and values
/// that are not short decimals (thirds, tiny and huge magnitudes, negative zero), so the
/// round trip must be bit-exact. Also a catalog with enterprises for the fleet.
fn varied_store(dir: &Path) -> Store {
    let store = Store::open(dir, Options::default()).unwrap();
    // 2024-01-30T00:00:00+08:00, 35 days: crosses the January and February ends in UTC.
    let fleet = Fleet::new(meterstore::fleet::FleetConfig {
        enterprises: 4,
        days: 35,
        start: 1_706_544_000,
        ..Default::default()
    });
    let mut cat = Catalog::new();
    for (i, m) in fleet.meters().iter().enumerate() {
        store.register_meter(&m.id, fleet.meta()).unwrap();
        fleet.append_meter(&store, i).unwrap();
        let e = Enterprise {
            id: m.enterprise.clone(),
            ..Enterprise::default()
        };
        cat.upsert_enterprise(e).unwrap();
        let role = if i % 4 == 3 {
            MeterRole::Treatment
        } else {
            MeterRole::Production
        };
        cat.upsert_meter(CatalogMeter::new(&m.id, &m.enterprise, role))
            .unwrap();
    }
    cat.save(&store).unwrap();
    let power = MeterMeta {
        kind: Quantity::Power,
        interval_s: Some(3600),
        unit: "kW".into(),
    };
    store.register_meter("P-hourly", power).unwrap();
    let irregular = MeterMeta {
        interval_s: None,
        ..MeterMeta::default()
    };
    store.register_meter("X-irregular", irregular).unwrap();
    let t0 = 1_706_700_000 / 3600 * 3600;
    let odd = [1.0 / 3.0, 1e-300, -0.0, 6.02e23, -2.5, 0.1 + 0.2];
    let mut batch = Vec::new();
    for k in 0..500i64 {
        let v = odd[k as usize % odd.len()] * (k + 1) as f64;
        batch.push(Reading::new("P-hourly", t0 + k * 3600, v));
        batch.push(Reading::new(
            "X-irregular",
            t0 + k * 3600 + (k * 37) % 1000,
            -v,
        ));
    }
    store.append(&batch).unwrap();
    store.flush().unwrap();
    store
}

fn import_cfg(store: &Path, input: &Path) -> ImportConfig {
    ImportConfig {
        store: store.to_owned(),
        input: input.to_owned(),
        meters: None,
        tz: Tz::parse("+08:00").unwrap(),
        skip_bad: false,
        progress: false,
        defaults: import::NewMeterDefaults::default(),
    }
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    let rdr = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    rdr.map(|b| b.unwrap()).collect()
}

/// The meter ids of a column (string or dictionary of strings).
fn ids(col: &ArrayRef) -> Vec<String> {
    match col.data_type() {
        DataType::Dictionary(_, _) => {
            let d = col.as_any_dictionary();
            let vals = d.values().as_string::<i32>();
            d.normalized_keys()
                .into_iter()
                .map(|k| vals.value(k).to_owned())
                .collect()
        }
        _ => col
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap().to_owned())
            .collect(),
    }
}

#[test]
fn export_then_import_gives_identical_histories() {
    let tmp = tempfile::tempdir().unwrap();
    let store = varied_store(&tmp.path().join("a"));
    let before = dump(&store);
    let out = tmp.path().join("out");
    let shards = 4;
    let opts = ExportOptions {
        shards,
        ..ExportOptions::default()
    };
    let cat = Catalog::load(&store).unwrap();
    let report = export_parquet(&store.snapshot(), &cat, &out, &opts, &|_| {}).unwrap();
    let total: usize = before.values().map(|(_, r)| r.len()).sum();
    assert_eq!(report.readings, total as u64);
    assert_eq!(report.meters, before.len());

    // Every file: in its partition's UTC month and shard, sorted by (meter_id, ts), with
    // the declared schema, ZSTD and statistics on every column.
    let mut seen = 0;
    for rel in &report.files {
        let s = rel.to_str().unwrap();
        let (month, rest) = s
            .strip_prefix("month=")
            .unwrap()
            .split_once("/shard=")
            .unwrap();
        let (shard, name) = rest.split_once('/').unwrap();
        assert_eq!(name, "part-00000.parquet");
        assert_eq!(shard.len(), 2, "{s}");
        let shard: u32 = shard.parse().unwrap();
        let path = out.join(rel);
        let meta = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .metadata()
            .clone();
        for rg in meta.row_groups() {
            assert!(rg.sorting_columns().is_some_and(|c| c.len() == 2));
            for c in rg.columns() {
                assert!(matches!(c.compression(), Compression::ZSTD(_)));
                let st = c.statistics().expect("column statistics");
                assert!(st.min_bytes_opt().is_some() && st.max_bytes_opt().is_some());
            }
        }
        let mut prev: Option<(String, i64)> = None;
        for b in read_parquet(&path) {
            // The files keep the columns meter_id, ts and value (flags are not exported).
            let names: Vec<String> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(names, ["meter_id", "ts", "value"]);
            // Parquet has no timestamp in seconds: milliseconds, adjusted to UTC.
            assert_eq!(
                b.schema().field(1).data_type(),
                &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            );
            let ids = ids(b.column(0));
            let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
            for (i, id) in ids.into_iter().enumerate() {
                let t = ts.value(i) / 1000;
                let dt = jiff::Timestamp::from_second(t)
                    .unwrap()
                    .to_zoned(jiff::tz::TimeZone::UTC);
                assert_eq!(format!("{}", dt.strftime("%Y-%m")), month, "{id} {t}");
                assert_eq!(shard_of(&id, shards), shard);
                let key = (id, t);
                if let Some(p) = &prev {
                    assert!(*p < key, "{p:?} then {key:?} in {s}");
                }
                prev = Some(key);
                seen += 1;
            }
        }
    }
    assert_eq!(seen, total);
    // January, February and March of 2024 in UTC.
    let months: std::collections::BTreeSet<&str> = report
        .files
        .iter()
        .map(|f| f.to_str().unwrap().split('/').next().unwrap())
        .collect();
    assert_eq!(
        months.into_iter().collect::<Vec<_>>(),
        ["month=2024-01", "month=2024-02", "month=2024-03"]
    );

    // The catalog file lists every meter with its metadata, shard and enterprise.
    let m = &read_parquet(&out.join(METERS_FILE))[0];
    assert_eq!(m.num_rows(), before.len());
    let idx = |n: &str| m.schema().index_of(n).unwrap();
    let interval = m.column(idx("interval_s"));
    let mid = m.column(idx("meter_id")).as_string::<i32>();
    let ent = m.column(idx("enterprise_id")).as_string::<i32>();
    for i in 0..m.num_rows() {
        let id = mid.value(i);
        assert_eq!(interval.is_null(i), id == "X-irregular");
        assert_eq!(ent.is_null(i), id.starts_with("P-") || id.starts_with("X-"));
    }

    // Exporting into a non-empty directory is refused.
    let again = export_parquet(&store.snapshot(), &cat, &out, &opts, &|_| {});
    assert!(matches!(again, Err(meterstore::Error::InvalidArgument(_))));
    drop(store);

    // Import into a new store: identical histories and metadata, bit for bit.
    let b = tmp.path().join("b");
    let r = import::run(&import_cfg(&b, &out)).unwrap();
    assert_eq!(r.imported, total as u64);
    let copy = Store::open(&b, Options::default()).unwrap();
    assert_eq!(dump(&copy), before);
    // meters.parquet filled the new store's catalog: the same meters with the same
    // enterprises and roles; the meters without an enterprise are only registered.
    let copied = Catalog::load(&copy).unwrap();
    assert_eq!(r.catalog_meters, before.len());
    for id in before.keys() {
        let (a, b) = (cat.meter(id), copied.meter(id));
        assert_eq!(a.is_some(), b.is_some(), "{id}");
        if let (Some(a), Some(b)) = (a, b) {
            assert_eq!((&a.enterprise, a.role), (&b.enterprise, b.role), "{id}");
        }
    }
    assert!(copied.meter("X-irregular").is_none());
    drop(copy);
    // Importing again changes nothing.
    import::run(&import_cfg(&b, &out)).unwrap();
    let copy = Store::open(&b, Options::default()).unwrap();
    assert_eq!(dump(&copy), before);
}

#[test]
fn shard_hash_is_fnv1a64_modulo_n() {
    // Fixed vectors: other tools (DuckDB, Spark, Python) must compute the same shards.
    // (Computed independently, in Python: h = 0xcbf29ce484222325; for each byte b:
    // h = ((h ^ b) * 0x100000001b3) % 2**64.)
    assert_eq!(
        meterstore::arrow::fnv1a64(b"M000001"),
        0x15d1_37d3_7c7b_2a2b
    );
    assert_eq!(shard_of("M000001", 16), 11);
    assert_eq!(shard_of("M000001", 7), 1);
    assert_eq!(shard_of("M000001", 1), 0);
    assert_eq!(shard_of("M000001", 0), 0);
    let spread: std::collections::BTreeSet<u32> =
        (0..200).map(|i| shard_of(&format!("M{i:06}"), 8)).collect();
    assert_eq!(spread.len(), 8);
}

/// Writes a readings file with the given columns.
fn write_file(path: &Path, ids: Vec<Option<&str>>, ts: Vec<Option<i64>>, vals: Vec<Option<f64>>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("meter_id", DataType::Utf8, true),
        Field::new("ts", readings_schema().field(1).data_type().clone(), true),
        Field::new("kwh", DataType::Float64, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(TimestampSecondArray::from(ts).with_timezone("UTC")),
        Arc::new(Float64Array::from(vals)),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn bad_parquet_rows_are_named_and_nothing_is_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let t = 1_704_067_200;
    let file = tmp.path().join("in.parquet");
    write_file(
        &file,
        vec![
            Some("M1"),
            None,
            Some("M1"),
            Some("M1"),
            Some("M2"),
            Some(""),
        ],
        vec![Some(t), Some(t), Some(t + 60), Some(t + 900), None, Some(t)],
        vec![
            Some(1.0),
            Some(1.0),
            Some(2.0),
            Some(f64::NAN),
            Some(1.0),
            Some(1.0),
        ],
    );
    // A store that already holds a reading: it must be left as it was.
    let dir = tmp.path().join("s");
    {
        let s = Store::open(&dir, Options::default()).unwrap();
        s.register_meter("M1", MeterMeta::default()).unwrap();
        s.append(&[Reading::new("M1", t - 900, 7.0)]).unwrap();
        s.close().unwrap();
    }
    let before = dump(&Store::open(&dir, Options::default()).unwrap());
    let (f, bad) = match import::run(&import_cfg(&dir, &file)) {
        Err(ImportError::BadLines { file, bad }) => (file, bad),
        other => panic!("expected bad rows, got {other:?}"),
    };
    assert_eq!(f, file);
    let rows: Vec<u64> = bad.listed.iter().map(|b| b.line).collect();
    assert_eq!(rows, [2, 3, 4, 5, 6]);
    let text = ImportError::BadLines {
        file: f,
        bad: bad.clone(),
    }
    .to_string();
    for want in [
        "row 2: meter_id is null",
        "row 3: ts",
        "interval grid",
        "row 4: value NaN is not finite",
        "row 5: ts is null",
        "row 6: meter_id must be",
    ] {
        assert!(text.contains(want), "{want:?} not in {text}");
    }
    assert_eq!(
        dump(&Store::open(&dir, Options::default()).unwrap()),
        before
    );

    // In a directory, the file is named with the row.
    let d = tmp.path().join("d");
    std::fs::create_dir_all(d.join("month=2024-01")).unwrap();
    write_file(
        &d.join("month=2024-01/part-0.parquet"),
        vec![Some("M1"), Some("M1")],
        vec![Some(t), Some(t + 1)],
        vec![Some(1.0), Some(2.0)],
    );
    // Meters new to the store on a 15-minute grid, as `import_csv --interval 900` gives
    // them (inferred, M1's grid would be the 1 s its two timestamps keep).
    let mut cfg = import_cfg(&tmp.path().join("new"), &d);
    cfg.defaults.interval_s = Some(Some(900));
    match import::run(&cfg) {
        Err(e @ ImportError::BadLines { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("month=2024-01/part-0.parquet row 2: ts"),
                "{text}"
            );
        }
        other => panic!("expected bad rows, got {other:?}"),
    }
    assert!(
        !tmp.path().join("new").exists(),
        "a rejected import creates no store"
    );
}

/// Day/night results over a fleet split by the shard hash into several stores, one per
/// node, combine into the single store's: per meter identical (each meter lives in one
/// shard), per enterprise the shards' partial sums add up to the same figures.
#[test]
fn day_night_rolls_up_over_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::with_meters(60, 20);
    let shards = 4u32;
    let single = Store::open(tmp.path().join("all"), Options::default()).unwrap();
    let parts: Vec<Store> = (0..shards)
        .map(|s| Store::open(tmp.path().join(format!("s{s}")), Options::default()).unwrap())
        .collect();
    let mut membership = HashMap::new();
    for (i, m) in fleet.meters().iter().enumerate() {
        let shard = &parts[shard_of(&m.id, shards) as usize];
        for s in [&single, shard] {
            s.register_meter(&m.id, fleet.meta()).unwrap();
            fleet.append_meter(s, i).unwrap();
        }
        membership.insert(m.id.clone(), m.enterprise.clone());
    }
    let scan = DayNightScan::default();
    let whole = single
        .day_night(&MeterFilter::All, i64::MIN..i64::MAX, &scan)
        .unwrap();
    // The same range on every node: the fleet's span, as the coordinator would send it.
    let (lo, hi) = (fleet.config().start, fleet.config().start + 20 * 86_400);
    let whole_r = single.day_night(&MeterFilter::All, lo..hi, &scan).unwrap();
    assert_eq!(whole, whole_r);
    let mut merged: Vec<MeterDayNight> = parts
        .iter()
        .flat_map(|p| p.day_night(&MeterFilter::All, lo..hi, &scan).unwrap())
        .collect();
    assert!(parts.iter().all(|p| !p.meter_ids().is_empty()));
    merged.sort_by(|a, b| a.meter.cmp(&b.meter));
    assert_eq!(merged, whole, "per meter");
    assert_eq!(day_night_batch(&merged), day_night_batch(&whole));

    // Per enterprise: each node aggregates its own meters; the coordinator adds the
    // partial sums. Energies are sums of Wh-resolution values: equal to the Wh.
    let single_e = EnterpriseDayNight::aggregate(&whole, &membership, scan.threshold);
    let mut rolled: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    for p in &parts {
        let mine = p.day_night(&MeterFilter::All, lo..hi, &scan).unwrap();
        for e in EnterpriseDayNight::aggregate(&mine, &membership, scan.threshold) {
            let r = rolled.entry(e.enterprise).or_default();
            r.0 += e.total.day_kwh;
            r.1 += e.total.night_kwh;
            r.2 += e.meters.len();
        }
    }
    assert_eq!(rolled.len(), single_e.len());
    let wh = |x: f64| (x * 1000.0).round() as i64;
    for e in &single_e {
        let r = &rolled[&e.enterprise];
        assert_eq!(r.2, e.meters.len());
        assert_eq!(wh(r.0), wh(e.total.day_kwh), "{}", e.enterprise);
        assert_eq!(wh(r.1), wh(e.total.night_kwh), "{}", e.enterprise);
        assert!((r.0 - e.total.day_kwh).abs() <= 1e-9 * e.total.day_kwh.abs().max(1.0));
    }
}

#[test]
fn batches_carry_histories_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let store = varied_store(tmp.path());
    // Three readings of P-hourly sent again flagged M: the batch carries the flags.
    let first: Vec<(i64, f64)> = store
        .history("P-hourly", i64::MIN..i64::MAX)
        .unwrap()
        .skip(1)
        .take(3)
        .collect();
    let resend: Vec<Reading> = first
        .iter()
        .map(|&(t, v)| Reading::new("P-hourly", t, v).with_flag(Flag::Maintenance))
        .collect();
    store.append(&resend).unwrap();
    let mut b = ReadingsBuilder::new();
    let mut want = Vec::new();
    let mut want_flags = Vec::new();
    for id in ["P-hourly", "X-irregular"] {
        let h = store.history(id, i64::MIN..i64::MAX).unwrap();
        b.push(id, &h);
        want_flags.extend(h.flags().iter().map(|f| f.to_string()));
        want.extend(h.map(|(t, v)| (id.to_owned(), t, v.to_bits())));
    }
    let batch = b.finish();
    assert!(b.is_empty());
    assert_eq!(batch.schema(), readings_schema());
    assert_eq!(batch.schema().field(3).name(), "flag");
    let letters = ids(batch.column(3));
    assert_eq!(letters, want_flags);
    assert_eq!(letters[..5], ["N", "M", "M", "M", "N"]);
    let got: Vec<(String, i64, u64)> = ids(batch.column(0))
        .into_iter()
        .zip(
            batch
                .column(1)
                .as_primitive::<TimestampSecondType>()
                .values()
                .iter(),
        )
        .zip(
            batch
                .column(2)
                .as_primitive::<Float64Type>()
                .values()
                .iter(),
        )
        .map(|((id, &t), v)| (id, t, v.to_bits()))
        .collect();
    assert_eq!(got, want);
    let _ = PathBuf::new();
}
