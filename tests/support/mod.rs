//! Helpers shared by the store-safety tests (`tests/safety.rs`, `tests/damage.rs`).
#![allow(dead_code)]

use meterstore::{
    CompactionOptions, Error, MeterMeta, Options, Reading, SyncPolicy, UnknownMeters,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of the tests: no syncs, flushes and compactions only when called, unknown
/// meters registered.
pub fn opts() -> Options {
    Options {
        sync: SyncPolicy::Never,
        background_flush: false,
        unknown_meters: UnknownMeters::Register(MeterMeta::default()),
        compaction: CompactionOptions {
            auto: false,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

/// Default options with automatic compaction off and windows kept hot: the golden
/// fixtures' writers.
pub fn manual_compaction() -> Options {
    Options {
        compaction: CompactionOptions {
            auto: false,
            cold_after: None,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

/// Replaces a file's content: unlinks it and creates it anew (a store may still map the
/// old one).
pub fn rewrite(path: &Path, bytes: &[u8]) {
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A day of 15-minute readings of `meter` from `start`, all `value`.
pub fn day(meter: &str, start: i64, value: f64) -> Vec<Reading<'_>> {
    (0..96)
        .map(|k| Reading::new(meter, start + k * 900, value))
        .collect()
}

/// 2024-01-01T00:00+08:00.
pub const JAN: i64 = 1_704_038_400;

/// Every file under `dir` (recursively) with its bytes: compare two to prove that
/// nothing was written, truncated, created or deleted.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.strip_prefix(dir).unwrap().to_owned(), b"<dir>".to_vec());
                todo.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(p.strip_prefix(dir).unwrap().to_owned(), bytes);
            }
        }
    }
    out
}

/// Copies the directory tree `from` into `to` (which exists).
pub fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The name of the file an error names ("" for errors that name none).
pub fn named(e: &Error) -> String {
    let p = match e {
        Error::Damaged { path, .. }
        | Error::Corrupt { path, .. }
        | Error::ChecksumMismatch { path, .. }
        | Error::UnsupportedVersion { path, .. }
        | Error::Io { path, .. } => path.clone(),
        _ => PathBuf::new(),
    };
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
