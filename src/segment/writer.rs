//! Writes a segment file: blocks per meter, then the index and the footer.

use super::reader::BlockEntry;
use crate::codec::{cold, flags, ints, timestamps, values};
use crate::error::{Error, Result};
use crate::format::*;
use crate::fsutil;
use crate::types::Flag;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// zstd level for block bodies and the share of the plain size a frame must stay under to
/// be kept, 75%: a scan pays the decompression on every read, which makes a compressed
/// block about two and a half times as costly to scan as a packed one, so a frame is kept
/// only where it saves at least a quarter.
const ZSTD_LEVEL: i32 = 3;
/// See [`ZSTD_LEVEL`].
const ZSTD_KEEP_RATIO: f64 = 0.75;

/// The hot body size of a block of readings another segment holds already: its count,
/// first and last timestamp, and the length of its bit-packed body. Cold compaction
/// passes them on so that a cold body is compared with the hot one without encoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HotSize {
    pub count: u32,
    pub t_first: i64,
    pub t_last: i64,
    pub body_len: u32,
}

/// How a segment's blocks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// Bit-packed bodies only (short-lived flush segments).
    Plain,
    /// Bit-packed bodies, zstd where it saves a quarter (see [`ZSTD_KEEP_RATIO`]).
    Zstd,
    /// Cold bodies (`codec::cold`) where they are smaller than the bit-packed one.
    Cold,
}

/// Builds one segment file under a temporary name; [`SegmentWriter::finish`] seals it.
pub(crate) struct SegmentWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    pos: u64,
    meters: Vec<(u32, u32, u32)>,
    blocks: Vec<BlockEntry>,
    ints: Vec<i64>,
    body: Vec<u8>,
    block: Vec<u8>,
    /// Whether blocks may be zstd-compressed (see [`SegmentWriter::without_zstd`]).
    zstd: bool,
    /// Whether blocks are written cold (see [`SegmentWriter::create_cold`]).
    cold: bool,
    /// Hot body sizes of the blocks of the series being added (see [`HotSize`]).
    hot_sizes: Vec<HotSize>,
    /// Whether a block with a flag column was written: the segment is then sealed as
    /// [`FLAGS_SEGMENT_VERSION`].
    flagged: bool,
}

impl SegmentWriter {
    /// Starts a segment that will be published at `path`.
    pub(crate) fn create(path: &Path) -> Result<SegmentWriter> {
        SegmentWriter::create_with(path, false)
    }

    /// Starts a cold segment (version [`COLD_SEGMENT_VERSION`]): each block is written
    /// cold (`codec::cold`), or hot where that is not larger.
    pub(crate) fn create_cold(path: &Path) -> Result<SegmentWriter> {
        SegmentWriter::create_with(path, true)
    }

