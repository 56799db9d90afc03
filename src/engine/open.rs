//! Opening a store directory: what marks a store, the writer's lock, and the checks that
//! every file the store needs is there and fits the others before anything is changed.
//!
//! A directory is a store when it holds MANIFEST (written when the store is created). A
//! directory without MANIFEST that holds METERS or segment files is a damaged store, never
//! a new one. The checks, in order (any failure is an error naming the file, and nothing
//! has been written, truncated or deleted):
//! 1. MANIFEST and METERS pass their envelope checks and check each other
//!    ([`Meters::load`]).
//! 2. Every segment MANIFEST lists exists and passes its header, footer and index checks.
//! 3. No segment file has a seq at or above MANIFEST's `next_seq` (seqs are reserved in
//!    MANIFEST before a file gets one, so such a file proves this MANIFEST stale).
//! 4. The log file MANIFEST starts from exists.
//!
//! Only then does a writer remove orphans: its own unfinished temporary files, and segment
//! files below `next_seq` that MANIFEST does not list. Such a file holds nothing that is
//! not elsewhere: a flush's output whose publication never happened still has its
//! readings in the log (from `wal_from` on, which exists by check 4), and a compaction's
//! or retention's superseded input or unpublished output has its readings in the listed
//! segments (which exist by check 2), or in none when retention dropped them. A stale
//! MANIFEST fails check 2, 3 or 4, or the cross-check with METERS, before anything is
//! removed. `docs/FORMAT.md` ("Opening a store") has the full argument.

use super::manifest::{self, Manifest, MetersCheck};
use super::memtable::Memtable;
use super::meters::{self, Meters};
use super::recovery::{self, RecoveryReport};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::segment::Segment;
use crate::wal::{self, Replay};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

/// Lock file of stores written before the directory itself was locked; its presence
/// still marks a store that has no MANIFEST yet (opened, but nothing flushed or
/// registered).
pub(crate) const LEGACY_LOCK_FILE: &str = "LOCK";
/// Directory of the write-ahead log inside the store.
pub(crate) const WAL_DIR: &str = "wal";
/// How often a reader starts over when the writer changed the store while it looked.
const READER_TRIES: usize = 64;

/// What a directory holds, as far as opening it is concerned.
pub(crate) enum Found {
    /// A store with this manifest.
    Store(Manifest),
    /// Nothing of a store (or only a log and the lock file of a store that never wrote a
    /// manifest): a store is created here.
    Empty,
}

/// Takes the writer's lock: an exclusive `flock` on the store directory itself, held as
/// long as the returned handle is open. Deleting a file in the directory cannot lift it.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
    match d.try_lock() {
        Ok(()) => Ok(d),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: dir.to_owned(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(dir, e)),
    }
}

/// Whether `dir` holds a store (or the beginnings of one a writer may go on with).
pub(crate) fn is_store(dir: &Path) -> bool {
    dir.join(manifest::FILE).exists() || dir.join(LEGACY_LOCK_FILE).exists()
}

/// Loads MANIFEST, or decides that the directory holds no store yet.
pub(crate) fn find(dir: &Path) -> Result<Found> {
    if let Some(m) = Manifest::load(dir)? {
        return Ok(Found::Store(m));
    }
    let files = store_files(dir)?;
    if !files.is_empty() {
        return Err(Error::damaged(
            dir.join(manifest::FILE),
            format!(
                "missing, while the directory holds store files ({}); it is not taken for \
                 a new store",
                files.join(", ")
            ),
        ));
    }
    Ok(Found::Empty)
}

