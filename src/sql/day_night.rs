//! The `day_night` and `day_night_enterprise` table functions: the native day/night scan
//! as a table.

use super::{external, membership, Shard};
use crate::scan::{DayNight, DayNightScan, DayWindow, EnterpriseDayNight, MeterFilter, Zone};
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, DataFusionError, Result, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use jiff::civil::{Date, DateTime};
use jiff::Timestamp;
use std::ops::Range;
use std::sync::Arc;

/// The table function `day_night(from, to, day_window, tz, threshold)` (or, per
/// enterprise, `day_night_enterprise(..)`) over the snapshots [`register`](super::register)
/// took.
///
/// - `from`, `to`: the range, `to` exclusive: an RFC 3339 instant
///   (`'2026-01-01T00:00:00+08:00'`), a local date-time `'YYYY-MM-DD HH:MM[:SS]'` or a local
///   date `'YYYY-MM-DD'` in `tz` (as `to`, the whole day), or NULL for the first (last)
///   reading;
/// - `day_window`: `'08:00-20:00'` in local time, may cross midnight;
/// - `tz`: `'+08:00'` or an IANA name such as `'Asia/Shanghai'`;
/// - `threshold`: flag when average night power exceeds this times average day power.
///
/// Trailing arguments may be left out: the defaults are `'08:00-20:00'`, `'+08:00'` and 1.5.
/// Columns: `meter_id` (`enterprise_id`), `day_kwh`, `night_kwh`, `day_hours`,
/// `night_hours`, `ratio` (null when day energy is zero, as `imbalance --csv` leaves it
/// empty) and `flagged`, one row per meter (enterprise) with readings, sorted by id.
/// Per enterprise, the production meters of the stores' monitoring catalogs are combined
/// as [`EnterpriseDayNight::aggregate`] does.
#[derive(Debug)]
pub struct DayNightFunction {
    shards: Arc<[Shard]>,
    by_enterprise: bool,
}

impl DayNightFunction {
    pub(crate) fn new(shards: Arc<[Shard]>, by_enterprise: bool) -> DayNightFunction {
        DayNightFunction {
            shards,
            by_enterprise,
        }
    }

    fn name(&self) -> &'static str {
        match self.by_enterprise {
            true => "day_night_enterprise",
            false => "day_night",
        }
    }
}

impl TableFunctionImpl for DayNightFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.name();
        let args = args.exprs();
        if !(2..=5).contains(&args.len()) {
            return plan_err!(
                "{name}(from, to[, day_window[, tz[, threshold]]]) takes 2 to 5 arguments, got {}",
                args.len()
            );
        }
        let text = |i: usize, what: &str| -> Result<Option<String>> {
            match args.get(i) {
                None => Ok(None),
                Some(Expr::Literal(v, _)) if v.is_null() => Ok(None),
                Some(Expr::Literal(v, _)) => match v {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::Utf8View(Some(s))
                    | ScalarValue::LargeUtf8(Some(s)) => Ok(Some(s.clone())),
                    other => plan_err!("{name}: {what} must be a string, got {other}"),
                },
                Some(e) => plan_err!("{name}: {what} must be a constant, got {e}"),
            }
        };
        let day = text(2, "day_window")?.unwrap_or_else(|| "08:00-20:00".into());
        let tz = text(3, "tz")?.unwrap_or_else(|| "+08:00".into());
        let window = DayWindow::parse(&day).map_err(|e| plan(name, "day_window", e))?;
        let zone = Zone::parse(&tz).map_err(|e| plan(name, "tz", e))?;
        let threshold = match args.get(4) {
            None => 1.5,
            Some(Expr::Literal(v, _)) => match number(v) {
                Some(t) if t.is_finite() && t >= 0.0 => t,
                _ => return plan_err!("{name}: threshold must be a non-negative number, got {v}"),
            },
            Some(e) => return plan_err!("{name}: threshold must be a constant, got {e}"),
        };
        let from = match text(0, "from")? {
            Some(s) => bound(&s, &zone, false).map_err(|e| plan(name, "from", e))?,
            None => i64::MIN,
        };
        let to = match text(1, "to")? {
            Some(s) => bound(&s, &zone, true).map_err(|e| plan(name, "to", e))?,
            None => i64::MAX,
        };
        if from >= to {
            return plan_err!("{name}: from must be before to");
        }
        let scan = DayNightScan {
            window,
            zone,
            threshold,
            ..DayNightScan::default()
        };
        Ok(Arc::new(DayNightTable {
            shards: self.shards.clone(),
            by_enterprise: self.by_enterprise,
            range: from..to,
            scan,
        }))
    }
}

