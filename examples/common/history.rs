//! One meter's history for `query_history`: the readings (or per-bucket aggregates) in a
//! range with the store's gaps, printed as an aligned table, written as CSV, or turned
//! into a [`LoadCurve`].

use super::plot::{split_runs, LoadCurve};
use super::time::Tz;
use meterstore::{Agg, Bucket, DayWindow, Flag, MeterMeta, Quantity, Store, UtcOffset};
use std::fmt;
use std::io::{self, Write};
use std::ops::Range;

/// Longest silence between two readings of a meter without a grid that still counts as
/// one stretch of the curve (the store's day/night scan uses the same hour).
const IRREGULAR_MAX_STEP_S: i64 = 3600;

/// Most buckets a query lists: 15-minute buckets over 28 years, hours over 114. Every
/// bucket of the range is a row (empty ones too), so a range far wider than the data
/// would otherwise fill memory with empty rows.
pub const MAX_BUCKETS: u64 = 1_000_000;

/// What to read.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// External meter id.
    pub meter: String,
    /// Start, UTC Unix seconds; `None` for the first reading.
    pub from: Option<i64>,
    /// End (exclusive); `None` for just after the last reading.
    pub to: Option<i64>,
    /// Aggregate per bucket instead of listing readings.
    pub bucket: Option<(Bucket, Agg)>,
}

/// Why a query has no answer.
#[derive(Debug)]
pub enum QueryError {
    /// The meter is not registered; with the registered ids closest to it.
    UnknownMeter {
        /// The id asked for.
        meter: String,
        /// Close ids, closest first.
        suggestions: Vec<String>,
        /// Meters in the store.
        known: usize,
    },
    /// The range holds more than [`MAX_BUCKETS`] buckets.
    TooManyBuckets {
        /// The bucket width's name.
        bucket: &'static str,
        /// Buckets in the range, at least.
        count: u64,
    },
    /// The store failed.
    Store(meterstore::Error),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::UnknownMeter {
                meter,
                suggestions,
                known,
            } => {
                write!(f, "unknown meter {meter:?} (the store has {known} meters)")?;
                if !suggestions.is_empty() {
                    write!(f, "; did you mean {}?", suggestions.join(", "))?;
                }
                Ok(())
            }
            QueryError::TooManyBuckets { bucket, count } => write!(
                f,
                "the range holds {count} buckets ({bucket} each), more than the {MAX_BUCKETS} \
                 a query lists: narrow it with --from/--to or use a wider --bucket"
            ),
            QueryError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for QueryError {}

impl From<meterstore::Error> for QueryError {
    fn from(e: meterstore::Error) -> Self {
        QueryError::Store(e)
    }
}

/// A meter's history in a range, ready to print or plot.
#[derive(Debug, Clone)]
pub struct HistoryView {
    /// External meter id.
    pub meter: String,
    /// Its metadata.
    pub meta: MeterMeta,
    /// The range shown, `[from, to)`: as asked, or from the first reading to just after
    /// the last.
    pub range: Range<i64>,
    /// Readings or buckets.
    pub rows: Rows,
    /// The quality flag of each reading of [`Rows::Readings`], in the same order; empty
    /// for buckets.
    pub flags: Vec<Flag>,
    /// Missing intervals of the meter's grid in `range` (none for a meter without grid).
    pub gaps: Vec<Range<i64>>,
}

/// The rows of a [`HistoryView`].
#[derive(Debug, Clone)]
pub enum Rows {
    /// Every reading, `(ts, value)`.
    Readings(Vec<(i64, f64)>),
    /// Every bucket of the range, with or without readings.
    Buckets {
        /// Bucket width.
        bucket: Bucket,
        /// The aggregate.
        agg: Agg,
        /// The fixed offset the buckets are aligned to (for an IANA zone: the one in
        /// force at the start of the range).
        offset: UtcOffset,
        /// The buckets in time order.
        rows: Vec<BucketRow>,
    },
}

/// One bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketRow {
    /// Start, UTC Unix seconds.
    pub start: i64,
    /// The aggregate; `None` without readings.
    pub value: Option<f64>,
    /// Readings in the bucket.
    pub count: u64,
    /// Grid slots of the bucket (within the range) without a reading.
    pub missing: u64,
}

/// Parses `15m`, `hour`, `day` or `month` (and a few spellings of them).
pub fn parse_bucket(s: &str) -> Result<Bucket, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "15m" | "15min" | "15" => Bucket::Minutes15,
        "hour" | "1h" | "h" | "hourly" => Bucket::Hour,
        "day" | "1d" | "d" | "daily" => Bucket::Day,
        "month" | "1mo" | "monthly" => Bucket::Month,
        _ => {
            return Err(format!(
                "{s:?} is not a bucket: use 15m, hour, day or month"
            ))
        }
    })
}

