//! Opens, validates and reads a sealed segment through its read-only mapping.

use super::mmap::Mapped;
use super::writer::HotSize;
use crate::codec::ints::{IntColumn, IntLayout};
use crate::codec::timestamps::{RegularLayout, TsColumn};
use crate::codec::values::{self, ValueKind};
use crate::codec::DecodeError;
use crate::codec::{cold, flags};
use crate::engine::read::Run;
use crate::error::{Error, Result};
use crate::format::*;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// One block's index entry: where it is and the statistics that let aggregates skip it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BlockEntry {
    pub offset: u64,
    pub len: u32,
    pub count: u32,
    pub t_first: i64,
    pub t_last: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first: f64,
    pub last: f64,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn le_f64(b: &[u8], at: usize) -> f64 {
    f64::from_bits(le_u64(b, at))
}

impl BlockEntry {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.t_first.to_le_bytes());
        out.extend_from_slice(&self.t_last.to_le_bytes());
        for v in [self.min, self.max, self.sum, self.first, self.last] {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
    }

    fn decode(b: &[u8]) -> BlockEntry {
        BlockEntry {
            offset: le_u64(b, 0),
            len: le_u32(b, 8),
            count: le_u32(b, 12),
            t_first: le_u64(b, 16) as i64,
            t_last: le_u64(b, 24) as i64,
            min: le_f64(b, 32),
            max: le_f64(b, 40),
            sum: le_f64(b, 48),
            first: le_f64(b, 56),
            last: le_f64(b, 64),
        }
    }
}

/// A meter's contiguous run of blocks in a segment.
#[derive(Debug, Clone, Copy)]
struct MeterEntry {
    meter: u32,
    first_block: u32,
    n_blocks: u32,
}

/// A block whose checksum passed, parsed down to its columns.
pub(crate) struct BlockView<'a> {
    pub kind: ValueKind,
    pub ts: TsColumn<'a>,
    pub ints: IntColumn<'a>,
}

/// What the check of a plain block with a regular timestamp column found: its columns
/// as offsets into its body, so that a read of the block after the first takes them
/// from here instead of parsing and checking the block again.
#[derive(Debug, Clone, Copy)]
struct BlockLayout {
    kind: ValueKind,
    ts: RegularLayout,
    /// Bytes of the timestamp column: the value column follows.
    ts_len: u32,
    ints: IntLayout,
}

// The size per block that `Segment::layouts` documents.
const _: () = assert!(std::mem::size_of::<OnceLock<BlockLayout>>() <= 96);

/// An open, validated, read-only segment.
pub(crate) struct Segment {
    path: PathBuf,
    map: Mapped,
    meters: Vec<MeterEntry>,
    blocks: Vec<BlockEntry>,
    /// Blocks whose CRC has been checked since this segment was opened.
    verified: Vec<AtomicBool>,
    /// Per block, once it has been checked, its [`BlockLayout`] (plain blocks with a
    /// regular timestamp column), so that a block read again is not parsed and checked
    /// again (a large share of a day/night scan's work per block outside the summing
    /// loop). It costs 96 bytes a block read, 0.03 bytes a reading of 15-minute data (the
    /// readings take about 1.6), allocated for a segment when one of its blocks is first
    /// read.
    layouts: OnceLock<Box<[OnceLock<BlockLayout>]>>,
    /// First and last timestamp of any block (`None` without blocks).
    span: Option<(i64, i64)>,
    /// What the segment's version allows: cold blocks, flag columns.
    features: SegmentFeatures,
    /// The segment was written by cold compaction.
    cold: bool,
}

