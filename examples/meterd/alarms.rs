//! The streaming monitor inside the service and where its events go: `GET /alarms`,
//! Server-Sent Events subscribers and the webhook.
//!
//! At startup the monitor replays the last `--replay-days` of what the store holds (from
//! the hour that many days before the end of its data), so that alarms open when the
//! service stopped, by SIGTERM or kill -9, are open again after a restart with the start
//! the monitor gave them; an alarm that had been open for longer than the replay comes
//! back with its start at the replay's first hour. The replay's events are not sent to
//! subscribers or the webhook (they were sent before the restart); alarms it closes join
//! the recently closed ones of `GET /alarms`. An empty store's monitor starts at the hour
//! of the first reading that arrives. From then on the monitor judges what arrives;
//! readings later than `--lateness` behind the newest are dropped by it as its docs say.
//!
//! Webhook delivery runs on its own thread, fed through a bounded queue: ingest only ever
//! tries to enqueue, so it never waits for a slow or failing receiver. Each event is
//! POSTed as JSON until the receiver answers 2xx (at least once: a retry after a lost answer
//! sends it again), with exponential backoff from 100 ms to 30 s between attempts, in
//! order. When the queue is full (the receiver has been failing for long), new events are
//! dropped and counted in `meterd_webhook_deliveries_total{outcome="dropped"}`; they stay
//! visible through `GET /alarms` and the SSE stream.

use meterstore::monitor::{Alarm, AlarmEvent, Catalog, Monitor, RuleConfig};
use meterstore::Store;
use serde_json::json;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Closed alarms kept for `GET /alarms`.
const KEEP_CLOSED: usize = 1000;
/// Stored batches queued for the monitor thread; ingest waits when it falls this far
/// behind (the monitor sees every stored reading).
const MONITOR_QUEUE: usize = 1024;
/// Events an SSE subscriber may fall behind by before it misses some.
const SSE_BUFFER: usize = 1024;

/// Counters of the hub.
#[derive(Debug, Clone, Copy, Default)]
pub struct HubStats {
    pub opened: u64,
    pub closed: u64,
    pub open: u64,
    pub webhook_ok: u64,
    pub webhook_retries: u64,
    pub webhook_dropped: u64,
}

/// What `GET /alarms` answers from.
#[derive(Default)]
struct Live {
    open: Vec<Alarm>,
    closed: VecDeque<Alarm>,
}

#[derive(Default)]
struct Counters {
    opened: AtomicU64,
    closed: AtomicU64,
    open: AtomicU64,
    webhook_ok: AtomicU64,
    webhook_retries: AtomicU64,
    webhook_dropped: AtomicU64,
    /// Events in the webhook queue or being delivered.
    queued: AtomicU64,
}

/// Stored readings on their way to the monitor.
type Rows = Vec<super::state::Row>;

/// Where the monitor's events go.
struct Outlets {
    live: Mutex<Live>,
    events: broadcast::Sender<String>,
    counters: Arc<Counters>,
    webhook: Option<SyncSender<String>>,
}

/// The monitor thread and its event fan-out.
pub struct Hub {
    out: Arc<Outlets>,
    feed: Mutex<Option<SyncSender<Rows>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stopping: Arc<AtomicBool>,
}

/// How the monitor is made: at startup when the store holds data, else once the first
/// readings arrive.
pub struct MonitorSetup {
    pub catalog: Catalog,
    pub rules: RuleConfig,
    /// Stored readings replayed before live ones: the monitor starts judging at its start,
    /// and the store's readings up to its end are fed first. `None` (an empty store): the
    /// monitor starts at the hour of the first reading fed.
    pub replay: Option<Range<i64>>,
    pub lateness: i64,
}