/// Parses `sum`, `avg`, `min`, `max` (also `mean`, `count`, `first`, `last`).
pub fn parse_agg(s: &str) -> Result<Agg, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "sum" => Agg::Sum,
        "avg" | "mean" => Agg::Avg,
        "min" => Agg::Min,
        "max" => Agg::Max,
        "count" => Agg::Count,
        "first" => Agg::First,
        "last" => Agg::Last,
        _ => {
            return Err(format!(
                "{s:?} is not an aggregate: use sum, avg, min or max"
            ))
        }
    })
}

/// The natural aggregate of a meter: energy per interval adds up, anything else averages.
pub fn default_agg(meta: &MeterMeta) -> Agg {
    match meta.kind {
        Quantity::IntervalEnergy => Agg::Sum,
        _ => Agg::Avg,
    }
}

/// Runs the query.
pub fn query(store: &Store, q: &HistoryQuery, tz: &Tz) -> Result<HistoryView, QueryError> {
    let Some(meta) = store.meter_meta(&q.meter) else {
        let ids = store.meter_ids();
        return Err(QueryError::UnknownMeter {
            meter: q.meter.clone(),
            suggestions: super::suggest(&q.meter, &ids)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            known: ids.len(),
        });
    };
    let asked = q.from.unwrap_or(i64::MIN)..q.to.unwrap_or(i64::MAX);
    let history = store.history(&q.meter, asked.clone())?;
    let mut flags = history.flags().to_vec();
    let readings: Vec<(i64, f64)> = history.collect();
    let range = match (q.from, q.to, readings.first(), readings.last()) {
        (Some(f), Some(t), _, _) => f..t,
        // A reading covers its interval: the range ends where the last one's ends.
        (f, t, Some(first), Some(last)) => {
            let cover = meta.interval_s.map_or(1, i64::from);
            f.unwrap_or(first.0)..t.unwrap_or(last.0.saturating_add(cover))
        }
        (f, t, _, _) => {
            let at = f.or(t).unwrap_or(0);
            at..at
        }
    };
    if let Some((bucket, _)) = q.bucket {
        // Buckets are at least this wide (a fixed offset: no short days).
        let narrowest: i64 = match bucket {
            Bucket::Minutes15 => 900,
            Bucket::Hour => 3600,
            Bucket::Day => 86_400,
            Bucket::Month => 28 * 86_400,
        };
        let span = i128::from(range.end) - i128::from(range.start);
        let count = u64::try_from(span.max(0) / i128::from(narrowest)).unwrap_or(u64::MAX);
        if count > MAX_BUCKETS {
            return Err(QueryError::TooManyBuckets {
                bucket: bucket_name(bucket),
                count,
            });
        }
    }
    let gaps = if meta.interval_s.is_some() && range.start < range.end {
        store.gaps(&q.meter, range.clone())?
    } else {
        Vec::new()
    };
    if q.bucket.is_some() {
        flags.clear();
    }
    let rows = match q.bucket {
        None => Rows::Readings(readings),
        Some((bucket, agg)) => {
            let offset = tz.offset_at(range.start);
            let values = store.aggregate(&q.meter, range.clone(), bucket, offset, agg)?;
            let iv = meta.interval_s.map(i64::from);
            Rows::Buckets {
                bucket,
                agg,
                offset,
                rows: bucket_rows(&range, bucket, offset, &values, &gaps, iv),
            }
        }
    };
    Ok(HistoryView {
        meter: q.meter.clone(),
        meta,
        range,
        rows,
        flags,
        gaps,
    })
}

/// Every bucket of `range`, with the store's aggregates where there are readings and the
/// grid slots that the gaps leave empty.
fn bucket_rows(
    range: &Range<i64>,
    bucket: Bucket,
    offset: UtcOffset,
    values: &[meterstore::BucketValue],
    gaps: &[Range<i64>],
    interval: Option<i64>,
) -> Vec<BucketRow> {
    let mut rows = Vec::new();
    if range.start >= range.end {
        return rows;
    }
    let mut vals = values.iter().peekable();
    let mut start = bucket.start(range.start, offset);
    while start < range.end {
        let end = bucket.next(start, offset);
        let v = vals.next_if(|b| b.start == start);
        let (lo, hi) = (start.max(range.start), end.min(range.end));
        let missing = match interval {
            Some(iv) => gaps
                .iter()
                .map(|g| {
                    (g.end.min(hi) - g.start.max(lo))
                        .max(0)
                        .div_euclid(iv)
                        .max(0)
                })
                .sum::<i64>() as u64,
            None => 0,
        };
        rows.push(BucketRow {
            start,
            value: v.map(|b| b.value),
            count: v.map_or(0, |b| b.count),
            missing,
        });
        start = end;
    }
    rows
}

