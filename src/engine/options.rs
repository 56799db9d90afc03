//! [`Options`] of a store and the knobs inside it.

use super::window::Window;
use crate::types::{MeterMeta, UtcOffset};
use crate::wal::SyncPolicy;
use std::ops::Range;

/// What [`Store::append`](crate::Store::append) does with a meter id it has not seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownMeters {
    /// Reject the batch. The default: a typo in a meter id is caught, not stored.
    Reject,
    /// Register the meter with this metadata.
    Register(MeterMeta),
}

/// When and how windows are compacted (see [`Store::compact`](crate::Store::compact)).
///
/// The policy looks at each window on its own. A window that holds a single segment is
/// never rewritten. A window with more is rewritten into one segment when any of these
/// holds:
/// - the segments added since its last rewrite hold at least `ratio` times the bytes of
///   its oldest segment (so a window's size grows geometrically between rewrites and each
///   reading is rewritten a bounded number of times);
/// - it has more than `max_segments_per_window` segments (bounds the files a query
///   merges);
/// - it is *settled*: it ended at least `settle_s` seconds before the newest reading in
///   the store, so terminals have stopped resending into it; one last rewrite leaves it as a
///   single file.
///
/// Separately, a window that ended `cold_after` before the newest reading and is not one
/// cold segment yet is rewritten into one cold segment (see
/// [`CompactionOptions::cold_after`]), whatever its number of segments.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionOptions {
    /// Run the policy after every flush, in the thread that flushed (the background
    /// flusher, by default), once the flush is published; appenders and readers go on
    /// meanwhile. When off, call
    /// [`Store::compact`](crate::Store::compact) yourself. Default: on.
    pub auto: bool,
    /// See the type docs. Default: 1.0.
    pub ratio: f64,
    /// See the type docs. Default: 24.
    pub max_segments_per_window: usize,
    /// See the type docs. Default: 62 days, the longest resend of Q/GDW 1376.1 terminals.
    pub settle_s: i64,
    /// Windows that ended at least this many seconds before the newest reading in the
    /// store are rewritten into one *cold* segment: entropy-coded blocks (pcodec), about
    /// a quarter smaller than hot ones on meter readings and slower to scan (see "Cold
    /// blocks" in `docs/FORMAT.md`). The policy does this once per window (again only
    /// when late readings arrive); [`Store::compact_cold`](crate::Store::compact_cold)
    /// does it now. `None`: the policy keeps every window hot. Default: `None`, since a
    /// cold block scans at about a tenth of a hot block's speed (pcodec's decoding on
    /// every scan): a store trades scan speed for size only by choice. `Some(62 * 86_400)`,
    /// the same as `settle_s`, makes the one last rewrite of a settled window the cold one,
    /// so that no window is rewritten twice for it.
    pub cold_after: Option<i64>,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            auto: true,
            ratio: 1.0,
            max_segments_per_window: 24,
            settle_s: 62 * 86_400,
            cold_after: None,
        }
    }
}

/// Options for [`Store::open`](crate::Store::open).
#[derive(Debug, Clone)]
pub struct Options {
    /// Handling of unknown meter ids in appends. Default: [`UnknownMeters::Reject`].
    pub unknown_meters: UnknownMeters,
    /// Local time of the windows (and calendar months) that segment blocks never cross, so
    /// that month aggregates in this offset are answered from block statistics. Default:
    /// UTC+08:00.
    pub window_offset: UtcOffset,
    /// Length of the windows that segments are cut into, compacted and dropped by.
    /// Default: [`Window::Month`].
    pub window: Window,
    /// Memory budget of the memtable. The append that brings the buffered readings (16
    /// bytes each) to this size starts a flush into segments: in the background (see
    /// [`Options::background_flush`]) or inline. If the buffered readings reach twice the
    /// budget (flushes cannot keep up, or keep failing), an append first flushes inline,
    /// and is rejected if that flush fails, so memory stays bounded by about twice the
    /// budget plus one batch per appending thread. Default: 256 MiB.
    pub memtable_budget_bytes: usize,
    /// Where the flush started by the memtable budget runs. `true` (the default): on the
    /// store's flusher thread, while appends go on into a fresh memtable (with two
    /// cores, encoding segments overlaps ingest); the compaction policy then runs there
    /// too. `false`: inline, in the append that crossed the budget, before it returns.
    /// [`Store::flush`](crate::Store::flush) always runs in the calling thread.
    pub background_flush: bool,
    /// When appends are made durable in the write-ahead log. Default:
    /// [`SyncPolicy::Periodic`] with a 2 ms interval: an append returns after an
    /// `fdatasync` that covers it; appenders on different threads share one sync, and
    /// syncs start at most every 2 ms, so many small concurrent appends cost at most 500
    /// syncs a second. The interval is short because one thread appending large batches
    /// waits for it on every append: where a sync takes a few milliseconds, 2 ms adds
    /// nothing to that thread's ingest, a longer interval slows it (`benches/ingest.rs`). Batch appends (a collection cycle, not a reading): every
    /// append pays one sync wait.
    pub sync: SyncPolicy,
    /// When a log record before the log's tail is corrupt, skip it (and report the bytes
    /// in [`RecoveryReport`](crate::RecoveryReport)) instead of refusing to open. A torn
    /// tail is always cut off and reported. Default: false.
    pub salvage_wal: bool,
    /// The compaction policy. Default: see [`CompactionOptions`].
    pub compaction: CompactionOptions,
    /// Create the store when the directory holds none (no `MANIFEST`, which a store has
    /// from its first open on). Default: true. With false, a mistyped path is an error
    /// rather than a new, empty store. A directory that holds METERS or segment files
    /// but no MANIFEST is never taken for a new store: it is a damaged one.
    pub create_if_missing: bool,
    /// Timestamps (UTC Unix seconds) that appends accept: a reading outside rejects its
    /// batch, and the error says when the value looks like milliseconds, microseconds or
    /// nanoseconds. Must lie within [`Options::SUPPORTED_TIMESTAMPS`] (years 1 to 9998, where
    /// every calendar computation of the store is exact). Default:
    /// [`Options::DEFAULT_TIMESTAMPS`], 1970-01-01 to 2200-01-01 UTC.
    pub timestamp_range: Range<i64>,
}

impl Options {
    /// The default of [`Options::timestamp_range`]: 1970-01-01T00:00:00Z (inclusive) to
    /// 2200-01-01T00:00:00Z (exclusive).
    pub const DEFAULT_TIMESTAMPS: Range<i64> = 0..7_258_118_400;
    /// The widest [`Options::timestamp_range`]: 0001-01-01T00:00:00Z to
    /// 9999-01-01T00:00:00Z.
    pub const SUPPORTED_TIMESTAMPS: Range<i64> = -62_135_596_800..253_370_764_800;
}

impl Default for Options {
    fn default() -> Self {
        Options {
            unknown_meters: UnknownMeters::Reject,
            window_offset: UtcOffset::CHINA,
            window: Window::Month,
            memtable_budget_bytes: 256 << 20,
            background_flush: true,
            sync: SyncPolicy::Periodic { interval_ms: 2 },
            salvage_wal: false,
            compaction: CompactionOptions::default(),
            create_if_missing: true,
            timestamp_range: Options::DEFAULT_TIMESTAMPS,
        }
    }
}
