//! Reading a consistent [`State`]: merging a meter's sources (segments oldest first, then
//! memtables) so that the newest write of a (meter, timestamp) wins, and the queries built
//! on that. [`Snapshot`] is a `State` that holds no lock.

use crate::codec::flags;
use crate::engine::state::State;
use crate::error::{Error, Result};
use crate::query::{Agg, Bucket, BucketValue, Bucketer, Summary};
use crate::types::{Flag, MeterMeta, UtcOffset};
use std::ops::Range;
use std::sync::OnceLock;

/// One source's readings of a meter, sorted and unique by timestamp.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Run {
    pub ts: Vec<i64>,
    pub vals: Vec<f64>,
    /// Sparse (`codec::flags`): empty while every flag is normal.
    pub flags: Vec<Flag>,
}

impl Run {
    fn clear(&mut self) {
        self.ts.clear();
        self.vals.clear();
        self.flags.clear();
    }

    /// Appends readings `r` of `src`.
    fn extend_from(&mut self, src: &Run, r: Range<usize>) {
        let n = r.len();
        flags::extend(
            &mut self.flags,
            self.ts.len(),
            flags::slice(&src.flags, r.clone()),
            n,
        );
        self.ts.extend_from_slice(&src.ts[r.clone()]);
        self.vals.extend_from_slice(&src.vals[r]);
    }

    /// Appends reading `i` of `src`.
    pub(crate) fn push_from(&mut self, src: &Run, i: usize) {
        flags::push(&mut self.flags, self.ts.len(), flags::get(&src.flags, i));
        self.ts.push(src.ts[i]);
        self.vals.push(src.vals[i]);
    }
}

/// A meter's readings in time order, as `(timestamp, value)`; [`History::flags`] gives
/// their quality flags.
pub struct History {
    ts: Vec<i64>,
    vals: Vec<f64>,
    /// Sparse (`codec::flags`): empty while every flag is normal.
    flags: Vec<Flag>,
    /// The flags of a history whose flags are all normal, built when first asked for.
    normal: OnceLock<Vec<Flag>>,
    at: usize,
}

impl Iterator for History {
    type Item = (i64, f64);
    fn next(&mut self) -> Option<(i64, f64)> {
        let r = (*self.ts.get(self.at)?, *self.vals.get(self.at)?);
        self.at += 1;
        Some(r)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.ts.len() - self.at;
        (n, Some(n))
    }
}

impl ExactSizeIterator for History {}

/// A [`History`] iterated with quality flags: `(timestamp, value, flag)` in time order,
/// from [`History::with_flags`].
pub struct WithFlags {
    history: History,
}

