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
