//! The damage matrix: each store file (MANIFEST, METERS, a segment, the log, CATALOG),
//! missing / empty / truncated / bit-flipped / replaced by an older copy, opened by a
//! writer and by a reader, gives the outcome documented in `docs/FORMAT.md` ("Damage
//! matrix"), and the directory's bytes are unchanged after every read-only open and
//! every failed open. Then `verify` finds the damage and `examples/verify.rs --repair`
//! repairs what can be repaired.

mod support;

use meterstore::monitor::Catalog;
use meterstore::{Error, MeterMeta, Store};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{copy_dir, day, named, opts, snapshot, JAN};

/// The older copies of the files, taken before the store moved on.
struct Stale {
    manifest: Vec<u8>,
    meters: Vec<u8>,
    catalog: Vec<u8>,
    /// The last log file when it held only the first of its two records.
    wal: Vec<u8>,
}

/// The base store: two meters in two windows, a third registered later, a compaction,
/// two batches left in the log, a catalog. Returns the older copies.
fn base(dir: &Path) -> Stale {
    let s = Store::open(dir, opts()).unwrap();
    s.register_meter("A", MeterMeta::default()).unwrap();
    s.register_meter("B", MeterMeta::default()).unwrap();
    s.append(&day("A", JAN, 1.0)).unwrap();
    s.flush().unwrap();
    s.append(&day("B", JAN + 40 * 86_400, 2.0)).unwrap();
    s.flush().unwrap();
    Catalog::new().save(&s).unwrap();
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let (manifest, meters, catalog) = (read("MANIFEST"), read("METERS"), read("CATALOG"));
    s.register_meter("C", MeterMeta::default()).unwrap();
    s.append(&day("C", JAN + 86_400, 3.0)).unwrap();
    s.append(&day("A", JAN + 86_400, 4.0)).unwrap();
    s.flush().unwrap();
    s.compact_all().unwrap();
    // The catalog changes too, so its older copy differs.
    let mut c = Catalog::new();
    c.upsert_enterprise(meterstore::monitor::Enterprise {
        id: "E1".into(),
        name: "Plant".into(),
        industry: String::new(),
        process: String::new(),
        pollutants: Vec::new(),
        district: String::new(),
    })
    .unwrap();
    c.save(&s).unwrap();
    s.append(&day("A", JAN + 2 * 86_400, 5.0)).unwrap();
    let wal = std::fs::read(last_log(dir)).unwrap();
    s.append(&day("D", JAN + 2 * 86_400, 6.0)).unwrap();
    drop(s); // no flush: two records stay in the log
    Stale {
        manifest,
        meters,
        catalog,
        wal,
    }
}

fn last_log(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max()
        .unwrap()
}

/// The newest segment: the compacted first window, which holds meter A.
fn a_segment(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mts"))
        .max()
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Harm {
    Missing,
    Empty,
    Truncated,
    Flipped,
    Stale,
}

/// What an open gives.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// An error of this kind naming a file whose name starts with this.
    Fails(&'static str, &'static str),
    /// The open succeeds with every reading.
    Opens,
    /// The open succeeds, reporting a torn log tail: the first log record of the two is
    /// there, the second is not (the writer cut it off; the reader left it as it is).
    TornTail,
    /// The open succeeds, the log's last record is gone without a trace (an older copy of
    /// the last log file ends on a record boundary: see the docs).
    LosesLastRecord,
    /// The open succeeds; reading the damaged block fails naming the segment.
    FailsOnRead,
    /// The open succeeds with meter A's readings, the torn records counted and whether
    /// meter D (registered by the last record) is there: the cases above aside.
    Content(usize, u64, bool),
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Damaged { .. } => "Damaged",
        Error::Corrupt { .. } => "Corrupt",
        Error::ChecksumMismatch { .. } => "ChecksumMismatch",
        Error::Io { .. } => "Io",
        Error::UnsupportedVersion { .. } => "UnsupportedVersion",
        _ => "other",
    }
}

/// Applies `harm` to `path` (with its older copy `stale`).
fn harm(path: &Path, harm: Harm, stale: &[u8], flip_at: usize) {
    let bytes = std::fs::read(path).unwrap();
    match harm {
        Harm::Missing => std::fs::remove_file(path).unwrap(),
        Harm::Empty => std::fs::write(path, b"").unwrap(),
        Harm::Truncated => std::fs::write(path, &bytes[..bytes.len() * 3 / 4]).unwrap(),
        Harm::Flipped => {
            let mut b = bytes;
            b[flip_at] ^= 0x04;
            std::fs::write(path, b).unwrap();
        }
        Harm::Stale => std::fs::write(path, stale).unwrap(),
    }
}

