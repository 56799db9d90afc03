//! Helpers shared by the store-safety tests (`tests/safety.rs`, `tests/damage.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
