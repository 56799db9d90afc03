//! The batch mode of `facility_alarms`: learn missing thresholds into the store's catalog,
//! evaluate the rules over a range, write the alarms as CSV.

use meterstore::monitor::{
    evaluate, Alarm, Catalog, LearnOptions, LearnReport, RuleConfig, RuleId,
};
use meterstore::{UtcOffset, Zone};
use std::error::Error;
use std::path::PathBuf;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// Store directory (with its catalog).
    pub store: PathBuf,
    /// Range start, RFC 3339 or Unix seconds; default the end of the latest training.
    pub from: Option<String>,
    /// Range end (exclusive); default after the last reading.
    pub to: Option<String>,
    /// Days of each meter's first readings its thresholds are learned from.
    pub train_days: u32,
    /// Learn every meter again.
    pub relearn: bool,
    /// Zone of local days: `+08:00` or an IANA name.
    pub tz: String,
    /// Alarms CSV; standard output when `None`.
    pub csv: Option<PathBuf>,
    /// Write the catalog as CSV here instead, and stop.
    pub export_catalog: Option<PathBuf>,
}

/// RFC 3339 with the +08:00 offset, for messages.
pub fn rfc3339(t: i64) -> String {
    let off =
        jiff::tz::Offset::from_seconds(UtcOffset::CHINA.seconds()).unwrap_or(jiff::tz::Offset::UTC);
    jiff::Timestamp::from_second(t)
        .map(|ts| ts.display_with_offset(off).to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// RFC 3339 or Unix seconds.
pub fn parse_time(s: &str) -> Result<i64, Box<dyn Error>> {
    if let Ok(t) = s.parse::<i64>() {
        return Ok(t);
    }
    Ok(s.parse::<jiff::Timestamp>()
        .map_err(|e| format!("{s:?} is neither RFC 3339 nor Unix seconds: {e}"))?
        .as_second())
}

/// The `meter_id` field of an alarm: the subject meter, or the members of an enterprise
/// rule joined by `;`.
pub fn meter_field(a: &Alarm) -> String {
    match a.rule {
        RuleId::NightProduction | RuleId::EmergencyCutMissed => a.meters.join(";"),
        _ => a.meters.first().cloned().unwrap_or_default(),
    }
}

/// Learns the thresholds of the catalog's meters (only those without any unless
/// `relearn`) from their first `train_days` days, with the offset `zone` has at the first
/// reading; the caller saves the catalog when something was learned.
pub fn learn(
    store: &meterstore::Store,
    catalog: &mut Catalog,
    zone: &Zone,
    train_days: u32,
    relearn: bool,
) -> Result<LearnReport, Box<dyn Error>> {
    let Some(extent) = catalog.data_extent(store)? else {
        return Ok(LearnReport::default());
    };
    let opts = LearnOptions {
        offset: UtcOffset::from_seconds(zone.offset_at(extent.start))?,
        ..LearnOptions::default()
    };
    Ok(catalog.learn_from_start(store, i64::from(train_days) * 86_400, relearn, &opts)?)
}

/// Learns missing thresholds, evaluates the store's catalog and history over a range and
/// writes the alarms as CSV; returns how many alarms it wrote.
pub fn batch(args: &BatchRequest) -> Result<usize, Box<dyn Error>> {
    let dir = &args.store;
    let store = super::open_writer(dir)?;
    let mut catalog = Catalog::load(&store)?;
    if let Some(out) = &args.export_catalog {
        let mut w = csv::Writer::from_path(out).map_err(|e| format!("{}: {e}", out.display()))?;
        for row in catalog.export_rows() {
            w.write_record(&row)?;
        }
        w.flush()?;
        eprintln!(
            "wrote {} meters to {}",
            catalog.meters().count(),
            out.display()
        );
        return Ok(0);
    }
    if catalog.meters().next().is_none() {
        return Err(format!(
            "{}: the store has no catalog (import one with import_csv --meters meters.csv)",
            dir.display()
        )
        .into());
    }
    let zone = Zone::parse(&args.tz)?;
    let Some(extent) = catalog.data_extent(&store)? else {
        return Err("the catalog's meters have no readings".into());
    };
    let report = learn(&store, &mut catalog, &zone, args.train_days, args.relearn)?;
    if !report.learned.is_empty() {
        catalog.save(&store)?;
        eprintln!(
            "learned the thresholds of {} meters from their first {} days; saved in {}",
            report.learned.len(),
            args.train_days,
            Catalog::path_in(dir).display()
        );
    }
    for (id, why) in &report.skipped {
        eprintln!("not learned: {id}: {why}");
    }
    let trained_end = catalog
        .meters()
        .filter_map(|m| catalog.learned(&m.id).map(|l| l.trained.end))
        .max();
    let from = match &args.from {
        Some(s) => parse_time(s)?,
        None => trained_end.unwrap_or(extent.start).max(extent.start),
    };
    let to = match &args.to {
        Some(s) => parse_time(s)?,
        None => extent.end,
    };
    if from >= to {
        return Err(format!(
            "nothing to evaluate: the range {} .. {} is empty (the training takes the first {} days)",
            rfc3339(from),
            rfc3339(to),
            args.train_days
        )
        .into());
    }
    let cfg = RuleConfig {
        zone,
        ..RuleConfig::default()
    };
    let t = std::time::Instant::now();
    let alarms = evaluate(&store, &catalog, &cfg, from..to)?;
    eprintln!(
        "{} alarms over {} .. {} in {:.2} s",
        alarms.len(),
        rfc3339(from),
        rfc3339(to),
        t.elapsed().as_secs_f64()
    );
    let out: Box<dyn std::io::Write> = match &args.csv {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => Box::new(super::cli::stdout()),
    };
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "rule",
        "enterprise_id",
        "meter_id",
        "start",
        "end",
        "evidence",
    ])?;
    for a in &alarms {
        w.write_record([
            a.rule.as_str().to_owned(),
            a.enterprise.clone(),
            meter_field(a),
            a.start.to_string(),
            a.end.map(|e| e.to_string()).unwrap_or_default(),
            a.evidence.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(alarms.len())
}
