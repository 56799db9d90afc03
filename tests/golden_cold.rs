//! The golden store of segment version 4 (cold segments, `tests/fixtures/golden_v4`) keeps
//! opening with the same content, and every truncation and single-bit flip of its cold
//! segment gives an error, never a panic.
//!
//! Write the fixture again (only when the cold format changes, with a new version):
//! `cargo test --test golden_cold -- --ignored write_cold_fixture`

mod support;

use support::manual_compaction as opts;
use support::rewrite;

use meterstore::{verify_segment, Error, MeterMeta, Quantity, Reading, Store};
use std::path::{Path, PathBuf};

const FIXTURE: &str = "tests/fixtures/golden_v4";

/// A meter of the fixture: id, metadata, readings.
type FixtureMeter = (&'static str, MeterMeta, Vec<(i64, f64)>);

/// January 2024 (+08:00) in every codec path of cold blocks (regular with gaps, a
/// register, irregular timestamps with values that are not decimal, -0.0 and subnormals),
/// and one February reading, so that January has ended and goes cold.
fn content() -> Vec<FixtureMeter> {
    let jan = support::JAN;
    let regular: Vec<(i64, f64)> = (0..2000)
        .filter(|k| !(400..430).contains(k) && k % 97 != 5)
        .map(|k| (jan + k * 900, ((k * 7919) % 5000 + 100) as f64 / 1000.0))
        .collect();
    let register: Vec<(i64, f64)> = (0..2000)
        .map(|k| {
            (
                jan + k * 900,
                (98_765_432 + k * 25 + (k * k) % 7) as f64 / 10.0,
            )
        })
        .collect();
    let mut t = jan;
    let mut floats: Vec<(i64, f64)> = (0..600)
        .map(|k| {
            t += 1 + (k * 37) % 601;
            (t, (k as f64 + 0.5).sqrt())
        })
        .collect();
    floats.extend([
        (t + 1, -0.0),
        (t + 2, f64::MIN_POSITIVE / 4.0),
        (t + 3, f64::MAX),
        (t + 4, -5e-324),
        (jan + 40 * 86_400, 0.1 + 0.2),
    ]);
    let irregular = MeterMeta {
        kind: Quantity::Power,
        interval_s: None,
        unit: "kW".into(),
    };
    let counter = MeterMeta {
        kind: Quantity::CumulativeRegister,
        ..MeterMeta::default()
    };
    vec![
        ("M-regular", MeterMeta::default(), regular),
        ("M-register", counter, register),
        ("M-float", irregular, floats),
    ]
}

#[test]
#[ignore = "writes the committed fixture; run only when the cold format changes"]
fn write_cold_fixture() {
    let dir = Path::new(FIXTURE);
    let _ = std::fs::remove_dir_all(dir);
    write_store(dir);
}

#[test]
fn cold_fixture_matches_what_this_version_writes() {
    // Not required for compatibility, but a change here means the cold writer changed:
    // bump the segment version or explain why the bytes differ.
    let tmp = tempfile::tempdir().unwrap();
    write_store(tmp.path());
    let (fixture, seg) = copy_fixture();
    let mine = std::fs::read(tmp.path().join(seg.file_name().unwrap())).unwrap();
    assert_eq!(mine, std::fs::read(&seg).unwrap());
    drop(fixture);
}

fn write_store(dir: &Path) {
    let s = Store::open(dir, opts()).unwrap();
    for (id, meta, readings) in content() {
        s.register_meter(id, meta).unwrap();
        let batch: Vec<Reading> = readings
            .iter()
            .map(|&(ts, value)| Reading::new(id, ts, value))
            .collect();
        s.append(&batch).unwrap();
    }
    s.flush().unwrap();
    assert_eq!(s.compact_cold().unwrap().windows, 1);
    s.close().unwrap();
}

/// A copy of the fixture and the path of its cold segment in the copy.
fn copy_fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    support::copy_dir(Path::new(FIXTURE), tmp.path());
    let cold: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mts"))
        .filter(|p| std::fs::read(p).unwrap()[8] == 4)
        .collect();
    assert_eq!(cold.len(), 1, "the fixture holds one cold segment");
    (tmp, cold[0].clone())
}

fn read_all(dir: &Path) -> Result<Vec<Vec<(i64, u64)>>, Error> {
    let s = Store::open_read_only(dir)?;
    content()
        .iter()
        .map(|(id, _, _)| {
            Ok(s.history(id, i64::MIN..i64::MAX)?
                .map(|(t, v)| (t, v.to_bits()))
                .collect())
        })
        .collect()
}

#[test]
fn cold_fixture_opens_with_the_same_content() {
    let (tmp, seg) = copy_fixture();
    let expected: Vec<Vec<(i64, u64)>> = content()
        .into_iter()
        .map(|(_, _, r)| r.into_iter().map(|(t, v)| (t, v.to_bits())).collect())
        .collect();
    assert_eq!(read_all(tmp.path()).unwrap(), expected);
    // The segment holds cold blocks (flag bit 1 in a block header): the first block
    // starts after the 16-byte segment header, its flags at byte 6.
    let bytes = std::fs::read(&seg).unwrap();
    assert_eq!(bytes[16 + 6], 2, "the first block is cold");
    // And it is the writer's current cold format.
    let s = Store::open(tmp.path(), opts()).unwrap();
    assert_eq!(s.compact_cold().unwrap().windows, 0);
}

#[test]
fn every_truncation_of_a_cold_segment_is_an_error() {
    let (tmp, seg) = copy_fixture();
    let bytes = std::fs::read(&seg).unwrap();
    for cut in 0..bytes.len() {
        rewrite(&seg, &bytes[..cut]);
        assert!(
            verify_segment(&seg).is_err(),
            "cut to {cut} bytes was accepted"
        );
        if cut % 97 == 0 {
            assert!(read_all(tmp.path()).is_err(), "store took a cut to {cut}");
        }
    }
}

#[test]
fn every_bit_flip_of_a_cold_segment_is_an_error() {
    let (tmp, seg) = copy_fixture();
    let bytes = std::fs::read(&seg).unwrap();
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        rewrite(&seg, &b);
        let via_store = (bit % 97 == 0).then(|| read_all(tmp.path()).map(|_| 0));
        for res in [verify_segment(&seg)].into_iter().chain(via_store) {
            match res {
                Err(Error::Corrupt { path, .. } | Error::ChecksumMismatch { path, .. }) => {
                    assert_eq!(path, seg)
                }
                other => panic!("flip of bit {bit} gave {other:?}"),
            }
        }
    }
}
