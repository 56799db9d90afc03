//! Damaged logs: every truncation, every bit flip, zero fill, LSN order, headers.
//!
//! The rule under test (see `replay.rs`): a bad region is a torn tail only in the last
//! file and only when no valid record follows it; it is then cut off and reported.
//! Anything else is `Error::Corrupt` naming file and offset, or skipped and counted with
//! `salvage`.

use super::*;
use std::fs;

/// Payload lengths of the two files of the small log. All below 256, so the first byte of
/// every frame is non-zero (see `count_tail_records`).
const FILE1: &[usize] = &[7, 1, 30];
const FILE2: &[usize] = &[12, 40, 3, 25];

fn small_log(dir: &Path) -> (Vec<Vec<u8>>, Vec<PathBuf>, Vec<Vec<u8>>) {
    let all = build(dir, &[FILE1, FILE2]);
    let paths = log_files(dir);
    let bytes = paths.iter().map(|p| fs::read(p).unwrap()).collect();
    (all, paths, bytes)
}

/// The error's file and offset, if it is `Error::Corrupt`.
fn corrupt_at(r: Result<(Wal, Replay)>) -> Option<(PathBuf, u64)> {
    match r {
        Err(Error::Corrupt { path, offset, .. }) => Some((path, offset)),
        _ => None,
    }
}

fn all_but(all: &[Vec<u8>], skip: usize) -> Vec<(u64, Vec<u8>)> {
    numbered(all)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .map(|(_, r)| r)
        .collect()
}

#[test]
fn truncation_at_every_offset_of_the_last_file_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (all, paths, bytes) = small_log(dir.path());
    let (last, pristine) = (&paths[1], &bytes[1]);
    let bounds = frame_bounds(FILE2);
    for cut in 0..=pristine.len() {
        fs::write(last, &pristine[..cut]).unwrap();
        let (wal, rep) = open(dir.path(), false).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        // Whole records of the last file before the cut; where the valid prefix ends.
        let kept = bounds[1..].iter().filter(|&&end| end <= cut).count();
        let valid_end = if cut < HEADER_LEN { 0 } else { bounds[kept] };
        let n = FILE1.len() + kept;
        assert_eq!(rep.records, numbered(&all[..n]), "cut {cut}");
        let r = &rep.report;
        assert_eq!(
            r.torn_tail_bytes_dropped as usize,
            cut - valid_end,
            "cut {cut}"
        );
        let torn_record = cut >= HEADER_LEN && cut > valid_end;
        assert_eq!(
            r.torn_tail_records_dropped,
            u64::from(torn_record),
            "cut {cut}"
        );
        assert_eq!(r.salvaged_corrupt_bytes, 0);
        let on_disk = fs::metadata(last).unwrap().len() as usize;
        assert_eq!(
            on_disk,
            valid_end.max(HEADER_LEN),
            "cut {cut}: file not cut"
        );
        // Appends continue right after the last whole record, and the log reopens clean.
        assert_eq!(wal.append(b"after").unwrap(), n as u64 + 1);
        drop(wal);
        let (_, rep) = open(dir.path(), false).unwrap();
        let mut want = numbered(&all[..n]);
        want.push((n as u64 + 1, b"after".to_vec()));
        assert_eq!(rep.records, want, "cut {cut}");
        assert_eq!(rep.report.torn_tail_bytes_dropped, 0);
    }
}

