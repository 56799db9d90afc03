//! Class masks and phase runs: which lanes of each mini-block a periodic class pattern
//! marks, stepped from one mini-block to the next and pieced together at gaps.

use crate::codec::bitpack::MINI_LEN;
#[cfg(doc)]
use crate::codec::ints::IntColumn;

/// A periodic class pattern for [`IntColumn::class_sums`]: a value at phase `p`
/// (`0 <= p < period`) is marked when `marked[p]`.
#[derive(Debug, Clone)]
pub struct ClassMask {
    pub(super) period: usize,
    /// How far the phase moves from one mini-block to the next: `64 % period`.
    pub(super) step: usize,
    /// `u32::MAX` for marked phases, 0 otherwise; `period + 64` entries, so that the 64
    /// lanes of a mini-block starting at any phase are one contiguous window.
    pub(super) lanes: Vec<u32>,
    /// Per phase `p`: bit `i` set when phase `p + i` is marked, for the 64 lanes.
    pub(super) bits: Vec<u64>,
    /// `u64::MAX / period + 1`, for [`ClassMask::phase_of`].
    pub(super) magic: u64,
    /// Per phase `p`: the phase 64 values on, `(p + 64) % period` (a table lookup keeps
    /// the period and step out of the kernel loop's registers).
    pub(super) next: Vec<u32>,
    /// Per phase `p`, 64 bytes: byte `j` is the number of marked lanes `i >= j` of a
    /// mini-block whose lane 0 is at phase `p` (`suffix_counts` of `bits[p]`), the weight
    /// of a stored delta in the marked sum of a delta-mode mini-block.
    pub(super) weights: Vec<u8>,
    /// Per phase `p`: the sum of its 64 weights.
    pub(super) weight_sums: Vec<u32>,
}

impl ClassMask {
    /// The pattern with period `marked.len()`, which must not be zero.
    pub fn new(marked: &[bool]) -> ClassMask {
        let period = marked.len();
        assert!(period > 0, "a class pattern needs a period");
        let lanes: Vec<u32> = (0..period + MINI_LEN)
            .map(|p| if marked[p % period] { u32::MAX } else { 0 })
            .collect();
        let bits: Vec<u64> = (0..period)
            .map(|p| (0..MINI_LEN).fold(0u64, |acc, i| acc | ((lanes[p + i] & 1) as u64) << i))
            .collect();
        let mut weights = vec![0u8; period * MINI_LEN];
        for (row, &b) in weights.chunks_exact_mut(MINI_LEN).zip(&bits) {
            suffix_counts(b, row.try_into().expect("64 weights"));
        }
        ClassMask {
            weight_sums: bits.iter().map(|&b| set_weight(b)).collect(),
            weights,
            period,
            step: MINI_LEN % period,
            lanes,
            bits,
            magic: (u64::MAX / period as u64).wrapping_add(1),
            next: (0..period)
                .map(|p| ((p + MINI_LEN) % period) as u32)
                .collect(),
        }
    }

    /// `x` modulo the period (Euclidean). The scan takes a phase for every run of a block,
    /// so from 0 to 2^32 this is Lemire's multiply-only remainder (exact for every 32-bit
    /// `x` and period) rather than `rem_euclid`, which divides.
    #[inline(always)]
    pub(crate) fn phase_of(&self, x: i64) -> usize {
        match u32::try_from(x) {
            Ok(x) => {
                let low = self.magic.wrapping_mul(x as u64);
                ((low as u128 * self.period as u128) >> 64) as usize
            }
            Err(_) => x.rem_euclid(self.period as i64) as usize,
        }
    }

    /// Whether phase `p` (below the period) is marked.
    #[inline]
    pub(crate) fn is_marked(&self, p: usize) -> bool {
        self.lanes[p] != 0
    }

    /// The pattern's period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The phase of lane 0 of the mini-block after one whose lane 0 is at `phase`.
    #[inline(always)]
    pub(super) fn next_phase(&self, phase: usize) -> usize {
        self.next[phase] as usize
    }

    /// The phase of lane 0 of the mini-block before one whose lane 0 is at `phase`.
    #[inline(always)]
    pub(super) fn prev_phase(&self, phase: usize) -> usize {
        if phase >= self.step {
            phase - self.step
        } else {
            phase + self.period - self.step
        }
    }
}