impl Iterator for WithFlags {
    type Item = (i64, f64, Flag);
    fn next(&mut self) -> Option<(i64, f64, Flag)> {
        let at = self.history.at;
        let (ts, v) = self.history.next()?;
        Some((ts, v, flags::get(&self.history.flags, at)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.history.size_hint()
    }
}

impl ExactSizeIterator for WithFlags {}

impl History {
    fn new(run: Run) -> History {
        History {
            ts: run.ts,
            vals: run.vals,
            flags: run.flags,
            normal: OnceLock::new(),
            at: 0,
        }
    }

    /// The quality flags of the readings not yet iterated, in the same order: the flag of
    /// the reading the next call to `next` returns first. A history whose readings are all
    /// [`Flag::Normal`] keeps no flags until this is asked for.
    pub fn flags(&self) -> &[Flag] {
        let n = self.ts.len().min(self.vals.len());
        let all = match self.flags.len() == n {
            true => &self.flags[..],
            false => self.normal.get_or_init(|| vec![Flag::Normal; n]),
        };
        &all[self.at.min(n)..]
    }

    /// The readings not yet iterated with their quality flags, as `(timestamp, value,
    /// flag)`. Unlike [`History::flags`] it builds no array of flags for a history whose
    /// readings are all [`Flag::Normal`].
    pub fn with_flags(self) -> WithFlags {
        WithFlags { history: self }
    }

    /// The flags of the readings not yet iterated, as `codec::flags` keeps them: empty
    /// when all are normal, else aligned with [`History::as_slices`].
    pub(crate) fn sparse_flags(&self) -> &[Flag] {
        let n = self.ts.len().min(self.vals.len());
        match self.flags.len() == n {
            true => &self.flags[self.at.min(n)..],
            false => &[],
        }
    }

    /// The readings not yet iterated, as timestamp and value slices of equal length.
    pub(crate) fn as_slices(&self) -> (&[i64], &[f64]) {
        let n = self.ts.len().min(self.vals.len());
        let at = self.at.min(n);
        (&self.ts[at..n], &self.vals[at..n])
    }
}

impl Drop for History {
    fn drop(&mut self) {
        spare::give(Run {
            ts: std::mem::take(&mut self.ts),
            vals: std::mem::take(&mut self.vals),
            flags: std::mem::take(&mut self.flags),
        });
    }
}

/// Buffers of dropped [`History`]s, kept for the next history read on the same thread.
///
/// A meter-year is about 560 KB, and the system allocator returns blocks that size to the
/// kernel when they are freed, so a fresh buffer for every history costs about 140 page
/// faults, several times the read itself (the history figures of `fleet_bench`). At most [`spare::KEEP`]
/// buffers of at most [`spare::MAX_LEN`] readings are kept per thread.
mod spare {
    use super::Run;
    use std::cell::RefCell;

    /// Buffers kept per thread.
    pub(super) const KEEP: usize = 4;
    /// Largest buffer kept, in readings (4 MiB of timestamps and values; a year of
    /// 15-minute readings is 35,136), so a thread keeps at most 16 MiB.
    pub(super) const MAX_LEN: usize = 1 << 18;

    thread_local! {
        static SPARE: RefCell<Vec<Run>> = const { RefCell::new(Vec::new()) };
    }

    /// An empty run, with the capacity of a kept buffer if there is one.
    pub(super) fn take() -> Run {
        SPARE
            .try_with(|s| s.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Keeps `run`'s buffers for [`take`], unless enough are kept or they are too large.
    /// The flag buffer is kept with them (empty when the history's flags were all normal).
    pub(super) fn give(mut run: Run) {
        if run.ts.capacity() > MAX_LEN
            || run.vals.capacity() > MAX_LEN
            || run.flags.capacity() > MAX_LEN
            || run.ts.capacity() == 0
        {
            return;
        }
        run.clear();
        // During thread teardown the pool may be gone: the buffers are then just freed.
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < KEEP {
                s.push(run);
            }
        });
    }
}

/// A consistent, read-only view of a store at one moment, taken by
/// [`Store::snapshot`](crate::Store::snapshot). Every query on it sees the same data,
/// whatever appends, flushes, compactions and retention do meanwhile, and it holds no lock:
/// it keeps the segment files and memtables of its moment alive (a segment file removed
/// by compaction or retention stays on disk, unlinked, until the snapshot is dropped).
pub struct Snapshot {
    pub(crate) st: State,
}

impl Snapshot {
    /// A meter's readings with `range.start <= ts < range.end`, in time order.
    pub fn history(&self, meter: &str, range: Range<i64>) -> Result<History> {
        history(&self.st, meter, range)
    }

    /// Per-bucket aggregates, as [`Store::aggregate`](crate::Store::aggregate).
    pub fn aggregate(
        &self,
        meter: &str,
        range: Range<i64>,
        bucket: Bucket,
        offset: UtcOffset,
        agg: Agg,
    ) -> Result<Vec<BucketValue>> {
        aggregate(&self.st, meter, range, bucket, offset, agg)
    }

    /// Missing intervals, as [`Store::gaps`](crate::Store::gaps).
    pub fn gaps(&self, meter: &str, range: Range<i64>) -> Result<Vec<Range<i64>>> {
        gaps(&self.st, meter, range)
    }

    /// External ids of the meters registered at the snapshot's moment.
    pub fn meter_ids(&self) -> &[String] {
        self.st.meters.ids()
    }

    /// Metadata of a meter registered at the snapshot's moment.
    pub fn meter_meta(&self, id: &str) -> Option<&MeterMeta> {
        self.st.meters.get(id).map(|d| self.st.meters.meta(d))
    }

    /// The readings of `meter` in `range` as the block index counts them, without reading
    /// a block, and whether that count is exact: it is when no two sources overlap in
    /// time (no reading counted twice) and every block lies wholly inside the range;
    /// otherwise it is an upper bound. An unknown meter has none.
    #[cfg_attr(
        not(feature = "datafusion"),
        expect(dead_code, reason = "read by the sql module")
    )]
    pub(crate) fn indexed_rows(&self, meter: &str, range: &Range<i64>) -> (u64, bool) {
        let st = &self.st;
        let Some(dense) = st.meters.get(meter) else {
            return (0, true);
        };
        let mut spans = Vec::new();
        let mut exact = sources_disjoint(st, dense, range, &mut spans);
        let mems: Vec<_> = st.memtables().collect();
        let mut rows = 0u64;
        for &(k, b, t_first, t_last) in &spans {
            match st.segments.get(k) {
                Some(seg) => {
                    rows += u64::from(seg.blocks()[b].count);
                    exact &= range.start <= t_first && t_last < range.end;
                }
                None => {
                    let series = mems.get(b).and_then(|m| m.get(dense));
                    rows += series.map_or(0, |s| s.range(range).len() as u64);
                }
            }
        }
        (rows, exact)
    }
}

