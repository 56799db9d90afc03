//! [`MeterScanExec`]: the physical scan of a [`MeterTable`](super::MeterTable), one
//! partition per run of meters, each read meter by meter through the snapshot's history
//! reads (which read only the blocks the index places in the range).
//!
//! The scan tells DataFusion what holds of its output, so that plans above it need no
//! shuffle or sort to learn it again: each partition's rows are sorted by `(meter_id, ts)`
//! (meters in byte order of their ids, each meter's readings in time order, one per
//! timestamp), and the partitions are ranges of meter ids (range partitioning on
//! `meter_id`, split at the first id of each partition after the first), so every meter's
//! rows are in one partition. A `GROUP BY meter_id` then aggregates each partition alone,
//! in sorted (streaming) mode, without repartitioning rows by a hash of the id.

use super::external;
use super::filter::{FLAG, METER_ID, TS};
use super::table::{precision, MeterTable};
use crate::store::{History, Snapshot};
use crate::types::Flag;
use datafusion::arrow::array::builder::make_view;
use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, Int8Array, RecordBatch, RecordBatchOptions,
    StringArray, StringViewArray, TimestampSecondArray,
};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{Int8Type, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{internal_err, Result, ScalarValue, Statistics};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, PhysicalExpr, PhysicalSortExpr, RangePartitioning,
    SplitPoint,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, StatisticsArgs,
};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// The columns of the table, in schema order.
const COLUMNS: [&str; 4] = [METER_ID, TS, "value", FLAG];
const METER_ID_COL: usize = 0;
const TS_COL: usize = 1;
const VALUE_COL: usize = 2;

/// Consecutive meters (sorted by id) scanned by one partition, and their rows by the index.
#[derive(Debug, Default, Clone)]
pub(crate) struct Part {
    pub meters: Vec<Meter>,
    pub rows: u64,
}

/// A meter to scan: its id, and its row count in the range when the block index gives
/// it exactly.
#[derive(Debug, Clone)]
pub(crate) struct Meter {
    pub id: String,
    pub exact_rows: Option<u64>,
}

/// The scan of a [`MeterTable`](super::MeterTable): the selected meters, split into
/// partitions, over one time range.
pub(crate) struct MeterScanExec {
    snapshot: Arc<Snapshot>,
    parts: Vec<Part>,
    range: Range<i64>,
    /// Whether every part's row count is exact.
    exact: bool,
    projection: Vec<usize>,
    schema: SchemaRef,
    batch_size: usize,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
}

impl MeterScanExec {
    pub(crate) fn new(
        snapshot: Arc<Snapshot>,
        parts: Vec<Part>,
        range: Range<i64>,
        exact: bool,
        projection: Vec<usize>,
        batch_size: usize,
        limit: Option<usize>,
    ) -> Result<MeterScanExec> {
        let schema = Arc::new(MeterTable::schema_ref().project(&projection)?);
        let properties = PlanProperties::new(
            EquivalenceProperties::new_with_orderings(schema.clone(), [ordering(&projection)]),
            partitioning(&projection, &parts)?,
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(MeterScanExec {
            snapshot,
            parts,
            range,
            exact,
            projection,
            schema,
            batch_size: batch_size.max(1),
            limit,
            properties: Arc::new(properties),
        })
    }

    fn rows(&self, partition: Option<usize>) -> usize {
        let rows: u64 = match partition {
            Some(p) => self.parts.get(p).map_or(0, |p| p.rows),
            None => self.parts.iter().map(|p| p.rows).sum(),
        };
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        self.limit.map_or(rows, |l| rows.min(l))
    }
}

impl fmt::Debug for MeterScanExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.fmt_as(DisplayFormatType::Default, f)
    }
}

impl DisplayAs for MeterScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let meters: usize = self.parts.iter().map(|p| p.meters.len()).sum();
        let names: Vec<&str> = self.projection.iter().map(|&i| field(i)).collect();
        write!(
            f,
            "MeterScanExec: meters={meters}, range={}..{}, partitions={}, rows={} ({}), \
             projection=[{}]",
            self.range.start,
            self.range.end,
            self.parts.len(),
            self.rows(None),
            if self.exact { "exact" } else { "at most" },
            names.join(", ")
        )?;
        if let Some(l) = self.limit {
            write!(f, ", limit={l}")?;
        }
        Ok(())
    }
}

