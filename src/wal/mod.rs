//! The write-ahead log: every accepted batch is appended here as one record before it is
//! acknowledged, and replayed at open until a flush has put it into a segment.
//!
//! Where a byte is written: [`record`] (`encode_header`, `encode_frame_header`) via
//! [`Wal::append`] and `create_file`. Where it is read back and checked: [`replay`]
//! (`replay`, through `record::parse_frame`). Durability: [`commit`] (group commit).
//!
//! Files are `wal-<id:016x>.log` in the log directory, ids increasing. A new file is
//! written complete with its header under a temporary name and renamed into place, so a
//! file either exists with a whole header or not at all. [`Wal::rotate`] syncs the current
//! file before the next one exists, so only the last file can have a torn tail.
//!
//! After an append or sync fails, the log refuses every further write (a failed
//! `fdatasync` leaves the page cache in an unknown state, and a failed write may leave
//! half a frame): the owner must drop it and open it again, which cuts the torn tail.
//!
//! Every write, sync and rename goes through the fault-injection seam
//! ([`crate::fsutil::faults`]), so tests can make any of them fail.

mod commit;
mod record;
mod replay;

use crate::error::{Error, Result};
use crate::fsutil::{self, faults};
use commit::GroupCommit;
use record::MAX_RECORD_LEN;
use replay::{LastFile, LogFile};
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

/// When appends are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every append returns only after an `fdatasync` that covers its record; concurrent
    /// appenders share one sync.
    EveryBatch,
    /// Group commit: an append returns after a sync covering it, and syncs start at most
    /// once per `interval_ms`, so appenders within one interval share one sync.
    Periodic {
        /// Shortest time between the starts of two syncs, in milliseconds.
        interval_ms: u64,
    },
    /// Appends are written to the OS and not synced one by one, only by
    /// [`Store::sync`](crate::Store::sync) and by flushes (which rotate the log): a
    /// machine crash can lose acknowledged records, a process crash cannot.
    Never,
}

/// The records found at open, in LSN order, and what replay had to drop or skip.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// `(lsn, payload)` of every record, strictly increasing LSNs.
    pub records: Vec<(u64, Vec<u8>)>,
    /// `(file path, offset of the frame)` of each record, parallel to `records`, so that
    /// the owner can name the place of a record whose payload it cannot use.
    pub sources: Vec<(PathBuf, u64)>,
    /// What was dropped or skipped on the way.
    pub report: ReplayReport,
}

/// What replay found besides the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Log files read.
    pub files: usize,
    /// Records replayed.
    pub records: u64,
    /// Records in the torn tail cut off the last file: frames whose length header still
    /// verified, plus one for a remainder that is not all zeros.
    pub torn_tail_records_dropped: u64,
    /// Bytes cut off the last file (the torn tail, or a whole file whose header was never
    /// completely written).
    pub torn_tail_bytes_dropped: u64,
    /// Bytes skipped as corrupt with `salvage` (bad headers, bad regions, out-of-order
    /// records). Always 0 without `salvage`.
    pub salvaged_corrupt_bytes: u64,
}

/// Why the log stopped accepting writes.
#[derive(Debug)]
struct Failure {
    path: PathBuf,
    kind: io::ErrorKind,
    message: String,
}

/// The file appends go to.
#[derive(Debug)]
struct Active {
    id: u64,
    path: PathBuf,
    /// Shared with a sync leader, which syncs it without holding the writer lock.
    file: Arc<File>,
    /// The LSN the next record gets.
    next_lsn: u64,
}

/// An open write-ahead log. `Send + Sync`: appenders on many threads share one.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    policy: SyncPolicy,
    /// The writer lock: held while a frame is written, so frames never interleave and
    /// LSNs follow file order. Lock order: `active`, then the group-commit state.
    active: Mutex<Active>,
    commit: GroupCommit,
    failed: OnceLock<Failure>,
}

