//! What the listeners share: the store, the catalog, the HJ 212 map, the alarm hub and the
//! counters `GET /metrics` reports.

use super::alarms::Hub;
use super::common::time::Tz;
use meterstore::hj212::Hj212Map;
use meterstore::monitor::Catalog;
use meterstore::{Flag, Reading, Store};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The state behind every connection and request.
pub type Shared = Arc<State>;

/// See the module docs.
pub struct State {
    pub store: &'static Store,
    pub catalog: Catalog,
    pub map: Hj212Map,
    pub tz: Tz,
    pub hub: Hub,
    pub metrics: Metrics,
}

impl State {
    pub fn new(store: &'static Store, catalog: Catalog, map: Hj212Map, tz: Tz, hub: Hub) -> State {
        State {
            store,
            catalog,
            map,
            tz,
            hub,
            metrics: Metrics::default(),
        }
    }

    /// Appends one batch (whole or not at all), counts it and queues it for the monitor.
    /// Blocks for the store's sync: call it off the async workers.
    pub fn append(&self, rows: Vec<Row>, via: Via) -> meterstore::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.append(&views(&rows)) {
            self.metrics.append_errors.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        let counter = match via {
            Via::Hj212 => &self.metrics.readings_hj212,
            Via::Http => &self.metrics.readings_http,
        };
        counter.fetch_add(rows.len() as u64, Ordering::Relaxed);
        self.hub.feed(rows);
        Ok(())
    }

    /// The Prometheus text exposition of the counters.
    pub fn prometheus(&self) -> String {
        let m = &self.metrics;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let h = self.hub.stats();
        // (name, help, [(labels, value)]) of every counter.
        let counters: [Counter; 10] = [
            ("meterd_readings_ingested_total", "Readings appended to the store.",
             vec![("{source=\"hj212\"}", get(&m.readings_hj212)), ("{source=\"http\"}", get(&m.readings_http))]),
            ("meterd_hj212_frames_total", "HJ 212 frames received, by outcome.",
             vec![("{outcome=\"ok\"}", get(&m.frames_ok)), ("{outcome=\"bad\"}", get(&m.frames_bad))]),
            ("meterd_hj212_garbage_bytes_total", "Bytes skipped between HJ 212 frames.",
             vec![("", get(&m.garbage_bytes))]),
            ("meterd_hj212_acks_total", "HJ 212 9014 acknowledgements sent.", vec![("", get(&m.acks))]),
            ("meterd_hj212_unmapped_total",
             "HJ 212 data messages from stations, or values of codes, that feed no meter.",
             vec![("{what=\"station\"}", get(&m.unknown_station)), ("{what=\"code\"}", get(&m.unknown_code))]),
            ("meterd_hj212_connections_total", "HJ 212 connections accepted.", vec![("", get(&m.connections))]),
            ("meterd_append_errors_total",
             "Batches the store rejected (nothing of them stored or acknowledged).",
             vec![("", get(&m.append_errors))]),
            ("meterd_http_requests_total", "HTTP requests answered, by status class.",
             vec![("{class=\"2xx\"}", get(&m.http_2xx)), ("{class=\"4xx\"}", get(&m.http_4xx)),
                  ("{class=\"5xx\"}", get(&m.http_5xx))]),
            ("meterd_alarm_events_total", "Alarm events of the streaming monitor.",
             vec![("{event=\"opened\"}", h.opened), ("{event=\"closed\"}", h.closed)]),
            ("meterd_webhook_deliveries_total",
             "Webhook deliveries, by outcome (retried: failed attempts; dropped: the queue was full).",
             vec![("{outcome=\"ok\"}", h.webhook_ok), ("{outcome=\"retried\"}", h.webhook_retries),
                  ("{outcome=\"dropped\"}", h.webhook_dropped)]),
        ];
        for (name, help, values) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in values {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP meterd_alarms_open Alarms open now.\n# TYPE meterd_alarms_open gauge\n\
             meterd_alarms_open {}",
            h.open
        );
        out
    }
}

/// A counter's name, help text and values by labels.
type Counter<'a> = (&'a str, &'a str, Vec<(&'a str, u64)>);

/// One reading on its way into the store: meter id, timestamp, value, quality flag.
pub type Row = (String, i64, f64, Flag);

/// Readings borrowing their meter ids from `rows`.
pub fn views(rows: &[Row]) -> Vec<Reading<'_>> {
    rows.iter()
        .map(|(meter, ts, value, flag)| Reading::new(meter, *ts, *value).with_flag(*flag))
        .collect()
}

/// Where readings came from.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    Hj212,
    Http,
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Metrics {
    pub readings_hj212: AtomicU64,
    pub readings_http: AtomicU64,
    pub frames_ok: AtomicU64,
    pub frames_bad: AtomicU64,
    pub garbage_bytes: AtomicU64,
    pub acks: AtomicU64,
    pub unknown_station: AtomicU64,
    pub unknown_code: AtomicU64,
    pub connections: AtomicU64,
    pub append_errors: AtomicU64,
    pub http_2xx: AtomicU64,
    pub http_4xx: AtomicU64,
    pub http_5xx: AtomicU64,
}
