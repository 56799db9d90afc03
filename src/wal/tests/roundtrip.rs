//! Records and LSNs survive rotation, reopening and removal of old files.

use super::*;
use proptest::prelude::*;
use std::fs;

#[test]
fn many_records_round_trip_across_rotate_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let mut model = Vec::new();
    for round in 0..3 {
        let (wal, rep) = open(dir.path(), false).unwrap();
        assert_eq!(rep.records, model, "round {round}");
        assert_eq!(rep.report.records, model.len() as u64);
        assert_eq!(rep.report.torn_tail_bytes_dropped, 0);
        for k in 0..700 {
            if k % 200 == 199 {
                let before = wal.current_id();
                assert_eq!(wal.rotate().unwrap(), before + 1);
            }
            let lsn = model.len() as u64 + 1;
            let p = payload(lsn, 1 + rng.below(3000) as usize);
            assert_eq!(wal.append(&p).unwrap(), lsn);
            model.push((lsn, p));
        }
    }
    let (_wal, rep) = open(dir.path(), false).unwrap();
    assert_eq!(rep.records, model);
    assert_eq!(rep.report.files, log_files(dir.path()).len());
    assert_eq!(rep.report.files, 10);
}

#[test]
fn remove_before_drops_old_files_and_lsns_keep_counting() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = open(dir.path(), false).unwrap();
    for lsn in 1..=9u64 {
        if lsn % 3 == 1 && lsn > 1 {
            wal.rotate().unwrap();
        }
        wal.append(&payload(lsn, 10)).unwrap();
    }
    // Files 1 (LSN 1-3), 2 (4-6), 3 (7-9).
    wal.remove_before(3).unwrap();
    assert_eq!(log_files(dir.path()).len(), 1);
    drop(wal);
    let (wal, rep) = open(dir.path(), false).unwrap();
    let lsns: Vec<u64> = rep.records.iter().map(|r| r.0).collect();
    assert_eq!(lsns, [7, 8, 9]);
    // Everything flushed: the current file survives, empty, and still knows the next LSN.
    let id = wal.rotate().unwrap();
    wal.remove_before(u64::MAX).unwrap();
    assert_eq!(log_files(dir.path()), [dir.path().join(file_name(id))]);
    drop(wal);
    let (wal, rep) = open(dir.path(), false).unwrap();
    assert!(rep.records.is_empty());
    assert_eq!(wal.append(b"next").unwrap(), 10);
}

#[test]
fn rotate_twice_without_appends_keeps_the_lsn_chain() {
    let dir = tempfile::tempdir().unwrap();
    let all = build(dir.path(), &[&[3], &[], &[], &[4, 5]]);
    let (wal, rep) = open(dir.path(), false).unwrap();
    assert_eq!(rep.records, numbered(&all));
    assert_eq!(rep.report.files, 4);
    assert_eq!(wal.append(b"z").unwrap(), 4);
}

/// `(lsn, payload)` records of one file.
type Records = Vec<(u64, Vec<u8>)>;

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Rotate,
    Reopen,
    /// Flush everything but the current file's records.
    RemoveOld,
    /// A crash that loses the last `n` bytes of the last file.
    CrashCut(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Lengths below 256 keep the first byte of every frame non-zero, so a 1-byte
        // remainder of a cut frame is a counted record, not something like zero fill.
        6 => (1usize..256).prop_map(Op::Append),
        1 => Just(Op::Rotate),
        1 => Just(Op::Reopen),
        1 => Just(Op::RemoveOld),
        1 => (1usize..400).prop_map(Op::CrashCut),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random appends, rotations, removals, reopenings and torn tails against a model:
    /// per file, the `(lsn, payload)` records it holds.
    #[test]
    fn model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(dir.path(), false).unwrap();
        let mut files: Vec<(u64, Records)> = vec![(1, Vec::new())];
        let mut next_lsn = 1;
        for op in ops {
            match op {
                Op::Append(len) => {
                    let p = payload(next_lsn, len);
                    prop_assert_eq!(wal.append(&p).unwrap(), next_lsn);
                    files.last_mut().unwrap().1.push((next_lsn, p));
                    next_lsn += 1;
                }
                Op::Rotate => files.push((wal.rotate().unwrap(), Vec::new())),
                Op::RemoveOld => {
                    let current = wal.current_id();
                    wal.remove_before(current).unwrap();
                    files.retain(|f| f.0 >= current);
                }
                Op::Reopen | Op::CrashCut(_) => {
                    drop(wal);
                    let mut lost = 0;
                    if let Op::CrashCut(n) = op {
                        let path = dir.path().join(file_name(files.last().unwrap().0));
                        let len = fs::metadata(&path).unwrap().len() as usize;
                        let cut = n.min(len - HEADER_LEN);
                        fs::OpenOptions::new().write(true).open(&path).unwrap()
                            .set_len((len - cut) as u64).unwrap();
                        // Records whose frame reaches into the cut are lost.
                        let recs = &mut files.last_mut().unwrap().1;
                        let mut end = len;
                        while end > len - cut {
                            let (_, p) = recs.pop().unwrap();
                            end -= FRAME_HEADER_LEN + p.len();
                            lost += 1;
                        }
                        next_lsn -= lost;
                        let rep = open(dir.path(), false).unwrap().1.report;
                        prop_assert_eq!(rep.torn_tail_bytes_dropped as usize, len - cut - end);
                        prop_assert_eq!(rep.torn_tail_records_dropped, u64::from(len - cut > end));
                    }
                    let (w, rep) = open(dir.path(), false).unwrap();
                    wal = w;
                    let model: Vec<_> = files.iter().flat_map(|f| f.1.clone()).collect();
                    prop_assert_eq!(rep.records, model);
                    prop_assert_eq!(rep.report.files, files.len());
                    prop_assert_eq!(rep.report.torn_tail_bytes_dropped, 0);
                }
            }
        }
    }
}
