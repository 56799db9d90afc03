use super::*;
use crate::codec::bitpack::{self, MINI_LEN};
use crate::codec::ints::tests::{encodings, forced_encodings, noise};
use crate::codec::ints::{packed_width, IntColumn};
use proptest::prelude::*;

fn check_range_sums(v: &[i64], bounds: &[usize]) {
    let want: Vec<i128> = bounds
        .windows(2)
        .map(|w| v[w[0]..w[1]].iter().map(|&x| x as i128).sum())
        .collect();
    for buf in encodings(v) {
        let (col, _) = IntColumn::parse(&buf).unwrap();
        let mut got = vec![0i128; bounds.len().saturating_sub(1)];
        col.range_sums(bounds, &mut got);
        assert_eq!(got, want, "bounds {bounds:?}, levels {}", col.bitmap());
    }
}

#[test]
fn range_sums_on_fixed_cases() {
    let v: Vec<i64> = (0..1000)
        .map(|i| if (i / 48) % 2 == 0 { 20_000 } else { 3_000 } + (i * 7919) % 700)
        .collect();
    check_range_sums(&v, &[0, 1000]);
    check_range_sums(&v, &[0, 32, 80, 128, 176, 1000]);
    check_range_sums(&v, &[5, 5, 63, 64, 65, 999]);
    check_range_sums(&v, &[]);
    check_range_sums(&v, &[7]);
    let counter: Vec<i64> = (0..700).map(|i| 1_000_000 + i * 250).collect();
    check_range_sums(&counter, &[0, 10, 300, 700]);
    check_range_sums(&[i64::MAX, i64::MAX, i64::MIN, 3], &[0, 2, 4]);
}

proptest! {
    #[test]
    fn range_sums_match_naive(
        v in proptest::collection::vec(any::<i64>(), 1..600),
        small in any::<bool>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let v: Vec<i64> = if small { v.iter().map(|x| x % 100_000).collect() } else { v };
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(v.len() + 1)).collect();
        bounds.sort_unstable();
        check_range_sums(&v, &bounds);
    }
}

/// `masked_class_sums` against a per-value reference on both paths, with the column
/// stored in each mode and layout.
fn check_class_sums(
    v: &[i64],
    from: usize,
    to: usize,
    phase0: usize,
    period: usize,
    marked: &[bool],
) {
    for buf in forced_encodings(v) {
        let (col, _) = IntColumn::parse(&buf).unwrap();
        assert_eq!(marked.len(), period);
        let mask = ClassMask::new(marked);
        let got = col.masked_class_sums(from, to, phase0, &mask);
        let runs = [PhaseRun {
            start: from,
            phase: phase0,
        }];
        let mut portable = [(0, 0, 0)];
        if from < to {
            col.class_sums_portable(
                &ClassQuery {
                    runs: &runs,
                    to,
                    mask: &mask,
                    cuts: &[],
                    totals: true,
                },
                &mut portable,
            );
        }
        assert_eq!(portable[0], got, "portable path");
        let (mut d, mut t, mut c) = (0i128, 0i128, 0u64);
        for (i, &x) in v.iter().enumerate().take(to).skip(from) {
            t += x as i128;
            if marked[(phase0 + i - from) % period] {
                d += x as i128;
                c += 1;
            }
        }
        assert_eq!(got, (d, t, c), "from {from} to {to} phase {phase0}");
        if from < to {
            assert_eq!(col.marked_sums(&runs, to, &mask), (d, c), "without totals");
        }
    }
}

#[test]
fn class_sums_on_a_day_pattern() {
    let v: Vec<i64> = (0..4096).map(|i| if (i % 96) >= 32 && (i % 96) < 80 { 40_000 } else { 5_000 } + (i * 7919 % 900) as i64).collect();
    let marked: Vec<bool> = (0..96).map(|p| (32..80).contains(&p)).collect();
    for (from, to, phase) in [(0, 4096, 0), (0, 4096, 17), (100, 1000, 5), (63, 65, 95)] {
        check_class_sums(&v, from, to, phase, 96, &marked);
    }
}