fn plan(name: &str, what: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Plan(format!("{name}: {what}: {e}"))
}

fn number(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Float64(Some(x)) => Some(*x),
        ScalarValue::Float32(Some(x)) => Some(f64::from(*x)),
        ScalarValue::Int64(Some(x)) => Some(*x as f64),
        ScalarValue::Int32(Some(x)) => Some(f64::from(*x)),
        ScalarValue::Decimal128(Some(x), _, s) => Some(*x as f64 / 10f64.powi(i32::from(*s))),
        _ => None,
    }
}

/// A range bound: an RFC 3339 instant (rounded up to a whole second), a local date-time,
/// or a local date (its start; as an end, the start of the next day).
fn bound(s: &str, zone: &Zone, end: bool) -> Result<i64, String> {
    let s = s.trim();
    let local = |dt: DateTime| -> Result<i64, String> {
        let z = dt
            .to_zoned(zone.tz().clone())
            .map_err(|e| format!("{s:?}: {e}"))?;
        Ok(z.timestamp().as_second())
    };
    if s.len() == 10 {
        let date: Date = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
        let date = if end {
            date.tomorrow().map_err(|e| format!("{s:?}: {e}"))?
        } else {
            date
        };
        return local(date.to_datetime(jiff::civil::Time::midnight()));
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t.as_second() + i64::from(t.subsec_nanosecond() > 0));
    }
    let dt: DateTime = s.parse().map_err(|e| {
        format!(
            "{s:?} is neither RFC 3339 (with Z or an offset), a date YYYY-MM-DD nor a local \
             YYYY-MM-DD HH:MM[:SS]: {e}"
        )
    })?;
    local(dt)
}

/// The result of one call, computed when the query runs.
#[derive(Debug)]
struct DayNightTable {
    shards: Arc<[Shard]>,
    by_enterprise: bool,
    range: Range<i64>,
    scan: DayNightScan,
}

impl DayNightTable {
    fn schema_of(by_enterprise: bool) -> SchemaRef {
        let id = if by_enterprise {
            "enterprise_id"
        } else {
            "meter_id"
        };
        let f = |n: &str| Field::new(n, DataType::Float64, false);
        Arc::new(Schema::new(vec![
            Field::new(id, DataType::Utf8, false),
            f("day_kwh"),
            f("night_kwh"),
            f("day_hours"),
            f("night_hours"),
            Field::new("ratio", DataType::Float64, true),
            Field::new("flagged", DataType::Boolean, false),
        ]))
    }

    /// Runs the native scan on every shard; rows sorted by id.
    fn run(&self) -> Result<RecordBatch> {
        let mut meters = Vec::new();
        for shard in self.shards.iter() {
            let part = shard
                .snapshot
                .day_night(&MeterFilter::All, self.range.clone(), &self.scan)
                .map_err(external)?;
            meters.extend(part);
        }
        // In id order, as one store gives them: an enterprise's sums then add its meters
        // in the same order whatever the shards, and come out the same to the last bit.
        if self.shards.len() > 1 {
            meters.sort_by(|a, b| a.meter.cmp(&b.meter));
        }
        let rows: Vec<(String, DayNight)> = if self.by_enterprise {
            let m = membership(&self.shards)?;
            EnterpriseDayNight::aggregate(&meters, &m, self.scan.threshold)
                .into_iter()
                .map(|e| (e.enterprise, e.total))
                .collect()
        } else {
            meters.into_iter().map(|m| (m.meter, m.total)).collect()
        };
        let f = |g: fn(&DayNight) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| g(&r.1))))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
            f(|d| d.day_kwh),
            f(|d| d.night_kwh),
            f(|d| d.day_hours),
            f(|d| d.night_hours),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
                let d = &r.1;
                if d.day_kwh == 0.0 {
                    None
                } else {
                    d.ratio
                }
            }))),
            Arc::new(BooleanArray::from_iter(
                rows.iter().map(|r| Some(r.1.flagged)),
            )),
        ];
        Ok(RecordBatch::try_new(
            Self::schema_of(self.by_enterprise),
            columns,
        )?)
    }
}

#[async_trait]
impl TableProvider for DayNightTable {
    fn schema(&self) -> SchemaRef {
        Self::schema_of(self.by_enterprise)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.run()?;
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        table.scan(state, projection, filters, limit).await
    }
}
