//! Planning a scan: the meters it selects, the range clipped to their data, the pieces
//! and per-interval grids, the expected hours, and the path each meter takes.

use super::accumulate::Acc;
use super::merged::scan_merged;
use super::periodic::{slot_at_or_after, Periodic};
use super::result::{DayNightScan, MeterFilter};
use super::windows::Pieces;
use crate::engine::read::{for_each_source_span, spans_disjoint};
use crate::engine::state::State;
use crate::error::{Error, Result};
use crate::types::Quantity;
use std::collections::HashMap;
use std::ops::Range;

/// Per meter interval: the first grid slot at or after each cut, and the periodic pattern
/// when it applies.
pub(super) type Grids = HashMap<u32, (Vec<i64>, Option<Periodic>)>;

/// How one meter of a chunk is scanned.
#[derive(Clone, Copy)]
pub(super) enum Plan {
    /// Nothing to scan (a quantity without energy, or no pieces).
    Skip,
    /// Already summed through its merged readings.
    Done,
    /// Its stored blocks (listed in the chunk's `sources`) through [`scan_block`](super::block::scan_block), then its
    /// memtables.
    Blocks { step: u32, mult: f64 },
    /// A cumulative register's stored blocks through
    /// [`scan_register_block`](super::register::scan_register_block), then its memtables.
    Register { step: u32 },
}

/// Resets `acc` for `meter` and picks its path. A meter whose sources overlap, or that is
/// irregular or cumulative, is summed right here from its merged readings; for the fast
/// path its sources, which the caller collected into `sources`, are left there ordered
/// by start.
#[inline]
pub(super) fn plan_meter(
    state: &State,
    meter: u32,
    pieces: &Pieces,
    grids: &Grids,
    acc: &mut Acc,
    sources: &mut [(usize, usize, i64, i64)],
    daily: bool,
) -> Result<Plan> {
    let meta = state.meters.meta(meter);
    if meta.kind == Quantity::Other || pieces.len() == 0 {
        return Ok(Plan::Skip);
    }
    acc.reset(pieces.len(), if daily { pieces.dates.len() } else { 0 });
    match (meta.kind, meta.interval_s) {
        (Quantity::IntervalEnergy | Quantity::Power, Some(step))
            if grids.contains_key(&step) && spans_disjoint(sources) =>
        {
            let mult = if meta.kind == Quantity::Power {
                step as f64 / 3600.0
            } else {
                1.0
            };
            Ok(Plan::Blocks { step, mult })
        }
        (Quantity::CumulativeRegister, Some(step))
            if grids.contains_key(&step)
                && spans_disjoint(sources)
                && !starts_after(state, meter, pieces.cuts[pieces.len()], step) =>
        {
            Ok(Plan::Register { step })
        }
        _ => {
            scan_merged(state, meter, meta, pieces, acc)?;
            Ok(Plan::Done)
        }
    }
}

/// Whether a source of `meter` starts within one interval `step` after the range's end
/// `end`: then the energy of a reading of the range may end in it, and the register takes
/// the general path, which reads past the end.
fn starts_after(state: &State, meter: u32, end: i64, step: u32) -> bool {
    let mut found = false;
    let next = end..end.saturating_add(step as i64 + 1);
    for_each_source_span(state, &[meter], &next, |_, s| found |= s.2 >= end);
    found
}

