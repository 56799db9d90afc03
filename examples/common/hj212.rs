//! The HJ 212 import of `import_hj212`: a file of frames, one per line (plain or gzip),
//! mapped to meters through the store's catalog (`hj212_mn`, `hj212_code`), streamed in
//! two passes like the CSV import (check every line, then import in batches) so that a
//! file with a bad frame imports nothing.

use super::import::{failed, BadLines, ImportConfig, ImportError, BATCH_READINGS};
use super::{byte_progress, open_input};
use meterstore::hj212::{self, Hj212Map, Incomplete, MappedReading, Reassembler};
use meterstore::monitor::Catalog;
use meterstore::{MeterMeta, Options, Reading, Store};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

/// Split messages held at once while waiting for their other packets; beyond it the
/// oldest is given up (its lines are bad lines). Collectors send a message's packets
/// back to back, so a window of thousands is far more than a log needs.
const MAX_PENDING_MESSAGES: usize = 10_000;
/// Unknown stations and codes listed by name in the report; the rest are counted.
pub const MAX_LISTED_UNKNOWN: usize = 10;

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Hj212Report {
    /// Non-empty lines (frames) read.
    pub frames: u64,
    /// Whole messages after split ones were joined.
    pub messages: u64,
    /// Messages that carry no data (not CN 2011/2051/2061/2031).
    pub not_data: u64,
    /// Readings appended to the store.
    pub readings: u64,
    /// Data messages from stations no meter is fed by, per station.
    pub unknown_stations: BTreeMap<String, u64>,
    /// Codes of known stations that feed no meter, per (station, code).
    pub unknown_codes: BTreeMap<(String, String), u64>,
    /// Codes that feed a meter but lack the value it reads.
    pub unread: u64,
    /// Lines skipped (only with `skip_bad`).
    pub skipped: BadLines,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl Hj212Report {
    /// Data messages from unknown stations.
    pub fn unknown_station_messages(&self) -> u64 {
        self.unknown_stations.values().sum()
    }

    /// Values with unknown codes.
    pub fn unknown_code_values(&self) -> u64 {
        self.unknown_codes.values().sum()
    }
}

/// Runs an import of `cfg.input`'s frames: merges `cfg.meters` (a meters CSV with
/// `hj212_mn` and `hj212_code`, see `meterstore::monitor::Catalog::import_rows`) into the
/// store's catalog, checks every line (unless
/// `skip_bad`), then registers the meters HJ 212 feeds, saves the catalog and appends the
/// readings in batches. A failure of the store in the import pass leaves the batches
/// appended before it.
pub fn run(cfg: &ImportConfig) -> Result<Hj212Report, ImportError> {
    let started = Instant::now();
    // A directory that is neither a store nor empty is someone else's: refused untouched.
    super::dirs::check_store_target(&cfg.store).map_err(ImportError::Refused)?;
    let mut catalog = if cfg.store.exists() {
        Catalog::load_dir(&cfg.store).map_err(failed)?
    } else {
        Catalog::new()
    };
    if let Some(path) = &cfg.meters {
        merge_meters(&mut catalog, path)?;
    }
    if catalog.hj212_sources().next().is_none() {
        return Err(failed(format!(
            "the catalog of {} names no meter fed by HJ 212: give --meters with hj212_mn and \
             hj212_code columns",
            cfg.store.display()
        )));
    }
    let map = Hj212Map::new(&catalog, cfg.tz.zone());
    if !cfg.skip_bad {
        let pass = scan(cfg, &map, "validating", None)?;
        if !pass.skipped.is_empty() {
            return Err(ImportError::BadLines {
                file: cfg.input.clone(),
                bad: pass.skipped,
            });
        }
    }
    let store = Store::open(&cfg.store, Options::default()).map_err(failed)?;
    let fed: Vec<(String, MeterMeta)> = catalog
        .hj212_sources()
        .filter_map(|(_, id)| catalog.meter(id))
        .map(|m| {
            let meta = MeterMeta {
                kind: m.kind,
                interval_s: m.interval_s,
                unit: m.unit.clone(),
            };
            (m.id.clone(), meta)
        })
        .collect();
    store.register_meters(&fed).map_err(failed)?;
    if cfg.meters.is_some() {
        catalog.save(&store).map_err(failed)?;
    }
    let mut report = scan(cfg, &map, "importing", Some(&store))?;
    store.close().map_err(failed)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Merges a meters CSV into the catalog, all or nothing.
fn merge_meters(catalog: &mut Catalog, path: &Path) -> Result<(), ImportError> {
    let input = open_input(path, None).map_err(failed)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| failed(format!("{}: {e}", path.display())))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        rows.push((line, rec.iter().map(str::to_owned).collect()));
    }
    catalog.import_rows(rows).map_err(|e| {
        let mut bad = BadLines::default();
        for r in e.rows {
            bad.push(r.line as u64, r.message);
        }
        ImportError::BadLines {
            file: path.to_owned(),
            bad,
        }
    })?;
    Ok(())
}