fn dense(st: &State, meter: &str) -> Result<u32> {
    st.meters
        .get(meter)
        .ok_or_else(|| Error::UnknownMeter(meter.to_owned()))
}

pub(crate) fn history(st: &State, meter: &str, range: Range<i64>) -> Result<History> {
    let dense = dense(st, meter)?;
    let mut spans = Vec::new();
    if !sources_disjoint(st, dense, &range, &mut spans) {
        let run = merge_runs(collect_runs(st, dense, &range, |_, _| false)?);
        return Ok(History::new(run));
    }
    let mut out = spare::take();
    // Sources that do not overlap (the common case): each read in time order straight
    // into the result, sized once from the index.
    let mems: Vec<_> = st.memtables().collect();
    let upper = spans
        .iter()
        .map(|&(k, b, _, _)| match st.segments.get(k) {
            Some(seg) => seg.blocks()[b].count as usize,
            None => mems[b].get(dense).map_or(0, |s| s.ts.len()),
        })
        .sum::<usize>();
    out.ts.reserve(upper);
    out.vals.reserve(upper);
    let (mut scratch, mut ints) = (Vec::new(), Vec::new());
    for &(k, b, _, _) in &spans {
        match st.segments.get(k) {
            Some(seg) => read_block_within(seg, b, &range, &mut scratch, &mut ints, &mut out)?,
            None => {
                if let Some(s) = mems[b].get(dense) {
                    let r = s.range(&range);
                    flags::extend(
                        &mut out.flags,
                        out.ts.len(),
                        flags::slice(&s.flags, r.clone()),
                        r.len(),
                    );
                    out.ts.extend_from_slice(&s.ts[r.clone()]);
                    out.vals.extend_from_slice(&s.vals[r]);
                }
            }
        }
    }
    Ok(History::new(out))
}

/// Appends block `b` of `seg`, cut to `range`, to `out`.
fn read_block_within(
    seg: &crate::segment::reader::Segment,
    b: usize,
    range: &Range<i64>,
    scratch: &mut Vec<u8>,
    ints: &mut Vec<i64>,
    out: &mut Run,
) -> Result<()> {
    let e = &seg.blocks()[b];
    let from = out.ts.len();
    seg.read_block_flags(b, scratch, ints, out)?;
    if e.t_first < range.start || e.t_last >= range.end {
        let ts = &out.ts;
        let lo = from + ts[from..].partition_point(|&t| t < range.start);
        let hi = from + ts[from..].partition_point(|&t| t < range.end);
        out.ts.truncate(hi);
        out.vals.truncate(hi);
        out.ts.drain(from..lo);
        out.vals.drain(from..lo);
        if !out.flags.is_empty() {
            out.flags.truncate(hi);
            out.flags.drain(from..lo);
        }
    }
    Ok(())
}