/// `every 15 min`, `every 1 h`, `every 300 s`, or `irregular`.
fn cadence(meta: &MeterMeta) -> String {
    match meta.interval_s {
        Some(s) if s % 3600 == 0 => format!("every {} h", s / 3600),
        Some(s) if s % 60 == 0 => format!("every {} min", s / 60),
        Some(s) => format!("every {s} s"),
        None => "irregular".to_owned(),
    }
}

fn kind_name(k: Quantity) -> &'static str {
    match k {
        Quantity::IntervalEnergy => "interval energy",
        Quantity::CumulativeRegister => "cumulative register",
        Quantity::Power => "power",
        Quantity::Other => "values",
    }
}

fn bucket_name(b: Bucket) -> &'static str {
    match b {
        Bucket::Minutes15 => "15 min",
        Bucket::Hour => "hour",
        Bucket::Day => "day",
        Bucket::Month => "month",
    }
}

/// Prints the view as an aligned table: a title line, a header, one line per reading
/// or bucket, a marker line for each gap, and a summary.
pub fn write_table(out: &mut impl Write, v: &HistoryView, tz: &Tz) -> io::Result<()> {
    table(out, v, tz)?;
    out.flush()
}

fn table(out: &mut impl Write, v: &HistoryView, tz: &Tz) -> io::Result<()> {
    let m = &v.meta;
    writeln!(
        out,
        "{}: {} in {}, {}",
        v.meter,
        kind_name(m.kind),
        m.unit,
        cadence(m)
    )?;
    if v.range.start >= v.range.end {
        return writeln!(out, "no readings");
    }
    writeln!(
        out,
        "from {} to {} ({})",
        tz.short(v.range.start),
        tz.short(v.range.end),
        tz.name()
    )?;
    let iv = m.interval_s.map_or(1, i64::from);
    let missing: i64 = v.gaps.iter().map(|g| (g.end - g.start) / iv).sum();
    match &v.rows {
        Rows::Readings(rs) => {
            let times: Vec<String> = rs.iter().map(|r| tz.short(r.0)).collect();
            let vals: Vec<String> = rs.iter().map(|r| r.1.to_string()).collect();
            let tw = times.iter().map(String::len).max().unwrap_or(0).max(10);
            let vw = vals.iter().map(String::len).max().unwrap_or(0).max(5);
            writeln!(out, "{:<tw$}  {:>vw$}", "local time", "value")?;
            let mut gaps = v.gaps.iter().peekable();
            for ((r, t), val) in rs.iter().zip(&times).zip(&vals) {
                while let Some(g) = gaps.next_if(|g| g.start < r.0) {
                    gap_line(out, g, iv, tz)?;
                }
                writeln!(out, "{t:<tw$}  {val:>vw$}")?;
            }
            for g in gaps {
                gap_line(out, g, iv, tz)?;
            }
            writeln!(
                out,
                "{} readings, {} gaps ({missing} readings missing)",
                rs.len(),
                v.gaps.len()
            )
        }
        Rows::Buckets {
            bucket,
            agg,
            offset,
            rows,
        } => {
            let fixed = Tz::fixed(*offset);
            if tz.offset_changes(v.range.start, v.range.end) {
                writeln!(
                    out,
                    "note: buckets are aligned to {offset}, the offset of {} at the start; \
                     it changes within this range",
                    tz.name()
                )?;
            }
            let times: Vec<String> = rows.iter().map(|r| fixed.short(r.start)).collect();
            let vals: Vec<String> = rows
                .iter()
                .map(|r| r.value.map_or_else(String::new, readable))
                .collect();
            let tw = times.iter().map(String::len).max().unwrap_or(0).max(12);
            let vw = vals.iter().map(String::len).max().unwrap_or(0).max(5);
            let head = format!("{agg:?}").to_lowercase();
            writeln!(
                out,
                "{:<tw$}  {head:>vw$}  {:>8}  gaps",
                "bucket start", "readings"
            )?;
            for ((r, t), val) in rows.iter().zip(&times).zip(&vals) {
                let note = match (r.count, r.missing) {
                    (0, _) => "no readings".to_owned(),
                    (_, 0) => String::new(),
                    (_, n) => format!("{n} missing"),
                };
                let line = format!("{t:<tw$}  {val:>vw$}  {:>8}  {note}", r.count);
                writeln!(out, "{}", line.trim_end())?;
            }
            let readings: u64 = rows.iter().map(|r| r.count).sum();
            writeln!(
                out,
                "{} buckets ({head} per {}), {readings} readings, {} gaps ({missing} readings missing)",
                rows.len(),
                bucket_name(*bucket),
                v.gaps.len()
            )
        }
    }
}

