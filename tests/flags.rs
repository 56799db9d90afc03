//! Quality flags go with their readings through every path of the store: the log (and its
//! replay), the memtable, flushes, compaction (hot and cold), reopening, read-only opens
//! and snapshots; the newest write of a (meter, timestamp) wins with its flag; and a store
//! whose readings are all normal is byte for byte what it was without flags.

mod support;

use meterstore::{verify, CompactionOptions, Flag, MeterMeta, Options, Reading, Store};
use std::collections::BTreeMap;
use std::path::Path;
use support::JAN;

type Model = BTreeMap<(String, i64), (u64, Flag)>;

fn opts(cold_after: Option<i64>) -> Options {
    Options {
        compaction: CompactionOptions {
            auto: false,
            cold_after,
            ..CompactionOptions::default()
        },
        ..support::opts()
    }
}

/// A flag pattern over reading numbers: stretches of maintenance, single faults and
/// calibrations, an over-limit value; normal otherwise.
fn flag_of(k: i64) -> Flag {
    match k {
        _ if k % 700 < 12 && k >= 700 => Flag::Maintenance,
        _ if k % 211 == 5 => Flag::Fault,
        _ if k % 499 == 3 => Flag::Calibration,
        _ if k % 997 == 1 => Flag::OverLimit,
        _ => Flag::Normal,
    }
}

/// `n` 15-minute readings of `meter` from `start` (reading numbers from `k0`), flagged by
/// `flag` of the number.
fn series(
    meter: &str,
    start: i64,
    k0: i64,
    n: i64,
    flag: impl Fn(i64) -> Flag,
) -> Vec<Reading<'_>> {
    (k0..k0 + n)
        .map(|k| {
            // Noise, so that zstd does not pay and blocks stay plain.
            let mut h = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let h = (h ^ (h >> 29)) >> 44;
            Reading::new(meter, start + k * 900, h as f64 / 10.0).with_flag(flag(k))
        })
        .collect()
}

fn apply(model: &mut Model, batch: &[Reading<'_>]) {
    for r in batch {
        model.insert((r.meter.to_owned(), r.ts), (r.value.to_bits(), r.flag));
    }
}

fn append(s: &Store, model: &mut Model, batch: &[Reading<'_>]) {
    s.append(batch).unwrap();
    apply(model, batch);
}

/// Every meter's history with its flags, as the model holds them.
fn content(s: &Store, meters: &[&str]) -> Model {
    let mut out = Model::new();
    for m in meters {
        let h = s.history(m, i64::MIN..i64::MAX).unwrap();
        let flags = h.flags().to_vec();
        assert_eq!(flags.len(), h.len());
        for ((t, v), f) in h.zip(flags) {
            out.insert((m.to_string(), t), (v.to_bits(), f));
        }
    }
    out
}

const METERS: [&str; 3] = ["M-flagged", "M-normal", "M-late"];

/// Two months of three meters: one flagged throughout, one all normal, one whose flags
/// come only with a corrected resend.
fn fill(s: &Store, model: &mut Model) {
    for (k0, n) in [(0, 3000), (3000, 3000)] {
        append(s, model, &series(METERS[0], JAN, k0, n, flag_of));
        append(s, model, &series(METERS[1], JAN, k0, n, |_| Flag::Normal));
        append(s, model, &series(METERS[2], JAN, k0, n, |_| Flag::Normal));
    }
}

#[test]
fn flags_survive_replay_flush_compaction_cold_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let s = Store::open(dir.path(), opts(None)).unwrap();
        fill(&s, &mut model);
        assert_eq!(content(&s, &METERS), model, "memtable");
        // Dropped without a flush: the next open replays the log.
    }
    let s = Store::open(dir.path(), opts(None)).unwrap();
    assert!(s.recovery_report().readings_replayed > 0);
    assert_eq!(content(&s, &METERS), model, "log replay");
    s.flush().unwrap();
    assert_eq!(content(&s, &METERS), model, "flushed");
    // A corrected resend: flags set on a normal meter, removed from the flagged one, in a
    // newer segment than the first flush.
    let fix_on = series(METERS[2], JAN, 100, 50, |_| Flag::Stopped);
    let fix_off = series(METERS[0], JAN, 700, 12, |_| Flag::Normal);
    append(&s, &mut model, &fix_on);
    append(&s, &mut model, &fix_off);
    assert_eq!(content(&s, &METERS), model, "resend over a segment");
    s.flush().unwrap();
    assert_eq!(content(&s, &METERS), model, "two flushes");
    let snap = s.snapshot();
    assert!(s.compact_all().unwrap().windows > 0);
    assert_eq!(content(&s, &METERS), model, "compacted");
    let h = snap
        .history(METERS[2], JAN + 100 * 900..JAN + 101 * 900)
        .unwrap();
    assert_eq!(
        h.flags(),
        &[Flag::Stopped],
        "snapshot from before the compaction"
    );
    drop(snap);
    s.close().unwrap();
    let ro = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(content(&ro, &METERS), model, "read-only open");
    drop(ro);
    // Cold: January has ended once February's readings are in.
    let s = Store::open(dir.path(), opts(Some(0))).unwrap();
    assert!(s.compact_cold().unwrap().windows > 0);
    assert_eq!(content(&s, &METERS), model, "cold");
    s.close().unwrap();
    let s = Store::open(dir.path(), opts(Some(0))).unwrap();
    assert_eq!(content(&s, &METERS), model, "cold, reopened");
    drop(s);
    let report = verify(dir.path()).unwrap();
    assert!(report.damage.is_empty(), "{report:?}");
}

