//! Opening a store after a clean shutdown or a crash: replaying the write-ahead log into
//! the meter registry and the memtable, and what was found on the way.

use super::batch;
use super::memtable::Memtable;
use super::meters::Meters;
use crate::error::{Error, Result};
use crate::wal::{Replay, ReplayReport};

/// What [`Store::open`](crate::Store::open) found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The write-ahead log's replay: files and records read, the torn tail cut off
    /// (records and bytes), and bytes skipped with [`Options::salvage_wal`](crate::Options::salvage_wal).
    pub wal: ReplayReport,
    /// Readings replayed into the memtable (appended, not yet in a segment at the crash or
    /// shutdown).
    pub readings_replayed: u64,
    /// Meters re-registered from the log (registered by an append whose batch had not
    /// been flushed).
    pub meters_replayed: u64,
    /// Files removed at open: unfinished temporary files and segment files that no
    /// manifest lists (a crash between writing a segment and publishing it, or between
    /// publishing a compaction and deleting its inputs).
    pub orphan_files_removed: u64,
}

/// Applies every replayed record, in LSN order, to `meters` and `mem`. A record whose
/// checksums passed but whose content does not fit the store (an unknown meter, a meter
/// registered under another dense id, a value that is not finite) is
/// [`Error::Corrupt`] naming its log file and offset.
pub(crate) fn apply(
    replay: &Replay,
    meters: &mut Meters,
    mem: &mut Memtable,
    report: &mut RecoveryReport,
) -> Result<()> {
    for (k, (_, payload)) in replay.records.iter().enumerate() {
        let (path, offset) = match replay.sources.get(k) {
            Some((p, o)) => (p.clone(), *o),
            None => (Default::default(), 0),
        };
        let bad = |what: String| Error::corrupt(&path, offset, what);
        let b = batch::decode(payload)
            .map_err(|d| bad(format!("log record payload at byte {}: {}", d.at, d.what)))?;
        for (dense, id, meta) in &b.new_meters {
            match meters.get(id) {
                Some(d) if d == *dense && meters.meta(d) == meta => {}
                None if meters.len() == *dense as usize && Meters::validate(id, meta).is_ok() => {
                    meters.push(id, meta.clone());
                    report.meters_replayed += 1;
                }
                _ => {
                    return Err(bad(format!(
                        "log record registers meter {id:?} as {dense}, which does not fit \
                         the {} meters known",
                        meters.len()
                    )))
                }
            }
        }
        let n = meters.len() as u32;
        if let Some(r) = b.readings.iter().find(|r| r.0 >= n || !r.2.is_finite()) {
            return Err(bad(format!(
                "log record holds a reading of meter {} (of {n}) with value {}",
                r.0, r.2
            )));
        }
        report.readings_replayed += b.readings.len() as u64;
        mem.insert_batch(&b.readings, b.flagged);
    }
    Ok(())
}
