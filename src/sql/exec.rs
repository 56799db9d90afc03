//! [`MeterScanExec`]: the physical scan of a [`MeterTable`](super::MeterTable), one
//! partition per run of meters, each read meter by meter through the snapshot's history
//! reads (which read only the blocks the index places in the range).

use super::external;
use super::table::{precision, MeterTable};
use crate::store::{History, Snapshot};
use datafusion::arrow::array::builder::make_view;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, RecordBatch, RecordBatchOptions, StringViewArray, TimestampSecondArray,
};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{internal_err, Result, Statistics};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, StatisticsArgs,
};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Consecutive meters (sorted by id) scanned by one partition, and their rows by the index.
#[derive(Debug, Default, Clone)]
pub(crate) struct Part {
    pub meters: Vec<String>,
    pub rows: u64,
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
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(parts.len()),
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
    ["meter_id", "ts", "value"].get(i).copied().unwrap_or("?")
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
    meters: std::vec::IntoIter<String>,
    range: Range<i64>,
    projection: Vec<usize>,
    schema: SchemaRef,
    batch_size: usize,
    /// Rows still to give under the limit.
    left: usize,
    /// The meter being read, its history and the rows of it already given.
    current: Option<(String, History, usize)>,
}

impl Reader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.left == 0 {
                return Ok(None);
            }
            if self.current.is_none() {
                let Some(id) = self.meters.next() else {
                    return Ok(None);
                };
                let h = self
                    .snapshot
                    .history(&id, self.range.clone())
                    .map_err(external)?;
                self.current = Some((id, h, 0));
            }
            let Some((id, h, at)) = &mut self.current else {
                continue;
            };
            let (ts, vals) = h.as_slices();
            let n = (ts.len() - *at).min(self.batch_size).min(self.left);
            if n == 0 {
                self.current = None;
                continue;
            }
            let (ts, vals) = (&ts[*at..*at + n], &vals[*at..*at + n]);
            *at += n;
            self.left -= n;
            let columns: Vec<ArrayRef> = self
                .projection
                .iter()
                .map(|&c| column(c, id, ts, vals))
                .collect();
            let opts = RecordBatchOptions::new().with_row_count(Some(n));
            let batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &opts)?;
            return Ok(Some(batch));
        }
    }
}

/// Column `c` of the table for `n` readings of meter `id`.
fn column(c: usize, id: &str, ts: &[i64], vals: &[f64]) -> ArrayRef {
    match c {
        0 => {
            // Every row the same view: inline for ids of up to 12 bytes, else pointing to
            // the id stored once in the one data buffer.
            let view = make_view(id.as_bytes(), 0, 0);
            let views = ScalarBuffer::from(vec![view; ts.len()]);
            let data = vec![Buffer::from(id.as_bytes())];
            Arc::new(StringViewArray::new(views, data, None))
        }
        1 => Arc::new(TimestampSecondArray::from(ts.to_vec()).with_timezone("UTC")),
        _ => Arc::new(Float64Array::from(vals.to_vec())),
    }
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
