use super::*;
use proptest::prelude::*;

fn roundtrip(ts: &[i64]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode(ts, &mut buf);
    let (col, used) = TsColumn::parse(&buf, ts.len()).expect("parses");
    assert_eq!(used, buf.len());
    let mut back = Vec::new();
    col.decode_into(&mut back);
    assert_eq!(back, ts);
    buf
}

#[test]
fn full_regular_series_is_constant_size() {
    let ts: Vec<i64> = (0..35_040).map(|k| 1_700_000_100 + k * 900).collect();
    let buf = roundtrip(&ts);
    assert_eq!(buf.len(), 1 + 8 + 4 + 4 + 1);
}

#[test]
fn scattered_gaps_use_a_bitmap() {
    let ts: Vec<i64> = (0..1000).filter(|k| k % 10 != 3).map(|k| k * 900).collect();
    let buf = roundtrip(&ts);
    assert_eq!((buf[0], buf[17]), (KIND_REGULAR, MISSING_BITMAP));
    assert_eq!(buf.len(), 18 + 125);
}

#[test]
fn few_outages_use_runs() {
    let ts: Vec<i64> = (0..4096)
        .filter(|k| !(100..110).contains(k) && !(3000..3001).contains(k))
        .map(|k| k * 900)
        .collect();
    let buf = roundtrip(&ts);
    assert_eq!(buf[17], MISSING_RUNS);
    assert!(buf.len() < 30, "{}", buf.len());
}

fn check_ranks(ts: &[i64]) {
    let mut buf = Vec::new();
    encode(ts, &mut buf);
    let (col, _) = TsColumn::parse(&buf, ts.len()).unwrap();
    if let TsColumn::Regular {
        start,
        step,
        slots,
        missing,
    } = &col
    {
        let r = SlotRanks::new(missing);
        let want = |k: u32| ts.partition_point(|&x| x < start + k as i64 * *step as i64);
        for k in 0..=*slots {
            assert_eq!(r.rank(missing, k), want(k), "slot {k}");
        }
        // In one walk: every slot, and every 37th (skipping whole runs and words).
        for every in [1, 37] {
            let ks: Vec<u32> = (0..=*slots).step_by(every).collect();
            let mut got = Vec::new();
            missing.ranks_sorted(ks.iter().copied(), &mut got);
            assert_eq!(
                got,
                ks.iter().map(|&k| want(k)).collect::<Vec<_>>(),
                "every {every}"
            );
        }
    }
}

#[test]
fn ranks_for_every_layout() {
    check_ranks(&(0..300).map(|k| k * 60).collect::<Vec<_>>());
    check_ranks(
        &(0..300)
            .filter(|k| k % 3 != 1)
            .map(|k| k * 60)
            .collect::<Vec<_>>(),
    );
    check_ranks(
        &(0..300)
            .filter(|k| !(50..70).contains(k) && *k != 200)
            .map(|k| k * 60)
            .collect::<Vec<_>>(),
    );
    // Runs whose varints take one, two and three bytes.
    check_ranks(
        &(0..40_000)
            .filter(|k| !(100..300).contains(k) && *k != 1_000 && !(30_000..30_010).contains(k))
            .map(|k| k * 60)
            .collect::<Vec<_>>(),
    );
}

#[test]
fn irregular_falls_back_to_deltas() {
    let ts = [0, 1, 1000, 1_000_000, i64::MAX];
    let buf = roundtrip(&ts);
    assert_eq!(buf[0], KIND_IRREGULAR);
    roundtrip(&[i64::MIN, 0, i64::MAX]);
}

#[test]
fn single_and_empty() {
    roundtrip(&[5]);
    roundtrip(&[i64::MIN]);
    roundtrip(&[]);
}

#[test]
fn wrong_count_is_an_error() {
    let mut buf = Vec::new();
    encode(&[0, 900, 1800], &mut buf);
    assert!(TsColumn::parse(&buf, 2).is_err());
    let mut buf = Vec::new();
    encode(&[0, 1, 7], &mut buf);
    assert!(TsColumn::parse(&buf, 4).is_err());
}

proptest! {
    #[test]
    fn random_increasing_roundtrip(start in any::<i32>(), gaps in proptest::collection::vec(1i64..5000, 0..500)) {
        let mut ts = vec![start as i64];
        for g in gaps { let n = ts[ts.len()-1] + g; ts.push(n); }
        roundtrip(&ts);
    }

    #[test]
    fn gappy_grid_roundtrip(keep in proptest::collection::vec(0u8..8, 1..600)) {
        let ts: Vec<i64> = keep.iter().enumerate().filter(|(_, &k)| k != 0).map(|(i, _)| i as i64 * 900).collect();
        if !ts.is_empty() { roundtrip(&ts); check_ranks(&ts); }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), count in 0usize..100) {
        let _ = TsColumn::parse(&bytes, count);
    }
}
