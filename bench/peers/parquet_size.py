#!/usr/bin/env python3
"""Size of meterstore's Parquet export against pyarrow's defaults on the same readings.

Reads every reading file of an export (`OUT/month=YYYY-MM/shard=NN/part-*.parquet`, as
`export_parquet` writes it) with pyarrow, checks its columns and types (meter_id string
or dictionary of strings, ts timestamp[ms, UTC], value double), rewrites the same table
(meter_id as a plain string column, as a user holds it) with
`pq.write_table(t, f, compression='zstd')` and nothing else set, reads that back to
check it holds the same rows, and prints both sizes in bytes and bytes per reading, per
file and in total, with the ratio export / pyarrow.

    pip install pyarrow==26.0.1
    python bench/peers/parquet_size.py OUT [--json]

Exit status 0 when every file was read and compared; the sizes are reported, not judged.
"""

import argparse
import json
import os
import sys
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq


def reading_files(out):
    for root, _, names in os.walk(out):
        for n in sorted(names):
            if n.startswith("part-") and n.endswith(".parquet"):
                yield os.path.join(root, n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="export directory")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quiet", action="store_true", help="no line per file")
    a = ap.parse_args()
    files = sorted(reading_files(a.out))
    if not files:
        sys.exit(f"no part-*.parquet files under {a.out}")
    want = pa.schema(
        [
            pa.field("meter_id", pa.string(), nullable=False),
            pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
            pa.field("value", pa.float64(), nullable=False),
        ]
    )
    total = {"readings": 0, "export_bytes": 0, "pyarrow_bytes": 0}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            t = pq.read_table(path)
            if t.column_names != ["meter_id", "ts", "value"]:
                sys.exit(f"{path}: columns {t.column_names}")
            if pa.types.is_dictionary(t.schema.field("meter_id").type):
                t = t.set_column(0, "meter_id", t.column(0).cast(pa.string()))
            t = t.cast(want)
            ref = os.path.join(tmp, "pyarrow.parquet")
            pq.write_table(t, ref, compression="zstd")
            back = pq.read_table(ref).cast(want)
            if not back.equals(t):
                sys.exit(f"{path}: pyarrow's rewrite reads back different rows")
            mine, theirs = os.path.getsize(path), os.path.getsize(ref)
            n = t.num_rows
            total["readings"] += n
            total["export_bytes"] += mine
            total["pyarrow_bytes"] += theirs
            rel = os.path.relpath(path, a.out)
            rows.append((rel, n, mine, theirs))
            if not a.quiet and not a.json:
                print(
                    f"{rel}: {n} readings, export {mine} B ({mine / n:.3f} B/reading), "
                    f"pyarrow {theirs} B ({theirs / n:.3f} B/reading), "
                    f"ratio {mine / theirs:.3f}"
                )
    n = total["readings"]
    total["files"] = len(files)
    total["export_bytes_per_reading"] = total["export_bytes"] / n
    total["pyarrow_bytes_per_reading"] = total["pyarrow_bytes"] / n
    total["ratio"] = total["export_bytes"] / total["pyarrow_bytes"]
    total["pyarrow_version"] = pa.__version__
    if a.json:
        print(json.dumps(total))
    else:
        print(
            f"total: {len(files)} files, {n} readings; export {total['export_bytes']} B "
            f"({total['export_bytes_per_reading']:.3f} B/reading), pyarrow defaults + zstd "
            f"{total['pyarrow_bytes']} B ({total['pyarrow_bytes_per_reading']:.3f} "
            f"B/reading); export / pyarrow {total['ratio']:.3f} (pyarrow {pa.__version__})"
        )


if __name__ == "__main__":
    main()
