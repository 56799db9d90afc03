//! [`MeterTable`]: the readings of a snapshot as a DataFusion table.

use super::exec::{Meter, MeterScanExec, Part};
use super::filter::{classify, Selection, FLAG, METER_ID, TS};
use crate::store::Snapshot;
use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, Statistics};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// The readings of a [`Snapshot`] as a DataFusion table: `meter_id` (`Utf8View`), `ts`
/// (`Timestamp(Second, "UTC")`, the interval start), `value` (`Float64`, bit for bit the
/// stored value) and `flag` (the reading's quality [`Flag`](crate::Flag) as its HJ 212
/// letter, `N` for a normal reading: a dictionary of the eight letters with `Int8` keys,
/// as in [`readings_schema`](crate::arrow::readings_schema)), none nullable. A column is
/// built only when the query uses it. See the [module](super) for what the scan applies
/// itself.
#[derive(Clone)]
pub struct MeterTable {
    snapshot: Arc<Snapshot>,
}

impl std::fmt::Debug for MeterTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeterTable")
            .field("meters", &self.snapshot.meter_ids().len())
            .finish_non_exhaustive()
    }
}

impl MeterTable {
    /// The table of `snapshot`'s readings.
    pub fn new(snapshot: Arc<Snapshot>) -> MeterTable {
        MeterTable { snapshot }
    }

    /// The schema of every [`MeterTable`].
    pub fn schema_ref() -> SchemaRef {
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        SCHEMA
            .get_or_init(|| {
                Arc::new(Schema::new(vec![
                    Field::new(METER_ID, DataType::Utf8View, false),
                    Field::new(
                        TS,
                        DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
                        false,
                    ),
                    Field::new("value", DataType::Float64, false),
                    Field::new(
                        FLAG,
                        DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
                        false,
                    ),
                ]))
            })
            .clone()
    }

    /// The selected meters that have readings in `range`, sorted by id, with their row
    /// counts from the block index and whether each count is exact.
    fn counted(&self, sel: &Selection) -> Vec<(String, u64, bool)> {
        let mut out = Vec::new();
        let count = |id: &str, out: &mut Vec<(String, u64, bool)>| {
            let (rows, exact) = self.snapshot.indexed_rows(id, &sel.range);
            if rows > 0 {
                out.push((id.to_owned(), rows, exact));
            }
        };
        match &sel.ids {
            // An id the snapshot does not know selects nothing, as a filter would.
            Some(ids) => ids.iter().for_each(|id| count(id, &mut out)),
            None => {
                let mut ids: Vec<&String> = self.snapshot.meter_ids().iter().collect();
                ids.sort_unstable();
                ids.into_iter().for_each(|id| count(id, &mut out));
            }
        }
        out
    }
}

/// Splits meters (sorted, with row counts and whether each is exact) into at most `n`
/// runs of consecutive meters with about equal rows each.
fn partition(meters: Vec<(String, u64, bool)>, n: usize) -> Vec<Part> {
    let total: u64 = meters.iter().map(|m| m.1).sum();
    let n = n.max(1) as u64;
    let mut parts: Vec<Part> = Vec::new();
    let mut cur = Part::default();
    let mut done = 0u64;
    for (id, rows, exact) in meters {
        cur.meters.push(Meter {
            id,
            exact_rows: exact.then_some(rows),
        });
        cur.rows += rows;
        done += rows;
        // Close the run once it reaches its share of the rows so far.
        let k = parts.len() as u64 + 1;
        if done * n >= total * k && (parts.len() as u64) < n - 1 {
            parts.push(std::mem::take(&mut cur));
        }
    }
    if !cur.meters.is_empty() || parts.is_empty() {
        parts.push(cur);
    }
    parts
}

#[async_trait]
impl TableProvider for MeterTable {
    fn schema(&self) -> SchemaRef {
        MeterTable::schema_ref()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match classify(f) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        let meters = self.counted(&Selection::of(&[]));
        let rows = meters.iter().map(|m| m.1 as usize).sum();
        let exact = meters.iter().all(|m| m.2);
        Some(Statistics::new_unknown(&self.schema()).with_num_rows(precision(rows, exact)))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let sel = Selection::of(filters);
        let range: Range<i64> = sel.range.clone();
        let meters = match range.is_empty() {
            true => Vec::new(),
            false => self.counted(&sel),
        };
        let exact = meters.iter().all(|m| m.2);
        let parts = partition(meters, state.config().target_partitions());
        let projection = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema().fields().len()).collect(),
        };
        Ok(Arc::new(MeterScanExec::new(
            self.snapshot.clone(),
            parts,
            range,
            exact,
            projection,
            state.config().batch_size(),
            limit,
        )?))
    }
}

/// A row count as DataFusion's statistics.
pub(super) fn precision(rows: usize, exact: bool) -> Precision<usize> {
    match exact {
        true => Precision::Exact(rows),
        false => Precision::Inexact(rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_balanced_runs() {
        let m = |v: &[u64]| {
            v.iter()
                .enumerate()
                .map(|(i, &r)| (format!("M{i}"), r, true))
                .collect::<Vec<_>>()
        };
        let rows = |p: &[Part]| p.iter().map(|p| p.rows).collect::<Vec<_>>();
        assert_eq!(rows(&partition(m(&[10, 10, 10, 10]), 2)), vec![20, 20]);
        assert_eq!(rows(&partition(m(&[10, 10, 10]), 8)), vec![10, 10, 10]);
        assert_eq!(rows(&partition(m(&[1, 1, 30, 1]), 2)), vec![32, 1]);
        assert_eq!(rows(&partition(m(&[]), 4)), vec![0]);
        let p = partition(m(&[5; 100]), 3);
        assert_eq!(p.len(), 3);
        assert_eq!(p.iter().map(|p| p.meters.len()).sum::<usize>(), 100);
        assert!(rows(&p).iter().all(|&r| (160..=175).contains(&r)), "{p:?}");
    }
}
