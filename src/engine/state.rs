//! [`State`]: what readers see of the store, a consistent set of live segments and
//! memtables, published under the engine's state lock and copied into snapshots.

use super::manifest::Manifest;
use super::memtable::Memtable;
use super::meters::Meters;
use crate::segment::Segment;
use std::sync::Arc;

/// What readers see: the live segments and the memtables not yet in them.
pub(crate) struct State {
    pub(crate) meters: Arc<Meters>,
    /// The published manifest; `manifest.segments[i]` is the seq of `segments[i]`.
    pub(crate) manifest: Manifest,
    /// Live segments in increasing seq. Within a window a higher seq is newer and wins on
    /// the same (meter, timestamp); segments of different windows never overlap in time.
    pub(crate) segments: Vec<Arc<Segment>>,
    /// Sealed memtables (by a flush in progress, a failed flush, or a snapshot), oldest
    /// first; newer than every segment.
    pub(crate) frozen: Vec<Arc<Memtable>>,
    /// The memtable receiving appends; newest of all.
    pub(crate) active: Memtable,
}

impl State {
    /// The memtables, oldest first: the sealed ones, then the active one.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &Memtable> {
        self.frozen.iter().map(|f| &**f).chain([&self.active])
    }

    /// Bytes buffered in memtables.
    pub(crate) fn buffered(&self) -> usize {
        self.memtables().map(|m| m.bytes()).sum()
    }

    pub(super) fn has_buffered(&self) -> bool {
        !self.active.is_empty() || !self.frozen.is_empty()
    }

    /// Moves the active memtable, if not empty, to the end of the sealed ones.
    pub(super) fn seal(&mut self) {
        if !self.active.is_empty() {
            let a = std::mem::take(&mut self.active);
            self.frozen.push(Arc::new(a));
        }
    }

    /// A copy that shares everything and holds no active memtable (seal first).
    pub(super) fn view(&self) -> State {
        State {
            meters: self.meters.clone(),
            manifest: self.manifest.clone(),
            segments: self.segments.clone(),
            frozen: self.frozen.clone(),
            active: Memtable::default(),
        }
    }
}
