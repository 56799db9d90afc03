//! The CSV import of `import_csv`: long-format readings (`meter_id`, a timestamp column,
//! one value column), optionally gzip-compressed, streamed in two passes (validate the
//! whole file, then import in batches) so that a file with bad lines imports nothing,
//! and an optional meter catalog (`meter_id,enterprise_id,role`, ...).

use super::time::{parse_timestamp, Tz};
use super::{byte_progress, open_input};
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
/// The enterprise catalog that `--meters` leaves in the store directory, for the
/// examples that group meters by enterprise.
pub const ENTERPRISES_FILE: &str = "enterprises.csv";
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
    fn push(&mut self, line: u64, reason: String) {
        self.push_in(None, line, reason);
    }

    fn push_in(&mut self, file: Option<&Path>, line: u64, reason: String) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED_BAD_LINES {
            let file = file.map(Path::to_owned);
            self.listed.push(BadLine { line, file, reason });
        }
    }

    /// Whether no line was rejected.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl fmt::Display for BadLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.rows { "row" } else { "line" };
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
    /// Anything else (unreadable file, a header without the needed columns, the store).
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
            ImportError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ImportError {}

impl From<String> for ImportError {
    fn from(m: String) -> ImportError {
        ImportError::Failed(m)
    }
}

fn failed(e: impl fmt::Display) -> ImportError {
    ImportError::Failed(e.to_string())
}

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// Store directory (created if missing).
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
    /// Meters listed in the catalog.
    pub catalog_meters: usize,
    /// Wall time of the whole import, seconds.
    pub seconds: f64,
    /// Of which the validating first pass (0 with `skip_bad`, which makes one pass).
    pub validate_seconds: f64,
}

/// One meter of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEntry {
    /// External meter id.
    pub meter_id: String,
    /// The enterprise it belongs to.
    pub enterprise_id: String,
    /// Its role there, e.g. `production` or `treatment`.
    pub role: String,
    /// Metadata to register it with.
    pub meta: MeterMeta,
}

/// Runs an import: validates the catalog and (unless `skip_bad`) the whole readings file,
/// then registers the catalog's meters, writes [`ENTERPRISES_FILE`], and appends the
/// readings in batches. Meters first seen in the readings are registered with the
/// default metadata (15-minute interval energy in kWh). A failure of the store in the
/// import pass leaves the batches appended before it.
pub fn run(cfg: &ImportConfig) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let open = || {
        let opts = Options {
            unknown_meters: UnknownMeters::Register(MeterMeta::default()),
            ..Options::default()
        };
        Store::open(&cfg.store, opts).map_err(failed)
    };
    // An existing store is opened (and locked) first, since its meters' grids decide
    // which timestamps are valid; a new one is only created once the input is known good.
    let mut store = if cfg.store.exists() {
        Some(open()?)
    } else {
        None
    };
    let catalog = match &cfg.meters {
        Some(p) => read_catalog(p, store.as_ref())?,
        #[cfg(feature = "arrow")]
        None => read_parquet_catalog(&cfg.input, store.as_ref())?.unwrap_or_default(),
        #[cfg(not(feature = "arrow"))]
        None => Vec::new(),
    };
    let listed: HashMap<&str, &MeterMeta> = catalog
        .iter()
        .map(|c| (c.meter_id.as_str(), &c.meta))
        .collect();
    let mut validate_seconds = 0.0;
    if !cfg.skip_bad {
        let t = Instant::now();
        let existing = store.as_ref();
        let interval_of = |id: &str| -> Option<u32> {
            match (listed.get(id), existing.and_then(|s| s.meter_meta(id))) {
                (Some(m), _) => m.interval_s,
                (None, Some(m)) => m.interval_s,
                (None, None) => MeterMeta::default().interval_s,
            }
        };
        let pass = scan(cfg, "validating", &interval_of, None)?;
        validate_seconds = t.elapsed().as_secs_f64();
        if !pass.bad.is_empty() {
            return Err(ImportError::BadLines {
                file: cfg.input.clone(),
                bad: pass.bad,
            });
        }
    }
    let store = match store.take() {
        Some(s) => s,
        None => open()?,
    };
    let before = store.meter_ids().len();
    // The catalog's meters are registered in one durable write (`register_meters`), before
    // the readings, since their grids decide what the readings may hold.
    let list: Vec<(String, MeterMeta)> = catalog
        .iter()
        .map(|c| (c.meter_id.clone(), c.meta.clone()))
        .collect();
    store.register_meters(&list).map_err(failed)?;
    if catalog.iter().any(|c| !c.enterprise_id.is_empty()) {
        write_enterprises(&cfg.store, &catalog)?;
    }
    // The store knows every grid now but those of meters new to it, which get the
    // default one.
    let default = MeterMeta::default();
    let interval_of = |id: &str| -> Option<u32> {
        store
            .meter_meta(id)
            .map_or(default.interval_s, |m| m.interval_s)
    };
    let pass = scan(cfg, "importing", &interval_of, Some(&store))?;
    let new_meters = store.meter_ids().len() - before;
    store.close().map_err(failed)?;
    Ok(ImportReport {
        rows: pass.rows,
        imported: pass.imported,
        skipped: pass.bad,
        new_meters,
        catalog_meters: catalog.len(),
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

/// Meter ids seen in a file, each with its interval: batches refer to them by index.
#[derive(Default)]
struct Meters {
    index: HashMap<String, u32>,
    ids: Vec<String>,
    intervals: Vec<Option<u32>>,
}

impl Meters {
    fn get(&mut self, id: &str, interval_of: &dyn Fn(&str) -> Option<u32>) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.index.insert(id.to_owned(), i);
        self.ids.push(id.to_owned());
        self.intervals.push(interval_of(id));
        i
    }
}

/// A pass over the readings file.
struct Pass {
    rows: u64,
    imported: u64,
    bad: BadLines,
}

/// The checks and batching of one pass, whatever the input's format: every row of every
/// source goes through [`Checker::row`].
struct Checker<'s> {
    skip_bad: bool,
    interval_of: &'s dyn Fn(&str) -> Option<u32>,
    store: Option<&'s Store>,
    meters: Meters,
    batch: Vec<(u32, i64, f64)>,
    pass: Pass,
    last: Option<u32>,
}