proptest! {
    #[test]
    fn class_sums_match_naive(
        v in proptest::collection::vec(-1_000_000i64..1_000_000, 1..700),
        a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(),
        period in 1usize..200, phase in any::<prop::sample::Index>(),
        marks in proptest::collection::vec(any::<bool>(), 200),
        wide in proptest::option::of((any::<prop::sample::Index>(), 26u32..48)),
    ) {
        // Noise of `bits` bits over 64 values makes a mini-block too wide for the vector
        // lanes, and the column take the general loop.
        let mut v = v;
        if let Some((at, bits)) = wide {
            let i = at.index(v.len());
            for (j, x) in v.iter_mut().enumerate().skip(i).take(MINI_LEN) {
                *x += noise(j as u64, 1 << bits);
            }
        }
        let (x, y) = (a.index(v.len() + 1), b.index(v.len() + 1));
        check_class_sums(&v, x.min(y), x.max(y), phase.index(period), period, &marks[..period]);
    }
}

/// `class_sums` over several phase runs (a series with gaps) against a per-value
/// reference, on both the dispatched and the portable path.
fn check_class_runs(v: &[i64], runs: &[PhaseRun], to: usize, marked: &[bool]) {
    check_class_cuts(v, runs, to, marked, &[]);
}

/// `class_sums_cut` against a per-value reference, with the column stored in each mode
/// and layout, alone and followed by readable bytes; then its other entry points.
fn check_class_cuts(v: &[i64], runs: &[PhaseRun], to: usize, marked: &[bool], cuts: &[usize]) {
    for buf in forced_encodings(v) {
        // The column alone, and followed by bytes it may read past its end (as a block's
        // column is): the in-place loop takes only the second.
        let mut ext = buf.clone();
        ext.extend_from_slice(&[0xa5; 32]);
        let (alone, _) = IntColumn::parse(&buf).unwrap();
        let (mut followed, _) = IntColumn::parse(&ext[..buf.len()]).unwrap();
        followed.read_past_end(&ext);
        for col in [alone, followed] {
            let mask = ClassMask::new(marked);
            let period = marked.len();
            let mut want = vec![(0i128, 0i128, 0u64); cuts.len() + 1];
            for (j, r) in runs.iter().enumerate() {
                let end = runs.get(j + 1).map_or(to, |n| n.start);
                for (i, &x) in v.iter().enumerate().take(end).skip(r.start) {
                    let o = &mut want[cuts.partition_point(|&c| c <= i)];
                    o.1 += x as i128;
                    if marked[(r.phase + i - r.start) % period] {
                        o.0 += x as i128;
                        o.2 += 1;
                    }
                }
            }
            let mut got = vec![(0, 0, 0); cuts.len() + 1];
            col.class_sums_cut(runs, to, &mask, cuts, &mut got);
            assert_eq!(got, want, "runs {runs:?} to {to} cuts {cuts:?}");
            let mut portable = vec![(0, 0, 0); cuts.len() + 1];
            col.class_sums_portable(
                &ClassQuery {
                    runs,
                    to,
                    mask: &mask,
                    cuts,
                    totals: true,
                },
                &mut portable,
            );
            assert_eq!(portable, want, "portable path");
            let total = want
                .iter()
                .fold((0, 0, 0), |a, w| (a.0 + w.0, a.1 + w.1, a.2 + w.2));
            assert_eq!(col.class_sums(runs, to, &mask), total, "uncut");
            let without = col.marked_sums(runs, to, &mask);
            assert_eq!(without, (total.0, total.2), "without totals");
        }
    }
}