impl Wal {
    /// Opens (creating if needed) the log in `dir` (files named `wal-<id:016x>.log`),
    /// replays every record of every log file in order, cuts a torn tail of the last file
    /// off (truncating the file) and reports it. A bad region is a torn tail only when it
    /// is in the last file and no valid record follows it anywhere in that file; anything
    /// else is [`Error::Corrupt`] naming file and offset, unless `salvage` is true, in
    /// which case the region is skipped up to the next valid record and counted (and new
    /// records go to a fresh file). Leftover `wal-*.log.tmp` files are removed.
    ///
    /// Files with an id below `from` (when given) hold only records that are in segments
    /// already: they are removed unread.
    pub(crate) fn open(
        dir: &Path,
        policy: SyncPolicy,
        salvage: bool,
        from: Option<u64>,
    ) -> Result<(Wal, Replay)> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut files = list_files(dir, true)?;
        let keep = files.partition_point(|f| from.is_some_and(|from| f.id < from));
        for f in files.drain(..keep) {
            fsutil::remove_if_exists(&f.path)?;
        }
        let scan = replay::replay(&files, salvage)?;
        let (id, path, file) = match (files.last(), scan.last) {
            (None, _) => create_file(dir, 1, scan.next_lsn)?,
            (Some(last), LastFile::Continue { truncate_to }) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&last.path)
                    .map_err(|e| Error::io(&last.path, e))?;
                cut_and_sync(&file, &last.path, truncate_to)?;
                (last.id, last.path.clone(), file)
            }
            (Some(last), LastFile::Recreate) => create_file(dir, last.id, scan.next_lsn)?,
            (Some(last), LastFile::Retire { truncate_to }) => {
                let old = OpenOptions::new()
                    .write(true)
                    .open(&last.path)
                    .map_err(|e| Error::io(&last.path, e))?;
                cut_and_sync(&old, &last.path, truncate_to)?;
                create_file(dir, last.id + 1, scan.next_lsn)?
            }
        };
        let interval = match policy {
            SyncPolicy::Periodic { interval_ms } => Duration::from_millis(interval_ms),
            SyncPolicy::EveryBatch | SyncPolicy::Never => Duration::ZERO,
        };
        let wal = Wal {
            dir: dir.to_owned(),
            policy,
            active: Mutex::new(Active {
                id,
                path,
                file: Arc::new(file),
                next_lsn: scan.next_lsn,
            }),
            // Everything replayed was synced above (or in an earlier, rotated file).
            commit: GroupCommit::new(scan.next_lsn - 1, interval),
            failed: OnceLock::new(),
        };
        Ok((wal, scan.replay))
    }

    /// Appends one record and returns its LSN (one more than the previous record's,
    /// continuing after replay) once the record is durable per the policy. An empty
    /// payload or one over 64 MiB is [`Error::InvalidArgument`].
    #[cfg(test)]
    pub(crate) fn append(&self, payload: &[u8]) -> Result<u64> {
        let lsn = self.write(payload)?;
        self.commit(lsn)?;
        Ok(lsn)
    }

    /// Writes one record to the file (not yet synced) and returns its LSN. Records are
    /// written in LSN order; [`Wal::commit`] then waits until the record is durable. The
    /// split lets the owner apply the record in LSN order under its own lock and wait for
    /// the sync without it, so that concurrent appenders share one sync.
    pub(crate) fn write(&self, payload: &[u8]) -> Result<u64> {
        if payload.is_empty() || payload.len() > MAX_RECORD_LEN {
            return Err(Error::InvalidArgument(format!(
                "a log record must hold 1..={MAX_RECORD_LEN} bytes, got {}",
                payload.len()
            )));
        }
        // The payload's CRC is the expensive part; it is computed outside the lock and
        // the LSN folded in front of it under the lock.
        let mut crc = crc32fast::Hasher::new();
        crc.update(payload);
        let mut a = self.lock_active();
        self.healthy()?;
        let lsn = a.next_lsn;
        let header = record::encode_frame_header(lsn, payload.len(), &crc);
        write_all_vectored(
            &a.file,
            &a.path,
            &mut [IoSlice::new(&header), IoSlice::new(payload)],
        )
        .map_err(|e| self.fail(&a.path, e))?;
        a.next_lsn += 1;
        Ok(lsn)
    }

    /// Returns once the record `lsn` (from [`Wal::write`]) is durable per the policy:
    /// at once under [`SyncPolicy::Never`], after a sync covering it otherwise.
    pub(crate) fn commit(&self, lsn: u64) -> Result<()> {
        match self.policy {
            SyncPolicy::Never => self.healthy(),
            SyncPolicy::EveryBatch | SyncPolicy::Periodic { .. } => self.wait_durable(lsn, false),
        }
    }

    /// Syncs and closes the current file and starts a new one; returns the id of the new
    /// file. Records appended before this call are all in files with smaller ids, and
    /// durable.
    pub(crate) fn rotate(&self) -> Result<u64> {
        let mut a = self.lock_active();
        self.healthy()?;
        faults::sync_data(&a.file, &a.path).map_err(|e| self.fail(&a.path, e))?;
        self.commit.mark_durable(a.next_lsn - 1);
        // A failed creation may still have left the new file in place (its rename done,
        // the directory sync failed): appending on to the old file would then put
        // records before a file whose base LSN claims them. Stop instead.
        let (id, path, file) = create_file(&self.dir, a.id + 1, a.next_lsn).inspect_err(|e| {
            let io = match e {
                Error::Io { source, .. } => io::Error::new(source.kind(), source.to_string()),
                other => io::Error::other(other.to_string()),
            };
            self.fail(&self.dir.join(file_name(a.id + 1)), io);
        })?;
        *a = Active {
            id,
            path,
            file: Arc::new(file),
            next_lsn: a.next_lsn,
        };
        Ok(id)
    }

    /// Deletes log files with id < `id` (their records have been flushed into segments).
    /// The current file is never deleted. Files go in increasing id order, so a crash
    /// midway leaves a suffix of the log.
    pub(crate) fn remove_before(&self, id: u64) -> Result<()> {
        let limit = id.min(self.lock_active().id);
        let mut removed = false;
        for f in list_files(&self.dir, false)?
            .iter()
            .filter(|f| f.id < limit)
        {
            match fs::remove_file(&f.path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&f.path, e)),
            }
        }
        if removed {
            fsutil::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Forces a sync now: returns once every record appended before the call is durable,
    /// without waiting for the `Periodic` interval.
    pub(crate) fn sync(&self) -> Result<()> {
        let lsn = self.lock_active().next_lsn - 1;
        self.wait_durable(lsn, true)
    }

    /// The id of the oldest log file (all records not yet in segments are in it and
    /// the files after it).
    pub(crate) fn oldest_id(&self) -> Result<u64> {
        let current = self.lock_active().id;
        Ok(list_files(&self.dir, false)?
            .first()
            .map_or(current, |f| f.id.min(current)))
    }

    /// The id of the file appends currently go to.
    #[cfg(test)]
    pub(crate) fn current_id(&self) -> u64 {
        self.lock_active().id
    }

    /// Syncs run by group commit so far (not counting rotations).
    #[cfg(test)]
    pub(crate) fn sync_count(&self) -> u64 {
        self.commit.syncs()
    }

    fn lock_active(&self) -> MutexGuard<'_, Active> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_durable(&self, lsn: u64, force: bool) -> Result<()> {
        self.commit.wait_durable(
            lsn,
            force,
            || self.healthy(),
            || {
                let (file, path, covered) = {
                    let a = self.lock_active();
                    (a.file.clone(), a.path.clone(), a.next_lsn - 1)
                };
                faults::sync_data(&file, &path).map_err(|e| self.fail(&path, e))?;
                Ok(covered)
            },
        )
    }

    /// Stops the log after an I/O failure on `path` and returns the error.
    fn fail(&self, path: &Path, e: io::Error) -> Error {
        let _ = self.failed.set(Failure {
            path: path.to_owned(),
            kind: e.kind(),
            message: e.to_string(),
        });
        Error::io(path, e)
    }

    fn healthy(&self) -> Result<()> {
        match self.failed.get() {
            None => Ok(()),
            Some(f) => Err(Error::io(
                &f.path,
                io::Error::new(
                    f.kind,
                    format!(
                        "write-ahead log stopped after an earlier failure: {}",
                        f.message
                    ),
                ),
            )),
        }
    }
}

