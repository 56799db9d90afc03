//! Record batches of histories, aggregates, day/night results and the meter catalog.

use super::shard_of;
use crate::monitor::kind_name;
use crate::monitor::Catalog;
use crate::query::BucketValue;
use crate::scan::{DayNight, EnterpriseDayNight, MeterDayNight};
use crate::store::{History, Snapshot};
use crate::types::Flag;
use arrow_array::types::{Int32Type, Int8Type};
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int8Array, RecordBatch,
    StringArray, TimestampSecondArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The time zone of every timestamp column: Unix seconds are UTC.
const UTC: &str = "UTC";

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Second, Some(UTC.into()))
}

fn dict_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn flag_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
}

/// The key of `f` in the flag column's dictionary: its place in [`Flag::ALL`].
fn flag_key(f: Flag) -> i8 {
    Flag::ALL.iter().position(|&g| g == f).unwrap_or(0) as i8
}

/// A batch from columns that match `schema` by construction (same count, types and
/// lengths, no nulls in a non-nullable column).
fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema, columns).expect("the columns are built to match the schema")
}

/// The schema of readings: `meter_id` (dictionary of UTF-8 ids, `Int32` keys), `ts`
/// (`Timestamp(Second, "UTC")`, the start of the interval), `value` (`Float64`) and `flag`
/// (the reading's quality [`Flag`] as its one-letter HJ 212 code, `N` for a normal
/// reading: a dictionary of the eight letters with `Int8` keys, one byte a row), none
/// nullable.
pub fn readings_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("meter_id", dict_type(), false),
                Field::new("ts", ts_type(), false),
                Field::new("value", DataType::Float64, false),
                Field::new("flag", flag_type(), false),
            ]))
        })
        .clone()
}

/// Builds a [`readings_schema`] batch from meter histories; each meter's id is stored
/// once in the batch's dictionary, the values bit for bit.
#[derive(Debug, Default)]
pub struct ReadingsBuilder {
    ids: Vec<String>,
    key_of: HashMap<String, i32>,
    keys: Vec<i32>,
    ts: Vec<i64>,
    vals: Vec<f64>,
    /// Keys of the flag column (see [`flag_key`]).
    flags: Vec<i8>,
    /// Rows reserved after each [`finish`](Self::finish).
    capacity: usize,
}

impl ReadingsBuilder {
    /// An empty builder.
    pub fn new() -> ReadingsBuilder {
        ReadingsBuilder::default()
    }

    /// An empty builder with room for `rows` rows, and again after each
    /// [`finish`](Self::finish) (each batch takes the buffers it was built in).
    pub fn with_capacity(rows: usize) -> ReadingsBuilder {
        let mut b = ReadingsBuilder {
            capacity: rows,
            ..ReadingsBuilder::default()
        };
        b.reserve();
        b
    }

    fn reserve(&mut self) {
        self.keys.reserve(self.capacity);
        self.ts.reserve(self.capacity);
        self.vals.reserve(self.capacity);
        self.flags.reserve(self.capacity);
    }

    /// Adds the readings of `history` not yet iterated, with their flags, as rows of
    /// `meter`.
    pub fn push(&mut self, meter: &str, history: &History) {
        let (ts, vals) = history.as_slices();
        self.push_slices(meter, ts, vals, history.sparse_flags());
    }

    /// Adds `ts[i], vals[i], flags[i]` as rows of `meter`; the slices have equal lengths,
    /// but `flags` may be empty for readings that are all [`Flag::Normal`].
    pub(crate) fn push_slices(&mut self, meter: &str, ts: &[i64], vals: &[f64], flags: &[Flag]) {
        if ts.is_empty() {
            return;
        }
        let key = match self.key_of.get(meter) {
            Some(&k) => k,
            None => {
                let k = self.ids.len() as i32;
                self.ids.push(meter.to_owned());
                self.key_of.insert(meter.to_owned(), k);
                k
            }
        };
        self.keys.resize(self.keys.len() + ts.len(), key);
        self.ts.extend_from_slice(ts);
        self.vals.extend_from_slice(vals);
        match flags.is_empty() {
            true => self.flags.resize(self.ts.len(), flag_key(Flag::Normal)),
            false => self.flags.extend(flags.iter().map(|&f| flag_key(f))),
        }
    }

