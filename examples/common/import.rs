//! The CSV import of `import_csv`: long-format readings (`meter_id`, a timestamp column,
//! one value column, an optional `flag` column of HJ 212 quality flags), optionally
//! gzip-compressed, streamed in two passes (validate the
//! whole file, then import in batches) so that a file with bad lines imports nothing,
//! and an optional meter catalog (`meter_id,enterprise_id,role`, ...).

use super::catalog_file;
pub use super::infer::{infer, GridStats, Inferred, NewMeterDefaults};
use super::time::{parse_timestamp, Tz};
use super::{byte_progress, open_input};
use meterstore::monitor::ImportReport as CatalogReport;
use meterstore::{Flag, MeterMeta, Options, Reading, Store, UnknownMeters};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Readings per append: one log record of about 1.6 MB, so the per-append costs (a log
/// sync, a memtable insert) are spread over many readings, while the batch and its
/// `Reading` views stay a few MB whatever the file's size.
pub const BATCH_READINGS: usize = 100_000;
/// Bad lines listed with their reason; the rest are counted.
pub const MAX_LISTED_BAD_LINES: usize = 20;
/// Longest meter id the store accepts, in bytes; checked while validating so that the
/// import pass never meets a batch the store rejects.
const MAX_METER_ID_BYTES: usize = 256;
/// Names of the timestamp column, lowercase.
const TS_NAMES: [&str; 4] = ["ts", "timestamp", "time", "datetime"];

/// One rejected line (of a CSV file) or row (of a Parquet file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the (decompressed) CSV file, where the header is line 1; or
    /// 1-based row number in a Parquet file.
    pub line: u64,
    /// The file, when the input is a directory of files.
    pub file: Option<PathBuf>,
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
    /// Whether the numbers are Parquet rows rather than CSV lines.
    pub rows: bool,
}

impl BadLines {
    /// Records a rejected line.
    pub fn push(&mut self, line: u64, reason: String) {
        self.push_in(None, line, reason);
    }

    /// Records a rejected line or row of `file`, one of a directory's files.
    pub fn push_in(&mut self, file: Option<&Path>, line: u64, reason: String) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED_BAD_LINES {
            let file = file.map(Path::to_owned);
            self.listed.push(BadLine { line, file, reason });
        }
    }

    /// "row" or "line", as the numbers count.
    fn what(&self) -> &'static str {
        if self.rows {
            "row"
        } else {
            "line"
        }
    }

    /// Whether no line was rejected.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl fmt::Display for BadLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.what();
        for b in &self.listed {
            match &b.file {
                Some(file) => writeln!(f, "  {} {what} {}: {}", file.display(), b.line, b.reason)?,
                None => writeln!(f, "  {what} {}: {}", b.line, b.reason)?,
            }
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
                "{}: {} bad {}s, nothing imported (--skip-bad imports the good ones)\n{bad}",
                file.display(),
                bad.count,
                bad.what()
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

impl From<String> for ImportError {
    fn from(m: String) -> ImportError {
        ImportError::Failed(m)
    }
}

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
        Some(p) => Some(catalog_file::read_catalog(p, &cfg.store, store.as_ref())?),
        #[cfg(feature = "arrow")]
        None => catalog_file::read_parquet_catalog(&cfg.input, &cfg.store, store.as_ref())?,
        #[cfg(not(feature = "arrow"))]
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

/// Positions of the columns of a readings file: three, and the optional `flag`.
#[derive(Debug, Clone)]
struct Columns {
    meter: usize,
    ts: usize,
    value: usize,
    flag: Option<usize>,
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
    let flags: Vec<usize> = (0..names.len()).filter(|&i| names[i] == "flag").collect();
    if flags.len() > 1 {
        return Err(format!("the header ({list}) has more than one flag column"));
    }
    let flag = flags.first().copied();
    let others: Vec<usize> = (0..names.len())
        .filter(|&i| i != meter && i != ts && Some(i) != flag)
        .collect();
    let [value] = others[..] else {
        return Err(format!(
            "the header ({list}) needs exactly one value column besides meter_id, {} and \
             an optional flag",
            names[ts]
        ));
    };
    Ok(Columns {
        meter,
        ts,
        value,
        flag,
        ts_name: names[ts].clone(),
    })
}

/// Field `i`, spaces around it removed. (Trimming here rather than with the reader's
/// `Trim::All`, which builds a new record per row.)
pub(super) fn field<'r>(rec: &'r csv::ByteRecord, i: usize, name: &str) -> Result<&'r str, String> {
    let f = rec.get(i).unwrap_or_default().trim_ascii();
    std::str::from_utf8(f).map_err(|_| format!("{name} is not valid UTF-8"))
}

