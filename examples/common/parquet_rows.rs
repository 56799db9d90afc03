//! Parquet input of the import (`arrow` feature): the readings of a Parquet file, or of
//! every `*.parquet` file under a directory such as an `export_parquet` output, row by
//! row, each converted to `(meter_id, ts, value)` or to the reason it cannot be.

use super::catalog_file::Given;
use super::time::Tz;
use jiff::civil::DateTime;
use meterstore::arrow::arrow_array::cast::AsArray;
use meterstore::arrow::arrow_array::types::{
    Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt32Type,
};
use meterstore::arrow::arrow_array::{Array, ArrayRef, RecordBatch};
use meterstore::arrow::arrow_schema::{DataType, TimeUnit};
use meterstore::arrow::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use meterstore::arrow::METERS_FILE;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Rows decoded at a time.
const BATCH_ROWS: usize = 1 << 16;

/// Whether `path` is Parquet input: a directory, or a file that starts with `PAR1`.
pub fn is_parquet(path: &Path) -> bool {
    if path.is_dir() {
        return true;
    }
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"PAR1"
}

/// The reading files of `input`: the file itself, or every `*.parquet` file under the
/// directory but its top-level [`METERS_FILE`], sorted by path.
pub fn data_files(input: &Path) -> Result<Vec<PathBuf>, String> {
    if !input.is_dir() {
        return Ok(vec![input.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![input.to_owned()];
    while let Some(d) = dirs.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for e in entries {
            let p = e.map_err(|e| format!("{}: {e}", d.display()))?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") && p != input.join(METERS_FILE)
            {
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no .parquet files", input.display()));
    }
    out.sort();
    Ok(out)
}

/// Rows in `files`, from their footers.
pub fn count_rows(files: &[PathBuf]) -> Result<u64, String> {
    let mut n = 0;
    for f in files {
        n += reader(f)?.metadata().file_metadata().num_rows().max(0) as u64;
    }
    Ok(n)
}

fn reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format!("{}: {e}", path.display()))
}

/// One converted row: meter id, UTC Unix seconds, value.
pub type Row<'a> = (&'a str, i64, f64);

/// What [`for_each_row`] calls per row: its 1-based number, and the row or why it is bad.
pub type OnRow<'f, E> = dyn FnMut(u64, Result<Row<'_>, String>) -> Result<(), E> + 'f;

/// Names of the timestamp column, lowercase (as in the CSV import).
const TS_NAMES: [&str; 4] = ["ts", "timestamp", "time", "datetime"];

/// Calls `f` with the 1-based row number and the converted row (or why it is bad) of
/// every row of `path`, in order; returns the value column's name. The file needs a `meter_id` string column, one
/// timestamp column (a Parquet timestamp in any unit, whole seconds, read in `tz` when it
/// has no time zone; or 64-bit Unix seconds) and exactly one more column, the value
/// (floating point, 32- or 64-bit integer, or decimal).
pub fn for_each_row<E: From<String>>(
    path: &Path,
    tz: &Tz,
    f: &mut OnRow<'_, E>,
) -> Result<String, E> {
    let at = |e: &dyn std::fmt::Display| E::from(format!("{}: {e}", path.display()));
    let builder = reader(path).map_err(E::from)?;
    let schema = builder.schema().clone();
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().trim().to_lowercase())
        .collect();
    let list = names.join(",");
    let meter = names
        .iter()
        .position(|n| n == "meter_id")
        .ok_or_else(|| at(&format!("the columns ({list}) have no meter_id")))?;
    let ts_cols: Vec<usize> = (0..names.len())
        .filter(|&i| TS_NAMES.contains(&names[i].as_str()))
        .collect();
    let [ts] = ts_cols[..] else {
        return Err(at(&format!(
            "the columns ({list}) need exactly one timestamp column named {}",
            TS_NAMES.join(", ")
        )));
    };
    let others: Vec<usize> = (0..names.len())
        .filter(|&i| i != meter && i != ts)
        .collect();
    let [value] = others[..] else {
        return Err(at(&format!(
            "the columns ({list}) need exactly one value column besides meter_id and {}",
            names[ts]
        )));
    };
    let rdr = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| at(&e))?;
    let mut row = 0u64;
    for batch in rdr {
        let batch: RecordBatch = batch.map_err(|e| at(&e))?;
        let ids = Ids::new(batch.column(meter)).map_err(|e| at(&e))?;
        let tss = Times::new(batch.column(ts), tz).map_err(|e| at(&e))?;
        let vals = Values::new(batch.column(value)).map_err(|e| at(&e))?;
        for i in 0..batch.num_rows() {
            row += 1;
            let parsed = (|| {
                let id = ids.get(i).ok_or("meter_id is null")?;
                let t = tss.get(i)?;
                let v = vals.get(i)?;
                Ok((id, t, v))
            })();
            f(row, parsed)?;
        }
    }
    Ok(names[value].clone())
}

