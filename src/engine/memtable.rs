//! The memtable: per-meter buffers of recent readings, kept sorted by timestamp with one
//! reading per timestamp (the later write wins, flag included).

use super::batch::Resolved;
use super::read::{merge_runs, Run};
use crate::codec::flags;
use crate::types::Flag;
use std::collections::HashMap;
use std::sync::Arc;

/// Bytes a buffered reading costs: timestamp and value. A series that holds a flag other
/// than normal keeps one more byte per reading, which this estimate leaves out.
const READING_BYTES: usize = 16;

/// One meter's buffered readings, sorted and unique by timestamp between batches.
#[derive(Debug, Default, Clone)]
pub(crate) struct Series {
    pub ts: Vec<i64>,
    pub vals: Vec<f64>,
    /// Sparse (`codec::flags`): empty while every flag is normal.
    pub flags: Vec<Flag>,
    sorted: bool,
}

impl Series {
    /// Appends a reading whose flag is normal to a series whose flags all are.
    fn push(&mut self, ts: i64, v: f64) {
        debug_assert!(self.flags.is_empty());
        if self.ts.last().is_some_and(|&l| l >= ts) {
            self.sorted = false;
        }
        self.ts.push(ts);
        self.vals.push(v);
    }

    fn push_flagged(&mut self, ts: i64, v: f64, f: Flag) {
        flags::push(&mut self.flags, self.ts.len(), f);
        if self.ts.last().is_some_and(|&l| l >= ts) {
            self.sorted = false;
        }
        self.ts.push(ts);
        self.vals.push(v);
    }

    /// Restores sorted, unique order; among equal timestamps the last pushed wins.
    fn normalize(&mut self) {
        if self.sorted {
            return;
        }
        let mut idx: Vec<u32> = (0..self.ts.len() as u32).collect();
        // Stable: equal timestamps keep push order, so the last of a run is the newest.
        idx.sort_by_key(|&i| self.ts[i as usize]);
        let mut ts = Vec::with_capacity(idx.len());
        let mut vals = Vec::with_capacity(idx.len());
        let mut fl = Vec::new();
        for (k, &i) in idx.iter().enumerate() {
            let t = self.ts[i as usize];
            if idx.get(k + 1).is_some_and(|&n| self.ts[n as usize] == t) {
                continue;
            }
            flags::push(&mut fl, ts.len(), flags::get(&self.flags, i as usize));
            ts.push(t);
            vals.push(self.vals[i as usize]);
        }
        self.ts = ts;
        self.vals = vals;
        self.flags = fl;
        self.sorted = true;
    }

    /// Index range of readings with `range.start <= ts < range.end`.
    pub(crate) fn range(&self, range: &std::ops::Range<i64>) -> std::ops::Range<usize> {
        let a = self.ts.partition_point(|&t| t < range.start);
        let b = self.ts.partition_point(|&t| t < range.end);
        a..b.max(a)
    }
}

/// Buffered readings of many meters.
#[derive(Debug, Default, Clone)]
pub(crate) struct Memtable {
    series: HashMap<u32, Series>,
    readings: usize,
}

impl Memtable {
    /// Adds one batch, already validated. Readings in the batch are applied in order.
    /// `flagged`: whether a reading's flag is not normal (without, flags are not looked at
    /// for series whose flags all are normal).
    pub(crate) fn insert_batch(&mut self, batch: &[Resolved], flagged: bool) {
        let mut touched = Vec::new();
        let mut i = 0;
        while i < batch.len() {
            // One map lookup per run of readings of the same meter.
            let m = batch[i].0;
            let n = batch[i..].iter().take_while(|r| r.0 == m).count();
            let s = self.series.entry(m).or_insert_with(|| Series {
                sorted: true,
                ..Default::default()
            });
            let was_sorted = s.sorted;
            s.ts.reserve(n);
            s.vals.reserve(n);
            if flagged || !s.flags.is_empty() {
                for &(_, t, v, f) in &batch[i..i + n] {
                    s.push_flagged(t, v, f);
                }
            } else {
                for &(_, t, v, _) in &batch[i..i + n] {
                    s.push(t, v);
                }
            }
            self.readings += n;
            if was_sorted && !s.sorted {
                touched.push(m);
            }
            i += n;
        }
        for m in touched {
            if let Some(s) = self.series.get_mut(&m) {
                let before = s.ts.len();
                s.normalize();
                self.readings -= before - s.ts.len();
            }
        }
    }