/// Opens `dir` as a writer (`writer`) or reader and says what happened.
fn outcome(dir: &Path, writer: bool) -> Outcome {
    let s = match writer {
        true => Store::open(dir, opts()),
        false => Store::open_read_only(dir),
    };
    let s = match s {
        Ok(s) => s,
        Err(e) => return Outcome::Fails(kind(&e), leak(named(&e))),
    };
    let a: Result<Vec<_>, _> = s.history("A", i64::MIN..i64::MAX).map(|h| h.collect());
    let a = match a {
        Ok(a) => a,
        Err(e) if named(&e).starts_with("seg-") => return Outcome::FailsOnRead,
        Err(e) => panic!("read failed: {e}"),
    };
    let torn = s.recovery_report().wal.torn_tail_records_dropped;
    let has_d = s.meter_ids().iter().any(|m| m == "D");
    match (a.len(), torn, has_d) {
        (288, 0, true) => Outcome::Opens,
        (288, 1, false) => Outcome::TornTail,
        (288, 0, false) => Outcome::LosesLastRecord,
        (n, torn, d) => Outcome::Content(n, torn, d),
    }
}

fn leak(s: String) -> &'static str {
    // The matrix compares a file name prefix; the few names leaked here are test data.
    match s.as_str() {
        n if n.starts_with("seg-") => "seg-",
        n if n.starts_with("wal-") => "wal-",
        "MANIFEST" => "MANIFEST",
        "METERS" => "METERS",
        "CATALOG" => "CATALOG",
        _ => Box::leak(s.into_boxed_str()),
    }
}

/// The documented outcome of each case, the same for writers and readers.
fn expected(file: &str, h: Harm) -> Outcome {
    use Harm::*;
    use Outcome::*;
    match (file, h) {
        ("MANIFEST", Missing) => Fails("Damaged", "MANIFEST"),
        ("MANIFEST", Empty | Truncated) => Fails("Corrupt", "MANIFEST"),
        ("MANIFEST", Flipped) => Fails("ChecksumMismatch", "MANIFEST"),
        // Here a later compaction deleted segments it lists; other stale copies fail on
        // METERS's generation, a segment above `next_seq` or a deleted log file.
        ("MANIFEST", Stale) => Fails("Damaged", "seg-"),
        ("METERS", Missing | Stale) => Fails("Damaged", "METERS"),
        ("METERS", Empty | Truncated) => Fails("Corrupt", "METERS"),
        ("METERS", Flipped) => Fails("ChecksumMismatch", "METERS"),
        ("segment", Missing) => Fails("Damaged", "seg-"),
        ("segment", Empty | Truncated) => Fails("Corrupt", "seg-"),
        ("segment", Flipped) => FailsOnRead,
        ("segment", Stale) => unreachable!("a segment's name is never reused"),
        ("log", Missing) => Fails("Damaged", "wal-"),
        // Log files are created whole, header included: one without a whole header was
        // emptied after the fact. Cut after its header, it is a torn tail: the writer
        // cuts it off, the reader reads what is left without touching it.
        ("log", Empty) => Fails("Damaged", "wal-"),
        ("log", Truncated) => TornTail,
        ("log", Flipped) => Fails("Corrupt", "wal-"),
        ("log", Stale) => LosesLastRecord,
        ("CATALOG", _) => Opens,
        _ => unreachable!(),
    }
}

#[test]
fn damage_matrix() {
    let proto = tempfile::tempdir().unwrap();
    let stale = base(proto.path());
    let harms = [
        Harm::Missing,
        Harm::Empty,
        Harm::Truncated,
        Harm::Flipped,
        Harm::Stale,
    ];
    for file in ["MANIFEST", "METERS", "segment", "log", "CATALOG"] {
        for h in harms {
            if file == "segment" && h == Harm::Stale {
                continue;
            }
            for writer in [false, true] {
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path();
                copy_dir(proto.path(), dir);
                let (path, old, flip_at) = match file {
                    "MANIFEST" => (dir.join("MANIFEST"), &stale.manifest, 30),
                    "METERS" => (dir.join("METERS"), &stale.meters, 30),
                    // Inside the first block, which the index does not cover.
                    "segment" => (a_segment(dir), &stale.manifest, 40),
                    // Inside the first of the two records (a valid one follows).
                    "log" => (last_log(dir), &stale.wal, 60),
                    _ => (dir.join("CATALOG"), &stale.catalog, 30),
                };
                harm(&path, h, old, flip_at);
                let before = snapshot(dir);
                let got = outcome(dir, writer);
                let case = format!(
                    "{file} {h:?} by a {}",
                    if writer { "writer" } else { "reader" }
                );
                assert_eq!(got, expected(file, h), "{case}");
                let changed = snapshot(dir) != before;
                let may_change = writer && !matches!(got, Outcome::Fails(..));
                assert!(!changed || may_change, "{case}: the directory changed");
                if file == "CATALOG" {
                    let c = Catalog::load_dir(dir);
                    match h {
                        Harm::Missing | Harm::Stale => assert!(c.is_ok(), "{case}"),
                        _ => assert_eq!(named(&c.unwrap_err()), "CATALOG", "{case}"),
                    }
                }
                // verify never changes anything and sees what an open sees.
                let before = snapshot(dir);
                let r = meterstore::verify(dir).unwrap();
                assert_eq!(
                    snapshot(dir),
                    before,
                    "{case}: verify changed the directory"
                );
                let damaged = matches!(got, Outcome::Fails(..) | Outcome::FailsOnRead)
                    || (file == "CATALOG" && !matches!(h, Harm::Missing | Harm::Stale));
                if !may_change {
                    assert_eq!(!r.is_healthy(), damaged, "{case}: {:?}", r.damage);
                }
            }
        }
    }
}

