//! The store's life over time: the log replays after a crash, late writes win over
//! compacted data, compaction rewrites only windows with new data, retention drops whole
//! windows, and a second open of the same directory is refused.

mod support;

use meterstore::{
    CompactionOptions, Error, MeterMeta, Options, Reading, Store, SyncPolicy, UnknownMeters, Window,
};
use std::path::Path;
use support::day;

/// 2024-01-01T00:00+08:00.
const JAN: i64 = 1_704_038_400;
const DAY: i64 = 86_400;

fn opts() -> Options {
    Options {
        unknown_meters: UnknownMeters::Register(MeterMeta::default()),
        sync: SyncPolicy::Never,
        compaction: CompactionOptions {
            auto: false,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn all(s: &Store, m: &str) -> Vec<(i64, f64)> {
    s.history(m, i64::MIN..i64::MAX).unwrap().collect()
}

fn seg_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mts"))
        .collect();
    v.sort();
    v
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
    check::<meterstore::Snapshot>();
}

/// Without `create_if_missing`, a path that holds no store is an error and nothing is
/// created there; a store, new or with data, opens.
#[test]
fn open_without_create_needs_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let read_only = || Options {
        create_if_missing: false,
        ..opts()
    };
    let missing = dir.path().join("typo");
    let err = Store::open(&missing, read_only())
        .err()
        .expect("no store there");
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("no store at")),
        "{err}"
    );
    assert!(!missing.exists());
    // An existing directory without a store is left as it was.
    let err = Store::open(dir.path(), read_only())
        .err()
        .expect("no store there");
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let store_dir = dir.path().join("store");
    let s = Store::open(&store_dir, opts()).unwrap();
    s.append(&day("M1", JAN, 1.0)).unwrap();
    s.flush().unwrap();
    drop(s);
    let s = Store::open(&store_dir, read_only()).unwrap();
    assert_eq!(s.history("M1", JAN..JAN + DAY).unwrap().count(), 96);
}

#[test]
fn second_open_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    assert!(matches!(
        Store::open(dir.path(), opts()),
        Err(Error::Locked { .. })
    ));
    drop(s);
    Store::open(dir.path(), opts()).unwrap();
}

#[test]
fn unflushed_appends_and_registrations_come_back_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), opts()).unwrap();
        s.append(&day("A", JAN, 1.0)).unwrap();
        s.flush().unwrap();
        s.append(&day("B", JAN, 2.0)).unwrap(); // registers B through the log only
        s.append(&day("A", JAN, 3.0)).unwrap(); // overwrites a flushed day
                                                // Dropped without flush: what a crash leaves.
    }
    let s = Store::open(dir.path(), opts()).unwrap();
    let r = s.recovery_report();
    assert_eq!(r.wal.records, 2);
    assert_eq!(r.readings_replayed, 192);
    assert_eq!(r.meters_replayed, 1);
    assert_eq!(r.wal.torn_tail_bytes_dropped, 0);
    assert_eq!(s.meter_ids(), vec!["A", "B"]);
    assert!(all(&s, "A").iter().all(|p| p.1 == 3.0));
    assert_eq!(all(&s, "B").len(), 96);
    // After a flush the log is empty and METERS holds B.
    s.flush().unwrap();
    drop(s);
    let s = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(s.recovery_report().wal.records, 0);
    assert_eq!(s.meter_ids(), vec!["A", "B"]);
    assert!(all(&s, "A").iter().all(|p| p.1 == 3.0));
}

#[test]
fn a_torn_log_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), opts()).unwrap();
        s.append(&day("A", JAN, 1.0)).unwrap();
        s.append(&day("A", JAN + DAY, 2.0)).unwrap();
    }
    let wal = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 7).unwrap();
    drop(f);
    let s = Store::open(dir.path(), opts()).unwrap();
    let r = &s.recovery_report().wal;
    assert_eq!((r.records, r.torn_tail_records_dropped), (1, 1));
    assert!(r.torn_tail_bytes_dropped > 0);
    assert_eq!(all(&s, "A").len(), 96, "the torn batch is wholly gone");
}

