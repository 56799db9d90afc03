//! The general path: a meter's readings merged from every source, one at a time (meters
//! whose sources overlap, irregular meters and cumulative registers).

use super::accumulate::{assign, Acc};
use super::windows::Pieces;
use crate::engine::read::{collect_runs, merge_runs, Run};
use crate::engine::state::State;
use crate::error::Result;
use crate::types::{MeterMeta, Quantity};

/// Longest time one reading of an irregular meter is taken to cover (seconds): a longer
/// silence is a gap, not a reading that lasted; an hour is four times the default
/// 15-minute interval.
pub(super) const MAX_IRREGULAR_COVER_S: i64 = 3600;

/// General path: merged readings of every source, one at a time.
pub(super) fn scan_merged(
    state: &State,
    meter: u32,
    meta: &MeterMeta,
    pieces: &Pieces,
    acc: &mut Acc,
) -> Result<()> {
    let range = pieces.cuts[0]..pieces.cuts[pieces.len()];
    // A cumulative register needs the reading after the range end for the last difference.
    let read_range = match meta.kind {
        Quantity::CumulativeRegister => {
            range.start
                ..range.end.saturating_add(
                    MAX_IRREGULAR_COVER_S.max(meta.interval_s.unwrap_or(0) as i64) + 1,
                )
        }
        _ => range.clone(),
    };
    let Run { ts, vals, .. } = merge_runs(collect_runs(state, meter, &read_range, |_, _| false)?);
    let cover = |i: usize| -> Option<i64> {
        match meta.interval_s {
            Some(s) => Some(s as i64),
            None => {
                let gap = match ts.get(i + 1) {
                    Some(n) => n - ts[i],
                    None if i > 0 => ts[i] - ts[i - 1],
                    None => return None,
                };
                Some(gap.min(MAX_IRREGULAR_COVER_S))
            }
        }
    };
    match meta.kind {
        Quantity::IntervalEnergy => assign(pieces, &ts, acc, |i| Some((vals[i], cover(i)? as f64))),
        Quantity::Power => assign(pieces, &ts, acc, |i| {
            let s = cover(i)? as f64;
            Some((vals[i] * s / 3600.0, s))
        }),
        Quantity::CumulativeRegister => assign(pieces, &ts, acc, |i| {
            let next = *ts.get(i + 1)?;
            let gap = next - ts[i];
            let ok = match meta.interval_s {
                Some(s) => gap == s as i64,
                None => gap <= MAX_IRREGULAR_COVER_S,
            };
            let diff = vals[i + 1] - vals[i];
            // Across a gap the energy's spread is unknown; a negative step is a rollover or
            // meter replacement. Both are left out rather than guessed.
            (ok && diff >= 0.0).then_some((diff, gap as f64))
        }),
        Quantity::Other => {}
    }
    Ok(())
}
