//! [`Store`]: the public face of the engine. The engine itself, its locks and the order
//! they are taken in, is `engine::inner`.

use crate::engine::background::Flusher;
use crate::engine::compaction::{CompactionReport, Mode};
use crate::engine::inner::{Inner, Trigger};
use crate::engine::read;
use crate::engine::recovery::RecoveryReport;
use crate::engine::retention::RetentionReport;
use crate::engine::state::State;
use crate::error::{Error, Result};
use crate::query::{Agg, Bucket, BucketValue};
use crate::types::{MeterMeta, Reading, UtcOffset};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLockReadGuard};

pub use crate::engine::options::{CompactionOptions, Options, UnknownMeters};
pub use crate::engine::read::{History, Snapshot, WithFlags};
pub use crate::engine::window::Window;

/// Counters of a store since it was opened, and its current size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// Live segment files.
    pub segments: usize,
    /// Their bytes.
    pub segment_bytes: u64,
    /// Bytes buffered in memtables (16 per reading).
    pub memtable_bytes: usize,
    /// Flushes that wrote segments.
    pub flushes: u64,
    /// Segment bytes written by flushes.
    pub flushed_bytes: u64,
    /// Readings written by flushes.
    pub flushed_readings: u64,
    /// Compaction passes that rewrote at least one window.
    pub compactions: u64,
    /// Windows rewritten.
    pub windows_compacted: u64,
    /// Bytes of the segment files compaction replaced.
    pub compaction_bytes_read: u64,
    /// Segment bytes written by compaction.
    pub compaction_bytes_written: u64,
    /// Readings written by compaction.
    pub compaction_readings_written: u64,
    /// Background flushes (or the compactions after them) that failed; the flush is
    /// retried, and an append that finds twice the memtable budget buffered flushes
    /// inline and returns the error.
    pub background_flush_errors: u64,
}

impl StoreStats {
    /// Segment write amplification: all segment bytes written (flushes and compactions)
    /// per segment byte written by flushes; 1.0 before anything was flushed.
    pub fn write_amplification(&self) -> f64 {
        if self.flushed_bytes == 0 {
            return 1.0;
        }
        (self.flushed_bytes + self.compaction_bytes_written) as f64 / self.flushed_bytes as f64
    }
}

/// An embedded store of meter readings in one directory.
///
/// `Store` is `Send + Sync`: share it with an `Arc`. Appends from many threads overlap
/// and share log syncs; a query sees one consistent state (never part of a batch) and
/// waits at most for one memtable insert, never for a log sync, a flush or a compaction;
/// a [`Snapshot`] keeps one state for many queries.
///
/// ```
/// use meterstore::{Store, Options, MeterMeta, Reading};
/// let dir = tempfile::tempdir().expect("temp dir");
/// let store = Store::open(dir.path(), Options::default())?;
/// store.register_meter("M000001", MeterMeta::default())?;
/// store.append(&[Reading::new("M000001", 1_700_000_100, 1.25)])?;
/// let h: Vec<(i64, f64)> = store.history("M000001", 0..i64::MAX)?.collect();
/// assert_eq!(h, vec![(1_700_000_100, 1.25)]);
/// # Ok::<(), meterstore::Error>(())
/// ```
pub struct Store {
    inner: Arc<Inner>,
    /// Dropped after `inner`: stops and joins the flusher thread, which holds the only
    /// other reference, so the store (and its lock) is closed when `drop` returns.
    _flusher: Option<Flusher>,
}

