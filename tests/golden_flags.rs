//! The golden store of format version 5 (quality flags, `tests/fixtures/golden_v5`): a
//! cold segment and a hot segment whose blocks carry flag columns, and a log file of
//! version 5 whose last record is a batch with flags (record kind 2). It keeps opening with
//! the same readings and flags; every truncation and single-bit flip of its flagged
//! segments gives an error, never a panic; every cut and bit flip of its log replays a
//! prefix or gives an error.
//!
//! Write the fixture again (only when the flag format changes, with a new version):
//! `cargo test --test golden_flags -- --ignored write_flags_fixture`

mod support;

use support::manual_compaction as opts;
use support::rewrite;

use meterstore::{verify_segment, Error, Flag, MeterMeta, Quantity, Reading, Store};
use std::path::{Path, PathBuf};

const FIXTURE: &str = "tests/fixtures/golden_v5";

/// Per meter, its readings in time order as (timestamp, value bits, flag).
type Content = Vec<Vec<(i64, u64, Flag)>>;

/// A meter of the fixture: id, metadata, readings with their flags.
type FixtureMeter = (&'static str, MeterMeta, Vec<(i64, f64, Flag)>);

fn flag_of(k: i64) -> Flag {
    match k % 300 {
        0..=9 => Flag::Maintenance,
        50 => Flag::Fault,
        51 => Flag::Calibration,
        120..=121 => Flag::Stopped,
        200 => Flag::Manual,
        201 => Flag::OverLimit,
        202 => Flag::Communication,
        _ => Flag::Normal,
    }
}

/// January 2024 (+08:00), which goes cold, and part of February, which stays hot: a
/// regular meter whose flags span block boundaries and an irregular one with floats.
fn segments() -> Vec<FixtureMeter> {
    let jan = support::JAN;
    let regular: Vec<(i64, f64, Flag)> = (0..4500)
        .filter(|k| k % 89 != 7)
        .map(|k| {
            (
                jan + k * 900,
                ((k * 7919) % 5000 + 100) as f64 / 1000.0,
                flag_of(k),
            )
        })
        .collect();
    let mut t = jan;
    let floats: Vec<(i64, f64, Flag)> = (0..700)
        .map(|k| {
            t += 1 + (k * 37) % 6001;
            (t, (k as f64 + 0.5).sqrt(), flag_of(k + 5))
        })
        .collect();
    let irregular = MeterMeta {
        kind: Quantity::Power,
        interval_s: None,
        unit: "kW".into(),
    };
    vec![
        ("M-regular", MeterMeta::default(), regular),
        ("M-float", irregular, floats),
    ]
}

/// The batch only in the log: a correction of the regular meter's first readings (the
/// maintenance flags taken back, a fault added) and new readings after them.
fn logged() -> Vec<(i64, f64, Flag)> {
    let jan = support::JAN;
    (0..12)
        .map(|k| {
            (
                jan + k * 900,
                9.5,
                if k == 11 { Flag::Fault } else { Flag::Normal },
            )
        })
        .chain((0..3).map(|k| (jan + (4500 + k) * 900, 1.25, Flag::Calibration)))
        .collect()
}

/// What the store holds: the segments' readings with the logged batch over them (when
/// `with_log`), per meter in time order, values as bits.
fn expected(with_log: bool) -> Content {
    segments()
        .into_iter()
        .map(|(id, _, r)| {
            let mut m: std::collections::BTreeMap<i64, (u64, Flag)> = r
                .into_iter()
                .map(|(t, v, f)| (t, (v.to_bits(), f)))
                .collect();
            if with_log && id == "M-regular" {
                m.extend(logged().into_iter().map(|(t, v, f)| (t, (v.to_bits(), f))));
            }
            m.into_iter().map(|(t, (v, f))| (t, v, f)).collect()
        })
        .collect()
}

fn batch<'a>(id: &'a str, r: &[(i64, f64, Flag)]) -> Vec<Reading<'a>> {
    r.iter()
        .map(|&(ts, v, f)| Reading::new(id, ts, v).with_flag(f))
        .collect()
}

#[test]
#[ignore = "writes the committed fixture; run only when the flag format changes"]
fn write_flags_fixture() {
    let dir = Path::new(FIXTURE);
    let _ = std::fs::remove_dir_all(dir);
    write_store(dir);
}

fn write_store(dir: &Path) {
    let s = Store::open(dir, opts()).unwrap();
    for (id, meta, readings) in segments() {
        s.register_meter(id, meta).unwrap();
        s.append(&batch(id, &readings)).unwrap();
    }
    s.flush().unwrap();
    assert_eq!(s.compact_cold().unwrap().windows, 1);
    s.append(&batch("M-regular", &logged())).unwrap();
    drop(s); // no flush: the flagged batch stays in the log
}