pub(crate) fn aggregate(
    st: &State,
    meter: &str,
    range: Range<i64>,
    bucket: Bucket,
    offset: UtcOffset,
    agg: Agg,
) -> Result<Vec<BucketValue>> {
    let dense = dense(st, meter)?;
    let mut bucketer = Bucketer::new(bucket, offset, agg);
    let spans = source_spans(st, dense, &range);
    let mut from_stats = Vec::new();
    let runs = collect_runs(st, dense, &range, |seg, b| {
        let e = &st.segments[seg].blocks()[b];
        let usable = e.t_first >= range.start
            && e.t_last < range.end
            && bucketer.same_bucket(e.t_first, e.t_last)
            && spans
                .iter()
                .all(|&(s, bb, lo, hi)| (s == seg && bb == b) || hi < e.t_first || lo > e.t_last);
        if usable {
            from_stats.push((
                e.t_first,
                Summary {
                    count: e.count as u64,
                    min: e.min,
                    max: e.max,
                    sum: e.sum,
                    first: e.first,
                    last: e.last,
                },
            ));
        }
        usable
    })?;
    let Run { ts, vals, .. } = merge_runs(runs);
    from_stats.sort_by_key(|p| p.0);
    let mut stats = from_stats.into_iter().peekable();
    for (t, v) in ts.into_iter().zip(vals) {
        while let Some((st_ts, s)) = stats.next_if(|p| p.0 < t) {
            bucketer.add(st_ts, &s);
        }
        bucketer.add(t, &Summary::point(v));
    }
    for (st_ts, s) in stats {
        bucketer.add(st_ts, &s);
    }
    Ok(bucketer.finish())
}

pub(crate) fn gaps(st: &State, meter: &str, range: Range<i64>) -> Result<Vec<Range<i64>>> {
    let d = dense(st, meter)?;
    let iv = st.meters.meta(d).interval_s.ok_or_else(|| {
        Error::InvalidArgument(format!(
            "meter {meter:?} is irregular: it has no grid to report gaps on"
        ))
    })? as i64;
    // Slots before year 1 or after 9998 are no meter's: the range is clamped to
    // the widest timestamp range a store accepts.
    let ok = crate::Options::SUPPORTED_TIMESTAMPS;
    let range = range.start.max(ok.start)..range.end.min(ok.end);
    let mut gaps: Vec<Range<i64>> = Vec::new();
    // Grid arithmetic in i128: ranges may reach the ends of i64.
    let clamp = |x: i128| x.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    let iv128 = iv as i128;
    let mut expect = clamp(
        (range.start as i128).div_euclid(iv128) * iv128
            + if range.start.rem_euclid(iv) == 0 {
                0
            } else {
                iv128
            },
    );
    let end = range.end;
    for (t, _) in history(st, meter, range)? {
        if t > expect {
            gaps.push(expect..t);
        }
        expect = t.saturating_add(iv);
    }
    if expect < end {
        let last = clamp((end as i128 - 1).div_euclid(iv128) * iv128 + iv128);
        gaps.push(expect..last);
    }
    Ok(gaps)
}

/// Time spans `(segment, block, t_first, t_last)` of every source of `meter` overlapping
/// `range`; memtables get `usize::MAX` as segment and their place in `State::memtables` as
/// block.
pub(crate) fn source_spans(
    st: &State,
    meter: u32,
    range: &Range<i64>,
) -> Vec<(usize, usize, i64, i64)> {
    let mut spans = Vec::new();
    for_each_source_span(st, &[meter], range, |_, s| spans.push(s));
    spans
}

/// Collects the sources of `meter` inside `range` into `spans` (as [`source_spans`] gives
/// them, ordered by start) and tells whether no two overlap in time (so blocks can be
/// summed independently).
pub(crate) fn sources_disjoint(
    st: &State,
    meter: u32,
    range: &Range<i64>,
    spans: &mut Vec<(usize, usize, i64, i64)>,
) -> bool {
    spans.clear();
    for_each_source_span(st, &[meter], range, |_, s| spans.push(s));
    spans_disjoint(spans)
}

/// Orders `spans` (one meter's, as [`source_spans`] gives them) by start and tells whether
/// no two overlap in time.
pub(crate) fn spans_disjoint(spans: &mut [(usize, usize, i64, i64)]) -> bool {
    if !spans.windows(2).all(|w| w[0].3 < w[1].2) {
        spans.sort_unstable_by_key(|s| (s.2, s.3));
    }
    spans.windows(2).all(|w| w[0].3 < w[1].2)
}

