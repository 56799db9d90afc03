#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(clippy::host_endian_bytes, clippy::big_endian_bytes)]

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod codec;
mod engine;
pub mod error;
pub mod fleet;
pub mod format;
mod fsutil;
pub mod monitor;
mod query;
mod scan;
mod segment;
mod store;
mod types;
pub(crate) mod wal;

pub use engine::compaction::CompactionReport;
pub use engine::recovery::RecoveryReport;
pub use engine::retention::RetentionReport;
pub use error::{Error, Result};
pub use query::{Agg, Bucket, BucketValue};
pub use scan::{
    DailyDayNight, DayNight, DayNightScan, DayWindow, EnterpriseDayNight, LocalDate, MeterDayNight,
    MeterFilter, Zone,
};
pub use segment::verify_segment;
pub use store::{
    CompactionOptions, History, Options, Snapshot, Store, StoreStats, UnknownMeters, Window,
};
pub use wal::{ReplayReport, SyncPolicy};

/// The I/O fault-injection seam, for tests: not part of the stable API.
#[doc(hidden)]
pub use fsutil::faults;
pub use types::{MeterMeta, Quantity, Reading, UtcOffset};