#[test]
fn a_history_hands_out_the_flags_of_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts(None)).unwrap();
    let mut model = Model::new();
    append(
        &s,
        &mut model,
        &series("M", JAN, 0, 20, |k| match k {
            3 => Flag::Manual,
            _ => Flag::Normal,
        }),
    );
    let mut h = s.history("M", i64::MIN..i64::MAX).unwrap();
    assert_eq!(h.flags().len(), 20);
    assert_eq!(h.flags()[3], Flag::Manual);
    h.nth(2);
    assert_eq!(h.flags()[0], Flag::Manual);
    assert_eq!(h.flags().len(), 17);
    // All normal: the flags are still one per reading.
    let h = s.history("M", JAN + 4 * 900..i64::MAX).unwrap();
    assert_eq!(h.flags(), vec![Flag::Normal; 16]);
    let h = s.history("M", 0..1).unwrap();
    assert!(h.flags().is_empty());
}

/// The bytes of every segment and log file of a store written with `flag`.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    support::snapshot(dir)
        .into_iter()
        .filter(|(p, _)| !p.ends_with("MANIFEST") && !p.ends_with("METERS"))
        .map(|(p, b)| (p.display().to_string(), b))
        .collect()
}

#[test]
fn all_normal_readings_cost_nothing_and_flagged_ones_mark_the_version() {
    let plain = tempfile::tempdir().unwrap();
    let flagged = tempfile::tempdir().unwrap();
    for (dir, flag) in [(plain.path(), false), (flagged.path(), true)] {
        let s = Store::open(dir, opts(None)).unwrap();
        s.register_meter("M", MeterMeta::default()).unwrap();
        let batch = series("M", JAN, 0, 2000, |k| match flag && k == 7 {
            true => Flag::Communication,
            false => Flag::Normal,
        });
        s.append(&batch).unwrap();
        s.flush().unwrap();
        s.append(&batch[10..20]).unwrap();
        drop(s);
    }
    let (a, b) = (files(plain.path()), files(flagged.path()));
    let segs = |m: &BTreeMap<String, Vec<u8>>| -> Vec<Vec<u8>> {
        m.iter()
            .filter(|(p, _)| p.ends_with(".mts"))
            .map(|(_, b)| b.clone())
            .collect()
    };
    let (sa, sb) = (segs(&a), segs(&b));
    assert_eq!(sa.len(), 1);
    // The plain segment is version 2, as a build without flags writes it; the flagged
    // one is version 5 and only its one flagged block grew, by its column: one run
    // (n_runs, skip, len, flag: 4 bytes) and the column length (4 bytes).
    assert_eq!((sa[0][8], sb[0][8]), (2, 5));
    assert_eq!(sb[0].len(), sa[0].len() + 8);
    // The log record of the unflagged resend is the same in both; log files are version 5.
    let logs = |m: &BTreeMap<String, Vec<u8>>| -> Vec<Vec<u8>> {
        m.iter()
            .filter(|(p, _)| p.ends_with(".log"))
            .map(|(_, b)| b.clone())
            .collect()
    };
    let (la, lb) = (logs(&a), logs(&b));
    assert_eq!(la.last().unwrap()[8], 5);
    assert_eq!(la.last(), lb.last());
}
