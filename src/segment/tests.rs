use super::*;
use crate::codec::values::ValueKind;
use proptest::prelude::*;
use reader::BlockView;

fn no_windows(_: i64) -> i64 {
    i64::MAX
}

fn write_and_read(series: &[(u32, Vec<i64>, Vec<f64>)]) -> Vec<(u32, Vec<i64>, Vec<f64>)> {
    write_and_read_as(series, false)
}

/// Writes `series` into a segment (cold or hot) and reads every block back, through
/// `read_block` and through the view that scans use.
fn write_and_read_as(
    series: &[(u32, Vec<i64>, Vec<f64>)],
    cold: bool,
) -> Vec<(u32, Vec<i64>, Vec<f64>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mts");
    let mut w = match cold {
        true => SegmentWriter::create_cold(&path).unwrap(),
        false => SegmentWriter::create(&path).unwrap(),
    };
    for (m, ts, vs) in series {
        w.add_series(*m, ts, vs, &[], &no_windows, &[]).unwrap();
    }
    w.finish().unwrap();
    let seg = Segment::open(&path).unwrap();
    let mut out = Vec::new();
    let (mut scratch, mut ints) = (Vec::new(), Vec::new());
    for m in seg.meter_ids().collect::<Vec<_>>() {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for b in seg.meter_blocks(m) {
            let first = seg.with_block(b, &mut scratch, view_of).unwrap();
            let from = ts.len();
            seg.read_block(b, &mut scratch, &mut ints, &mut ts, &mut vs)
                .unwrap();
            // The view decodes to the same readings as `read_block`.
            let (kind, _, view_ints) = &first;
            let mut view_vals = Vec::new();
            crate::codec::values::from_ints(*kind, view_ints, &mut view_vals);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&view_vals), bits(&vs[from..]));
            // Reads after the first take the columns from the layout the check kept.
            assert_eq!(seg.with_block(b, &mut scratch, view_of).unwrap(), first);
        }
        out.push((m, ts, vs));
    }
    out
}

/// What a block view holds: kind, timestamp column and decoded ints.
fn view_of(v: &BlockView<'_>) -> (ValueKind, String, Vec<i64>) {
    let mut ints = Vec::new();
    v.ints.decode_into(&mut ints);
    (v.kind, format!("{:?}", v.ts), ints)
}

fn assert_same(a: &[(u32, Vec<i64>, Vec<f64>)], b: &[(u32, Vec<i64>, Vec<f64>)]) {
    let a: Vec<_> = a.iter().filter(|s| !s.1.is_empty()).collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.0, y.0);
        assert_eq!(x.1, y.1);
        let xb: Vec<u64> = x.2.iter().map(|v| v.to_bits()).collect();
        let yb: Vec<u64> = y.2.iter().map(|v| v.to_bits()).collect();
        assert_eq!(xb, yb);
    }
}

#[test]
fn blocks_split_at_block_len_and_windows() {
    let ts: Vec<i64> = (0..10_000).map(|k| k * 900).collect();
    let vs: Vec<f64> = (0..10_000).map(|k| (k % 97) as f64 * 0.25).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mts");
    let mut w = SegmentWriter::create(&path).unwrap();
    let day = |t: i64| (t.div_euclid(86_400) + 1) * 86_400;
    w.add_series(3, &ts, &vs, &[], &day, &[]).unwrap();
    w.finish().unwrap();
    let seg = Segment::open(&path).unwrap();
    let blocks = seg.meter_blocks(3);
    assert_eq!(blocks.len(), 10_000usize.div_ceil(96));
    for b in &seg.blocks()[blocks] {
        assert_eq!(b.t_first.div_euclid(86_400), b.t_last.div_euclid(86_400));
    }
}

