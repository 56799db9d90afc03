//! Day/night imbalance scans (昼伏夜出): per meter, per local day, and per enterprise.
//!
//! See `docs/SCANS.md` for the semantics. The work splits into [`windows`] (local-time day
//! and night turned into UTC pieces, and the stretches of constant UTC offset) and the
//! block kernels in `codec::ints`: `class_sums_cut` (the periodic kernel: a reading's class
//! is a function of its grid slot) and `range_sums` (piece by piece, for offsets off the
//! grid), driven from here meter by meter across threads.

pub(crate) mod kernel;
mod run;
pub(crate) mod windows;

pub use run::{
    DailyDayNight, DayNight, DayNightScan, EnterpriseDayNight, MeterDayNight, MeterFilter,
};
pub use windows::{DayWindow, LocalDate, Zone};
