//! The I/O fault-injection seam. Every write, sync and rename the store does on its files
//! first asks `check`; a test registers a hook for a directory with [`inject`] and the
//! hook decides which operations fail and with what error (a full disk is `ENOSPC` on a
//! write, a failed `fsync` is `EIO` on a sync, ...). Hooks are keyed by directory, so
//! tests that run in parallel in one process do not see each other's faults.
//!
//! Without a registered hook a check is one relaxed atomic load.
//!
//! Not part of the stable API: hidden from the docs, for tests of this crate.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// An operation on a file that a hook can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// Writing bytes to a file (a log frame, a segment, a temporary metadata file). A
    /// failed log write leaves the first half of the frame in the file.
    Write,
    /// `fsync`/`fdatasync` of a file or a directory.
    Sync,
    /// Renaming a finished temporary file into place.
    Rename,
}

/// What a hook sees and answers: the operation, the path it is about, and `Some(error)`
/// to make it fail.
type Hook = dyn Fn(FaultOp, &Path) -> Option<io::Error> + Send + Sync;

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static HOOKS: Mutex<Vec<(u64, PathBuf, Arc<Hook>)>> = Mutex::new(Vec::new());

/// Keeps a hook registered; dropping it removes the hook.
#[must_use = "the hook is removed when the guard is dropped"]
pub struct FaultGuard {
    id: u64,
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let mut hooks = HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
        hooks.retain(|h| h.0 != self.id);
        ACTIVE.store(hooks.len(), Ordering::Release);
    }
}

/// Registers `hook` for every file under `dir` until the guard is dropped. The hook runs
/// while the store holds internal locks: it must not call into the store.
pub fn inject(
    dir: &Path,
    hook: impl Fn(FaultOp, &Path) -> Option<io::Error> + Send + Sync + 'static,
) -> FaultGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut hooks = HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
    hooks.push((id, dir.to_owned(), Arc::new(hook)));
    ACTIVE.store(hooks.len(), Ordering::Release);
    FaultGuard { id }
}

/// Asks the hooks whether `op` on `path` fails.
pub(crate) fn check(op: FaultOp, path: &Path) -> io::Result<()> {
    if ACTIVE.load(Ordering::Acquire) == 0 {
        return Ok(());
    }
    let hooks: Vec<Arc<Hook>> = HOOKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|h| path.starts_with(&h.1))
        .map(|h| h.2.clone())
        .collect();
    match hooks.iter().find_map(|h| h(op, path)) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `file.sync_all()` through the seam.
pub(crate) fn sync_all(file: &File, path: &Path) -> io::Result<()> {
    check(FaultOp::Sync, path)?;
    file.sync_all()
}

/// `file.sync_data()` through the seam.
pub(crate) fn sync_data(file: &File, path: &Path) -> io::Result<()> {
    check(FaultOp::Sync, path)?;
    file.sync_data()
}