impl Checker<'_> {
    /// Checks one row (`parsed`: the source's reading of it, or why it has none) at line
    /// or row `line` of `file`; with a store, adds it to the batch and appends a full one.
    /// `ts_text` is the timestamp as written, for messages.
    fn row(
        &mut self,
        file: Option<&Path>,
        line: u64,
        ts_name: &str,
        ts_text: Option<&str>,
        parsed: Result<(&str, i64, f64), String>,
    ) -> Result<(), ImportError> {
        self.pass.rows += 1;
        let checked = parsed.and_then(|(id, ts, value)| {
            if id.is_empty() || id.len() > MAX_METER_ID_BYTES {
                return Err(format!("meter_id must be 1 to {MAX_METER_ID_BYTES} bytes"));
            }
            if !value.is_finite() {
                return Err(format!("value {value} is not finite"));
            }
            // Files usually list one meter's rows together: check the last one first.
            let m = match self.last {
                Some(m) if self.meters.ids[m as usize] == id => m,
                _ => self.meters.get(id, self.interval_of),
            };
            self.last = Some(m);
            if let Some(iv) = self.meters.intervals[m as usize] {
                if ts.rem_euclid(i64::from(iv)) != 0 {
                    let shown = ts_text.map_or_else(|| ts.to_string(), str::to_owned);
                    return Err(format!(
                        "{ts_name} {shown} is off meter {id}'s {iv} s interval grid"
                    ));
                }
            }
            Ok((m, ts, value))
        });
        match checked {
            Ok(r) if self.store.is_some() => {
                self.batch.push(r);
                if self.batch.len() == BATCH_READINGS {
                    self.pass.imported += append(self.store, &self.meters, &mut self.batch)?;
                }
            }
            Ok(_) => {}
            Err(reason) if !self.skip_bad && self.store.is_some() => {
                // The first pass found no bad row: the input changed since.
                let what = if self.pass.bad.rows { "row" } else { "line" };
                let file = file.map_or(String::new(), |f| format!("{}: ", f.display()));
                return Err(failed(format!(
                    "input changed while importing: {file}{what} {line}: {reason}"
                )));
            }
            Err(reason) => self.pass.bad.push_in(file, line, reason),
        }
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
    interval_of: &dyn Fn(&str) -> Option<u32>,
    store: Option<&Store>,
) -> Result<Pass, ImportError> {
    let mut ck = Checker {
        skip_bad: cfg.skip_bad,
        interval_of,
        store,
        meters: Meters::default(),
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
    ck.pass.imported += append(store, &ck.meters, &mut ck.batch)?;
    Ok(ck.pass)
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

#[cfg(feature = "arrow")]
fn scan_parquet(cfg: &ImportConfig, step: &str, ck: &mut Checker<'_>) -> Result<(), ImportError> {
    use super::parquet_rows;
    ck.pass.bad.rows = true;
    let files = parquet_rows::data_files(&cfg.input)?;
    let pb = super::row_progress(parquet_rows::count_rows(&files)?, step, cfg.progress);
    let in_dir = cfg.input.is_dir();
    for file in &files {
        let shown = in_dir.then(|| file.strip_prefix(&cfg.input).unwrap_or(file));
        parquet_rows::for_each_row(file, &cfg.tz, &mut |row, parsed| {
            pb.inc(1);
            ck.row(shown, row, "ts", None, parsed)
        })?;
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
    let cols = columns(&rec).map_err(|e| failed(format!("{}: {e}", cfg.input.display())))?;
    let width = rec.len();
    while rdr.read_byte_record(&mut rec).map_err(at)? {
        let line = rec.position().map_or(0, |p| p.line());
        let ts_text = field(&rec, cols.ts, &cols.ts_name).ok();
        let parsed = (|| -> Result<(&str, i64, f64), String> {
            if rec.len() != width {
                return Err(format!("expected {width} fields, found {}", rec.len()));
            }
            let id = field(&rec, cols.meter, "meter_id")?;
            let ts = parse_timestamp(field(&rec, cols.ts, &cols.ts_name)?, &cfg.tz)?;
            let v_text = field(&rec, cols.value, "value")?;
            let value: f64 = v_text
                .parse()
                .map_err(|_| format!("value {v_text:?} is not a number"))?;
            Ok((id, ts, value))
        })();
        ck.row(None, line, &cols.ts_name, ts_text, parsed)?;
    }
    pb.finish_and_clear();
    Ok(())
}

/// Appends and empties the batch; returns how many readings it held.
fn append(
    store: Option<&Store>,
    meters: &Meters,
    batch: &mut Vec<(u32, i64, f64)>,
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
    store.append(&readings).map_err(failed)?;
    let n = batch.len() as u64;
    batch.clear();
    Ok(n)
}

/// Parses `interval_energy`, `cumulative_register`, `power` or `other` (case, `_`, `-`
/// and spaces ignored; `energy` and `register` accepted too).
fn parse_kind(s: &str) -> Result<Quantity, String> {
    let k: String = s
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .to_lowercase();
    Ok(match k.as_str() {
        "" | "intervalenergy" | "energy" => Quantity::IntervalEnergy,
        "cumulativeregister" | "register" | "cumulative" => Quantity::CumulativeRegister,
        "power" => Quantity::Power,
        "other" => Quantity::Other,
        _ => {
            return Err(format!(
                "kind {s:?} is not interval_energy, cumulative_register, power or other"
            ))
        }
    })
}

/// Reads and checks the catalog: `meter_id,enterprise_id,role` required, `interval_s`
/// (seconds, empty for 900, `irregular` for none), `kind` and `unit` optional, further
/// columns ignored. A meter listed twice, or already in the store with other metadata,
/// is a bad line; any bad line stops the import before anything is written.
pub fn read_catalog(path: &Path, store: Option<&Store>) -> Result<Vec<CatalogEntry>, ImportError> {
    let input = open_input(path, None).map_err(failed)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let at = |e: csv::Error| failed(format!("{}: {e}", path.display()));
    let mut rec = csv::ByteRecord::new();
    if !rdr.read_byte_record(&mut rec).map_err(at)? {
        return Err(failed(format!("{}: empty file, no header", path.display())));
    }
    let names = header_names(&rec);
    let col = |n: &str| names.iter().position(|x| x == n);
    let (Some(mc), Some(ec), Some(rc)) = (col("meter_id"), col("enterprise_id"), col("role"))
    else {
        return Err(failed(format!(
            "{}: the header ({}) needs meter_id, enterprise_id and role",
            path.display(),
            names.join(",")
        )));
    };
    let (ic, kc, uc) = (col("interval_s"), col("kind"), col("unit"));
    let mut rows = Vec::new();
    while rdr.read_byte_record(&mut rec).map_err(at)? {
        let line = rec.position().map_or(0, |p| p.line());
        let get = |c: Option<usize>, name: &str| -> Result<String, String> {
            match c {
                Some(i) if i >= rec.len() => Err(format!("no {name} field")),
                Some(i) => field(&rec, i, name).map(str::to_owned),
                None => Ok(String::new()),
            }
        };
        let fields = (|| -> Result<[String; 6], String> {
            Ok([
                get(Some(mc), "meter_id")?,
                get(Some(ec), "enterprise_id")?,
                get(Some(rc), "role")?,
                get(ic, "interval_s")?,
                get(kc, "kind")?,
                get(uc, "unit")?,
            ])
        })();
        rows.push((line, fields));
    }
    check_catalog(path, rows, true, store)
}

/// The meters of an `export_parquet` output's `meters.parquet`, checked as
/// [`read_catalog`] checks a CSV catalog, but a meter without an enterprise is allowed
/// (it is registered, and left out of [`ENTERPRISES_FILE`]). `None` when `input` has no
/// such file.
#[cfg(feature = "arrow")]
pub fn read_parquet_catalog(
    input: &Path,
    store: Option<&Store>,
) -> Result<Option<Vec<CatalogEntry>>, ImportError> {
    let Some((path, rows)) = super::parquet_rows::read_meters(input)? else {
        return Ok(None);
    };
    let rows = rows.into_iter().map(|(i, f)| (i, Ok(f))).collect();
    check_catalog(&path, rows, false, store).map(Some)
}

/// Checks catalog rows (`meter_id, enterprise_id, role, interval_s, kind, unit`, or why
/// a row could not be read): all good, or every bad row listed.
fn check_catalog(
    path: &Path,
    rows: Vec<(u64, Result<[String; 6], String>)>,
    need_enterprise: bool,
    store: Option<&Store>,
) -> Result<Vec<CatalogEntry>, ImportError> {
    let default = MeterMeta::default();
    let mut out: Vec<CatalogEntry> = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut bad = BadLines {
        rows: !need_enterprise,
        ..BadLines::default()
    };
    for (line, fields) in rows {
        let entry = fields.and_then(|f| {
            let [meter_id, enterprise_id, role, interval, kind, unit] = f;
            if meter_id.is_empty() || meter_id.len() > MAX_METER_ID_BYTES {
                return Err(format!("meter_id must be 1 to {MAX_METER_ID_BYTES} bytes"));
            }
            if need_enterprise && (enterprise_id.is_empty() || role.is_empty()) {
                return Err("enterprise_id and role must not be empty".into());
            }
            let interval_s = match interval.to_lowercase().as_str() {
                "" => default.interval_s,
                "irregular" | "none" => None,
                s => match s.parse::<u32>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(format!(
                            "interval_s {interval:?} is not a positive integer, empty or irregular"
                        ))
                    }
                },
            };
            if unit.len() > 255 {
                return Err("unit longer than 255 bytes".into());
            }
            let meta = MeterMeta {
                kind: parse_kind(&kind)?,
                interval_s,
                unit: if unit.is_empty() {
                    default.unit.clone()
                } else {
                    unit
                },
            };
            if let Some(first) = seen.get(&meter_id) {
                return Err(format!(
                    "meter {meter_id} is listed twice (first on line {first})"
                ));
            }
            if let Some(have) = store.and_then(|s| s.meter_meta(&meter_id)) {
                if have != meta {
                    return Err(format!(
                        "meter {meter_id} is already in the store as {have:?}, not {meta:?}"
                    ));
                }
            }
            Ok(CatalogEntry {
                meter_id,
                enterprise_id,
                role,
                meta,
            })
        });
        match entry {
            Ok(e) => {
                seen.insert(e.meter_id.clone(), line);
                out.push(e);
            }
            Err(reason) => bad.push(line, reason),
        }
    }
    if !bad.is_empty() {
        return Err(ImportError::BadLines {
            file: path.to_owned(),
            bad,
        });
    }
    Ok(out)
}

/// Writes the catalog's `meter_id,enterprise_id,role` rows to [`ENTERPRISES_FILE`] in
/// the store directory, merged with the rows already there (a meter listed again takes
/// its new row). Replaced atomically: written aside, then renamed over.
pub fn write_enterprises(dir: &Path, catalog: &[CatalogEntry]) -> Result<(), ImportError> {
    let path = dir.join(ENTERPRISES_FILE);
    let mut rows: Vec<[String; 3]> = Vec::new();
    if path.exists() {
        let mut rdr = csv::Reader::from_path(&path).map_err(failed)?;
        for r in rdr.records() {
            let r = r.map_err(|e| failed(format!("{}: {e}", path.display())))?;
            let f = |i: usize| r.get(i).unwrap_or_default().to_owned();
            rows.push([f(0), f(1), f(2)]);
        }
    }
    let mut at: HashMap<String, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r[0].clone(), i))
        .collect();
    for c in catalog.iter().filter(|c| !c.enterprise_id.is_empty()) {
        let row = [c.meter_id.clone(), c.enterprise_id.clone(), c.role.clone()];
        match at.get(&c.meter_id) {
            Some(&i) => rows[i] = row,
            None => {
                at.insert(c.meter_id.clone(), rows.len());
                rows.push(row);
            }
        }
    }
    let tmp = dir.join(format!("{ENTERPRISES_FILE}.tmp"));
    let mut w = csv::Writer::from_path(&tmp).map_err(failed)?;
    w.write_record(["meter_id", "enterprise_id", "role"])
        .map_err(failed)?;
    for r in &rows {
        w.write_record(r).map_err(failed)?;
    }
    w.flush().map_err(failed)?;
    drop(w);
    std::fs::rename(&tmp, &path).map_err(|e| failed(format!("{}: {e}", path.display())))
}
