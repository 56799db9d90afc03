//! The peer engines of the benchmarks, run as child processes.

use std::path::Path;

/// DuckDB's median seconds for the day/night query on the export in `dir`, from
/// `bench/peers/peers.py --query-only`, which also checks DuckDB and the engine's results
/// (engine.csv) against its exact reference and fails the run if they differ.
pub fn duckdb_seconds(
    python: &str,
    dir: &Path,
    runs: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peers/peers.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir)
        .args(["--query-only", "--runs", &runs.max(1).to_string()])
        .arg("--workdir")
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("{python} {script}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    eprint!("{text}");
    if !out.status.success() {
        return Err(format!("{script} failed ({}); output above", out.status).into());
    }
    text.lines()
        .find_map(|l| l.strip_prefix("RESULT duckdb median_s="))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("{script} printed no DuckDB result").into())
}