/// What every reading must be, whatever its source: a meter id of 1 to
/// [`MAX_METER_ID_BYTES`] bytes and a finite value.
fn check_reading(id: &str, value: f64) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_METER_ID_BYTES {
        return Err(format!("meter_id must be 1 to {MAX_METER_ID_BYTES} bytes"));
    }
    if !value.is_finite() {
        return Err(format!("value {value} is not finite"));
    }
    Ok(())
}

/// The quality flag of a `flag` field: one HJ 212 letter (`N F M S D C T B`, upper case);
/// empty is `N`.
pub fn parse_flag(text: &str) -> Result<Flag, String> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Some(Flag::Normal),
        (Some(c), None) => Flag::from_letter(c),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "column flag: {text:?} is not a quality flag (one of N, F, M, S, D, C, T, B, or \
             empty for N)"
        )
    })
}

/// One data row: meter id, timestamp, the timestamp's text, the value and the flag,
/// parsed (what every reading must be is [`check_reading`]'s).
fn parse_row<'r>(
    rec: &'r csv::ByteRecord,
    cols: &Columns,
    width: usize,
    tz: &Tz,
) -> Result<(&'r str, i64, &'r str, f64, Flag), String> {
    if rec.len() != width {
        return Err(format!("expected {width} fields, found {}", rec.len()));
    }
    let id = field(rec, cols.meter, "meter_id")?;
    let ts_text = field(rec, cols.ts, &cols.ts_name)?;
    let ts = parse_timestamp(ts_text, tz)?;
    let v_text = field(rec, cols.value, "value")?;
    let value: f64 = v_text
        .parse()
        .map_err(|_| format!("value {v_text:?} is not a number"))?;
    let flag = match cols.flag {
        Some(i) => parse_flag(field(rec, i, "flag")?)?,
        None => Flag::Normal,
    };
    Ok((id, ts, ts_text, value, flag))
}

/// Readings of a CSV text in the readings file's format (header with `meter_id`, one
/// timestamp column, one value column and an optional `flag` column), each row checked as
/// the import checks it (without the grid, which the store checks on append):
/// `(meter, ts, value, flag)` in order, or every bad line with its reason.
pub fn parse_csv_rows(text: &[u8], tz: &Tz) -> Result<Vec<(String, i64, f64, Flag)>, BadLines> {
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
            None => {
                parse_row(&rec, &cols, width, tz).and_then(|r| check_reading(r.0, r.3).map(|()| r))
            }
        };
        match parsed {
            Ok((id, ts, _, value, flag)) => out.push((id.to_owned(), ts, value, flag)),
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

/// A pass over the readings input.
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

/// The checks and batching of one pass, whatever the input's format: every row of every
/// source goes through [`Checker::row`].
struct Checker<'s> {
    input: &'s Path,
    skip_bad: bool,
    grid_of: &'s dyn Fn(&str) -> Grid,
    store: Option<&'s Store>,
    meters: Meters,
    value_name: String,
    batch: Vec<(u32, i64, f64, Flag)>,
    pass: Pass,
    last: Option<u32>,
}

impl Checker<'_> {
    /// Checks one row (`parsed`: the source's reading of it, or why it has none) at line
    /// or row `line` of `file` (one of a directory's files); with a store, adds it to the
    /// batch and appends a full one. `ts_text` is the timestamp as written, for messages.
    fn row(
        &mut self,
        file: Option<&Path>,
        line: u64,
        ts_name: &str,
        ts_text: Option<&str>,
        parsed: Result<(&str, i64, f64, Flag), String>,
    ) -> Result<(), ImportError> {
        self.pass.rows += 1;
        let checked = parsed.and_then(|(id, ts, value, flag)| {
            check_reading(id, value)?;
            // Files usually list one meter's rows together: check the last one first.
            let m = match self.last {
                Some(m) if self.meters.ids[m as usize] == id => m,
                _ => self.meters.get(id, self.grid_of),
            };
            self.last = Some(m);
            match self.meters.grids[m as usize] {
                Grid::Known(Some(iv)) if ts.rem_euclid(i64::from(iv)) != 0 => {
                    let shown = ts_text.map_or_else(|| ts.to_string(), str::to_owned);
                    return Err(format!(
                        "{ts_name} {shown} is off meter {id}'s {iv} s interval grid"
                    ));
                }
                Grid::Infer => self.meters.stats[m as usize].add(ts),
                Grid::Known(_) => {}
            }
            Ok((m, ts, value, flag))
        });
        match checked {
            Ok(r) if self.store.is_some() => {
                self.batch.push(r);
                if self.batch.len() == BATCH_READINGS {
                    self.append()?;
                }
            }
            Ok(_) => {}
            Err(reason) if !self.skip_bad && self.store.is_some() => {
                // The first pass found no bad row: the input changed since.
                let file = file.map_or(String::new(), |f| format!("{}: ", f.display()));
                return Err(failed(format!(
                    "{} changed while importing: {file}{} {line}: {reason}",
                    self.input.display(),
                    self.pass.bad.what()
                )));
            }
            Err(reason) => self.pass.bad.push_in(file, line, reason),
        }
        Ok(())
    }

    /// Appends and empties the batch.
    fn append(&mut self) -> Result<(), ImportError> {
        let n = append(
            self.store,
            &self.meters,
            &mut self.batch,
            self.pass.imported,
        )?;
        self.pass.imported += n;
        Ok(())
    }
}

