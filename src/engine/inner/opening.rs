//! Opening the engine: a writer (with its lock, the checks of `engine::open`, the log's
//! recovery, orphan removal) or a reader (no lock, nothing written), and a reader's
//! refresh.

use super::{check_options, write_lock, Counters, Inner, Meta, State, Trigger};
use crate::engine::background::Signal;
use crate::engine::compaction;
use crate::engine::manifest::Manifest;
use crate::engine::open::{self, Found};
use crate::engine::options::Options;
use crate::engine::recovery::RecoveryReport;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::segment::Segment;
use crate::wal::Wal;
use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};

impl Inner {
    pub(crate) fn open(dir: &Path, opts: Options) -> Result<Inner> {
        check_options(&opts)?;
        let dir = dir.to_owned();
        if !opts.create_if_missing && !open::is_store(&dir) {
            return Err(open::no_store(
                &dir,
                "it has no MANIFEST, and Options::create_if_missing is off",
            ));
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock = open::lock_dir(&dir)?;
        let manifest = match open::find(&dir)? {
            Found::Store(m) => m,
            Found::Empty => Manifest {
                legacy: true,
                ..Manifest::default()
            },
        };
        let mut checked = open::check(&dir, manifest, &HashMap::new())?;
        let from = (!checked.manifest.legacy).then_some(checked.manifest.wal_from);
        let (wal, replay) = Wal::open(&open::wal_path(&dir), opts.sync, opts.salvage_wal, from)?;
        let (active, mut report) = open::apply(&mut checked.meters, &replay)?;
        drop(replay);
        let mut manifest = checked.manifest;
        if manifest.legacy {
            // A new store, or one written before the cross-checks: from here on its
            // manifest records them. Segment files at or above its `next_seq` are
            // unpublished writes of a crash; they become orphans below.
            let top = open::segment_files(&dir)?.last().map_or(0, |s| s + 1);
            manifest = Manifest {
                legacy: false,
                generation: manifest.generation + 1,
                next_seq: manifest.next_seq.max(top),
                wal_from: wal.oldest_id()?,
                meters: checked.meters_check,
                segments: manifest.segments,
            };
            manifest.store(&dir)?;
        }
        report.orphan_files_removed = open::remove_orphans(&dir, &manifest)?;
        fsutil::sync_dir(&dir)?;
        let segments = checked.segments;
        let newest = segments
            .iter()
            .filter_map(|s| compaction::span(s).map(|p| p.1))
            .chain(active.max_ts())
            .max()
            .unwrap_or(i64::MIN);
        let meta = Meta {
            next_seq: manifest.next_seq,
            reserved: manifest.next_seq,
            meters_durable: checked.meters_check.count as usize,
            meters_check: checked.meters_check,
        };
        let state = State {
            meters: Arc::new(checked.meters),
            manifest,
            segments,
            frozen: Vec::new(),
            active,
        };
        let inner = Inner::new(
            dir,
            opts,
            Some(lock),
            Some(wal),
            meta,
            state,
            report,
            newest,
        );
        if inner.state().buffered() >= inner.opts.memtable_budget_bytes {
            inner.flush(Trigger::Budget)?;
        }
        Ok(inner)
    }

    /// Opens the store in `dir` for reading only: see
    /// [`Store::open_read_only`](crate::Store::open_read_only).
    pub(crate) fn open_read_only(dir: &Path, opts: Options) -> Result<Inner> {
        let dir = dir.to_owned();
        let view = open::reader_view(&dir, &HashMap::new())?;
        let manifest = view.checked.manifest;
        let meta = Meta {
            next_seq: manifest.next_seq,
            reserved: manifest.next_seq,
            meters_durable: view.checked.meters_check.count as usize,
            meters_check: view.checked.meters_check,
        };
        let state = State {
            meters: Arc::new(view.checked.meters),
            manifest,
            segments: view.checked.segments,
            frozen: Vec::new(),
            active: view.active,
        };
        Ok(Inner::new(
            dir,
            opts,
            None,
            None,
            meta,
            state,
            view.report,
            i64::MIN,
        ))
    }

    /// A read-only store moves to the newest manifest and log; returns what it replayed
    /// of the log. A writer always sees everything: nothing to do.
    pub(crate) fn refresh(&self) -> Result<RecoveryReport> {
        if self.wal.is_some() {
            return Ok(self.recovery.clone());
        }
        let mapped: HashMap<u64, Arc<Segment>> = {
            let st = self.state();
            let seqs = st.manifest.segments.iter().copied();
            seqs.zip(st.segments.iter().cloned()).collect()
        };
        let view = open::reader_view(&self.dir, &mapped)?;
        *write_lock(&self.state) = State {
            meters: Arc::new(view.checked.meters),
            manifest: view.checked.manifest,
            segments: view.checked.segments,
            frozen: Vec::new(),
            active: view.active,
        };
        Ok(view.report)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        dir: PathBuf,
        opts: Options,
        lock: Option<File>,
        wal: Option<Wal>,
        meta: Meta,
        state: State,
        recovery: RecoveryReport,
        newest: i64,
    ) -> Inner {
        Inner {
            dir,
            opts,
            _lock: lock,
            wal,
            compact: Mutex::new(()),
            flush: Mutex::new(()),
            writer: Mutex::new(()),
            meta: Mutex::new(meta),
            state: RwLock::new(state),
            recovery,
            counters: Counters::default(),
            newest: AtomicI64::new(newest),
            signal: Signal::default(),
        }
    }

    /// The log, or [`Error::ReadOnly`] naming `op` for a read-only store.
    pub(super) fn wal(&self, op: &'static str) -> Result<&Wal> {
        self.wal.as_ref().ok_or_else(|| Error::ReadOnly {
            path: self.dir.clone(),
            op,
        })
    }

    /// Whether the store was opened read-only.
    pub(crate) fn read_only(&self) -> bool {
        self.wal.is_none()
    }
}
