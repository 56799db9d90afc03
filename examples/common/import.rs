//! The CSV import of `import_csv`: long-format readings (`meter_id`, a timestamp column,
//! one value column), optionally gzip-compressed, streamed in two passes (validate the
//! whole file, then import in batches) so that a file with bad lines imports nothing,
//! and an optional meter catalog (`meter_id,enterprise_id,role`, ...).

pub use super::infer::{infer, GridStats, Inferred, NewMeterDefaults, Source};
use super::time::{parse_timestamp, Tz};
use super::{byte_progress, open_input};
use meterstore::monitor::{Catalog, ImportReport as CatalogReport};
use meterstore::{MeterMeta, Options, Quantity, Reading, Store, UnknownMeters};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Readings per append. Q: why 100k? A: one log record of about 1.6 MB, so the per-append
/// costs (a log sync, a memtable insert) are spread over many readings, while the batch
/// and its `Reading` views stay a few MB whatever the file's size.
pub const BATCH_READINGS: usize = 100_000;
/// Bad lines listed with their reason; the rest are counted.
pub const MAX_LISTED_BAD_LINES: usize = 20;
/// Longest meter id the store accepts, in bytes; checked while validating so that the
/// import pass never meets a batch the store rejects.
const MAX_METER_ID_BYTES: usize = 256;
/// Names of the timestamp column, lowercase.
const TS_NAMES: [&str; 4] = ["ts", "timestamp", "time", "datetime"];

/// One rejected line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the (decompressed) file; the header is line 1.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// Rejected lines: the first [`MAX_LISTED_BAD_LINES`] with reasons, and the total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BadLines {
    /// How many lines were rejected.
    pub count: u64,
    /// The first ones.
    pub listed: Vec<BadLine>,
}

impl BadLines {
    /// Records a rejected line.
    pub fn push(&mut self, line: u64, reason: String) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED_BAD_LINES {
            self.listed.push(BadLine { line, reason });
        }
    }

    /// Whether no line was rejected.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl fmt::Display for BadLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.listed {
            writeln!(f, "  line {}: {}", b.line, b.reason)?;
        }
        let more = self.count - self.listed.len() as u64;
        if more > 0 {
            writeln!(f, "  ... and {more} more")?;
        }
        Ok(())
    }
}

