//! Replay at open: reads every log file in id order, checks its header, its frames and
//! the LSN order, and decides what each bad region is.
//!
//! The rule: a bad region (a frame that is cut short or fails a check) is a *torn tail*
//! only when it is in the last file and no valid frame starts anywhere after it; replay
//! then cuts the file there. Anything else is corruption: [`Error::Corrupt`] naming the
//! file and the offset of the bad frame, or, with `salvage`, the region is skipped up to
//! the next valid frame and its bytes are counted.

use super::record::*;
use super::Replay;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// One log file found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFile {
    /// The id in its name.
    pub id: u64,
    /// Its path.
    pub path: PathBuf,
}

/// What [`Wal::open`](super::Wal::open) must do with the last file before appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LastFile {
    /// Append to it, after cutting it to `truncate_to` bytes if that is set.
    Continue {
        /// Length of the valid prefix when a torn tail follows it.
        truncate_to: Option<u64>,
    },
    /// Its header was never completely written: write a fresh file under the same id.
    Recreate,
    /// It holds salvaged damage: cut it to `truncate_to` if set, leave it to be removed
    /// with its records, and start the next file, so that new records never land after
    /// a bad region.
    Retire {
        /// Length of the valid prefix when a torn tail follows it.
        truncate_to: Option<u64>,
    },
}

/// The outcome of [`replay`].
#[derive(Debug)]
pub(crate) struct Scan {
    /// The records and the report handed to the caller.
    pub replay: Replay,
    /// The LSN the next appended record gets.
    pub next_lsn: u64,
    /// What to do with the last file (meaningless when there are no files).
    pub last: LastFile,
}

/// LSN bookkeeping across files: strict mode needs `expect` exactly, salvage only needs
/// LSNs to keep increasing (records lost in skipped regions leave gaps).
struct Lsns {
    salvage: bool,
    /// The LSN the next record must carry, once a header has told it.
    expect: Option<u64>,
    /// The last accepted LSN (0 before the first).
    last: u64,
}

impl Lsns {
    fn accepts(&self, lsn: u64) -> bool {
        if self.salvage {
            lsn > self.last
        } else {
            self.expect.is_none_or(|e| e == lsn)
        }
    }
}

/// Reads `files` (sorted by id) in order. See the module docs for the rule on bad
/// regions.
pub(crate) fn replay(files: &[LogFile], salvage: bool) -> Result<Scan> {
    let mut replay = Replay::default();
    let mut lsns = Lsns {
        salvage,
        expect: None,
        last: 0,
    };
    let mut last = LastFile::Continue { truncate_to: None };
    for (i, file) in files.iter().enumerate() {
        let is_last = i + 1 == files.len();
        let buf = std::fs::read(&file.path).map_err(|e| Error::io(&file.path, e))?;
        replay.report.files += 1;
        last = read_file(file, &buf, is_last, &mut lsns, &mut replay)?;
    }
    let next_lsn = lsns.expect.unwrap_or(1).max(lsns.last + 1);
    replay.report.records = replay.records.len() as u64;
    Ok(Scan {
        replay,
        next_lsn,
        last,
    })
}

fn read_file(
    file: &LogFile,
    buf: &[u8],
    is_last: bool,
    lsns: &mut Lsns,
    replay: &mut Replay,
) -> Result<LastFile> {
    let path = &file.path;
    let report = &mut replay.report;
    let mut damaged = false;
    match decode_header(buf, file.id, path) {
        Ok(base) => {
            if let Some(e) = lsns.expect.filter(|&e| e != base && !lsns.salvage) {
                return Err(Error::corrupt(
                    path,
                    HEADER_BASE_LSN as u64,
                    format!("file starts at LSN {base}, the previous file ends before {e}"),
                ));
            }
            lsns.expect = Some(base.max(lsns.last + 1));
        }
        Err(e @ Error::UnsupportedVersion { .. }) => return Err(e),
        Err(e) => {
            let header = buf.get(..HEADER_LEN);
            let torn = header.is_none_or(|h| h.iter().all(|&b| b == 0));
            if is_last && torn && find_next_frame(buf, HEADER_LEN).is_none() {
                report.torn_tail_bytes_dropped += buf.len() as u64;
                report.torn_tail_records_dropped +=
                    count_tail_records(buf, HEADER_LEN.min(buf.len()));
                return Ok(LastFile::Recreate);
            }
            if !lsns.salvage {
                return Err(e);
            }
            report.salvaged_corrupt_bytes += HEADER_LEN.min(buf.len()) as u64;
            damaged = true;
        }
    }

    let mut pos = HEADER_LEN;
    while pos < buf.len() {
        let what = match parse_frame(buf, pos) {
            Frame::Valid { lsn, payload, end } if lsns.accepts(lsn) => {
                replay.records.push((lsn, payload.to_vec()));
                replay.sources.push((path.clone(), pos as u64));
                lsns.last = lsn;
                lsns.expect = Some(lsn + 1);
                pos = end;
                continue;
            }
            Frame::Valid { lsn, end, .. } => {
                if !lsns.salvage {
                    let expected = lsns.expect.unwrap_or(lsns.last + 1);
                    return Err(Error::corrupt(
                        path,
                        pos as u64,
                        format!("record has LSN {lsn}, expected {expected}"),
                    ));
                }
                // A valid frame out of order is skipped like any bad region.
                report.salvaged_corrupt_bytes += (end - pos) as u64;
                damaged = true;
                pos = end;
                continue;
            }
            Frame::Truncated => "record cut short",
            Frame::Invalid(what) => what,
        };
        let next = find_next_frame(buf, pos + 1);
        match next {
            None if is_last => {
                report.torn_tail_bytes_dropped += (buf.len() - pos) as u64;
                report.torn_tail_records_dropped += count_tail_records(buf, pos);
                let truncate_to = Some(pos as u64);
                return Ok(match damaged {
                    true => LastFile::Retire { truncate_to },
                    false => LastFile::Continue { truncate_to },
                });
            }
            _ if lsns.salvage => {
                let resume = next.unwrap_or(buf.len());
                report.salvaged_corrupt_bytes += (resume - pos) as u64;
                damaged = true;
                pos = resume;
            }
            Some(q) => {
                return Err(Error::corrupt(
                    path,
                    pos as u64,
                    format!("{what}; not a torn tail: a valid record follows at offset {q}"),
                ))
            }
            None => {
                return Err(Error::corrupt(
                    path,
                    pos as u64,
                    format!("{what}; in a log file that is not the last"),
                ))
            }
        }
    }
    let truncate_to = None;
    Ok(match damaged {
        true => LastFile::Retire { truncate_to },
        false => LastFile::Continue { truncate_to },
    })
}
