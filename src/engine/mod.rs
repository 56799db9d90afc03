//! The parts behind [`crate::Store`]: the meter registry, the manifest of live segments,
//! and the memtable.

pub(crate) mod envelope;
pub(crate) mod manifest;
pub(crate) mod memtable;
pub(crate) mod meters;
