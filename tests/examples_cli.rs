//! The examples as processes, the way a user runs them: exit statuses, a closed standard
//! output (`| head`), directories they must refuse, and their arguments. The examples are
//! built once per test run (`cargo build --examples`, debug profile, with the `arrow`
//! feature when the tests have it) and run on small data.

use meterstore::fleet::Fleet;
use meterstore::{Options, Store, UnknownMeters};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The built examples by name.
fn examples() -> &'static HashMap<String, PathBuf> {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        // With the arrow feature, the examples that need it too.
        let features: &[&str] = match cfg!(feature = "arrow") {
            true => &["--features", "arrow"],
            false => &[],
        };
        let out = Command::new(env!("CARGO"))
            .args(["build", "--examples", "--message-format=json"])
            .args(features)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "cargo build --examples failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut built = HashMap::new();
        // One JSON message a line; an example's artifact names its target and executable.
        for line in text.lines() {
            let (Some(name), Some(exe)) = (json_str(line, "name"), json_str(line, "executable"))
            else {
                continue;
            };
            if line.contains("\"kind\":[\"example\"]") {
                built.insert(name, PathBuf::from(exe));
            }
        }
        built
    })
}

/// The string value of the first `"key":"..."` in a JSON line (no escapes in the values
/// read here: target names and paths under the target directory).
fn json_str(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = line[at..].find('"')?;
    Some(line[at..at + len].to_owned())
}