/// Why an import stopped.
#[derive(Debug)]
pub enum ImportError {
    /// The file has bad lines and `skip_bad` is off: nothing was imported.
    BadLines {
        /// The file.
        file: PathBuf,
        /// Its bad lines.
        bad: BadLines,
    },
    /// The store directory is refused (not a directory, or neither a store nor empty):
    /// nothing was read or changed.
    Refused(String),
    /// Every reading was appended, and so committed (durable in the store), and closing
    /// the store afterwards (its flush to segments or the compaction after it) failed.
    AfterCommit {
        /// Readings committed.
        imported: u64,
        /// What failed.
        error: String,
    },
    /// Anything else (unreadable file, a header without the needed columns, the store);
    /// for a failure while appending, the message says how many readings were committed
    /// before it.
    Failed(String),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::BadLines { file, bad } => write!(
                f,
                "{}: {} bad lines, nothing imported (--skip-bad imports the good ones)\n{bad}",
                file.display(),
                bad.count
            ),
            ImportError::AfterCommit { imported, error } => write!(
                f,
                "all {imported} readings were imported and committed (durable in the store, \
                 where they stay); then closing the store (flush or compaction) failed: {error}"
            ),
            ImportError::Refused(m) | ImportError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ImportError {}

/// An [`ImportError::Failed`] with `e`'s message.
pub fn failed(e: impl fmt::Display) -> ImportError {
    ImportError::Failed(e.to_string())
}

/// The command-line arguments the import examples share.
#[derive(clap::Args, Debug)]
pub struct InputArgs {
    /// Store directory: an existing store, or a new or empty directory (created once the
    /// input is checked). A directory holding other files is refused (status 2).
    #[arg(long)]
    pub store: PathBuf,
    /// Input file, plain or gzip-compressed.
    #[arg(long)]
    pub input: PathBuf,
    /// Time zone of local date-times in the input: an offset like +08:00 or an IANA name
    /// like Asia/Shanghai.
    #[arg(long, default_value = "+08:00", value_parser = Tz::parse, allow_hyphen_values = true)]
    pub tz: Tz,
    /// Import the good lines of a file with bad ones (in one pass), and report the bad.
    #[arg(long)]
    pub skip_bad: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

impl InputArgs {
    /// The import these arguments ask for, with a meters file.
    pub fn config(self, meters: Option<PathBuf>) -> ImportConfig {
        ImportConfig {
            store: self.store,
            input: self.input,
            meters,
            tz: self.tz,
            skip_bad: self.skip_bad,
            progress: !self.quiet,
            defaults: NewMeterDefaults::default(),
        }
    }
}

/// A failed import as the tool's error, with its exit status (see
/// [`cli::IMPORT_EXIT_HELP`](super::cli::IMPORT_EXIT_HELP)): bad input or a refused
/// directory 2, committed readings and a later step failed 3, anything else 1.
pub fn failure(e: ImportError) -> Box<dyn std::error::Error> {
    use super::cli;
    let code = match e {
        ImportError::BadLines { .. } | ImportError::Refused(_) => cli::BAD_INPUT,
        ImportError::AfterCommit { .. } => cli::COMMITTED_THEN_FAILED,
        ImportError::Failed(_) => cli::FAILED,
    };
    cli::fail(code, e.to_string())
}

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// Store directory: a store, an empty directory or a new one.
    pub store: PathBuf,
    /// The readings file, plain or gzip.
    pub input: PathBuf,
    /// The meter catalog, if any.
    pub meters: Option<PathBuf>,
    /// Zone of local date-times in the readings file.
    pub tz: Tz,
    /// Import the good lines of a file with bad ones.
    pub skip_bad: bool,
    /// Show progress bars.
    pub progress: bool,
    /// What to register meters new to the store with, where not inferred.
    pub defaults: NewMeterDefaults,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Data rows in the readings file (header not counted).
    pub rows: u64,
    /// Readings appended to the store.
    pub imported: u64,
    /// Lines skipped (only with `skip_bad`).
    pub skipped: BadLines,
    /// Meters registered by this import (from the catalog or first seen in the readings).
    pub new_meters: usize,
    /// What the new meters were registered with, and where it came from.
    pub inferred: Vec<(String, Inferred)>,
    /// Meters listed in the catalog file.
    pub catalog_meters: usize,
    /// What importing the catalog file changed in the store's catalog.
    pub catalog: Option<CatalogReport>,
    /// Wall time of the whole import, seconds.
    pub seconds: f64,
    /// Of which the validating first pass (which also finds new meters' grids).
    pub validate_seconds: f64,
}

/// Runs an import: reads the catalog file into the store's monitoring catalog (checked
/// whole, nothing written on a bad line), reads the readings file once to check every line
/// and find the grid of every meter new to the store, registers the new meters with what
/// was found (see `infer`), saves the catalog, and appends the readings in batches. A
/// failure of the store in the import pass leaves the batches appended before it.
pub fn run(cfg: &ImportConfig) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let open = || {
        let opts = Options {
            unknown_meters: UnknownMeters::Register(MeterMeta::default()),
            ..Options::default()
        };
        Store::open(&cfg.store, opts).map_err(failed)
    };
    // A directory that is neither a store nor empty is someone else's: opening a store
    // there would clear files that look like a store's leftovers.
    let state = super::dirs::check_store_target(&cfg.store).map_err(ImportError::Refused)?;
    // An existing store is opened (and locked) first, since its meters' grids decide
    // which timestamps are valid; a new one is only created once the input is known good.
    let mut store = match state {
        super::dirs::DirState::Store(_) => Some(open()?),
        _ => None,
    };
    let mut listed = match &cfg.meters {
        Some(p) => Some(read_catalog(p, &cfg.store, store.as_ref())?),
        None => None,
    };
    let t = Instant::now();
    let existing = store.as_ref();
    let grid_of = |id: &str| -> Grid {
        let given = listed.as_ref().and_then(|l| l.given.get(id));
        match (
            given.and_then(|g| g.interval_s),
            existing.and_then(|s| s.meter_meta(id)),
        ) {
            (Some(iv), _) => Grid::Known(iv),
            (None, Some(m)) => Grid::Known(m.interval_s),
            (None, None) => cfg.defaults.interval_s.map_or(Grid::Infer, Grid::Known),
        }
    };
    let first = scan(cfg, "validating", &grid_of, None)?;
    let validate_seconds = t.elapsed().as_secs_f64();
    if !cfg.skip_bad && !first.pass.bad.is_empty() {
        return Err(ImportError::BadLines {
            file: cfg.input.clone(),
            bad: first.pass.bad,
        });
    }
    // Meters new to the store: those of the readings (in file order), then those only
    // in the catalog; the catalog's given fields win over anything inferred.
    let known = |id: &str| existing.is_some_and(|s| s.meter_meta(id).is_some());
    let mut inferred: Vec<(String, Inferred)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let catalog_ids = listed.as_ref().map_or(Vec::new(), |l| l.ids.clone());
    let readings_ids = first
        .meters
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id, Some(i)));
    for (id, i) in readings_ids.chain(catalog_ids.iter().map(|id| (id, None))) {
        if known(id) || !seen.insert(id.clone()) {
            continue;
        }
        let stats = i.and_then(|i| first.meters.stats.get(i));
        let mut inf = infer(id, &first.value_name, stats, &cfg.defaults);
        if let Some(g) = listed.as_ref().and_then(|l| l.given.get(id)) {
            g.apply(&mut inf);
        }
        inferred.push((id.clone(), inf));
    }
    let store = match store.take() {
        Some(s) => s,
        None => open()?,
    };
    let before = store.meter_ids().len();
    // New meters are registered in one durable write (`register_meters`), before the
    // readings, since their grids decide what the readings may hold.
    let list: Vec<(String, MeterMeta)> = inferred
        .iter()
        .map(|(id, i)| (id.clone(), i.meta.clone()))
        .collect();
    store.register_meters(&list).map_err(failed)?;
    let mut catalog_report = None;
    if let Some(l) = &mut listed {
        // The catalog describes its meters as the store holds them.
        for id in &l.ids {
            if let (Some(meta), Some(m)) = (store.meter_meta(id), l.catalog.meter(id)) {
                let mut m = m.clone();
                (m.kind, m.interval_s, m.unit) = (meta.kind, meta.interval_s, meta.unit);
                l.catalog.upsert_meter(m).map_err(failed)?;
            }
        }
        l.catalog.save(&store).map_err(failed)?;
        catalog_report = Some(l.report);
    }
    let grid_of = |id: &str| -> Grid {
        Grid::Known(
            store
                .meter_meta(id)
                .map_or(MeterMeta::default().interval_s, |m| m.interval_s),
        )
    };
    let pass = scan(cfg, "importing", &grid_of, Some(&store))?.pass;
    let new_meters = store.meter_ids().len() - before;
    store.close().map_err(|e| ImportError::AfterCommit {
        imported: pass.imported,
        error: e.to_string(),
    })?;
    Ok(ImportReport {
        rows: pass.rows,
        imported: pass.imported,
        skipped: pass.bad,
        new_meters,
        inferred,
        catalog_meters: catalog_ids.len(),
        catalog: catalog_report,
        seconds: started.elapsed().as_secs_f64(),
        validate_seconds,
    })
}

