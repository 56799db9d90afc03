//! The portable class-sum loop: every mini-block decoded to values, then summed lane by
//! lane. The reference for the vector kernels, the path on CPUs without AVX2, and the
//! path of the delta-mode columns the delta kernel does not take.

use super::mask::MaskWalk;
use super::ClassQuery;
use crate::codec::bitpack::{Padded, MINI_LEN};
use crate::codec::ints::IntColumn;

impl IntColumn<'_> {
    /// The reference: every mini-block decoded to values (a delta-mode column as a whole,
    /// its running sums needing every value before), then summed lane by lane.
    pub(super) fn class_sums_portable(&self, q: &ClassQuery<'_>, out: &mut [(i128, i128, u64)]) {
        let (runs, to, mask, cuts) = (q.runs, q.to, q.mask, q.cuts);
        let from = runs[0].start;
        if from >= to {
            return;
        }
        let mut pad = Padded::default();
        let mut vals = [0i64; MINI_LEN];
        let mut offs = [0u32; MINI_LEN];
        let mut walk = MaskWalk::new(mask, runs, to);
        let mut minis = self.minis_from(from / MINI_LEN);
        let decoded = self.is_delta().then(|| {
            let mut all = Vec::with_capacity(self.len());
            self.decode_into(&mut all);
            all
        });
        let mut part = 0;
        for k in from / MINI_LEN..to.div_ceil(MINI_LEN) {
            let (m, at) = minis.next().expect("mini-block within the column");
            match &decoded {
                Some(all) => {
                    let lo = k * MINI_LEN;
                    let hi = (lo + MINI_LEN).min(all.len());
                    vals.fill(0);
                    vals[..hi - lo].copy_from_slice(&all[lo..hi]);
                }
                None => self.decode_mini(&m, at, false, &mut pad, &mut offs, &mut vals),
            }
            let mm = walk.next(k * MINI_LEN);
            for (i, &v) in vals.iter().enumerate() {
                while part < cuts.len() && cuts[part] <= k * MINI_LEN + i {
                    part += 1;
                }
                if mm.range >> i & 1 == 1 {
                    let o = &mut out[part];
                    o.1 += v as i128;
                    if mm.marked >> i & 1 == 1 {
                        o.0 += v as i128;
                        o.2 += 1;
                    }
                }
            }
        }
    }
}
