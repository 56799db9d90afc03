//! The Parquet export: a snapshot's readings as Hive-partitioned Parquet files.

use super::batches::{meters_batch, readings_schema};
use super::pages::ReadingsFile;
use super::shard_of;
use crate::error::{Error, Result};
use crate::monitor::Catalog;
use crate::store::Snapshot;
use crate::types::{civil_from_days, month_start, next_month_start, UtcOffset};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Name of the meter catalog file at the top of an export.
pub const METERS_FILE: &str = "meters.parquet";

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Readings with `range.start <= ts < range.end` (UTC seconds). Default: all.
    pub range: Range<i64>,
    /// Number of shards meters are split into by [`shard_of`](super::shard_of); at least
    /// 1. Default 1.
    pub shards: u32,
    /// Worker threads, each writing whole shards; 0 = one per available core (at most
    /// one per shard). Default 0.
    pub threads: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            range: i64::MIN..i64::MAX,
            shards: 1,
            threads: 0,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Readings written.
    pub readings: u64,
    /// Meters with at least one reading written.
    pub meters: usize,
    /// Reading files written (the catalog not counted), relative to the output directory,
    /// sorted.
    pub files: Vec<PathBuf>,
    /// Bytes of the reading files.
    pub bytes: u64,
    /// Bytes of the catalog file.
    pub meters_bytes: u64,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// The schema of a reading file: [`readings_schema`] with `ts` in milliseconds, since
/// Parquet's timestamp type has no seconds (a `Timestamp(Second)` column would be written
/// as a bare 64-bit integer, which DuckDB and Spark read as a number, not a time), and
/// without `flag`: the files keep the columns `meter_id`, `ts` and `value`.
fn file_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let r = readings_schema();
            let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
            Arc::new(Schema::new(vec![
                r.field(0).clone(),
                Field::new("ts", ts, false),
                r.field(2).clone(),
            ]))
        })
        .clone()
}

/// `month=YYYY-MM/shard=NN`, the shard zero-padded to at least two digits (as many as
/// the largest shard number needs).
fn partition_dir(month_start: i64, shard: u32, shards: u32) -> PathBuf {
    let (y, m, _) = civil_from_days(month_start.div_euclid(86_400));
    let width = (shards.saturating_sub(1).checked_ilog10().unwrap_or(0) as usize + 1).max(2);
    PathBuf::from(format!("month={y:04}-{m:02}")).join(format!("shard={shard:0width$}"))
}

/// One reading file being written, under its temporary name.
struct Part {
    rel: PathBuf,
    tmp: PathBuf,
    file: ReadingsFile,
}

impl Part {
    fn create(out: &Path, rel: PathBuf) -> Result<Part> {
        let path = out.join(&rel);
        let dir = path.parent().unwrap_or(out);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = path.with_extension("parquet.tmp");
        let schema = ArrowSchemaConverter::new()
            .convert(&file_schema())
            .map_err(|e| io_err(&tmp, e))?;
        let mut props = ReadingsFile::props().build();
        add_encoded_arrow_schema_to_metadata(&file_schema(), &mut props);
        let file = ReadingsFile::create(&tmp, &schema, props)?;
        Ok(Part { rel, tmp, file })
    }

