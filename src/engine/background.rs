//! The background flusher: a thread per store that flushes the memtable once an append
//! has brought it to its budget, so that the appending thread goes on while the segment
//! is encoded and written (on a second core, ingest and flush overlap). When no further
//! flush is pending it then runs the compaction policy.
//!
//! Errors are counted and the flush is retried: on the next request, or by an append
//! that finds twice the budget buffered while no background flush is running; that append
//! flushes inline and returns the error if it fails again.

use super::inner::{lock, Inner, Trigger};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Requests to the flusher, and whether it is flushing.
#[derive(Default)]
pub(crate) struct Signal {
    state: Mutex<Requests>,
    cond: Condvar,
}

#[derive(Default)]
struct Requests {
    flush: bool,
    stop: bool,
    flushing: bool,
}

impl Signal {
    /// Asks for a flush; returns at once.
    pub(crate) fn request_flush(&self) {
        lock(&self.state).flush = true;
        self.cond.notify_all();
    }

    /// Waits while a background flush is running; `false` (at once) when none is.
    pub(crate) fn wait_while_flushing(&self) -> bool {
        let mut r = lock(&self.state);
        if !r.flushing {
            return false;
        }
        while r.flushing {
            r = self.cond.wait(r).unwrap_or_else(|e| e.into_inner());
        }
        true
    }

    fn stop(&self) {
        lock(&self.state).stop = true;
        self.cond.notify_all();
    }

    /// Waits for a request and marks the flush as running; `false` when asked to stop.
    fn next(&self) -> bool {
        let mut r = lock(&self.state);
        loop {
            if r.stop {
                return false;
            }
            if r.flush {
                r.flush = false;
                r.flushing = true;
                return true;
            }
            r = self.cond.wait(r).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Marks the flush as done; returns whether another one was requested meanwhile.
    fn done(&self) -> bool {
        let mut r = lock(&self.state);
        r.flushing = false;
        self.cond.notify_all();
        r.flush
    }
}

/// The running flusher thread; stopped and joined on drop (a flush or compaction in
/// progress finishes; what is still buffered stays in the log for the next open).
pub(crate) struct Flusher {
    inner: Arc<Inner>,
    handle: Option<JoinHandle<()>>,
}

impl Flusher {
    pub(crate) fn spawn(inner: Arc<Inner>) -> std::io::Result<Flusher> {
        let worker = inner.clone();
        let handle = std::thread::Builder::new()
            .name("meterstore-flush".into())
            .spawn(move || run(&worker))?;
        Ok(Flusher {
            inner,
            handle: Some(handle),
        })
    }
}

fn run(inner: &Inner) {
    let fail = || {
        inner.counters.background_flush_errors.fetch_add(1, Relaxed);
    };
    while inner.signal.next() {
        let res = inner.flush_only(Trigger::Budget);
        let pending = inner.signal.done();
        match res {
            Err(_) => fail(),
            // Flushing comes first: compact only when no flush waits.
            Ok(flushed) => {
                if flushed && !pending && inner.maybe_compact().is_err() {
                    fail();
                }
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.inner.signal.stop();
        if let Some(h) = self.handle.take() {
            // A panic in the flusher is already reported on stderr; nothing to add here.
            let _ = h.join();
        }
    }
}