/// Histories reuse the buffers of dropped ones: each holds exactly its own readings,
/// whatever was read before it, with ranges cutting blocks and the memtable, and with
/// several histories alive at once.
#[test]
fn histories_after_one_another_hold_only_their_own_readings() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    for d in 0..40 {
        s.append(&day("LONG", JAN + d * DAY, d as f64)).unwrap();
    }
    s.flush().unwrap();
    s.append(&day("SHORT", JAN + 5 * DAY, 7.0)).unwrap();
    s.flush().unwrap();
    // Unflushed: a later day of LONG and a day of SHORT in the memtable.
    s.append(&day("LONG", JAN + 40 * DAY, 40.0)).unwrap();
    s.append(&day("SHORT", JAN + 6 * DAY, 8.0)).unwrap();
    let want = |m: &str, from: i64, to: i64| -> Vec<(i64, f64)> {
        let days: Vec<(i64, f64)> = match m {
            "LONG" => (0..41).map(|d| (JAN + d * DAY, d as f64)).collect(),
            _ => vec![(JAN + 5 * DAY, 7.0), (JAN + 6 * DAY, 8.0)],
        };
        days.into_iter()
            .flat_map(|(t0, v)| (0..96).map(move |k| (t0 + k * 900, v)))
            .filter(|&(t, _)| t >= from && t < to)
            .collect()
    };
    let read = |m: &str, from: i64, to: i64| -> Vec<(i64, f64)> {
        s.history(m, from..to).unwrap().collect()
    };
    let (mid, late) = (JAN + 5 * DAY + 3_600, JAN + 40 * DAY + 7_200);
    for _ in 0..3 {
        assert_eq!(
            read("LONG", i64::MIN, i64::MAX),
            want("LONG", i64::MIN, i64::MAX)
        );
        assert_eq!(
            read("SHORT", i64::MIN, i64::MAX),
            want("SHORT", i64::MIN, i64::MAX)
        );
        assert_eq!(read("LONG", mid, late), want("LONG", mid, late));
        assert_eq!(read("SHORT", mid, late), want("SHORT", mid, late));
        assert_eq!(read("LONG", late, late), vec![]);
    }
    let held: Vec<_> = (0..6)
        .map(|i| {
            s.history(["LONG", "SHORT"][i % 2], i64::MIN..i64::MAX)
                .unwrap()
        })
        .collect();
    for (i, h) in held.into_iter().enumerate() {
        let m = ["LONG", "SHORT"][i % 2];
        assert_eq!(h.len(), want(m, i64::MIN, i64::MAX).len());
        assert_eq!(h.collect::<Vec<_>>(), want(m, i64::MIN, i64::MAX));
    }
}

#[test]
fn later_write_wins_across_memtable_l0_and_compacted_segments() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    let feb = JAN + 31 * DAY;
    for d in 0..40 {
        s.append(&day("A", JAN + d * DAY, 1.0)).unwrap();
        s.flush().unwrap();
    }
    s.compact_all().unwrap();
    assert_eq!(s.segment_count(), 2, "one segment per month");
    // Late writes: one flushed into L0 over compacted data, one only in the memtable.
    s.append(&day("A", JAN + 3 * DAY, 2.0)).unwrap();
    s.flush().unwrap();
    s.append(&day("A", JAN + 3 * DAY, 3.0)).unwrap();
    s.append(&day("A", feb + DAY, 4.0)).unwrap();
    let check = |s: &Store| {
        let h = all(s, "A");
        assert_eq!(h.len(), 40 * 96);
        for (t, v) in h {
            let want = if (JAN + 3 * DAY..JAN + 4 * DAY).contains(&t) {
                3.0
            } else if (feb + DAY..feb + 2 * DAY).contains(&t) {
                4.0
            } else {
                1.0
            };
            assert_eq!(v, want, "ts {t}");
        }
    };
    check(&s);
    s.flush().unwrap();
    check(&s);
    let rep = s.compact_all().unwrap();
    assert_eq!(rep.windows, 2);
    check(&s);
    drop(s);
    let s = Store::open(dir.path(), opts()).unwrap();
    check(&s);
    assert_eq!(seg_files(dir.path()).len(), 2);
}

