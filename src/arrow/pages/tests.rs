use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMillisecondType};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowSchemaConverter;
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use proptest::prelude::*;

/// Rows as `(meter, ts seconds, value bits)`.
type Rows = Vec<(String, i64, u64)>;

fn schema() -> SchemaDescriptor {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    ArrowSchemaConverter::new()
        .convert(&Schema::new(vec![
            Field::new("meter_id", DataType::Utf8, false),
            Field::new("ts", ts, false),
            Field::new("value", DataType::Float64, false),
        ]))
        .expect("schema")
}

/// Writes `meters` (id, ts, values; ids ascending) and reads the file back, checking
/// its statistics and page index against the rows.
fn round_trip(meters: &[(String, Vec<i64>, Vec<f64>)]) -> Rows {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("f.parquet");
    let mut f =
        ReadingsFile::create(&path, &schema(), ReadingsFile::props().build()).expect("create");
    for (id, ts, vals) in meters {
        f.push(id, ts, vals).expect("push");
    }
    f.finish().expect("finish");
    let opts = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let file = File::open(&path).expect("open");
    let b = ParquetRecordBatchReaderBuilder::try_new_with_options(file, opts).expect("read");
    let meta = b.metadata().clone();
    let mut rows = Rows::new();
    for batch in b.build().expect("reader") {
        let batch: RecordBatch = batch.expect("batch");
        let ids = batch.column(0).as_string::<i32>();
        let ts = batch.column(1).as_primitive::<TimestampMillisecondType>();
        let vals = batch.column(2).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            assert_eq!(ts.value(i) % 1000, 0);
            let row = (
                ids.value(i).to_owned(),
                ts.value(i) / 1000,
                vals.value(i).to_bits(),
            );
            rows.push(row);
        }
    }
    // Chunk statistics and page index bounds hold every row of their range.
    let mut at = 0;
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let n = rg.num_rows() as usize;
        let group = &rows[at..at + n];
        assert!(rg.sorting_columns().is_some_and(|c| c.len() == 2));
        let st = rg.column(0).statistics().expect("meter_id statistics");
        assert_eq!(st.min_bytes_opt(), group.first().map(|r| r.0.as_bytes()));
        assert_eq!(st.max_bytes_opt(), group.last().map(|r| r.0.as_bytes()));
        let st = rg.column(1).statistics().expect("ts statistics");
        let lo = group.iter().map(|r| r.1 * 1000).min().expect("rows");
        let hi = group.iter().map(|r| r.1 * 1000).max().expect("rows");
        assert_eq!(st.min_bytes_opt(), Some(&lo.to_le_bytes()[..]));
        assert_eq!(st.max_bytes_opt(), Some(&hi.to_le_bytes()[..]));
        let finite: Vec<f64> = group.iter().map(|r| f64::from_bits(r.2)).collect();
        let st = rg.column(2).statistics().expect("value statistics");
        match f64_min_max(&finite) {
            Some((lo, hi)) => {
                assert_eq!(st.min_bytes_opt(), Some(&lo.to_le_bytes()[..]));
                assert_eq!(st.max_bytes_opt(), Some(&hi.to_le_bytes()[..]));
            }
            None => assert!(st.min_bytes_opt().is_none()),
        }
        let offsets = &meta.offset_index().expect("offset index")[g];
        let index = &meta.column_index().expect("column index")[g];
        for c in 0..3 {
            let pages = &offsets[c].page_locations;
            assert!(!pages.is_empty());
            for (p, loc) in pages.iter().enumerate() {
                let end = pages.get(p + 1).map_or(n, |l| l.first_row_index as usize);
                let page = &group[loc.first_row_index as usize..end];
                match &index[c] {
                    ColumnIndexMetaData::BYTE_ARRAY(ix) => {
                        let lo = ix.min_value(p).expect("page min");
                        let hi = ix.max_value(p).expect("page max");
                        assert_eq!(lo, page[0].0.as_bytes());
                        assert_eq!(hi, page[page.len() - 1].0.as_bytes());
                    }
                    ColumnIndexMetaData::INT64(ix) => {
                        let lo = page.iter().map(|r| r.1 * 1000).min();
                        assert_eq!(ix.min_value(p).copied(), lo);
                    }
                    ColumnIndexMetaData::DOUBLE(ix) => {
                        let vals: Vec<f64> = page.iter().map(|r| f64::from_bits(r.2)).collect();
                        let want = f64_min_max(&vals).map(|b| b.0.to_bits());
                        assert_eq!(ix.min_value(p).map(|v| v.to_bits()), want);
                    }
                    ColumnIndexMetaData::NONE => {
                        let vals: Vec<f64> = group.iter().map(|r| f64::from_bits(r.2)).collect();
                        assert!(c == 2 && vals.iter().any(|v| v.is_nan()));
                    }
                    other => panic!("unexpected column index {other:?}"),
                }
            }
        }
        at += n;
    }
    assert_eq!(at, rows.len());
    rows
}

