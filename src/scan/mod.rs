//! Day/night imbalance scans (昼伏夜出): per meter, per local day, and per enterprise.
//!
//! See `docs/SCANS.md` for the semantics. A scan is planned on a snapshot and run meter by
//! meter across threads:
//! - [`result`]: the parameters and the results;
//! - [`windows`]: local-time day and night turned into UTC pieces, and the stretches of
//!   constant UTC offset;
//! - [`plan`]: the selected meters, the clipped range, the grids and the path per meter;
//! - [`parallel`]: the workers and their chunks of meters; [`order`]: results in id order;
//! - [`block`]: the fast path over one packed block, through the [`kernel`]s:
//!   `class_sums_cut` (the periodic kernel: a reading's class is a function of its grid
//!   slot, [`periodic`]) and `range_sums` (piece by piece, for offsets off the grid);
//! - [`register`]: the fast path of cumulative registers, whose energies are their stored
//!   deltas;
//! - [`merged`]: the general path over merged readings;
//! - [`accumulate`]: per-meter sums and their fold into day/night figures;
//! - [`run`]: the entry point.
mod accumulate;
mod block;
mod cold;
pub(crate) mod kernel;
mod merged;
mod order;
mod parallel;
mod periodic;
mod plan;
mod register;
mod result;
mod run;
pub(crate) mod windows;

pub use result::{
    DailyDayNight, DayNight, DayNightScan, EnterpriseDayNight, MeterDayNight, MeterFilter,
};
pub use windows::{DayWindow, LocalDate, Zone};