#[test]
fn compaction_never_rewrites_a_window_without_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    let mar = JAN + 60 * DAY;
    for d in [0, 1, 40, 41, 60, 61] {
        s.append(&day("A", JAN + d * DAY, 1.0)).unwrap();
        s.flush().unwrap();
    }
    assert_eq!(s.compact_all().unwrap().windows, 3);
    let before = seg_files(dir.path());
    assert_eq!(before.len(), 3);
    // New data in March only.
    s.append(&day("A", mar + 5 * DAY, 2.0)).unwrap();
    s.flush().unwrap();
    let rep = s.compact_all().unwrap();
    assert_eq!((rep.windows, rep.segments_in, rep.segments_out), (1, 2, 1));
    let after = seg_files(dir.path());
    assert_eq!(before[..2], after[..2], "January and February untouched");
    assert_ne!(before[2], after[2]);
    // Nothing new: nothing to do.
    assert_eq!(s.compact_all().unwrap().windows, 0);
    assert_eq!(s.compact().unwrap().windows, 0);
}

#[test]
fn policy_compacts_by_ratio_and_settles_old_windows() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    s.append(&day("A", JAN, 1.0)).unwrap();
    s.flush().unwrap();
    s.append(&day("A", JAN + DAY, 1.0)).unwrap();
    s.flush().unwrap();
    // Two equal segments: the newer holds as many bytes as the oldest (ratio 1).
    assert_eq!(s.compact().unwrap().windows, 1);
    for d in 2..5 {
        s.append(&day("A", JAN + d * DAY, 1.0)).unwrap();
        s.flush().unwrap();
    }
    let segs = s.segment_count();
    assert!(segs >= 2);
    // A reading far in the future makes January settled: one last rewrite.
    s.append(&day("A", JAN + 200 * DAY, 1.0)).unwrap();
    s.flush().unwrap();
    s.compact().unwrap();
    assert_eq!(s.segment_count(), 2);
    assert_eq!(all(&s, "A").len(), 6 * 96);
}

#[test]
fn retention_drops_whole_windows_and_keeps_the_straddling_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    let feb = JAN + 31 * DAY;
    for d in 0..50 {
        s.append(&day("A", JAN + d * DAY, d as f64)).unwrap();
        if d % 10 == 9 && d < 40 {
            s.flush().unwrap();
        }
    }
    // Days 40..50 (in February) are only in the memtable.
    let rep = s.drop_before(feb + 5 * DAY).unwrap();
    assert_eq!(rep.cutoff, feb);
    assert!(rep.segments_removed >= 1);
    let h = all(&s, "A");
    assert_eq!(
        h.first().unwrap().0,
        feb,
        "January went, February stays whole"
    );
    assert_eq!(h.len(), 19 * 96);
    let rep = s.drop_before(JAN + 400 * DAY).unwrap();
    assert_eq!(rep.segments_removed, 2);
    assert!(all(&s, "A").is_empty());
    drop(s);
    let s = Store::open(dir.path(), opts()).unwrap();
    assert!(all(&s, "A").is_empty(), "nothing comes back from the log");
    assert!(seg_files(dir.path()).is_empty());
}