#[test]
fn bit_flip_in_every_byte_of_the_last_file() {
    let dir = tempfile::tempdir().unwrap();
    let (all, paths, bytes) = small_log(dir.path());
    let (last, pristine) = (&paths[1], &bytes[1]);
    let bounds = frame_bounds(FILE2);
    for at in 0..pristine.len() {
        let mut damaged = pristine.clone();
        damaged[at] ^= 1 << (at % 8);
        // The record hit (index into FILE2), None for the header.
        let hit = bounds.windows(2).position(|w| (w[0]..w[1]).contains(&at));
        for salvage in [false, true] {
            fs::write(last, &damaged).unwrap();
            for p in log_files(dir.path()).iter().skip(2) {
                fs::remove_file(p).unwrap();
            }
            let r = open(dir.path(), salvage);
            let ctx = format!("flip at {at}, salvage {salvage}");
            match hit {
                // The last record: nothing valid follows, so it is a torn tail.
                Some(j) if j == FILE2.len() - 1 => {
                    let (_, rep) = r.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(rep.records, numbered(&all[..all.len() - 1]), "{ctx}");
                    let size = (bounds[j + 1] - bounds[j]) as u64;
                    assert_eq!(rep.report.torn_tail_bytes_dropped, size, "{ctx}");
                    assert_eq!(rep.report.torn_tail_records_dropped, 1, "{ctx}");
                    assert_eq!(fs::metadata(last).unwrap().len(), bounds[j] as u64);
                }
                // A record with a valid one after it: corruption before the tail.
                Some(j) if !salvage => {
                    let (path, offset) = corrupt_at(r).unwrap_or_else(|| panic!("{ctx}"));
                    assert_eq!((&path, offset), (last, bounds[j] as u64), "{ctx}");
                }
                Some(j) => {
                    let (wal, rep) = r.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(rep.records, all_but(&all, FILE1.len() + j), "{ctx}");
                    let size = (bounds[j + 1] - bounds[j]) as u64;
                    assert_eq!(rep.report.salvaged_corrupt_bytes, size, "{ctx}");
                    assert_eq!(rep.report.torn_tail_bytes_dropped, 0, "{ctx}");
                    // New records go to a fresh file, never after the damage.
                    assert_eq!(wal.current_id(), 3, "{ctx}");
                    assert_eq!(wal.append(b"new").unwrap(), all.len() as u64 + 1);
                }
                None if !salvage => {
                    let (path, offset) = corrupt_at(r).unwrap_or_else(|| panic!("{ctx}"));
                    assert_eq!((&path, offset), (last, 0), "{ctx}");
                }
                None => {
                    let (wal, rep) = r.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(rep.records, numbered(&all), "{ctx}");
                    assert_eq!(rep.report.salvaged_corrupt_bytes, HEADER_LEN as u64);
                    assert_eq!(wal.current_id(), 3, "{ctx}");
                }
            }
        }
    }
}

#[test]
fn bit_flip_in_a_file_that_is_not_the_last_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (all, paths, bytes) = small_log(dir.path());
    let (first, pristine) = (&paths[0], &bytes[0]);
    let bounds = frame_bounds(FILE1);
    for at in 0..pristine.len() {
        let mut damaged = pristine.clone();
        damaged[at] ^= 1 << (at % 8);
        let hit = bounds.windows(2).position(|w| (w[0]..w[1]).contains(&at));
        let ctx = format!("flip at {at}");
        fs::write(first, &damaged).unwrap();
        // Even a flip in its last record: this file was synced before the next existed.
        let (path, offset) = corrupt_at(open(dir.path(), false)).expect(&ctx);
        assert_eq!(
            (&path, offset),
            (first, hit.map_or(0, |j| bounds[j]) as u64)
        );
        let (_, rep) = open(dir.path(), true).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        match hit {
            Some(j) => {
                assert_eq!(rep.records, all_but(&all, j), "{ctx}");
                let size = bounds[j + 1] - bounds[j];
                assert_eq!(rep.report.salvaged_corrupt_bytes, size as u64, "{ctx}");
            }
            None => {
                assert_eq!(rep.records, numbered(&all), "{ctx}");
                assert_eq!(rep.report.salvaged_corrupt_bytes, HEADER_LEN as u64);
            }
        }
        assert_eq!(rep.report.torn_tail_bytes_dropped, 0, "{ctx}");
        assert_eq!(
            fs::read(first).unwrap(),
            damaged,
            "salvage must not rewrite old files"
        );
    }
}

