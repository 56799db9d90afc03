//! Time-window compaction: which windows to rewrite ([`plan`]) and the rewrite itself
//! ([`run`]). The rules, and why they keep the newest write winning, are in the
//! "Compaction" section of `docs/FORMAT.md`.
//!
//! The heavy part, [`run`], reads sealed segments through their mappings and writes a new
//! file; it takes no lock. The store reserves the output's sequence number while no flush
//! is in flight and publishes the result under its manifest lock.

use super::flush::{WindowWriter, Written};
use super::options::CompactionOptions;
use super::read::{merge_runs, Run};
use super::window::Window;
use crate::engine::state::State;
use crate::error::Result;
use crate::segment::Coding;
use crate::segment::Segment;
use crate::types::UtcOffset;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Which windows [`plan`] picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The policy of [`CompactionOptions`].
    Policy,
    /// Every window with more than one segment.
    All,
    /// Every window eligible for the cold tier that is not one cold segment yet (see
    /// [`cold_eligible`]).
    Cold,
}

/// Whether the window ending at `end` goes to the cold tier: it ended
/// [`CompactionOptions::cold_after`] before `newest`; for [`Mode::Cold`] with
/// `cold_after` off, once it ended before `newest`.
fn cold_eligible(end: i64, opts: &CompactionOptions, newest: i64, mode: Mode) -> bool {
    let after = match (opts.cold_after, mode) {
        (Some(after), _) => after,
        (None, Mode::Cold) => 0,
        (None, _) => return false,
    };
    end.saturating_add(after) <= newest
}

/// One window to rewrite.
pub(crate) struct Job {
    /// The window, `[start, end)`.
    pub start: i64,
    pub end: i64,
    /// Every live segment with readings in the window, as `(seq, segment)`, oldest first.
    pub inputs: Vec<(u64, Arc<Segment>)>,
    /// Sequence number of the output, reserved by the store.
    pub out_seq: u64,
    /// Whether the output is a cold segment.
    pub cold: bool,
}

/// What compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Windows rewritten.
    pub windows: usize,
    /// Segment files replaced.
    pub segments_in: usize,
    /// Segment files written.
    pub segments_out: usize,
    /// Bytes of the replaced files.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Readings written.
    pub readings_written: u64,
}

/// `(first, last)` timestamp of a segment; `None` when it holds no readings.
pub(crate) fn span(seg: &Segment) -> Option<(i64, i64)> {
    let first = seg.blocks().iter().map(|b| b.t_first).min()?;
    let last = seg.blocks().iter().map(|b| b.t_last).max()?;
    Some((first, last))
}

/// The windows a segment's readings fall in, in time order. Segments written by this
/// version hold one window; older stores (or a changed window option) may hold several.
pub(crate) fn windows_of(seg: &Segment, window: Window, off: UtcOffset) -> Vec<i64> {
    match span(seg) {
        Some((first, last)) => window_starts(first, last, window, off),
        None => Vec::new(),
    }
}

/// Starts of the windows that `[first, last]` touches.
fn window_starts(first: i64, last: i64, window: Window, off: UtcOffset) -> Vec<i64> {
    let mut out = vec![window.start(first, off)];
    // Window ends saturate at the ends of i64: stop where they no longer advance.
    let mut end = window.end(first, off);
    while end <= last && out.last().is_some_and(|&prev| end > prev) {
        out.push(end);
        end = window.end(end, off);
    }
    out
}

#[cfg(test)]
#[test]
fn window_starts_end_at_the_ends_of_i64() {
    for w in [Window::Month, Window::Days(1), Window::Days(30)] {
        for off in [UtcOffset::CHINA, UtcOffset::UTC] {
            let top = window_starts(i64::MAX - 8, i64::MAX - 8, w, off);
            assert!(top.len() <= 2, "{w:?} {top:?}");
            let all = window_starts(i64::MIN, i64::MIN + 3 * 86_400, w, off);
            assert!(all.len() <= 5, "{w:?} {all:?}");
        }
    }
}