/// First and last timestamp stored for any of `meters`.
fn data_extent(state: &State, meters: &[u32]) -> Option<(i64, i64)> {
    let mut ext: Option<(i64, i64)> = None;
    let mut widen = |a: i64, b: i64| {
        ext = Some(ext.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
    };
    // Stored blocks. Every meter: each segment's span, taken when it was opened.
    if meters.len() == state.meters.len() {
        for (a, b) in state.segments.iter().filter_map(|s| s.span()) {
            widen(a, b);
        }
    } else {
        for (&m, seg) in meters
            .iter()
            .flat_map(|m| state.segments.iter().map(move |s| (m, s)))
        {
            let r = seg.meter_blocks(m);
            if !r.is_empty() {
                widen(
                    seg.blocks()[r.start].t_first,
                    seg.blocks()[r.end - 1].t_last,
                );
            }
        }
    }
    // Unflushed readings.
    for &m in meters {
        for mem in state.memtables() {
            if let Some(s) = mem.get(m).filter(|s| !s.ts.is_empty()) {
                widen(s.ts[0], s.ts[s.ts.len() - 1]);
            }
        }
    }
    ext
}

/// What every worker of a scan shares: the selected meters (dense ids), the pieces of the
/// clipped range, the grids per meter interval, and the expected day and night hours over
/// the range and per local day.
pub(super) struct ScanPlan {
    pub(super) selected: Vec<u32>,
    pub(super) pieces: Pieces,
    pub(super) grids: Grids,
    pub(super) expected: (f64, f64),
    pub(super) day_expected: Vec<(f64, f64)>,
}

impl ScanPlan {
    /// The plan of `scan` over `meters` and `range` in `state`; `None` when the selected
    /// meters hold no readings in the range.
    pub(super) fn new(
        state: &State,
        meters: &MeterFilter<'_>,
        range: Range<i64>,
        scan: &DayNightScan,
    ) -> Result<Option<ScanPlan>> {
        let selected = select(state, meters)?;
        // Clip to the stored data so open-ended ranges work and expected hours describe
        // the span that holds readings.
        let Some((lo, hi)) = data_extent(state, &selected) else {
            return Ok(None);
        };
        let range = range.start.max(lo)..range.end.min(hi.saturating_add(1));
        if range.is_empty() {
            return Ok(None);
        }
        let pieces = Pieces::new(range.start, range.end, scan.window, &scan.zone)?;
        let grids = grids(state, &selected, &pieces, scan);
        let (expected, day_expected) = expected_hours(&pieces, scan.daily);
        Ok(Some(ScanPlan {
            selected,
            pieces,
            grids,
            expected,
            day_expected,
        }))
    }
}

/// The dense ids of the meters `meters` selects.
fn select(state: &State, meters: &MeterFilter<'_>) -> Result<Vec<u32>> {
    Ok(match meters {
        MeterFilter::All => (0..state.meters.len() as u32).collect(),
        MeterFilter::Ids(ids) => ids
            .iter()
            .map(|id| {
                state
                    .meters
                    .get(id)
                    .ok_or_else(|| Error::UnknownMeter(id.clone()))
            })
            .collect::<Result<_>>()?,
        MeterFilter::Where(f) => (0..state.meters.len() as u32)
            .filter(|&d| f(&state.meters.ids()[d as usize], state.meters.meta(d)))
            .collect(),
    })
}

/// First grid slot at or after each cut, per distinct meter interval of `selected`; with a
/// fixed offset and totals only, also the periodic day pattern.
fn grids(state: &State, selected: &[u32], pieces: &Pieces, scan: &DayNightScan) -> Grids {
    let mut grids: Grids = HashMap::new();
    let mut last = None;
    for &m in selected {
        let step = state.meters.meta(m).interval_s;
        // Meters mostly share an interval: hash only where it changes.
        if step == last {
            continue;
        }
        last = step;
        if let Some(step) = step {
            grids.entry(step).or_insert_with(|| {
                let s = step as i64;
                let grid = pieces
                    .cuts
                    .iter()
                    .map(|&c| slot_at_or_after(c, s))
                    .collect();
                (
                    grid,
                    Periodic::new(step, scan.window, &scan.zone, pieces, scan.daily),
                )
            });
        }
    }
    grids
}

/// Expected `(day, night)` hours, the same for every meter: over the range, and per local
/// day when `daily` (summed piece by piece in order, as `Acc::fold` does).
fn expected_hours(pieces: &Pieces, daily: bool) -> ((f64, f64), Vec<(f64, f64)>) {
    let mut expected = (0.0, 0.0);
    let mut day_expected = vec![(0.0, 0.0); if daily { pieces.dates.len() } else { 0 }];
    for j in 0..pieces.len() {
        let h = pieces.hours(j);
        let day = day_expected.get_mut(pieces.day_idx[j] as usize);
        for hours in std::iter::once(&mut expected).chain(day) {
            match pieces.is_day[j] {
                true => hours.0 += h,
                false => hours.1 += h,
            }
        }
    }
    (expected, day_expected)
}
