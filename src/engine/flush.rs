//! Writing buffered readings into segments: one segment per window, so that compaction
//! and retention can work window by window (see "Compaction" in `docs/FORMAT.md`).

use super::manifest::segment_file;
use super::memtable::Memtable;
use super::window::Window;
use crate::codec::flags;
use crate::error::Result;
use crate::fsutil;
use crate::segment::{Coding, HotSize, Segment, SegmentWriter};
use crate::types::{Flag, UtcOffset};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A segment written and sealed, not yet published in the manifest.
pub(crate) struct Written {
    /// Its sequence number (file `seg-<seq>.mts`).
    pub seq: u64,
    /// The opened segment.
    pub seg: Arc<Segment>,
    /// File size.
    pub bytes: u64,
    /// Readings it holds.
    pub readings: u64,
}

/// Writes one window's segment: meters in increasing id order, blocks cut at the window's
/// end and at local month starts.
pub(crate) struct WindowWriter {
    path: PathBuf,
    seq: u64,
    w: SegmentWriter,
    readings: u64,
    window: Window,
    off: UtcOffset,
}

impl WindowWriter {
    /// `coding`: how blocks are written (no zstd for flushes on the ingest path).
    pub(crate) fn create(
        dir: &Path,
        seq: u64,
        window: Window,
        off: UtcOffset,
        coding: Coding,
    ) -> Result<Self> {
        let path = segment_file(dir, seq);
        let w = match coding {
            Coding::Plain => SegmentWriter::create(&path)?.without_zstd(),
            Coding::Zstd => SegmentWriter::create(&path)?,
            Coding::Cold => SegmentWriter::create_cold(&path)?,
        };
        Ok(WindowWriter {
            path,
            seq,
            w,
            readings: 0,
            window,
            off,
        })
    }

    /// Adds a meter's readings (sorted, unique, all in this writer's window; `flags`
    /// sparse as `codec::flags` keeps them), with the hot body sizes of blocks of them
    /// that a segment holds already.
    pub(crate) fn add(
        &mut self,
        meter: u32,
        ts: &[i64],
        vals: &[f64],
        flags: &[Flag],
        hot_sizes: &[HotSize],
    ) -> Result<()> {
        let (window, off) = (self.window, self.off);
        self.w.add_series(
            meter,
            ts,
            vals,
            flags,
            &move |t| window.block_end(t, off),
            hot_sizes,
        )?;
        self.readings += ts.len() as u64;
        Ok(())
    }

    /// Seals the file (fsync, rename into place) and opens it.
    pub(crate) fn finish(self) -> Result<Written> {
        let bytes = self.w.finish()?;
        let seg = Segment::open(&self.path)?;
        Ok(Written {
            seq: self.seq,
            seg: Arc::new(seg),
            bytes,
            readings: self.readings,
        })
    }
}

/// Removes what writing segments `seqs` left behind, finished or not. Only for segments
/// that no manifest write has listed.
pub(crate) fn discard(dir: &Path, seqs: &[u64]) {
    for &seq in seqs {
        let path = segment_file(dir, seq);
        // Best effort: whatever stays is an orphan, removed at the next open.
        let _ = fsutil::remove_if_exists(&fsutil::tmp_path(&path));
        let _ = fsutil::remove_if_exists(&path);
    }
}

/// Writes what `pieces` (oldest first; a newer piece wins on the same meter and
/// timestamp) hold into one new segment per window they touch, numbering them with
/// `alloc` (which may fail); `zstd` says whether blocks may be compressed. On error nothing is left on
/// disk.
pub(crate) fn write_pieces(
    dir: &Path,
    pieces: &[Arc<Memtable>],
    window: Window,
    off: UtcOffset,
    zstd: bool,
    mut alloc: impl FnMut() -> Result<u64>,
) -> Result<Vec<Written>> {
    let merged;
    let table: &Memtable = match pieces {
        [one] => one,
        _ => {
            merged = Memtable::merged(pieces);
            &merged
        }
    };
    let series = table.sorted_series();
    // (window start, index into `series`, range of readings), meters in order per window.
    let mut cuts = Vec::new();
    for (k, (_, s)) in series.iter().enumerate() {
        let mut i = 0;
        while i < s.ts.len() {
            let end = window.end(s.ts[i], off);
            let j = i + s.ts[i..].partition_point(|&t| t < end).max(1);
            cuts.push((window.start(s.ts[i], off), k, i..j));
            i = j;
        }
    }
    cuts.sort_by_key(|c| (c.0, c.1));
    let mut out: Vec<Written> = Vec::new();
    let mut started = Vec::new();
    let res = (|| {
        let mut i = 0;
        while i < cuts.len() {
            let w_start = cuts[i].0;
            let seq = alloc()?;
            started.push(seq);
            let coding = match zstd {
                true => Coding::Zstd,
                false => Coding::Plain,
            };
            let mut w = WindowWriter::create(dir, seq, window, off, coding)?;
            while let Some((_, k, r)) = cuts.get(i).filter(|c| c.0 == w_start) {
                let (m, s) = series[*k];
                w.add(
                    m,
                    &s.ts[r.clone()],
                    &s.vals[r.clone()],
                    flags::slice(&s.flags, r.clone()),
                    &[],
                )?;
                i += 1;
            }
            out.push(w.finish()?);
        }
        Ok(())
    })();
    match res {
        Ok(()) => Ok(out),
        Err(e) => {
            drop(out);
            discard(dir, &started);
            Err(e)
        }
    }
}
