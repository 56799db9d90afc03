//! Checks every file of a store (MANIFEST, METERS, each segment down to every block's
//! CRC, the write-ahead log, CATALOG) and reports; with `--repair`, repairs what can be
//! repaired and moves what cannot be read into the store's `quarantine/` folder.
//!
//! ```text
//! cargo run --release --example verify -- --store /tmp/meters
//! cargo run --release --example verify -- --store /tmp/meters --repair
//! ```
//!
//! Exit status: 0 when the store is healthy (after the repair, with `--repair`), 1 when
//! damage is found (or remains), 2 on usage errors or a path that holds no store.

use clap::Parser;
use meterstore::VerifyReport;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Check every file and checksum of a store; --repair to repair it",
    long_about = "Check every file of a store without changing it: MANIFEST and METERS (and \
        that they fit each other), every live segment down to each block's CRC, the \
        write-ahead log, and CATALOG when present. Exit status 0 when healthy, 1 when \
        damage is found, 2 on usage errors.\n\n\
        --repair (never done by any other tool or open) takes the writer's lock, moves \
        damaged files into DIR/quarantine/ (never deleting them), rebuilds MANIFEST from \
        the segments present when it is missing or damaged, salvages the write-ahead log \
        (skipping unreadable records, a copy of each damaged log file kept in the \
        quarantine), flushes, and checks again. METERS cannot be rebuilt: restore it from \
        a backup."
)]
struct Args {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Repair what can be repaired (see --help).
    #[arg(long)]
    repair: bool,
}

fn print(r: &VerifyReport) {
    println!(
        "{} segments ({} readings) checked, {} meters, log: {} records in {} files",
        r.segments_checked, r.readings_checked, r.meters, r.wal.records, r.wal.files
    );
    if r.wal.torn_tail_bytes_dropped > 0 {
        println!(
            "log: a torn tail of {} bytes ({} records) ends the log; the next writer open cuts it",
            r.wal.torn_tail_bytes_dropped, r.wal.torn_tail_records_dropped
        );
    }
    for p in &r.orphan_segments {
        println!("orphan: {} (the next writer open removes it)", p.display());
    }
    for d in &r.damage {
        println!("DAMAGED {}: {}", d.path.display(), d.what);
    }
    println!(
        "{}",
        match r.is_healthy() {
            true => "healthy",
            false => "damaged",
        }
    );
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return match e.use_stderr() {
                true => ExitCode::from(2),
                false => ExitCode::SUCCESS,
            };
        }
    };
    let healthy = if args.repair {
        match meterstore::repair(&args.store) {
            Ok(r) => {
                println!("before:");
                print(&r.before);
                for (from, to) in &r.quarantined {
                    println!("quarantined {} -> {}", from.display(), to.display());
                }
                if r.manifest_rebuilt {
                    println!("MANIFEST rebuilt from the segment files present");
                }
                if r.wal_bytes_salvaged > 0 {
                    println!("log: {} unreadable bytes skipped", r.wal_bytes_salvaged);
                }
                println!("after:");
                print(&r.after);
                r.after.is_healthy()
            }
            Err(e @ meterstore::Error::Damaged { .. }) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        match meterstore::verify(&args.store) {
            Ok(r) => {
                print(&r);
                r.is_healthy()
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    };
    match healthy {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    }
}
