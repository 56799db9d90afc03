//! Importing meters and enterprises from CSV rows.
//!
//! The importer takes rows already split into fields, each with its line number, so it
//! does not depend on a CSV parser (callers use the `csv` crate or anything else). The
//! first row is the header. Columns, in any order:
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `meter_id` | yes | external meter id |
//! | `enterprise_id` | yes | enterprise id; created when new |
//! | `role` | yes | `production`, `treatment`, `main`, `other` (or 生产 / 治污 / 总 / 其他) |
//! | `enterprise_name`, `industry`, `process`, `district` | no | enterprise fields (set when not empty) |
//! | `pollutants` | no | `;`-separated |
//! | `facility` | no | the facility the meter measures |
//! | `kind` | no | `interval_energy` (default), `cumulative_register`, `power`, `other` (case, `_`, `-` and spaces ignored; `energy` and `register` too) |
//! | `interval_s` | no | seconds, default 900; `0`, `irregular` or `none` for an irregular meter |
//! | `unit` | no | default `kWh` |
//! | `multiplier` | no | CT/PT multiplier from the start, default 1 |
//! | `multiplier_changes` | no | `;`-separated `TIME=VALUE`, TIME in RFC 3339 or Unix seconds |
//! | `hj212_mn`, `hj212_code` | no | the HJ 212 station and code that feed the meter, both or neither (empty: none; columns absent: unchanged) |
//!
//! Header names are matched without regard to case; an unknown column is an error (a
//! misspelt `interval_s` would otherwise silently give every meter the default).
//!
//! Either every row is imported or none: a bad row (missing or malformed field, unknown
//! role, a meter listed twice) makes the import fail with every bad row's line number
//! and the catalog unchanged. [`Catalog::export_rows`] writes the same columns back, so
//! an exported catalog imports to the same meters and enterprises.

use super::catalog::{Catalog, CatalogMeter, Enterprise, MeterRole, MultiplierChange};
use super::catalog_hj212::Hj212Source;
use crate::types::Quantity;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line number as given with the row.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// An import that was rejected; nothing was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// Every bad row, in input order.
    pub rows: Vec<RowError>,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "import rejected, nothing imported: ")?;
        for (k, r) in self.rows.iter().enumerate() {
            if k > 0 {
                write!(f, "; ")?;
            }
            write!(f, "line {}: {}", r.line, r.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportError {}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: usize,
    /// Enterprises created.
    pub enterprises_added: usize,
    /// Meters added.
    pub meters_added: usize,
    /// Meters that replaced an existing entry.
    pub meters_replaced: usize,
}

const COLUMNS: [&str; 16] = [
    "meter_id",
    "enterprise_id",
    "role",
    "enterprise_name",
    "industry",
    "process",
    "pollutants",
    "district",
    "facility",
    "kind",
    "interval_s",
    "unit",
    "multiplier",
    "multiplier_changes",
    "hj212_mn",
    "hj212_code",
];

fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = s.parse::<i64>() {
        return Some(t);
    }
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// Parses a quantity kind as the `kind` column takes it (see the module docs); the empty
/// string is interval energy.
pub fn parse_kind(s: &str) -> Option<Quantity> {
    let k: String = s
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .collect::<String>()
        .to_lowercase();
    Some(match k.as_str() {
        "" | "intervalenergy" | "energy" => Quantity::IntervalEnergy,
        "cumulativeregister" | "register" | "cumulative" => Quantity::CumulativeRegister,
        "power" => Quantity::Power,
        "other" => Quantity::Other,
        _ => return None,
    })
}

/// The `kind` column's name of a quantity.
pub fn kind_name(q: Quantity) -> &'static str {
    match q {
        Quantity::IntervalEnergy => "interval_energy",
        Quantity::CumulativeRegister => "cumulative_register",
        Quantity::Power => "power",
        Quantity::Other => "other",
    }
}

