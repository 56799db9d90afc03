//! The periodic day pattern of one meter interval: a reading's class as a function of its
//! grid slot, and the phase runs the periodic kernel takes.

use super::kernel::{ClassMask, PhaseRun};
use super::windows::{DayWindow, Pieces, Zone};

/// The day/night pattern over one day of grid slots, with the stretches of constant UTC
/// offset of the scanned range: slot `g` of Unix time (`t = g * step`) in a stretch whose
/// offset is `shift` slots has phase `(g + shift) % period`, marked when it is day. A fixed
/// offset has one stretch; a zone with daylight saving one per change of offset, so a
/// reading is classed by the local time of its start either way.
pub(super) struct Periodic {
    /// `(first grid slot, shift)` of each stretch, in order; the first from the start.
    pub(super) shifts: Vec<(i64, i64)>,
    pub(super) mask: ClassMask,
    /// With per-day results: the first grid slot of each local date after the first of
    /// the pieces (a reading at slot `g` is on date `#(day_slots <= g)`).
    pub(super) day_slots: Option<Vec<i64>>,
}

impl Periodic {
    /// The pattern for meters of interval `step` s over `range`; `None` unless the step
    /// divides a day and every offset in force is a whole number of steps.
    pub(super) fn new(
        step: u32,
        window: DayWindow,
        zone: &Zone,
        pieces: &Pieces,
        daily: bool,
    ) -> Option<Periodic> {
        let range = pieces.cuts[0]..pieces.cuts[pieces.len()];
        let step = step as i64;
        if 86_400 % step != 0 {
            return None;
        }
        // Each change of offset starts a stretch at the first grid slot at or after it.
        let shifts = zone
            .stretches(range.start, range.end)
            .into_iter()
            .map(|(t, off)| {
                let off = off as i64;
                (off.rem_euclid(step) == 0).then_some((slot_at_or_after(t, step), off / step))
            })
            .collect::<Option<Vec<_>>>()?;
        let period = (86_400 / step) as usize;
        let (a, b) = (window.start_min() as i64 * 60, window.end_min() as i64 * 60);
        let is_day: Vec<bool> = (0..period)
            .map(|phase| {
                let s = phase as i64 * step;
                if a < b {
                    s >= a && s < b
                } else {
                    s >= a || s < b
                }
            })
            .collect();
        let day_slots = daily.then(|| {
            (1..pieces.len())
                .filter(|&j| pieces.day_idx[j] != pieces.day_idx[j - 1])
                .map(|j| slot_at_or_after(pieces.cuts[j], step))
                .collect()
        });
        Some(Periodic {
            shifts,
            mask: ClassMask::new(&is_day),
            day_slots,
        })
    }

    /// Whether the reading at grid slot `g` is in the day window, and its date's index
    /// among the scan's dates (with per-day results).
    #[inline]
    pub(super) fn classify(&self, g: i64) -> (bool, Option<usize>) {
        let i = self.shifts.partition_point(|s| s.0 <= g).saturating_sub(1);
        let day = self
            .mask
            .is_marked(self.mask.phase_of(g + self.shifts[i].1));
        let date = self
            .day_slots
            .as_ref()
            .map(|ds| ds.partition_point(|&d| d <= g));
        (day, date)
    }

    /// Appends the phase runs of `len` values at grid slots `g..g + len` (no gaps), the
    /// first being value `v0` of its column: one run, cut where the offset changes.
    #[inline(always)]
    pub(super) fn push_runs(&self, v0: usize, g: i64, len: usize, out: &mut Vec<PhaseRun>) {
        // A fixed offset: one stretch, no search (inlined into the caller's loop over a
        // block's gaps).
        if let [(_, shift)] = self.shifts[..] {
            out.push(PhaseRun {
                start: v0,
                phase: self.mask.phase_of(g + shift),
            });
            return;
        }
        self.push_shifted_runs(v0, g, len, out);
    }

    /// [`Periodic::push_runs`] where the offset changes within the range.
    #[inline(never)]
    fn push_shifted_runs(&self, v0: usize, g: i64, len: usize, out: &mut Vec<PhaseRun>) {
        let phase = |slot: i64, shift: i64| self.mask.phase_of(slot + shift);
        let i = self.shifts.partition_point(|s| s.0 <= g).saturating_sub(1);
        out.push(PhaseRun {
            start: v0,
            phase: phase(g, self.shifts[i].1),
        });
        for &(at, shift) in self.shifts[i + 1..]
            .iter()
            .take_while(|s| s.0 < g + len as i64)
        {
            out.push(PhaseRun {
                start: v0 + (at - g) as usize,
                phase: phase(at, shift),
            });
        }
    }
}

/// The first slot of a grid of `step` seconds (slot `g` at `g * step`) at or after `t`.
pub(super) fn slot_at_or_after(t: i64, step: i64) -> i64 {
    t.div_euclid(step) + (t.rem_euclid(step) != 0) as i64
}