/// Positions of the three columns of a readings file.
#[derive(Debug, Clone)]
struct Columns {
    meter: usize,
    ts: usize,
    value: usize,
    ts_name: String,
}

/// Lowercase, trimmed header names (a UTF-8 byte-order mark in front removed).
fn header_names(h: &csv::ByteRecord) -> Vec<String> {
    h.iter()
        .enumerate()
        .map(|(i, f)| {
            let f = if i == 0 {
                f.strip_prefix("\u{feff}".as_bytes()).unwrap_or(f)
            } else {
                f
            };
            String::from_utf8_lossy(f).trim().to_lowercase()
        })
        .collect()
}

fn columns(h: &csv::ByteRecord) -> Result<Columns, String> {
    let names = header_names(h);
    let list = names.join(",");
    let meter = names
        .iter()
        .position(|n| n == "meter_id")
        .ok_or_else(|| format!("the header ({list}) has no meter_id column"))?;
    let ts_cols: Vec<usize> = (0..names.len())
        .filter(|&i| TS_NAMES.contains(&names[i].as_str()))
        .collect();
    let [ts] = ts_cols[..] else {
        return Err(format!(
            "the header ({list}) needs exactly one timestamp column named {}",
            TS_NAMES.join(", ")
        ));
    };
    let others: Vec<usize> = (0..names.len())
        .filter(|&i| i != meter && i != ts)
        .collect();
    let [value] = others[..] else {
        return Err(format!(
            "the header ({list}) needs exactly one value column besides meter_id and {}",
            names[ts]
        ));
    };
    Ok(Columns {
        meter,
        ts,
        value,
        ts_name: names[ts].clone(),
    })
}

