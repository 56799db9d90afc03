//! The reading files' Parquet writer: the three columns of sorted meter runs encoded page
//! by page straight from the histories, so that a reading costs a copy, a delta, a
//! dictionary probe and its share of ZSTD, and a meter id is handled once per run and
//! page instead of once per row (hashed, compared for the statistics and copied, as a
//! general writer does with a string column).
//!
//! Per row group (at most [`GROUP_ROWS`] rows, in pages of at most [`PAGE_ROWS`]):
//! - `meter_id`: a dictionary page of the group's ids (PLAIN, in order, so sorted), data
//!   pages of RLE runs of their keys (RLE_DICTIONARY): a meter's rows in a page are one
//!   run. Statistics are the first and last id, since rows are sorted by id.
//! - `ts`: DELTA_BINARY_PACKED milliseconds (blocks of 128, four miniblocks of 32): a
//!   regular series costs a few bits a reading.
//! - `value`: a dictionary of the group's distinct values, bit for bit (data pages of
//!   bit-packed keys), while it stays within [`DICT_VALUES`] entries (1 MiB, Parquet's
//!   usual dictionary page limit); from the page that would exceed it on, PLAIN.
//!
//! Every page and dictionary page is ZSTD level 1 (pyarrow's default level); chunk
//! statistics and the page index (column and offset index) are exact and untruncated.

use crate::codec::put_varint;
use crate::error::{Error, Result};
use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Compression, Encoding, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, OffsetIndexBuilder, SortingColumn,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, SchemaDescriptor};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per data page: large enough that ZSTD finds the repeats across meters and the
/// per-page costs vanish, small enough that a page index narrows a read.
pub(super) const PAGE_ROWS: usize = 1 << 15;

/// Rows per row group: Parquet's customary 1 Mi, a multiple of [`PAGE_ROWS`], so that
/// engines split files into row groups of a few MB compressed.
pub(super) const GROUP_ROWS: usize = 1 << 20;

/// Most entries of a row group's value dictionary: 1 MiB of doubles.
pub(super) const DICT_VALUES: usize = 1 << 17;

/// ZSTD level of every page: 1, pyarrow's and parquet-rs's default.
const ZSTD_LEVEL: i32 = 1;

fn perr(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Bits needed for `max` (0 for 0).
fn bits_for(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Parquet's bit-packing: `vals` of `width` bits each (`1..=64`, high bits beyond `width`
/// zero), least significant bit first, appended in whole bytes (the last zero-padded).
fn bitpack(out: &mut Vec<u8>, vals: impl IntoIterator<Item = u64>, width: u32) {
    if width > 32 {
        return bitpack_wide(out, vals, width);
    }
    // Up to 32 bits wait in the accumulator, so a value of up to 32 bits always fits.
    let mut acc: u64 = 0;
    let mut n = 0;
    for v in vals {
        acc |= v << n;
        n += width;
        if n >= 32 {
            out.extend_from_slice(&(acc as u32).to_le_bytes());
            acc >>= 32;
            n -= 32;
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..n.div_ceil(8) as usize]);
}

/// [`bitpack`] for widths above 32.
fn bitpack_wide(out: &mut Vec<u8>, vals: impl IntoIterator<Item = u64>, width: u32) {
    let mut acc: u128 = 0;
    let mut n = 0;
    for v in vals {
        acc |= u128::from(v) << n;
        n += width;
        if n >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            n -= 64;
        }
    }
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..n.div_ceil(8) as usize]);
}

