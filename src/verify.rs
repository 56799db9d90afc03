//! [`verify`] and [`repair`]: an offline look at every file of a store, and the explicit
//! repair of what can be repaired. Opening a store never repairs anything by itself.

use crate::engine::manifest::{self, Manifest};
use crate::engine::meters::{manifest_generation as meters_generation, Meters};
use crate::engine::open::{self, Found};
use crate::error::{Error, Result};
use crate::monitor::Catalog;
use crate::segment::{verify_segment, Segment};
use crate::store::{Options, Store};
use crate::wal::{self, ReplayReport};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Name of the folder inside the store that [`repair`] moves unreadable files to.
pub const QUARANTINE_DIR: &str = "quarantine";

/// One damaged file found by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it (the error an open would give).
    pub what: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Damaged, missing or mismatched files; empty when the store is healthy.
    pub damage: Vec<Damage>,
    /// Segment files checked down to every block's CRC, and the readings they hold.
    pub segments_checked: usize,
    /// See `segments_checked`.
    pub readings_checked: u64,
    /// Meters in METERS.
    pub meters: usize,
    /// The log as a writer would replay it (a torn tail is not damage: the next writer
    /// open cuts it off).
    pub wal: ReplayReport,
    /// Segment files that no manifest lists below its `next_seq`: what a crash or a
    /// failed delete leaves; the next writer open removes them.
    pub orphan_segments: Vec<PathBuf>,
}

impl VerifyReport {
    /// Whether nothing is damaged.
    pub fn is_healthy(&self) -> bool {
        self.damage.is_empty()
    }
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// What [`verify`] found before the repair.
    pub before: VerifyReport,
    /// Files moved into the quarantine folder (never deleted), with their new paths.
    pub quarantined: Vec<(PathBuf, PathBuf)>,
    /// Whether MANIFEST was rebuilt from the segment files present.
    pub manifest_rebuilt: bool,
    /// Bytes of the log skipped as unreadable (the salvage of
    /// [`Options::salvage_wal`]); a copy of each damaged log file is in the quarantine.
    pub wal_bytes_salvaged: u64,
    /// What [`verify`] finds after the repair.
    pub after: VerifyReport,
}

/// Checks every file of the store in `dir` without changing anything, and without a
/// lock (a writer running meanwhile may make a check see a file it is replacing): MANIFEST
/// and METERS (envelopes and their cross-check), every live segment down to each
/// block's CRC, segment files the manifest does not explain, the log (every record's
/// CRC and order), and CATALOG when present. An `Err` means `dir` holds no store at all
/// or could not be read; damage is in the report.
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    let mut r = VerifyReport::default();
    let damage = |path: PathBuf, e: &Error| Damage {
        path,
        what: e.to_string(),
    };
    let manifest = match open::find(dir) {
        Ok(Found::Store(m)) => Some(m),
        Ok(Found::Empty) if open::is_store(dir) => None,
        Ok(Found::Empty) => return Err(open::no_store(dir, "it has no MANIFEST")),
        Err(e) => {
            r.damage.push(damage(dir.join(manifest::FILE), &e));
            None
        }
    };
    let m = manifest.clone().unwrap_or(Manifest {
        legacy: true,
        ..Manifest::default()
    });
    match Meters::load(dir, &m) {
        Ok((meters, _)) => r.meters = meters.len(),
        Err(e) => r.damage.push(damage(error_path(&e, dir), &e)),
    }
    let files = open::segment_files(dir)?;
    for &s in &m.segments {
        let path = manifest::segment_file(dir, s);
        match verify_segment(&path) {
            Ok(n) => {
                r.segments_checked += 1;
                r.readings_checked += n;
                if let Some(e) = meters_beyond(&path, r.meters) {
                    r.damage.push(damage(path, &e));
                }
            }
            Err(e) => r.damage.push(damage(path, &e)),
        }
    }
    if manifest.is_some() {
        // The checks of an open that the loop above does not make (stale copies).
        if let Err(e) = open::check(dir, m.clone(), &HashMap::new()) {
            let path = error_path(&e, dir);
            if !r.damage.iter().any(|d| d.path == path) {
                r.damage.push(damage(path, &e));
            }
        }
    }
    r.orphan_segments = files
        .iter()
        .filter(|&&s| s < m.next_seq && m.segments.binary_search(&s).is_err())
        .map(|&s| manifest::segment_file(dir, s))
        .collect();
    let from = (!m.legacy).then_some(m.wal_from);
    match wal::replay_read_only(&open::wal_path(dir), from) {
        Ok(replay) => r.wal = replay.report,
        Err(e) => r.damage.push(damage(error_path(&e, dir), &e)),
    }
    let catalog = dir.join("CATALOG");
    if catalog.exists() {
        if let Err(e) = Catalog::load_dir(dir) {
            r.damage.push(damage(catalog, &e));
        }
    }
    Ok(r)
}