    /// Rows added since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether no row was added since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The rows added so far, in the order they were added, as one batch; the builder is
    /// empty afterwards.
    pub fn finish(&mut self) -> RecordBatch {
        let ids = StringArray::from_iter_values(self.ids.drain(..));
        self.key_of.clear();
        let keys = Int32Array::from(std::mem::take(&mut self.keys));
        let meter: DictionaryArray<Int32Type> =
            DictionaryArray::try_new(keys, Arc::new(ids)).expect("keys index the dictionary");
        let ts = TimestampSecondArray::from(std::mem::take(&mut self.ts)).with_timezone(UTC);
        let vals = Float64Array::from(std::mem::take(&mut self.vals));
        let letters = StringArray::from_iter_values(Flag::ALL.iter().map(|f| f.to_string()));
        let flags: DictionaryArray<Int8Type> = DictionaryArray::try_new(
            Int8Array::from(std::mem::take(&mut self.flags)),
            Arc::new(letters),
        )
        .expect("keys index the dictionary");
        self.reserve();
        batch(
            readings_schema(),
            vec![
                Arc::new(meter),
                Arc::new(ts),
                Arc::new(vals),
                Arc::new(flags),
            ],
        )
    }
}

/// Per-bucket aggregates ([`Store::aggregate`](crate::Store::aggregate)) of several
/// meters as one batch: `meter_id` (UTF-8), `start` (`Timestamp(Second, "UTC")`, the
/// bucket's start), `value` (`Float64`) and `count` (`UInt64`, readings in the bucket).
pub fn aggregates_batch<'a>(
    per_meter: impl IntoIterator<Item = (&'a str, &'a [BucketValue])>,
) -> RecordBatch {
    let (mut ids, mut starts, mut vals, mut counts) = (vec![], vec![], vec![], vec![]);
    for (meter, buckets) in per_meter {
        for b in buckets {
            ids.push(meter);
            starts.push(b.start);
            vals.push(b.value);
            counts.push(b.count);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("meter_id", DataType::Utf8, false),
        Field::new("start", ts_type(), false),
        Field::new("value", DataType::Float64, false),
        Field::new("count", DataType::UInt64, false),
    ]));
    batch(
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(TimestampSecondArray::from(starts).with_timezone(UTC)),
            Arc::new(Float64Array::from(vals)),
            Arc::new(UInt64Array::from(counts)),
        ],
    )
}

/// The [`DayNight`] columns after the id: energies and hours (`Float64`), average powers
/// and ratio (`Float64`, null where the result has none) and `flagged` (`Boolean`).
fn day_night_fields() -> Vec<Field> {
    let f = |name: &str, nullable: bool| Field::new(name, DataType::Float64, nullable);
    vec![
        f("day_kwh", false),
        f("night_kwh", false),
        f("day_hours", false),
        f("night_hours", false),
        f("day_expected_hours", false),
        f("night_expected_hours", false),
        f("day_kw", true),
        f("night_kw", true),
        f("ratio", true),
        Field::new("flagged", DataType::Boolean, false),
    ]
}

fn day_night_columns(rows: &[&DayNight]) -> Vec<ArrayRef> {
    let col = |f: fn(&DayNight) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| f(r))))
    };
    let opt = |f: fn(&DayNight) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| f(r))))
    };
    vec![
        col(|r| r.day_kwh),
        col(|r| r.night_kwh),
        col(|r| r.day_hours),
        col(|r| r.night_hours),
        col(|r| r.day_expected_hours),
        col(|r| r.night_expected_hours),
        opt(|r| r.day_kw),
        opt(|r| r.night_kw),
        opt(|r| r.ratio),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.flagged)),
        )),
    ]
}

