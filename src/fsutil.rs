//! Atomic file replacement: write to `NAME.tmp`, fsync, rename over `NAME`, fsync the
//! directory. A crash at any point leaves the old file or the new one, never a mix.
//!
//! Every write, sync and rename of the store goes through this module or through
//! [`faults`], the seam where tests inject I/O errors.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

pub mod faults;

/// Suffix of files that are still being written.
pub(crate) const TMP_SUFFIX: &str = "tmp";

/// The temporary name a file is written under before it is renamed into place.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(TMP_SUFFIX);
    path.with_file_name(name)
}

/// Fsyncs a directory so that a rename or creation inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| faults::sync_all(&d, dir))
        .map_err(|e| Error::io(dir, e))
}

/// Moves a finished, fsynced `tmp` file to `path` and makes the rename durable.
pub(crate) fn publish(tmp: &Path, path: &Path) -> Result<()> {
    faults::check(faults::FaultOp::Rename, path)
        .and_then(|()| fs::rename(tmp, path))
        .map_err(|e| Error::io(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    faults::check(faults::FaultOp::Write, &tmp)
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| faults::sync_all(&f, &tmp))
        .map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    publish(&tmp, path)
}

/// Removes `path`; a file that is already gone is not an error.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
