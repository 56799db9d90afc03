//! The parts behind [`crate::Store`]: the meter registry, the manifest of live segments,
//! the memtable, the log payload, and the work on segments (flush, compaction,
//! retention) and on reads.

pub(crate) mod background;
pub(crate) mod batch;
pub(crate) mod compaction;
pub(crate) mod envelope;
pub(crate) mod flush;
pub(crate) mod inner;
pub(crate) mod manifest;
pub(crate) mod memtable;
pub(crate) mod meters;
pub(crate) mod options;
pub(crate) mod read;
pub(crate) mod recovery;
pub(crate) mod retention;
pub(crate) mod state;
pub(crate) mod window;