#[test]
fn stats_match_values() {
    let ts: Vec<i64> = (0..500).map(|k| k * 60).collect();
    let vs: Vec<f64> = (0..500)
        .map(|k| (((k * 37) % 101) - 30) as f64 / 10.0)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mts");
    let mut w = SegmentWriter::create(&path).unwrap();
    w.add_series(0, &ts, &vs, &[], &no_windows, &[]).unwrap();
    w.finish().unwrap();
    let seg = Segment::open(&path).unwrap();
    let e = seg.blocks()[0];
    assert_eq!(e.count, 500);
    assert_eq!(e.min, vs.iter().copied().fold(f64::INFINITY, f64::min));
    assert_eq!(e.max, vs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let exact: i64 = (0..500).map(|k| ((k * 37) % 101) - 30).sum();
    assert_eq!(e.sum, exact as f64 / 10.0);
    assert_eq!((e.first, e.last), (vs[0], vs[499]));
}

#[test]
fn float_data_roundtrips_and_may_compress() {
    let ts: Vec<i64> = (0..3000).map(|k| k * 7 + (k % 3)).collect();
    let vs: Vec<f64> = (0..3000).map(|k| (k as f64).sqrt()).collect();
    let s = vec![(1, ts, vs)];
    assert_same(&s, &write_and_read(&s));
}

fn series_strategy() -> impl Strategy<Value = Vec<(u32, Vec<i64>, Vec<f64>)>> {
    let one = (
        proptest::collection::vec((1i64..3000, any::<bool>()), 0..600),
        0u8..4,
        prop_oneof![Just(0u8), Just(1u8), Just(2u8)],
        any::<u64>(),
    )
        .prop_map(|(gaps, timing, style, seed)| {
            let mut t = 1_600_000_000i64;
            let mut ts = Vec::new();
            for (g, irregular) in gaps {
                t += match timing {
                    // Regular: no gaps, a few (stored as runs), many (as a bitmap).
                    0 => 900,
                    1 if g % 40 == 0 => 900 * (2 + g % 5),
                    1 => 900,
                    2 => 900 * (1 + g % 3),
                    // Mostly irregular.
                    _ if irregular => g,
                    _ => 900 * (1 + g % 3),
                };
                ts.push(t);
            }
            let vs = ts
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    let x = seed.wrapping_mul(i as u64 + 1).rotate_left(17);
                    match style {
                        0 => (x % 100_000) as f64 / 1000.0,
                        1 => f64::from_bits(x),
                        _ => (i as f64) * 12.5 + (x % 10) as f64,
                    }
                })
                .map(|v: f64| if v.is_finite() { v } else { 0.5 })
                .collect();
            (ts, vs)
        });
    proptest::collection::vec(one, 0..6).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (ts, vs))| (i as u32 * 3, ts, vs))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn whole_segment_roundtrips(series in series_strategy()) {
        let back = write_and_read(&series);
        assert_same(&series, &back);
    }

    #[test]
    fn whole_cold_segment_roundtrips(series in series_strategy()) {
        let back = write_and_read_as(&series, true);
        assert_same(&series, &back);
    }
}

/// Noisy decimal readings: a cold segment is smaller than the hot one, holds cold blocks,
/// and is marked cold; a hot one is not.
#[test]
fn cold_segments_are_smaller_and_marked() {
    let ts: Vec<i64> = (0..8000).map(|k| 1_700_000_000 + k * 900).collect();
    let vs: Vec<f64> = (0..8000)
        .map(|k: i64| (500 + (k * 7919) % 97 + (k / 40) % 2 * 300) as f64 / 100.0)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    for cold in [false, true] {
        let path = dir.path().join(format!("{cold}.mts"));
        let mut w = match cold {
            true => SegmentWriter::create_cold(&path).unwrap(),
            false => SegmentWriter::create(&path).unwrap(),
        };
        w.add_series(0, &ts, &vs, &[], &no_windows, &[]).unwrap();
        sizes.push(w.finish().unwrap());
        let seg = Segment::open(&path).unwrap();
        assert_eq!(seg.is_cold(), cold);
    }
    assert!(sizes[1] < sizes[0], "{sizes:?}");
}

