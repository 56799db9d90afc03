//! The engine behind [`Store`](crate::Store): its state, locks and every operation that
//! changes files. `Store` wraps it in an `Arc` shared with the background flusher.
//!
//! Locks, always taken in this order, so no thread waits for an earlier one while holding
//! a later one:
//! 1. `compact`: one compaction or retention pass at a time.
//! 2. `flush`: one flush at a time, so flushed segments are published in sequence order;
//!    compaction holds it briefly to reserve its output sequence numbers while no flush
//!    is in flight (see "Compaction" in `docs/FORMAT.md` for why that keeps the newest
//!    write winning).
//! 3. `writer`: appends write their log record and apply it to the memtable under it, so
//!    memtable order is log order; a flush rotates the log and seals the memtable under
//!    it, so every record in the older log files is in the sealed memtables.
//! 4. `meta`: edits of MANIFEST and METERS, and the sequence-number counter.
//! 5. `state`: what readers see; written only for short swaps and memtable inserts.
//!
//! The log's own locks come last. No store lock is held while an append checks and
//! encodes its batch or waits for its log sync, so concurrent appenders overlap and share
//! syncs (group commit).

use super::background::Signal;
use super::batch;
use super::compaction::{self, CompactionReport, Mode};
use super::flush::{self, Written};
use super::manifest::{self, Manifest, MetersCheck};
use super::memtable::Memtable;
use super::meters::Meters;
use super::options::{Options, UnknownMeters};
use super::recovery::RecoveryReport;
use super::retention::{self, RetentionReport};
use super::state::State;
use super::timestamp;
use super::window::Window;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::segment::Segment;
use crate::types::{MeterMeta, Reading};
use crate::wal::Wal;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

mod opening;

/// Segment seqs reserved in MANIFEST at a time, before files get them (see
/// [`Manifest::next_seq`]): one manifest write per this many segments.
const SEQ_RESERVE: u64 = 64;
/// Sealed memtables kept before a snapshot merges some: every query merges one run per
/// sealed memtable, 8 keeps that cheap, and merging the newest pieces as a
/// binary counter copies each reading O(log n) times between flushes.
const MAX_PIECES: usize = 8;

/// Sequence numbers and what is durable in METERS; changed only under the `meta` lock.
struct Meta {
    /// The next segment seq to hand out (reserved seqs are never reused, even when the
    /// write they were for failed).
    next_seq: u64,
    /// MANIFEST on disk reserves the seqs below this: `next_seq` never passes it.
    reserved: u64,
    /// Meters (a prefix of the registry) that the METERS file holds.
    meters_durable: usize,
    /// What the METERS file holds, recorded in the next manifest.
    meters_check: MetersCheck,
}

/// Running totals for [`Store::stats`](crate::Store::stats).
#[derive(Default)]
pub(crate) struct Counters {
    pub flushes: AtomicU64,
    pub flushed_bytes: AtomicU64,
    pub flushed_readings: AtomicU64,
    pub compactions: AtomicU64,
    pub windows_compacted: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub compaction_readings_written: AtomicU64,
    pub background_flush_errors: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) opts: Options,
    /// The writer's lock on the directory; `None` for a read-only store.
    _lock: Option<File>,
    /// The log appends go to; `None` for a read-only store.
    wal: Option<Wal>,
    compact: Mutex<()>,
    flush: Mutex<()>,
    writer: Mutex<()>,
    meta: Mutex<Meta>,
    state: RwLock<State>,
    pub(crate) recovery: RecoveryReport,
    pub(crate) counters: Counters,
    /// Newest timestamp appended or stored: the clock of the settle rule of compaction.
    newest: AtomicI64,
    /// Requests to the background flusher, if any.
    pub(crate) signal: Signal,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