/// Paths in `dir` of the segments and of the log files.
fn files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let list = |d: &Path, ext: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        v.sort();
        v
    };
    (list(dir, "mts"), list(&dir.join("wal"), "log"))
}

fn copy_fixture() -> (tempfile::TempDir, Vec<PathBuf>, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    support::copy_dir(Path::new(FIXTURE), tmp.path());
    let (segs, logs) = files(tmp.path());
    let log = logs.last().expect("the fixture has a log file").clone();
    (tmp, segs, log)
}

fn read_all(dir: &Path) -> Result<Content, Error> {
    let s = Store::open_read_only(dir)?;
    segments()
        .iter()
        .map(|(id, _, _)| {
            let h = s.history(id, i64::MIN..i64::MAX)?;
            let flags = h.flags().to_vec();
            Ok(h.zip(flags)
                .map(|((t, v), f)| (t, v.to_bits(), f))
                .collect())
        })
        .collect()
}

#[test]
fn flags_fixture_matches_what_this_version_writes() {
    // Not required for compatibility, but a change here means the writer changed: bump
    // the version or explain why the bytes differ.
    let tmp = tempfile::tempdir().unwrap();
    write_store(tmp.path());
    let (mine, _) = files(tmp.path());
    let (_fixture, segs, _) = copy_fixture();
    assert_eq!(mine.len(), segs.len());
    for (a, b) in mine.iter().zip(&segs) {
        assert_eq!(a.file_name(), b.file_name());
        assert_eq!(
            std::fs::read(a).unwrap(),
            std::fs::read(b).unwrap(),
            "{b:?}"
        );
    }
}

#[test]
fn flags_fixture_opens_with_the_same_readings_and_flags() {
    let (tmp, segs, log) = copy_fixture();
    // One cold and one hot segment, both version 5; the log file is version 5.
    let mut versions: Vec<(u8, bool)> = segs
        .iter()
        .map(|p| {
            let b = std::fs::read(p).unwrap();
            (b[8], b[b.len() - 44 + 29] & 1 == 1)
        })
        .collect();
    versions.sort();
    assert_eq!(versions, vec![(5, false), (5, true)]);
    assert_eq!(std::fs::read(&log).unwrap()[8], 5);
    assert_eq!(read_all(tmp.path()).unwrap(), expected(true));
    // Through a writer's open (which replays the log), a flush and a compaction.
    let s = Store::open(tmp.path(), opts()).unwrap();
    assert_eq!(s.recovery_report().wal.records, 1);
    s.flush().unwrap();
    s.compact_all().unwrap();
    s.close().unwrap();
    assert_eq!(read_all(tmp.path()).unwrap(), expected(true));
}

#[test]
fn every_truncation_of_a_flagged_segment_is_an_error() {
    let (tmp, segs, _) = copy_fixture();
    for seg in &segs {
        let bytes = std::fs::read(seg).unwrap();
        for cut in 0..bytes.len() {
            rewrite(seg, &bytes[..cut]);
            assert!(
                verify_segment(seg).is_err(),
                "{seg:?} cut to {cut} bytes was accepted"
            );
            if cut % 97 == 0 {
                assert!(read_all(tmp.path()).is_err(), "store took a cut to {cut}");
            }
        }
        rewrite(seg, &bytes);
    }
}

#[test]
fn every_bit_flip_of_a_flagged_segment_is_an_error() {
    let (tmp, segs, _) = copy_fixture();
    for seg in &segs {
        let bytes = std::fs::read(seg).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            rewrite(seg, &b);
            let via_store = (bit % 97 == 0).then(|| read_all(tmp.path()).map(|_| 0));
            for res in [verify_segment(seg)].into_iter().chain(via_store) {
                match res {
                    Err(Error::Corrupt { path, .. } | Error::ChecksumMismatch { path, .. }) => {
                        assert_eq!(&path, seg)
                    }
                    other => panic!("{seg:?}: flip of bit {bit} gave {other:?}"),
                }
            }
        }
        rewrite(seg, &bytes);
    }
}

#[test]
fn every_cut_and_bit_flip_of_the_flagged_log_replays_a_prefix_or_fails() {
    let (tmp, _, log) = copy_fixture();
    let bytes = std::fs::read(&log).unwrap();
    let check = |what: String, res: Result<Content, Error>| match res {
        Ok(got) => assert!(got == expected(false) || got == expected(true), "{what}"),
        Err(Error::Corrupt { path, .. } | Error::Damaged { path, .. }) => {
            assert_eq!(path, log, "{what}")
        }
        Err(e) => panic!("{what}: {e}"),
    };
    // A reader's open changes nothing, so the same file serves every case.
    for cut in 0..bytes.len() {
        rewrite(&log, &bytes[..cut]);
        check(format!("cut {cut}"), read_all(tmp.path()));
    }
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        rewrite(&log, &b);
        check(format!("bit {bit}"), read_all(tmp.path()));
    }
}