/// Asks the CPU to fetch the index entries of `meters` (consecutive ids, as a scan hands
/// them out) in every segment, ahead of [`for_each_source_span`]: a meter's entries lie in
/// as many places as there are segments, and fetched on demand each one was a cache miss.
pub(crate) fn prefetch_sources(st: &State, meters: &[u32]) {
    if let (Some(&lo), Some(&hi)) = (meters.first(), meters.last()) {
        for seg in &st.segments {
            seg.prefetch_index(lo, hi);
        }
    }
}

/// [`source_spans`] of each of `meters`, handed to `f` with the meter's index in
/// `meters`. Segment by segment, then the memtables: the index entries of consecutive
/// meters lie together in a segment, so a run of meters reads each segment's index in
/// order (meter by meter, every segment's entries were a cache miss of their own).
pub(crate) fn for_each_source_span(
    st: &State,
    meters: &[u32],
    range: &Range<i64>,
    mut f: impl FnMut(usize, (usize, usize, i64, i64)),
) {
    for (k, seg) in st.segments.iter().enumerate() {
        for (j, &meter) in meters.iter().enumerate() {
            for b in seg.meter_blocks(meter) {
                let e = &seg.blocks()[b];
                if e.t_last >= range.start && e.t_first < range.end {
                    f(j, (k, b, e.t_first, e.t_last));
                }
            }
        }
    }
    for (j, &meter) in meters.iter().enumerate() {
        for (i, mem) in st.memtables().enumerate() {
            if let Some(s) = mem.get(meter) {
                let r = s.range(range);
                if !r.is_empty() {
                    f(j, (usize::MAX, i, s.ts[r.start], s.ts[r.end - 1]));
                }
            }
        }
    }
}

/// Reads every source of `meter` overlapping `range`, oldest first, except the blocks for
/// which `skip(segment, block)` answers true.
pub(crate) fn collect_runs(
    st: &State,
    meter: u32,
    range: &Range<i64>,
    mut skip: impl FnMut(usize, usize) -> bool,
) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    let (mut scratch, mut ints) = (Vec::new(), Vec::new());
    for (k, seg) in st.segments.iter().enumerate() {
        let mut run = Run::default();
        for b in seg.meter_blocks(meter) {
            let e = &seg.blocks()[b];
            if e.t_last < range.start || e.t_first >= range.end || skip(k, b) {
                continue;
            }
            read_block_within(seg, b, range, &mut scratch, &mut ints, &mut run)?;
        }
        if !run.ts.is_empty() {
            runs.push(run);
        }
    }
    for mem in st.memtables() {
        if let Some(s) = mem.get(meter) {
            let r = s.range(range);
            if !r.is_empty() {
                runs.push(Run {
                    ts: s.ts[r.clone()].to_vec(),
                    vals: s.vals[r.clone()].to_vec(),
                    flags: flags::slice(&s.flags, r).to_vec(),
                });
            }
        }
    }
    Ok(runs)
}

/// Merges runs given oldest first into one sorted run; on equal timestamps the newest wins.
///
/// Runs that do not overlap (one window segment each, the common case after compaction)
/// are concatenated in time order whatever their precedence; otherwise runs are merged
/// pairwise in a balanced tree, O(n log k) for k runs.
pub(crate) fn merge_runs(mut runs: Vec<Run>) -> Run {
    runs.retain(|r| !r.ts.is_empty());
    if runs.len() <= 1 {
        return runs.pop().unwrap_or_default();
    }
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| runs[i].ts[0]);
    let disjoint = order.windows(2).all(|w| {
        let a = &runs[w[0]].ts;
        a[a.len() - 1] < runs[w[1]].ts[0]
    });
    if disjoint {
        let total = runs.iter().map(|r| r.ts.len()).sum();
        let mut out = Run {
            ts: Vec::with_capacity(total),
            vals: Vec::with_capacity(total),
            flags: Vec::new(),
        };
        for i in order {
            out.extend_from(&runs[i], 0..runs[i].ts.len());
        }
        return out;
    }
    while runs.len() > 1 {
        let mut next = Vec::with_capacity(runs.len().div_ceil(2));
        let mut it = runs.into_iter();
        while let Some(older) = it.next() {
            match it.next() {
                Some(newer) => next.push(merge_two(older, newer)),
                None => next.push(older),
            }
        }
        runs = next;
    }
    runs.pop().unwrap_or_default()
}

