//! [`Store`]: the public face of the engine.

use crate::engine::manifest::{self, Manifest};
use crate::engine::memtable::Memtable;
use crate::engine::meters::Meters;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::query::{Agg, Bucket, BucketValue, Bucketer, Summary};
use crate::segment::{Segment, SegmentWriter};
use crate::types::{next_month_start, MeterMeta, Reading, UtcOffset};
use std::collections::HashMap;
use std::fs::{self, File};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What [`Store::append`] does with a meter id it has not seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownMeters {
    /// Reject the batch. The default: a typo in a meter id is caught, not stored.
    Reject,
    /// Register the meter with this metadata.
    Register(MeterMeta),
}

/// Options for [`Store::open`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Handling of unknown meter ids in appends. Default: [`UnknownMeters::Reject`].
    pub unknown_meters: UnknownMeters,
    /// Local time of the calendar months that segment blocks never cross, so that month
    /// aggregates in this offset are answered from block statistics. Default: UTC+08:00.
    pub window_offset: UtcOffset,
    /// The memtable is flushed into a segment, inline at the end of the append that
    /// crosses it, once it holds this many bytes. Default: 256 MiB.
    pub memtable_budget_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            unknown_meters: UnknownMeters::Reject,
            window_offset: UtcOffset::CHINA,
            memtable_budget_bytes: 256 << 20,
        }
    }
}

/// Name of the lock file that keeps a second process from opening the store for writing.
const LOCK_FILE: &str = "LOCK";

/// What readers see: the live segments and the memtables not yet in them.
pub(crate) struct State {
    pub(crate) meters: Meters,
    pub(crate) manifest: Manifest,
    /// Live segments, oldest first; later ones win on the same (meter, timestamp).
    pub(crate) segments: Vec<Arc<Segment>>,
    /// Memtables being flushed, oldest first; newer than every segment.
    pub(crate) frozen: Vec<Arc<Memtable>>,
    /// The memtable receiving appends; newest of all.
    pub(crate) active: Memtable,
}

/// An embedded store of meter readings in one directory.
///
/// `Store` is `Send + Sync`: share it with an `Arc`. Appends and flushes are serialised;
/// queries run concurrently with them.
///
/// ```
/// use meterstore::{Store, Options, MeterMeta, Reading};
/// let dir = tempfile::tempdir().expect("temp dir");
/// let store = Store::open(dir.path(), Options::default())?;
/// store.register_meter("M000001", MeterMeta::default())?;
/// store.append(&[Reading { meter: "M000001", ts: 1_700_000_100, value: 1.25 }])?;
/// let h: Vec<(i64, f64)> = store.history("M000001", 0..i64::MAX)?.collect();
/// assert_eq!(h, vec![(1_700_000_100, 1.25)]);
/// # Ok::<(), meterstore::Error>(())
/// ```
pub struct Store {
    dir: PathBuf,
    opts: Options,
    _lock: File,
    writer: Mutex<()>,
    state: RwLock<State>,
}

