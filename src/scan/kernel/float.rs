//! The class sums of float-bits columns (values that are no decimals): the column is
//! decoded to its bit patterns, and each value added as `f64` to its part's total and,
//! under the class pattern, to its marked sum. Sums of floats are not exact in any order;
//! these add in index order, as the reading-by-reading path does.

use super::mask::ClassMask;
use super::PhaseRun;

/// Per part (values cut at `cuts`, as for [`IntColumn::class_sums_cut`](crate::codec::ints::IntColumn::class_sums_cut)):
/// `(marked sum, total sum, marked count)` of the values `runs[0].start..to` of `bits`
/// (`f64` bit patterns), their phases from `runs`. `out.len()` must be `cuts.len() + 1`.
pub fn float_class_sums(
    bits: &[i64],
    runs: &[PhaseRun],
    to: usize,
    mask: &ClassMask,
    cuts: &[usize],
    out: &mut [(f64, f64, u64)],
) {
    assert!(
        out.len() == cuts.len() + 1
            && to <= bits.len()
            && runs.iter().all(|r| r.phase < mask.period),
        "float_class_sums: one output per part, values within the column, phases below the period"
    );
    let Some(first) = runs.first() else {
        return;
    };
    let mut part = cuts.partition_point(|&c| c <= first.start);
    for (j, run) in runs.iter().enumerate() {
        let end = runs.get(j + 1).map_or(to, |n| n.start.min(to));
        let mut i = run.start;
        let mut phase = run.phase;
        while i < end {
            // Up to the run's end or the next cut, whichever comes first.
            let stop = cuts.get(part).map_or(end, |&c| c.clamp(i, end));
            let o = &mut out[part.min(cuts.len())];
            for &b in &bits[i..stop] {
                let x = f64::from_bits(b as u64);
                let day = mask.lanes[phase] != 0;
                o.1 += x;
                o.0 += if day { x } else { 0.0 };
                o.2 += day as u64;
                phase += 1;
                if phase == mask.period {
                    phase = 0;
                }
            }
            i = stop;
            while part < cuts.len() && cuts[part] <= i {
                part += 1;
            }
        }
    }
}
