use super::*;
use crate::codec::ints::encode;
use proptest::prelude::*;

/// Every sum of a decoded column equals the packed column's kernel on the same values:
/// marked sums, class sums cut into parts, range sums; in `i64` lanes and wide.
fn check_against_packed(v: &[i64], runs: &[PhaseRun], cuts: &[usize], marked: &[bool]) {
    let mut buf = Vec::new();
    encode(v, &mut buf);
    let (packed, _) = IntColumn::parse(&buf).unwrap();
    let mask = ClassMask::new(marked);
    let mut lanes = SliceMask::default();
    lanes.set(&mask);
    let largest = v.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0) as f64;
    for narrow_sums in [false, narrow(largest, v.len())] {
        let col = Decoded {
            ints: v,
            mask: &lanes,
            narrow: narrow_sums,
        };
        let n = v.len();
        let (mut want, mut got) = (
            vec![(0, 0, 0); cuts.len() + 1],
            vec![(0, 0, 0); cuts.len() + 1],
        );
        Column::class_sums_cut(&packed, runs, n, &mask, cuts, &mut want);
        col.class_sums_cut(runs, n, &mask, cuts, &mut got);
        assert_eq!(got, want, "runs {runs:?} cuts {cuts:?}");
        assert_eq!(
            col.marked_sums(runs, n, &mask),
            Column::marked_sums(&packed, runs, n, &mask)
        );
        let mut bounds = cuts.to_vec();
        bounds.insert(0, 0);
        bounds.push(n);
        let (mut want, mut got) = (vec![0; bounds.len() - 1], vec![0; bounds.len() - 1]);
        Column::range_sums(&packed, &bounds, &mut want);
        col.range_sums(&bounds, &mut got);
        assert_eq!(got, want);
        assert_eq!(col.values(&mut Vec::new()), v);
    }
}

#[test]
fn a_day_of_quarter_hours_with_gaps_and_midnights() {
    let v: Vec<i64> = (0..2976).map(|i| 20_000 + (i * 7919) % 7_000).collect();
    let marked: Vec<bool> = (0..96).map(|p| (32..88).contains(&p)).collect();
    check_against_packed(&v, &[PhaseRun { start: 0, phase: 5 }], &[], &marked);
    let runs = [
        PhaseRun {
            start: 3,
            phase: 95,
        },
        PhaseRun {
            start: 500,
            phase: 10,
        },
        PhaseRun {
            start: 501,
            phase: 60,
        },
    ];
    check_against_packed(&v, &runs, &[91, 187, 187, 2000], &marked);
    check_against_packed(
        &[i64::MAX, i64::MAX, i64::MIN, 3],
        &runs[..1],
        &[2],
        &marked,
    );
}

proptest! {
    #[test]
    fn decoded_sums_match_the_packed_kernels(
        v in proptest::collection::vec(any::<i64>(), 1..700),
        small in any::<bool>(),
        period in 1usize..200,
        seed in any::<u64>(),
        starts in proptest::collection::vec(any::<prop::sample::Index>(), 1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let v: Vec<i64> = if small { v.iter().map(|x| x % 1_000_000).collect() } else { v };
        let marked: Vec<bool> = (0..period).map(|p| (seed >> (p % 64)) & 1 == 1).collect();
        let mut s: Vec<usize> = starts.iter().map(|i| i.index(v.len())).collect();
        s.sort_unstable();
        s.dedup();
        let runs: Vec<PhaseRun> = s
            .iter()
            .enumerate()
            .map(|(j, &start)| PhaseRun { start, phase: (seed as usize >> j) % period })
            .collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(v.len() + 1)).collect();
        cuts.sort_unstable();
        check_against_packed(&v, &runs, &cuts, &marked);
    }
}
