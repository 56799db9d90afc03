#!/usr/bin/env python3
"""Path A, batch: engines that distribute work read meterstore's Parquet export.

Exports a store with `export_parquet`, runs the native `imbalance` tool per meter and
per enterprise, computes the same day/night sums with one SQL query in DuckDB (reading
the Hive partitions `month=YYYY-MM/shard=NN`) and, with --spark, in Apache Spark (local
mode), and checks that every engine gives exactly the native figures:

- energies: the SQL sums integer units of the data's decimal resolution (10^-s kWh, s
  found from the data), so its sums are exact; a native figure must round to the same
  exact value at that resolution (power meters: energy = power x interval);
- covered hours: readings (or kept register differences) x interval / 3600, compared
  as floating-point numbers, bit for bit;
- ratio and flag per meter, from the exact sums (ratio within 1e-12 relative);
- the partition columns: `shard` equals FNV-1a 64 of the meter id modulo N (computed
  here in Python), `month` the UTC month of `ts`.

Fixed UTC offsets only (`--tz +08:00`); irregular meters are left out on both sides
(counted in the output). Opt-in, not in CI: needs Python with duckdb (and pyspark with
Java 17 for --spark).

    pip install duckdb==2.0.1 pyspark
    python bench/cross/duckdb_parquet.py --store target/quickstart/store --shards 4 [--spark]
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from math import lcm
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# One query for every engine; {placeholders} are the few spellings that differ.
SQL = """
WITH r AS (
  SELECT meter_id, {epoch} AS t, CAST(round(value * {pow10}) AS BIGINT) AS v
  FROM readings
),
m AS (
  SELECT meter_id, kind, CAST(interval_s AS BIGINT) AS step FROM meters
  WHERE interval_s IS NOT NULL AND kind IN ('interval_energy', 'power', 'cumulative_register')
),
e AS (
  SELECT r.meter_id, r.t, m.kind, m.step,
         CASE WHEN m.kind = 'cumulative_register' THEN
              CASE WHEN (lead(r.t) OVER w) = r.t + m.step AND (lead(r.v) OVER w) >= r.v
                   THEN (lead(r.v) OVER w) - r.v END
              ELSE r.v END AS units
  FROM r JOIN m ON r.meter_id = m.meter_id
  WINDOW w AS (PARTITION BY r.meter_id ORDER BY r.t)
),
c AS (
  SELECT meter_id, kind, step, units,
         floor((((t + {offset}) % 86400) + 86400) % 86400 / 60) AS minute
  FROM e WHERE units IS NOT NULL
),
d AS (SELECT *, {is_day} AS is_day FROM c)
SELECT meter_id, kind, step,
       sum(CASE WHEN is_day THEN units ELSE 0 END) AS day_units,
       sum(CASE WHEN is_day THEN 0 ELSE units END) AS night_units,
       sum(CASE WHEN is_day THEN 1 ELSE 0 END) AS day_n,
       sum(CASE WHEN is_day THEN 0 ELSE 1 END) AS night_n
FROM d GROUP BY meter_id, kind, step
"""


def fnv1a64(b: bytes) -> int:
    h = 0xCBF29CE484222325
    for x in b:
        h = ((h ^ x) * 0x100000001B3) % (1 << 64)
    return h


def parse_offset(tz: str) -> int:
    if tz in ("Z", "z"):
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    if tz[0] not in "+-" or len(digits) not in (2, 4) or not digits.isdigit():
        sys.exit(f"--tz {tz!r}: this script takes a fixed offset like +08:00")
    return sign * (int(digits[:2]) * 3600 + (int(digits[2:]) * 60 if len(digits) == 4 else 0))


def parse_window(day: str):
    a, b = day.split("-")
    mins = lambda s: int(s.split(":")[0]) * 60 + int(s.split(":")[1])
    return mins(a), mins(b)


def query(day: str, tz: str, scale: int, epoch: str) -> str:
    start, end = parse_window(day)
    join = "AND" if start < end else "OR"
    return SQL.format(
        epoch=epoch,
        pow10=10**scale,
        offset=parse_offset(tz),
        is_day=f"(minute >= {start} {join} minute < {end})",
    )


def cargo_bin(name: str) -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "examples" / name


def run(cmd):
    print("$", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def read_native(path: Path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    key = "meter_id" if rows and "meter_id" in rows[0] else "enterprise_id"
    return {r[key]: r for r in rows}


def exact_ok(native: str, exact: Fraction, scale: int) -> bool:
    """The native figure rounds to the exact one at the data's resolution (or finer)."""
    q = lcm(exact.denominator, 10**scale)
    return round(Fraction(float(native)) * q) == exact * q


