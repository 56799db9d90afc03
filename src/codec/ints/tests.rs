use super::layout::{DescTotals, HEADER_LEN, MODE_DELTAS, MODE_LEVEL_BITMAP, TWO_LEVEL};
use super::*;
use proptest::prelude::*;

/// Both two-level layouts: what this version writes and the version 1 one it still reads.
const LAYOUTS: [Levels; 2] = [Levels::Bitmap, Levels::LowBit];

/// The encodings of `v` in both layouts.
pub(crate) fn encodings(v: &[i64]) -> [Vec<u8>; 2] {
    LAYOUTS.map(|levels| {
        let mut buf = Vec::new();
        encode_with(v, levels, &mut buf);
        buf
    })
}

/// The encodings of `v` in both layouts and both modes, whichever the writer would pick.
pub(crate) fn forced_encodings(v: &[i64]) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for mode in [Mode::Values, Mode::Deltas] {
        for levels in LAYOUTS {
            let mut buf = Vec::new();
            encode_as(v, levels, mode, &mut buf);
            all.push(buf);
        }
    }
    all
}

/// Round-trips `v` in both layouts (which take the same space); returns the size.
fn roundtrip(v: &[i64]) -> usize {
    let bufs = encodings(v);
    for buf in &bufs {
        let (back, used) = decode(buf).expect("decodes");
        assert_eq!(used, buf.len());
        assert_eq!(back, v);
        // The portable decoder agrees with the dispatched one.
        let (col, _) = IntColumn::parse(buf).expect("decodes");
        let mut portable = Vec::new();
        col.decode_into_impl(&mut portable, false);
        assert_eq!(portable, v);
    }
    assert_eq!(bufs[0].len(), bufs[1].len());
    bufs[0].len()
}

#[test]
fn empty_and_single() {
    roundtrip(&[]);
    roundtrip(&[42]);
    roundtrip(&[i64::MIN]);
}

#[test]
fn extremes_roundtrip() {
    roundtrip(&[i64::MIN, i64::MAX, 0, -1, 1, i64::MAX, i64::MIN]);
}

#[test]
fn constant_column_is_tiny() {
    let v = vec![12_345i64; 4096];
    assert!(roundtrip(&v) < 200);
}

#[test]
fn counter_prefers_deltas() {
    let v: Vec<i64> = (0..4096).map(|i| 1_000_000 + i * 250 + (i % 7)).collect();
    let len = roundtrip(&v);
    // Deltas span 0..=6 plus the step: 3 bits a value, far below the 22 bits of the values.
    assert!(len < 4096 * 3 / 8 + 300, "len {len}");
    let mut buf = Vec::new();
    encode(&v, &mut buf);
    assert_eq!(buf[0], MODE_DELTAS | MODE_LEVEL_BITMAP);
}

#[test]
fn truncations_error_not_panic() {
    let v: Vec<i64> = (0..300).map(|i| (i * 7919) % 1000).collect();
    let mut buf = Vec::new();
    encode(&v, &mut buf);
    for cut in 0..buf.len() {
        assert!(decode(&buf[..cut]).is_err(), "cut at {cut} decoded");
    }
}

#[test]
fn bad_width_is_reported() {
    let mut buf = Vec::new();
    encode(&[1, 2, 3], &mut buf);
    buf[HEADER_LEN] = 65;
    let err = decode(&buf).unwrap_err();
    assert_eq!(err.at, HEADER_LEN);
}

proptest! {
    #[test]
    fn random_columns_roundtrip(v in proptest::collection::vec(any::<i64>(), 0..700)) {
        roundtrip(&v);
    }

    #[test]
    fn small_range_columns_roundtrip(
        base in any::<i64>(),
        v in proptest::collection::vec(0i64..5000, 0..700),
    ) {
        let v: Vec<i64> = v.into_iter().map(|x| base.wrapping_add(x)).collect();
        roundtrip(&v);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode(&bytes);
    }
}

#[test]
fn level_switch_uses_two_levels() {
    // Idle around 1000, running around 30000, noise of +-50: one frame needs 15 bits,
    // two levels need 1 + 7.
    let v: Vec<i64> = (0..64)
        .map(|i| if (20..50).contains(&i) { 30_000 } else { 1000 } + (i * 37 % 100) - 50)
        .collect();
    for buf in encodings(&v) {
        assert_eq!(buf[HEADER_LEN] & TWO_LEVEL, TWO_LEVEL);
        assert_eq!(buf[HEADER_LEN] & !TWO_LEVEL, 7);
        assert_eq!(decode(&buf).unwrap().0, v);
    }
}

#[test]
fn extreme_two_level_splits_roundtrip() {
    let mut v = vec![i64::MIN; 40];
    v.extend(vec![i64::MAX; 24]);
    v.extend([0, 1, 2, 3, i64::MIN + 5, i64::MAX - 9]);
    roundtrip(&v);
}

/// Pseudo-random values below `n` without linear structure (so that values, not deltas,
/// are the smaller encoding).
pub(crate) fn noise(i: u64, n: u64) -> i64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % n) as i64
}

proptest! {
    /// The word-at-a-time descriptor totals equal a byte-by-byte count, bad widths
    /// and the largest widths included, at every length (whole words and a remainder).
    #[test]
    fn desc_totals_match_bytewise(
        descs in proptest::collection::vec(any::<u8>(), 0..100),
        after in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        // Alone, and followed by other bytes of the column (which must not count).
        let mut column = descs.clone();
        column.extend_from_slice(&after);
        let within = &column[..descs.len()];
        for t in [DescTotals::of(&descs, &descs), DescTotals::of(within, &column)] {
            let widths = descs.iter().map(|&d| (d & 0x7f) as usize + (d >> 7) as usize);
            prop_assert_eq!(t.bad, widths.clone().any(|w| w > 64));
            prop_assert_eq!(t.units, widths.clone().sum::<usize>());
            prop_assert_eq!(t.n_two, descs.iter().filter(|&&d| d >= 0x80).count());
            prop_assert_eq!(t.max_packed as usize, widths.max().unwrap_or(0));
            prop_assert_eq!(t.max_low, descs.iter().map(|&d| d & 0x7f).max().unwrap_or(0));
        }
    }
}
