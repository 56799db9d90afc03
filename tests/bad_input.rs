//! Bad input gets a clear error naming the reading, and a rejected batch changes nothing.

use meterstore::{Error, MeterMeta, Options, Quantity, Reading, Store, UnknownMeters};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), Options::default()).unwrap();
    s.register_meter("M1", MeterMeta::default()).unwrap();
    s.register_meter(
        "IRR",
        MeterMeta {
            kind: Quantity::Power,
            interval_s: None,
            unit: "kW".into(),
        },
    )
    .unwrap();
    s.append(&[Reading::new("M1", 0, 1.0)]).unwrap();
    (dir, s)
}

fn all(s: &Store, m: &str) -> Vec<(i64, f64)> {
    s.history(m, i64::MIN..i64::MAX).unwrap().collect()
}

fn rejected(s: &Store, batch: &[Reading<'_>], index: usize, needle: &str) {
    let before = (all(s, "M1"), all(s, "IRR"), s.meter_ids());
    let err = s.append(batch).unwrap_err();
    match &err {
        Error::InvalidReading {
            index: i, reason, ..
        } => {
            assert_eq!(*i, index, "{err}");
            assert!(reason.contains(needle), "{err}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert_eq!(
        before,
        (all(s, "M1"), all(s, "IRR"), s.meter_ids()),
        "batch was not rejected whole"
    );
}

#[test]
fn nan_and_infinite_values() {
    let (_d, s) = store();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let batch = [Reading::new("M1", 900, 2.0), Reading::new("M1", 1800, bad)];
        rejected(&s, &batch, 1, "not finite");
    }
}

#[test]
fn off_grid_timestamp() {
    let (_d, s) = store();
    let batch = [Reading::new("IRR", 7, 2.0), Reading::new("M1", 901, 2.0)];
    rejected(&s, &batch, 1, "900 s grid");
    // Irregular meters take any timestamp.
    s.append(&batch[..1]).unwrap();
}

#[test]
fn unknown_meter_rejected_by_default() {
    let (_d, s) = store();
    let batch = [Reading::new("M1", 900, 2.0), Reading::new("M2", 900, 2.0)];
    rejected(&s, &batch, 1, "unknown meter");
    assert!(matches!(
        s.history("M2", 0..10),
        Err(Error::UnknownMeter(_))
    ));
}

#[test]
fn auto_registration_is_undone_with_a_rejected_batch() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        unknown_meters: UnknownMeters::Register(MeterMeta::default()),
        ..Options::default()
    };
    let s = Store::open(dir.path(), opts.clone()).unwrap();
    let batch = [Reading::new("NEW", 0, 1.0), Reading::new("NEW", 5, 1.0)];
    assert!(s.append(&batch).is_err());
    assert!(s.meter_ids().is_empty());
    s.append(&batch[..1]).unwrap();
    drop(s);
    let s = Store::open(dir.path(), opts).unwrap();
    assert_eq!(s.meter_ids(), vec!["NEW".to_owned()]);
}

#[test]
fn conflicting_registration() {
    let (_d, s) = store();
    s.register_meter("M1", MeterMeta::default()).unwrap();
    let other = MeterMeta {
        interval_s: Some(60),
        ..MeterMeta::default()
    };
    assert!(matches!(
        s.register_meter("M1", other),
        Err(Error::InvalidArgument(_))
    ));
    assert!(s.register_meter("", MeterMeta::default()).is_err());
    let zero = MeterMeta {
        interval_s: Some(0),
        ..MeterMeta::default()
    };
    assert!(s.register_meter("Z", zero).is_err());
}

#[test]
fn second_writer_gets_lock_error() {
    let (d, _s) = store();
    assert!(matches!(
        Store::open(d.path(), Options::default()),
        Err(Error::Locked { .. })
    ));
}

#[test]
fn gaps_need_a_regular_meter() {
    let (_d, s) = store();
    assert!(matches!(
        s.gaps("IRR", 0..100),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn gaps_on_an_open_ended_range_do_not_overflow() {
    let (_d, s) = store();
    let g = s.gaps("M1", i64::MIN..i64::MAX).unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].end, 0);
    assert_eq!(g[1].start, 900);
}

#[test]
fn batch_registration_is_all_or_nothing() {
    let (d, s) = store();
    let other = MeterMeta {
        interval_s: Some(60),
        ..MeterMeta::default()
    };
    let bad = vec![
        ("N1".to_owned(), MeterMeta::default()),
        ("M1".to_owned(), MeterMeta::default()),
        ("N2".to_owned(), other.clone()),
        ("N2".to_owned(), MeterMeta::default()),
    ];
    let err = s.register_meters(&bad).unwrap_err();
    assert!(err.to_string().contains("N2"), "{err}");
    assert!(
        s.meter_meta("N1").is_none(),
        "nothing registered from a rejected list"
    );
    let good: Vec<(String, MeterMeta)> = (0..500)
        .map(|i| (format!("B{i:04}"), MeterMeta::default()))
        .collect();
    s.register_meters(&good).unwrap();
    s.register_meters(&good).unwrap();
    drop(s);
    let s = Store::open(d.path(), Options::default()).unwrap();
    assert_eq!(s.meter_ids().len(), 2 + 500);
    assert_eq!(s.meter_meta("B0499"), Some(MeterMeta::default()));
}
