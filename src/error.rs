//! The one error type of the crate.
//!
//! Kinds follow pco's split: corruption of stored bytes, incompatibility (unknown format
//! version or codec), invalid input from the caller, and I/O. Corruption errors always name
//! the file and the byte offset where the check failed.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in meterstore.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// Stored bytes failed a check (magic, length, checksum, structure).
    #[error("corrupt data in {path} at byte offset {offset}: {what}")]
    Corrupt {
        /// The file that holds the bad bytes.
        path: PathBuf,
        /// Byte offset in the file where the bad structure starts.
        offset: u64,
        /// What check failed.
        what: String,
    },

    /// A checksum did not match.
    #[error("checksum mismatch in {path} at byte offset {offset}: stored {expected:#010x}, computed {got:#010x}")]
    ChecksumMismatch {
        /// The file that holds the bad bytes.
        path: PathBuf,
        /// Byte offset of the checksummed region.
        offset: u64,
        /// The checksum stored in the file.
        expected: u32,
        /// The checksum of the bytes as read.
        got: u32,
    },

    /// The file was written by a format version this build does not know.
    #[error("{path}: unsupported format version {version} (this build reads versions up to {supported})")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file.
        version: u8,
        /// The newest version this build reads.
        supported: u8,
    },

    /// A reading in an appended batch was rejected; the whole batch was rejected with it.
    #[error("batch rejected at reading {index} (meter {meter:?}, ts {ts}): {reason}")]
    InvalidReading {
        /// Position of the reading in the batch.
        index: usize,
        /// External id of the meter.
        meter: String,
        /// Timestamp of the reading (UTC Unix seconds).
        ts: i64,
        /// Why it was rejected.
        reason: String,
    },

    /// The meter id is not registered in the store.
    #[error("unknown meter {0:?}")]
    UnknownMeter(String),

    /// A caller passed an argument that cannot be honoured.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A file the store needs is missing, or does not fit the others (a stale or foreign
    /// copy). Nothing was changed; `meterstore::verify` and `meterstore::repair` look
    /// at the store as a whole.
    #[error("store damaged: {path}: {what}")]
    Damaged {
        /// The missing or mismatched file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },

    /// A write (append, registration, flush, compaction, retention) on a store opened
    /// with [`Store::open_read_only`](crate::Store::open_read_only).
    #[error("store {path} is open read-only: {op} needs Store::open")]
    ReadOnly {
        /// The store directory.
        path: PathBuf,
        /// The refused operation.
        op: &'static str,
    },

    /// Another process holds the store's write lock.
    #[error("store {path} is locked by another process")]
    Locked {
        /// The store directory.
        path: PathBuf,
    },
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Damaged`].
    pub(crate) fn damaged(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Damaged {
            path: path.into(),
            what: what.into(),
        }
    }

    /// Builds an [`Error::Corrupt`].
    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            what: what.into(),
        }
    }
}
