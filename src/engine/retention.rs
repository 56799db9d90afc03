//! Retention: which segment files [`Store::drop_before`](crate::Store::drop_before)
//! deletes. Whole windows go, never parts of files.

use super::compaction::span;
use super::window::Window;
use crate::engine::state::State;
use crate::types::UtcOffset;

/// What [`Store::drop_before`](crate::Store::drop_before) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// The effective cutoff: the start of the window holding the requested cutoff. Every
    /// reading before it was dropped; the window that straddles the requested cutoff is
    /// kept whole.
    pub cutoff: i64,
    /// Segment files deleted.
    pub segments_removed: usize,
    /// Their bytes.
    pub bytes_removed: u64,
}

/// The effective cutoff for a requested one.
pub(crate) fn effective_cutoff(cutoff: i64, window: Window, off: UtcOffset) -> i64 {
    window.start(cutoff, off)
}

/// Indexes of the segments wholly before `cutoff` (an effective cutoff, a window start).
/// A segment from an older version that spans several windows and reaches the cutoff is
/// kept whole; a compaction splits it by window, and a later call drops its old part.
pub(crate) fn doomed(st: &State, cutoff: i64) -> Vec<usize> {
    st.segments
        .iter()
        .enumerate()
        .filter(|(_, s)| span(s).is_none_or(|(_, last)| last < cutoff))
        .map(|(i, _)| i)
        .collect()
}