impl Hub {
    /// Starts the monitor thread, which takes batches from a queue of `MONITOR_QUEUE`
    /// (a feeder waits when it is full), and the webhook thread when there is a `webhook`.
    pub fn new(
        store: &'static Store,
        setup: MonitorSetup,
        webhook: Option<String>,
        queue: usize,
    ) -> Hub {
        let counters = Arc::new(Counters::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let tx = webhook.map(|url| {
            let (tx, rx) = sync_channel(queue.max(1));
            let c = counters.clone();
            let s = stopping.clone();
            std::thread::spawn(move || deliver(&url, &rx, &c, &s));
            tx
        });
        let out = Arc::new(Outlets {
            live: Mutex::new(Live::default()),
            events: broadcast::channel(SSE_BUFFER).0,
            counters,
            webhook: tx,
        });
        let (feed, rx) = sync_channel::<Rows>(MONITOR_QUEUE);
        let o = out.clone();
        let thread = std::thread::spawn(move || watch(store, setup, &rx, &o));
        Hub {
            out,
            feed: Mutex::new(Some(feed)),
            thread: Mutex::new(Some(thread)),
            stopping,
        }
    }

    /// Queues one stored batch for the monitor; waits while the queue is full.
    pub fn feed(&self, rows: Rows) {
        let tx = self.feed.lock().ok().and_then(|f| f.clone());
        if let Some(tx) = tx {
            let _ = tx.send(rows);
        }
    }

    /// Open alarms, and with `closed` the recently closed ones too, as JSON.
    pub fn alarms(&self, closed: bool) -> serde_json::Value {
        let Ok(live) = self.out.live.lock() else {
            return json!([]);
        };
        let mut out: Vec<serde_json::Value> = live.open.iter().map(alarm_json).collect();
        if closed {
            out.extend(live.closed.iter().map(alarm_json));
        }
        serde_json::Value::Array(out)
    }

    /// A receiver of every event from now on (JSON text).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.out.events.subscribe()
    }

    pub fn stats(&self) -> HubStats {
        let c = &self.out.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HubStats {
            opened: g(&c.opened),
            closed: g(&c.closed),
            open: g(&c.open),
            webhook_ok: g(&c.webhook_ok),
            webhook_retries: g(&c.webhook_retries),
            webhook_dropped: g(&c.webhook_dropped),
        }
    }

    /// Lets the monitor take what is queued (then stops its thread), and gives the webhook
    /// thread up to `grace` to deliver what is queued, then stops it.
    pub fn shutdown(&self, grace: Duration) {
        drop(self.feed.lock().ok().and_then(|mut f| f.take()));
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
        let c = &self.out.counters;
        let until = Instant::now() + grace;
        while c.queued.load(Ordering::Relaxed) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stopping.store(true, Ordering::Relaxed);
        let left = c.queued.load(Ordering::Relaxed);
        if left > 0 {
            eprintln!("meterd: {left} webhook events not delivered before the shutdown");
        }
    }
}

/// The monitor thread: replays the stored readings of `setup.replay`, then feeds each
/// batch to the monitor (made from the first one when there was nothing to replay) and
/// publishes its events.
fn watch(store: &'static Store, setup: MonitorSetup, rx: &Receiver<Rows>, out: &Outlets) {
    let new_monitor = |start: i64| {
        Monitor::new(
            store,
            &setup.catalog,
            setup.rules.clone(),
            start,
            setup.lateness,
        )
    };
    let mut monitor: Option<Monitor<'static>> = None;
    if let Some(r) = &setup.replay {
        let mon = monitor.insert(new_monitor(r.start));
        if let Err(e) = replay(store, &setup.catalog, r.clone(), mon, out) {
            eprintln!("meterd: replaying the stored readings for the monitor: {e}");
        }
    }
    while let Ok(rows) = rx.recv() {
        let readings = super::state::views(&rows);
        let mon = monitor.get_or_insert_with(|| {
            let first = readings.iter().map(|r| r.ts).min().unwrap_or(0);
            new_monitor(first.div_euclid(3600) * 3600)
        });
        match mon.on_append(&readings) {
            Ok(events) if !events.is_empty() => publish(out, &events, mon.open_alarms()),
            Ok(_) => {}
            Err(e) => eprintln!("meterd: monitor: {e}"),
        }
    }
}