/// DELTA_BINARY_PACKED of `vals` (not empty): blocks of 128 deltas in four miniblocks of
/// 32, each miniblock packed at the width of its largest delta above the block's least.
/// A block of equal deltas (a regular series) costs its least delta and four zero widths.
fn delta_binary_packed(out: &mut Vec<u8>, vals: &[i64]) {
    const BLOCK: usize = 128;
    const MINI: usize = 32;
    put_varint(out, BLOCK as u64);
    put_varint(out, (BLOCK / MINI) as u64);
    put_varint(out, vals.len() as u64);
    let Some(&first) = vals.first() else {
        put_varint(out, 0);
        return;
    };
    put_varint(out, zigzag(first));
    let mut deltas = [0i64; BLOCK];
    // Block `b` holds the deltas of vals[b * 128 + 1..=(b + 1) * 128] to their predecessors.
    for start in (1..vals.len()).step_by(BLOCK) {
        let end = (start + BLOCK).min(vals.len());
        let deltas = &mut deltas[..end - start];
        let block = &vals[start - 1..end];
        let first = block[1].wrapping_sub(block[0]);
        // Whether every delta equals the first: bits that differ, or-ed (vectorised).
        let differ = block
            .windows(2)
            .fold(0, |acc, w| acc | (w[1].wrapping_sub(w[0]) ^ first));
        if differ == 0 {
            put_varint(out, zigzag(first));
            out.extend_from_slice(&[0; BLOCK / MINI]);
            continue;
        }
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for (d, w) in deltas.iter_mut().zip(block.windows(2)) {
            *d = w[1].wrapping_sub(w[0]);
            min = min.min(*d);
            max = max.max(*d);
        }
        debug_assert!(min < max);
        put_varint(out, zigzag(min));
        let widths_at = out.len();
        out.extend_from_slice(&[0; BLOCK / MINI]);
        for (m, mini) in deltas.chunks(MINI).enumerate() {
            let above = |d: &i64| d.wrapping_sub(min) as u64;
            let width = bits_for(mini.iter().map(above).fold(0, |a, d| a | d));
            out[widths_at + m] = width as u8;
            if width > 0 {
                let padding = std::iter::repeat_n(0, MINI - mini.len());
                bitpack(out, mini.iter().map(above).chain(padding), width);
            }
        }
    }
}

/// A run of `keys` (the RLE/bit-packing hybrid's bit-packed run), preceded by the bit
/// width byte of a dictionary-indexed data page.
fn dict_keys_page(out: &mut Vec<u8>, keys: &[u32], width: u32) {
    out.push(width as u8);
    put_varint(out, ((keys.len().div_ceil(8) as u64) << 1) | 1);
    let padding = std::iter::repeat_n(0, keys.len().next_multiple_of(8) - keys.len());
    bitpack(
        out,
        keys.iter().map(|&k| u64::from(k)).chain(padding),
        width,
    );
}

/// The least and greatest of `vals` as Parquet orders doubles for statistics: NaN left
/// out, a zero least written as -0.0 and a zero greatest as +0.0; `None` when all are
/// NaN.
fn f64_min_max(vals: &[f64]) -> Option<(f64, f64)> {
    // Four lanes, each kept as `if v < lo { v } else { lo }`: NaN compares false and is
    // skipped, and the lanes compile to packed minimum and maximum instructions.
    let (mut lo, mut hi) = ([f64::INFINITY; 4], [f64::NEG_INFINITY; 4]);
    let quads = vals.chunks_exact(4);
    let tail = quads.remainder();
    for q in quads {
        for i in 0..4 {
            lo[i] = if q[i] < lo[i] { q[i] } else { lo[i] };
            hi[i] = if q[i] > hi[i] { q[i] } else { hi[i] };
        }
    }
    for &v in tail {
        lo[0] = if v < lo[0] { v } else { lo[0] };
        hi[0] = if v > hi[0] { v } else { hi[0] };
    }
    let lo = lo.into_iter().fold(f64::INFINITY, f64::min);
    let hi = hi.into_iter().fold(f64::NEG_INFINITY, f64::max);
    if lo > hi {
        return None;
    }
    let lo = if lo == 0.0 { -0.0 } else { lo };
    let hi = if hi == 0.0 { 0.0 } else { hi };
    Some((lo, hi))
}

/// The distinct values of a row group's `value` column by bit pattern, with their keys
/// (open addressing, at most half full).
struct ValueDict {
    /// Key + 1 of the value in each slot; 0 for an empty slot.
    slots: Vec<u32>,
    /// The values' bits in key order.
    values: Vec<u64>,
}

impl ValueDict {
    const FIRST_SLOTS: usize = 1 << 12;

    fn new() -> ValueDict {
        ValueDict {
            slots: vec![0; Self::FIRST_SLOTS],
            values: Vec::new(),
        }
    }