#[test]
fn zero_and_ones_regions_never_parse_as_frames() {
    // Why zeros cannot pass: the CRC of four zero bytes is not zero, and length 0 is out
    // of range anyway. All-ones gives a length far over the cap.
    assert_ne!(crc32fast::hash(&[0; 4]), 0);
    for fill in [0x00u8, 0xff] {
        for n in (0..=64).chain([4096, 1 << 20]) {
            let region = vec![fill; n];
            assert!(!matches!(parse_frame(&region, 0), Frame::Valid { .. }));
            assert_eq!(find_next_frame(&region, 0), None);
            assert_eq!(
                count_tail_records(&region, 0),
                u64::from(fill != 0 && n > 0)
            );
        }
    }
    // A frame whose length was zeroed (with a matching length CRC) is still rejected.
    let mut f = encode_frame(1, b"abc");
    f[..4].copy_from_slice(&0u32.to_le_bytes());
    let len_crc = crc32fast::hash(&f[..4]);
    f[4..8].copy_from_slice(&len_crc.to_le_bytes());
    assert_eq!(
        parse_frame(&f, 0),
        Frame::Invalid("record length out of range")
    );
}

#[test]
fn zero_filled_tail_of_the_last_file_is_a_torn_tail() {
    for (zeros, partial) in [(1, 0), (4096, 0), (1 << 20, 0), (4096, 9)] {
        let dir = tempfile::tempdir().unwrap();
        let (all, paths, bytes) = small_log(dir.path());
        // A half-written record (`partial` bytes of a frame) then pre-allocated zeros.
        let mut tail = bytes[1].clone();
        tail.extend_from_slice(&encode_frame(all.len() as u64 + 1, &[9; 50])[..partial]);
        tail.resize(tail.len() + zeros, 0);
        fs::write(&paths[1], &tail).unwrap();
        let (wal, rep) = open(dir.path(), false).unwrap();
        assert_eq!(rep.records, numbered(&all));
        let r = &rep.report;
        assert_eq!(r.torn_tail_bytes_dropped, (partial + zeros) as u64);
        assert_eq!(r.torn_tail_records_dropped, u64::from(partial > 0));
        assert_eq!(
            fs::metadata(&paths[1]).unwrap().len(),
            bytes[1].len() as u64
        );
        assert_eq!(wal.append(b"x").unwrap(), all.len() as u64 + 1);
    }
}

#[test]
fn zero_region_before_a_valid_record_or_in_an_old_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (all, paths, bytes) = small_log(dir.path());
    let b1 = frame_bounds(FILE1);
    let b2 = frame_bounds(FILE2);
    // 100 zero bytes where record 2 of the last file should start.
    let mut hole = bytes[1][..b2[1]].to_vec();
    hole.resize(b2[1] + 100, 0);
    hole.extend_from_slice(&bytes[1][b2[1]..]);
    fs::write(&paths[1], &hole).unwrap();
    let (path, offset) = corrupt_at(open(dir.path(), false)).unwrap();
    assert_eq!((&path, offset), (&paths[1], b2[1] as u64));
    let (_, rep) = open(dir.path(), true).unwrap();
    assert_eq!(rep.records, numbered(&all));
    assert_eq!(rep.report.salvaged_corrupt_bytes, 100);
    // Zero fill at the end of a file that is not the last.
    let dir = tempfile::tempdir().unwrap();
    let (all, paths, bytes) = small_log(dir.path());
    let mut padded = bytes[0].clone();
    padded.resize(padded.len() + 512, 0);
    fs::write(&paths[0], &padded).unwrap();
    let (path, offset) = corrupt_at(open(dir.path(), false)).unwrap();
    assert_eq!((&path, offset), (&paths[0], b1[FILE1.len()] as u64));
    let (_, rep) = open(dir.path(), true).unwrap();
    assert_eq!(rep.records, numbered(&all));
    assert_eq!(rep.report.salvaged_corrupt_bytes, 512);
}