#[test]
fn class_sums_with_gaps_inside_mini_blocks() {
    // Noise, so that the column stores values (the class sums take no delta columns).
    let v: Vec<i64> = (0..3000).map(|i| 10_000 + noise(i, 5000)).collect();
    let enc = encodings(&v);
    assert!(!IntColumn::parse(&enc[0]).unwrap().0.is_delta());
    let marked: Vec<bool> = (0..96).map(|p| (32..80).contains(&p)).collect();
    let runs = [
        PhaseRun {
            start: 0,
            phase: 10,
        },
        PhaseRun {
            start: 70,
            phase: 95,
        },
        PhaseRun {
            start: 75,
            phase: 3,
        },
        PhaseRun {
            start: 128,
            phase: 50,
        },
        PhaseRun {
            start: 1000,
            phase: 0,
        },
    ];
    check_class_runs(&v, &runs, 3000, &marked);
    check_class_runs(&v, &runs[1..], 2999, &marked);
    // A run starting at a mini-block's first value, after whole mini-blocks of the one
    // before.
    let aligned = [
        PhaseRun {
            start: 0,
            phase: 10,
        },
        PhaseRun {
            start: 256,
            phase: 41,
        },
        PhaseRun {
            start: 448,
            phase: 7,
        },
    ];
    check_class_runs(&v, &aligned, 3000, &marked);
    check_class_runs(&v, &aligned, 2000, &marked);
}

proptest! {
    #[test]
    fn class_runs_match_naive(
        v in proptest::collection::vec(-1_000_000i64..1_000_000, 2..700),
        two_level in any::<bool>(),
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..10),
        end in any::<prop::sample::Index>(),
        period in 1usize..200,
        marks in proptest::collection::vec(any::<bool>(), 200),
        cut_at in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        // Level switches every 40 values make two-level frames likely.
        let v: Vec<i64> = if two_level {
            v.iter().enumerate().map(|(i, &x)| x % 300 + if i / 40 % 2 == 0 { 0 } else { 90_000 }).collect()
        } else {
            v
        };
        let to = 1 + end.index(v.len());
        let mut starts: Vec<usize> = cuts.iter().map(|c| c.0.index(to)).collect();
        starts.sort_unstable();
        starts.dedup();
        let runs: Vec<PhaseRun> = starts
            .iter()
            .zip(&cuts)
            .map(|(&start, c)| PhaseRun { start, phase: c.1.index(period) })
            .collect();
        check_class_cuts(&v, &runs, to, &marks[..period], &[]);
        let mut cuts: Vec<usize> = cut_at.iter().map(|c| c.index(to + 1)).collect();
        cuts.sort_unstable();
        check_class_cuts(&v, &runs, to, &marks[..period], &cuts);
    }
}

#[test]
fn class_sums_take_the_exact_paths_for_large_values() {
    let marked: Vec<bool> = (0..96).map(|p| (32..80).contains(&p)).collect();
    let runs = [
        PhaseRun { start: 3, phase: 7 },
        PhaseRun {
            start: 300,
            phase: 0,
        },
    ];
    // Two levels 2^30 apart: splits above the vector limit.
    let v: Vec<i64> = (0..1000)
        .map(|i| (i * 7919 % 1000) as i64 + if i / 40 % 2 == 0 { 0 } else { 1 << 30 })
        .collect();
    check_class_runs(&v, &runs, 1000, &marked);
    // One mini-block too wide for the lanes among narrow ones, in a series with a gap.
    let v: Vec<i64> = (0..1000)
        .map(|i| match i / MINI_LEN {
            8 => noise(i as u64, 1 << 40),
            _ => noise(i as u64, 5000),
        })
        .collect();
    check_class_runs(&v, &runs, 1000, &marked);
    // Values of the lanes' full 25 bits over 62 mini-blocks: the in-place loop must
    // widen its lanes every few mini-blocks.
    let v: Vec<i64> = (0..4000).map(|i| noise(i as u64, 1 << 25)).collect();
    check_class_runs(&v, &[PhaseRun { start: 5, phase: 3 }], 3990, &marked);
    // References near the ends of i64: the wide reference sums.
    let v: Vec<i64> = (0..1000)
        .map(|i| {
            if i % 3 == 0 {
                i64::MAX - i as i64
            } else {
                i64::MIN + i as i64
            }
        })
        .collect();
    check_class_runs(&v, &runs, 1000, &marked);
    let v: Vec<i64> = (0..1000)
        .map(|i| (1i64 << 55) + noise(i as u64, 1000))
        .collect();
    check_class_runs(&v, &runs, 1000, &marked);
    // Reference sums beyond i64.
    let v: Vec<i64> = (0..1000)
        .map(|i| (1i64 << 62) + noise(i as u64, 1000))
        .collect();
    check_class_runs(&v, &runs, 1000, &marked);
}