#[test]
fn day_windows_and_a_changed_window_option_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), opts()).unwrap();
        for d in 0..3 {
            s.append(&day("A", JAN + d * DAY, 1.0)).unwrap();
        }
        s.flush().unwrap();
        assert_eq!(s.segment_count(), 1);
    }
    // The month segment spans three day windows: compaction splits it.
    let o = Options {
        window: Window::Days(1),
        ..opts()
    };
    let s = Store::open(dir.path(), o.clone()).unwrap();
    let rep = s.compact().unwrap();
    assert_eq!((rep.windows, rep.segments_in, rep.segments_out), (3, 1, 3));
    assert_eq!(all(&s, "A").len(), 3 * 96);
    assert_eq!(s.drop_before(JAN + DAY + 5).unwrap().segments_removed, 1);
    assert_eq!(all(&s, "A").len(), 2 * 96);
    assert!(matches!(
        Store::open(
            tempfile::tempdir().unwrap().path(),
            Options {
                window: Window::Days(0),
                ..opts()
            }
        ),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn snapshots_do_not_move() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), opts()).unwrap();
    s.append(&day("A", JAN, 1.0)).unwrap();
    let snap = s.snapshot();
    s.append(&day("A", JAN, 2.0)).unwrap();
    s.append(&day("B", JAN, 2.0)).unwrap();
    s.flush().unwrap();
    s.compact_all().unwrap();
    s.drop_before(JAN + 100 * DAY).unwrap();
    let h: Vec<(i64, f64)> = snap.history("A", i64::MIN..i64::MAX).unwrap().collect();
    assert_eq!(h.len(), 96);
    assert!(h.iter().all(|p| p.1 == 1.0));
    assert!(matches!(
        snap.history("B", 0..1),
        Err(Error::UnknownMeter(_))
    ));
    assert_eq!(snap.meter_ids(), ["A"]);
    // Many snapshots between flushes keep the number of sealed memtables bounded.
    for k in 0..100 {
        s.append(&day("A", JAN + k * DAY, k as f64)).unwrap();
        let sn = s.snapshot();
        assert_eq!(
            sn.history("A", JAN + k * DAY..JAN + k * DAY + 1)
                .unwrap()
                .next(),
            Some((JAN + k * DAY, k as f64))
        );
    }
    assert_eq!(all(&s, "A").len(), 100 * 96);
}

/// The 62-day resend pattern of `benches/ingest.rs`, small: a fleet ingested day by day,
/// every day a rotating set of meters re-sends its previous 62 days, a flush every night
/// and the default compaction policy. Segment write amplification must stay at most 3,
/// the data must be exact, and settled windows must end as one file each.
#[test]
fn resend_pattern_write_amplification_is_at_most_3() {
    use meterstore::fleet::{Fleet, FleetConfig};
    let (meters, days) = (30, 100usize);
    let fleet = Fleet::new(FleetConfig {
        enterprises: meters / 3,
        days: days as u32,
        gap_share: 0.0,
        ..FleetConfig::default()
    });
    let series: Vec<_> = (0..fleet.meters().len()).map(|i| fleet.series(i)).collect();
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        unknown_meters: UnknownMeters::Register(fleet.meta()),
        sync: SyncPolicy::Never,
        background_flush: false,
        ..Options::default()
    };
    let s = Store::open(dir.path(), o).unwrap();
    let rows = |m: usize, from: usize, to: usize| -> Vec<Reading<'_>> {
        let (ts, vals) = &series[m];
        (from * 96..to * 96)
            .map(|k| Reading::new(&fleet.meters()[m].id, ts[k], vals[k]))
            .collect()
    };
    for d in 0..days {
        let mut b = Vec::new();
        for m in 0..series.len() {
            b.extend(rows(m, d, d + 1));
        }
        s.append(&b).unwrap();
        for m in (0..series.len()).filter(|m| (m + d) % 30 == 0) {
            let r = rows(m, d.saturating_sub(62), d);
            s.append(&r).unwrap();
        }
        s.flush().unwrap();
    }
    let st = s.stats();
    let wa = st.write_amplification();
    eprintln!("write amplification {wa:.2}: {st:?}");
    assert!(wa <= 3.0, "write amplification {wa:.2}");
    assert!(st.compactions > 0);
    // Exact content.
    for (m, (ts, vals)) in series.iter().enumerate() {
        let got: Vec<(i64, f64)> = all(&s, &fleet.meters()[m].id);
        assert!(got.iter().map(|p| p.0).eq(ts.iter().copied()));
        assert!(got.iter().map(|p| p.1).eq(vals.iter().copied()));
    }
    // January ended more than 62 days before the last reading: it settled into one file.
    let feb = JAN + 31 * DAY;
    assert_eq!(s.drop_before(feb).unwrap().segments_removed, 1);
}