    fn slot(bits: u64, mask: usize) -> usize {
        (bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & mask
    }

    /// The key of `bits`, added if new; `None` when adding it would exceed
    /// [`DICT_VALUES`] entries.
    fn key(&mut self, bits: u64) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut h = Self::slot(bits, mask);
        loop {
            match self.slots[h] {
                0 => break,
                s if self.values[s as usize - 1] == bits => return Some(s - 1),
                _ => h = (h + 1) & mask,
            }
        }
        if self.values.len() >= DICT_VALUES {
            return None;
        }
        self.values.push(bits);
        let key = self.values.len() as u32 - 1;
        self.slots[h] = key + 1;
        if 2 * self.values.len() > self.slots.len() {
            self.grow();
        }
        Some(key)
    }

    fn grow(&mut self) {
        let mask = 2 * self.slots.len() - 1;
        let mut slots = vec![0; mask + 1];
        for (k, &bits) in self.values.iter().enumerate() {
            let mut h = Self::slot(bits, mask);
            while slots[h] != 0 {
                h = (h + 1) & mask;
            }
            slots[h] = k as u32 + 1;
        }
        self.slots = slots;
    }

    /// Keeps the first `len` entries. The slots of later ones stay: the dictionary takes
    /// no further keys until [`clear`](Self::clear).
    fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
    }

    fn clear(&mut self) {
        self.slots.fill(0);
        self.values.clear();
    }
}

/// A column chunk being built: its data pages, compressed, with their places and
/// statistics.
struct Chunk {
    pages: TrackedWrite<Vec<u8>>,
    /// Offset in `pages`, size with header, rows, of each page.
    locations: Vec<(u64, i32, u64)>,
    /// Each page's least and greatest value, plain-encoded.
    bounds: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether every page has bounds (a page of NaN values only has none).
    bounded: bool,
    uncompressed: u64,
    rows: u64,
    encodings: Vec<Encoding>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            pages: TrackedWrite::new(Vec::new()),
            locations: Vec::new(),
            bounds: Vec::new(),
            bounded: true,
            uncompressed: 0,
            rows: 0,
            encodings: vec![Encoding::RLE],
        }
    }

    fn add_encoding(&mut self, e: Encoding) {
        if !self.encodings.contains(&e) {
            self.encodings.push(e);
        }
    }
}

/// Writes `page` (its body `raw`, compressed here) to `sink`.
fn put_page(
    sink: &mut TrackedWrite<Vec<u8>>,
    zstd: &mut zstd::bulk::Compressor<'static>,
    raw: &[u8],
    make: impl FnOnce(Bytes) -> Page,
) -> parquet::errors::Result<parquet::column::page::PageWriteSpec> {
    let body = zstd.compress(raw)?;
    let page = CompressedPage::new(make(Bytes::from(body)), raw.len());
    SerializedPageWriter::new(sink).write_page(page)
}

/// The rows of the page being filled.
#[derive(Default)]
struct PageRows {
    /// (key of the meter in the row group's dictionary, rows) in row order.
    runs: Vec<(u32, u32)>,
    /// Milliseconds.
    ts: Vec<i64>,
    vals: Vec<f64>,
}

/// One reading file being written.
pub(super) struct ReadingsFile {
    path: PathBuf,
    writer: SerializedFileWriter<File>,
    columns: [ColumnDescPtr; 3],
    zstd: zstd::bulk::Compressor<'static>,
    page: PageRows,
    /// The row group's meter ids in order: key `k` is `ids[k]`.
    ids: Vec<String>,
    values: ValueDict,
    /// Whether the row group's value column went PLAIN.
    plain_values: bool,
    chunks: [Chunk; 3],
    group_rows: usize,
    /// Scratch: an encoded page, the value keys of a page.
    raw: Vec<u8>,
    keys: Vec<u32>,
}

