//! The `imbalance` tool: a day/night scan of a store, per meter or per enterprise, printed
//! flagged-first and written as CSV.

use super::time::{parse_bound, Tz};
use meterstore::monitor::{Catalog, MeterRole};
use meterstore::{
    DailyDayNight, DayNight, DayNightScan, DayWindow, EnterpriseDayNight, MeterFilter, Zone,
};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Group results by meter or by enterprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// One row per meter.
    Meter,
    /// One row per enterprise (its production meters combined).
    Enterprise,
}

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct Request {
    /// Store directory.
    pub store: PathBuf,
    /// Range start (RFC 3339 instant, local date or date-time), or the first reading.
    pub from: Option<String>,
    /// Range end (RFC 3339 instant, local date-time, or local date as an inclusive day),
    /// or the last reading.
    pub to: Option<String>,
    /// Day window, e.g. `08:00-20:00`.
    pub day: String,
    /// Zone: `+08:00` or `Area/City`.
    pub tz: String,
    /// Flag threshold on night/day average power.
    pub threshold: f64,
    /// Per meter or per enterprise.
    pub by: By,
    /// `meter_id,enterprise_id[,role,...]` membership file.
    pub enterprises: Option<PathBuf>,
    /// Also give each row's figures per local day.
    pub daily: bool,
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Meter or enterprise id.
    pub id: String,
    /// Its figures.
    pub stats: DayNight,
    /// Its figures per local day with readings (when asked for).
    pub daily: Vec<DailyDayNight>,
}

/// Reads `meter_id,enterprise_id[,role,...]`; with a `role` column only production meters
/// count towards their enterprise.
pub fn read_membership(path: &Path) -> Result<HashMap<String, String>, String> {
    let mut rdr = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(m), Some(e)) = (col("meter_id"), col("enterprise_id")) else {
        return Err(format!(
            "{}: the header needs meter_id and enterprise_id",
            path.display()
        ));
    };
    let role = col("role");
    let mut out = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("{} line {}: {e}", path.display(), i + 2))?;
        let production = role.is_none_or(|r| {
            rec.get(r)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("production"))
        });
        if let (Some(meter), Some(ent), true) = (rec.get(m), rec.get(e), production) {
            out.insert(meter.trim().to_owned(), ent.trim().to_owned());
        }
    }
    Ok(out)
}

/// Production meters by enterprise from the store's monitoring catalog (`CATALOG`).
pub fn catalog_membership(store: &Path) -> Result<HashMap<String, String>, String> {
    let catalog = Catalog::load_dir(store).map_err(|e| e.to_string())?;
    let membership: HashMap<String, String> = catalog
        .meters()
        .filter(|m| m.role == MeterRole::Production)
        .map(|m| (m.id.clone(), m.enterprise.clone()))
        .collect();
    if membership.is_empty() {
        return Err("--by enterprise needs a catalog with production meters in the store (import_csv --meters) or --enterprises meters.csv".into());
    }
    Ok(membership)
}

/// Runs the scan and returns the rows sorted by id.
pub fn scan(req: &Request) -> Result<Vec<Row>, String> {
    let tz = Tz::parse(&req.tz)?;
    let zone = Zone::parse(&req.tz).map_err(|e| e.to_string())?;
    let window = DayWindow::parse(&req.day).map_err(|e| e.to_string())?;
    let from = req
        .from
        .as_deref()
        .map(|s| parse_bound(s, &tz, false))
        .transpose()?
        .unwrap_or(i64::MIN);
    let to = req
        .to
        .as_deref()
        .map(|s| parse_bound(s, &tz, true))
        .transpose()?
        .unwrap_or(i64::MAX);
    if from >= to {
        return Err("--from must be before --to".into());
    }
    let store = super::open_existing(&req.store).map_err(|e| e.to_string())?;
    let scan = DayNightScan {
        window,
        zone,
        threshold: req.threshold,
        daily: req.daily,
        ..DayNightScan::default()
    };
    let meters = store
        .day_night(&MeterFilter::All, from..to, &scan)
        .map_err(|e| e.to_string())?;
    Ok(match req.by {
        By::Meter => meters
            .into_iter()
            .map(|m| Row {
                id: m.meter,
                stats: m.total,
                daily: m.daily,
            })
            .collect(),
        By::Enterprise => {
            let membership = match &req.enterprises {
                Some(p) => read_membership(p)?,
                None => catalog_membership(&req.store)?,
            };
            EnterpriseDayNight::aggregate(&meters, &membership, req.threshold)
                .into_iter()
                .map(|e| Row {
                    id: e.enterprise,
                    stats: e.total,
                    daily: e.daily,
                })
                .collect()
        }
    })
}

/// Prints the rows flagged first (highest ratio first), then a count of the rest.
pub fn print(out: &mut impl Write, rows: &[Row], by: By) -> std::io::Result<()> {
    let mut order: Vec<&Row> = rows.iter().collect();
    order.sort_by(|a, b| {
        (b.stats.flagged, b.stats.ratio.unwrap_or(f64::NEG_INFINITY))
            .partial_cmp(&(a.stats.flagged, a.stats.ratio.unwrap_or(f64::NEG_INFINITY)))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let flagged = rows.iter().filter(|r| r.stats.flagged).count();
    let what = if by == By::Meter {
        "meters"
    } else {
        "enterprises"
    };
    writeln!(out, "{flagged} of {} {what} flagged", rows.len())?;
    writeln!(
        out,
        "{:<14} {:>13} {:>13} {:>9} {:>9} {:>9} {:>9} {:>7}  flagged",
        "id", "day kWh", "night kWh", "day h", "night h", "day kW", "night kW", "ratio"
    )?;
    for r in order
        .iter()
        .take_while(|r| r.stats.flagged)
        .chain(order.iter().skip(flagged).take(5))
    {
        let s = &r.stats;
        let f = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.2}"));
        writeln!(
            out,
            "{:<14} {:>13.3} {:>13.3} {:>9.2} {:>9.2} {:>9} {:>9} {:>7}  {}",
            r.id,
            s.day_kwh,
            s.night_kwh,
            s.day_hours,
            s.night_hours,
            f(s.day_kw),
            f(s.night_kw),
            f(s.ratio),
            s.flagged
        )?;
    }
    if rows.len() > flagged + 5 {
        writeln!(out, "... and {} more not flagged", rows.len() - flagged - 5)?;
    }
    Ok(())
}

/// Writes `meter_id|enterprise_id,day_kwh,night_kwh,day_hours,night_hours,ratio,flagged`,
/// sorted by id. Numbers use Rust's shortest round-trip formatting, so they parse back to
/// the same `f64`; `ratio` is empty when day energy is zero or missing.
pub fn write_csv(out: impl Write, rows: &[Row], by: By) -> Result<(), String> {
    let mut w = csv::Writer::from_writer(out);
    let id = if by == By::Meter {
        "meter_id"
    } else {
        "enterprise_id"
    };
    w.write_record([
        id,
        "day_kwh",
        "night_kwh",
        "day_hours",
        "night_hours",
        "ratio",
        "flagged",
    ])
    .map_err(|e| e.to_string())?;
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for r in sorted {
        let s = &r.stats;
        let ratio = if s.day_kwh == 0.0 {
            String::new()
        } else {
            s.ratio.map_or(String::new(), |v| v.to_string())
        };
        w.write_record([
            r.id.clone(),
            s.day_kwh.to_string(),
            s.night_kwh.to_string(),
            s.day_hours.to_string(),
            s.night_hours.to_string(),
            ratio,
            s.flagged.to_string(),
        ])
        .map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())
}