impl Store {
    /// Opens the store in `dir` for writing, creating it if the directory holds no store
    /// (and [`Options::create_if_missing`] is on). Checks that every file the store needs
    /// is there and fits the others (MANIFEST, METERS, every live segment's header, footer
    /// and index, the log files MANIFEST needs): a missing, damaged or stale file is an
    /// error naming it ([`Error::Damaged`], [`Error::Corrupt`], ...), and nothing is
    /// changed. Then it replays the write-ahead log, cutting a torn tail off its last
    /// file, and removes its own unfinished temporary files and the segment files the
    /// manifest superseded (see [`Store::recovery_report`]).
    ///
    /// The writer holds an exclusive OS lock (`flock`) on the directory itself for as long
    /// as the store is open: a second writer, from this process or another, fails with
    /// [`Error::Locked`], whatever happens to the files inside. Readers
    /// ([`Store::open_read_only`]) take no lock.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let background = opts.background_flush;
        let inner = Arc::new(Inner::open(dir.as_ref(), opts)?);
        let flusher = match background {
            true => Some(Flusher::spawn(inner.clone()).map_err(|e| Error::io(&inner.dir, e))?),
            false => None,
        };
        Ok(Store {
            inner,
            _flusher: flusher,
        })
    }

    /// Opens the store in `dir` for reading only, beside a writer or without one. It takes
    /// no lock and never writes, truncates or deletes anything. It sees the segments of the
    /// newest manifest and, replayed into memory, the log records not yet flushed (what
    /// the writer has acknowledged or is writing right now); a bad region at the end of
    /// the last log file (a record being written, or a torn tail) ends that replay and is
    /// counted in [`Store::recovery_report`]. The same checks as [`Store::open`] apply:
    /// a missing, damaged or stale file is an error naming it.
    ///
    /// The view stays as it was at open (segments stay mapped even when the writer's
    /// compaction deletes their files) until [`Store::refresh`]. Appends, registrations,
    /// flushes, compactions and retention return [`Error::ReadOnly`].
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Store> {
        let inner = Inner::open_read_only(dir.as_ref(), Options::default())?;
        Ok(Store {
            inner: Arc::new(inner),
            _flusher: None,
        })
    }

    /// For a store opened with [`Store::open_read_only`]: moves to the newest manifest
    /// and log, reusing the segments already mapped; returns what was replayed of the log.
    /// For a writer, which always sees everything, returns [`Store::recovery_report`].
    pub fn refresh(&self) -> Result<RecoveryReport> {
        self.inner.refresh()
    }

    /// Whether the store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only()
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What [`Store::open`] found: the log replay (records replayed, the torn tail cut
    /// off, bytes salvaged), readings and meters replayed, orphan files removed.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// The current state, for readers inside the crate. Appends, flushes and compactions
    /// wait while a guard is held: hold it briefly, or work on [`Store::snapshot`]'s state.
    pub(crate) fn state(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state()
    }

    /// Registers a meter. Registering an existing id with the same metadata is a no-op;
    /// with different metadata it is an error. Durable when this returns.
    pub fn register_meter(&self, id: &str, meta: MeterMeta) -> Result<()> {
        self.inner.register_meter(id, meta)
    }

    /// Registers many meters with one durable write of the registry: all of them or, on
    /// an invalid id or conflicting metadata (named in the error), none. Meters already
    /// registered with the same metadata are skipped.
    pub fn register_meters(&self, meters: &[(String, MeterMeta)]) -> Result<()> {
        self.inner.register_meters(meters)
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
    ///
    /// The batch, with the meters it registers, is written to the write-ahead log as one
    /// record and applied to the memtable; the call returns once the record is durable
    /// per [`Options::sync`]. Queries may see the batch a moment before that. When the
    /// call returns `Ok`, the batch survives a crash (under [`SyncPolicy::Never`] only a
    /// crash of the process). When it returns an error, the batch is either wholly stored
    /// or not at all; after an I/O error in the log, every append fails until the store
    /// is reopened.
    ///
    /// [`SyncPolicy::Never`]: crate::SyncPolicy::Never
    pub fn append(&self, batch: &[Reading<'_>]) -> Result<()> {
        self.inner.append(batch)
    }

    /// Makes every append so far durable now, whatever the sync policy.
    pub fn sync(&self) -> Result<()> {
        self.inner.sync()
    }

    /// Writes everything buffered into new immutable segments, one per window, and
    /// deletes the log files they came from; waits for a background flush in progress.
    /// A no-op when nothing is buffered. With [`CompactionOptions::auto`], runs the
    /// compaction policy afterwards, unless another compaction is running.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush(Trigger::Explicit)
    }

    /// Runs the compaction policy ([`CompactionOptions`]) now: rewrites each window that
    /// it picks into one segment, merging late and resent readings (the newest write
    /// wins) and dropping the files it replaces. Windows holding a single segment are
    /// never rewritten. Appends, flushes and queries go on meanwhile; a second
    /// compaction waits for the first.
    pub fn compact(&self) -> Result<CompactionReport> {
        self.inner.compact(Mode::Policy, &mut |_, _| {})
    }

    /// Rewrites every window that holds more than one segment into one segment (a cold
    /// one where [`CompactionOptions::cold_after`](crate::CompactionOptions::cold_after)
    /// says so), and every window due for the cold tier that is not cold yet.
    pub fn compact_all(&self) -> Result<CompactionReport> {
        self.inner.compact(Mode::All, &mut |_, _| {})
    }

    /// Rewrites every window eligible for the cold tier into one cold segment now: those
    /// that ended [`CompactionOptions::cold_after`](crate::CompactionOptions::cold_after)
    /// before the newest reading (with `cold_after` off, every window that ended before
    /// it), unless the window is one cold segment already. Through the same atomic
    /// segment rewrite and manifest switch as every compaction: a crash leaves the hot
    /// segments or the cold ones, never neither. Reads see no difference but speed.
    pub fn compact_cold(&self) -> Result<CompactionReport> {
        self.compact_with_progress(true, &mut |_, _| {})
    }

    /// [`Store::compact_cold`] when `cold`, else [`Store::compact`], calling
    /// `progress(done, total)` with the windows written so far and the windows to write
    /// (once with `done == 0` before the first).
    pub fn compact_with_progress(
        &self,
        cold: bool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<CompactionReport> {
        let mode = if cold { Mode::Cold } else { Mode::Policy };
        self.inner.compact(mode, progress)
    }

    /// Retention: deletes every window that ends at or before `cutoff`, whole files at a
    /// time. Buffered readings are flushed first, so that readings before the cutoff that
    /// were appended before this call go too (and cannot come back from the log after a
    /// crash). The window holding `cutoff` itself straddles it and is kept whole: see
    /// [`RetentionReport::cutoff`]. Readings appended later for dropped windows are
    /// stored again (late data is never refused).
    pub fn drop_before(&self, cutoff: i64) -> Result<RetentionReport> {
        self.inner.drop_before(cutoff)
    }

    /// A consistent view for many queries: see [`Snapshot`]. Taking one seals the memtable
    /// (cheap: appends go on into a fresh one).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            st: self.inner.snapshot(),
        }
    }

    /// Flushes what is buffered and closes the store. Dropping a store without `close`
    /// is safe too: the log holds what was appended.
    pub fn close(self) -> Result<()> {
        match self.is_read_only() {
            true => Ok(()),
            false => self.flush(),
        }
    }

    /// Counters since open and current sizes.
    pub fn stats(&self) -> StoreStats {
        let (segments, segment_bytes, memtable_bytes) = {
            let st = self.state();
            (
                st.segments.len(),
                st.segments.iter().map(|s| s.file_len()).sum(),
                st.buffered(),
            )
        };
        let c = &self.inner.counters;
        StoreStats {
            segments,
            segment_bytes,
            memtable_bytes,
            flushes: c.flushes.load(Relaxed),
            flushed_bytes: c.flushed_bytes.load(Relaxed),
            flushed_readings: c.flushed_readings.load(Relaxed),
            compactions: c.compactions.load(Relaxed),
            windows_compacted: c.windows_compacted.load(Relaxed),
            compaction_bytes_read: c.compaction_bytes_read.load(Relaxed),
            compaction_bytes_written: c.compaction_bytes_written.load(Relaxed),
            compaction_readings_written: c.compaction_readings_written.load(Relaxed),
            background_flush_errors: c.background_flush_errors.load(Relaxed),
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

    /// A meter's readings with `range.start <= ts < range.end`, in time order, unflushed
    /// and flushed data merged.
    pub fn history(&self, meter: &str, range: Range<i64>) -> Result<History> {
        read::history(&self.state(), meter, range)
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
        read::aggregate(&self.state(), meter, range, bucket, offset, agg)
    }

    /// Missing intervals of a regular meter within `range` (clamped to
    /// [`Options::SUPPORTED_TIMESTAMPS`]), as half-open `[start, end)` spans of the meter's
    /// grid; consecutive missing slots form one span.
    pub fn gaps(&self, meter: &str, range: Range<i64>) -> Result<Vec<Range<i64>>> {
        read::gaps(&self.state(), meter, range)
    }
}