/// A stretch of a column whose values have consecutive phases: value `start + i` has
/// phase `(phase + i) % period`, up to the next stretch's start. Stretches split a regular
/// series at its gaps (a gap of `n` slots moves the phase of the values after it by `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseRun {
    /// First value index.
    pub start: usize,
    /// Phase of that value, below the pattern's period.
    pub phase: usize,
}

/// Byte `l` of entry `b`: the number of set bits of `b` at or above bit `l`.
static SUFFIX8: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut l = 0;
        while l < 8 {
            t[b] |= ((b >> l).count_ones() as u64) << (8 * l);
            l += 1;
        }
        b += 1;
    }
    t
};

/// Writes to `row[j]` the number of set bits of `set` at or above bit `j`: the weight of
/// lane `j`'s delta in the sum of the values of the lanes in `set` (a value is the sum of
/// the deltas up to its lane). Eight table words, each raised by the bits above its byte.
#[inline(always)]
pub(super) fn suffix_counts(set: u64, row: &mut [u8; MINI_LEN]) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut above = 0u64;
    for g in (0..8).rev() {
        let b = (set >> (8 * g)) as u8;
        // No carries: every byte ends at most 64.
        let w = SUFFIX8[b as usize] + ONES * above;
        row[8 * g..8 * g + 8].copy_from_slice(&w.to_le_bytes());
        above += b.count_ones() as u64;
    }
}

/// The sum of the weights [`suffix_counts`] gives `set`: `sum of (i + 1)` over its bits,
/// the bit positions summed bit plane by bit plane.
#[inline(always)]
pub(super) fn set_weight(set: u64) -> u32 {
    const PLANES: [u64; 6] = [
        0xaaaa_aaaa_aaaa_aaaa,
        0xcccc_cccc_cccc_cccc,
        0xf0f0_f0f0_f0f0_f0f0,
        0xff00_ff00_ff00_ff00,
        0xffff_0000_ffff_0000,
        0xffff_ffff_0000_0000,
    ];
    let mut s = set.count_ones();
    for (k, p) in PLANES.iter().enumerate() {
        s += (set & p).count_ones() << k;
    }
    s
}

/// Bits `a..b` of a 64-bit lane mask (`a <= b <= 64`).
#[inline(always)]
pub(super) fn lane_bits(a: usize, b: usize) -> u64 {
    let upto = |n: usize| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    upto(b) & !upto(a)
}

/// The 8 lanes (`u32::MAX` or 0) of each byte of a lane bitmask: a mini-block's 64 lanes
/// are spread from its bits in 8 table copies rather than a loop over the bits.
static BYTE_LANES: [[u32; 8]; 256] = {
    let mut t = [[0u32; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut j = 0;
        while j < 8 {
            if b >> j & 1 == 1 {
                t[b][j] = u32::MAX;
            }
            j += 1;
        }
        b += 1;
    }
    t
};

/// The class lanes of one mini-block after another, for [`IntColumn::class_sums`].
pub(super) struct MaskWalk<'m> {
    pub(super) mask: &'m ClassMask,
    pub(super) runs: &'m [PhaseRun],
    pub(super) to: usize,
    /// The run holding the first in-range lane of the next mini-block.
    pub(super) r: usize,
    /// Phase of lane 0 of the previous mini-block if it lay wholly in run `r`.
    pub(super) last: Option<usize>,
    /// With `last`: where run `r` or the range ends, so a mini-block ending before it is
    /// whole and in run `r`.
    pub(super) clear_until: usize,
    /// The lanes of a mini-block that spans runs, written whole before each use.
    pub(super) merged: [u32; MINI_LEN],
}

/// Class lanes of one mini-block: `u32::MAX` lanes of marked values (garbage outside
/// `range`), the same as bits, and the bits of the lanes in `from..to`.
pub(super) struct MiniMask<'w> {
    pub(super) lanes: &'w [u32; MINI_LEN],
    pub(super) marked: u64,
    pub(super) range: u64,
}

impl MiniMask<'_> {
    /// Adds decoded values to `(marked sum, total sum, marked count)`, lane by lane.
    pub(super) fn add_values(&self, vals: &[i64; MINI_LEN], sums: &mut (i128, i128, u64)) {
        for (i, &v) in vals.iter().enumerate() {
            if self.range >> i & 1 == 1 {
                sums.1 += v as i128;
                if self.marked >> i & 1 == 1 {
                    sums.0 += v as i128;
                    sums.2 += 1;
                }
            }
        }
    }
}