fn write_lock(l: &RwLock<State>) -> RwLockWriteGuard<'_, State> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Why a flush runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The memtable budget: the ingest hot path. Its segments skip the zstd attempt
    /// (about a quarter of the encode time, and noisy readings almost never pass the
    /// bar); they are usually rewritten by compaction, which tries it.
    Budget,
    /// A caller asked ([`Store::flush`](crate::Store::flush), `close`, retention): the
    /// segments may stay as they are for long, so blocks get zstd where it pays.
    Explicit,
}

/// A batch checked and resolved to dense meter ids.
struct Prepared {
    resolved: Vec<batch::Resolved>,
    /// Meters the batch registers, dense ids from `first_new` on.
    new: Vec<(String, MeterMeta)>,
    first_new: u32,
    max_ts: i64,
}

impl Prepared {
    /// The log record and whether a reading's flag is not normal.
    fn payload(&self) -> (Vec<u8>, bool) {
        let new: Vec<(u32, &str, &MeterMeta)> = (self.first_new..)
            .zip(&self.new)
            .map(|(d, (id, meta))| (d, id.as_str(), meta))
            .collect();
        batch::encode(&new, &self.resolved)
    }
}

impl Inner {
    pub(crate) fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register_meter(&self, id: &str, meta: MeterMeta) -> Result<()> {
        self.register_meters(&[(id.to_owned(), meta)])
    }

    /// Registers many meters with one durable write of the registry; all or nothing.
    pub(crate) fn register_meters(&self, list: &[(String, MeterMeta)]) -> Result<()> {
        self.wal("registering meters")?;
        let _w = lock(&self.writer);
        let meters = self.state().meters.clone();
        let mut new: Vec<(String, MeterMeta)> = Vec::new();
        let mut seen: std::collections::HashMap<&str, &MeterMeta> =
            std::collections::HashMap::new();
        for (id, meta) in list {
            let known = meters
                .get(id)
                .map(|d| meters.meta(d))
                .or_else(|| seen.get(id.as_str()).copied());
            match known {
                Some(k) if k == meta => continue,
                Some(_) => {
                    return Err(Error::InvalidArgument(format!(
                        "meter {id:?} is already registered with other metadata"
                    )))
                }
                None => {}
            }
            Meters::validate(id, meta)
                .map_err(|r| Error::InvalidArgument(format!("meter {id:?}: {r}")))?;
            seen.insert(id, meta);
            new.push((id.clone(), meta.clone()));
        }
        if new.is_empty() {
            return Ok(());
        }
        let mut m = lock(&self.meta);
        let generation = self.state().manifest.generation + 1;
        m.meters_check = meters.store(&self.dir, &new, generation)?;
        m.meters_durable = meters.len() + new.len();
        {
            let mut st = write_lock(&self.state);
            let reg = Arc::make_mut(&mut st.meters);
            for (id, meta) in new {
                reg.push(&id, meta);
            }
        }
        // The manifest records the registry it goes with.
        let manifest = self.next_manifest(&m);
        manifest.store(&self.dir)?;
        write_lock(&self.state).manifest = manifest;
        Ok(())
    }

