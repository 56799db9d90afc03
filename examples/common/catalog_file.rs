//! The meter catalog of an import: a CSV file (`import_csv --meters`) or the
//! `meters.parquet` of an `export_parquet` output, read into the store's monitoring
//! catalog and checked whole, with what each row gives for its meter's registration.

use super::import::{failed, field, BadLines, ImportError};
use super::infer::{Inferred, Source};
use super::open_input;
use meterstore::monitor::{Catalog, ImportReport as CatalogReport};
use meterstore::{MeterMeta, Quantity, Store};
use std::collections::HashMap;
use std::path::Path;

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
    pub(super) fn apply(&self, inf: &mut Inferred) {
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
    let mut file = CatalogFile::import(dir, store, rows.clone(), &mut bad)?;
    for (line, f) in rows.iter().skip(1) {
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).filter(|v| !v.is_empty());
        let Some(id) = get(mc) else { continue };
        let Some(m) = file.catalog.meter(id) else {
            continue;
        };
        let g = Given {
            interval_s: get(ic).map(|_| m.interval_s),
            kind: get(kc).map(|_| m.kind),
            unit: get(uc).map(|_| m.unit.clone()),
        };
        file.give(*line as u64, id, g, store, &mut bad);
    }
    file.checked(path, bad)
}

/// The meters of an `export_parquet` output's `meters.parquet` (`None` when `input` has
/// no such file), read as [`read_catalog`] reads a CSV catalog: its meters with an
/// enterprise go into the store's catalog (with their role, facility and district), and
/// every meter is registered with the kind, interval and unit the file gives.
#[cfg(feature = "arrow")]
pub fn read_parquet_catalog(
    input: &Path,
    dir: &Path,
    store: Option<&Store>,
) -> Result<Option<CatalogFile>, ImportError> {
    let Some((path, meters)) = super::parquet_rows::read_meters(input)? else {
        return Ok(None);
    };
    let mut bad = BadLines {
        rows: true,
        ..BadLines::default()
    };
    let header = ["meter_id", "enterprise_id", "role", "facility", "district"];
    let rows = std::iter::once((0, header.map(str::to_owned).to_vec())).chain(
        meters
            .iter()
            .filter(|m| !m.fields[0].is_empty() && !m.fields[1].is_empty())
            .map(|m| (m.row as usize, m.fields.to_vec())),
    );
    let mut file = CatalogFile::import(dir, store, rows, &mut bad)?;
    for m in meters {
        match m.given {
            Ok(g) => file.give(m.row, &m.fields[0], g, store, &mut bad),
            Err(reason) => bad.push(m.row, reason),
        }
    }
    file.checked(&path, bad).map(Some)
}

impl CatalogFile {
    /// The catalog of the store in `dir` (an empty one when there is none) with `rows`
    /// (header first) imported; bad rows go to `bad`.
    fn import<I>(
        dir: &Path,
        store: Option<&Store>,
        rows: I,
        bad: &mut BadLines,
    ) -> Result<CatalogFile, ImportError>
    where
        I: IntoIterator<Item = (usize, Vec<String>)>,
    {
        let mut catalog = if store.is_some() {
            Catalog::load_dir(dir).map_err(failed)?
        } else {
            Catalog::new()
        };
        let report = match catalog.import_rows(rows) {
            Ok(r) => r,
            Err(e) => {
                for r in e.rows {
                    bad.push(r.line as u64, r.message);
                }
                CatalogReport::default()
            }
        };
        Ok(CatalogFile {
            catalog,
            ids: Vec::new(),
            given: HashMap::new(),
            report,
        })
    }

    /// Adds meter `id`, listed at `line`, with what it gives for its registration: a bad
    /// line when the store holds it with another interval, kind or unit.
    fn give(&mut self, line: u64, id: &str, g: Given, store: Option<&Store>, bad: &mut BadLines) {
        if let Some(have) = store.and_then(|s| s.meter_meta(id)) {
            let differs = g.interval_s.is_some_and(|v| v != have.interval_s)
                || g.kind.is_some_and(|v| v != have.kind)
                || g.unit.as_ref().is_some_and(|v| *v != have.unit);
            if differs {
                let listed = MeterMeta {
                    kind: g.kind.unwrap_or(have.kind),
                    interval_s: g.interval_s.unwrap_or(have.interval_s),
                    unit: g.unit.clone().unwrap_or_else(|| have.unit.clone()),
                };
                bad.push(
                    line,
                    format!("meter {id} is already in the store as {have:?}, not {listed:?}"),
                );
            }
        }
        self.ids.push(id.to_owned());
        self.given.insert(id.to_owned(), g);
    }

    /// The file, or its bad lines (of `path`) as the error.
    fn checked(self, path: &Path, mut bad: BadLines) -> Result<CatalogFile, ImportError> {
        if !bad.is_empty() {
            bad.listed.sort_by_key(|b| b.line);
            return Err(ImportError::BadLines {
                file: path.to_owned(),
                bad,
            });
        }
        Ok(self)
    }
}