/// A cold segment written with the hot sizes of a hot segment of the same readings (as
/// cold compaction passes them) is byte for byte the one written without them; a known
/// hot size below the cold body keeps the block hot, with the readings it holds.
#[test]
fn known_hot_sizes_give_the_same_cold_segment() {
    let window = |t: i64| (t.div_euclid(40 * 86_400) + 1) * 40 * 86_400;
    let ts: Vec<i64> = (0..9000).map(|k| 1_700_006_400 + k * 900).collect();
    let vs: Vec<f64> = (0..9000)
        .map(|k: i64| (500 + (k * 7919) % 97 + (k / 40) % 2 * 300) as f64 / 100.0)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let hot_path = dir.path().join("hot.mts");
    let mut w = SegmentWriter::create(&hot_path).unwrap();
    w.add_series(0, &ts, &vs, &[], &window, &[]).unwrap();
    w.finish().unwrap();
    let hot = Segment::open(&hot_path).unwrap();
    let n = hot.blocks().len();
    let sizes: Vec<HotSize> = (0..n).filter_map(|b| hot.hot_size(b)).collect();
    assert!(n > 1 && sizes.len() == n);
    let tiny: Vec<HotSize> = sizes
        .iter()
        .map(|&h| HotSize { body_len: 1, ..h })
        .collect();
    let mut bytes = Vec::new();
    for (name, known) in [("none", &[][..]), ("real", &sizes[..]), ("tiny", &tiny[..])] {
        let path = dir.path().join(format!("{name}.mts"));
        let mut w = SegmentWriter::create_cold(&path).unwrap();
        w.add_series(0, &ts, &vs, &[], &window, known).unwrap();
        w.finish().unwrap();
        bytes.push(std::fs::read(&path).unwrap());
        let seg = Segment::open(&path).unwrap();
        let cold_blocks = (0..n).filter(|&b| seg.is_cold_block(b)).count();
        assert_eq!(cold_blocks, if name == "tiny" { 0 } else { n }, "{name}");
        let (mut scratch, mut ints) = (Vec::new(), Vec::new());
        let (mut t, mut v) = (Vec::new(), Vec::new());
        for b in 0..n {
            seg.read_block(b, &mut scratch, &mut ints, &mut t, &mut v)
                .unwrap();
        }
        assert_eq!((t.as_slice(), v.as_slice()), (ts.as_slice(), vs.as_slice()));
    }
    assert_eq!(bytes[0], bytes[1]);
}

#[test]
fn flag_columns_roundtrip_in_hot_zstd_and_cold_blocks_and_leave_the_view_alone() {
    use crate::engine::read::Run;
    use crate::types::Flag;
    // Compressible values (zstd pays) and noisy ones (it does not), 5000 readings so two
    // blocks: flags in the first block only, and in both.
    let ts: Vec<i64> = (0..5000).map(|k| 1_700_000_000 + k * 900).collect();
    let smooth: Vec<f64> = (0..5000).map(|k| (k / 500) as f64).collect();
    let noisy: Vec<f64> = (0..5000)
        .map(|k| ((k * 7919) % 1000) as f64 / 10.0)
        .collect();
    let mut first_only = vec![Flag::Normal; 5000];
    first_only[10..40].fill(Flag::Maintenance);
    first_only[41] = Flag::Fault;
    let mut both = first_only.clone();
    both[4999] = Flag::Calibration;
    let dir = tempfile::tempdir().unwrap();
    for cold in [false, true] {
        for (k, (vals, fl)) in [(&smooth, &first_only), (&noisy, &both), (&noisy, &vec![])]
            .into_iter()
            .enumerate()
        {
            let path = dir.path().join(format!("{cold}-{k}.mts"));
            let mut w = match cold {
                true => SegmentWriter::create_cold(&path).unwrap(),
                false => SegmentWriter::create(&path).unwrap(),
            };
            w.add_series(0, &ts, vals, fl, &no_windows, &[]).unwrap();
            w.finish().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let version = match (fl.is_empty(), cold) {
                (false, _) => crate::format::FLAGS_SEGMENT_VERSION,
                (true, true) => crate::format::COLD_SEGMENT_VERSION,
                (true, false) => 2,
            };
            assert_eq!((bytes[8], bytes[bytes.len() - 44 + 28]), (version, version));
            let seg = Segment::open(&path).unwrap();
            assert_eq!(seg.is_cold(), cold);
            let (mut scratch, mut ints, mut run) = (vec![], vec![], Run::default());
            for b in seg.meter_blocks(0) {
                let view = seg.with_block(b, &mut scratch, view_of).unwrap();
                let from = run.ts.len();
                seg.read_block_flags(b, &mut scratch, &mut ints, &mut run)
                    .unwrap();
                assert_eq!(view.2.len(), run.ts.len() - from);
            }
            assert_eq!(run.ts, ts);
            assert_eq!(&run.vals, vals);
            assert_eq!(&run.flags, fl, "cold {cold}, case {k}");
            assert_eq!(verify_segment(&path).unwrap(), 5000);
        }
    }
}