/// The meter id column.
enum Ids<'a> {
    Plain(Vec<Option<&'a str>>),
    Dict(Vec<Option<&'a str>>, Vec<usize>, &'a dyn Array),
}

impl<'a> Ids<'a> {
    fn new(col: &'a ArrayRef) -> Result<Ids<'a>, String> {
        let strings = |a: &'a dyn Array| -> Option<Vec<Option<&'a str>>> {
            if let Some(s) = a.as_string_opt::<i32>() {
                return Some(s.iter().collect());
            }
            if let Some(s) = a.as_string_opt::<i64>() {
                return Some(s.iter().collect());
            }
            a.as_string_view_opt().map(|s| s.iter().collect())
        };
        if let Some(d) = col.as_any_dictionary_opt() {
            let vals = strings(d.values().as_ref())
                .ok_or_else(|| format!("meter_id is {}, not strings", col.data_type()))?;
            return Ok(Ids::Dict(vals, d.normalized_keys(), col.as_ref()));
        }
        strings(col.as_ref())
            .map(Ids::Plain)
            .ok_or_else(|| format!("meter_id is {}, not strings", col.data_type()))
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Ids::Plain(v) => v[i],
            Ids::Dict(vals, keys, col) => match col.is_null(i) {
                true => None,
                false => vals.get(keys[i]).copied().flatten(),
            },
        }
    }
}

/// The timestamp column, as whole seconds per unit.
struct Times<'a> {
    col: &'a ArrayRef,
    /// Units per second; 1 for Unix seconds.
    per_s: i64,
    /// The zone of a timestamp without one.
    local: Option<&'a Tz>,
}

impl<'a> Times<'a> {
    fn new(col: &'a ArrayRef, tz: &'a Tz) -> Result<Times<'a>, String> {
        let (per_s, zoned) = match col.data_type() {
            DataType::Int64 => (1, true),
            DataType::Timestamp(unit, zone) => (
                match unit {
                    TimeUnit::Second => 1,
                    TimeUnit::Millisecond => 1_000,
                    TimeUnit::Microsecond => 1_000_000,
                    TimeUnit::Nanosecond => 1_000_000_000,
                },
                zone.is_some(),
            ),
            t => return Err(format!("the timestamp column is {t}, not a timestamp")),
        };
        Ok(Times {
            col,
            per_s,
            local: (!zoned).then_some(tz),
        })
    }

    fn get(&self, i: usize) -> Result<i64, String> {
        if self.col.is_null(i) {
            return Err("ts is null".into());
        }
        let c = self.col;
        let raw = match c.data_type() {
            DataType::Int64 => c.as_primitive::<Int64Type>().value(i),
            DataType::Timestamp(TimeUnit::Second, _) => {
                c.as_primitive::<TimestampSecondType>().value(i)
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                c.as_primitive::<TimestampMillisecondType>().value(i)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                c.as_primitive::<TimestampMicrosecondType>().value(i)
            }
            _ => c.as_primitive::<TimestampNanosecondType>().value(i),
        };
        if raw % self.per_s != 0 {
            return Err(format!(
                "ts {raw} (1/{} s) has a fraction of a second",
                self.per_s
            ));
        }
        let secs = raw / self.per_s;
        match self.local {
            None => Ok(secs),
            Some(tz) => {
                // A timestamp without a zone is a local wall-clock time, read in `tz`.
                let dt: DateTime = jiff::Timestamp::from_second(secs)
                    .map_err(|e| format!("ts {secs}: {e}"))?
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .datetime();
                tz.instant(dt)
            }
        }
    }
}

/// The value column.
struct Values<'a> {
    col: &'a ArrayRef,
    /// `10^scale` of a decimal column.
    div: f64,
}

