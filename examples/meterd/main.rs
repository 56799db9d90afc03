//! `meterd`: a reference service that embeds meterstore. It takes HJ 212-2017 frames over
//! TCP and readings over HTTP, stores them with the store's group commit, runs the
//! streaming monitor on them and pushes its alarm events to Server-Sent Events clients and
//! a webhook; an HTTP API answers history, day/night imbalance, alarms and metrics, and
//! `GET /` serves a small dashboard.
//!
//! ```text
//! cargo run --release --example meterd -- --store DIR --hj212 127.0.0.1:9212 \
//!     --http 127.0.0.1:8080 [--tz +08:00] [--webhook http://host/path]
//! ```
//!
//! The store (with its catalog and the catalog's `hj212_mn` / `hj212_code` columns) comes
//! from `import_csv --meters`. The modules: `ingest` (the HJ 212 listener), `http` (the
//! API and dashboard), `alarms` (monitor, event fan-out, webhook), `state` (what they
//! share: the store, the catalog, counters).

#[allow(
    dead_code,
    reason = "the module is shared: this example uses part of it"
)]
#[path = "../common/mod.rs"]
mod common;

mod alarms;
mod http;
mod ingest;
mod state;

use clap::Parser;
use common::time::Tz;
use meterstore::hj212::Hj212Map;
use meterstore::monitor::{Catalog, RuleConfig};
use meterstore::{Store, Zone};
use state::{Shared, State};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Serve a store: HJ 212 ingest over TCP, an HTTP API, the streaming monitor's alarms",
    long_about = "Serve a store: HJ 212 ingest over TCP, an HTTP API, the streaming monitor's \
        alarms.\n\nHJ 212 frames are acknowledged (CN 9014, when Flag asks for it) only after \
        the store's append that holds their readings returned, so every acknowledged reading \
        survives a crash. SIGTERM or Ctrl-C stops accepting, finishes the frames and requests \
        in progress, flushes the store and exits 0."
)]
struct Args {
    /// Store directory (made by import_csv --meters, which also writes the catalog).
    #[arg(long)]
    store: PathBuf,
    /// Address of the HJ 212 TCP listener (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9212")]
    hj212: SocketAddr,
    /// Address of the HTTP listener (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Zone of HJ 212 DataTimes and of local days: `+08:00` or an IANA name.
    #[arg(long, default_value = "+08:00")]
    tz: String,
    /// URL that alarm events are POSTed to as JSON (http only).
    #[arg(long)]
    webhook: Option<String>,
    /// Days of each meter's first readings its thresholds are learned from, when the
    /// catalog has none for it yet.
    #[arg(long, default_value_t = 14)]
    train_days: u32,
    /// Seconds a reading may arrive after newer ones and still count for the monitor.
    #[arg(long, default_value_t = 3600)]
    lateness: i64,
    /// Days of stored readings the monitor replays at startup, so that the alarms open
    /// when the service stopped are open again (0: none; the monitor then starts at the
    /// end of the stored data).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=366))]
    replay_days: u32,
    /// Webhook events held while deliveries fail; further events are dropped and counted.
    #[arg(long, default_value_t = 10_000)]
    webhook_queue: usize,
}

fn main() -> ExitCode {
    common::cli::finish(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(url) = &args.webhook {
        if !url.starts_with("http://") {
            return Err(format!(
                "--webhook {url:?}: only http:// URLs are supported (the client has no TLS)"
            )
            .into());
        }
    }
    let tz = Tz::parse(&args.tz)?;
    let zone = Zone::parse(&args.tz)?;
    let store = common::open_writer(&args.store)?;
    let mut catalog = Catalog::load(&store)?;
    let learned = common::alarms::learn(&store, &mut catalog, &zone, args.train_days, false)?;
    if !learned.learned.is_empty() {
        catalog.save(&store)?;
        eprintln!("learned the thresholds of {} meters", learned.learned.len());
    }
    // The monitor replays the end of the stored data, from a whole hour.
    let replay = catalog.data_extent(&store)?.map(|r| {
        if args.replay_days == 0 {
            return r.end..r.end;
        }
        let back = r.end.saturating_sub(i64::from(args.replay_days) * 86_400);
        back.max(r.start).div_euclid(3600) * 3600..r.end
    });
    // The monitor borrows the store for as long as the process serves it.
    let store: &'static Store = Box::leak(Box::new(store));
    let rules = RuleConfig {
        zone: zone.clone(),
        ..RuleConfig::default()
    };
    let setup = alarms::MonitorSetup {
        catalog: catalog.clone(),
        rules,
        replay,
        lateness: args.lateness,
    };
    let hub = alarms::Hub::new(store, setup, args.webhook.clone(), args.webhook_queue);
    let map = Hj212Map::new(&catalog, zone);
    let shared: Shared = Arc::new(State::new(store, catalog, map, tz, hub));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args, shared.clone()))?;
    // Connections and requests have finished: make everything durable and stop.
    shared.hub.shutdown(Duration::from_secs(2));
    store.flush()?;
    store.sync()?;
    eprintln!("meterd: stopped; store flushed");
    Ok(())
}

async fn serve(args: Args, shared: Shared) -> Result<(), Box<dyn std::error::Error>> {
    let hj = tokio::net::TcpListener::bind(args.hj212).await?;
    let web = tokio::net::TcpListener::bind(args.http).await?;
    // Tests and scripts read the bound addresses from this line (port 0 picks a port).
    eprintln!(
        "meterd: hj212 {} http {} store {}",
        hj.local_addr()?,
        web.local_addr()?,
        args.store.display()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ingest = tokio::spawn(ingest::listen(hj, shared.clone(), stop_rx.clone()));
    let app = http::router(shared.clone(), stop_rx.clone());
    let mut http_stop = stop_rx.clone();
    let web = tokio::spawn(async move {
        axum::serve(web, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
    });
    shutdown_signal().await;
    eprintln!("meterd: stopping");
    let _ = stop_tx.send(true);
    let wait = async {
        let _ = ingest.await;
        let _ = web.await;
    };
    if tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .is_err()
    {
        eprintln!("meterd: connections still open after 10 s; stopping without them");
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