/// An aggregate for reading: at most six decimals, trailing zeros dropped (sums of
/// decimal readings carry binary noise such as `844.6109999999999`; the CSV keeps it).
fn readable(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn gap_line(out: &mut impl Write, g: &Range<i64>, iv: i64, tz: &Tz) -> io::Result<()> {
    let n = (g.end - g.start) / iv;
    let last = g.end - iv;
    if n == 1 {
        writeln!(out, "  -- gap: 1 reading missing at {}", tz.short(g.start))
    } else {
        writeln!(
            out,
            "  -- gap: {n} readings missing, {} to {}",
            tz.short(g.start),
            tz.short(last)
        )
    }
}

/// Writes the view as CSV: `meter_id,ts,local_time,value,flag` per reading (`flag` the
/// HJ 212 letter of its quality flag, `N` for a normal reading), or
/// `meter_id,bucket_start,local_time,value,count` per bucket with readings. `ts` and
/// `bucket_start` are Unix seconds, `local_time` is RFC 3339 with the local offset, and
/// values are printed so that they parse back to the same `f64`.
pub fn write_csv(out: impl Write, v: &HistoryView, tz: &Tz) -> Result<(), String> {
    let mut w = csv::Writer::from_writer(out);
    let err = |e: csv::Error| e.to_string();
    match &v.rows {
        Rows::Readings(rs) => {
            w.write_record(["meter_id", "ts", "local_time", "value", "flag"])
                .map_err(err)?;
            for (k, &(t, val)) in rs.iter().enumerate() {
                let flag = v.flags.get(k).copied().unwrap_or_default();
                let rec = [
                    v.meter.clone(),
                    t.to_string(),
                    tz.rfc3339(t),
                    val.to_string(),
                    flag.to_string(),
                ];
                w.write_record(&rec).map_err(err)?;
            }
        }
        Rows::Buckets { offset, rows, .. } => {
            let fixed = Tz::fixed(*offset);
            w.write_record(["meter_id", "bucket_start", "local_time", "value", "count"])
                .map_err(err)?;
            for r in rows {
                if let Some(val) = r.value {
                    let rec = [
                        v.meter.clone(),
                        r.start.to_string(),
                        fixed.rfc3339(r.start),
                        val.to_string(),
                        r.count.to_string(),
                    ];
                    w.write_record(&rec).map_err(err)?;
                }
            }
        }
    }
    w.flush().map_err(|e| e.to_string())
}

/// The load curve of the view: readings (or bucket values at their starts), broken at
/// gaps; night shaded outside `window` unless buckets are a day or longer.
pub fn load_curve<'a>(v: &HistoryView, tz: &'a Tz, window: DayWindow) -> LoadCurve<'a> {
    let unit = &v.meta.unit;
    let (runs, y_label, day_window, what) = match &v.rows {
        Rows::Readings(rs) => {
            let max_step = v.meta.interval_s.is_none().then_some(IRREGULAR_MAX_STEP_S);
            let per = match (v.meta.kind, v.meta.interval_s) {
                (Quantity::IntervalEnergy, Some(_)) => {
                    format!(" per {}", cadence(&v.meta).trim_start_matches("every "))
                }
                _ => String::new(),
            };
            (
                split_runs(rs, &v.gaps, max_step),
                format!("{unit}{per}"),
                Some(window),
                "load curve".to_owned(),
            )
        }
        Rows::Buckets {
            bucket, agg, rows, ..
        } => {
            let mut runs: Vec<Vec<(i64, f64)>> = vec![Vec::new()];
            for r in rows {
                match (r.value, runs.last_mut()) {
                    (Some(x), Some(run)) => run.push((r.start, x)),
                    _ => runs.push(Vec::new()),
                }
            }
            runs.retain(|r| !r.is_empty());
            let shade = matches!(bucket, Bucket::Minutes15 | Bucket::Hour).then_some(window);
            let agg = format!("{agg:?}").to_lowercase();
            (
                runs,
                format!("{unit}, {agg} per {}", bucket_name(*bucket)),
                shade,
                format!("{agg} per {}", bucket_name(*bucket)),
            )
        }
    };
    LoadCurve {
        title: format!("{} {what}", v.meter),
        y_label,
        tz,
        day_window,
        runs,
        gaps: v.gaps.clone(),
        x_range: v.range.clone(),
    }
}