/// Reads the file once, checking every frame; with a store, appends the readings in
/// batches of [`BATCH_READINGS`]. Bad lines are collected in `skipped`.
fn scan(
    cfg: &ImportConfig,
    map: &Hj212Map,
    step: &str,
    store: Option<&Store>,
) -> Result<Hj212Report, ImportError> {
    let len = std::fs::metadata(&cfg.input).map_or(0, |m| m.len());
    let pb = byte_progress(len, step, cfg.progress);
    let mut input = std::io::BufReader::new(open_input(&cfg.input, Some(&pb)).map_err(failed)?);
    let mut report = Hj212Report::default();
    let mut parts: Reassembler<u64> = Reassembler::new(MAX_PENDING_MESSAGES);
    let mut batch: Vec<MappedReading<'_>> = Vec::new();
    let mut buf = Vec::new();
    let mut whole = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| failed(format!("{}: {e}", cfg.input.display())))?;
        if n == 0 {
            break;
        }
        line += 1;
        let frame = buf.trim_ascii();
        if frame.is_empty() {
            continue;
        }
        report.frames += 1;
        // A log keeps one frame per line, with or without its CR.
        whole.clear();
        whole.extend_from_slice(frame);
        whole.extend_from_slice(b"\r\n");
        let outcome = hj212::parse(&whole)
            .and_then(|m| parts.push(m, line))
            .and_then(|m| match m {
                None => Ok(None),
                Some(m) => map.map(&m, &mut batch).map(|o| Some((m, o))),
            });
        for gone in parts.take_evicted() {
            incomplete(&mut report.skipped, &gone, "given up waiting for");
        }
        let (msg, outcome) = match outcome {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                report.skipped.push(line, e.to_string());
                continue;
            }
        };
        report.messages += 1;
        report.readings += outcome.readings as u64;
        report.unread += outcome.unread as u64;
        report.not_data += u64::from(!hj212::DATA_CNS.contains(&msg.cn));
        if outcome.unknown_station {
            *report.unknown_stations.entry(msg.mn.clone()).or_default() += 1;
        }
        for code in outcome.unknown_codes {
            *report
                .unknown_codes
                .entry((msg.mn.clone(), code))
                .or_default() += 1;
        }
        if batch.len() >= BATCH_READINGS {
            append(store, &mut batch)?;
        }
    }
    for left in parts.finish() {
        incomplete(&mut report.skipped, &left, "the file ends without");
    }
    if !cfg.skip_bad && store.is_some() && !report.skipped.is_empty() {
        // The first pass found no bad line: the file changed since.
        return Err(failed(format!(
            "{} changed while importing:\n{}",
            cfg.input.display(),
            report.skipped
        )));
    }
    append(store, &mut batch)?;
    pb.finish_and_clear();
    Ok(report)
}

/// Reports each received packet of a message that stays incomplete as a bad line.
fn incomplete(bad: &mut BadLines, m: &Incomplete<u64>, why: &str) {
    let have: Vec<u16> = m.received.iter().map(|r| r.0).collect();
    let missing: Vec<String> = (1..=m.total)
        .filter(|n| !have.contains(n))
        .map(|n| n.to_string())
        .collect();
    for &(pno, line) in &m.received {
        bad.push(
            line,
            format!(
                "packet {pno} of {} of QN {} from MN {}: {why} packets {}",
                m.total,
                m.qn,
                m.mn,
                missing.join(", ")
            ),
        );
    }
}

/// Appends and empties the batch.
fn append(store: Option<&Store>, batch: &mut Vec<MappedReading<'_>>) -> Result<(), ImportError> {
    if let Some(store) = store.filter(|_| !batch.is_empty()) {
        let readings: Vec<Reading<'_>> = batch
            .iter()
            .map(|r| Reading::new(r.meter, r.ts, r.value).with_flag(r.flag))
            .collect();
        store.append(&readings).map_err(failed)?;
    }
    batch.clear();
    Ok(())
}