fn read_lock(l: &RwLock<State>) -> RwLockReadGuard<'_, State> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write_lock(l: &RwLock<State>) -> RwLockWriteGuard<'_, State> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// Opens the store in `dir`, creating it if needed. Validates every live segment's
    /// header, footer and index, removes unfinished temporary files and segment files that
    /// the manifest does not list (left by a crash between writing and publishing).
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked { path: dir }),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let manifest = Manifest::load(&dir)?;
        let meters = Meters::load(&dir)?;
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan = match manifest::parse_segment_file(&name) {
                Some(seq) => !manifest.segments.contains(&seq),
                None => name.ends_with(&format!(".{}", fsutil::TMP_SUFFIX)),
            };
            if orphan {
                fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            }
        }
        let segments = manifest
            .segments
            .iter()
            .map(|&s| Segment::open(&manifest::segment_file(&dir, s)).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let state = State {
            meters,
            manifest,
            segments,
            frozen: Vec::new(),
            active: Memtable::default(),
        };
        Ok(Store {
            dir,
            opts,
            _lock: lock,
            writer: Mutex::new(()),
            state: RwLock::new(state),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn state(&self) -> RwLockReadGuard<'_, State> {
        read_lock(&self.state)
    }

    /// Registers a meter. Registering an existing id with the same metadata is a no-op;
    /// with different metadata it is an error.
    pub fn register_meter(&self, id: &str, meta: MeterMeta) -> Result<()> {
        let _w = self.writer();
        {
            let st = self.state();
            if let Some(d) = st.meters.get(id) {
                return if st.meters.meta(d) == &meta {
                    Ok(())
                } else {
                    Err(Error::InvalidArgument(format!(
                        "meter {id:?} is already registered with other metadata"
                    )))
                };
            }
            Meters::validate(id, &meta)
                .map_err(|r| Error::InvalidArgument(format!("meter {id:?}: {r}")))?;
            st.meters
                .store(&self.dir, &[(id.to_owned(), meta.clone())])?;
        }
        write_lock(&self.state).meters.push(id, meta);
        Ok(())
    }

    /// Metadata of a registered meter.
    pub fn meter_meta(&self, id: &str) -> Option<MeterMeta> {
        let st = self.state();
        st.meters.get(id).map(|d| st.meters.meta(d).clone())
    }

    /// External ids of all registered meters, in registration order.
    pub fn meter_ids(&self) -> Vec<String> {
        self.state().meters.ids().to_vec()
    }

    /// Appends a batch. Every reading is checked first: the value must be finite, the
    /// meter known (or registered, per [`Options::unknown_meters`]) and, for a regular
    /// meter, the timestamp on its interval grid. One bad reading rejects the whole batch
    /// with an error naming it, and nothing is stored. Within a batch and across batches,
    /// the later write of the same (meter, timestamp) wins.
    pub fn append(&self, batch: &[Reading<'_>]) -> Result<()> {
        let _w = self.writer();
        let mut new: Vec<(String, MeterMeta)> = Vec::new();
        let mut new_ids: HashMap<&str, u32> = HashMap::new();
        let mut resolved = Vec::with_capacity(batch.len());
        {
            let st = self.state();
            let reject = |i: usize, r: &Reading<'_>, reason: String| Error::InvalidReading {
                index: i,
                meter: r.meter.to_owned(),
                ts: r.ts,
                reason,
            };
            for (i, r) in batch.iter().enumerate() {
                if !r.value.is_finite() {
                    return Err(reject(i, r, format!("value {} is not finite", r.value)));
                }
                let (dense, meta) = match st.meters.get(r.meter) {
                    Some(d) => (d, st.meters.meta(d)),
                    None => match new_ids.get(r.meter) {
                        Some(&d) => (d, &new[(d as usize) - st.meters.len()].1),
                        None => match &self.opts.unknown_meters {
                            UnknownMeters::Reject => {
                                return Err(reject(i, r, "unknown meter".into()))
                            }
                            UnknownMeters::Register(meta) => {
                                Meters::validate(r.meter, meta).map_err(|e| reject(i, r, e))?;
                                let d = (st.meters.len() + new.len()) as u32;
                                new.push((r.meter.to_owned(), meta.clone()));
                                new_ids.insert(r.meter, d);
                                (d, meta)
                            }
                        },
                    },
                };
                if let Some(iv) = meta.interval_s {
                    if r.ts.rem_euclid(iv as i64) != 0 {
                        return Err(reject(
                            i,
                            r,
                            format!("timestamp is off the meter's {iv} s grid"),
                        ));
                    }
                }
                resolved.push((dense, r.ts, r.value));
            }
            if !new.is_empty() {
                st.meters.store(&self.dir, &new)?;
            }
        }
        let over_budget = {
            let mut st = write_lock(&self.state);
            for (id, meta) in new {
                st.meters.push(&id, meta);
            }
            st.active.insert_batch(resolved.into_iter());
            st.active.bytes() >= self.opts.memtable_budget_bytes
        };
        if over_budget {
            self.flush_locked()?;
        }
        Ok(())
    }

    /// Writes everything buffered into a new immutable segment. A no-op when nothing is
    /// buffered.
    pub fn flush(&self) -> Result<()> {
        let _w = self.writer();
        self.flush_locked()
    }

    fn flush_locked(&self) -> Result<()> {
        let (frozen, seq, mut manifest) = {
            let mut st = write_lock(&self.state);
            if st.active.is_empty() {
                return Ok(());
            }
            let frozen = Arc::new(std::mem::take(&mut st.active));
            st.frozen.push(frozen.clone());
            (frozen, st.manifest.next_seq, st.manifest.clone())
        };
        let path = manifest::segment_file(&self.dir, seq);
        let written = (|| {
            let mut w = SegmentWriter::create(&path)?;
            let off = self.opts.window_offset;
            let window_end = move |t: i64| next_month_start(t, off);
            for (m, s) in frozen.sorted_series() {
                w.add_series(m, &s.ts, &s.vals, &window_end)?;
            }
            w.finish()?;
            let seg = Segment::open(&path)?;
            manifest.segments.push(seq);
            manifest.next_seq = seq + 1;
            manifest.store(&self.dir)?;
            Ok(seg)
        })();
        let mut st = write_lock(&self.state);
        st.frozen.retain(|f| !Arc::ptr_eq(f, &frozen));
        match written {
            Ok(seg) => {
                st.segments.push(Arc::new(seg));
                st.manifest = manifest;
                Ok(())
            }
            Err(e) => {
                // Put the readings back under the newer appends so nothing is lost and the
                // later write still wins; the next flush retries.
                let newer = std::mem::take(&mut st.active);
                let mut back = (*frozen).clone();
                back.insert_batch(
                    newer
                        .sorted_series()
                        .into_iter()
                        .flat_map(|(m, s)| s.ts.iter().zip(&s.vals).map(move |(&t, &v)| (m, t, v))),
                );
                st.active = back;
                let _ = fs::remove_file(fsutil::tmp_path(&path));
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Total bytes of the live segment files.
    pub fn segment_bytes(&self) -> u64 {
        self.state().segments.iter().map(|s| s.file_len()).sum()
    }

    /// Number of live segment files.
    pub fn segment_count(&self) -> usize {
        self.state().segments.len()
    }

    fn dense(st: &State, meter: &str) -> Result<u32> {
        st.meters
            .get(meter)
            .ok_or_else(|| Error::UnknownMeter(meter.to_owned()))
    }

    /// A meter's readings with `range.start <= ts < range.end`, in time order, unflushed
    /// and flushed data merged.
    pub fn history(&self, meter: &str, range: Range<i64>) -> Result<History> {
        let st = self.state();
        let dense = Self::dense(&st, meter)?;
        let runs = collect_runs(&st, dense, &range, |_, _| false)?;
        let (ts, vals) = merge_runs(runs);
        Ok(History {
            ts: ts.into_iter(),
            vals: vals.into_iter(),
        })
    }

    /// Aggregates a meter's readings in `range` per bucket aligned to local time in
    /// `offset`. A block that lies wholly inside the range and inside one bucket, and that
    /// no newer data overlaps, is answered from its statistics without decoding.
    pub fn aggregate(
        &self,
        meter: &str,
        range: Range<i64>,
        bucket: Bucket,
        offset: UtcOffset,
        agg: Agg,
    ) -> Result<Vec<BucketValue>> {
        let st = self.state();
        let dense = Self::dense(&st, meter)?;
        let mut bucketer = Bucketer::new(bucket, offset, agg);
        let spans = source_spans(&st, dense, &range);
        let mut from_stats = Vec::new();
        let runs = collect_runs(&st, dense, &range, |seg, b| {
            let e = &st.segments[seg].blocks()[b];
            let usable = e.t_first >= range.start
                && e.t_last < range.end
                && bucketer.same_bucket(e.t_first, e.t_last)
                && spans.iter().all(|&(s, bb, lo, hi)| {
                    (s == seg && bb == b) || hi < e.t_first || lo > e.t_last
                });
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
        let (ts, vals) = merge_runs(runs);
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

    /// Missing intervals of a regular meter within `range`, as half-open `[start, end)`
    /// spans of the meter's grid; consecutive missing slots form one span.
    pub fn gaps(&self, meter: &str, range: Range<i64>) -> Result<Vec<Range<i64>>> {
        let iv = {
            let st = self.state();
            let d = Self::dense(&st, meter)?;
            st.meters.meta(d).interval_s.ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "meter {meter:?} is irregular: it has no grid to report gaps on"
                ))
            })? as i64
        };
        let mut gaps: Vec<Range<i64>> = Vec::new();
        let mut expect = range.start.div_euclid(iv) * iv
            + if range.start.rem_euclid(iv) == 0 {
                0
            } else {
                iv
            };
        let end = range.end;
        for (t, _) in self.history(meter, range)? {
            if t > expect {
                gaps.push(expect..t);
            }
            expect = t + iv;
        }
        if expect < end {
            let last = (end - 1).div_euclid(iv) * iv + iv;
            gaps.push(expect..last);
        }
        Ok(gaps)
    }
}

/// A meter's readings in time order, as `(timestamp, value)`.
pub struct History {
    ts: std::vec::IntoIter<i64>,
    vals: std::vec::IntoIter<f64>,
}

impl Iterator for History {
    type Item = (i64, f64);
    fn next(&mut self) -> Option<(i64, f64)> {
        Some((self.ts.next()?, self.vals.next()?))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ts.size_hint()
    }
}

impl ExactSizeIterator for History {}

/// One source's readings of a meter, sorted and unique by timestamp.
pub(crate) type Run = (Vec<i64>, Vec<f64>);

/// Time spans `(segment, block, t_first, t_last)` of every source of `meter` overlapping
/// `range`; memtables get `usize::MAX` as segment.
fn source_spans(st: &State, meter: u32, range: &Range<i64>) -> Vec<(usize, usize, i64, i64)> {
    let mut spans = Vec::new();
    for (k, seg) in st.segments.iter().enumerate() {
        for b in seg.meter_blocks(meter) {
            let e = &seg.blocks()[b];
            if e.t_last >= range.start && e.t_first < range.end {
                spans.push((k, b, e.t_first, e.t_last));
            }
        }
    }
    for mem in st.frozen.iter().map(|f| &**f).chain([&st.active]) {
        if let Some(s) = mem.get(meter) {
            let r = s.range(range);
            if !r.is_empty() {
                spans.push((usize::MAX, 0, s.ts[r.start], s.ts[r.end - 1]));
            }
        }
    }
    spans
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
        let (mut ts, mut vals) = (Vec::new(), Vec::new());
        for b in seg.meter_blocks(meter) {
            let e = &seg.blocks()[b];
            if e.t_last < range.start || e.t_first >= range.end || skip(k, b) {
                continue;
            }
            let from = ts.len();
            seg.read_block(b, &mut scratch, &mut ints, &mut ts, &mut vals)?;
            if e.t_first < range.start || e.t_last >= range.end {
                let lo = from + ts[from..].partition_point(|&t| t < range.start);
                let hi = from + ts[from..].partition_point(|&t| t < range.end);
                ts.truncate(hi);
                vals.truncate(hi);
                ts.drain(from..lo);
                vals.drain(from..lo);
            }
        }
        if !ts.is_empty() {
            runs.push((ts, vals));
        }
    }
    for mem in st.frozen.iter().map(|f| &**f).chain([&st.active]) {
        if let Some(s) = mem.get(meter) {
            let r = s.range(range);
            if !r.is_empty() {
                runs.push((s.ts[r.clone()].to_vec(), s.vals[r].to_vec()));
            }
        }
    }
    Ok(runs)
}

/// Merges runs given oldest first into one sorted run; on equal timestamps the newest wins.
pub(crate) fn merge_runs(mut runs: Vec<Run>) -> Run {
    runs.retain(|r| !r.0.is_empty());
    if runs.len() <= 1 {
        return runs.pop().unwrap_or_default();
    }
    let disjoint = runs
        .windows(2)
        .all(|w| w[0].0[w[0].0.len() - 1] < w[1].0[0]);
    if disjoint {
        let mut it = runs.into_iter();
        let (mut ts, mut vals) = it.next().unwrap_or_default();
        for (t, v) in it {
            ts.extend(t);
            vals.extend(v);
        }
        return (ts, vals);
    }
    let mut all: Vec<(i64, u32, f64)> = runs
        .iter()
        .enumerate()
        .flat_map(|(p, (ts, vals))| ts.iter().zip(vals).map(move |(&t, &v)| (t, p as u32, v)))
        .collect();
    all.sort_unstable_by_key(|e| (e.0, e.1));
    let mut ts = Vec::with_capacity(all.len());
    let mut vals = Vec::with_capacity(all.len());
    for (k, e) in all.iter().enumerate() {
        if all.get(k + 1).is_some_and(|n| n.0 == e.0) {
            continue;
        }
        ts.push(e.0);
        vals.push(e.2);
    }
    (ts, vals)
}