impl Segment {
    /// Maps `path` and validates header, footer and index.
    pub(crate) fn open(path: &Path) -> Result<Segment> {
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if len < (HEADER_LEN + FOOTER_LEN) as u64 {
            return Err(Error::corrupt(
                path,
                0,
                format!("segment of {len} bytes is shorter than header and footer"),
            ));
        }
        let map = Mapped::open(path)?;
        let b = map.bytes();
        let corrupt = |offset: usize, what: &str| Error::corrupt(path, offset as u64, what);
        if b[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
            return Err(corrupt(0, "bad segment header magic"));
        }
        check_crc(path, b, 0, HEADER_CRC)?;
        let features = check_segment_version(b[HEADER_VERSION], path)?;
        let cold_version = features.cold;

        let f = b.len() - FOOTER_LEN;
        let footer = &b[f..];
        if footer[FOOTER_MAGIC..] != SEGMENT_MAGIC {
            return Err(corrupt(f + FOOTER_MAGIC, "bad segment footer magic"));
        }
        check_crc(path, b, f, f + FOOTER_CRC)?;
        check_segment_version(footer[FOOTER_VERSION], path)?;
        if footer[FOOTER_VERSION] != b[HEADER_VERSION] {
            return Err(corrupt(
                f + FOOTER_VERSION,
                "footer version differs from header version",
            ));
        }
        // Versions before the cold one leave the flags zero and never read them.
        let cold = cold_version && footer[FOOTER_FLAGS] & FOOTER_FLAG_COLD != 0;
        if cold_version && footer[FOOTER_FLAGS] & !FOOTER_FLAG_COLD != 0 {
            return Err(corrupt(f + FOOTER_FLAGS, "unknown segment flags"));
        }
        let index_offset = le_u64(footer, FOOTER_INDEX_OFFSET);
        let index_len = le_u64(footer, FOOTER_INDEX_LEN);
        let n_meters = le_u32(footer, FOOTER_N_METERS) as u64;
        let n_blocks = le_u32(footer, FOOTER_N_BLOCKS) as u64;
        let expect_len = n_meters * METER_ENTRY_LEN as u64 + n_blocks * BLOCK_ENTRY_LEN as u64;
        if index_len != expect_len
            || index_offset < HEADER_LEN as u64
            || index_offset.checked_add(index_len) != Some(f as u64)
        {
            return Err(corrupt(f, "index bounds do not fit the file"));
        }
        let (io, il) = (index_offset as usize, index_len as usize);
        let index = &b[io..io + il];
        let crc = crc32fast::hash(index);
        let stored = le_u32(footer, FOOTER_INDEX_CRC);
        if crc != stored {
            return Err(Error::ChecksumMismatch {
                path: path.to_owned(),
                offset: index_offset,
                expected: stored,
                got: crc,
            });
        }

        let (n_meters, n_blocks) = (n_meters as usize, n_blocks as usize);
        let mut meters = Vec::with_capacity(n_meters);
        let mut next_block = 0u32;
        for k in 0..n_meters {
            let at = k * METER_ENTRY_LEN;
            let m = MeterEntry {
                meter: le_u32(index, at),
                first_block: le_u32(index, at + 4),
                n_blocks: le_u32(index, at + 8),
            };
            if meters
                .last()
                .is_some_and(|p: &MeterEntry| p.meter >= m.meter)
                || m.first_block != next_block
                || m.n_blocks == 0
            {
                return Err(corrupt(
                    io + at,
                    "meter entries out of order or not covering the blocks",
                ));
            }
            next_block = next_block
                .checked_add(m.n_blocks)
                .ok_or_else(|| corrupt(io + at, "block count overflow"))?;
            meters.push(m);
        }
        if next_block as usize != n_blocks {
            return Err(corrupt(io, "meter entries do not cover every block"));
        }

        let mut blocks = Vec::with_capacity(n_blocks);
        let mut span: Option<(i64, i64)> = None;
        let mut expect_offset = HEADER_LEN as u64;
        let base = io + n_meters * METER_ENTRY_LEN;
        for k in 0..n_blocks {
            let at = base + k * BLOCK_ENTRY_LEN;
            let e = BlockEntry::decode(&b[at..at + BLOCK_ENTRY_LEN]);
            if e.offset != expect_offset
                || (e.len as usize) < BLOCK_OVERHEAD
                || e.count == 0
                || e.count as usize > BLOCK_LEN
                || e.t_first > e.t_last
            {
                return Err(corrupt(at, "block entry out of bounds or inconsistent"));
            }
            expect_offset += e.len as u64;
            span = Some(span.map_or((e.t_first, e.t_last), |(a, z)| {
                (a.min(e.t_first), z.max(e.t_last))
            }));
            blocks.push(e);
        }
        if expect_offset != index_offset {
            return Err(corrupt(io, "blocks do not fill the data region"));
        }
        for m in &meters {
            let r = m.first_block as usize..(m.first_block + m.n_blocks) as usize;
            if blocks[r].windows(2).any(|w| w[0].t_last >= w[1].t_first) {
                return Err(corrupt(io, "blocks of a meter overlap in time"));
            }
        }
        let verified = (0..n_blocks).map(|_| AtomicBool::new(false)).collect();
        Ok(Segment {
            path: path.to_owned(),
            map,
            meters,
            blocks,
            verified,
            layouts: OnceLock::new(),
            span,
            features,
            cold,
        })
    }