fn field(i: usize) -> &'static str {
    COLUMNS.get(i).copied().unwrap_or("?")
}

/// Column `c` of the table, ascending, as a sort key of the `projection`'s output, if
/// it is projected.
fn sort_key(projection: &[usize], c: usize) -> Option<PhysicalSortExpr> {
    let at = projection.iter().position(|&p| p == c)?;
    Some(PhysicalSortExpr::new(
        Arc::new(Column::new(COLUMNS[c], at)),
        SortOptions::default(),
    ))
}

/// The order of each partition's rows: by meter id, then by time (a meter's readings have
/// distinct timestamps). Without the id column the ids still ascend but the times do not
/// (they restart with each meter), so the ordering is `meter_id` alone, `meter_id, ts`,
/// or none.
fn ordering(projection: &[usize]) -> Vec<PhysicalSortExpr> {
    let Some(id) = sort_key(projection, METER_ID_COL) else {
        return Vec::new();
    };
    std::iter::once(id)
        .chain(sort_key(projection, TS_COL))
        .collect()
}

/// How rows are spread over the partitions: by ranges of meter ids (each part holds
/// consecutive ids, and `parts` are in id order), when the id column is projected and
/// there are several parts.
fn partitioning(projection: &[usize], parts: &[Part]) -> Result<Partitioning> {
    let key = sort_key(projection, METER_ID_COL).and_then(|k| LexOrdering::new([k]));
    let Some(key) = key.filter(|_| parts.len() > 1) else {
        return Ok(Partitioning::UnknownPartitioning(parts.len()));
    };
    // Part `i > 0` starts at its first id (a part has meters unless it is the only one).
    let splits: Option<Vec<SplitPoint>> = parts[1..]
        .iter()
        .map(|p| {
            let first = p.meters.first()?.id.clone();
            Some(SplitPoint::new(vec![ScalarValue::Utf8View(Some(first))]))
        })
        .collect();
    Ok(match splits {
        Some(s) => Partitioning::Range(RangePartitioning::try_new(key, s)?),
        None => Partitioning::UnknownPartitioning(parts.len()),
    })
}

impl ExecutionPlan for MeterScanExec {
    fn name(&self) -> &str {
        "MeterScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return internal_err!("MeterScanExec has no children");
        }
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some(part) = self.parts.get(partition) else {
            return internal_err!(
                "MeterScanExec partition {partition} of {}",
                self.parts.len()
            );
        };
        let reader = Reader {
            snapshot: self.snapshot.clone(),
            meters: part.meters.clone().into_iter(),
            ids_only: self.projection.iter().all(|&c| c == METER_ID_COL),
            range: self.range.clone(),
            projection: self.projection.clone(),
            schema: self.schema.clone(),
            batch_size: self.batch_size,
            left: self.limit.unwrap_or(usize::MAX),
            current: None,
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(reader),
        )))
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let rows = self.rows(args.partition());
        Ok(Arc::new(
            Statistics::new_unknown(&self.schema).with_num_rows(precision(rows, self.exact)),
        ))
    }
}

/// One partition's batches: its meters' readings in id and time order, `batch_size` rows
/// at a time (the last one of a meter may be shorter), until the limit.
struct Reader {
    snapshot: Arc<Snapshot>,
    meters: std::vec::IntoIter<Meter>,
    /// Whether no projected column but the id needs the readings themselves.
    ids_only: bool,
    range: Range<i64>,
    projection: Vec<usize>,
    schema: SchemaRef,
    batch_size: usize,
    /// Rows still to give under the limit.
    left: usize,
    /// The meter being read, its readings and the rows of it already given.
    current: Option<(String, Rows, usize)>,
}

/// The readings of one meter as a partition gives them.
enum Rows {
    /// Read from the store.
    Read(History),
    /// Only counted: when no projected column but the id needs the readings and the
    /// block index counts them exactly, no block is read.
    Counted(usize),
}

