//! The day/night block kernels: sums of an integer column's values straight from its
//! packed bytes, by class ([`IntColumn::class_sums`] and its variants, against a periodic
//! [`ClassMask`] over [`PhaseRun`]s) or by index range ([`IntColumn::range_sums`]). They
//! read a column through the codec's crate-private accessors and decode nothing they can
//! sum in place.

mod float;
mod mask;
mod portable;
mod range;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod delta;

#[cfg(test)]
mod tests;

pub use float::float_class_sums;
pub use mask::{ClassMask, PhaseRun};

use crate::codec::ints::IntColumn;
use crate::codec::simd;

/// The arguments of [`IntColumn::class_sums_cut`], checked, for its implementations.
#[derive(Clone, Copy)]
struct ClassQuery<'q> {
    runs: &'q [PhaseRun],
    to: usize,
    mask: &'q ClassMask,
    cuts: &'q [usize],
    /// Whether the total sums are wanted (else the kernel may leave them out).
    totals: bool,
}

impl IntColumn<'_> {
    /// Sums of the values `runs[0].start..to` whose phase the class pattern marks, where
    /// `runs` (non-empty, starts increasing) give the phases. Returns `(marked sum, total
    /// sum, marked count)`, exact.
    ///
    /// The periodic kernel of the day/night scan: with a fixed UTC offset, the class of a
    /// reading of a regular series is a function of its index, so each 64-value mini-block
    /// is one masked reduction against a window of the pattern (pieced together where a
    /// gap falls inside the mini-block).
    pub fn class_sums(&self, runs: &[PhaseRun], to: usize, mask: &ClassMask) -> (i128, i128, u64) {
        let mut out = [(0, 0, 0)];
        self.class_sums_cut(runs, to, mask, &[], &mut out);
        out[0]
    }

    /// [`IntColumn::class_sums`] without the total sum: `(marked sum, marked count)`, for a
    /// caller that knows the total already (the day/night scan takes it from the block's
    /// index entry when the block lies wholly in the range). The AVX2 kernel then skips the
    /// total's lane adds and frame booking (`benches/scan.rs`, `marked_sums` against
    /// `masked_class_sums`).
    pub fn marked_sums(&self, runs: &[PhaseRun], to: usize, mask: &ClassMask) -> (i128, u64) {
        let mut out = [(0, 0, 0)];
        self.class_sums_query(runs, to, mask, &[], false, &mut out);
        (out[0].0, out[0].2)
    }

    /// [`IntColumn::class_sums`] with the values cut into consecutive parts at `cuts`
    /// (value indices, non-decreasing): `out[i]` (`out.len() == cuts.len() + 1`) gets the
    /// sums of the values from cut `i - 1` (or the start) up to cut `i` (or `to`). The
    /// day/night scan cuts at local midnights for per-day results.
    pub fn class_sums_cut(
        &self,
        runs: &[PhaseRun],
        to: usize,
        mask: &ClassMask,
        cuts: &[usize],
        out: &mut [(i128, i128, u64)],
    ) {
        self.class_sums_query(runs, to, mask, cuts, true, out)
    }

    /// [`IntColumn::class_sums_cut`], with the total sums left out (unspecified in `out`)
    /// unless `totals`.
    fn class_sums_query(
        &self,
        runs: &[PhaseRun],
        to: usize,
        mask: &ClassMask,
        cuts: &[usize],
        totals: bool,
        out: &mut [(i128, i128, u64)],
    ) {
        assert!(
            !runs.is_empty()
                && runs
                    .windows(2)
                    .all(|w| w[0].start < w[1].start && w[1].start < to)
                && runs.iter().all(|r| r.phase < mask.period)
                && to <= self.len()
                && cuts.windows(2).all(|w| w[0] <= w[1])
                && out.len() == cuts.len() + 1,
            "class_sums: runs must be non-empty, increasing, within the column, phases below \
             the period; cuts non-decreasing with one output more"
        );
        let q = ClassQuery {
            runs,
            to,
            mask,
            cuts,
            totals,
        };
        #[cfg(target_arch = "x86_64")]
        if simd::avx2_available()
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
        {
            match self.is_delta() {
                false => {
                    // SAFETY: AVX2, POPCNT, BMI1 and BMI2 were detected on this CPU.
                    return unsafe { self.class_sums_avx2(&q, out) };
                }
                true if self.delta_kernel_fits() => {
                    // SAFETY: as above, and the delta kernel takes the column.
                    return unsafe { self.delta_sums_avx2(&q, out) };
                }
                true => {}
            }
        }
        self.class_sums_portable(&q, out)
    }

    /// [`IntColumn::class_sums`] over one run: values `from..to`, the first at `phase0`.
    pub fn masked_class_sums(
        &self,
        from: usize,
        to: usize,
        phase0: usize,
        mask: &ClassMask,
    ) -> (i128, i128, u64) {
        if from >= to {
            return (0, 0, 0);
        }
        self.class_sums(
            &[PhaseRun {
                start: from,
                phase: phase0,
            }],
            to,
            mask,
        )
    }
}