/// Repairs the store in `dir` (explicitly: no open ever does this). Takes the writer's
/// lock, so no writer may run. What it does, in order:
/// - moves every damaged segment, METERS-less or unreadable CATALOG and damaged log
///   file into `dir/quarantine/` (log files are copied, then salvaged in place);
/// - rebuilds MANIFEST from the readable segment files present when it is missing,
///   unreadable, stale or lists a quarantined segment (segments that hold the same
///   readings twice, such as a compaction's inputs and output, read the same);
/// - opens the store with [`Options::salvage_wal`], flushes what the log held and closes
///   it;
/// - verifies again.
///
/// METERS cannot be rebuilt (segments hold dense ids only): when it is missing, damaged
/// or stale, `repair` changes nothing and returns [`Error::Damaged`] naming it; restore
/// it from a backup.
pub fn repair(dir: impl AsRef<Path>) -> Result<RepairReport> {
    let dir = dir.as_ref();
    let _lock = open::lock_dir(dir)?;
    let before = verify(dir)?;
    let mut out = RepairReport::default();
    let meters_path = dir.join(crate::engine::meters::FILE);
    if let Some(d) = before.damage.iter().find(|d| d.path == meters_path) {
        return Err(Error::damaged(
            &d.path,
            format!("cannot be rebuilt (restore it from a backup): {}", d.what),
        ));
    }
    let quarantine = dir.join(QUARANTINE_DIR);
    let mut rebuild = false;
    for d in &before.damage {
        let name = d.path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let log = name.starts_with("wal-");
        // MANIFEST is rebuilt when it, a segment it lists, or the log it starts from is
        // missing or damaged.
        rebuild |= name == manifest::FILE
            || manifest::parse_segment_file(&name).is_some()
            || (log && !d.path.exists());
        if !d.path.is_file() {
            continue;
        }
        fs::create_dir_all(&quarantine).map_err(|e| Error::io(&quarantine, e))?;
        let to = free_name(&quarantine, &name);
        if log {
            // The salvage below needs the file in place; the quarantine keeps the copy.
            fs::copy(&d.path, &to).map_err(|e| Error::io(&to, e))?;
        } else {
            fs::rename(&d.path, &to).map_err(|e| Error::io(&to, e))?;
        }
        out.quarantined.push((d.path.clone(), to));
    }
    if rebuild {
        rebuild_manifest(dir)?;
        out.manifest_rebuilt = true;
    }
    drop(_lock);
    let opts = Options {
        salvage_wal: true,
        background_flush: false,
        ..Options::default()
    };
    let store = Store::open(dir, opts)?;
    out.wal_bytes_salvaged = store.recovery_report().wal.salvaged_corrupt_bytes;
    store.close()?;
    out.before = before;
    out.after = verify(dir)?;
    Ok(out)
}

/// Writes a MANIFEST listing every readable segment file in `dir`, from the first log
/// file present, with the meter registry as it is.
fn rebuild_manifest(dir: &Path) -> Result<()> {
    let old = Manifest::load(dir).ok().flatten();
    let mut segments = Vec::new();
    for s in open::segment_files(dir)? {
        if Segment::open(&manifest::segment_file(dir, s)).is_ok() {
            segments.push(s);
        }
    }
    let legacy = Manifest {
        legacy: true,
        ..Manifest::default()
    };
    let (_, meters) = Meters::load(dir, &legacy)?;
    let wal_dir = open::wal_path(dir);
    let wal_from = match wal::oldest_file_id(&wal_dir)? {
        Some(id) => id,
        None => wal::create_first_file(&wal_dir)?,
    };
    let top = segments.last().map_or(0, |s| s + 1);
    // A generation no copy of MANIFEST and no METERS has named yet.
    let generation = old
        .as_ref()
        .map_or(0, |m| m.generation)
        .max(meters_generation(dir)?)
        + 1;
    let m = Manifest {
        legacy: false,
        generation,
        next_seq: top.max(old.map_or(0, |m| m.next_seq)),
        segments,
        wal_from,
        meters,
    };
    m.store(dir)
}

/// An error when segment `path` holds a meter that METERS does not have.
fn meters_beyond(path: &Path, meters: usize) -> Option<Error> {
    let seg = Segment::open(path).ok()?;
    let top = seg.meter_ids().max()?;
    (top as usize >= meters).then(|| {
        Error::damaged(
            path,
            format!("holds dense meter id {top}, while METERS has {meters} meters"),
        )
    })
}

/// The file an error names, or the store directory.
fn error_path(e: &Error, dir: &Path) -> PathBuf {
    match e {
        Error::Io { path, .. }
        | Error::Corrupt { path, .. }
        | Error::ChecksumMismatch { path, .. }
        | Error::UnsupportedVersion { path, .. }
        | Error::Damaged { path, .. } => path.clone(),
        _ => dir.to_owned(),
    }
}

/// `dir/name`, or `dir/name.N` for the first N that does not exist.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let mut p = dir.join(name);
    let mut n = 1;
    while p.exists() {
        p = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    p
}