/// Picks the windows to rewrite now (output seqs left at 0 for the store to reserve).
/// A window touched by a segment that spans several windows is always picked, together
/// with every other window that segment touches, so that the segment can go.
pub(crate) fn plan(
    st: &State,
    window: Window,
    off: UtcOffset,
    opts: &CompactionOptions,
    newest: i64,
    mode: Mode,
) -> Vec<Job> {
    // window start -> (segment indexes oldest first, forced)
    let mut by_window: BTreeMap<i64, (Vec<usize>, bool)> = BTreeMap::new();
    for (i, seg) in st.segments.iter().enumerate() {
        let ws = windows_of(seg, window, off);
        let multi = ws.len() > 1;
        for w in ws {
            let e = by_window.entry(w).or_default();
            e.0.push(i);
            e.1 |= multi;
        }
    }
    let mut jobs = Vec::new();
    for (start, (segs, forced)) in by_window {
        let end = window.end(start, off);
        let cold = cold_eligible(end, opts, newest, mode);
        let cold_already = segs.len() == 1 && st.segments[segs[0]].is_cold();
        let pick = forced
            || cold && !cold_already
            || segs.len() > 1
                && match mode {
                    Mode::All => true,
                    Mode::Cold => false,
                    Mode::Policy => {
                        let sizes: Vec<u64> =
                            segs.iter().map(|&i| st.segments[i].file_len()).collect();
                        let newer: u64 = sizes[1..].iter().sum();
                        newer as f64 >= opts.ratio * sizes[0] as f64
                            || segs.len() > opts.max_segments_per_window
                            || end.saturating_add(opts.settle_s) <= newest
                    }
                };
        if pick {
            let inputs = segs
                .iter()
                .map(|&i| (st.manifest.segments[i], st.segments[i].clone()))
                .collect();
            jobs.push(Job {
                start,
                end,
                inputs,
                out_seq: 0,
                cold,
            });
        }
    }
    jobs
}

/// Rewrites one window: every meter's readings in `[job.start, job.end)` from every
/// input, merged so that the newest input wins, into one segment with one block per
/// meter per month (up to 4096 readings). `None` when the inputs hold nothing in the
/// window. On error nothing is left on disk.
pub(crate) fn run(
    dir: &Path,
    job: &Job,
    window: Window,
    off: UtcOffset,
) -> Result<Option<Written>> {
    let mut meters: Vec<u32> = job.inputs.iter().flat_map(|(_, s)| s.meter_ids()).collect();
    meters.sort_unstable();
    meters.dedup();
    if meters.is_empty() {
        return Ok(None);
    }
    let res = (|| {
        let coding = match job.cold {
            true => Coding::Cold,
            false => Coding::Zstd,
        };
        let mut w = WindowWriter::create(dir, job.out_seq, window, off, coding)?;
        let (mut scratch, mut ints) = (Vec::new(), Vec::new());
        let mut any = false;
        let mut hot_sizes = Vec::new();
        for m in meters {
            let mut runs = Vec::with_capacity(job.inputs.len());
            hot_sizes.clear();
            for (_, seg) in &job.inputs {
                let mut run = Run::default();
                for b in seg.meter_blocks(m) {
                    let e = &seg.blocks()[b];
                    if e.t_last < job.start || e.t_first >= job.end {
                        continue;
                    }
                    let from = run.ts.len();
                    seg.read_block_flags(b, &mut scratch, &mut ints, &mut run)?;
                    let inside = e.t_first >= job.start && e.t_last < job.end;
                    hot_sizes.extend(seg.hot_size(b).filter(|_| job.cold && inside));
                    if !inside {
                        // Only segments from before per-window flushes get here.
                        let mut kept = Run::default();
                        for k in 0..run.ts.len() {
                            if k < from || (job.start..job.end).contains(&run.ts[k]) {
                                kept.push_from(&run, k);
                            }
                        }
                        run = kept;
                    }
                }
                runs.push(run);
            }
            // A block's hot size holds for the output only when no other segment adds
            // readings of this meter (that could overwrite some).
            if runs.iter().filter(|r| !r.ts.is_empty()).count() > 1 {
                hot_sizes.clear();
            }
            let run = merge_runs(runs);
            if !run.ts.is_empty() {
                w.add(m, &run.ts, &run.vals, &run.flags, &hot_sizes)?;
                any = true;
            }
        }
        if !any {
            drop(w);
            return Ok(None);
        }
        w.finish().map(Some)
    })();
    if !matches!(res, Ok(Some(_))) {
        super::flush::discard(dir, &[job.out_seq]);
    }
    res
}
