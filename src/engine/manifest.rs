//! The MANIFEST: which segment files are live, switched atomically.

use super::envelope;
use crate::codec::Cursor;
use crate::error::{Error, Result};
use crate::format::MANIFEST_MAGIC;
use crate::fsutil;
use std::path::{Path, PathBuf};

/// File name of the manifest inside a store directory.
pub(crate) const FILE: &str = "MANIFEST";

/// The live segment set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Sequence number the next segment gets.
    pub next_seq: u64,
    /// Live segments, increasing seq (a higher seq is newer).
    pub segments: Vec<u64>,
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
    /// Loads the manifest of `dir`, or an empty one for a new store.
    pub(crate) fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(FILE);
        let Some(body) = envelope::read(&path, MANIFEST_MAGIC)? else {
            return Ok(Manifest::default());
        };
        let bad = |d: crate::codec::DecodeError| {
            Error::corrupt(&path, (crate::format::ENV_BODY + d.at) as u64, d.what)
        };
        let mut c = Cursor::new(&body);
        let next_seq = c.i64("next seq").map_err(bad)? as u64;
        let n = c.u32("segment count").map_err(bad)? as usize;
        let mut segments = Vec::with_capacity(n.min(body.len() / 8));
        for _ in 0..n {
            let s = c.i64("segment seq").map_err(bad)? as u64;
            if segments.last().is_some_and(|&p| p >= s) || s >= next_seq {
                return Err(Error::corrupt(
                    &path,
                    c.pos() as u64,
                    "segment seqs not increasing or not below next_seq",
                ));
            }
            segments.push(s);
        }
        if c.pos() != body.len() {
            return Err(Error::corrupt(
                &path,
                c.pos() as u64,
                "trailing bytes in manifest",
            ));
        }
        Ok(Manifest { next_seq, segments })
    }

    /// Atomically replaces the manifest of `dir` with `self`.
    pub(crate) fn store(&self, dir: &Path) -> Result<()> {
        let mut body = Vec::with_capacity(12 + 8 * self.segments.len());
        body.extend_from_slice(&self.next_seq.to_le_bytes());
        body.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for s in &self.segments {
            body.extend_from_slice(&s.to_le_bytes());
        }
        fsutil::write_atomic(&dir.join(FILE), &envelope::seal(MANIFEST_MAGIC, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_names() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Manifest::default());
        let m = Manifest {
            next_seq: 9,
            segments: vec![1, 4, 8],
        };
        m.store(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
        let f = segment_file(dir.path(), 0xab);
        let name = f.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_file(name), Some(0xab));
        assert_eq!(parse_segment_file("seg-zz.mts"), None);
    }
}