/// Day/night scan results ([`Store::day_night`](crate::Store::day_night)), one row per
/// meter over the whole range: `meter_id` (UTF-8) and the [`DayNight`] figures under
/// their field names (`day_kwh`, ..., `ratio` null where there is none, `flagged`).
pub fn day_night_batch(meters: &[MeterDayNight]) -> RecordBatch {
    let mut fields = vec![Field::new("meter_id", DataType::Utf8, false)];
    fields.extend(day_night_fields());
    let ids = StringArray::from_iter_values(meters.iter().map(|m| m.meter.as_str()));
    let totals: Vec<&DayNight> = meters.iter().map(|m| &m.total).collect();
    let mut columns: Vec<ArrayRef> = vec![Arc::new(ids)];
    columns.extend(day_night_columns(&totals));
    batch(Arc::new(Schema::new(fields)), columns)
}

/// Enterprise results ([`EnterpriseDayNight::aggregate`]), one row per enterprise:
/// `enterprise_id` (UTF-8), `meters` (`UInt32`, members with readings) and the
/// [`DayNight`] figures as in [`day_night_batch`].
pub fn enterprise_day_night_batch(enterprises: &[EnterpriseDayNight]) -> RecordBatch {
    let mut fields = vec![
        Field::new("enterprise_id", DataType::Utf8, false),
        Field::new("meters", DataType::UInt32, false),
    ];
    fields.extend(day_night_fields());
    let ids = StringArray::from_iter_values(enterprises.iter().map(|e| e.enterprise.as_str()));
    let n = UInt32Array::from_iter_values(enterprises.iter().map(|e| e.meters.len() as u32));
    let totals: Vec<&DayNight> = enterprises.iter().map(|e| &e.total).collect();
    let mut columns: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(n)];
    columns.extend(day_night_columns(&totals));
    batch(Arc::new(Schema::new(fields)), columns)
}

/// The meters of a snapshot, sorted by id, with their metadata and what `catalog` says
/// of them: `meter_id`, `shard` (`UInt32`, [`shard_of`] among `shards`), `kind`
/// ([`kind_name`]), `interval_s` (`UInt32`, null for an irregular meter), `unit`, and
/// `enterprise_id`, `role`, `facility`, `district` (UTF-8, null for a meter the catalog
/// does not list).
pub fn meters_batch(snap: &Snapshot, catalog: &Catalog, shards: u32) -> RecordBatch {
    let mut ids: Vec<&str> = snap.meter_ids().iter().map(String::as_str).collect();
    ids.sort_unstable();
    let metas: Vec<_> = ids.iter().map(|id| snap.meter_meta(id)).collect();
    let cat: Vec<_> = ids.iter().map(|id| catalog.meter(id)).collect();
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let schema = Arc::new(Schema::new(vec![
        s("meter_id", false),
        Field::new("shard", DataType::UInt32, false),
        s("kind", false),
        Field::new("interval_s", DataType::UInt32, true),
        s("unit", false),
        s("enterprise_id", true),
        s("role", true),
        s("facility", true),
        s("district", true),
    ]));
    let district = |m: &crate::monitor::CatalogMeter| {
        catalog
            .enterprise(&m.enterprise)
            .map(|e| e.district.as_str())
            .filter(|d| !d.is_empty())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(ids.iter())),
        Arc::new(UInt32Array::from_iter_values(
            ids.iter().map(|id| shard_of(id, shards)),
        )),
        Arc::new(StringArray::from_iter_values(metas.iter().map(|m| {
            m.map_or(kind_name(crate::Quantity::IntervalEnergy), |m| {
                kind_name(m.kind)
            })
        }))),
        Arc::new(UInt32Array::from_iter(
            metas.iter().map(|m| m.and_then(|m| m.interval_s)),
        )),
        Arc::new(StringArray::from_iter_values(
            metas.iter().map(|m| m.map_or("", |m| m.unit.as_str())),
        )),
        Arc::new(StringArray::from_iter(
            cat.iter().map(|c| c.map(|c| c.enterprise.as_str())),
        )),
        Arc::new(StringArray::from_iter(
            cat.iter().map(|c| c.map(|c| c.role.as_str())),
        )),
        Arc::new(StringArray::from_iter(cat.iter().map(|c| {
            c.map(|c| c.facility.as_str()).filter(|f| !f.is_empty())
        }))),
        Arc::new(StringArray::from_iter(
            cat.iter().map(|c| c.and_then(district)),
        )),
    ];
    batch(schema, columns)
}
