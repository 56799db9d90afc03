#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![deny(clippy::host_endian_bytes, clippy::big_endian_bytes)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "arrow")]
pub mod arrow;
mod codec;
mod engine;
pub mod error;
pub mod fleet;
mod format;
mod fsutil;
pub mod hj212;
pub mod monitor;
mod query;
mod scan;
mod segment;
#[cfg(feature = "datafusion")]
pub mod sql;
mod store;
mod types;
mod verify;
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
    WithFlags,
};
pub use wal::{ReplayReport, SyncPolicy};

/// The I/O fault-injection seam, for tests: not part of the stable API.
#[doc(hidden)]
pub use fsutil::faults;
pub use types::{Flag, MeterMeta, Quantity, Reading, UtcOffset};
pub use verify::{repair, verify, Damage, RepairReport, VerifyReport, QUARANTINE_DIR};

/// What the crate's benchmarks (`benches/`) measure below the public API: the column
/// codecs and the day/night block kernels. Not part of the API: it changes with the
/// engine.
#[doc(hidden)]
pub mod __bench {
    /// The integer column codec and the block kernels over it.
    pub mod ints {
        pub use crate::codec::ints::{encode, IntColumn};
        pub use crate::scan::kernel::{ClassMask, PhaseRun};
    }
    /// The timestamp column codec.
    pub mod timestamps {
        pub use crate::codec::timestamps::{encode, TsColumn};
    }
    /// Readings to integers and back.
    pub mod values {
        pub use crate::codec::values::{from_ints, to_ints, ValueKind};
    }
}