/// Field `i`, spaces around it removed. (Trimming here rather than with the reader's
/// `Trim::All`, which builds a new record per row.)
fn field<'r>(rec: &'r csv::ByteRecord, i: usize, name: &str) -> Result<&'r str, String> {
    let f = rec.get(i).unwrap_or_default().trim_ascii();
    std::str::from_utf8(f).map_err(|_| format!("{name} is not valid UTF-8"))
}

/// One data row: meter id, timestamp, the timestamp's text and the value, each checked.
fn parse_row<'r>(
    rec: &'r csv::ByteRecord,
    cols: &Columns,
    width: usize,
    tz: &Tz,
) -> Result<(&'r str, i64, &'r str, f64), String> {
    if rec.len() != width {
        return Err(format!("expected {width} fields, found {}", rec.len()));
    }
    let id = field(rec, cols.meter, "meter_id")?;
    if id.is_empty() || id.len() > MAX_METER_ID_BYTES {
        return Err(format!("meter_id must be 1 to {MAX_METER_ID_BYTES} bytes"));
    }
    let ts_text = field(rec, cols.ts, &cols.ts_name)?;
    let ts = parse_timestamp(ts_text, tz)?;
    let v_text = field(rec, cols.value, "value")?;
    let value: f64 = v_text
        .parse()
        .map_err(|_| format!("value {v_text:?} is not a number"))?;
    if !value.is_finite() {
        return Err(format!("value {v_text:?} is not finite"));
    }
    Ok((id, ts, ts_text, value))
}