    /// First and last timestamp stored in the segment (`None` when it has no blocks).
    pub(crate) fn span(&self) -> Option<(i64, i64)> {
        self.span
    }

    /// Whether cold compaction wrote this segment (its window is cold already).
    pub(crate) fn is_cold(&self) -> bool {
        self.cold
    }

    /// Size of the file in bytes.
    pub(crate) fn file_len(&self) -> u64 {
        self.map.bytes().len() as u64
    }

    /// All block entries, indexed by block number.
    pub(crate) fn blocks(&self) -> &[BlockEntry] {
        &self.blocks
    }

    /// Dense ids of the meters stored here, increasing.
    pub(crate) fn meter_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.meters.iter().map(|m| m.meter)
    }

    /// Block numbers of `meter`'s blocks (empty when the meter is absent).
    pub(crate) fn meter_blocks(&self, meter: u32) -> Range<usize> {
        let entry = |m: &MeterEntry| m.first_block as usize..(m.first_block + m.n_blocks) as usize;
        // A segment of a flush holds a run of ids: most meters are outside it.
        let Some(ids) = self.id_span().filter(|ids| ids.contains(&meter)) else {
            return 0..0;
        };
        // Meter ids are dense and a flush or compaction usually writes every meter, so
        // the entry is most often at `meter - first id`: look there before searching.
        if let Some(m) = self.meters.get((meter - ids.start()) as usize) {
            if m.meter == meter {
                return entry(m);
            }
        }
        match self.meters.binary_search_by_key(&meter, |m| m.meter) {
            Ok(k) => entry(&self.meters[k]),
            Err(_) => 0..0,
        }
    }

    /// The first and last meter id with blocks here (`None` for a segment without any).
    fn id_span(&self) -> Option<RangeInclusive<u32>> {
        Some(self.meters.first()?.meter..=self.meters.last()?.meter)
    }

    /// Prefetches the index entries of meters `lo..=hi` (a hint: nothing is read but the
    /// two meter entries that bound their blocks).
    pub(crate) fn prefetch_index(&self, lo: u32, hi: u32) {
        let Some(ids) = self
            .id_span()
            .filter(|ids| hi >= *ids.start() && lo <= *ids.end())
        else {
            return;
        };
        let n = self.meters.len();
        let a = (lo.saturating_sub(*ids.start()) as usize).min(n - 1);
        let b = ((hi - ids.start()) as usize).min(n - 1);
        prefetch_range(&self.meters[a..=b]);
        let (from, to) = (
            self.meters[a].first_block as usize,
            self.meters[b].first_block as usize,
        );
        let to = (to + self.meters[b].n_blocks as usize).min(self.blocks.len());
        if from < to {
            prefetch_range(&self.blocks[from..to]);
        }
    }

    /// Checks block `idx` and hands its parsed columns to `f`. `scratch` holds the
    /// decompressed body of zstd blocks.
    pub(crate) fn with_block<'s, R>(
        &'s self,
        idx: usize,
        scratch: &'s mut Vec<u8>,
        f: impl FnOnce(&BlockView<'_>) -> R,
    ) -> Result<R> {
        let e = &self.blocks[idx];
        let start = e.offset as usize;
        let block = &self.map.bytes()[start..start + e.len as usize];
        // The ints' in-place reads may go on past the column: its CRC and the rest of the
        // mapped file follow it (for a decompressed body, see below).
        let ints_ext = |ts_len: usize| &self.map.bytes()[start + BLOCK_BODY + ts_len..];
        if let Some(l) = self.layouts.get().and_then(|ls| ls[idx].get()) {
            let body = &block[BLOCK_BODY..block.len() - 4];
            let ts = TsColumn::from_layout(body, &l.ts);
            let ts_len = l.ts_len as usize;
            let mut ints = IntColumn::from_layout(&body[ts_len..], &l.ints);
            ints.read_past_end(ints_ext(ts_len));
            return Ok(f(&BlockView {
                kind: l.kind,
                ts,
                ints,
            }));
        }
        let (kind, flags) = self.check_block(idx, block)?;
        let corrupt =
            |at: usize, what: &str| Error::corrupt(&self.path, e.offset + at as u64, what);
        let body_len = le_u32(block, BLOCK_BODY_LEN) as usize;
        let stored = &block[BLOCK_BODY..block.len() - 4];
        // The body is rebuilt in `scratch` (decompressed, or decoded from cold) rather than
        // read in place.
        let decoded = flags & (BLOCK_FLAG_ZSTD | BLOCK_FLAG_COLD) != 0;
        let body: &[u8] = if flags & BLOCK_FLAG_COLD != 0 {
            if body_len != stored.len() {
                return Err(corrupt(
                    BLOCK_BODY_LEN,
                    "body length differs from block length",
                ));
            }
            let stored = self.without_flags(idx, flags, stored)?;
            // A hot body of the same readings, so that every reader of a block (history,
            // aggregates, the day/night kernels) takes it as it is.
            scratch.clear();
            COLD_SCRATCH
                .with(|c| {
                    let (ts, ints) = &mut *c.borrow_mut();
                    cold::decode_to_hot(stored, e.count as usize, kind, (ts, ints), scratch)
                })
                .map_err(|d| corrupt(BLOCK_BODY + d.at, d.what))?;
            let n = scratch.len();
            scratch.extend_from_slice(&[0; 16]);
            &scratch[..n]
        } else if flags & BLOCK_FLAG_ZSTD != 0 {
            // A block of at most BLOCK_LEN readings never needs more than this; a larger
            // claim is corruption, not a reason to allocate.
            if body_len > BLOCK_LEN * 24 + 1024 {
                return Err(corrupt(
                    BLOCK_BODY_LEN,
                    "decompressed body length out of range",
                ));
            }
            *scratch = decompress(stored, body_len)
                .map_err(|_| corrupt(BLOCK_BODY, "zstd frame does not decompress"))?;
            if scratch.len() != body_len {
                return Err(corrupt(
                    BLOCK_BODY_LEN,
                    "decompressed length differs from header",
                ));
            }
            // Readable slack for the value column's in-place reads (see below).
            scratch.extend_from_slice(&[0; 16]);
            let n = self.without_flags(idx, flags, &scratch[..body_len])?.len();
            &scratch[..n]
        } else {
            if body_len != stored.len() {
                return Err(corrupt(
                    BLOCK_BODY_LEN,
                    "body length differs from block length",
                ));
            }
            self.without_flags(idx, flags, stored)?
        };
        let in_body = |d: DecodeError| corrupt(BLOCK_BODY + d.at, d.what);
        let count = e.count as usize;
        let (ts, used) = TsColumn::parse(body, count).map_err(in_body)?;
        let (mut ints, used2) = IntColumn::parse(&body[used..])
            .map_err(|d| corrupt(BLOCK_BODY + used + d.at, d.what))?;
        // The body and what follows it in the file (or the zero slack of the scratch).
        ints.read_past_end(match decoded {
            true => &scratch[used..],
            false => ints_ext(used),
        });
        if ints.len() != count {
            return Err(corrupt(
                BLOCK_BODY + used,
                "value count differs from reading count",
            ));
        }
        if used + used2 != body.len() {
            return Err(corrupt(
                BLOCK_BODY + used + used2,
                "trailing bytes after the value column",
            ));
        }
        let (first, last) = ts
            .bounds()
            .ok_or_else(|| corrupt(BLOCK_BODY, "block without timestamps"))?;
        if first != e.t_first || last != e.t_last {
            return Err(corrupt(
                BLOCK_BODY,
                "timestamps differ from the index entry",
            ));
        }
        // Checked: later reads of a plain block take its columns from their layout.
        if let (false, Some(ts_layout)) = (decoded, ts.layout(body)) {
            let layouts = self
                .layouts
                .get_or_init(|| self.blocks.iter().map(|_| OnceLock::new()).collect());
            // Another thread may have kept the same layout first.
            let _ = layouts[idx].set(BlockLayout {
                kind,
                ts: ts_layout,
                ts_len: used as u32,
                ints: ints.layout(&body[used..]),
            });
        }
        Ok(f(&BlockView { kind, ts, ints }))
    }

    /// Checks block `idx` (its bytes `block`) up to its body: the CRC (once per open
    /// segment), the count, the value kind and the flags. Returns the kind and the flags.
    fn check_block(&self, idx: usize, block: &[u8]) -> Result<(ValueKind, u8)> {
        let e = &self.blocks[idx];
        if !self.verified[idx].load(Ordering::Relaxed) {
            let crc_at = block.len() - 4;
            let stored = le_u32(block, crc_at);
            let got = crc32fast::hash(&block[..crc_at]);
            if stored != got {
                return Err(Error::ChecksumMismatch {
                    path: self.path.clone(),
                    offset: e.offset,
                    expected: stored,
                    got,
                });
            }
            self.verified[idx].store(true, Ordering::Relaxed);
        }
        let corrupt =
            |at: usize, what: &str| Error::corrupt(&self.path, e.offset + at as u64, what);
        if le_u32(block, 0) != e.count {
            return Err(corrupt(0, "block count differs from its index entry"));
        }
        let kind = ValueKind::from_bytes(block[BLOCK_VALUE_KIND], block[BLOCK_SCALE])
            .ok_or_else(|| corrupt(BLOCK_VALUE_KIND, "unknown value kind or scale"))?;
        let flags = block[BLOCK_FLAGS];
        let known = BLOCK_FLAG_ZSTD
            | if self.features.cold {
                BLOCK_FLAG_COLD
            } else {
                0
            }
            | if self.features.flags {
                BLOCK_FLAG_FLAGS
            } else {
                0
            };
        let both = BLOCK_FLAG_ZSTD | BLOCK_FLAG_COLD;
        if flags & !known != 0 || flags & both == both || block[BLOCK_FLAGS + 1] != 0 {
            return Err(corrupt(BLOCK_FLAGS, "unknown block flags"));
        }
        Ok((kind, flags))
    }

    /// The stored body of cold block `idx` (its checked bytes `block`), whose length the
    /// header must give.
    fn cold_body<'b>(&self, idx: usize, block: &'b [u8]) -> Result<&'b [u8]> {
        let stored = &block[BLOCK_BODY..block.len() - 4];
        if le_u32(block, BLOCK_BODY_LEN) as usize != stored.len() {
            return Err(Error::corrupt(
                &self.path,
                self.blocks[idx].offset + BLOCK_BODY_LEN as u64,
                "body length differs from block length",
            ));
        }
        Ok(stored)
    }

    /// The part of body `body` (stored or decompressed, starting at the block's body) of
    /// block `idx` before its flag column, checking the column; all of it when the block
    /// `flags` say it has no column.
    fn without_flags<'b>(&self, idx: usize, flags: u8, body: &'b [u8]) -> Result<&'b [u8]> {
        self.split_flags(idx, flags, body, None)
    }

    /// [`Segment::without_flags`], appending the block's flags to `out` (whose last `count`
    /// readings are the block's) when it is given.
    fn split_flags<'b>(
        &self,
        idx: usize,
        flags: u8,
        body: &'b [u8],
        out: Option<&mut Run>,
    ) -> Result<&'b [u8]> {
        let count = self.blocks[idx].count as usize;
        let dst = out.map(|out| {
            let len = out.ts.len() - count;
            (&mut out.flags, len)
        });
        if flags & BLOCK_FLAG_FLAGS == 0 {
            if let Some((dst, len)) = dst {
                flags::extend(dst, len, &[], count);
            }
            return Ok(body);
        }
        let at = |d: DecodeError, base: usize| {
            Error::corrupt(
                &self.path,
                self.blocks[idx].offset + (BLOCK_BODY + base + d.at) as u64,
                d.what,
            )
        };
        let (rest, runs) = flags::split_column(body).map_err(|d| at(d, 0))?;
        flags::decode_column(runs, count, dst).map_err(|d| at(d, rest.len()))?;
        Ok(rest)
    }

    /// Decodes cold block `idx` (its checked bytes `block`, flags `flags`), appending its
    /// timestamps to `ts` and its integers to `ints`, and checks them against the index
    /// entry.
    fn decode_cold(
        &self,
        idx: usize,
        block: &[u8],
        (kind, flags): (ValueKind, u8),
        ts: &mut Vec<i64>,
        ints: &mut Vec<i64>,
    ) -> Result<()> {
        let e = &self.blocks[idx];
        let corrupt =
            |at: usize, what: &str| Error::corrupt(&self.path, e.offset + at as u64, what);
        let stored = self.cold_body(idx, block)?;
        let stored = self.without_flags(idx, flags, stored)?;
        let from = ts.len();
        cold::decode(stored, e.count as usize, kind, ts, ints)
            .map_err(|d| corrupt(BLOCK_BODY + d.at, d.what))?;
        if ts.get(from) != Some(&e.t_first) || ts.last() != Some(&e.t_last) {
            return Err(corrupt(
                BLOCK_BODY,
                "timestamps differ from the index entry",
            ));
        }
        Ok(())
    }

    /// The count, bounds and hot body length of block `idx` when it is stored hot (its
    /// header's body length: the bit-packed body, before any zstd), for a writer that
    /// compares a cold body with it; `None` for a block with a flag column (its body
    /// length counts the column). Read from the header without a check: for a block read
    /// (and so checked) already.
    pub(crate) fn hot_size(&self, idx: usize) -> Option<HotSize> {
        let e = &self.blocks[idx];
        let start = e.offset as usize;
        let block = &self.map.bytes()[start..start + e.len as usize];
        let flagged = block[BLOCK_FLAGS] & BLOCK_FLAG_FLAGS != 0;
        (!self.is_cold_block(idx) && !flagged).then(|| HotSize {
            count: e.count,
            t_first: e.t_first,
            t_last: e.t_last,
            body_len: le_u32(block, BLOCK_BODY_LEN),
        })
    }

    /// Whether block `idx` is stored cold.
    pub(crate) fn is_cold_block(&self, idx: usize) -> bool {
        let e = &self.blocks[idx];
        self.features.cold
            && self.map.bytes()[e.offset as usize + BLOCK_FLAGS] & BLOCK_FLAG_COLD != 0
    }

    /// Checks cold block `idx` and decodes its integers into `ints` (cleared), without
    /// building a hot body: `f` gets the value kind, the timestamp column and the
    /// integers. `None`, with `f` not called, for a block whose timestamps are not stored
    /// as a hot column (irregular ones, which pco keeps): [`Segment::read_block`] reads it.
    pub(crate) fn with_cold_block<R>(
        &self,
        idx: usize,
        ints: &mut Vec<i64>,
        f: impl FnOnce(ValueKind, &TsColumn<'_>, &[i64]) -> R,
    ) -> Result<Option<R>> {
        let e = &self.blocks[idx];
        let start = e.offset as usize;
        let block = &self.map.bytes()[start..start + e.len as usize];
        let (kind, flags) = self.check_block(idx, block)?;
        let corrupt =
            |at: usize, what: &str| Error::corrupt(&self.path, e.offset + at as u64, what);
        let stored = self.cold_body(idx, block)?;
        let stored = self.without_flags(idx, flags, stored)?;
        let Some(ts) = cold::decode_with_hot_ts(stored, e.count as usize, kind, ints)
            .map_err(|d| corrupt(BLOCK_BODY + d.at, d.what))?
        else {
            return Ok(None);
        };
        if ts.bounds() != Some((e.t_first, e.t_last)) {
            return Err(corrupt(
                BLOCK_BODY,
                "timestamps differ from the index entry",
            ));
        }
        Ok(Some(f(kind, &ts, ints)))
    }

    /// Appends block `idx`'s readings to `ts` and `vals`, without their flags.
    pub(crate) fn read_block(
        &self,
        idx: usize,
        scratch: &mut Vec<u8>,
        ints: &mut Vec<i64>,
        ts: &mut Vec<i64>,
        vals: &mut Vec<f64>,
    ) -> Result<()> {
        let e = &self.blocks[idx];
        let start = e.offset as usize;
        let block = &self.map.bytes()[start..start + e.len as usize];
        if self.features.cold && block[BLOCK_FLAGS] & BLOCK_FLAG_COLD != 0 {
            // Cold readings go straight to the caller, without the hot body.
            let (kind, flags) = self.check_block(idx, block)?;
            ints.clear();
            self.decode_cold(idx, block, (kind, flags), ts, ints)?;
            values::from_ints(kind, ints, vals);
            return Ok(());
        }
        self.with_block(idx, scratch, |v| {
            ints.clear();
            v.ints.decode_into(ints);
            v.ts.decode_into(ts);
            values::from_ints(v.kind, ints, vals);
        })
    }

    /// Appends block `idx`'s readings to `out`, with their flags (kept sparse).
    pub(crate) fn read_block_flags(
        &self,
        idx: usize,
        scratch: &mut Vec<u8>,
        ints: &mut Vec<i64>,
        out: &mut Run,
    ) -> Result<()> {
        self.read_block(idx, scratch, ints, &mut out.ts, &mut out.vals)?;
        let e = &self.blocks[idx];
        let start = e.offset as usize;
        let block = &self.map.bytes()[start..start + e.len as usize];
        // `read_block` checked the block: its flags byte is known, and a zstd body is in
        // `scratch`, decompressed to its header's length.
        let flags = block[BLOCK_FLAGS];
        let body = match flags & BLOCK_FLAG_ZSTD != 0 {
            true => &scratch[..le_u32(block, BLOCK_BODY_LEN) as usize],
            false => &block[BLOCK_BODY..block.len() - 4],
        };
        self.split_flags(idx, flags, body, Some(out)).map(|_| ())
    }
}