fn example(name: &str) -> Command {
    let exe = examples()
        .get(name)
        .unwrap_or_else(|| panic!("example {name} not built"));
    let mut c = Command::new(exe);
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Runs `cmd` to its end with standard output already closed by its reader, as under
/// `cmd | head -0`.
fn closed_stdout(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait")
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("run")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a quiet success: status 0, no panic message.
fn quiet_success(what: &str, o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(o));
    assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
}

/// A small store of a generated fleet (6 meters, 2 days), flushed to segments.
fn fleet_store(dir: &Path) -> Fleet {
    let fleet = Fleet::with_meters(6, 2);
    let opts = Options {
        unknown_meters: UnknownMeters::Register(fleet.meta()),
        ..Options::default()
    };
    let s = Store::open(dir, opts).unwrap();
    for i in 0..fleet.meters().len() {
        fleet.append_meter(&s, i).unwrap();
    }
    s.close().unwrap();
    fleet
}

/// The fleet's readings as import_csv's CSV (Unix seconds).
fn fleet_csv(fleet: &Fleet, path: &Path) {
    let mut out = String::from("meter_id,ts,kwh\n");
    for (i, m) in fleet.meters().iter().enumerate() {
        let (ts, vals) = fleet.series(i);
        for (t, v) in ts.iter().zip(vals) {
            out.push_str(&format!("{},{t},{v}\n", m.id));
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_closed_standard_output_ends_every_tool_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let fleet = fleet_store(&store);
    let csv = dir.path().join("readings.csv");
    fleet_csv(&fleet, &csv);
    let meter = fleet.meters()[0].id.clone();

    let mut import = example("import_csv");
    import.args(["--quiet", "--input"]).arg(&csv).arg("--store");
    import.arg(dir.path().join("imported"));
    let o = closed_stdout(import);
    quiet_success("import_csv", &o);
    // The import itself happened: the imported store answers like the source.
    let s = Store::open(dir.path().join("imported"), Options::default()).unwrap();
    assert_eq!(s.meter_ids().len(), fleet.meters().len());
    drop(s);

    let mut history = example("query_history");
    history.arg("--store").arg(&store).args(["--meter", &meter]);
    quiet_success("query_history", &closed_stdout(history));

    let mut imbalance = example("imbalance");
    imbalance.arg("--store").arg(&store);
    quiet_success("imbalance", &closed_stdout(imbalance));

    let mut scan = example("scan_repeat");
    scan.arg("--store").arg(&store).args(["--scans", "2"]);
    quiet_success("scan_repeat", &closed_stdout(scan));

    let mut bench = example("fleet_bench");
    bench.arg("--dir").arg(dir.path().join("bench"));
    bench.args(["--meters", "3", "--days", "1", "--runs", "1"]);
    quiet_success("fleet_bench", &closed_stdout(bench));

    let mut monitor = example("monitor_throughput");
    monitor.args(["3", "1"]);
    quiet_success("monitor_throughput", &closed_stdout(monitor));

    let kept = dir.path().join("alarms");
    let mut replay = example("facility_alarms");
    replay.args(["--enterprises", "2", "--days", "8", "--keep"]);
    replay.arg(&kept);
    quiet_success("facility_alarms replay", &closed_stdout(replay));
    // Stopped early, but what it stored is a store with its catalog: run the batch mode
    // on it, writing CSV to the closed pipe. The replay learned its thresholds from its
    // first 7 days and may have stopped before it stored more, so the range starts at the
    // first reading, inside the training days.
    let mut alarms = example("facility_alarms");
    alarms
        .arg("--store")
        .arg(&kept)
        .args(["--from", "2024-01-01T00:00:00+08:00"]);
    let o = closed_stdout(alarms);
    quiet_success("facility_alarms batch", &o);
}

#[test]
fn a_failure_is_reported_with_status_1_and_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut scan = example("scan_repeat");
    scan.arg("--store").arg(dir.path().join("none"));
    let o = run(scan);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// Asserts that `dir` holds the same files with the same bytes as `before` (naming the
/// paths, not the bytes, when it does not).
fn unchanged(dir: &Path, before: &[(PathBuf, Vec<u8>)]) {
    let now = snapshot(dir);
    if now != before {
        let names = |s: &[(PathBuf, Vec<u8>)]| -> Vec<String> {
            s.iter()
                .map(|(p, b)| format!("{} ({} bytes)", p.display(), b.len()))
                .collect()
        };
        panic!(
            "{} changed: {:?} became {:?}",
            dir.display(),
            names(before),
            names(&now)
        );
    }
}

/// A directory of someone else's files, some named like a store's leftovers.
fn foreign_dir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in [
        ("notes.txt", "mine"),
        ("draft.tmp", "half-written"),
        ("seg-000001.mts", "not a segment"),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    snapshot(dir)
}

fn refused(what: &str, o: &Output, says: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(o));
    for s in says {
        assert!(stderr(o).contains(s), "{what}: {s:?} not in {}", stderr(o));
    }
}

#[test]
fn import_refuses_a_directory_that_is_neither_a_store_nor_empty() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::with_meters(3, 1);
    let csv = dir.path().join("readings.csv");
    fleet_csv(&fleet, &csv);
    let target = dir.path().join("docs");
    let before = foreign_dir(&target);
    let mut import = example("import_csv");
    import
        .args(["--quiet", "--input"])
        .arg(&csv)
        .arg("--store")
        .arg(&target);
    refused(
        "import",
        &run(import),
        &["not a store", "notes.txt", "draft.tmp"],
    );
    unchanged(&target, &before);
    // A file is no directory.
    let mut import = example("import_csv");
    import
        .args(["--quiet", "--input"])
        .arg(&csv)
        .arg("--store")
        .arg(&csv);
    refused("import into a file", &run(import), &["not a directory"]);
    // An empty directory receives a store.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut import = example("import_csv");
    import
        .args(["--quiet", "--input"])
        .arg(&csv)
        .arg("--store")
        .arg(&empty);
    let o = run(import);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = Store::open(&empty, Options::default()).unwrap();
    assert_eq!(s.meter_ids().len(), fleet.meters().len());
}

#[test]
fn fleet_bench_clears_only_a_directory_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let bench = |d: &Path, reuse: bool| {
        let mut c = example("fleet_bench");
        c.arg("--dir").arg(d);
        c.args(["--meters", "3", "--days", "1", "--runs", "1"]);
        if reuse {
            c.arg("--reuse");
        }
        run(c)
    };
    let mine = dir.path().join("mine");
    let before = foreign_dir(&mine);
    for reuse in [false, true] {
        refused(
            "fleet_bench",
            &bench(&mine, reuse),
            &["not made by fleet_bench", "notes.txt"],
        );
        unchanged(&mine, &before);
    }
    // A store it did not make, left alone.
    let store = dir.path().join("store");
    fleet_store(&store);
    let before = snapshot(&store);
    refused(
        "fleet_bench on a store",
        &bench(&store, false),
        &["holds a store"],
    );
    unchanged(&store, &before);
    // Its own: built, rebuilt, reused.
    let own = dir.path().join("own");
    for reuse in [false, false, true] {
        let o = bench(&own, reuse);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        // Four meters (the fleet rounds to whole enterprises), one day of 96 readings.
        assert!(
            stdout(&o).contains("| readings stored | 384 |"),
            "{}",
            stdout(&o)
        );
    }
    // Nothing to reuse.
    refused(
        "fleet_bench --reuse",
        &bench(&dir.path().join("new"), true),
        &["nothing to reuse"],
    );
}