/// Readings of a CSV text in the readings file's format (header with `meter_id`, one
/// timestamp column and one value column), each row checked as the import checks it
/// (without the grid, which the store checks on append): `(meter, ts, value)` in order, or
/// every bad line with its reason.
pub fn parse_csv_rows(text: &[u8], tz: &Tz) -> Result<Vec<(String, i64, f64)>, BadLines> {
    let (input, notes) = super::lines::guard(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut bad = BadLines::default();
    let mut rec = csv::ByteRecord::new();
    let header = match rdr.read_byte_record(&mut rec) {
        Ok(true) => match notes.take_before(rdr.position().byte()) {
            Some(reason) => Err(format!("the header: {reason}")),
            None => columns(&rec),
        },
        Ok(false) => Err("empty input, no header".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    let cols = match header {
        Ok(c) => c,
        Err(reason) => {
            bad.push(1, reason);
            return Err(bad);
        }
    };
    let width = rec.len();
    let mut out = Vec::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                bad.push(rdr.position().line(), e.to_string());
                break;
            }
        }
        let line = rec.position().map_or(0, |p| p.line());
        let parsed = match notes.take_before(rdr.position().byte()) {
            Some(reason) => Err(reason),
            None => parse_row(&rec, &cols, width, tz),
        };
        match parsed {
            Ok((id, ts, _, value)) => out.push((id.to_owned(), ts, value)),
            Err(reason) => bad.push(line, reason),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

/// A meter's grid while reading the file: known (`None` for irregular), or to be found
/// from its timestamps.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Grid {
    Known(Option<u32>),
    Infer,
}

/// Meter ids seen in a file, each with its grid (and, for grids to find, the timestamps'
/// statistics): batches refer to them by index.
#[derive(Default)]
struct Meters {
    index: HashMap<String, u32>,
    ids: Vec<String>,
    grids: Vec<Grid>,
    stats: Vec<GridStats>,
}

impl Meters {
    fn get(&mut self, id: &str, grid_of: &dyn Fn(&str) -> Grid) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.index.insert(id.to_owned(), i);
        self.ids.push(id.to_owned());
        self.grids.push(grid_of(id));
        self.stats.push(GridStats::default());
        i
    }
}

/// A pass over the readings file.
struct Pass {
    rows: u64,
    imported: u64,
    bad: BadLines,
}

/// A pass and what it saw: the meters and the value column's name.
struct Scanned {
    pass: Pass,
    meters: Meters,
    value_name: String,
}

/// Reads the readings file once, checking every row; with a store, appends the good
/// rows in batches of [`BATCH_READINGS`].
fn scan(
    cfg: &ImportConfig,
    step: &str,
    grid_of: &dyn Fn(&str) -> Grid,
    store: Option<&Store>,
) -> Result<Scanned, ImportError> {
    let len = std::fs::metadata(&cfg.input).map_or(0, |m| m.len());
    let pb = byte_progress(len, step, cfg.progress);
    let input = open_input(&cfg.input, Some(&pb)).map_err(failed)?;
    let (input, notes) = super::lines::guard(input);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(input);
    let at = |e: csv::Error| failed(format!("{}: {e}", cfg.input.display()));
    let mut rec = csv::ByteRecord::new();
    if !rdr.read_byte_record(&mut rec).map_err(at)? {
        return Err(failed(format!(
            "{}: empty file, no header",
            cfg.input.display()
        )));
    }
    if let Some(reason) = notes.take_before(rdr.position().byte()) {
        return Err(failed(format!(
            "{}: the header (line 1): {reason}",
            cfg.input.display()
        )));
    }
    let cols = columns(&rec).map_err(|e| failed(format!("{}: {e}", cfg.input.display())))?;
    let value_name = header_names(&rec)
        .get(cols.value)
        .cloned()
        .unwrap_or_default();
    let width = rec.len();
    let mut meters = Meters::default();
    let mut batch: Vec<(u32, i64, f64)> = Vec::with_capacity(store.map_or(0, |_| BATCH_READINGS));
    let mut pass = Pass {
        rows: 0,
        imported: 0,
        bad: BadLines::default(),
    };
    let mut last: Option<u32> = None;
    while rdr.read_byte_record(&mut rec).map_err(at)? {
        pass.rows += 1;
        let line = rec.position().map_or(0, |p| p.line());
        let noted = notes.take_before(rdr.position().byte());
        let parsed = (|| -> Result<(u32, i64, f64), String> {
            if let Some(reason) = noted {
                return Err(reason);
            }
            let (id, ts, ts_text, value) = parse_row(&rec, &cols, width, &cfg.tz)?;
            // Files usually list one meter's rows together: check the last one first.
            let m = match last {
                Some(m) if meters.ids[m as usize] == id => m,
                _ => meters.get(id, grid_of),
            };
            last = Some(m);
            match meters.grids[m as usize] {
                Grid::Known(Some(iv)) if ts.rem_euclid(i64::from(iv)) != 0 => {
                    return Err(format!(
                        "{} {ts_text} is off meter {id}'s {iv} s interval grid",
                        cols.ts_name
                    ));
                }
                Grid::Infer => meters.stats[m as usize].add(ts),
                Grid::Known(_) => {}
            }
            Ok((m, ts, value))
        })();
        match parsed {
            Ok(r) if store.is_some() => {
                batch.push(r);
                if batch.len() == BATCH_READINGS {
                    pass.imported += append(store, &meters, &mut batch, pass.imported)?;
                }
            }
            Ok(_) => {}
            Err(reason) if !cfg.skip_bad && store.is_some() => {
                // The first pass found no bad line: the file changed since.
                return Err(failed(format!(
                    "{} changed while importing: line {line}: {reason}",
                    cfg.input.display()
                )));
            }
            Err(reason) => pass.bad.push(line, reason),
        }
    }
    pass.imported += append(store, &meters, &mut batch, pass.imported)?;
    pb.finish_and_clear();
    Ok(Scanned {
        pass,
        meters,
        value_name,
    })
}

/// Appends and empties the batch; returns how many readings it held. `committed`
/// readings were appended before it, which a failure names.
fn append(
    store: Option<&Store>,
    meters: &Meters,
    batch: &mut Vec<(u32, i64, f64)>,
    committed: u64,
) -> Result<u64, ImportError> {
    let Some(store) = store else {
        return Ok(0);
    };
    if batch.is_empty() {
        return Ok(0);
    }
    let readings: Vec<Reading<'_>> = batch
        .iter()
        .map(|&(m, ts, value)| Reading {
            meter: &meters.ids[m as usize],
            ts,
            value,
        })
        .collect();
    store.append(&readings).map_err(|e| {
        failed(format!(
            "{e} (the store keeps this batch of {} readings whole or not at all; the \
             {committed} readings appended before it were committed and stay in the store)",
            readings.len()
        ))
    })?;
    let n = batch.len() as u64;
    batch.clear();
    Ok(n)
}

/// The fields a catalog row gives for its meter's registration (`None` where empty, so
/// the store's value or an inferred one is taken).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Given {
    /// `interval_s` (`Some(None)` for irregular).
    pub interval_s: Option<Option<u32>>,
    /// `kind`.
    pub kind: Option<Quantity>,
    /// `unit`.
    pub unit: Option<String>,
}