impl<'a> Values<'a> {
    fn new(col: &'a ArrayRef) -> Result<Values<'a>, String> {
        let div = match col.data_type() {
            DataType::Float64 | DataType::Float32 | DataType::Int32 | DataType::Int64 => 1.0,
            DataType::Decimal128(_, s) if (0..=22).contains(s) => 10f64.powi(i32::from(*s)),
            t => return Err(format!("the value column is {t}, not a number")),
        };
        Ok(Values { col, div })
    }

    fn get(&self, i: usize) -> Result<f64, String> {
        let c = self.col;
        if c.is_null(i) {
            return Err("value is null".into());
        }
        let v = match c.data_type() {
            DataType::Float64 => c.as_primitive::<Float64Type>().value(i),
            DataType::Float32 => f64::from(c.as_primitive::<Float32Type>().value(i)),
            DataType::Int32 => f64::from(c.as_primitive::<Int32Type>().value(i)),
            DataType::Int64 => {
                let n = c.as_primitive::<Int64Type>().value(i);
                if n.unsigned_abs() > 1 << 53 {
                    return Err(format!("value {n} is not exact as a double"));
                }
                n as f64
            }
            _ => {
                // Both the integer (below 2^53) and 10^scale (up to 10^22) are exact in
                // f64, so the division is the correctly rounded decimal.
                let n = c.as_primitive::<Decimal128Type>().value(i);
                if n.unsigned_abs() > 1 << 53 {
                    return Err(format!("decimal value {n} is not exact as a double"));
                }
                n as f64 / self.div
            }
        };
        if !v.is_finite() {
            return Err(format!("value {v} is not finite"));
        }
        Ok(v)
    }
}

/// One meter of a [`METERS_FILE`] catalog.
pub struct MeterRow {
    /// Its 1-based row number.
    pub row: u64,
    /// `meter_id, enterprise_id, role, facility, district`, as the CSV catalog spells
    /// them (empty where null).
    pub fields: [String; 5],
    /// The kind, interval (null: irregular) and unit it is registered with, or why they
    /// are unreadable.
    pub given: Result<Given, String>,
}

/// The catalog file's path and its meters.
pub type MetersFile = (PathBuf, Vec<MeterRow>);

/// The meters of `input`'s [`METERS_FILE`] (an `export_parquet` output); `None` when
/// `input` is no directory or has no such file.
pub fn read_meters(input: &Path) -> Result<Option<MetersFile>, String> {
    let path = input.join(METERS_FILE);
    if !input.is_dir() || !path.exists() {
        return Ok(None);
    }
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let rdr = reader(&path)?.build().map_err(|e| at(&e))?;
    let mut out = Vec::new();
    for batch in rdr {
        let batch = batch.map_err(|e| at(&e))?;
        let text = |name: &str| -> Result<Option<Vec<Option<&str>>>, String> {
            let Some(col) = batch.column_by_name(name) else {
                return Ok(None);
            };
            col.as_string_opt::<i32>()
                .map(|s| Some(s.iter().collect()))
                .ok_or_else(|| at(&format!("{name} is {}, not strings", col.data_type())))
        };
        let ids = text("meter_id")?.ok_or_else(|| at(&"no meter_id column"))?;
        let strings = [
            text("enterprise_id")?,
            text("role")?,
            text("facility")?,
            text("district")?,
        ];
        let (kind, unit) = (text("kind")?, text("unit")?);
        let interval = batch
            .column_by_name("interval_s")
            .map(|c| {
                c.as_primitive_opt::<UInt32Type>()
                    .ok_or_else(|| at(&format!("interval_s is {}, not UInt32", c.data_type())))
            })
            .transpose()?;
        fn get<'a>(c: &Option<Vec<Option<&'a str>>>, i: usize) -> Option<&'a str> {
            c.as_ref().and_then(|c| c[i])
        }
        for (i, id) in ids.iter().enumerate() {
            let given = (|| {
                let interval_s = match interval {
                    Some(c) if c.is_null(i) => Some(None),
                    Some(c) if c.value(i) == 0 => return Err("interval_s is 0".to_owned()),
                    Some(c) => Some(Some(c.value(i))),
                    None => None,
                };
                let kind = match get(&kind, i) {
                    Some(k) => Some(
                        meterstore::monitor::parse_kind(k)
                            .ok_or_else(|| format!("unknown kind {k:?}"))?,
                    ),
                    None => None,
                };
                let unit = get(&unit, i).map(str::to_owned);
                Ok(Given {
                    interval_s,
                    kind,
                    unit,
                })
            })();
            let owned = |s: Option<&str>| s.unwrap_or_default().to_owned();
            let [e, r, f, d] = &strings;
            let fields = [*id, get(e, i), get(r, i), get(f, i), get(d, i)].map(owned);
            let given = match fields[0].is_empty() {
                true => Err("meter_id is null or empty".to_owned()),
                false => given,
            };
            out.push(MeterRow {
                row: out.len() as u64 + 1,
                fields,
                given,
            });
        }
    }
    Ok(Some((path, out)))
}