fn expected(meters: &[(String, Vec<i64>, Vec<f64>)]) -> Rows {
    let mut rows = Rows::new();
    for (id, ts, vals) in meters {
        for (&t, v) in ts.iter().zip(vals) {
            rows.push((id.clone(), t, v.to_bits()));
        }
    }
    rows
}

#[test]
fn pages_and_row_groups_split_meters_and_values_go_plain_past_the_dictionary() {
    // Meters longer than a page and one across a row group boundary; values of few
    // distinct numbers, then more distinct values than a dictionary holds.
    let mut meters = Vec::new();
    let mut rows = 0;
    for m in 0..40 {
        let n = [1, 7, PAGE_ROWS + 3, 2 * PAGE_ROWS - 1, 100_003][m % 5];
        let start = 1_700_000_000 + m as i64;
        let ts: Vec<i64> = (0..n as i64).map(|i| start + 900 * i).collect();
        let vals: Vec<f64> = (0..n)
            .map(|i| match m {
                0..=20 => (i % 97) as f64 / 1000.0,
                _ => (rows + i) as f64 * 0.001 + 0.5,
            })
            .collect();
        rows += n;
        meters.push((format!("M{m:03}"), ts, vals));
    }
    assert!(rows > GROUP_ROWS + DICT_VALUES);
    assert_eq!(round_trip(&meters), expected(&meters));
}

#[test]
fn odd_values_and_extreme_timestamps_survive() {
    let max = i64::MAX / 1000;
    let min = i64::MIN / 1000;
    let meters = vec![
        (
            "a".to_string(),
            vec![min, min + 1, -1, 0, 1, 17, max - 1, max],
            vec![
                f64::NAN,
                -0.0,
                0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1e300,
                -1e-300,
                2.5,
            ],
        ),
        ("b".to_string(), vec![5], vec![f64::NAN]),
        ("\u{e9}t\u{e9}".to_string(), vec![min, max], vec![0.0, -0.0]),
    ];
    assert_eq!(round_trip(&meters), expected(&meters));
    // A page of NaN only has no bounds: the value column then has no column index.
    let nan = vec![("n".to_string(), vec![1, 2], vec![f64::NAN, f64::NAN])];
    assert_eq!(round_trip(&nan), expected(&nan));
}

#[test]
fn milliseconds_beyond_64_bits_are_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("f.parquet");
    let mut f =
        ReadingsFile::create(&path, &schema(), ReadingsFile::props().build()).expect("create");
    let e = f.push("m", &[0, i64::MAX / 1000 + 1], &[1.0, 2.0]);
    assert!(e.is_err_and(|e| e.to_string().contains("millisecond range")));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_runs_round_trip(
        meters in proptest::collection::vec(
            (proptest::collection::vec((-3i64..4_000_000, 0u8..6), 1..300), 0u32..40),
            1..12,
        )
    ) {
        let meters: Vec<(String, Vec<i64>, Vec<f64>)> = meters
            .into_iter()
            .enumerate()
            .map(|(m, (steps, base))| {
                let mut t = -1_000_000_000i64;
                let (mut ts, mut vals) = (vec![], vec![]);
                for (step, v) in steps {
                    t += step.max(1);
                    ts.push(t);
                    vals.push(f64::from(base + u32::from(v)) / 8.0);
                }
                (format!("meter-{m:02}"), ts, vals)
            })
            .collect();
        prop_assert_eq!(round_trip(&meters), expected(&meters));
    }
}