def check(engine: str, rows, scale: int, native_m, native_e, membership, threshold) -> int:
    """Compares an engine's rows (meter_id, kind, step, day_units, night_units, day_n,
    night_n) with the native CSVs; returns the number of mismatches."""
    bad = 0
    unit = Fraction(1, 10**scale)
    energy = {}
    for meter_id, kind, step, du, nu, dn, nn in rows:
        mult = Fraction(int(step), 3600) if kind == "power" else Fraction(1)
        day, night = int(du) * unit * mult, int(nu) * unit * mult
        dh, nh = int(dn) * int(step) / 3600, int(nn) * int(step) / 3600
        energy[meter_id] = (day, night)
        n = native_m.get(meter_id)
        if n is None:
            print(f"FAIL {engine}: meter {meter_id} has no native result")
            bad += 1
            continue
        ok = (
            exact_ok(n["day_kwh"], day, scale)
            and exact_ok(n["night_kwh"], night, scale)
            and float(n["day_hours"]) == dh
            and float(n["night_hours"]) == nh
        )
        day_kw = day / Fraction(dh).limit_denominator(10**9) if dh > 0 else None
        night_kw = night / Fraction(nh).limit_denominator(10**9) if nh > 0 else None
        ratio = float(night_kw / day_kw) if day_kw and night_kw is not None else None
        if ratio is not None and n["ratio"]:
            ok = ok and abs(float(n["ratio"]) - ratio) <= 1e-12 * abs(ratio)
            ok = ok and (n["flagged"] == "true") == (ratio > threshold)
        if not ok:
            bad += 1
            if bad <= 10:
                print(f"FAIL {engine}: meter {meter_id}: native {dict(n)} "
                      f"sql day {float(day)} night {float(night)} hours {dh} {nh}")
    missing = set(native_m) - set(energy)
    for m in sorted(missing)[:10]:
        print(f"FAIL {engine}: native meter {m} missing from the SQL result")
    bad += len(missing)
    if native_e is not None:
        by = {}
        for m, e in membership.items():
            if m in energy:
                d, n = by.get(e, (Fraction(0), Fraction(0)))
                by[e] = (d + energy[m][0], n + energy[m][1])
        for e, (d, n) in by.items():
            ne = native_e.get(e)
            if ne is None or not (exact_ok(ne["day_kwh"], d, scale) and exact_ok(ne["night_kwh"], n, scale)):
                bad += 1
                if bad <= 10:
                    print(f"FAIL {engine}: enterprise {e}: native {ne} sql {float(d)} {float(n)}")
        if set(by) != set(native_e):
            print(f"FAIL {engine}: enterprises differ: {sorted(set(by) ^ set(native_e))[:10]}")
            bad += 1
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path)
    ap.add_argument("--out", type=Path, help="export directory (default: a temporary one)")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--day", default="08:00-20:00")
    ap.add_argument("--tz", default="+08:00")
    ap.add_argument("--threshold", type=float, default=1.5)
    ap.add_argument("--spark", action="store_true", help="also check Spark in local mode")
    ap.add_argument("--no-build", action="store_true", help="use the built examples as they are")
    a = ap.parse_args()

    import duckdb

    if not a.no_build:
        run(["cargo", "build", "--release", "--features", "arrow",
             "--example", "export_parquet", "--example", "imbalance"])
    tmp = tempfile.TemporaryDirectory(prefix="ms-cross-")
    work = Path(tmp.name)
    out = a.out or work / "export"
    run([cargo_bin("export_parquet"), "--store", a.store, "--out", out, "--shards", str(a.shards), "-q"])
    common = ["--store", a.store, "--day", a.day, "--tz", a.tz, "--threshold", str(a.threshold)]
    run([cargo_bin("imbalance"), *common, "--by", "meter", "--csv", work / "m.csv"])
    native_m = read_native(work / "m.csv")
    native_e = None
    try:
        run([cargo_bin("imbalance"), *common, "--by", "enterprise", "--csv", work / "e.csv"])
        native_e = read_native(work / "e.csv")
    except subprocess.CalledProcessError:
        print("no enterprise membership in the store: per-enterprise check skipped")

    con = duckdb.connect()
    glob = f"{out}/month=*/shard=*/*.parquet"
    con.execute(f"CREATE VIEW readings AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true)")
    con.execute(f"CREATE VIEW meters AS SELECT * FROM read_parquet('{out}/meters.parquet')")
    membership = dict(con.execute(
        "SELECT meter_id, enterprise_id FROM meters WHERE role = 'production'").fetchall())
    # Irregular meters are left out on both sides, and so are enterprises with one.
    irregular = {m for (m,) in con.execute("SELECT meter_id FROM meters WHERE interval_s IS NULL").fetchall()}
    for m in irregular:
        native_m.pop(m, None)
    if native_e is not None:
        for e in {membership[m] for m in irregular if m in membership}:
            native_e.pop(e, None)
        membership = {m: e for m, e in membership.items() if e in native_e}

    # The partitions: shard is FNV-1a 64 of the id modulo N, month the UTC month of ts.
    bad = 0
    for meter_id, shard in con.execute("SELECT DISTINCT meter_id, shard FROM readings").fetchall():
        if fnv1a64(meter_id.encode()) % a.shards != int(shard):
            print(f"FAIL partition: meter {meter_id} in shard {shard}")
            bad += 1
    wrong_month = con.execute(
        "SELECT count(*) FROM readings WHERE strftime(timezone('UTC', ts), '%Y-%m') <> month").fetchone()[0]
    if wrong_month:
        print(f"FAIL partition: {wrong_month} readings outside their month=")
        bad += 1

    # The data's decimal resolution: the least s <= 9 at which every value is a whole
    # number of 10^-s (within 1e-6 of one, for the binary fractions of decimals).
    scale = None
    for s in range(10):
        ok = con.execute(
            f"SELECT bool_and(abs(value * {10**s} - round(value * {10**s})) < 1e-6) FROM readings").fetchone()[0]
        if ok:
            scale = s
            break
    if scale is None:
        sys.exit("the values are not decimals of at most 9 places: no exact comparison possible")
    n = con.execute("SELECT count(*) FROM readings").fetchone()[0]
    print(f"{n} readings, {len(native_m)} native meter results, resolution 10^-{scale}, "
          f"{len(irregular)} irregular meters (and their enterprises) left out")

    t = time.perf_counter()
    rows = con.execute(query(a.day, a.tz, scale, "CAST(epoch(ts) AS BIGINT)")).fetchall()
    print(f"duckdb: {len(rows)} meters in {time.perf_counter() - t:.2f} s")
    bad += check("duckdb", rows, scale, native_m, native_e, membership, a.threshold)

    if a.spark:
        # Local mode on the loopback interface only.
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
        from pyspark.sql import SparkSession
        spark = (SparkSession.builder.master("local[2]").appName("meterstore-cross")
                 .config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1")
                 .config("spark.sql.session.timeZone", "UTC")
                 .config("spark.ui.enabled", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        (spark.read.option("basePath", str(out)).parquet(f"{out}/month=*/shard=*")
         .createOrReplaceTempView("readings"))
        spark.read.parquet(f"{out}/meters.parquet").createOrReplaceTempView("meters")
        t = time.perf_counter()
        rows = [tuple(r) for r in spark.sql(query(a.day, a.tz, scale, "unix_seconds(ts)")).collect()]
        print(f"spark: {len(rows)} meters in {time.perf_counter() - t:.2f} s")
        shards = spark.sql("SELECT DISTINCT meter_id, shard FROM readings").collect()
        for r in shards:
            if fnv1a64(r.meter_id.encode()) % a.shards != int(r.shard):
                print(f"FAIL spark partition: meter {r.meter_id} in shard {r.shard}")
                bad += 1
        bad += check("spark", rows, scale, native_m, native_e, membership, a.threshold)
        spark.stop()

    if bad:
        print(f"FAIL: {bad} mismatches")
        sys.exit(1)
    engines = "DuckDB and Spark" if a.spark else "DuckDB"
    print(f"OK: {engines} gave exactly the native per-meter"
          f"{' and per-enterprise' if native_e is not None else ''} day/night figures")


if __name__ == "__main__":
    main()