    fn version(&self) -> u8 {
        match (self.flagged, self.cold) {
            (true, _) => FLAGS_SEGMENT_VERSION,
            (false, true) => COLD_SEGMENT_VERSION,
            (false, false) => FormatVersion::CURRENT as u8,
        }
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..SEGMENT_MAGIC.len()].copy_from_slice(&SEGMENT_MAGIC);
        header[HEADER_VERSION] = self.version();
        let crc = crc32fast::hash(&header[..HEADER_CRC]);
        header[HEADER_CRC..].copy_from_slice(&crc.to_le_bytes());
        header
    }

    fn create_with(path: &Path, cold: bool) -> Result<SegmentWriter> {
        let tmp = fsutil::tmp_path(path);
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = SegmentWriter {
            path: path.to_owned(),
            tmp,
            out: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            meters: Vec::new(),
            blocks: Vec::new(),
            ints: Vec::new(),
            body: Vec::new(),
            block: Vec::new(),
            zstd: true,
            cold,
            hot_sizes: Vec::new(),
            flagged: false,
        };
        // The version in this header is rewritten at `finish` if a block has flags.
        let header = w.header();
        w.write(&header)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        fsutil::faults::check(fsutil::faults::FaultOp::Write, &self.tmp)
            .and_then(|()| self.out.write_all(bytes))
            .map_err(|e| Error::io(&self.tmp, e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Never tries zstd on this segment's blocks: for short-lived level-0 segments that
    /// compaction rewrites anyway (the attempt costs about a quarter of the encode time,
    /// and noisy readings almost never pass [`ZSTD_KEEP_RATIO`]).
    pub(crate) fn without_zstd(mut self) -> SegmentWriter {
        self.zstd = false;
        self
    }

    /// Adds the readings of one meter: `ts` strictly increasing, `vals` of the same length,
    /// `flags` sparse (`codec::flags`: empty when all are normal, else of the same length).
    /// Meters must come in increasing id order. Blocks are cut at [`BLOCK_LEN`] readings
    /// and wherever `window_end(first ts of the block)` is reached, so that no block
    /// crosses a window boundary.
    /// `hot_sizes`: the hot body sizes of blocks of these readings that a segment holds
    /// already (a block of the same count and bounds is taken to have that hot size).
    pub(crate) fn add_series(
        &mut self,
        meter: u32,
        ts: &[i64],
        vals: &[f64],
        fl: &[Flag],
        window_end: &dyn Fn(i64) -> i64,
        hot_sizes: &[HotSize],
    ) -> Result<()> {
        self.hot_sizes.clear();
        self.hot_sizes.extend_from_slice(hot_sizes);
        debug_assert_eq!(ts.len(), vals.len());
        debug_assert!(fl.is_empty() || fl.len() == ts.len());
        debug_assert!(self.meters.last().is_none_or(|m| m.0 < meter));
        if ts.is_empty() {
            return Ok(());
        }
        let first_block = self.blocks.len() as u32;
        let mut i = 0;
        while i < ts.len() {
            let end_ts = window_end(ts[i]);
            let limit = (i + BLOCK_LEN).min(ts.len());
            let j = i + ts[i..limit].partition_point(|&t| t < end_ts).max(1);
            self.write_block(&ts[i..j], &vals[i..j], flags::slice(fl, i..j))?;
            i = j;
        }
        self.meters
            .push((meter, first_block, self.blocks.len() as u32 - first_block));
        Ok(())
    }

    fn write_block(&mut self, ts: &[i64], vals: &[f64], fl: &[Flag]) -> Result<()> {
        let kind = values::to_ints(vals, &mut self.ints);
        self.body.clear();
        timestamps::encode(ts, &mut self.body);
        let ts_len = self.body.len();
        let (count, t_first, t_last) = (ts.len() as u32, ts[0], ts[ts.len() - 1]);
        // The hot body's size, known or encoded (into `self.body`) to compare with.
        let known = self
            .hot_sizes
            .iter()
            .find(|h| (h.count, h.t_first, h.t_last) == (count, t_first, t_last))
            .filter(|_| self.cold)
            .map(|h| h.body_len as usize);
        if known.is_none() {
            ints::encode(&self.ints, &mut self.body);
        }
        let hot_len = known.unwrap_or(self.body.len());
        let mut cold_body = Vec::new();
        let cold = self.cold
            && cold::encode(ts, &self.body[..ts_len], kind, &self.ints, &mut cold_body).is_some()
            && cold_body.len() < hot_len;
        if !cold && known.is_some() {
            ints::encode(&self.ints, &mut self.body);
        }
        // The flag column ends whichever body is stored, so that the rest of the body is
        // exactly that of a block without flags.
        let flagged = flags::any_flagged(fl);
        if flagged {
            flags::encode_column(fl, if cold { &mut cold_body } else { &mut self.body });
            self.flagged = true;
        }
        let compressed = (self.zstd && !cold)
            .then(|| zstd::bulk::compress(&self.body, ZSTD_LEVEL))
            .and_then(|c| c.ok())
            .filter(|c| (c.len() as f64) <= self.body.len() as f64 * ZSTD_KEEP_RATIO);
        let (flags, stored, body_len) = match &compressed {
            _ if cold => (BLOCK_FLAG_COLD, &cold_body[..], cold_body.len()),
            Some(c) => (BLOCK_FLAG_ZSTD, &c[..], self.body.len()),
            None => (0, &self.body[..], self.body.len()),
        };
        let flags = flags | if flagged { BLOCK_FLAG_FLAGS } else { 0 };
        let (kind_byte, scale) = kind.to_bytes();
        self.block.clear();
        self.block
            .extend_from_slice(&(ts.len() as u32).to_le_bytes());
        self.block.extend_from_slice(&[kind_byte, scale, flags, 0]);
        self.block
            .extend_from_slice(&(body_len as u32).to_le_bytes());
        self.block.extend_from_slice(stored);
        let crc = crc32fast::hash(&self.block);
        self.block.extend_from_slice(&crc.to_le_bytes());

        let sum = match kind.divisor() {
            Some(d) => self.ints.iter().map(|&i| i as i128).sum::<i128>() as f64 / d,
            None => vals.iter().sum(),
        };
        let entry = BlockEntry {
            offset: self.pos,
            len: self.block.len() as u32,
            count: ts.len() as u32,
            t_first: ts[0],
            t_last: ts[ts.len() - 1],
            min: vals.iter().copied().fold(f64::INFINITY, f64::min),
            max: vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            sum,
            first: vals[0],
            last: vals[vals.len() - 1],
        };
        let block = std::mem::take(&mut self.block);
        let res = self.write(&block);
        self.block = block;
        res?;
        self.blocks.push(entry);
        Ok(())
    }

    /// Writes the index and footer, fsyncs, and publishes the file under its final name.
    /// Returns the file size.
    pub(crate) fn finish(mut self) -> Result<u64> {
        let mut index = Vec::with_capacity(
            self.meters.len() * METER_ENTRY_LEN + self.blocks.len() * BLOCK_ENTRY_LEN,
        );
        for &(m, first, n) in &self.meters {
            for x in [m, first, n] {
                index.extend_from_slice(&x.to_le_bytes());
            }
        }
        for b in &self.blocks {
            b.encode(&mut index);
        }
        let index_offset = self.pos;
        self.write(&index)?;
        let mut footer = [0u8; FOOTER_LEN];
        footer[FOOTER_INDEX_OFFSET..FOOTER_INDEX_LEN].copy_from_slice(&index_offset.to_le_bytes());
        footer[FOOTER_INDEX_LEN..FOOTER_N_METERS]
            .copy_from_slice(&(index.len() as u64).to_le_bytes());
        footer[FOOTER_N_METERS..FOOTER_N_BLOCKS]
            .copy_from_slice(&(self.meters.len() as u32).to_le_bytes());
        footer[FOOTER_N_BLOCKS..FOOTER_INDEX_CRC]
            .copy_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        footer[FOOTER_INDEX_CRC..FOOTER_VERSION]
            .copy_from_slice(&crc32fast::hash(&index).to_le_bytes());
        footer[FOOTER_VERSION] = self.version();
        footer[FOOTER_FLAGS] = if self.cold { FOOTER_FLAG_COLD } else { 0 };
        let crc = crc32fast::hash(&footer[..FOOTER_CRC]);
        footer[FOOTER_CRC..FOOTER_MAGIC].copy_from_slice(&crc.to_le_bytes());
        footer[FOOTER_MAGIC..].copy_from_slice(&SEGMENT_MAGIC);
        self.write(&footer)?;
        let header = self.header();
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        if self.flagged {
            fsutil::faults::check(fsutil::faults::FaultOp::Write, &self.tmp)
                .and_then(|()| file.write_all_at(&header, 0))
                .map_err(|e| Error::io(&self.tmp, e))?;
        }
        fsutil::faults::sync_all(&file, &self.tmp).map_err(|e| Error::io(&self.tmp, e))?;
        drop(file);
        fsutil::publish(&self.tmp, &self.path)?;
        Ok(self.pos)
    }
}