proptest! {    /// The multiply-only phase equals the Euclidean remainder, for every period and
    /// for values below zero, in 32 bits and above.
    #[test]
    fn phase_of_is_the_euclidean_remainder(
        period in 1usize..5000,
        x in prop_oneof![0i64..1 << 32, any::<i64>(), (u32::MAX as i64 - 10)..(u32::MAX as i64 + 10)],
    ) {
        let mask = ClassMask::new(&vec![false; period]);
        prop_assert_eq!(mask.phase_of(x), x.rem_euclid(period as i64) as usize);
    }
}

/// The in-place loop takes every mini-block of a column followed by readable bytes, and
/// of a column alone all but those whose in-place read would pass its end.
#[cfg(target_arch = "x86_64")]
#[test]
fn in_place_reads_stop_only_near_the_end() {
    // Mini-blocks of varied widths, and constant ones (no bytes) at the end.
    let v: Vec<i64> = (0..1000)
        .map(|i| {
            if i < 900 {
                noise(i as u64, 1 << (i / 64 % 20))
            } else {
                7
            }
        })
        .collect();
    for buf in encodings(&v) {
        let (alone, _) = IntColumn::parse(&buf).unwrap();
        let n = alone.descs().len();
        let ends: Vec<usize> = alone
            .descs()
            .iter()
            .scan(0, |at, &d| {
                *at += bitpack::packed_len(packed_width(d));
                Some(*at)
            })
            .collect();
        let k = alone.in_place_until();
        let after = |i: usize| alone.payload().len() - ends[i];
        // Mini-blocks before `k` have 16 bytes after them, and `k` is the first that has not.
        assert!(
            k < n && (k == 0 || after(k - 1) >= 16) && after(k) < 16,
            "k {k} of {n}"
        );
        let mut ext = buf.clone();
        ext.extend_from_slice(&[0; 16]);
        let (mut followed, _) = IntColumn::parse(&ext[..buf.len()]).unwrap();
        followed.read_past_end(&ext);
        assert_eq!(followed.in_place_until(), n);
    }
}

/// A smooth load: a daily curve of `period` values with small noise, jumps where
/// production starts and stops (two-level mini-blocks in delta mode), and a level `base`.
fn smooth(n: usize, period: usize, base: i64, seed: u64) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let phase = (i % period) as f64 / period as f64;
            let curve = (phase * std::f64::consts::TAU).sin() * 40_000.0;
            let on = if (0.3..0.7).contains(&phase) {
                250_000
            } else {
                0
            };
            base + curve as i64 + on + noise(i as u64 ^ seed, 60)
        })
        .collect()
}

#[test]
fn smooth_series_take_the_delta_kernel() {
    for period in [24, 96, 1440] {
        let v = smooth(4000, period, 1_000_000, 7);
        // Stored as deltas when that is smaller (over a day of 96 or 1,440 values), and
        // taken by the delta kernel when forced into delta mode.
        let (chosen, forced) = (encodings(&v), forced_encodings(&v));
        let (col, _) = IntColumn::parse(&chosen[0]).unwrap();
        assert_eq!(col.is_delta(), period > 24, "period {period}");
        let (col, _) = IntColumn::parse(&forced[2]).unwrap();
        assert!(col.is_delta() && col.delta_kernel_fits(), "period {period}");
        let marked: Vec<bool> = (0..period)
            .map(|p| p >= period / 3 && p < period * 5 / 6)
            .collect();
        let runs = [
            PhaseRun { start: 0, phase: 5 },
            PhaseRun {
                start: 700,
                phase: 0,
            },
            PhaseRun {
                start: 703,
                phase: period - 1,
            },
            PhaseRun {
                start: 1280,
                phase: 17 % period,
            },
        ];
        check_class_cuts(&v, &runs, 4000, &marked, &[]);
        check_class_cuts(&v, &runs[1..], 3999, &marked, &[]);
        // Cuts at every local midnight, inside and at the ends of mini-blocks, two at
        // one place, and one at the range's end.
        let cuts: Vec<usize> = (0..4000).step_by(period).chain([640, 640, 3999]).collect();
        let mut cuts = cuts;
        cuts.sort_unstable();
        check_class_cuts(&v, &runs, 3999, &marked, &cuts);
        check_class_cuts(&v, &runs[2..], 4000, &marked, &cuts);
    }
}

