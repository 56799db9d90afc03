//! The MANIFEST: which segment files are live, switched atomically, and what it needs of
//! the other files (the meter registry's prefix, the first log file), so that a missing,
//! stale or foreign copy of any of them is caught at open.

use super::envelope;
use crate::codec::Cursor;
use crate::error::{Error, Result};
use crate::format::{ENV_BODY, MANIFEST_MAGIC, METADATA_VERSION};
use crate::fsutil;
use std::path::{Path, PathBuf};

/// File name of the manifest inside a store directory.
pub(crate) const FILE: &str = "MANIFEST";

/// What a manifest says about the meter registry: METERS holds at least `count` meters,
/// and the CRC-32 of the encoding of its first `count` entries is `crc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MetersCheck {
    pub count: u32,
    pub crc: u32,
}

/// The live segment set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Written by a version before the cross-checks (MANIFEST version 1 or 2): the
    /// fields below `segments` are unknown and not checked.
    pub legacy: bool,
    /// Counts every write of the manifest; the METERS file names the generation that
    /// lists it.
    pub generation: u64,
    /// Every segment seq handed out so far is below this: seqs are reserved here before
    /// a file with them is written, so a segment file at or above it proves this copy
    /// of the manifest stale.
    pub next_seq: u64,
    /// Live segments, increasing seq (a higher seq is newer).
    pub segments: Vec<u64>,
    /// Id of the oldest log file whose records may be missing from the segments: it
    /// exists as long as this manifest is the newest; older log files are superseded.
    pub wal_from: u64,
    /// The meter registry this manifest was written with.
    pub meters: MetersCheck,
}

/// File name of segment `seq`.
pub(crate) fn segment_file(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("seg-{seq:016x}.mts"))
}

/// Parses a segment file name back to its seq.
pub(crate) fn parse_segment_file(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("seg-")?.strip_suffix(".mts")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

impl Manifest {
    /// Loads the manifest of `dir`; `None` when the file does not exist.
    pub(crate) fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(FILE);
        let Some((version, body)) = envelope::read_metadata(&path, MANIFEST_MAGIC)? else {
            return Ok(None);
        };
        let bad =
            |d: crate::codec::DecodeError| Error::corrupt(&path, (ENV_BODY + d.at) as u64, d.what);
        let mut c = Cursor::new(&body);
        let mut m = Manifest {
            legacy: version < METADATA_VERSION,
            ..Manifest::default()
        };
        if !m.legacy {
            m.generation = c.i64("generation").map_err(bad)? as u64;
        }
        m.next_seq = c.i64("next seq").map_err(bad)? as u64;
        if !m.legacy {
            m.wal_from = c.i64("first log file").map_err(bad)? as u64;
            m.meters.count = c.u32("meter count").map_err(bad)?;
            m.meters.crc = c.u32("meter registry crc").map_err(bad)?;
        }
        let n = c.u32("segment count").map_err(bad)? as usize;
        m.segments = Vec::with_capacity(n.min(body.len() / 8));
        for _ in 0..n {
            let s = c.i64("segment seq").map_err(bad)? as u64;
            if m.segments.last().is_some_and(|&p| p >= s) || s >= m.next_seq {
                return Err(Error::corrupt(
                    &path,
                    (ENV_BODY + c.pos()) as u64,
                    "segment seqs not increasing or not below next_seq",
                ));
            }
            m.segments.push(s);
        }
        if c.pos() != body.len() {
            return Err(Error::corrupt(
                &path,
                (ENV_BODY + c.pos()) as u64,
                "trailing bytes in manifest",
            ));
        }
        Ok(Some(m))
    }

    /// Atomically replaces the manifest of `dir` with `self` (always in the current
    /// layout).
    pub(crate) fn store(&self, dir: &Path) -> Result<()> {
        let mut body = Vec::with_capacity(40 + 8 * self.segments.len());
        body.extend_from_slice(&self.generation.to_le_bytes());
        body.extend_from_slice(&self.next_seq.to_le_bytes());
        body.extend_from_slice(&self.wal_from.to_le_bytes());
        body.extend_from_slice(&self.meters.count.to_le_bytes());
        body.extend_from_slice(&self.meters.crc.to_le_bytes());
        body.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for s in &self.segments {
            body.extend_from_slice(&s.to_le_bytes());
        }
        let bytes = envelope::seal_versioned(MANIFEST_MAGIC, METADATA_VERSION, &body);
        fsutil::write_atomic(&dir.join(FILE), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_names() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), None);
        let m = Manifest {
            legacy: false,
            generation: 3,
            next_seq: 9,
            segments: vec![1, 4, 8],
            wal_from: 7,
            meters: MetersCheck { count: 2, crc: 99 },
        };
        m.store(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Some(m));
        let f = segment_file(dir.path(), 0xab);
        let name = f.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_file(name), Some(0xab));
        assert_eq!(parse_segment_file("seg-zz.mts"), None);
    }
}
