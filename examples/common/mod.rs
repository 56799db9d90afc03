//! Code shared by the examples (and run by their tests in `tests/examples_*.rs`): time
//! parsing, the CSV and HJ 212 imports, the history query and its table and CSV output, and the
//! load-curve SVG. Each example's `main` only parses its arguments and calls in here.
//!
//! Include it with `mod common;` from an example, or with
//! `#[path = "../examples/common/mod.rs"] mod common;` from a test, under
//! `#[allow(dead_code)]`: every includer compiles all of it and uses a part.

pub mod alarms;
pub mod catalog_file;
pub mod cli;
pub mod dirs;
pub mod fleet;
pub mod history;
pub mod hj212;
pub mod imbalance;
pub mod import;
pub mod infer;
pub mod lines;
#[cfg(feature = "arrow")]
pub mod parquet_rows;
pub mod peers;
pub mod plot;
pub mod time;

use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

/// Opens the store at `dir` for a tool that only reads it: read-only, so the tool never
/// changes a file and works beside a writer; a path that holds no store (a mistyped one)
/// is an error, not a new, empty store.
pub fn open_existing(dir: &Path) -> meterstore::Result<meterstore::Store> {
    meterstore::Store::open_read_only(dir)
}

/// Opens the existing store at `dir` as its writer, for a tool that changes it (such as
/// `facility_alarms`, which keeps learned thresholds in the catalog): a path that holds no
/// store is an error, and a store that another writer holds is [`meterstore::Error::Locked`].
pub fn open_writer(dir: &Path) -> meterstore::Result<meterstore::Store> {
    let opts = meterstore::Options {
        create_if_missing: false,
        ..meterstore::Options::default()
    };
    meterstore::Store::open(dir, opts)
}

/// Every reading of every meter in the store at `dir`, by (meter, timestamp): what the
/// import tests compare with their input.
pub fn all_readings(
    dir: &Path,
) -> meterstore::Result<std::collections::BTreeMap<(String, i64), f64>> {
    let store = open_existing(dir)?;
    let mut rows = std::collections::BTreeMap::new();
    for id in store.meter_ids() {
        for (t, v) in store.history(&id, i64::MIN..i64::MAX)? {
            rows.insert((id.clone(), t), v);
        }
    }
    Ok(rows)
}

/// Opens a file for reading, decompressing it if it is gzip (recognised by its magic
/// bytes, whatever its name). The progress bar, if any, counts the bytes read from disk.
pub fn open_input(path: &Path, progress: Option<&ProgressBar>) -> Result<Box<dyn Read>, String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = File::open(path).map_err(err)?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.rewind().map_err(err)?;
    let raw: Box<dyn Read> = match progress {
        Some(pb) => Box::new(pb.wrap_read(file)),
        None => Box::new(file),
    };
    let raw = BufReader::with_capacity(1 << 20, raw);
    Ok(if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    })
}

/// A progress bar over `total` bytes of input with a step name in front; hidden when
/// `show` is false (tests) or stderr is not a terminal.
pub fn byte_progress(total: u64, step: &str, show: bool) -> ProgressBar {
    progress(total, step, show, "{bytes}/{total_bytes} {bytes_per_sec}")
}

/// A progress bar over `total` rows, as [`byte_progress`].
pub fn row_progress(total: u64, step: &str, show: bool) -> ProgressBar {
    progress(total, step, show, "{human_pos}/{human_len} rows {per_sec}")
}

fn progress(total: u64, step: &str, show: bool, counts: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    let style =
        ProgressStyle::with_template(&format!("{{prefix:>10}} [{{bar:40}}] {counts} eta {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix(step.to_owned());
    pb
}

/// Registered ids close to `id` (edit distance, case ignored), closest first, at most
/// five: the "did you mean" of an unknown meter.
pub fn suggest<'a>(id: &str, known: &'a [String]) -> Vec<&'a str> {
    let want = id.to_lowercase();
    let limit = (want.chars().count() / 3).max(2);
    let mut close: Vec<(usize, &str)> = known
        .iter()
        .filter_map(|k| {
            let d = strsim::levenshtein(&want, &k.to_lowercase());
            (d <= limit).then_some((d, k.as_str()))
        })
        .collect();
    close.sort();
    close.into_iter().take(5).map(|c| c.1).collect()
}