/// The delta kernel's in-place loop crosses gaps inside whole mini-blocks: one run
/// starting inside (its lanes' phases before and after far apart, and near each other
/// across the period's wrap), two in one mini-block, one ending a lane before a
/// mini-block's end, and one starting on the boundary after a gap's mini-block; with and
/// without cuts at local midnights.
#[test]
fn delta_kernel_crosses_gaps() {
    for period in [24, 96, 1440] {
        let v = smooth(3000, period, 2_000_000, 3);
        let forced = forced_encodings(&v);
        let (col, _) = IntColumn::parse(&forced[2]).unwrap();
        assert!(col.is_delta() && col.delta_kernel_fits(), "period {period}");
        let marked: Vec<bool> = (0..period)
            .map(|p| p >= period / 3 && p < period * 2 / 3)
            .collect();
        let starts = [
            (0, 11),
            (70, 1),
            (133, period - 1),
            (150, 60 % period),
            (190, 5),
            (255, 0),
            (256, 17 % period),
            (300, 62 % period),
            (640, 2),
            (1000, period / 2),
            (1001, period / 2 + 1),
            (1041, 3),
            (1500, period - 2),
        ];
        let runs: Vec<PhaseRun> = starts
            .iter()
            .map(|&(start, phase)| PhaseRun { start, phase })
            .collect();
        check_class_cuts(&v, &runs, 3000, &marked, &[]);
        check_class_cuts(&v, &runs[1..], 2999, &marked, &[]);
        let cuts: Vec<usize> = (0..3000).step_by(period).chain([150, 2999]).collect();
        let mut cuts = cuts;
        cuts.sort_unstable();
        check_class_cuts(&v, &runs, 3000, &marked, &cuts);
    }
}

proptest! {
    #[test]
    fn delta_kernel_matches_naive(
        n in 1usize..1500,
        period in prop::sample::select(vec![1usize, 24, 48, 96, 288, 1440]),
        level in -(1i64 << 40)..(1i64 << 40),
        seed in any::<u64>(),
        starts in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..40),
        end in any::<prop::sample::Index>(),
        marks in proptest::collection::vec(any::<bool>(), 1440),
        cut_at in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let v = smooth(n, period.max(2), level, seed);
        let to = 1 + end.index(n);
        let mut at: Vec<usize> = starts.iter().map(|s| s.0.index(to)).collect();
        at.sort_unstable();
        at.dedup();
        let runs: Vec<PhaseRun> = at
            .iter()
            .zip(&starts)
            .map(|(&start, s)| PhaseRun { start, phase: s.1.index(period) })
            .collect();
        let mut cuts: Vec<usize> = cut_at.iter().map(|c| c.index(to + 1)).collect();
        cuts.sort_unstable();
        check_class_cuts(&v, &runs, to, &marks[..period], &cuts);
    }
}

proptest! {
    /// Cuts at every local midnight of 15-minute data (96 values) from any offset, so that
    /// the per-day loop takes mini-blocks that one cut falls inside at every lane, on
    /// every encoding of values of any width.
    #[test]
    fn daily_cuts_match_naive(
        v in proptest::collection::vec(-1_000_000i64..1_000_000, 200..1200),
        offset in 0usize..96,
        phase in 0usize..96,
        marks in proptest::collection::vec(any::<bool>(), 96),
        from in 0usize..100,
    ) {
        let (from, to) = (from.min(v.len() - 1), v.len());
        let cuts: Vec<usize> = (offset..to).step_by(96).collect();
        check_class_cuts(&v, &[PhaseRun { start: from, phase }], to, &marks, &cuts);
    }
}
