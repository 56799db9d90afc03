//! Tests of the write-ahead log. `roundtrip`: records, LSNs, rotation, removal, model
//! test. `damage`: truncation, bit flips, zero fill, LSN order, headers. `commit`:
//! policies and group commit. `measure`: a by-hand throughput measurement (ignored).

use super::record::*;
use super::*;
use std::path::{Path, PathBuf};

mod commit;
mod damage;
mod measure;
mod roundtrip;

/// A small deterministic generator (splitmix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A payload of `len` bytes that differs from record to record.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

fn open(dir: &Path, salvage: bool) -> Result<(Wal, Replay)> {
    Wal::open(dir, SyncPolicy::Never, salvage, None)
}

/// The log files in `dir`, by id.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    list_files(dir, false)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect()
}

/// Writes one log file per entry of `files` (rotating between them) and returns every
/// payload in LSN order.
fn build(dir: &Path, files: &[&[usize]]) -> Vec<Vec<u8>> {
    let (wal, rep) = open(dir, false).unwrap();
    assert!(rep.records.is_empty());
    let mut all = Vec::new();
    for (i, lens) in files.iter().enumerate() {
        if i > 0 {
            wal.rotate().unwrap();
        }
        for &len in lens.iter() {
            let p = payload(all.len() as u64 + 1, len);
            assert_eq!(wal.append(&p).unwrap(), all.len() as u64 + 1);
            all.push(p);
        }
    }
    all
}

/// `(lsn, payload)` pairs for payloads numbered from LSN 1.
fn numbered(payloads: &[Vec<u8>]) -> Vec<(u64, Vec<u8>)> {
    (1..).zip(payloads.iter().cloned()).collect()
}

/// Start offsets of the frames of a file whose payload lengths are `lens`, plus the end.
fn frame_bounds(lens: &[usize]) -> Vec<usize> {
    let mut at = vec![HEADER_LEN];
    for &l in lens {
        at.push(at[at.len() - 1] + FRAME_HEADER_LEN + l);
    }
    at
}

#[test]
fn layout_matches_the_spec() {
    assert_eq!(HEADER_FILE_ID, 12);
    assert_eq!(HEADER_BASE_LSN, 20);
    assert_eq!(HEADER_LEN, 32);
    assert_eq!(FRAME_LSN, 8);
    assert_eq!(FRAME_PAYLOAD_CRC, 16);
    assert_eq!(FRAME_HEADER_LEN, 20);
    let h = encode_header(7, 42);
    assert_eq!(&h[..8], b"MTRWAL\r\n");
    assert_eq!(decode_header(&h, 7, Path::new("x")).unwrap(), 42);
    let f = encode_frame(5, b"abc");
    assert_eq!(f.len(), FRAME_HEADER_LEN + 3);
    assert_eq!(&f[..4], &3u32.to_le_bytes());
    assert_eq!(&f[8..16], &5u64.to_le_bytes());
    let lsn_and_payload = [&5u64.to_le_bytes()[..], b"abc"].concat();
    assert_eq!(&f[16..20], &crc32fast::hash(&lsn_and_payload).to_le_bytes());
    assert!(matches!(
        parse_frame(&f, 0),
        Frame::Valid {
            lsn: 5,
            payload: b"abc",
            end: 23
        }
    ));
}

#[test]
fn file_names_round_trip_and_others_are_ignored() {
    assert_eq!(file_name(0x1f), "wal-000000000000001f.log");
    assert_eq!(parse_file_name("wal-000000000000001f.log"), Some(0x1f));
    for bad in [
        "wal-000000000000001F.log",
        "wal-1f.log",
        "wal-000000000000001f.log.tmp",
        "wal-+00000000000001f.log",
        "seg-000000000000001f.log",
    ] {
        assert_eq!(parse_file_name(bad), None, "{bad}");
    }
}

#[test]
fn wal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Wal>();
}

#[test]
fn leftover_temporary_files_are_removed_and_strangers_kept() {
    let dir = tempfile::tempdir().unwrap();
    let all = build(dir.path(), &[&[5, 6]]);
    let tmp = dir.path().join("wal-0000000000000002.log.tmp");
    let stranger = dir.path().join("notes.txt");
    std::fs::write(&tmp, b"half a header").unwrap();
    std::fs::write(&stranger, b"keep me").unwrap();
    let (_wal, rep) = open(dir.path(), false).unwrap();
    assert_eq!(rep.records, numbered(&all));
    assert!(!tmp.exists());
    assert!(stranger.exists());
}

#[test]
fn bad_payload_sizes_are_rejected_at_append() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), false).unwrap();
    assert!(matches!(wal.append(&[]), Err(Error::InvalidArgument(_))));
    let huge = vec![1u8; MAX_RECORD_LEN + 1];
    assert!(matches!(wal.append(&huge), Err(Error::InvalidArgument(_))));
    assert_eq!(wal.append(b"x").unwrap(), 1);
}