impl<'m> MaskWalk<'m> {
    pub(super) fn new(mask: &'m ClassMask, runs: &'m [PhaseRun], to: usize) -> Self {
        MaskWalk {
            mask,
            runs,
            to,
            r: 0,
            last: None,
            clear_until: 0,
            merged: [0; MINI_LEN],
        }
    }

    /// When the mini-block starting at value `lo` and the ones after it lie wholly in the
    /// range and in one run: the phase of its lane 0 and where that run (or the range)
    /// ends. Mini-blocks must come in order, as for [`MaskWalk::next`].
    #[inline(always)]
    pub(super) fn whole_from(&mut self, lo: usize) -> Option<(usize, usize)> {
        let runs = self.runs;
        if lo < runs[0].start {
            return None;
        }
        while self.r + 1 < runs.len() && runs[self.r + 1].start <= lo {
            self.r += 1;
            self.last = None;
        }
        let end = runs
            .get(self.r + 1)
            .map_or(self.to, |n| n.start.min(self.to));
        (lo + MINI_LEN <= end).then(|| (self.lane0_phase(lo), end))
    }

    /// After [`MaskWalk::whole_from`] found the mini-block starting at value `lo` not
    /// whole in one run: the phase of its lane 0 and where its run ends, when that run
    /// ends inside it (a gap in the series; not the range's end).
    #[inline(always)]
    pub(super) fn gap_at(&self, lo: usize) -> Option<(usize, usize)> {
        let end = self.run_end();
        (lo >= self.runs[0].start && lo < end && end < lo + MINI_LEN && end < self.to)
            .then(|| (self.lane0_phase(lo), end))
    }

    /// Where run `r` ends: the next run's start, or the walk's end.
    #[inline(always)]
    pub(super) fn run_end(&self) -> usize {
        self.runs
            .get(self.r + 1)
            .map_or(self.to, |n| n.start.min(self.to))
    }

    /// The phase of lane 0 of the mini-block at `lo`, in run `r`: stepped from `last`
    /// (lane 0 of the mini-block before, in the same run) when set, which saves a division.
    #[inline(always)]
    pub(super) fn lane0_phase(&self, lo: usize) -> usize {
        match self.last {
            Some(prev) => self.mask.next_phase(prev),
            None => phase_at(self.runs[self.r], lo, self.mask),
        }
    }

    /// Records that whole mini-blocks of the current run were summed without
    /// [`MaskWalk::next`], the last one with lane 0 at `phase`; the run ends at `end`.
    #[inline(always)]
    pub(super) fn skipped(&mut self, phase: usize, end: usize) {
        self.last = Some(phase);
        self.clear_until = end;
    }

