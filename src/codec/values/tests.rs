use super::*;
use proptest::prelude::*;

fn roundtrip(vals: &[f64]) -> ValueKind {
    let mut ints = Vec::new();
    let kind = to_ints(vals, &mut ints);
    let mut back = Vec::new();
    from_ints(kind, &ints, &mut back);
    assert_eq!(back.len(), vals.len());
    for (a, b) in vals.iter().zip(&back) {
        assert_eq!(a.to_bits(), b.to_bits(), "{a} came back as {b}");
    }
    kind
}

#[test]
fn wh_resolution_is_scale_three() {
    assert_eq!(
        roundtrip(&[12.345, 0.001, 7.0, 100.5]),
        ValueKind::Decimal { scale: 3 }
    );
}

#[test]
fn integers_are_scale_zero() {
    assert_eq!(
        roundtrip(&[1.0, -5.0, 1e15]),
        ValueKind::Decimal { scale: 0 }
    );
}

#[test]
fn awkward_floats_take_the_float_path() {
    for v in [
        -0.0,
        f64::MIN_POSITIVE / 2.0,
        f64::MAX,
        f64::MIN,
        1.0 / 3.0,
        f64::EPSILON,
    ] {
        assert_eq!(roundtrip(&[1.5, v]), ValueKind::FloatBits, "{v}");
    }
}

#[test]
fn kind_bytes_roundtrip_and_reject_unknown() {
    for k in [
        ValueKind::Decimal { scale: 0 },
        ValueKind::Decimal { scale: 15 },
        ValueKind::FloatBits,
    ] {
        let (a, b) = k.to_bytes();
        assert_eq!(ValueKind::from_bytes(a, b), Some(k));
    }
    assert_eq!(ValueKind::from_bytes(0, 16), None);
    assert_eq!(ValueKind::from_bytes(2, 0), None);
    assert_eq!(ValueKind::from_bytes(1, 3), None);
}

proptest! {
    #[test]
    fn any_finite_f64_roundtrips(vals in proptest::collection::vec(any::<f64>().prop_filter("finite", |v| v.is_finite()), 0..200)) {
        roundtrip(&vals);
    }

    #[test]
    fn any_bit_pattern_roundtrips(bits in proptest::collection::vec(any::<u64>(), 0..200)) {
        let vals: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
        roundtrip(&vals);
    }

    #[test]
    fn decimals_stay_decimal(ints in proptest::collection::vec(-10_000_000i64..10_000_000, 1..200), scale in 0u8..=6) {
        let vals: Vec<f64> = ints.iter().map(|&i| i as f64 / 10f64.powi(scale as i32)).collect();
        match roundtrip(&vals) {
            ValueKind::Decimal { scale: s } => prop_assert!(s <= scale),
            ValueKind::FloatBits => prop_assert!(false, "decimal data took the float path"),
        }
    }
}

/// `from_ints` as the plain conversion gives it.
fn plain(kind: ValueKind, ints: &[i64]) -> Vec<u64> {
    let m = kind.divisor().unwrap();
    ints.iter().map(|&i| (i as f64 / m).to_bits()).collect()
}

fn converted(kind: ValueKind, ints: &[i64]) -> Vec<u64> {
    let mut out = vec![0.5];
    from_ints(kind, ints, &mut out);
    assert_eq!(out.remove(0), 0.5, "appends after what is there");
    out.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn integers_at_the_edges_of_the_vector_route_convert_exactly() {
    let edge = 1i64 << 51;
    let top = (1i64 << 53) - 1;
    let ints = [
        0,
        1,
        -1,
        edge - 1,
        edge,
        -edge,
        -edge + 1,
        edge + 1,
        -edge - 1,
        top,
        -top,
    ];
    for scale in [0, 3, 15] {
        let kind = ValueKind::Decimal { scale };
        // Inside the range, then with one integer outside it (the whole slice takes the
        // other route).
        assert_eq!(converted(kind, &ints[..7]), plain(kind, &ints[..7]));
        assert_eq!(converted(kind, &ints), plain(kind, &ints));
    }
}

proptest! {
    #[test]
    fn decimal_conversion_equals_the_plain_one(
        ints in proptest::collection::vec(-(1i64 << 53) + 1..(1i64 << 53), 0..80),
        small in proptest::collection::vec(-100_000i64..100_000, 0..80),
        scale in 0u8..=MAX_SCALE,
    ) {
        let kind = ValueKind::Decimal { scale };
        prop_assert_eq!(converted(kind, &ints), plain(kind, &ints));
        prop_assert_eq!(converted(kind, &small), plain(kind, &small));
    }
}