impl Catalog {
    /// Imports meter rows (header first); see the module docs of the format. All or
    /// nothing: on any bad row the catalog is left unchanged and every bad row is
    /// reported with its line number.
    pub fn import_rows<I>(&mut self, rows: I) -> std::result::Result<ImportReport, ImportError>
    where
        I: IntoIterator<Item = (usize, Vec<String>)>,
    {
        let mut rows = rows.into_iter();
        let Some((hline, header)) = rows.next() else {
            return Err(ImportError {
                rows: vec![RowError {
                    line: 1,
                    message: "no header row".into(),
                }],
            });
        };
        let mut col = [usize::MAX; COLUMNS.len()];
        let mut errors = Vec::new();
        for (k, h) in header.iter().enumerate() {
            let h = h.trim().trim_start_matches('\u{feff}').to_lowercase();
            match COLUMNS.iter().position(|c| *c == h) {
                Some(c) if col[c] == usize::MAX => col[c] = k,
                Some(_) => errors.push(format!("column {h:?} appears twice")),
                None => errors.push(format!("unknown column {h:?}")),
            }
        }
        for (c, name) in col.iter().zip(COLUMNS).take(3) {
            if *c == usize::MAX {
                errors.push(format!("missing required column {name:?}"));
            }
        }
        if !errors.is_empty() {
            return Err(ImportError {
                rows: vec![RowError {
                    line: hline,
                    message: errors.join(", "),
                }],
            });
        }
        let hj212_columns = col[14] != usize::MAX || col[15] != usize::MAX;
        let mut next = self.clone();
        let mut report = ImportReport::default();
        let mut seen = std::collections::HashMap::new();
        let mut bad = Vec::new();
        for (line, fields) in rows {
            report.rows += 1;
            let get = |c: usize| -> &str { fields.get(col[c]).map(|s| s.trim()).unwrap_or("") };
            let mut err = |m: String| bad.push(RowError { line, message: m });
            if fields.len() != header.len() {
                err(format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    header.len()
                ));
                continue;
            }
            let (id, ent) = (get(0), get(1));
            if id.is_empty() || ent.is_empty() {
                err("empty meter_id or enterprise_id".into());
                continue;
            }
            if let Some(first) = seen.insert(id.to_owned(), line) {
                err(format!("meter {id:?} already listed on line {first}"));
                continue;
            }
            let Some(role) = MeterRole::parse(get(2)) else {
                err(format!("unknown role {:?}", get(2)));
                continue;
            };
            let Some(kind) = parse_kind(get(9)) else {
                err(format!("unknown kind {:?}", get(9)));
                continue;
            };
            let interval_s = match get(10).to_lowercase().as_str() {
                "" => Some(900),
                "irregular" | "none" => None,
                s => match s.parse::<u32>() {
                    Ok(0) => None,
                    Ok(v) => Some(v),
                    Err(_) => {
                        err(format!("interval_s {s:?} is not a number of seconds"));
                        continue;
                    }
                },
            };
            let mut multipliers = Vec::new();
            match get(12) {
                "" => {}
                s => match s.parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 => multipliers.push(MultiplierChange {
                        from: i64::MIN,
                        value: v,
                    }),
                    _ => {
                        err(format!("multiplier {s:?} is not a positive number"));
                        continue;
                    }
                },
            }
            let mut ok = true;
            for part in get(13).split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let parsed = part.split_once('=').and_then(|(t, v)| {
                    let v = v
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v > 0.0)?;
                    Some(MultiplierChange {
                        from: parse_time(t.trim())?,
                        value: v,
                    })
                });
                match parsed {
                    Some(c) => multipliers.push(c),
                    None => {
                        err(format!(
                            "multiplier change {part:?} is not TIME=VALUE (RFC 3339 or Unix seconds, positive value)"
                        ));
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                continue;
            }
            let hj212 = match (get(14), get(15)) {
                ("", "") => None,
                (mn, code) if !mn.is_empty() && !code.is_empty() => Some(Hj212Source {
                    mn: mn.to_owned(),
                    code: code.to_owned(),
                }),
                _ => {
                    err("hj212_mn and hj212_code must be given both or neither".into());
                    continue;
                }
            };
            let mut e = next.enterprise(ent).cloned().unwrap_or_else(|| {
                report.enterprises_added += 1;
                Enterprise {
                    id: ent.to_owned(),
                    ..Enterprise::default()
                }
            });
            for (c, field) in [
                (3, &mut e.name),
                (4, &mut e.industry),
                (5, &mut e.process),
                (7, &mut e.district),
            ] {
                if !get(c).is_empty() {
                    *field = get(c).to_owned();
                }
            }
            if !get(6).is_empty() {
                e.pollutants = get(6)
                    .split(';')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect();
            }
            let replaced = next.meter(id).is_some();
            let m = CatalogMeter {
                id: id.to_owned(),
                enterprise: ent.to_owned(),
                role,
                facility: get(8).to_owned(),
                kind,
                interval_s,
                unit: match get(11) {
                    "" => "kWh".to_owned(),
                    u => u.to_owned(),
                },
                multipliers,
            };
            let res = next
                .upsert_enterprise(e)
                .and_then(|()| next.upsert_meter(m))
                .and_then(|()| match hj212_columns {
                    true => next.set_hj212_source(id, hj212),
                    false => Ok(()),
                });
            match res {
                Ok(()) if replaced => report.meters_replaced += 1,
                Ok(()) => report.meters_added += 1,
                Err(e) => err(e.to_string()),
            }
        }
        if !bad.is_empty() {
            return Err(ImportError { rows: bad });
        }
        *self = next;
        Ok(report)
    }
}

