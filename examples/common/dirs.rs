//! The directories the tools are pointed at: a tool writes a store only into a store, an
//! empty directory or a new one, and removes only a directory it made itself. Anything
//! else is refused before a file in it is touched, with a message naming what is there.

use std::io;
use std::path::Path;

/// Files of which any one marks a directory as a store: the manifest, the meter registry
/// and the writer's lock file.
pub const STORE_FILES: [&str; 3] = ["MANIFEST", "METERS", "LOCK"];

/// Entries named in a refusal; the rest are counted.
const NAMED_ENTRIES: usize = 5;

/// What a directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    /// Nothing at the path.
    Missing,
    /// An empty directory.
    Empty,
    /// A directory with one of [`STORE_FILES`] (named here).
    Store(&'static str),
    /// A directory with other entries: the first few names (sorted) and their count.
    Other {
        /// Up to five names.
        names: Vec<String>,
        /// All entries.
        count: usize,
    },
    /// Something that is not a directory.
    NotADirectory,
}

/// Looks at `dir` without changing it.
pub fn inspect(dir: &Path) -> io::Result<DirState> {
    let meta = match std::fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DirState::Missing),
        r => r?,
    };
    if !meta.is_dir() {
        return Ok(DirState::NotADirectory);
    }
    if let Some(f) = STORE_FILES.iter().find(|f| dir.join(f).exists()) {
        return Ok(DirState::Store(f));
    }
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        names.push(e?.file_name().to_string_lossy().into_owned());
    }
    if names.is_empty() {
        return Ok(DirState::Empty);
    }
    names.sort();
    let count = names.len();
    names.truncate(NAMED_ENTRIES);
    Ok(DirState::Other { names, count })
}

/// `holds 7 entries (a.txt, b, ...)`.
fn holds(names: &[String], count: usize) -> String {
    let more = if count > names.len() { ", ..." } else { "" };
    format!("holds {count} entries ({}{more})", names.join(", "))
}

/// Checks that `dir` may receive a store: a store, an empty directory or nothing yet.
/// A directory with other files is refused: the store's recovery on open removes
/// unfinished `*.tmp` files and unlisted `seg-*.mts` files, which in a directory that is
/// not a store are someone else's.
pub fn check_store_target(dir: &Path) -> Result<DirState, String> {
    let d = dir.display();
    match inspect(dir).map_err(|e| format!("{d}: {e}"))? {
        DirState::NotADirectory => Err(format!("{d} is not a directory")),
        DirState::Other { names, count } => Err(format!(
            "{d} is not a store (it has no {}) and is not empty: it {}; \
             give a new or empty directory, or an existing store",
            STORE_FILES.join(", "),
            holds(&names, count)
        )),
        s => Ok(s),
    }
}

/// Checks that `dir` may receive a new store and holds none yet: nothing there or an
/// empty directory.
pub fn check_new_store(dir: &Path) -> Result<(), String> {
    let d = dir.display();
    match check_store_target(dir)? {
        DirState::Store(f) => Err(format!(
            "{d} already holds a store (it has {f}); give a new or empty directory"
        )),
        _ => Ok(()),
    }
}

/// Checks that `dir` may receive a tool's output files: nothing there or an empty
/// directory. Anything else (a store among them) is refused, with what it holds.
pub fn check_new_output(dir: &Path) -> Result<(), String> {
    let d = dir.display();
    match inspect(dir).map_err(|e| format!("{d}: {e}"))? {
        DirState::Missing | DirState::Empty => Ok(()),
        DirState::NotADirectory => Err(format!("{d} is not a directory")),
        DirState::Store(f) => Err(format!(
            "{d} holds a store (it has {f}); give a new or empty directory"
        )),
        DirState::Other { names, count } => Err(format!(
            "{d} is not empty: it {}; give a new or empty directory",
            holds(&names, count)
        )),
    }
}

/// Prepares `dir` as a working directory that the tool `tool` owns: made (or found
/// empty) now, or made by `tool` before (its marker file is in it). Returns `true` when
/// `dir` holds what `tool` left there before and `reuse` asks for it; otherwise `dir` is
/// left empty but for the marker. A directory not made by `tool` that holds anything is
/// refused and left alone, `reuse` or not.
pub fn claim(dir: &Path, tool: &str, reuse: bool) -> Result<bool, String> {
    let d = dir.display();
    let marker = dir.join(format!(".made-by-{tool}"));
    let state = inspect(dir).map_err(|e| format!("{d}: {e}"))?;
    let ours = marker.is_file();
    match state {
        DirState::NotADirectory => return Err(format!("{d} is not a directory")),
        DirState::Missing | DirState::Empty if reuse => {
            return Err(format!("--reuse: {d} holds nothing to reuse"))
        }
        DirState::Store(_) | DirState::Other { .. } if !ours => {
            let what = match state {
                DirState::Store(f) => format!("it holds a store (it has {f})"),
                DirState::Other { names, count } => format!("it {}", holds(&names, count)),
                _ => String::new(),
            };
            return Err(format!(
                "{d} was not made by {tool} and is not empty: {what}; {tool} only writes \
                 into a new or empty directory, or one it made itself"
            ));
        }
        _ if reuse => return Ok(true),
        DirState::Missing | DirState::Empty => {}
        // Ours: clear what a previous run left.
        _ => std::fs::remove_dir_all(dir).map_err(|e| format!("{d}: {e}"))?,
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{d}: {e}"))?;
    std::fs::write(
        &marker,
        format!("made by {tool}; {tool} may clear this directory\n"),
    )
    .map_err(|e| format!("{}: {e}", marker.display()))?;
    Ok(false)
}