/// The verify example, built by `cargo test` next to the test binaries.
fn verify_exe() -> PathBuf {
    let me = std::env::current_exe().unwrap();
    let target = me.parent().unwrap().parent().unwrap();
    let exe = target.join("examples").join("verify");
    assert!(
        exe.exists(),
        "{} is missing: run through `cargo test`",
        exe.display()
    );
    exe
}

fn run_verify(dir: &Path, repair: bool) -> (i32, String) {
    let mut cmd = Command::new(verify_exe());
    cmd.arg("--store").arg(dir);
    if repair {
        cmd.arg("--repair");
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_verify_tool_reports_and_repairs() {
    let proto = tempfile::tempdir().unwrap();
    base(proto.path());
    // Healthy: exit 0; usage error: exit 2; no store: exit 2.
    assert_eq!(run_verify(proto.path(), false).0, 0);
    let out = Command::new(verify_exe()).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(run_verify(&proto.path().join("none"), false).0, 2);

    // A damaged block: found (exit 1), quarantined, and the rest reads.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(proto.path(), tmp.path());
    let seg = a_segment(tmp.path());
    harm(&seg, Harm::Flipped, &[], 40);
    let (code, text) = run_verify(tmp.path(), false);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("DAMAGED") && text.contains("seg-"), "{text}");
    let (code, text) = run_verify(tmp.path(), true);
    assert_eq!(code, 0, "{text}");
    let name = seg.file_name().unwrap();
    assert!(tmp.path().join("quarantine").join(name).exists(), "{text}");
    assert!(!seg.exists());
    let s = Store::open_read_only(tmp.path()).unwrap();
    assert!(s.meter_ids().iter().any(|m| m == "D"));
    drop(s);
    assert_eq!(run_verify(tmp.path(), false).0, 0);

    // A missing MANIFEST: rebuilt from the segments; every reading is back.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(proto.path(), tmp.path());
    std::fs::remove_file(tmp.path().join("MANIFEST")).unwrap();
    assert_eq!(run_verify(tmp.path(), false).0, 1);
    let (code, text) = run_verify(tmp.path(), true);
    assert_eq!(code, 0, "{text}");
    let s = Store::open_read_only(tmp.path()).unwrap();
    assert_eq!(s.history("A", i64::MIN..i64::MAX).unwrap().count(), 288);
    assert_eq!(s.history("D", i64::MIN..i64::MAX).unwrap().count(), 96);
    drop(s);

    // A log record damaged before the last: salvaged, the damaged file kept in quarantine.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(proto.path(), tmp.path());
    let log = last_log(tmp.path());
    harm(&log, Harm::Flipped, &[], 60);
    let (code, text) = run_verify(tmp.path(), true);
    assert_eq!(code, 0, "{text}");
    assert!(tmp
        .path()
        .join("quarantine")
        .join(log.file_name().unwrap())
        .exists());
    let s = Store::open_read_only(tmp.path()).unwrap();
    assert_eq!(s.history("D", i64::MIN..i64::MAX).unwrap().count(), 96);
    drop(s);

    // METERS cannot be rebuilt: nothing changes, exit 1.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(proto.path(), tmp.path());
    std::fs::remove_file(tmp.path().join("METERS")).unwrap();
    let before = snapshot(tmp.path());
    let (code, text) = run_verify(tmp.path(), true);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("METERS"), "{text}");
    assert_eq!(snapshot(tmp.path()), before);
}
