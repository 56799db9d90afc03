//! Group commit: appenders that need their record durable wait here; one of them (the
//! leader) runs the sync for everybody whose record was written before the sync started,
//! the others (followers) wait for it. No background thread: the leader is whichever
//! waiting appender finds no sync in progress.
//!
//! Under [`SyncPolicy::Periodic`](super::SyncPolicy::Periodic) the leader first waits
//! until `interval` has passed since the previous sync started, so syncs start at most
//! once per interval and everything written meanwhile shares one `fdatasync`. A forced
//! sync ([`Wal::sync`](super::Wal::sync)) cuts that wait short.

use crate::error::Result;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Where the current leader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No sync in progress: the next waiter leads.
    Idle,
    /// The leader waits for the interval to pass; a forced sync may wake it early.
    Waiting,
    /// The leader is syncing; waiters whose record it does not cover lead the next one.
    Syncing,
}

#[derive(Debug)]
struct State {
    /// Every record with an LSN up to this one is durable.
    durable: u64,
    phase: Phase,
    /// A forced sync asked the waiting leader to go now.
    hurry: bool,
    /// When the last sync started.
    last_start: Option<Instant>,
}

/// The group-commit coordinator of one log.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    cond: Condvar,
    /// Shortest time between the starts of two syncs (zero for `EveryBatch`).
    interval: Duration,
    /// Syncs run so far (for tests and measurements).
    syncs: AtomicU64,
}

impl GroupCommit {
    /// A coordinator for a log whose records up to `durable` are already on disk.
    pub(crate) fn new(durable: u64, interval: Duration) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(State {
                durable,
                phase: Phase::Idle,
                hurry: false,
                last_start: None,
            }),
            cond: Condvar::new(),
            interval,
            syncs: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that a sync done elsewhere (rotation) made everything up to `lsn` durable.
    pub(crate) fn mark_durable(&self, lsn: u64) {
        let mut st = self.lock();
        st.durable = st.durable.max(lsn);
        self.cond.notify_all();
    }

    /// Number of syncs led so far.
    #[cfg(test)]
    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Returns once the record `lsn` is durable. `force` skips the interval wait (and cuts
    /// short the wait of a leader that is waiting for it). `healthy` is checked on every
    /// wake-up so that followers learn of a failed sync; `sync` runs one sync and returns
    /// the highest LSN it covers. Must be called without holding the log's writer lock.
    pub(crate) fn wait_durable(
        &self,
        lsn: u64,
        force: bool,
        healthy: impl Fn() -> Result<()>,
        sync: impl FnOnce() -> Result<u64>,
    ) -> Result<()> {
        let mut st = self.lock();
        loop {
            healthy()?;
            if st.durable >= lsn {
                return Ok(());
            }
            if st.phase != Phase::Idle {
                if force && st.phase == Phase::Waiting && !st.hurry {
                    st.hurry = true;
                    self.cond.notify_all();
                }
                st = self.cond.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            break;
        }
        // This caller leads.
        st.phase = Phase::Waiting;
        if let Some(due) = st.last_start.map(|t| t + self.interval) {
            loop {
                if st.durable >= lsn {
                    // A rotation synced this record while the leader waited.
                    st.phase = Phase::Idle;
                    self.cond.notify_all();
                    return Ok(());
                }
                let now = Instant::now();
                if force || st.hurry || now >= due {
                    break;
                }
                st = self
                    .cond
                    .wait_timeout(st, due - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        st.hurry = false;
        st.phase = Phase::Syncing;
        st.last_start = Some(Instant::now());
        drop(st);
        let done = sync();
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let mut st = self.lock();
        st.phase = Phase::Idle;
        if let Ok(covered) = done {
            st.durable = st.durable.max(covered);
        }
        self.cond.notify_all();
        drop(st);
        // The sync covers every record written before it started, this one included.
        debug_assert!(done.as_ref().map_or(true, |&c| c >= lsn));
        done.map(|_| ())
    }
}