    pub(crate) fn append(&self, batch: &[Reading<'_>]) -> Result<()> {
        let wal = self.wal("appending")?;
        if batch.is_empty() {
            return Ok(());
        }
        let budget = self.opts.memtable_budget_bytes;
        // Memory stays bounded: at twice the budget, wait for the background flush, or
        // flush inline (and reject the batch if that flush fails).
        while self.state().buffered() >= budget.saturating_mul(2) {
            if self.opts.background_flush && self.signal.wait_while_flushing() {
                continue;
            }
            self.flush_only(Trigger::Budget)?;
            break;
        }
        // Checking and encoding need no lock when the batch registers no meter: the dense
        // ids and metadata of registered meters never change.
        let mut p = self.prepare(&self.state(), batch)?;
        let mut payload = if p.new.is_empty() {
            Some(p.payload())
        } else {
            None
        };
        let (lsn, over) = {
            let _w = lock(&self.writer);
            if payload.is_none() {
                // New meters get their dense ids under the writer lock.
                p = self.prepare(&self.state(), batch)?;
            }
            let (payload, flagged) = payload.take().unwrap_or_else(|| p.payload());
            let lsn = wal.write(&payload)?;
            let mut st = write_lock(&self.state);
            if !p.new.is_empty() {
                let meters = Arc::make_mut(&mut st.meters);
                for (id, meta) in std::mem::take(&mut p.new) {
                    meters.push(&id, meta);
                }
            }
            st.active.insert_batch(&p.resolved, flagged);
            self.newest.fetch_max(p.max_ts, Relaxed);
            (lsn, st.buffered() >= budget)
        };
        wal.commit(lsn)?;
        if over {
            if self.opts.background_flush {
                self.signal.request_flush();
            } else {
                self.flush(Trigger::Budget)?;
            }
        }
        Ok(())
    }

    fn prepare(&self, st: &State, batch: &[Reading<'_>]) -> Result<Prepared> {
        let first_new = st.meters.len() as u32;
        let mut new: Vec<(String, MeterMeta)> = Vec::new();
        let mut new_ids: HashMap<&str, u32> = HashMap::new();
        let mut resolved = Vec::with_capacity(batch.len());
        let mut max_ts = i64::MIN;
        let reject = |i: usize, r: &Reading<'_>, reason: String| Error::InvalidReading {
            index: i,
            meter: r.meter.to_owned(),
            ts: r.ts,
            reason,
        };
        // Batches usually come grouped by meter: one lookup per run, and the id usually
        // is the very same string as the previous reading's.
        let same = |a: &str, b: &str| std::ptr::eq(a, b) || a == b;
        let mut last: Option<(&str, u32, Option<u32>)> = None;
        // The previous reading's meter and timestamp (it passed every check).
        let mut prev: Option<(u32, i64)> = None;
        let range = &self.opts.timestamp_range;
        for (i, r) in batch.iter().enumerate() {
            if !r.value.is_finite() {
                return Err(reject(i, r, format!("value {} is not finite", r.value)));
            }
            if !range.contains(&r.ts) {
                return Err(reject(i, r, timestamp::out_of_range(r.ts, range)));
            }
            let (dense, interval) = match last {
                Some((id, d, iv)) if same(id, r.meter) => (d, iv),
                _ => {
                    let (d, iv) = match st.meters.get(r.meter) {
                        Some(d) => (d, st.meters.meta(d).interval_s),
                        None => match new_ids.get(r.meter) {
                            Some(&d) => (d, new[(d - first_new) as usize].1.interval_s),
                            None => match &self.opts.unknown_meters {
                                UnknownMeters::Reject => {
                                    return Err(reject(i, r, "unknown meter".into()))
                                }
                                UnknownMeters::Register(meta) => {
                                    Meters::validate(r.meter, meta).map_err(|e| reject(i, r, e))?;
                                    let d = first_new + new.len() as u32;
                                    new.push((r.meter.to_owned(), meta.clone()));
                                    new_ids.insert(r.meter, d);
                                    (d, meta.interval_s)
                                }
                            },
                        },
                    };
                    last = Some((r.meter, d, iv));
                    (d, iv)
                }
            };
            if let Some(iv) = interval {
                // One interval after an on-grid reading of the same meter is on the grid
                // too: no division for the common case.
                let next_slot =
                    prev.is_some_and(|(m, t)| m == dense && r.ts.checked_sub(t) == Some(iv as i64));
                if !next_slot && r.ts.rem_euclid(iv as i64) != 0 {
                    return Err(reject(
                        i,
                        r,
                        format!("timestamp is off the meter's {iv} s grid"),
                    ));
                }
            }
            resolved.push((dense, r.ts, r.value, r.flag));
            prev = Some((dense, r.ts));
            max_ts = max_ts.max(r.ts);
        }
        Ok(Prepared {
            resolved,
            new,
            first_new,
            max_ts,
        })
    }

    pub(crate) fn sync(&self) -> Result<()> {
        self.wal("syncing")?.sync()
    }

    /// Flushes, then runs the compaction policy if `auto` and no compaction is running.
    pub(crate) fn flush(&self, trigger: Trigger) -> Result<()> {
        if self.flush_only(trigger)? {
            self.maybe_compact()?;
        }
        Ok(())
    }

    /// Flushes; returns whether anything was written.
    pub(crate) fn flush_only(&self, trigger: Trigger) -> Result<bool> {
        let _f = lock(&self.flush);
        self.flush_locked(trigger)
    }

    /// Runs the compaction policy if `auto` and no compaction is running.
    pub(crate) fn maybe_compact(&self) -> Result<()> {
        if self.opts.compaction.auto {
            if let Some(_c) = try_lock(&self.compact) {
                self.compact_locked(Mode::Policy, &mut |_, _| {})?;
            }
        }
        Ok(())
    }

    /// The flush itself; the caller holds the `flush` lock. Returns whether it wrote.
    fn flush_locked(&self, trigger: Trigger) -> Result<bool> {
        let wal = self.wal("flushing")?;
        let (pieces, wal_id) = {
            let _w = lock(&self.writer);
            if !self.state().has_buffered() {
                return Ok(false);
            }
            let wal_id = wal.rotate()?;
            let mut st = write_lock(&self.state);
            st.seal();
            (st.frozen.clone(), wal_id)
        };
        let (window, off) = (self.opts.window, self.opts.window_offset);
        let zstd = trigger == Trigger::Explicit;
        let written =
            flush::write_pieces(&self.dir, &pieces, window, off, zstd, || self.next_seq())?;
        let seqs: Vec<u64> = written.iter().map(|w| w.seq).collect();
        let bytes: u64 = written.iter().map(|w| w.bytes).sum();
        let readings: u64 = written.iter().map(|w| w.readings).sum();
        {
            let mut meta = lock(&self.meta);
            if let Err(e) = self.persist_meters(&mut meta) {
                flush::discard(&self.dir, &seqs);
                return Err(e);
            }
            let add = written.into_iter().map(|w| (w.seq, w.seg)).collect();
            // On error the sealed memtables stay readable and are flushed again later;
            // the files stay too, since the manifest write may have reached the disk.
            self.publish(&mut meta, &[], add, &pieces, Some(wal_id))?;
        }
        self.counters.flushes.fetch_add(1, Relaxed);
        self.counters.flushed_bytes.fetch_add(bytes, Relaxed);
        self.counters.flushed_readings.fetch_add(readings, Relaxed);
        wal.remove_before(wal_id)?;
        Ok(true)
    }

    fn next_seq(&self) -> Result<u64> {
        self.take_seq(&mut lock(&self.meta))
    }

    /// Hands out the next segment seq, first reserving more in MANIFEST when the reserved
    /// ones are used up, so that no file ever has a seq its manifest has not reserved.
    fn take_seq(&self, m: &mut Meta) -> Result<u64> {
        if m.next_seq >= m.reserved {
            let before = m.reserved;
            m.reserved = m.next_seq + SEQ_RESERVE;
            let manifest = self.next_manifest(m);
            if let Err(e) = manifest.store(&self.dir) {
                m.reserved = before;
                return Err(e);
            }
            write_lock(&self.state).manifest = manifest;
        }
        m.next_seq += 1;
        Ok(m.next_seq - 1)
    }

    /// The next manifest generation: the published one with the reservation and the
    /// registry check of `m`; the caller changes the segments and stores it.
    fn next_manifest(&self, m: &Meta) -> Manifest {
        let mut manifest = self.state().manifest.clone();
        manifest.generation += 1;
        manifest.next_seq = m.reserved;
        manifest.meters = m.meters_check;
        manifest
    }

    /// Writes METERS if it lacks meters registered through the log, before a manifest
    /// that may reference them.
    fn persist_meters(&self, meta: &mut Meta) -> Result<()> {
        let meters = self.state().meters.clone();
        if meters.len() > meta.meters_durable {
            let generation = self.state().manifest.generation + 1;
            meta.meters_check = meters.store(&self.dir, &[], generation)?;
            meta.meters_durable = meters.len();
        }
        Ok(())
    }

    /// Publishes a new live set: the current one without `remove`, with `add`; then drops
    /// the `sealed` memtables whose readings `add` now holds (with `wal_from`, the first
    /// log file that holds readings they do not). The manifest is written first, then
    /// readers see the new set in one swap.
    fn publish(
        &self,
        meta: &mut Meta,
        remove: &[u64],
        add: Vec<(u64, Arc<Segment>)>,
        sealed: &[Arc<Memtable>],
        wal_from: Option<u64>,
    ) -> Result<()> {
        let remove: HashSet<u64> = remove.iter().copied().collect();
        let mut pairs: Vec<(u64, Arc<Segment>)> = {
            let st = self.state();
            st.manifest
                .segments
                .iter()
                .copied()
                .zip(st.segments.iter().cloned())
                .filter(|(s, _)| !remove.contains(s))
                .collect()
        };
        pairs.extend(add);
        pairs.sort_by_key(|p| p.0);
        let mut manifest = self.next_manifest(meta);
        manifest.segments = pairs.iter().map(|p| p.0).collect();
        if let Some(w) = wal_from {
            manifest.wal_from = w;
        }
        manifest.store(&self.dir)?;
        let mut st = write_lock(&self.state);
        st.segments = pairs.into_iter().map(|p| p.1).collect();
        st.manifest = manifest;
        st.frozen
            .retain(|f| !sealed.iter().any(|s| Arc::ptr_eq(f, s)));
        Ok(())
    }

    /// Runs a compaction pass; `progress(done, total)` is called after each window
    /// written (and once with `(0, total)` before the first).
    pub(crate) fn compact(
        &self,
        mode: Mode,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<CompactionReport> {
        self.wal("compacting")?;
        let _c = lock(&self.compact);
        self.compact_locked(mode, progress)
    }

    fn compact_locked(
        &self,
        mode: Mode,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<CompactionReport> {
        let (window, off) = (self.opts.window, self.opts.window_offset);
        let mut jobs = {
            // No flush is in flight: every later flush gets a higher seq than the outputs.
            let _f = lock(&self.flush);
            let newest = self.newest.load(Relaxed);
            let mut jobs = compaction::plan(
                &self.state(),
                window,
                off,
                &self.opts.compaction,
                newest,
                mode,
            );
            let mut m = lock(&self.meta);
            for j in &mut jobs {
                j.out_seq = self.take_seq(&mut m)?;
            }
            jobs
        };
        let mut report = CompactionReport::default();
        if jobs.is_empty() {
            return Ok(report);
        }
        let mut outs: Vec<Written> = Vec::new();
        progress(0, jobs.len());
        for (k, job) in jobs.iter().enumerate() {
            match compaction::run(&self.dir, job, window, off) {
                Ok(w) => {
                    outs.extend(w);
                    progress(k + 1, jobs.len());
                }
                Err(e) => {
                    let seqs: Vec<u64> = outs.iter().map(|w| w.seq).collect();
                    drop(outs);
                    flush::discard(&self.dir, &seqs);
                    return Err(e);
                }
            }
        }
        let mut remove: Vec<u64> = jobs
            .iter()
            .flat_map(|j| j.inputs.iter().map(|i| i.0))
            .collect();
        remove.sort_unstable();
        remove.dedup();
        report.windows = jobs.len();
        report.segments_in = remove.len();
        report.segments_out = outs.len();
        report.bytes_read = jobs
            .iter()
            .flat_map(|j| j.inputs.iter())
            .map(|(s, seg)| (*s, seg.file_len()))
            .collect::<HashMap<_, _>>()
            .values()
            .sum();
        report.bytes_written = outs.iter().map(|w| w.bytes).sum();
        report.readings_written = outs.iter().map(|w| w.readings).sum();
        let add = outs.into_iter().map(|w| (w.seq, w.seg)).collect();
        self.publish(&mut lock(&self.meta), &remove, add, &[], None)?;
        jobs.clear();
        self.unlink(&remove);
        let c = &self.counters;
        c.compactions.fetch_add(1, Relaxed);
        c.windows_compacted
            .fetch_add(report.windows as u64, Relaxed);
        c.compaction_bytes_read
            .fetch_add(report.bytes_read, Relaxed);
        c.compaction_bytes_written
            .fetch_add(report.bytes_written, Relaxed);
        c.compaction_readings_written
            .fetch_add(report.readings_written, Relaxed);
        Ok(report)
    }

    /// Deletes files no longer in the manifest. Best effort: a file left behind is an
    /// orphan, removed at the next open. Readers that still map one keep it until done.
    fn unlink(&self, seqs: &[u64]) {
        for &s in seqs {
            let _ = fsutil::remove_if_exists(&manifest::segment_file(&self.dir, s));
        }
    }

    pub(crate) fn drop_before(&self, cutoff: i64) -> Result<RetentionReport> {
        self.wal("dropping old windows")?;
        let _c = lock(&self.compact);
        {
            let _f = lock(&self.flush);
            self.flush_locked(Trigger::Explicit)?;
        }
        let cutoff = retention::effective_cutoff(cutoff, self.opts.window, self.opts.window_offset);
        let mut report = RetentionReport {
            cutoff,
            ..RetentionReport::default()
        };
        let mut meta = lock(&self.meta);
        let remove: Vec<u64> = {
            let st = self.state();
            let doomed = retention::doomed(&st, cutoff);
            report.bytes_removed = doomed.iter().map(|&i| st.segments[i].file_len()).sum();
            doomed.iter().map(|&i| st.manifest.segments[i]).collect()
        };
        if remove.is_empty() {
            return Ok(report);
        }
        self.publish(&mut meta, &remove, Vec::new(), &[], None)?;
        drop(meta);
        self.unlink(&remove);
        report.segments_removed = remove.len();
        Ok(report)
    }

    /// Seals the memtable and returns a view of everything.
    pub(crate) fn snapshot(&self) -> State {
        let (view, pieces) = {
            let mut st = write_lock(&self.state);
            st.seal();
            (st.view(), st.frozen.len())
        };
        if pieces > MAX_PIECES {
            self.merge_pieces();
        }
        view
    }

    /// Merges the newest sealed memtables, binary-counter style: the newest pieces while
    /// the next older one is no bigger than them together (at least two). Skipped while a
    /// flush runs (it takes every piece anyway).
    fn merge_pieces(&self) {
        let Some(_f) = try_lock(&self.flush) else {
            return;
        };
        let pieces = self.state().frozen.clone();
        let k = pieces.len();
        if k < 2 {
            return;
        }
        let mut j = k - 1;
        let mut acc = pieces[j].len();
        while j > 0 && pieces[j - 1].len() <= acc {
            acc += pieces[j - 1].len();
            j -= 1;
        }
        let j = j.min(k - 2);
        let merged = Arc::new(Memtable::merged(&pieces[j..]));
        // Only flushes and this function remove pieces, both under the flush lock, and
        // sealing only adds at the end: `frozen[..k]` is still `pieces`.
        write_lock(&self.state).frozen.splice(j..k, [merged]);
    }
}

fn check_options(opts: &Options) -> Result<()> {
    if opts.window == Window::Days(0) {
        return Err(Error::InvalidArgument(
            "a window of 0 days (use Window::Days(n) with n >= 1)".into(),
        ));
    }
    timestamp::check_range(&opts.timestamp_range)?;
    let c = &opts.compaction;
    if !(c.ratio.is_finite() && c.ratio >= 0.0)
        || c.settle_s < 0
        || c.cold_after.is_some_and(|a| a < 0)
    {
        return Err(Error::InvalidArgument(format!(
            "compaction ratio {}, settle time {} s and cold_after {:?} s must be finite and not negative",
            c.ratio, c.settle_s, c.cold_after
        )));
    }
    Ok(())
}