impl Reader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.left == 0 {
                return Ok(None);
            }
            if self.current.is_none() {
                let Some(m) = self.meters.next() else {
                    return Ok(None);
                };
                let counted = m.exact_rows.and_then(|n| usize::try_from(n).ok());
                let rows = match counted.filter(|_| self.ids_only) {
                    Some(n) => Rows::Counted(n),
                    None => Rows::Read(
                        self.snapshot
                            .history(&m.id, self.range.clone())
                            .map_err(external)?,
                    ),
                };
                self.current = Some((m.id, rows, 0));
            }
            let Some((id, rows, at)) = &mut self.current else {
                continue;
            };
            let total = match rows {
                Rows::Read(h) => h.as_slices().0.len(),
                Rows::Counted(n) => *n,
            };
            let n = (total - *at).min(self.batch_size).min(self.left);
            if n == 0 {
                self.current = None;
                continue;
            }
            let span = *at..*at + n;
            let (ts, vals, flags) = match rows {
                Rows::Read(h) => {
                    let (ts, vals) = h.as_slices();
                    let flags = match h.sparse_flags() {
                        [] => &[][..],
                        f => &f[span.clone()],
                    };
                    (&ts[span.clone()], &vals[span], flags)
                }
                Rows::Counted(_) => (&[][..], &[][..], &[][..]),
            };
            *at += n;
            self.left -= n;
            let columns: Vec<ArrayRef> = self
                .projection
                .iter()
                .map(|&c| column(c, id, n, ts, vals, flags))
                .collect();
            let opts = RecordBatchOptions::new().with_row_count(Some(n));
            let batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &opts)?;
            return Ok(Some(batch));
        }
    }
}

/// Column `c` of the table for `n` readings of meter `id`: `ts`, `vals` and `flags` (the
/// last empty when all are [`Flag::Normal`]) hold them where the column needs them.
fn column(c: usize, id: &str, n: usize, ts: &[i64], vals: &[f64], flags: &[Flag]) -> ArrayRef {
    match c {
        METER_ID_COL => {
            // Every row the same view: inline for ids of up to 12 bytes (the array then
            // has no data buffer, which lets hashing read the views alone), else pointing
            // to the id stored once in the one data buffer.
            let view = make_view(id.as_bytes(), 0, 0);
            let views = ScalarBuffer::from(vec![view; n]);
            let data = match id.len() <= 12 {
                true => Vec::new(),
                false => vec![Buffer::from(id.as_bytes())],
            };
            Arc::new(StringViewArray::new(views, data, None))
        }
        TS_COL => Arc::new(TimestampSecondArray::from(ts.to_vec()).with_timezone("UTC")),
        VALUE_COL => Arc::new(Float64Array::from(vals.to_vec())),
        // The flag column.
        _ => {
            let keys = match flags.is_empty() {
                true => vec![flag_key(Flag::Normal); n],
                false => flags.iter().map(|&f| flag_key(f)).collect(),
            };
            let keys = Int8Array::from(keys);
            // The keys index the eight letters by construction.
            Arc::new(DictionaryArray::<Int8Type>::new(keys, flag_letters()))
        }
    }
}

/// The dictionary of the flag column: the letters of [`Flag::ALL`], in that order.
fn flag_letters() -> ArrayRef {
    static LETTERS: OnceLock<ArrayRef> = OnceLock::new();
    LETTERS
        .get_or_init(|| {
            Arc::new(StringArray::from_iter_values(
                Flag::ALL.iter().map(|f| f.to_string()),
            ))
        })
        .clone()
}

/// The key of `f` in [`flag_letters`].
fn flag_key(f: Flag) -> i8 {
    Flag::ALL.iter().position(|&g| g == f).unwrap_or(0) as i8
}

impl Iterator for Reader {
    type Item = Result<RecordBatch>;
    fn next(&mut self) -> Option<Result<RecordBatch>> {
        match self.next_batch() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => {
                // One error ends the partition.
                self.left = 0;
                Some(Err(e))
            }
        }
    }
}