impl ReadingsFile {
    /// Creates `path` for readings of the Parquet schema `schema` (`meter_id` UTF-8, `ts`
    /// timestamp in milliseconds, `value` double, all required) with the key-value
    /// metadata of `props`.
    pub(super) fn create(
        path: &Path,
        schema: &SchemaDescriptor,
        props: WriterProperties,
    ) -> Result<ReadingsFile> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let root = schema.root_schema_ptr();
        let writer =
            SerializedFileWriter::new(file, root, Arc::new(props)).map_err(|e| perr(path, e))?;
        let col = |i| writer.schema_descr().column(i);
        let columns = [col(0), col(1), col(2)];
        let zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(|e| Error::io(path, e))?;
        Ok(ReadingsFile {
            path: path.to_path_buf(),
            writer,
            columns,
            zstd,
            page: PageRows::default(),
            ids: Vec::new(),
            values: ValueDict::new(),
            plain_values: false,
            chunks: [Chunk::new(), Chunk::new(), Chunk::new()],
            group_rows: 0,
            raw: Vec::new(),
            keys: Vec::new(),
        })
    }

    /// The writer settings the file's footer records: ZSTD, page statistics untruncated,
    /// the sort order `(meter_id, ts)`.
    pub(super) fn props() -> parquet::file::properties::WriterPropertiesBuilder {
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
            ))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_statistics_truncate_length(None)
            .set_column_index_truncate_length(None)
            .set_max_row_group_row_count(Some(GROUP_ROWS))
            .set_sorting_columns(Some(
                (0..2)
                    .map(|column_idx| SortingColumn {
                        column_idx,
                        descending: false,
                        nulls_first: false,
                    })
                    .collect(),
            ))
    }

    /// Adds rows `(meter, ts[i] * 1000, vals[i])`: `meter` at or after every meter added
    /// before, `ts` ascending (a history's order) and after the meter's rows added
    /// before; an error if a timestamp in milliseconds is beyond 64 bits.
    pub(super) fn push(&mut self, meter: &str, ts: &[i64], vals: &[f64]) -> Result<()> {
        let (Some(&first), Some(&last)) = (ts.first(), ts.last()) else {
            return Ok(());
        };
        for t in [first, last] {
            if t.checked_mul(1000).is_none() {
                return Err(perr(
                    &self.path,
                    format!("timestamp {t} s is beyond Parquet's millisecond range"),
                ));
            }
        }
        let (mut ts, mut vals) = (ts, &vals[..ts.len().min(vals.len())]);
        while !vals.is_empty() {
            // A meter's rows may go on in the next row group, with its own dictionary.
            if self.ids.last().is_none_or(|id| id != meter) {
                self.ids.push(meter.to_owned());
            }
            let key = self.ids.len() as u32 - 1;
            let n = vals.len().min(PAGE_ROWS - self.page.ts.len());
            self.page.runs.push((key, n as u32));
            self.page
                .ts
                .extend(ts[..n].iter().map(|t| t.wrapping_mul(1000)));
            self.page.vals.extend_from_slice(&vals[..n]);
            (ts, vals) = (&ts[n..], &vals[n..]);
            if self.page.ts.len() == PAGE_ROWS {
                self.flush_page()?;
                if self.group_rows == GROUP_ROWS {
                    self.flush_group()?;
                }
            }
        }
        Ok(())
    }

    fn flush_page(&mut self) -> Result<()> {
        let rows = self.page.ts.len();
        if rows == 0 {
            return Ok(());
        }
        let r = self.flush_page_inner(rows);
        self.page.runs.clear();
        self.page.ts.clear();
        self.page.vals.clear();
        self.group_rows += rows;
        r.map_err(|e| perr(&self.path, e))
    }

    fn flush_page_inner(&mut self, rows: usize) -> parquet::errors::Result<()> {
        let n = rows as u32;
        let data = |encoding: Encoding| {
            move |buf: Bytes| Page::DataPage {
                buf,
                num_values: n,
                encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            }
        };
        let page = &self.page;
        // meter_id: one RLE run per meter.
        let raw = &mut self.raw;
        raw.clear();
        let last_key = page.runs.last().map_or(0, |r| r.0);
        let width = bits_for(u64::from(last_key)).max(1);
        raw.push(width as u8);
        for &(key, len) in &page.runs {
            put_varint(raw, u64::from(len) << 1);
            raw.extend_from_slice(&key.to_le_bytes()[..width.div_ceil(8) as usize]);
        }
        let first = page.runs.first().map_or(0, |r| r.0) as usize;
        let bounds = (
            self.ids[first].as_bytes().to_vec(),
            self.ids[last_key as usize].as_bytes().to_vec(),
        );
        let enc = Encoding::RLE_DICTIONARY;
        let spec = put_page(&mut self.chunks[0].pages, &mut self.zstd, raw, data(enc))?;
        record(&mut self.chunks[0], spec, rows, Some(bounds), enc);

        // ts: deltas; each run ascends, so its bounds are its first and last.
        raw.clear();
        delta_binary_packed(raw, &page.ts);
        let (mut lo, mut hi, mut at) = (i64::MAX, i64::MIN, 0);
        for &(_, len) in &page.runs {
            lo = lo.min(page.ts[at]);
            at += len as usize;
            hi = hi.max(page.ts[at - 1]);
        }
        let bounds = (lo.to_le_bytes().to_vec(), hi.to_le_bytes().to_vec());
        let enc = Encoding::DELTA_BINARY_PACKED;
        let spec = put_page(&mut self.chunks[1].pages, &mut self.zstd, raw, data(enc))?;
        record(&mut self.chunks[1], spec, rows, Some(bounds), enc);

        // value: dictionary keys while the dictionary holds, else plain.
        raw.clear();
        let mut enc = Encoding::PLAIN;
        if !self.plain_values {
            let before = self.values.values.len();
            self.keys.clear();
            for &v in &page.vals {
                match self.values.key(v.to_bits()) {
                    Some(k) => self.keys.push(k),
                    None => break,
                }
            }
            if self.keys.len() == rows {
                let width = bits_for(self.values.values.len() as u64 - 1).max(1);
                dict_keys_page(raw, &self.keys, width);
                enc = Encoding::RLE_DICTIONARY;
            } else {
                self.values.truncate(before);
                self.plain_values = true;
            }
        }
        if enc == Encoding::PLAIN {
            for v in &page.vals {
                raw.extend_from_slice(&v.to_le_bytes());
            }
        }
        let bounds = f64_min_max(&page.vals)
            .map(|(lo, hi)| (lo.to_le_bytes().to_vec(), hi.to_le_bytes().to_vec()));
        let spec = put_page(&mut self.chunks[2].pages, &mut self.zstd, raw, data(enc))?;
        record(&mut self.chunks[2], spec, rows, bounds, enc);
        Ok(())
    }

    /// Writes the buffered pages as a row group.
    fn flush_group(&mut self) -> Result<()> {
        self.flush_page()?;
        if self.group_rows == 0 {
            return Ok(());
        }
        let r = self.flush_group_inner();
        self.ids.clear();
        self.values.clear();
        self.plain_values = false;
        self.chunks = [Chunk::new(), Chunk::new(), Chunk::new()];
        self.group_rows = 0;
        r.map_err(|e| perr(&self.path, e))
    }

    fn flush_group_inner(&mut self) -> parquet::errors::Result<()> {
        let chunks =
            std::mem::replace(&mut self.chunks, [Chunk::new(), Chunk::new(), Chunk::new()]);
        let [ids_chunk, ts_chunk, val_chunk] = chunks;
        // meter_id: the ids, sorted, PLAIN.
        self.raw.clear();
        for id in &self.ids {
            self.raw.extend_from_slice(&(id.len() as u32).to_le_bytes());
            self.raw.extend_from_slice(id.as_bytes());
        }
        let dict = (self.raw.clone(), self.ids.len(), true);
        let id = |s: &String| ByteArray::from(s.as_bytes().to_vec());
        let stats = ValueStatistics::new(
            self.ids.first().map(id),
            self.ids.last().map(id),
            Some(self.ids.len() as u64),
            Some(0),
            false,
        );
        let ids = self.close(
            0,
            ids_chunk,
            Some(dict),
            stats.into(),
            BoundaryOrder::ASCENDING,
        )?;

        let (lo, hi) = chunk_bounds(&ts_chunk, i64::from_le_bytes, i64::min, i64::max);
        let stats = ValueStatistics::new(lo, hi, None, Some(0), false);
        let stats = stats.with_backwards_compatible_min_max(true);
        let ts = self.close(1, ts_chunk, None, stats.into(), BoundaryOrder::UNORDERED)?;

        let dict = (!self.values.values.is_empty()).then(|| {
            let mut raw = Vec::with_capacity(8 * self.values.values.len());
            for b in &self.values.values {
                raw.extend_from_slice(&b.to_le_bytes());
            }
            (raw, self.values.values.len(), false)
        });
        let (lo, hi) = chunk_bounds(&val_chunk, f64::from_le_bytes, f64::min, f64::max);
        let stats = ValueStatistics::new(lo, hi, None, Some(0), false);
        let stats = stats.with_backwards_compatible_min_max(true);
        let vals = self.close(2, val_chunk, dict, stats.into(), BoundaryOrder::UNORDERED)?;

        let mut rg = self.writer.next_row_group()?;
        for (bytes, close) in [ids, ts, vals] {
            rg.append_column(&bytes, close)?;
        }
        rg.close()?;
        Ok(())
    }

    /// The column chunk `col` from its data pages and dictionary page (values, count,
    /// sorted), its bytes and what the row group writer takes.
    fn close(
        &mut self,
        col: usize,
        chunk: Chunk,
        dict: Option<(Vec<u8>, usize, bool)>,
        stats: Statistics,
        order: BoundaryOrder,
    ) -> parquet::errors::Result<(Bytes, ColumnCloseResult)> {
        let mut out = TrackedWrite::new(Vec::new());
        let mut uncompressed = chunk.uncompressed;
        let mut encodings = chunk.encodings;
        if let Some((raw, n, is_sorted)) = &dict {
            let spec = put_page(&mut out, &mut self.zstd, raw, |buf| Page::DictionaryPage {
                buf,
                num_values: *n as u32,
                encoding: Encoding::PLAIN,
                is_sorted: *is_sorted,
            })?;
            uncompressed += spec.uncompressed_size as u64;
            if !encodings.contains(&Encoding::PLAIN) {
                encodings.push(Encoding::PLAIN);
            }
        }
        let shift = out.bytes_written() as u64;
        out.write_all(&chunk.pages.into_inner()?)?;
        let bytes = Bytes::from(out.into_inner()?);
        let metadata = ColumnChunkMetaData::builder(self.columns[col].clone())
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
            ))
            .set_encodings(encodings)
            .set_total_compressed_size(bytes.len() as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_num_values(chunk.rows as i64)
            .set_data_page_offset(shift as i64)
            .set_dictionary_page_offset(dict.as_ref().map(|_| 0))
            .set_statistics(stats)
            .build()?;
        let mut offsets = OffsetIndexBuilder::new();
        for &(offset, size, rows) in &chunk.locations {
            offsets.append_offset_and_size((offset + shift) as i64, size);
            offsets.append_row_count(rows as i64);
        }
        let column_index = match chunk.bounded {
            true => {
                let mut b = ColumnIndexBuilder::new(self.columns[col].physical_type());
                for (lo, hi) in chunk.bounds {
                    b.append(false, lo, hi, 0);
                }
                b.set_boundary_order(order);
                Some(b.build()?)
            }
            false => None,
        };
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: chunk.rows,
            metadata,
            bloom_filter: None,
            column_index,
            offset_index: Some(offsets.build()),
        };
        Ok((bytes, close))
    }

    /// Writes what is buffered and the footer; returns the file.
    pub(super) fn finish(mut self) -> Result<File> {
        self.flush_group()?;
        self.writer.into_inner().map_err(|e| perr(&self.path, e))
    }
}

