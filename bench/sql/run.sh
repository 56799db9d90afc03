#!/usr/bin/env bash
# The SQL benchmark of BENCHMARKS.md: for each data shape, builds a fleet with fleet_bench
# (and its export for DuckDB), then runs sql_bench on it: the native day/night scan,
# day_night through SQL, a generic GROUP BY meter_id day/night query over the `meters`
# table (day window on the local minute of the day, as DuckDB's query, and on the local
# second), and DuckDB's query on its native table, all in one process run per shape, with
# the results checked against each other. Prints one Markdown row per shape.
#
#   bash bench/sql/run.sh [WORKDIR] [METERS] [DAYS] [SHAPES...]
#   (defaults: a new temporary directory, 1000 meters, 365 days, sample smooth)
#
# Needs Python with duckdb, numpy and pyarrow (bench/peers/requirements.txt) and Rust 1.94+.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$(mktemp -d)}
meters=${2:-1000}
days=${3:-365}
shift $(( $# < 3 ? $# : 3 ))
shapes=("${@:-sample}")
[ $# -eq 0 ] && shapes=(sample smooth)
cargo build --release --features datafusion --example fleet_bench --example sql_bench --quiet
target=${CARGO_TARGET_DIR:-target}
rows=()
for shape in "${shapes[@]}"; do
    dir="$work/$shape"
    "$target/release/examples/fleet_bench" --shape "$shape" --meters "$meters" --days "$days" \
        --dir "$dir/store" --export "$dir/export" --runs 1 >&2
    line=$("$target/release/examples/sql_bench" --store "$dir/store" --export "$dir/export" | grep '^RESULT ')
    echo "$line" >&2
    rows+=("$line")
    rm -rf "$dir"
done
echo
echo "| shape | readings | native scan ms | day_night SQL ms | SQL / native | GROUP BY SQL ms (minute) | GROUP BY SQL ms (second) | DuckDB ms | DuckDB / GROUP BY (minute) | DuckDB / GROUP BY (second) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for line in "${rows[@]}"; do
    declare -A v=()
    for kv in ${line#RESULT }; do v[${kv%%=*}]=${kv#*=}; done
    echo "| ${v[shape]} | ${v[readings]} | ${v[native_ms]} | ${v[day_night_sql_ms]} | ${v[day_night_ratio]} | ${v[group_by_ms]} | ${v[group_by_sec_ms]} | ${v[duckdb_ms]} | ${v[duckdb_over_group_by]} | ${v[duckdb_over_group_by_sec]} |"
done