    /// Writes what is buffered, closes the file and renames it to its final name;
    /// returns its size.
    fn finish(self, out: &Path) -> Result<(PathBuf, u64)> {
        let file = self.file.finish()?;
        file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        let len = file.metadata().map_err(|e| Error::io(&self.tmp, e))?.len();
        let path = out.join(&self.rel);
        std::fs::rename(&self.tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok((self.rel, len))
    }
}

/// Writes `snap`'s readings in `opts.range` under `out` as
/// `month=YYYY-MM/shard=NN/part-00000.parquet` (the calendar month of the reading's
/// timestamp in UTC; the shard by [`shard_of`](super::shard_of)), one file per month and
/// shard that holds readings, each sorted by `(meter_id, ts)` with the columns of
/// [`readings_schema`] (`ts` as a Parquet timestamp in milliseconds, adjusted to UTC:
/// Parquet has no seconds), plus [`METERS_FILE`] ([`meters_batch`] with `catalog`).
///
/// `out` must not exist or be an empty directory. Files are written under a `.tmp` name
/// and renamed when complete. `progress` is called with the number of readings of each
/// meter-shard once written to its file's buffer.
pub fn export_parquet(
    snap: &Snapshot,
    catalog: &Catalog,
    out: &Path,
    opts: &ExportOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExportReport> {
    let shards = opts.shards.max(1);
    if opts.range.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "empty export range {:?}",
            opts.range
        )));
    }
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::InvalidArgument(format!(
                    "{} is not empty: the export writes into an empty or new directory",
                    out.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?
        }
        Err(e) => return Err(Error::io(out, e)),
    }
    let mut by_shard: Vec<Vec<&str>> = vec![Vec::new(); shards as usize];
    for id in snap.meter_ids() {
        by_shard[shard_of(id, shards) as usize].push(id);
    }
    for ids in &mut by_shard {
        ids.sort_unstable();
    }
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, shards as usize);
    let next = AtomicUsize::new(0);
    let report = Mutex::new(ExportReport::default());
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    let worker = || loop {
        let s = next.fetch_add(1, Ordering::Relaxed);
        let Some(ids) = by_shard.get(s) else { return };
        if first_err.lock().map_or(true, |e| e.is_some()) {
            return;
        }
        let done = export_shard(snap, out, ids, s as u32, shards, &opts.range, progress);
        match done {
            Ok(r) => {
                if let Ok(mut total) = report.lock() {
                    total.readings += r.readings;
                    total.meters += r.meters;
                    total.files.extend(r.files);
                    total.bytes += r.bytes;
                }
            }
            Err(e) => {
                if let Ok(mut slot) = first_err.lock() {
                    slot.get_or_insert(e);
                }
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(worker);
        }
        worker();
    });
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut report = report
        .into_inner()
        .map_err(|_| Error::InvalidArgument("an export worker panicked".into()))?;
    report.files.sort();
    report.meters_bytes =
        write_meters(&out.join(METERS_FILE), &meters_batch(snap, catalog, shards))?;
    Ok(report)
}

/// Writes one shard's meters, month by month, each month to its own file.
fn export_shard(
    snap: &Snapshot,
    out: &Path,
    ids: &[&str],
    shard: u32,
    shards: u32,
    range: &Range<i64>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExportReport> {
    let mut parts: BTreeMap<i64, Part> = BTreeMap::new();
    let mut report = ExportReport::default();
    for id in ids {
        let history = snap.history(id, range.clone())?;
        let (ts, vals) = history.as_slices();
        if ts.is_empty() {
            continue;
        }
        report.meters += 1;
        report.readings += ts.len() as u64;
        let mut i = 0;
        while i < ts.len() {
            let month = month_start(ts[i], UtcOffset::UTC);
            let end = next_month_start(ts[i], UtcOffset::UTC);
            let j = i + ts[i..].partition_point(|&t| t < end);
            let part = match parts.entry(month) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let rel = partition_dir(month, shard, shards).join("part-00000.parquet");
                    v.insert(Part::create(out, rel)?)
                }
            };
            part.file.push(id, &ts[i..j], &vals[i..j])?;
            i = j;
        }
        progress(ts.len() as u64);
    }
    for part in parts.into_values() {
        let (rel, len) = part.finish(out)?;
        report.files.push(rel);
        report.bytes += len;
    }
    Ok(report)
}

/// Writes the catalog batch to `path` (ZSTD, statistics); returns the file's size.
fn write_meters(path: &Path, batch: &RecordBatch) -> Result<u64> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w =
        ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| io_err(path, e))?;
    w.write(batch).map_err(|e| io_err(path, e))?;
    let file = w.into_inner().map_err(|e| io_err(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(file.metadata().map_err(|e| Error::io(path, e))?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dirs_are_utc_months_and_padded_shards() {
        // 2024-02-29T23:59:59Z is still February in UTC.
        let t = 1_709_251_199;
        let m = month_start(t, UtcOffset::UTC);
        assert_eq!(
            partition_dir(m, 3, 16),
            PathBuf::from("month=2024-02/shard=03")
        );
        assert_eq!(
            partition_dir(month_start(t + 1, UtcOffset::UTC), 7, 1000),
            PathBuf::from("month=2024-03/shard=007")
        );
        assert_eq!(
            partition_dir(0, 0, 1),
            PathBuf::from("month=1970-01/shard=00")
        );
    }
}
