//! The catalog: round trip, reopen with the store, corrupt files give clear errors, and
//! CSV import is all or nothing with line numbers.

use meterstore::monitor::{
    Catalog, CatalogMeter, EmergencyPeriod, Enterprise, ManualThreshold, MeterRole,
    MultiplierChange, RuleId, Suppression, CATALOG_FILE,
};
use meterstore::{Error, Options, Quantity, Store};

fn sample() -> Catalog {
    let mut c = Catalog::new();
    c.upsert_enterprise(Enterprise {
        id: "E1".into(),
        name: "红星水泥厂".into(),
        industry: "cement".into(),
        process: "clinker kiln".into(),
        pollutants: vec!["PM10".into(), "NOx".into()],
        district: "Haidian".into(),
    })
    .unwrap();
    let mut m = CatalogMeter::new("M1", "E1", MeterRole::Treatment);
    m.facility = "bag filter 1".into();
    m.kind = Quantity::Power;
    m.interval_s = Some(300);
    m.unit = "kW".into();
    m.multipliers = vec![
        MultiplierChange {
            from: 1_717_171_200,
            value: 40.0,
        },
        MultiplierChange {
            from: i64::MIN,
            value: 20.0,
        },
    ];
    c.upsert_meter(m).unwrap();
    c.upsert_meter(CatalogMeter::new("M2", "E1", MeterRole::Production))
        .unwrap();
    c.set_manual(
        "M1",
        ManualThreshold {
            off_kw: Some(3.5),
            normal_kw: None,
        },
    )
    .unwrap();
    c.add_suppression(Suppression {
        enterprise: "E1".into(),
        meter: Some("M1".into()),
        rules: vec![RuleId::TreatmentStopped],
        range: 100..200,
        reason: "报备检修".into(),
    })
    .unwrap();
    c.add_emergency(EmergencyPeriod {
        name: "orange".into(),
        range: 1000..2000,
        required_cut: 0.2,
        enterprises: vec![],
        baseline: None,
    })
    .unwrap();
    c
}

#[test]
fn round_trip_and_reopen() {
    let c = sample();
    let m1 = c.meter("M1").unwrap();
    assert_eq!(m1.multipliers[0].from, i64::MIN, "sorted by date");
    assert_eq!(m1.multiplier_at(0), 20.0);
    assert_eq!(m1.multiplier_at(1_717_171_200), 40.0);
    let back = Catalog::decode(std::path::Path::new("CATALOG"), &c.encode()).unwrap();
    assert_eq!(back, c);

    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), Options::default()).unwrap();
        assert_eq!(Catalog::load(&store).unwrap(), Catalog::new());
        c.save(&store).unwrap();
        store.close().unwrap();
    }
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(Catalog::load(&store).unwrap(), c);
    assert!(!dir.path().join("CATALOG.tmp").exists());
}

#[test]
fn corrupt_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = sample().encode();
    let path = dir.path().join(CATALOG_FILE);
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("zeros".into(), vec![0; bytes.len()]),
        ("truncated".into(), bytes[..bytes.len() - 1].to_vec()),
        ("extended".into(), [&bytes[..], &[0]].concat()),
    ];
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        cases.push((format!("flip at {i}"), b));
    }
    for (what, b) in cases {
        std::fs::write(&path, &b).unwrap();
        let err = Catalog::load_dir(dir.path()).expect_err(&what);
        let msg = err.to_string();
        assert!(msg.contains("CATALOG"), "{what}: {msg}");
        assert!(
            matches!(err, Error::Corrupt { .. } | Error::ChecksumMismatch { .. }),
            "{what}: {err:?}"
        );
    }
    // A newer version is its own error.
    let mut b = bytes.clone();
    b[8] = 9;
    let crc = crc32fast::hash(&b[..20]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    let err = Catalog::load_dir(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { version: 9, .. }),
        "{err:?}"
    );
}

fn rows(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let line = rec.position().map_or(0, |p| p.line() as usize);
            (line, rec.iter().map(str::to_owned).collect())
        })
        .collect()
}

#[test]
fn csv_import_all_or_nothing() {
    let good = "\
meter_id,enterprise_id,role,enterprise_name,pollutants,facility,multiplier,multiplier_changes
M1,E1,production,\"Acme, Ltd\",PM10;SO2,kiln,20,2024-06-01T00:00:00+08:00=40
M2,E1,treatment,,,bag filter,,
M3,E2,治污,,,,,
";
    let mut c = Catalog::new();
    let r = c.import_rows(rows(good)).unwrap();
    assert_eq!((r.rows, r.enterprises_added, r.meters_added), (3, 2, 3));
    assert_eq!(c.enterprise("E1").unwrap().name, "Acme, Ltd");
    assert_eq!(c.enterprise("E1").unwrap().pollutants, vec!["PM10", "SO2"]);
    let m1 = c.meter("M1").unwrap();
    assert_eq!(m1.multiplier_at(0), 20.0);
    assert_eq!(m1.multiplier_at(1_717_171_200), 40.0);
    assert_eq!(c.meter("M3").unwrap().role, MeterRole::Treatment);

    let bad = "\
meter_id,enterprise_id,role,interval_s
M9,E9,production,900
M10,E9,boiler,900
M11,E9,treatment,fifteen
M9,E9,main,900
M12,,production,900
";
    let before = c.clone();
    let err = c.import_rows(rows(bad)).unwrap_err();
    let lines: Vec<usize> = err.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6], "{err}");
    assert!(
        err.to_string().contains("line 3: unknown role \"boiler\""),
        "{err}"
    );
    assert_eq!(c, before, "nothing imported");

    let err = c.import_rows(rows("meter_id,role\nM1,main\n")).unwrap_err();
    assert_eq!(err.rows[0].line, 1);
    assert!(err.to_string().contains("enterprise_id"), "{err}");
}

#[test]
fn exported_rows_import_to_the_same_meters() {
    let mut c = sample();
    let mut reg = CatalogMeter::new("M3", "E1", MeterRole::Main);
    reg.kind = Quantity::CumulativeRegister;
    reg.interval_s = None;
    c.upsert_meter(reg).unwrap();
    let rows_out = c.export_rows();
    assert_eq!(rows_out[0][0], "meter_id");
    assert_eq!(rows_out.len(), 4);
    let mut back = Catalog::new();
    back.import_rows(rows_out.into_iter().enumerate().map(|(i, r)| (i + 1, r)))
        .unwrap();
    let meters = |c: &Catalog| c.meters().cloned().collect::<Vec<_>>();
    assert_eq!(meters(&back), meters(&c));
    assert_eq!(
        back.enterprises().collect::<Vec<_>>(),
        c.enterprises().collect::<Vec<_>>()
    );
}