/// Books a written data page in its chunk.
fn record(
    chunk: &mut Chunk,
    spec: parquet::column::page::PageWriteSpec,
    rows: usize,
    bounds: Option<(Vec<u8>, Vec<u8>)>,
    encoding: Encoding,
) {
    chunk
        .locations
        .push((spec.offset, spec.compressed_size as i32, rows as u64));
    chunk.uncompressed += spec.uncompressed_size as u64;
    chunk.rows += rows as u64;
    chunk.add_encoding(encoding);
    match bounds {
        Some(b) => chunk.bounds.push(b),
        None => chunk.bounded = false,
    }
}

/// The least and greatest over a chunk's page bounds (8-byte plain values).
fn chunk_bounds<T: Copy>(
    chunk: &Chunk,
    decode: impl Fn([u8; 8]) -> T,
    min: impl Fn(T, T) -> T,
    max: impl Fn(T, T) -> T,
) -> (Option<T>, Option<T>) {
    let decode = |b: &[u8]| decode(b.try_into().unwrap_or_default());
    let both = chunk.bounds.iter().fold(None, |acc, (lo, hi)| {
        let (lo, hi) = (decode(lo), decode(hi));
        Some(match acc {
            None => (lo, hi),
            Some((a, b)) => (min(a, lo), max(b, hi)),
        })
    });
    (both.map(|b| b.0), both.map(|b| b.1))
}

#[cfg(test)]
mod tests;