    /// The lanes of the mini-block starting at value `lo`; mini-blocks must come in order.
    #[inline(always)]
    pub(super) fn next(&mut self, lo: usize) -> MiniMask<'_> {
        let runs = self.runs;
        // The common case: a whole mini-block in the same run as the previous one.
        if let Some(prev) = self.last.filter(|_| lo + MINI_LEN <= self.clear_until) {
            let p = self.mask.next_phase(prev);
            self.last = Some(p);
            return MiniMask {
                lanes: self.mask.lanes[p..p + MINI_LEN]
                    .try_into()
                    .expect("64 lanes"),
                marked: self.mask.bits[p],
                range: u64::MAX,
            };
        }
        let a = runs[0].start.max(lo) - lo;
        let b = self.to.min(lo + MINI_LEN) - lo;
        let range = lane_bits(a, b);
        while self.r + 1 < runs.len() && runs[self.r + 1].start <= lo + a {
            self.r += 1;
            self.last = None;
        }
        let single = self.r + 1 == runs.len() || runs[self.r + 1].start >= lo + b;
        if single {
            let p = self.lane0_phase(lo);
            self.last = Some(p);
            self.clear_until = runs
                .get(self.r + 1)
                .map_or(self.to, |n| n.start.min(self.to));
            return MiniMask {
                lanes: self.mask.lanes[p..p + MINI_LEN]
                    .try_into()
                    .expect("64 lanes"),
                marked: self.mask.bits[p] & range,
                range,
            };
        }
        // Gaps inside this mini-block: piece the bits together run by run, then spread
        // them to lanes.
        self.last = None;
        let marked = self.piece(lo, a, b);
        MiniMask {
            lanes: self.spread(marked),
            marked,
            range,
        }
    }

    /// The marked bits of lanes `a..b` of the mini-block at value `lo`, whose lane `a`
    /// lies in run `r`, pieced together run by run; leaves `r` at the run of lane `b - 1`.
    #[inline(always)]
    pub(super) fn piece(&mut self, lo: usize, a: usize, b: usize) -> u64 {
        let runs = self.runs;
        let mut marked = 0u64;
        let mut i = a;
        while i < b {
            let run = runs[self.r];
            let end = runs.get(self.r + 1).map_or(b, |n| (n.start - lo).min(b));
            let p = phase_at(run, lo + i, self.mask);
            marked |= (self.mask.bits[p] << i) & lane_bits(i, end);
            i = end;
            if end < b {
                self.r += 1;
            }
        }
        marked
    }

    /// Crosses the whole mini-block at value `lo`, whose lane 0 is at `phase` in run `r`
    /// and inside which run `r` ends (`lo < run_end < lo + 64`, where run `r + 1`
    /// starts): its marked lanes pieced from the runs it holds. Leaves `r` at the run that
    /// holds the next mini-block's lane 0. A gap in a regular series costs the kernels this
    /// and the spread of the lanes, not a pass of their general loop.
    #[inline(always)]
    pub(super) fn cross(&mut self, lo: usize, phase: usize, run_end: usize) -> Crossing {
        let (mask, runs) = (self.mask, self.runs);
        let end = lo + MINI_LEN;
        debug_assert!(lo < run_end && run_end < end && runs[self.r + 1].start == run_end);
        let mut crossing = if runs.get(self.r + 2).is_some_and(|n| n.start < end) {
            // Several runs start inside: pieced run by run.
            let marked = self.piece(lo, 0, MINI_LEN);
            Crossing {
                marked,
                next_phase: phase_at(runs[self.r], end, mask),
                single: None,
            }
        } else {
            // One run starts inside, at lane `c` (a single gap, the common case).
            self.r += 1;
            let c = run_end - lo;
            let q = window_from(runs[self.r], lo, c, mask);
            Crossing {
                marked: (mask.bits[phase] & lane_bits(0, c))
                    | (mask.bits[q] & lane_bits(c, MINI_LEN)),
                next_phase: mask.next_phase(q),
                single: Some((c, q)),
            }
        };
        // A run that starts with the next mini-block.
        if let Some(n) = runs.get(self.r + 1).filter(|n| n.start == end) {
            self.r += 1;
            crossing.next_phase = n.phase;
        }
        crossing
    }

    /// The lanes of `marked` bits, in the walk's buffer (8 table copies rather than a
    /// loop over the bits).
    #[inline(always)]
    pub(super) fn spread(&mut self, marked: u64) -> &[u32; MINI_LEN] {
        for (g, lanes) in self.merged.chunks_exact_mut(8).enumerate() {
            lanes.copy_from_slice(&BYTE_LANES[(marked >> (8 * g)) as u8 as usize]);
        }
        &self.merged
    }
}

/// A whole mini-block that phase runs start inside, as [`MaskWalk::cross`] finds it.
pub(super) struct Crossing {
    /// Its marked lanes.
    pub(super) marked: u64,
    /// The phase of the next mini-block's lane 0.
    pub(super) next_phase: usize,
    /// With one run starting inside, at lane `c`: `(c, q)`, where the lanes from `c` on
    /// are those of the pattern's window at phase `q` and the others those of the window
    /// at the mini-block's phase.
    pub(super) single: Option<(usize, usize)>,
}

/// The phase of the pattern's window that the lanes of the mini-block at value `lo` from
/// lane `c` on read when `run` starts at that lane: lane `i >= c` is at phase
/// `run.phase + i - c`, lane `i` of the window at the phase returned (below the period).
#[inline(always)]
pub(super) fn window_from(run: PhaseRun, lo: usize, c: usize, mask: &ClassMask) -> usize {
    if run.phase >= c {
        run.phase - c
    } else if c - run.phase <= mask.period {
        run.phase + mask.period - c
    } else {
        phase_at(run, lo, mask)
    }
}

/// Phase of value `v` (which may precede the run's start) in `run`.
#[inline(always)]
pub(super) fn phase_at(run: PhaseRun, v: usize, mask: &ClassMask) -> usize {
    mask.phase_of(run.phase as i64 + v as i64 - run.start as i64)
}