#[test]
fn facility_alarms_keeps_its_sample_only_in_a_new_or_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let keep = |d: &Path| {
        let mut c = example("facility_alarms");
        c.args(["--enterprises", "2", "--days", "8", "--keep"])
            .arg(d);
        run(c)
    };
    let store = dir.path().join("store");
    fleet_store(&store);
    let before = snapshot(&store);
    refused(
        "--keep on a store",
        &keep(&store),
        &["already holds a store"],
    );
    unchanged(&store, &before);
    let other = dir.path().join("other");
    let before = foreign_dir(&other);
    refused(
        "--keep on other files",
        &keep(&other),
        &["not a store", "notes.txt"],
    );
    unchanged(&other, &before);
    let o = keep(&dir.path().join("new"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("store and catalog kept in"));
}

#[test]
fn help_describes_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "quickstart",
        "import_csv",
        "query_history",
        "imbalance",
        "facility_alarms",
        "fleet_bench",
        "scan_repeat",
        "monitor_throughput",
    ] {
        let mut c = example(name);
        c.arg("--help").current_dir(dir.path());
        let o = run(c);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let help = stdout(&o);
        assert!(help.contains("Usage:"), "{name}: {help}");
        assert!(help.contains("Exit status: 0"), "{name}: {help}");
    }
    // Nothing was built where the tools would have put their output.
    assert!(snapshot(dir.path()).is_empty());
}

#[test]
fn out_of_range_numbers_are_usage_errors() {
    for (name, args) in [
        ("fleet_bench", &["--days", "0"][..]),
        ("fleet_bench", &["--meters", "0"]),
        ("fleet_bench", &["--runs", "0"]),
        ("fleet_bench", &["--days", "40000"]),
        ("quickstart", &["--days", "3"]),
        ("quickstart", &["--enterprises", "0"]),
        ("facility_alarms", &["--days", "2"]),
        ("scan_repeat", &["--store", "x", "--scans", "0"]),
        ("scan_repeat", &["--store", "x", "--pause", "NaN"]),
        ("monitor_throughput", &["0"]),
        ("imbalance", &["--store", "x", "--threshold", "0"]),
        ("imbalance", &["--store", "x", "--day", "8-20"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = example(name);
        c.args(args).current_dir(dir.path());
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{name} {args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{name} {args:?}");
        assert!(
            stderr(&o).contains(args[args.len().saturating_sub(2)]),
            "{name} {args:?}: {}",
            stderr(&o)
        );
        assert!(
            snapshot(dir.path()).is_empty(),
            "{name} {args:?} wrote files"
        );
    }
}

#[test]
fn a_negative_offset_is_a_zone_not_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    // 2024-01-01 00:00 and 00:15 at -05:00.
    let csv = dir.path().join("readings.csv");
    std::fs::write(
        &csv,
        "meter_id,ts,kwh\nM1,2024-01-01 00:00,1.5\nM1,2024-01-01 00:15,2.5\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    let mut import = example("import_csv");
    import
        .args(["--quiet", "--tz", "-05:00", "--input"])
        .arg(&csv);
    import.arg("--store").arg(&store);
    let o = run(import);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let jan1 = 1_704_085_200; // 2024-01-01T00:00-05:00
    let s = Store::open(&store, Options::default()).unwrap();
    let got: Vec<(i64, f64)> = s.history("M1", i64::MIN..i64::MAX).unwrap().collect();
    assert_eq!(got, [(jan1, 1.5), (jan1 + 900, 2.5)]);
    drop(s);
    let mut q = example("query_history");
    q.arg("--store").arg(&store);
    q.args(["--meter", "M1", "--tz", "-05:00", "--from", "2024-01-01"]);
    let o = run(q);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("2024-01-01 00:15"), "{}", stdout(&o));
    let mut i = example("imbalance");
    i.arg("--store").arg(&store).args(["--tz", "-05:00"]);
    let o = run(i);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn quickstart_runs_small_and_rebuilds_only_its_own_store() {
    let dir = tempfile::tempdir().unwrap();
    let quick = || {
        let mut c = example("quickstart");
        c.args(["--enterprises", "4", "--days", "15", "--dir"]);
        c.arg(dir.path());
        c
    };
    for _ in 0..2 {
        let o = run(quick());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains("\ndone in"), "{}", stdout(&o));
    }
    quiet_success("quickstart | head", &closed_stdout(quick()));
    // A store it did not make is refused and left alone.
    let other = tempfile::tempdir().unwrap();
    fleet_store(&other.path().join("store"));
    let before = snapshot(other.path());
    let mut c = example("quickstart");
    c.args(["--enterprises", "4", "--days", "15", "--dir"]);
    c.arg(other.path());
    refused("quickstart", &run(c), &["not made by quickstart"]);
    unchanged(other.path(), &before);
}

#[test]
fn an_import_says_when_its_data_was_committed_before_a_later_step_failed() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::with_meters(3, 2);
    let csv = dir.path().join("readings.csv");
    fleet_csv(&fleet, &csv);
    let store = dir.path().join("store");
    let import = || {
        let mut c = example("import_csv");
        c.args(["--quiet", "--input"])
            .arg(&csv)
            .arg("--store")
            .arg(&store);
        run(c)
    };
    for _ in 0..2 {
        assert_eq!(import().status.code(), Some(0));
    }
    // One flipped byte in the middle of every segment: a data block, which opening the
    // store does not read, and which the compaction after the next import's flush does.
    for e in std::fs::read_dir(&store).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "mts") {
            let mut b = std::fs::read(&p).unwrap();
            let mid = b.len() / 2;
            b[mid] ^= 0xff;
            std::fs::write(&p, b).unwrap();
        }
    }
    let o = import();
    // Opening the store reads no data block, so the readings are appended (committed);
    // the compaction after the flush reads the damaged blocks and fails: status 3, and the
    // message says the data is committed.
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("readings were imported and committed"), "{e}");
    assert!(e.contains("then closing the store"), "{e}");
    assert!(e.contains("seg-"), "names the damaged file: {e}");
}