/// A multiplier change's time as the `multiplier_changes` column takes it: RFC 3339 in
/// UTC, or Unix seconds where jiff cannot represent the instant.
fn time_text(t: i64) -> String {
    jiff::Timestamp::from_second(t).map_or_else(|_| t.to_string(), |ts| ts.to_string())
}

impl Catalog {
    /// The catalog's meters as rows of the columns [`Catalog::import_rows`] reads, header
    /// first, one row per meter by id. Importing them into an empty catalog gives the same
    /// enterprises and meters (thresholds, suppressions and emergency periods are not
    /// rows: they stay in the catalog file).
    pub fn export_rows(&self) -> Vec<Vec<String>> {
        let mut out = vec![COLUMNS.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>()];
        for m in self.meters() {
            let e = self.enterprise(&m.enterprise);
            let ent = |f: fn(&Enterprise) -> &str| e.map_or(String::new(), |e| f(e).to_owned());
            let first = m.multipliers.first().filter(|c| c.from == i64::MIN);
            let changes: Vec<String> = m
                .multipliers
                .iter()
                .filter(|c| c.from != i64::MIN)
                .map(|c| format!("{}={}", time_text(c.from), c.value))
                .collect();
            let row = COLUMNS
                .iter()
                .map(|c| match *c {
                    "meter_id" => m.id.clone(),
                    "enterprise_id" => m.enterprise.clone(),
                    "role" => m.role.as_str().to_owned(),
                    "enterprise_name" => ent(|e| &e.name),
                    "industry" => ent(|e| &e.industry),
                    "process" => ent(|e| &e.process),
                    "pollutants" => e.map_or(String::new(), |e| e.pollutants.join(";")),
                    "district" => ent(|e| &e.district),
                    "facility" => m.facility.clone(),
                    "kind" => kind_name(m.kind).to_owned(),
                    "interval_s" => m.interval_s.map_or("irregular".into(), |v| v.to_string()),
                    "unit" => m.unit.clone(),
                    "multiplier" => first.map_or(String::new(), |c| c.value.to_string()),
                    "multiplier_changes" => changes.join(";"),
                    _ => String::new(),
                })
                .collect();
            out.push(row);
        }
        out
    }
}
