//! The day/night scan's entry point: checks the parameters, plans the scan on a snapshot
//! and runs it on the workers.

use super::parallel::scan_in_parallel;
use super::plan::ScanPlan;
use super::result::{DayNightScan, MeterDayNight, MeterFilter};
use crate::error::{Error, Result};
use crate::store::{Snapshot, Store};
use std::ops::Range;

impl Snapshot {
    /// Day/night scan of `meters` over `range` (UTC, half-open) as this snapshot sees the
    /// store. The range is first clipped to the span of stored readings of the selected
    /// meters, so `i64::MIN..i64::MAX` scans everything. Returns one result per meter with
    /// readings in the range, sorted by meter id. Meters of kind
    /// [`Quantity::Other`](crate::Quantity::Other) are skipped. Semantics: `docs/SCANS.md`.
    pub fn day_night(
        &self,
        meters: &MeterFilter<'_>,
        range: Range<i64>,
        scan: &DayNightScan,
    ) -> Result<Vec<MeterDayNight>> {
        check(scan)?;
        let state = &self.st;
        let Some(plan) = ScanPlan::new(state, meters, range, scan)? else {
            return Ok(Vec::new());
        };
        scan_in_parallel(state, &plan, scan)
    }
}

impl Store {
    /// Day/night scan of `meters` over `range` (UTC, half-open) on a fresh snapshot: see
    /// [`Snapshot::day_night`]. A snapshot holds no lock: appends, flushes and compactions
    /// go on during the scan.
    pub fn day_night(
        &self,
        meters: &MeterFilter<'_>,
        range: Range<i64>,
        scan: &DayNightScan,
    ) -> Result<Vec<MeterDayNight>> {
        // Checked before the snapshot, which seals the memtable.
        check(scan)?;
        self.snapshot().day_night(meters, range, scan)
    }
}

/// Rejects a threshold that is not a finite non-negative number.
fn check(scan: &DayNightScan) -> Result<()> {
    if !(scan.threshold.is_finite() && scan.threshold >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "threshold {} must be a finite non-negative number",
            scan.threshold
        )));
    }
    Ok(())
}