impl Given {
    fn apply(&self, inf: &mut Inferred) {
        if let Some(iv) = self.interval_s {
            (inf.meta.interval_s, inf.interval_from) = (iv, Source::Flag);
        }
        if let Some(k) = self.kind {
            (inf.meta.kind, inf.kind_from) = (k, Source::Flag);
        }
        if let Some(u) = &self.unit {
            (inf.meta.unit, inf.kind_from) = (u.clone(), Source::Flag);
        }
    }
}

/// A catalog file read into the store's catalog (not saved yet).
#[derive(Debug, Clone)]
pub struct CatalogFile {
    /// The store's catalog with the file's rows imported.
    pub catalog: Catalog,
    /// The file's meter ids, in file order.
    pub ids: Vec<String>,
    /// What each row gives for its meter's registration.
    pub given: HashMap<String, Given>,
    /// What the import changed.
    pub report: CatalogReport,
}

/// Reads a catalog file (the columns of [`Catalog::import_rows`]) into the catalog of the
/// store in `dir` (an empty one when there is none): a meter listed again replaces its
/// entry, and enterprises take the non-empty fields. A bad row, or a meter already in the
/// store with another interval, kind or unit than its row gives, is a bad line; any bad
/// line stops the import before anything is written.
pub fn read_catalog(
    path: &Path,
    dir: &Path,
    store: Option<&Store>,
) -> Result<CatalogFile, ImportError> {
    let input = open_input(path, None).map_err(failed)?;
    let (input, notes) = super::lines::guard(input);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let at = |e: csv::Error| failed(format!("{}: {e}", path.display()));
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    let mut bad = BadLines::default();
    let mut rec = csv::ByteRecord::new();
    while rdr.read_byte_record(&mut rec).map_err(at)? {
        let line = rec.position().map_or(0, |p| p.line());
        if let Some(reason) = notes.take_before(rdr.position().byte()) {
            bad.push(line, reason);
            continue;
        }
        let fields: Result<Vec<String>, String> = (0..rec.len())
            .map(|i| field(&rec, i, "field").map(str::to_owned))
            .collect();
        match fields {
            Ok(f) => rows.push((line as usize, f)),
            Err(e) => bad.push(line, e),
        }
    }
    let Some((_, header)) = rows.first() else {
        return Err(failed(format!("{}: empty file, no header", path.display())));
    };
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    let col = |n: &str| names.iter().position(|x| x == n);
    let (ic, kc, uc, mc) = (col("interval_s"), col("kind"), col("unit"), col("meter_id"));
    let base = if store.is_some() {
        Catalog::load_dir(dir).map_err(failed)?
    } else {
        Catalog::new()
    };
    let mut catalog = base;
    let report = match catalog.import_rows(rows.clone()) {
        Ok(r) => r,
        Err(e) => {
            for r in e.rows {
                bad.push(r.line as u64, r.message);
            }
            CatalogReport::default()
        }
    };
    let mut ids = Vec::new();
    let mut given = HashMap::new();
    for (line, f) in rows.iter().skip(1) {
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).filter(|v| !v.is_empty());
        let Some(id) = get(mc) else { continue };
        let Some(m) = catalog.meter(id) else { continue };
        let g = Given {
            interval_s: get(ic).map(|_| m.interval_s),
            kind: get(kc).map(|_| m.kind),
            unit: get(uc).map(|_| m.unit.clone()),
        };
        if let Some(have) = store.and_then(|s| s.meter_meta(id)) {
            let differs = g.interval_s.is_some_and(|v| v != have.interval_s)
                || g.kind.is_some_and(|v| v != have.kind)
                || g.unit.as_ref().is_some_and(|v| *v != have.unit);
            if differs {
                bad.push(
                    *line as u64,
                    format!(
                        "meter {id} is already in the store as {have:?}, not {:?}",
                        (m.kind, m.interval_s, &m.unit)
                    ),
                );
            }
        }
        ids.push(id.clone());
        given.insert(id.clone(), g);
    }
    if !bad.is_empty() {
        bad.listed.sort_by_key(|b| b.line);
        return Err(ImportError::BadLines {
            file: path.to_owned(),
            bad,
        });
    }
    Ok(CatalogFile {
        catalog,
        ids,
        given,
        report,
    })
}