/// Merges two sorted, unique runs; `newer` wins on equal timestamps.
fn merge_two(older: Run, newer: Run) -> Run {
    let (a, b) = (&older.ts, &newer.ts);
    if a.is_empty() || b.last().is_some_and(|&l| l < a[0]) {
        return concat(newer, older);
    }
    if b.is_empty() || a.last().is_some_and(|&l| l < b[0]) {
        return concat(older, newer);
    }
    let mut out = Run {
        ts: Vec::with_capacity(a.len() + b.len()),
        vals: Vec::with_capacity(a.len() + b.len()),
        flags: Vec::new(),
    };
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] < b[j] {
            out.push_from(&older, i);
            i += 1;
        } else {
            if a[i] == b[j] {
                i += 1;
            }
            out.push_from(&newer, j);
            j += 1;
        }
    }
    out.extend_from(&older, i..a.len());
    out.extend_from(&newer, j..b.len());
    out
}

fn concat(mut first: Run, second: Run) -> Run {
    first.extend_from(&second, 0..second.ts.len());
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(i64, f64)]) -> Run {
        Run {
            ts: pairs.iter().map(|p| p.0).collect(),
            vals: pairs.iter().map(|p| p.1).collect(),
            flags: Vec::new(),
        }
    }

    fn flagged(pairs: &[(i64, f64)], f: &[Flag]) -> Run {
        Run {
            flags: f.to_vec(),
            ..run(pairs)
        }
    }

    #[test]
    fn newest_run_wins_and_disjoint_runs_concatenate_in_time_order() {
        let a = run(&[(0, 1.0), (2, 1.0), (4, 1.0)]);
        let b = run(&[(2, 2.0), (3, 2.0)]);
        let c = run(&[(4, 3.0), (9, 3.0)]);
        assert_eq!(
            merge_runs(vec![a.clone(), b.clone(), c.clone()]),
            run(&[(0, 1.0), (2, 2.0), (3, 2.0), (4, 3.0), (9, 3.0)])
        );
        assert_eq!(
            merge_runs(vec![c.clone(), b.clone(), a.clone()]),
            run(&[(0, 1.0), (2, 1.0), (3, 2.0), (4, 1.0), (9, 3.0)])
        );
        // Disjoint but given newest-first in time: still sorted output.
        let late = run(&[(10, 5.0)]);
        let early = run(&[(1, 6.0)]);
        assert_eq!(merge_runs(vec![late, early]), run(&[(1, 6.0), (10, 5.0)]));
        assert_eq!(merge_runs(vec![]), Run::default());
    }

    #[test]
    fn flags_go_with_the_newest_write() {
        use Flag::{Fault as D, Maintenance as M, Normal as N};
        let a = flagged(&[(0, 1.0), (2, 1.0), (4, 1.0)], &[M, M, N]);
        let b = run(&[(2, 2.0), (3, 2.0)]);
        let c = flagged(&[(4, 3.0), (9, 3.0)], &[D, N]);
        let got = merge_runs(vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(got.flags, vec![M, N, N, D, N]);
        // All normal stays sparse; disjoint runs keep their flags in time order.
        assert!(merge_runs(vec![b.clone(), run(&[(3, 1.0)])])
            .flags
            .is_empty());
        let got = merge_runs(vec![c, run(&[(1, 0.0)])]);
        assert_eq!(got.flags, vec![N, D, N]);
    }

    #[test]
    fn with_flags_pairs_each_reading_with_its_flag_from_where_iteration_stands() {
        use Flag::{Fault as D, Normal as N};
        let mut h = History::new(flagged(&[(1, 1.0), (2, 2.0), (3, 3.0)], &[N, D, N]));
        assert_eq!(h.next(), Some((1, 1.0)));
        let rest: Vec<_> = h.with_flags().collect();
        assert_eq!(rest, vec![(2, 2.0, D), (3, 3.0, N)]);
        // A history without flags pairs every reading with the normal flag.
        let all: Vec<_> = History::new(run(&[(5, 0.5), (6, 0.25)]))
            .with_flags()
            .collect();
        assert_eq!(all, vec![(5, 0.5, N), (6, 0.25, N)]);
    }
}