/// Writes a log file by hand: header `(id, base)` and frames with the given LSNs.
fn handmade(dir: &Path, id: u64, base: u64, lsns: &[u64]) -> PathBuf {
    let path = dir.join(file_name(id));
    let mut b = encode_header(id, base).to_vec();
    for &lsn in lsns {
        b.extend(encode_frame(lsn, &payload(lsn, 5)));
    }
    fs::write(&path, b).unwrap();
    path
}

fn lsns_of(rep: &Replay) -> Vec<u64> {
    rep.records.iter().map(|r| r.0).collect()
}

#[test]
fn lsns_must_follow_on_exactly() {
    let frame = (FRAME_HEADER_LEN + 5) as u64;
    let third = HEADER_LEN as u64 + 2 * frame;
    // (LSNs in file 1, base of file 2 if any, (file id, offset) where it breaks, LSNs
    // salvage keeps, bytes it skips)
    type Case<'a> = (&'a [u64], Option<u64>, (u64, u64), &'a [u64], u64);
    let cases: [Case; 5] = [
        (&[1, 2, 4], None, (1, third), &[1, 2, 4], 0),
        (&[1, 2, 2, 3], None, (1, third), &[1, 2, 3], frame),
        (&[1, 2, 1], None, (1, third), &[1, 2], frame),
        (&[2, 3], None, (1, HEADER_LEN as u64), &[2, 3], 0),
        (&[1, 2], Some(4), (2, HEADER_BASE_LSN as u64), &[1, 2], 0),
    ];
    for (lsns, base2, (bad_id, bad_at), kept, skipped) in cases {
        let dir = tempfile::tempdir().unwrap();
        handmade(dir.path(), 1, 1, lsns);
        if let Some(base) = base2 {
            handmade(dir.path(), 2, base, &[]);
        }
        let (path, offset) = corrupt_at(open(dir.path(), false)).expect("corrupt");
        assert_eq!((path, offset), (dir.path().join(file_name(bad_id)), bad_at));
        let (wal, rep) = open(dir.path(), true).unwrap();
        assert_eq!(lsns_of(&rep), kept, "{lsns:?}");
        assert_eq!(rep.report.salvaged_corrupt_bytes, skipped, "{lsns:?}");
        // LSNs never go back, whatever was skipped.
        let next = kept.iter().max().unwrap() + 1;
        assert_eq!(wal.append(b"n").unwrap(), next.max(base2.unwrap_or(0)));
    }
}

#[test]
fn bad_headers() {
    let dir = tempfile::tempdir().unwrap();
    // Unknown version with a valid CRC: its own error, even when salvaging.
    let path = handmade(dir.path(), 1, 1, &[1]);
    let mut b = fs::read(&path).unwrap();
    let unknown = crate::format::FormatVersion::CURRENT as u8 + 1;
    b[HEADER_VERSION] = unknown;
    let crc = crc32fast::hash(&b[..HEADER_CRC]);
    b[HEADER_CRC..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    fs::write(&path, &b).unwrap();
    for salvage in [false, true] {
        let r = open(dir.path(), salvage);
        assert!(matches!(
            r,
            Err(Error::UnsupportedVersion { version, .. }) if version == unknown
        ));
    }
    // A file renamed to another id.
    let dir = tempfile::tempdir().unwrap();
    let path = handmade(dir.path(), 1, 1, &[1]);
    fs::rename(&path, dir.path().join(file_name(5))).unwrap();
    assert_eq!(corrupt_at(open(dir.path(), false)).unwrap().1, 0);
    // A zeroed header of a last file that holds records is not a torn creation.
    let dir = tempfile::tempdir().unwrap();
    let path = handmade(dir.path(), 1, 1, &[1, 2]);
    let mut b = fs::read(&path).unwrap();
    b[..HEADER_LEN].fill(0);
    fs::write(&path, &b).unwrap();
    assert_eq!(corrupt_at(open(dir.path(), false)).unwrap().1, 0);
    let (_, rep) = open(dir.path(), true).unwrap();
    assert_eq!(lsns_of(&rep), [1, 2]);
}