/// Reads the log in `dir` without changing anything: the records of the files from id
/// `from` on (all files without it). A bad region in the last file with no valid record
/// after it (a torn tail, or a record a writer is writing right now) ends the replay and
/// is counted in the report; any other damage is [`Error::Corrupt`]. A missing directory
/// is an empty log.
pub(crate) fn replay_read_only(dir: &Path, from: Option<u64>) -> Result<Replay> {
    if !dir.exists() {
        return Ok(Replay::default());
    }
    let mut files = list_files(dir, false)?;
    files.retain(|f| from.is_none_or(|from| f.id >= from));
    Ok(replay::replay(&files, false)?.replay)
}

/// Checks that every log file in `dir` from id `from` on holds at least a whole header.
/// A log file is created whole, header included (written under a temporary name and
/// renamed), so a shorter one was cut or emptied after the fact: its records are lost,
/// which is damage, not a torn tail.
pub(crate) fn check_headers(dir: &Path, from: u64) -> Result<()> {
    for f in list_files(dir, false)?.iter().filter(|f| f.id >= from) {
        let len = match fs::metadata(&f.path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&f.path, e)),
        };
        if len < record::HEADER_LEN as u64 {
            return Err(Error::damaged(
                &f.path,
                format!(
                    "{len} bytes, shorter than a log file header ({} bytes): log files are \
                     created whole, so this one was cut or emptied and its records are lost",
                    record::HEADER_LEN
                ),
            ));
        }
    }
    Ok(())
}