/// Reads the readings input once, checking every row; with a store, appends the good
/// rows in batches of [`BATCH_READINGS`]. The input is CSV (plain or gzip), or Parquet
/// (a file, or a directory of files: see `parquet_rows`) when built with the `arrow`
/// feature.
fn scan(
    cfg: &ImportConfig,
    step: &str,
    grid_of: &dyn Fn(&str) -> Grid,
    store: Option<&Store>,
) -> Result<Scanned, ImportError> {
    let mut ck = Checker {
        input: &cfg.input,
        skip_bad: cfg.skip_bad,
        grid_of,
        store,
        meters: Meters::default(),
        value_name: String::new(),
        batch: Vec::with_capacity(store.map_or(0, |_| BATCH_READINGS)),
        pass: Pass {
            rows: 0,
            imported: 0,
            bad: BadLines::default(),
        },
        last: None,
    };
    if parquet_input(&cfg.input)? {
        scan_parquet(cfg, step, &mut ck)?;
    } else {
        scan_csv(cfg, step, &mut ck)?;
    }
    ck.append()?;
    Ok(Scanned {
        pass: ck.pass,
        meters: ck.meters,
        value_name: ck.value_name,
    })
}

/// Whether the input is Parquet; an error when it is and this build cannot read it.
fn parquet_input(input: &Path) -> Result<bool, ImportError> {
    #[cfg(feature = "arrow")]
    return Ok(super::parquet_rows::is_parquet(input));
    #[cfg(not(feature = "arrow"))]
    {
        let mut magic = [0u8; 4];
        let parquet = input.is_dir()
            || std::fs::File::open(input)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok_and(|_| &magic == b"PAR1");
        match parquet {
            true => Err(failed(format!(
                "{} is Parquet: build with --features arrow to import it",
                input.display()
            ))),
            false => Ok(false),
        }
    }
}

/// The rows of a Parquet input: a file, or every data file of a directory.
#[cfg(feature = "arrow")]
fn scan_parquet(cfg: &ImportConfig, step: &str, ck: &mut Checker<'_>) -> Result<(), ImportError> {
    use super::parquet_rows;
    ck.pass.bad.rows = true;
    let files = parquet_rows::data_files(&cfg.input)?;
    let pb = super::row_progress(parquet_rows::count_rows(&files)?, step, cfg.progress);
    let in_dir = cfg.input.is_dir();
    for file in &files {
        let shown = in_dir.then(|| file.strip_prefix(&cfg.input).unwrap_or(file));
        let value_name = parquet_rows::for_each_row(file, &cfg.tz, &mut |row, parsed| {
            pb.inc(1);
            ck.row(
                shown,
                row,
                "ts",
                None,
                parsed.map(|(id, ts, v)| (id, ts, v, Flag::Normal)),
            )
        })?;
        if ck.value_name.is_empty() {
            ck.value_name = value_name;
        }
    }
    pb.finish_and_clear();
    Ok(())
}

#[cfg(not(feature = "arrow"))]
fn scan_parquet(_: &ImportConfig, _: &str, _: &mut Checker<'_>) -> Result<(), ImportError> {
    Err(failed("Parquet input needs the arrow feature"))
}

/// The rows of a CSV input.
fn scan_csv(cfg: &ImportConfig, step: &str, ck: &mut Checker<'_>) -> Result<(), ImportError> {
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
    ck.value_name = header_names(&rec)
        .get(cols.value)
        .cloned()
        .unwrap_or_default();
    let width = rec.len();
    while rdr.read_byte_record(&mut rec).map_err(at)? {
        let line = rec.position().map_or(0, |p| p.line());
        let noted = notes.take_before(rdr.position().byte());
        let ts_text = field(&rec, cols.ts, &cols.ts_name).ok();
        let parsed = (|| -> Result<(&str, i64, f64, Flag), String> {
            if let Some(reason) = noted {
                return Err(reason);
            }
            let (id, ts, _, value, flag) = parse_row(&rec, &cols, width, &cfg.tz)?;
            Ok((id, ts, value, flag))
        })();
        ck.row(None, line, &cols.ts_name, ts_text, parsed)?;
    }
    pb.finish_and_clear();
    Ok(())
}

/// Appends and empties the batch; returns how many readings it held. `committed`
/// readings were appended before it, which a failure names.
fn append(
    store: Option<&Store>,
    meters: &Meters,
    batch: &mut Vec<(u32, i64, f64, Flag)>,
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
        .map(|&(m, ts, value, flag)| {
            Reading::new(&meters.ids[m as usize], ts, value).with_flag(flag)
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
