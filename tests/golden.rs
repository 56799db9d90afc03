//! The golden stores written by every format version must keep opening with the same
//! content, and every truncation and single-bit flip of their segments gives an error,
//! never a panic.
//!
//! Write the fixture of a new format version (keeping the old fixtures), after adding it
//! to `FIXTURES`: `cargo test --test golden -- --ignored write_golden_fixture`

mod support;

use meterstore::{verify_segment, Error, MeterMeta, Options, Quantity, Reading, Store};
use std::path::{Path, PathBuf};

/// One store per format version, oldest first; the last is what this version writes.
/// `golden_v3` is segment version 2 with version-3 MANIFEST and METERS.
const FIXTURES: [&str; 3] = [
    "tests/fixtures/golden_v1",
    "tests/fixtures/golden_v2",
    "tests/fixtures/golden_v3",
];

/// The fixture of the version this build writes.
fn current() -> &'static str {
    FIXTURES[FIXTURES.len() - 1]
}

/// The fixture's content: every codec path (regular with and without gaps, irregular,
/// decimal, float bits, counter deltas, zstd).
/// A meter of the fixture: id, metadata, readings.
type FixtureMeter = (&'static str, MeterMeta, Vec<(i64, f64)>);

fn content() -> Vec<FixtureMeter> {
    let start = 1_704_038_400;
    let regular: Vec<(i64, f64)> = (0..192)
        .filter(|k| !(40..47).contains(k))
        .map(|k| (start + k * 900, ((k * 7919) % 5000 + 100) as f64 / 1000.0))
        .collect();
    let counter: Vec<(i64, f64)> = (0..192)
        .map(|k| (start + k * 900, 12_345.6 + k as f64 * 2.5))
        .collect();
    let mut t = start;
    let floats: Vec<(i64, f64)> = (0..300)
        .map(|k| {
            t += 1 + (k * 37) % 61;
            (t, (k as f64 + 0.5).sqrt())
        })
        .collect();
    let odd = vec![
        (start, -0.0),
        (start + 1, f64::MIN_POSITIVE / 4.0),
        (start + 2, f64::MAX),
        (start + 3, -1e-300),
        (start + 4, 0.1 + 0.2),
    ];
    let irregular = |kind| MeterMeta {
        kind,
        interval_s: None,
        unit: "kW".into(),
    };
    vec![
        ("M-regular", MeterMeta::default(), regular),
        (
            "M-counter",
            MeterMeta {
                kind: Quantity::CumulativeRegister,
                ..MeterMeta::default()
            },
            counter,
        ),
        ("M-float", irregular(Quantity::Power), floats),
        ("M-odd", irregular(Quantity::Other), odd),
    ]
}

fn write_store(dir: &Path) {
    let s = Store::open(dir, Options::default()).unwrap();
    for (id, meta, readings) in content() {
        s.register_meter(id, meta).unwrap();
        let batch: Vec<Reading> = readings
            .iter()
            .map(|&(ts, value)| Reading::new(id, ts, value))
            .collect();
        s.append(&batch).unwrap();
    }
    s.flush().unwrap();
}

#[test]
#[ignore = "writes the committed fixture; run only when adding a format version"]
fn write_golden_fixture() {
    let dir = Path::new(current());
    let _ = std::fs::remove_dir_all(dir);
    write_store(dir);
    // The log holds no records after the flush, but MANIFEST names its file: it stays.
}

/// Replaces a file's content. Unlink and create rather than truncate: ext4 forces the data
/// of a truncated-and-rewritten file out at close, which would make these loops I/O bound.
fn rewrite(path: &Path, bytes: &[u8]) {
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn copy_fixture(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    support::copy_dir(Path::new(fixture), tmp.path());
    let seg = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "mts"))
        .expect("fixture has a segment");
    (tmp, seg)
}

/// Opens the store and reads everything; the first error, if any.
fn read_all(dir: &Path) -> Result<Vec<Vec<(i64, u64)>>, Error> {
    let s = Store::open(dir, Options::default())?;
    content()
        .iter()
        .map(|(id, _, _)| {
            Ok(s.history(id, i64::MIN..i64::MAX)?
                .map(|(t, v)| (t, v.to_bits()))
                .collect())
        })
        .collect()
}

fn expected() -> Vec<Vec<(i64, u64)>> {
    content()
        .into_iter()
        .map(|(_, _, r)| r.into_iter().map(|(t, v)| (t, v.to_bits())).collect())
        .collect()
}

#[test]
fn golden_stores_open_with_same_content() {
    for fixture in FIXTURES {
        let (tmp, _) = copy_fixture(fixture);
        assert_eq!(read_all(tmp.path()).unwrap(), expected(), "{fixture}");
    }
}

#[test]
fn golden_matches_what_this_version_writes() {
    // Not required for compatibility, but a change here means the writer changed: bump
    // the format version or explain why the bytes differ.
    let tmp = tempfile::tempdir().unwrap();
    write_store(tmp.path());
    let (fixture, seg) = copy_fixture(current());
    let mine = std::fs::read(tmp.path().join(seg.file_name().unwrap())).unwrap();
    assert_eq!(mine, std::fs::read(&seg).unwrap());
    drop(fixture);
}

#[test]
fn every_truncation_is_an_error() {
    for fixture in FIXTURES {
        truncations_are_errors(fixture);
    }
}

fn truncations_are_errors(fixture: &str) {
    let (tmp, seg) = copy_fixture(fixture);
    let bytes = std::fs::read(&seg).unwrap();
    for cut in 0..bytes.len() {
        rewrite(&seg, &bytes[..cut]);
        assert!(
            verify_segment(&seg).is_err(),
            "{fixture}: truncation to {cut} bytes was accepted"
        );
        // Through the store as well, on a sample (a store open is costlier).
        if cut % 61 == 0 {
            assert!(
                read_all(tmp.path()).is_err(),
                "{fixture}: store accepted truncation to {cut} bytes"
            );
        }
    }
}

#[test]
fn every_bit_flip_is_an_error() {
    for fixture in FIXTURES {
        bit_flips_are_errors(fixture);
    }
}

fn bit_flips_are_errors(fixture: &str) {
    let (tmp, seg) = copy_fixture(fixture);
    let bytes = std::fs::read(&seg).unwrap();
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        rewrite(&seg, &b);
        let via_store = if bit % 61 == 0 {
            Some(read_all(tmp.path()).map(|_| 0))
        } else {
            None
        };
        for res in [verify_segment(&seg)].into_iter().chain(via_store) {
            match res {
                Err(Error::Corrupt { path, .. } | Error::ChecksumMismatch { path, .. }) => {
                    assert_eq!(path, seg)
                }
                Err(Error::UnsupportedVersion { .. }) => {}
                other => panic!("{fixture}: flip of bit {bit} gave {other:?}"),
            }
        }
    }
}

#[test]
fn corrupt_metadata_files_are_errors() {
    for name in ["MANIFEST", "METERS"] {
        let (tmp, _) = copy_fixture(current());
        let p = tmp.path().join(name);
        let bytes = std::fs::read(&p).unwrap();
        for bit in (0..bytes.len() * 8).step_by(3) {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            rewrite(&p, &b);
            assert!(read_all(tmp.path()).is_err(), "{name} flip {bit}");
        }
    }
}
