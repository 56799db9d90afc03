//! Query types and the bucket aggregation that answers them.

use crate::types::{month_start, next_month_start, UtcOffset};

/// Width of an aggregation bucket, aligned to local time in a given UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// 15 minutes.
    Minutes15,
    /// One hour.
    Hour,
    /// One local calendar day.
    Day,
    /// One local calendar month.
    Month,
}

impl Bucket {
    /// Start of the bucket holding `ts`.
    pub fn start(self, ts: i64, offset: UtcOffset) -> i64 {
        let off = offset.seconds() as i64;
        // Saturating: a bucket at the ends of i64 is cut short, never wrapped.
        let fixed = |w: i64| {
            ts.saturating_add(off)
                .div_euclid(w)
                .saturating_mul(w)
                .saturating_sub(off)
        };
        match self {
            Bucket::Minutes15 => fixed(900),
            Bucket::Hour => fixed(3600),
            Bucket::Day => fixed(86_400),
            Bucket::Month => month_start(ts, offset),
        }
    }

    /// Start of the bucket after the one holding `ts`.
    pub fn next(self, ts: i64, offset: UtcOffset) -> i64 {
        match self {
            Bucket::Minutes15 => self.start(ts, offset).saturating_add(900),
            Bucket::Hour => self.start(ts, offset).saturating_add(3600),
            Bucket::Day => self.start(ts, offset).saturating_add(86_400),
            Bucket::Month => next_month_start(ts, offset),
        }
    }
}

/// The aggregate computed per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Sum of values.
    Sum,
    /// Mean of values.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Number of readings.
    Count,
    /// Earliest reading's value.
    First,
    /// Latest reading's value.
    Last,
}

/// One bucket of an aggregate. Buckets without readings are left out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketValue {
    /// Bucket start, UTC Unix seconds.
    pub start: i64,
    /// The aggregate.
    pub value: f64,
    /// Readings in the bucket.
    pub count: u64,
}

/// Summary statistics of a run of readings; block statistics are this type's input
/// without decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first: f64,
    pub last: f64,
}

impl Summary {
    pub(crate) fn point(v: f64) -> Summary {
        Summary {
            count: 1,
            min: v,
            max: v,
            sum: v,
            first: v,
            last: v,
        }
    }

    /// Appends a later summary.
    fn merge(&mut self, o: &Summary) {
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.last = o.last;
    }

    fn value(&self, agg: Agg) -> f64 {
        match agg {
            Agg::Sum => self.sum,
            Agg::Avg => self.sum / self.count as f64,
            Agg::Min => self.min,
            Agg::Max => self.max,
            Agg::Count => self.count as f64,
            Agg::First => self.first,
            Agg::Last => self.last,
        }
    }
}

/// Folds time-ordered pieces (single readings or whole blocks that lie inside one bucket)
/// into buckets.
pub(crate) struct Bucketer {
    bucket: Bucket,
    offset: UtcOffset,
    agg: Agg,
    cur: Option<(i64, i64, Summary)>,
    out: Vec<BucketValue>,
}

impl Bucketer {
    pub(crate) fn new(bucket: Bucket, offset: UtcOffset, agg: Agg) -> Self {
        Bucketer {
            bucket,
            offset,
            agg,
            cur: None,
            out: Vec::new(),
        }
    }

    /// Adds a piece starting at `ts`; pieces come in time order and a piece never spans
    /// two buckets.
    pub(crate) fn add(&mut self, ts: i64, s: &Summary) {
        match &mut self.cur {
            Some((_, end, acc)) if ts < *end => acc.merge(s),
            _ => {
                self.close();
                let start = self.bucket.start(ts, self.offset);
                self.cur = Some((start, self.bucket.next(ts, self.offset), *s));
            }
        }
    }

    /// Whether `[t_first, t_last]` lies in one bucket.
    pub(crate) fn same_bucket(&self, t_first: i64, t_last: i64) -> bool {
        t_last < self.bucket.next(t_first, self.offset)
    }

    fn close(&mut self) {
        if let Some((start, _, s)) = self.cur.take() {
            self.out.push(BucketValue {
                start,
                value: s.value(self.agg),
                count: s.count,
            });
        }
    }

    pub(crate) fn finish(mut self) -> Vec<BucketValue> {
        self.close();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_saturate_at_the_ends_of_i64() {
        for b in [Bucket::Minutes15, Bucket::Hour, Bucket::Day, Bucket::Month] {
            for off in [
                UtcOffset::CHINA,
                UtcOffset::from_seconds(-12 * 3600).unwrap(),
            ] {
                for ts in [i64::MIN, i64::MIN + 5, i64::MAX - 5, i64::MAX] {
                    let (s, n) = (b.start(ts, off), b.next(ts, off));
                    assert!(s <= n, "{b:?} {ts}");
                }
            }
        }
    }

    #[test]
    fn buckets_align_to_local_time() {
        let off = UtcOffset::CHINA;
        // 2024-03-10T16:00:00Z = 2024-03-11T00:00 local.
        let midnight = 1_710_086_400;
        assert_eq!(Bucket::Day.start(midnight + 5, off), midnight);
        assert_eq!(Bucket::Day.start(midnight - 1, off), midnight - 86_400);
        assert_eq!(Bucket::Hour.start(midnight + 3599, off), midnight);
        assert_eq!(Bucket::Minutes15.next(midnight + 1, off), midnight + 900);
        assert_eq!(Bucket::Month.start(midnight, off), midnight - 10 * 86_400);
    }

    #[test]
    fn bucketer_merges_points_and_blocks() {
        let mut b = Bucketer::new(Bucket::Hour, UtcOffset::UTC, Agg::Sum);
        b.add(0, &Summary::point(1.0));
        b.add(
            900,
            &Summary {
                count: 2,
                min: 1.0,
                max: 2.0,
                sum: 3.0,
                first: 1.0,
                last: 2.0,
            },
        );
        b.add(3600, &Summary::point(5.0));
        let out = b.finish();
        assert_eq!(
            out,
            vec![
                BucketValue {
                    start: 0,
                    value: 4.0,
                    count: 3
                },
                BucketValue {
                    start: 3600,
                    value: 5.0,
                    count: 1
                },
            ]
        );
    }
}