    /// Approximate memory held, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.readings * READING_BYTES
    }

    /// Readings held.
    pub(crate) fn len(&self) -> usize {
        self.readings
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.readings == 0
    }

    pub(crate) fn get(&self, meter: u32) -> Option<&Series> {
        self.series.get(&meter)
    }

    /// All series, sorted by meter id.
    pub(crate) fn sorted_series(&self) -> Vec<(u32, &Series)> {
        let mut v: Vec<_> = self.series.iter().map(|(&m, s)| (m, s)).collect();
        v.sort_by_key(|e| e.0);
        v
    }

    /// Newest timestamp held, if any.
    pub(crate) fn max_ts(&self) -> Option<i64> {
        self.series
            .values()
            .filter_map(|s| s.ts.last().copied())
            .max()
    }

    /// One memtable holding what `pieces` (oldest first) hold, the newer piece winning on
    /// the same (meter, timestamp).
    pub(crate) fn merged(pieces: &[Arc<Memtable>]) -> Memtable {
        let mut meters: Vec<u32> = pieces
            .iter()
            .flat_map(|p| p.series.keys().copied())
            .collect();
        meters.sort_unstable();
        meters.dedup();
        let mut out = Memtable::default();
        for m in meters {
            let runs = pieces
                .iter()
                .filter_map(|p| p.get(m))
                .map(|s| Run {
                    ts: s.ts.clone(),
                    vals: s.vals.clone(),
                    flags: s.flags.clone(),
                })
                .collect();
            let Run { ts, vals, flags } = merge_runs(runs);
            out.readings += ts.len();
            out.series.insert(
                m,
                Series {
                    ts,
                    vals,
                    flags,
                    sorted: true,
                },
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Flag = Flag::Normal;
    const M: Flag = Flag::Maintenance;

    #[test]
    fn later_write_wins_within_and_across_batches() {
        let mut m = Memtable::default();
        m.insert_batch(&[(1, 900, 1.0, N), (1, 0, 2.0, N), (1, 900, 3.0, N)], false);
        let s = m.get(1).unwrap();
        assert_eq!(s.ts, vec![0, 900]);
        assert_eq!(s.vals, vec![2.0, 3.0]);
        assert!(s.flags.is_empty());
        m.insert_batch(&[(1, 0, 5.0, M), (1, 1800, 6.0, N)], true);
        let s = m.get(1).unwrap();
        assert_eq!(s.ts, vec![0, 900, 1800]);
        assert_eq!(s.vals, vec![5.0, 3.0, 6.0]);
        assert_eq!(s.flags, vec![M, N, N]);
        // A corrected resend replaces the flag with the value (all normal again: the
        // sparse form, no flags kept).
        m.insert_batch(&[(1, 0, 5.0, N)], false);
        assert!(m.get(1).unwrap().flags.is_empty());
        assert_eq!(m.bytes(), 3 * READING_BYTES);
    }

    #[test]
    fn merged_pieces_keep_the_newest() {
        let mut a = Memtable::default();
        a.insert_batch(&[(1, 0, 1.0, N), (1, 900, 1.0, M), (2, 0, 1.0, N)], true);
        let mut b = Memtable::default();
        b.insert_batch(&[(1, 900, 2.0, N), (3, 5, 2.0, N)], false);
        let m = Memtable::merged(&[Arc::new(a), Arc::new(b)]);
        assert_eq!(m.get(1).unwrap().vals, vec![1.0, 2.0]);
        assert!(
            m.get(1).unwrap().flags.is_empty(),
            "the newer N replaced the M"
        );
        assert!(m.get(2).unwrap().flags.is_empty());
        assert_eq!(m.len(), 4);
        assert_eq!(m.max_ts(), Some(900));
    }
}