#[cfg(feature = "arrow")]
#[test]
fn export_parquet_reads_beside_a_writer_and_writes_only_into_a_new_or_empty_directory() {
    use meterstore::arrow::arrow_array::{cast::AsArray, Array};
    use meterstore::arrow::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use meterstore::arrow::METERS_FILE;
    use meterstore::monitor::{Catalog, CatalogMeter, Enterprise, MeterRole};

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let fleet = fleet_store(&store);
    // A writer holds the store, with a catalog listing the first meter.
    let writer = Store::open(&store, Options::default()).unwrap();
    let first = fleet.meters()[0].id.clone();
    let mut cat = Catalog::new();
    let e = Enterprise {
        id: "E1".into(),
        ..Enterprise::default()
    };
    cat.upsert_enterprise(e).unwrap();
    cat.upsert_meter(CatalogMeter::new(&first, "E1", MeterRole::Production))
        .unwrap();
    cat.save(&writer).unwrap();

    let export = |out: &Path| {
        let mut c = example("export_parquet");
        c.arg("--store").arg(&store).arg("--out").arg(out).arg("-q");
        c
    };
    let out = dir.path().join("out");
    let o = run(export(&out));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("exported"), "{}", stdout(&o));
    // meters.parquet takes enterprise and role from STORE/CATALOG.
    let f = std::fs::File::open(out.join(METERS_FILE)).unwrap();
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut listed = Vec::new();
    for b in &batches {
        let ids = b.column_by_name("meter_id").unwrap().as_string::<i32>();
        let ents = b
            .column_by_name("enterprise_id")
            .unwrap()
            .as_string::<i32>();
        for i in 0..b.num_rows() {
            listed.push((
                ids.value(i).to_owned(),
                ents.is_valid(i).then(|| ents.value(i)),
            ));
        }
    }
    assert_eq!(listed.len(), fleet.meters().len());
    for (id, ent) in listed {
        assert_eq!(ent, (id == first).then_some("E1"), "{id}");
    }

    // A non-empty --out (its own earlier output, or someone else's files) is refused and
    // left as it was.
    let foreign = dir.path().join("foreign");
    foreign_dir(&foreign);
    for full in [&out, &foreign] {
        let before = snapshot(full);
        let what = format!("export into {}", full.display());
        refused(&what, &run(export(full)), &["is not empty"]);
        unchanged(full, &before);
    }
    let mut bad_range = export(&dir.path().join("range"));
    bad_range.args(["--from", "2024-02-01", "--to", "2024-01-01"]);
    refused(
        "export with --from after --to",
        &run(bad_range),
        &["--from"],
    );

    // A closed standard output ends it quietly, with the export written.
    let out2 = dir.path().join("out2");
    quiet_success("export_parquet", &closed_stdout(export(&out2)));
    assert!(out2.join(METERS_FILE).exists());
    drop(writer);
}