/// Names of the files in `dir` that only a store with a manifest has.
fn store_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == meters::FILE || manifest::parse_segment_file(&name).is_some() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// The segment seqs of the files in `dir`.
pub(crate) fn segment_files(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if let Some(s) = manifest::parse_segment_file(&entry.file_name().to_string_lossy()) {
            out.push(s);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A store's files, loaded and checked against each other (the checks of the module
/// docs).
pub(crate) struct Checked {
    pub manifest: Manifest,
    pub meters: Meters,
    /// What METERS holds now (at least what MANIFEST recorded).
    pub meters_check: MetersCheck,
    /// The live segments, parallel to `manifest.segments`.
    pub segments: Vec<Arc<Segment>>,
}

/// Loads METERS and the live segments of `manifest` and checks them (reusing the segments
/// in `mapped` by seq, which a reader already holds).
pub(crate) fn check(
    dir: &Path,
    manifest: Manifest,
    mapped: &HashMap<u64, Arc<Segment>>,
) -> Result<Checked> {
    let (meters, meters_check) = Meters::load(dir, &manifest)?;
    let mut segments = Vec::with_capacity(manifest.segments.len());
    for &s in &manifest.segments {
        if let Some(seg) = mapped.get(&s) {
            segments.push(seg.clone());
            continue;
        }
        let path = manifest::segment_file(dir, s);
        match Segment::open(&path) {
            Ok(seg) => segments.push(Arc::new(seg)),
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(Error::damaged(
                    &path,
                    format!(
                        "missing, while MANIFEST (generation {}) lists it: lost, or deleted \
                         after a newer MANIFEST replaced it (a stale copy of MANIFEST)",
                        manifest.generation
                    ),
                ))
            }
            Err(e) => return Err(e),
        }
    }
    if !manifest.legacy {
        if let Some(&s) = segment_files(dir)?
            .last()
            .filter(|&&s| s >= manifest.next_seq)
        {
            return Err(Error::damaged(
                dir.join(manifest::FILE),
                format!(
                    "generation {} hands out segment seqs below {}, yet {} exists: a stale \
                     copy of MANIFEST",
                    manifest.generation,
                    manifest.next_seq,
                    file_name(&manifest::segment_file(dir, s))
                ),
            ));
        }
        let first = wal::file_path(&wal_path(dir), manifest.wal_from);
        if !first.exists() {
            return Err(Error::damaged(
                &first,
                format!(
                    "missing, while MANIFEST (generation {}) needs the log from this file on",
                    manifest.generation
                ),
            ));
        }
        wal::check_headers(&wal_path(dir), manifest.wal_from)?;
    }
    Ok(Checked {
        manifest,
        meters,
        meters_check,
        segments,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What a read-only open or refresh sees.
pub(crate) struct ReaderView {
    pub checked: Checked,
    pub active: Memtable,
    pub report: RecoveryReport,
}

/// Loads a consistent view for a reader: the newest manifest with its segments, and the
/// log records after it replayed into memory (the log is read, never cut or changed; a
/// torn or corrupt tail of its last file ends the replay and is reported). A writer may
/// publish and delete files meanwhile: when a file is missing or a check fails and the
/// manifest changed since it was read, the reader starts over with the new one.
pub(crate) fn reader_view(dir: &Path, mapped: &HashMap<u64, Arc<Segment>>) -> Result<ReaderView> {
    let mut last_err = None;
    for _ in 0..READER_TRIES {
        let (found, manifest) = match find(dir)? {
            Found::Store(m) => (Some(m.clone()), m),
            Found::Empty if is_store(dir) => {
                let legacy = Manifest {
                    legacy: true,
                    ..Manifest::default()
                };
                (None, legacy)
            }
            Found::Empty => return Err(no_store(dir, "it has no MANIFEST")),
        };
        let attempt = (|| {
            let checked = check(dir, manifest.clone(), mapped)?;
            let from = (!checked.manifest.legacy).then_some(checked.manifest.wal_from);
            let replay = wal::replay_read_only(&wal_path(dir), from)?;
            Ok::<_, Error>((checked, replay))
        })();
        // The view is consistent when the manifest did not change while it was read: a
        // flush publishes before it deletes the log files it covered.
        if Manifest::load(dir)? != found {
            last_err = attempt.err();
            continue;
        }
        let (mut checked, replay) = attempt?;
        let (active, report) = apply(&mut checked.meters, &replay)?;
        return Ok(ReaderView {
            checked,
            active,
            report,
        });
    }
    Err(last_err.unwrap_or_else(|| {
        Error::damaged(
            dir.join(manifest::FILE),
            format!("changed on each of {READER_TRIES} tries to read a consistent view"),
        )
    }))
}

/// Replays `replay` into `meters` and a new memtable.
pub(crate) fn apply(meters: &mut Meters, replay: &Replay) -> Result<(Memtable, RecoveryReport)> {
    let mut report = RecoveryReport {
        wal: replay.report.clone(),
        ..RecoveryReport::default()
    };
    let mut active = Memtable::default();
    recovery::apply(replay, meters, &mut active, &mut report)?;
    Ok((active, report))
}

/// The log directory of the store in `dir`.
pub(crate) fn wal_path(dir: &Path) -> std::path::PathBuf {
    dir.join(WAL_DIR)
}

/// The error for a directory that holds no store.
pub(crate) fn no_store(dir: &Path, why: &str) -> Error {
    Error::InvalidArgument(format!("no store at {} ({why})", dir.display()))
}

/// Removes the writer's unfinished temporary files and the segment files below
/// `manifest.next_seq` that it does not list; returns how many. Call only after
/// [`check`] passed and the log was opened from `manifest.wal_from`.
pub(crate) fn remove_orphans(dir: &Path, manifest: &Manifest) -> Result<u64> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let orphan = match manifest::parse_segment_file(&name) {
            Some(seq) => seq < manifest.next_seq && manifest.segments.binary_search(&seq).is_err(),
            None => is_own_tmp(&name),
        };
        if orphan {
            fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether `name` is a temporary file of MANIFEST, METERS or a segment.
fn is_own_tmp(name: &str) -> bool {
    let Some(base) = name
        .strip_suffix(fsutil::TMP_SUFFIX)
        .and_then(|n| n.strip_suffix('.'))
    else {
        return false;
    };
    base == manifest::FILE || base == meters::FILE || manifest::parse_segment_file(base).is_some()
}