/// Opens the segment at `path` and checks every block down to its last reading; returns
/// the number of readings. An offline integrity check: the store itself checks each block
/// the first time it reads it.
pub fn verify_segment(path: &Path) -> Result<u64> {
    let seg = Segment::open(path)?;
    let (mut scratch, mut ints, mut run) = (Vec::new(), Vec::new(), Run::default());
    let mut readings = 0u64;
    for b in 0..seg.blocks().len() {
        run.ts.clear();
        run.vals.clear();
        run.flags.clear();
        seg.read_block_flags(b, &mut scratch, &mut ints, &mut run)?;
        readings += run.ts.len() as u64;
    }
    Ok(readings)
}

thread_local! {
    /// Timestamps and integers of the cold block being rebuilt as a hot body.
    static COLD_SCRATCH: std::cell::RefCell<(Vec<i64>, Vec<i64>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Decompresses a block body with this thread's reused zstd context (creating a context
/// per block cost about a tenth of compaction time).
fn decompress(stored: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DCTX.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new()?);
        }
        match d.as_mut() {
            Some(dctx) => dctx.decompress(stored, capacity),
            None => zstd::bulk::decompress(stored, capacity),
        }
    })
}

fn check_crc(path: &Path, b: &[u8], from: usize, crc_at: usize) -> Result<()> {
    let stored = le_u32(b, crc_at);
    let got = crc32fast::hash(&b[from..crc_at]);
    if stored != got {
        return Err(Error::ChecksumMismatch {
            path: path.to_owned(),
            offset: from as u64,
            expected: stored,
            got,
        });
    }
    Ok(())
}

/// Asks the CPU to bring the cache lines of `items` closer (a hint, no effect on results).
fn prefetch_range<T>(items: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let (start, len) = (items.as_ptr() as *const u8, std::mem::size_of_val(items));
        for off in (0..len).step_by(64) {
            // SAFETY: a prefetch reads nothing that the program sees and cannot fault;
            // the address is inside `items`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(off) as *const i8) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = items;
}
