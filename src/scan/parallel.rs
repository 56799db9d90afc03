//! Parallel workers: meters handed out in chunks, each chunk's blocks visited segment by
//! segment, and each worker's results sorted by id.

use super::accumulate::Acc;
use super::block::{scan_block, scan_memtables, Scratch};
use super::order::{by_id, merge_in_id_order, with_room_for_all, IdKey};
use super::plan::{plan_meter, Grids, Plan, ScanPlan};
use super::register::{scan_register_block, scan_register_memtables};
use super::result::{DayNightScan, MeterDayNight};
use super::windows::Pieces;
use crate::engine::read::{for_each_source_span, prefetch_sources};
use crate::engine::state::State;
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Meters scanned together: their blocks are visited segment by segment, meter by meter,
/// which is the order they lie in the segment files (so reads are sequential).
const CHUNK: usize = 16;

/// Scans `meters` (at most [`CHUNK`]) into `work.accs`, meter `j` into `accs[j]` with its
/// plan in `plans[j]`.
fn scan_chunk(
    state: &State,
    meters: &[u32],
    pieces: &Pieces,
    grids: &Grids,
    work: &mut ChunkWork,
    daily: bool,
) -> Result<()> {
    let ChunkWork {
        accs,
        sources,
        plans,
        scratch,
    } = work;
    // Each block-scanned meter's grid, looked up once rather than per segment; its
    // sources in segment order (checked disjoint already), so that each segment's blocks
    // are the next ones from a cursor.
    let mut grid_of = [None; CHUNK];
    let mut next = [0usize; CHUNK];
    for s in &mut sources[..meters.len()] {
        s.clear();
    }
    let range = pieces.cuts[0]..pieces.cuts[pieces.len()];
    for_each_source_span(state, meters, &range, |j, s| sources[j].push(s));
    for (j, &m) in meters.iter().enumerate() {
        plans[j] = plan_meter(
            state,
            m,
            pieces,
            grids,
            &mut accs[j],
            &mut sources[j],
            daily,
        )?;
        if let Plan::Blocks { step, .. } | Plan::Register { step } = plans[j] {
            grid_of[j] = grids.get(&step);
            sources[j].sort_unstable_by_key(|s| s.0);
        }
    }
    for k in 0..state.segments.len() {
        for (j, &m) in meters.iter().enumerate() {
            let Some((grid, periodic)) = grid_of[j] else {
                continue;
            };
            while let Some(&(_, b, _, _)) = sources[j].get(next[j]).filter(|s| s.0 == k) {
                match plans[j] {
                    Plan::Blocks { step, mult } => scan_block(
                        state,
                        (k, b),
                        step as i64,
                        mult,
                        pieces,
                        (grid.as_slice(), periodic.as_ref()),
                        &mut accs[j],
                        scratch,
                    )?,
                    Plan::Register { step } => scan_register_block(
                        state,
                        m,
                        (k, b),
                        step as i64,
                        pieces,
                        periodic.as_ref(),
                        &sources[j],
                        &mut accs[j],
                        scratch,
                    )?,
                    Plan::Skip | Plan::Done => {}
                }
                next[j] += 1;
            }
        }
    }
    for (j, &m) in meters.iter().enumerate() {
        match plans[j] {
            Plan::Blocks { step, mult } => {
                scan_memtables(state, m, step as i64, mult, pieces, &mut accs[j])
            }
            Plan::Register { step } => {
                scan_register_memtables(state, m, step as i64, pieces, &sources[j], &mut accs[j])
            }
            Plan::Skip | Plan::Done => {}
        }
    }
    Ok(())
}

/// A worker's state for [`scan_chunk`], reused across chunks.
struct ChunkWork {
    accs: Vec<Acc>,
    sources: Vec<Vec<(usize, usize, i64, i64)>>,
    plans: Vec<Plan>,
    scratch: Scratch,
}

impl ChunkWork {
    fn new() -> ChunkWork {
        ChunkWork {
            accs: (0..CHUNK).map(|_| Acc::new()).collect(),
            sources: vec![Vec::new(); CHUNK],
            plans: vec![Plan::Skip; CHUNK],
            scratch: Scratch::default(),
        }
    }
}

/// Runs `plan` on `scan.threads` workers (one of them the calling thread) and returns the
/// results in id order.
pub(super) fn scan_in_parallel(
    state: &State,
    plan: &ScanPlan,
    scan: &DayNightScan,
) -> Result<Vec<MeterDayNight>> {
    let ScanPlan {
        selected,
        pieces,
        grids,
        expected,
        day_expected,
    } = plan;
    let threads = match scan.threads {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    }
    .min(selected.len().max(1));
    let next = AtomicUsize::new(0);
    // The started workers' results, each list in id order (see `merge_in_id_order`).
    let results: Mutex<Vec<Vec<(IdKey, MeterDayNight)>>> = Mutex::new(Vec::new());
    let first_err: Mutex<Option<Error>> = Mutex::new(None);
    // One worker runs on the calling thread (`caller`): a scan on one thread starts
    // none. Its list, returned, is the one the others' are merged into.
    let worker = |caller: bool| {
        let mut work = ChunkWork::new();
        let mut mine = match caller && threads > 1 {
            true => with_room_for_all(selected.len()),
            false => Vec::with_capacity(selected.len() / threads + CHUNK),
        };
        // Meters are handed out in chunks: big enough to read each segment
        // sequentially and keep the counter off the hot path, small enough to
        // balance uneven meters. A worker takes its next chunk before scanning
        // the current one, to prefetch that chunk's index entries.
        let chunk_at = |i: usize| &selected[i.min(selected.len())..(i + CHUNK).min(selected.len())];
        let mut i = next.fetch_add(CHUNK, Ordering::Relaxed);
        while i < selected.len() {
            let ahead = next.fetch_add(CHUNK, Ordering::Relaxed);
            prefetch_sources(state, chunk_at(ahead));
            let chunk = chunk_at(i);
            i = ahead;
            if let Err(err) = scan_chunk(state, chunk, pieces, grids, &mut work, scan.daily) {
                first_err
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .get_or_insert(err);
                next.store(selected.len(), Ordering::Relaxed);
                return mine;
            }
            for (j, &m) in chunk.iter().enumerate() {
                let acc = &mut work.accs[j];
                if matches!(work.plans[j], Plan::Skip) || acc.readings == 0 {
                    continue;
                }
                let day_expected = scan.daily.then_some(day_expected.as_slice());
                let (total, daily) = acc.results(pieces, *expected, day_expected, scan.threshold);
                let meter = state.meters.ids()[m as usize].clone();
                mine.push((
                    IdKey::of(&meter),
                    MeterDayNight {
                        meter,
                        total,
                        daily,
                    },
                ));
            }
        }
        // Chunks go out in dense-id order, which is id order when meters were
        // registered in order: then the sort only checks.
        mine.sort_unstable_by(by_id);
        mine
    };
    let own = std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(|| {
                let mine = worker(false);
                results
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(mine);
            });
        }
        worker(true)
    });
    if let Some(err) = first_err
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
    {
        return Err(err);
    }
    let results = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok(merge_in_id_order(own, results))
}