/// The id of the oldest log file in `dir`, if any.
pub(crate) fn oldest_file_id(dir: &Path) -> Result<Option<u64>> {
    if !dir.exists() {
        return Ok(None);
    }
    Ok(list_files(dir, false)?.first().map(|f| f.id))
}

/// Writes the first log file of an empty log directory `dir`; returns its id.
pub(crate) fn create_first_file(dir: &Path) -> Result<u64> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    create_file(dir, 1, 1)?;
    Ok(1)
}

/// Path of log file `id` in the log directory `dir`.
pub(crate) fn file_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(file_name(id))
}

/// Name of log file `id`.
fn file_name(id: u64) -> String {
    format!("wal-{id:016x}.log")
}

/// The id in a log file name, if `name` is one exactly as [`file_name`] writes it.
fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    let canonical = hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    canonical
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// The log files in `dir`, sorted by id. With `remove_tmp` (only at open: later, a
/// rotation may be writing one) removes leftover temporary files of log files, from a
/// crash during [`create_file`].
fn list_files(dir: &Path, remove_tmp: bool) -> Result<Vec<LogFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = parse_file_name(name) {
            files.push(LogFile {
                id,
                path: entry.path(),
            });
        } else if remove_tmp
            && name
                .strip_suffix(fsutil::TMP_SUFFIX)
                .and_then(|n| n.strip_suffix('.'))
                .and_then(parse_file_name)
                .is_some()
        {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    files.sort_by_key(|f| f.id);
    Ok(files)
}

/// Writes log file `id` holding only its header (atomically, directory synced) and opens
/// it for appending.
fn create_file(dir: &Path, id: u64, base_lsn: u64) -> Result<(u64, PathBuf, File)> {
    let path = dir.join(file_name(id));
    fsutil::write_atomic(&path, &record::encode_header(id, base_lsn))?;
    let file = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    Ok((id, path, file))
}

/// Cuts `file` to `len` if given, and syncs it: what replay read (possibly only in the
/// page cache after a process crash) and the cut are durable before anything new lands.
fn cut_and_sync(file: &File, path: &Path, len: Option<u64>) -> Result<()> {
    if let Some(len) = len {
        file.set_len(len).map_err(|e| Error::io(path, e))?;
    }
    faults::sync_all(file, path).map_err(|e| Error::io(path, e))
}

/// `write_all` for several buffers, so a frame header and its payload go out in one
/// `writev` without copying the payload. An injected fault writes the first half of the
/// frame and then fails, like a disk that fills up mid-write.
fn write_all_vectored(
    mut file: &File,
    path: &Path,
    mut bufs: &mut [IoSlice<'_>],
) -> io::Result<()> {
    if let Err(e) = faults::check(faults::FaultOp::Write, path) {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let half: Vec<u8> = bufs
            .iter()
            .flat_map(|b| b.iter().copied())
            .take(total / 2)
            .collect();
        file.write_all(&half)?;
        return Err(e);
    }
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
