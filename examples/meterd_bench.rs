//! Ingest benchmark of `meterd` over loopback: simulated HJ 212 collectors (one TCP
//! connection and one station each) against the release build of the service on a fresh
//! store in a temporary directory.
//!
//! ```text
//! cargo build --release --example meterd --example meterd_bench
//! target/release/examples/meterd_bench --collectors 8 --codes 10
//! ```
//!
//! Two phases:
//! 1. throughput: each collector sends `--window` frames in one write and waits for their
//!    acknowledgements, `--frames` frames in all; prints readings/s and ack latencies;
//! 2. latency at a fixed rate: the collectors together send `--rate` frames/s, one frame
//!    per write, for `--seconds`; prints the latency of every acknowledgement (from the
//!    frame's write to its ack's arrival): p50, p99, max.
//!
//! The store holds `--history-days` of normal readings before the benchmark's, so the
//! service learns every meter's threshold at startup and its monitor judges each
//! enterprise's production and treatment as the readings arrive.
//!
//! Every frame asks for an acknowledgement and carries `--codes` readings (CN 2051,
//! `code-Cou`), so readings = frames x codes. The service appends with the store's default
//! group commit (`SyncPolicy::Periodic`, 2 ms): an ack means the readings were synced.

#[allow(
    dead_code,
    reason = "shared with tests/meterd.rs, which uses other parts"
)]
#[path = "meterd/collector.rs"]
mod collector;

use clap::Parser;
use collector::{fixture, frame, sibling_example, Collector, Server, Station, IV};
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// 2024-03-01T00:00:00Z.
const T0: i64 = 1_709_251_200;

#[derive(Parser, Debug, Clone)]
#[command(about = "Ingest benchmark of meterd over loopback (HJ 212 collectors)")]
struct Args {
    /// Collectors (connections), one station each.
    #[arg(long, default_value_t = 8)]
    collectors: usize,
    /// Readings per frame (codes of the station), at least 2.
    #[arg(long, default_value_t = 10)]
    codes: usize,
    /// Frames per collector in the throughput phase.
    #[arg(long, default_value_t = 20_000)]
    frames: usize,
    /// Frames per write (and in flight) per collector in the throughput phase.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Frames per second of all collectors together in the latency phase.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Days of normal history before the benchmark's readings, from which the service
    /// learns thresholds at startup (so the monitor judges the facilities).
    #[arg(long, default_value_t = 15)]
    history_days: i64,
    /// Length of the latency phase, seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

fn main() {
    let a = Args::parse();
    let dir = tempfile::tempdir().expect("temp dir");
    let stations = fixture(
        dir.path(),
        a.collectors,
        a.codes.max(2) - 2,
        a.history_days,
        T0,
    );
    let server = Server::start(&sibling_example("meterd"), dir.path(), &[]);
    let addr = server.hj212;
    let codes: Vec<String> = stations[0].meters.iter().map(|m| m.1.clone()).collect();
    let frames_of = |st: &Station, k: usize| {
        let values: Vec<(&str, f64)> = codes.iter().map(|c| (c.as_str(), k as f64)).collect();
        frame(&st.mn, T0 + k as i64 * IV, k as u64, &values)
    };

    // Phase 1: throughput with windows of frames in flight.
    let t = Instant::now();
    let mut all = each_collector(&stations, |st| {
        let mut c = Collector::connect(addr);
        let mut lat = Vec::with_capacity(a.frames);
        let mut k = 0;
        while k < a.frames {
            let n = a.window.min(a.frames - k);
            let bytes: Vec<u8> = (k..k + n).flat_map(|i| frames_of(st, i)).collect();
            let sent = Instant::now();
            c.send(&bytes);
            let acks = c.acks(n).len();
            assert_eq!(acks, n, "acknowledgements missing");
            lat.extend(std::iter::repeat_n(sent.elapsed(), n));
            k += n;
        }
        lat
    });
    let secs = t.elapsed().as_secs_f64();
    let frames = (a.frames * a.collectors) as f64;
    println!(
        "throughput: {} collectors x {} frames of {} readings, {} frames per write: \
         {:.0} frames/s, {:.0} readings/s; ack latency {}",
        a.collectors,
        a.frames,
        codes.len(),
        a.window,
        frames / secs,
        frames * codes.len() as f64 / secs,
        percentiles(&mut all)
    );

    // Phase 2: a fixed frame rate, one frame per write.
    let per = Duration::from_secs_f64(a.collectors as f64 / a.rate.max(1) as f64);
    let mut all = each_collector(&stations, |st| {
        let mut c = Collector::connect(addr);
        let mut w = c.sock.try_clone().expect("socket clones");
        let (tx, rx) = mpsc::channel::<Instant>();
        let reader = std::thread::spawn(move || {
            let mut lat = Vec::new();
            while let Ok(sent) = rx.recv() {
                if c.acks(1).len() != 1 {
                    break;
                }
                lat.push(sent.elapsed());
            }
            lat
        });
        let start = Instant::now();
        let mut k = a.frames;
        let mut next = start;
        while start.elapsed() < Duration::from_secs(a.seconds) {
            let bytes = frames_of(st, k);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            let sent = Instant::now();
            w.write_all(&bytes).expect("sends");
            let _ = tx.send(sent);
            next += per;
            k += 1;
        }
        drop(tx);
        reader.join().expect("reader")
    });
    println!(
        "latency: {} frames/s offered by {} collectors for {} s, {} frames acknowledged \
         ({:.0} frames/s): ack latency {}",
        a.rate,
        a.collectors,
        a.seconds,
        all.len(),
        all.len() as f64 / a.seconds as f64,
        percentiles(&mut all)
    );
    let status = server.terminate();
    assert!(status.success(), "meterd exited with {status}");
}

/// Runs `run` for every station on a thread of its own; all the latencies they return.
fn each_collector(
    stations: &[Station],
    run: impl Fn(&Station) -> Vec<Duration> + Sync,
) -> Vec<Duration> {
    std::thread::scope(|s| {
        let handles: Vec<_> = stations
            .iter()
            .map(|st| {
                let run = &run;
                s.spawn(move || run(st))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("collector"))
            .collect()
    })
}

/// p50, p99 and max of `d`, in milliseconds.
fn percentiles(d: &mut [Duration]) -> String {
    if d.is_empty() {
        return "(none)".into();
    }
    d.sort();
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}