/// Stored readings the replay reads and feeds at a time: a day, which bounds its memory
/// to a day of the catalog's readings while each stored block (a month at most) is decoded
/// only once per day of the replay.
const REPLAY_STEP_S: i64 = 86_400;

/// Feeds the store's readings of the catalog's meters in `range` to `mon` in time order,
/// a few hours at a time, and records the alarms that leaves open (and those it closed)
/// for `GET /alarms` without sending any event.
fn replay(
    store: &Store,
    catalog: &Catalog,
    range: Range<i64>,
    mon: &mut Monitor<'_>,
    out: &Outlets,
) -> meterstore::Result<()> {
    let snap = store.snapshot();
    let meters: Vec<&str> = catalog
        .meters()
        .map(|m| m.id.as_str())
        .filter(|id| snap.meter_meta(id).is_some())
        .collect();
    let mut closed = Vec::new();
    let mut from = range.start;
    while from < range.end {
        let to = from.saturating_add(REPLAY_STEP_S).min(range.end);
        let mut rows: Rows = Vec::new();
        for id in &meters {
            let history = snap.history(id, from..to)?;
            rows.extend(
                history
                    .with_flags()
                    .map(|(ts, v, f)| (id.to_string(), ts, v, f)),
            );
        }
        rows.sort_by_key(|r| r.1);
        let events = mon.on_append(&super::state::views(&rows))?;
        closed.extend(events.into_iter().filter_map(|e| match e {
            AlarmEvent::Closed(a) => Some(a),
            AlarmEvent::Opened(_) => None,
        }));
        from = to;
    }
    let open = mon.open_alarms();
    let Ok(mut live) = out.live.lock() else {
        return Ok(());
    };
    out.counters
        .open
        .store(open.len() as u64, Ordering::Relaxed);
    live.open = open;
    let skip = closed.len().saturating_sub(KEEP_CLOSED);
    live.closed.extend(closed.into_iter().skip(skip));
    Ok(())
}

/// Sends events to SSE subscribers and the webhook queue, and updates `GET /alarms`.
fn publish(out: &Outlets, events: &[AlarmEvent], open: Vec<Alarm>) {
    let Ok(mut live) = out.live.lock() else {
        return;
    };
    let c = &out.counters;
    c.open.store(open.len() as u64, Ordering::Relaxed);
    live.open = open;
    for ev in events {
        let (kind, counter) = match ev {
            AlarmEvent::Opened(_) => ("opened", &c.opened),
            AlarmEvent::Closed(a) => {
                live.closed.push_back(a.clone());
                if live.closed.len() > KEEP_CLOSED {
                    live.closed.pop_front();
                }
                ("closed", &c.closed)
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let text = json!({"event": kind, "alarm": alarm_json(ev.alarm())}).to_string();
        let _ = out.events.send(text.clone());
        if let Some(tx) = &out.webhook {
            c.queued.fetch_add(1, Ordering::Relaxed);
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(text) {
                c.queued.fetch_sub(1, Ordering::Relaxed);
                c.webhook_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// An alarm as JSON.
pub fn alarm_json(a: &Alarm) -> serde_json::Value {
    json!({
        "rule": a.rule.as_str(),
        "enterprise": a.enterprise,
        "meters": a.meters,
        "start": a.start,
        "end": a.end,
        "evidence": a.evidence.to_string(),
    })
}

/// The webhook thread: delivers queued events in order, each until it is accepted.
fn deliver(url: &str, rx: &Receiver<String>, c: &Counters, stopping: &AtomicBool) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    while let Ok(body) = rx.recv() {
        let mut backoff = Duration::from_millis(100);
        loop {
            let r = agent
                .post(url)
                .set("content-type", "application/json")
                .send_string(&body);
            if r.is_ok() {
                c.webhook_ok.fetch_add(1, Ordering::Relaxed);
                c.queued.fetch_sub(1, Ordering::Relaxed);
                break;
            }
            if stopping.load(Ordering::Relaxed) {
                return;
            }
            c.webhook_retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}
