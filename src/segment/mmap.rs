//! The one place that maps files into memory.
//!
//! Only sealed segment files are mapped, read-only. A sealed file is written under a
//! temporary name, fsynced and renamed into place, and the store never opens it for
//! writing again; deleting it (retention, compaction) unlinks the name while mappings stay
//! valid. Modifying a sealed file from outside the store breaks that contract.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::Path;

/// A read-only mapping of a sealed file.
pub(crate) struct Mapped {
    map: memmap2::Mmap,
}

impl Mapped {
    /// Maps `path`. Empty files are rejected by the caller before mapping.
    pub(crate) fn open(path: &Path) -> Result<Mapped> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the file is a sealed segment: written under a temporary name, fsynced,
        // renamed into place and never opened for writing again (module docs). The mapping
        // is read-only, so no `&mut` aliasing can arise from this process, and every byte
        // is validated (length, magic, checksums) before it is interpreted.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Mapped { map })
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}
