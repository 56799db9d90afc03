#!/usr/bin/env python3
"""Peer comparison for meterstore: on-disk size and day/night query speed of other engines.

    python bench/peers/peers.py DIR [--runs 5] [--json OUT] [--skip-query | --query-only]
                                    [--peers parquet,duckdb,clickhouse,tsfile]
                                    [--workdir PATH] [--keep]

DIR holds readings.bin (packed little-endian records: meter u32, ts i64, value f64;
20 bytes each, sorted by meter then ts) and meta.json (see README.md).

Sizes: the same readings are stored in Parquet (pyarrow), DuckDB, ClickHouse (chDB) and
Apache TsFile, and the bytes on disk are reported, timestamps included.

Query: per meter, the energy whose local minute-of-day is inside [day_start_min,
day_end_min) ("day") and the rest ("night"), run in DuckDB on its native table and in
Polars on an in-memory DataFrame (Polars: interval energy at a fixed offset only).  The
energy of a reading follows meta.json's quantity as meterstore's scan defines it: the
value (interval energy), value x interval (power), or the difference to the next reading
when that is in the next grid slot and not negative (register).  The local time is at
the fixed offset tz_offset_s, or in the IANA zone tz when tz_offset_s is null.  Every
engine's result, and meterstore's own (engine.csv, when the export holds one), is checked
against an exact integer computation in numpy; any mismatch aborts the run.

Everything is built in chunks of rows read from a memory map, so memory stays bounded
for the 350M-reading fleet (10,000 meters x 365 days) on a 24 GiB machine.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

RECORD = np.dtype([("meter", "<u4"), ("ts", "<i8"), ("value", "<f8")])
assert RECORD.itemsize == 20

CHUNK_ROWS = 8_000_000  # rows converted to Arrow at a time (a multiple of ROW_GROUP_ROWS)
ROW_GROUP_ROWS = 1_000_000  # Parquet row group size
INT32_MAX = 2**31 - 1
VERSIONED_PACKAGES = ["numpy", "pyarrow", "duckdb", "chdb", "chdb-core", "polars", "tsfile"]


# --------------------------------------------------------------------------- input


@dataclass
class Fleet:
    """The readings of one input directory, memory-mapped, plus its meta.json."""

    dir: str
    meta: dict
    records: np.ndarray  # memmap of RECORD

    @property
    def n(self) -> int:
        return len(self.records)

    @property
    def path(self) -> str:
        return os.path.join(self.dir, "readings.bin")

    @property
    def scale(self) -> int:
        return int(self.meta["value_scale"])

    @property
    def quantity(self) -> str:
        return self.meta.get("quantity", "interval_energy")

    @property
    def interval_s(self) -> int:
        return int(self.meta.get("interval_s", 900))

    @property
    def fixed_offset(self) -> Optional[int]:
        """Seconds east of UTC, or None for the IANA zone meta["tz"]."""
        off = self.meta.get("tz_offset_s")
        return None if off is None else int(off)

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        for start in range(0, self.n, rows):
            yield self.records[start:start + rows]


def load_fleet(directory: str) -> Fleet:
    with open(os.path.join(directory, "meta.json")) as f:
        meta = json.load(f)
    path = os.path.join(directory, "readings.bin")
    size = os.path.getsize(path)
    if size % RECORD.itemsize:
        sys.exit(f"error: {path} is {size} bytes, not a multiple of {RECORD.itemsize}")
    n = size // RECORD.itemsize
    if n != meta["n_readings"]:
        sys.exit(f"error: {path} holds {n} readings but meta.json says {meta['n_readings']}")
    if n == 0:
        sys.exit(f"error: {path} is empty")
    if meta.get("quantity", "interval_energy") not in QUANTITIES:
        sys.exit(f"error: meta.json quantity {meta['quantity']!r} is not one of {QUANTITIES}")
    if meta.get("tz_offset_s") is None and not meta.get("tz"):
        sys.exit("error: meta.json needs tz_offset_s or an IANA zone name in tz")
    records = np.memmap(path, dtype=RECORD, mode="r")
    return Fleet(directory, meta, records)


QUANTITIES = ("interval_energy", "power", "register")


def local_minutes(fleet: Fleet, ts: np.ndarray) -> np.ndarray:
    """Local minute-of-day of each timestamp, at the fixed offset or in the IANA zone."""
    off = fleet.fixed_offset
    if off is None:
        off = zone_offsets(fleet.meta["tz"], ts)
    return ((ts + off) % 86400) // 60  # numpy %: floor modulo


def zone_offsets(zone: str, ts: np.ndarray) -> np.ndarray:
    """UTC offset in seconds at each timestamp in IANA zone `zone` (zoneinfo), from the
    zone's transitions in the span of `ts`: offsets change on whole quarter hours, so
    sampling every 15 minutes finds each transition exactly."""
    import datetime
    import zoneinfo

    tz = zoneinfo.ZoneInfo(zone)
    lo, hi = int(ts.min()) // 900 * 900, int(ts.max()) // 900 * 900 + 900
    grid = np.arange(lo, hi + 1, 900, dtype=np.int64)
    hourly = np.unique(np.concatenate((grid[::4], [grid[-1]])))

    def offset(t: int) -> int:
        return int(datetime.datetime.fromtimestamp(t, tz).utcoffset().total_seconds())

    # offsets on an hourly grid, then the exact quarter hour of each change
    offs = np.array([offset(int(t)) for t in hourly], dtype=np.int64)
    starts, values = [int(hourly[0])], [int(offs[0])]
    for i in np.flatnonzero(offs[1:] != offs[:-1]):
        t = int(hourly[i])
        while offset(t) == offs[i]:
            t += 900
        starts.append(t)
        values.append(offset(t))
    idx = np.searchsorted(np.array(starts, dtype=np.int64), ts, side="right") - 1
    return np.array(values, dtype=np.int64)[idx]


def wh(rec: np.ndarray, scale: int) -> np.ndarray:
    """Values as exact integers (Wh for value_scale 1000)."""
    return np.rint(rec["value"] * scale).astype(np.int64)


def meter_int32(rec: np.ndarray) -> np.ndarray:
    meters = rec["meter"]
    if meters.max() > INT32_MAX:
        sys.exit("error: a meter id does not fit the int32 column the peers use")
    return meters.astype(np.int32)


def arrow_chunk(rec: np.ndarray, scale: int, value_wh: bool, ts_type: pa.DataType) -> pa.Table:
    """One chunk as the Arrow table a user would hand to the engines."""
    value = pa.array(wh(rec, scale)) if value_wh else pa.array(np.ascontiguousarray(rec["value"]))
    return pa.table({
        "meter": pa.array(meter_int32(rec)),
        "ts": pa.array(np.ascontiguousarray(rec["ts"])).cast(ts_type),
        "value": value,
    })


# --------------------------------------------------------------------------- sizes


@dataclass
class Size:
    bytes: int
    build_s: float


def check_rows(peer: str, rows: int, fleet: Fleet) -> None:
    if rows != fleet.n:
        raise RuntimeError(f"{peer}: stored {rows} rows, expected {fleet.n}")


def timed(fn: Callable[[], int]) -> Size:
    t0 = time.perf_counter()
    size = fn()
    return Size(size, time.perf_counter() - t0)


# Parquet ------------------------------------------------------------------

# name -> (value as int Wh?, extra ParquetWriter options); compression is always zstd
# at its default level.
PARQUET_VARIANTS = {
    # what a user naturally writes: pyarrow defaults, value in kWh as float64
    "parquet_zstd_f64": (False, {}),
    # the same with the value as int64 Wh
    "parquet_zstd_wh": (True, {}),
    # int64 Wh with per-column encodings picked for this data: delta-encoded
    # timestamps, byte-stream-split values, dictionary only for the meter id
    "parquet_zstd_wh_tuned": (True, {
        "use_dictionary": ["meter"],
        "column_encoding": {"ts": "DELTA_BINARY_PACKED", "value": "BYTE_STREAM_SPLIT"},
    }),
}


def parquet_file(fleet: Fleet, path: str, value_wh: bool, options: dict) -> int:
    writer = None
    for rec in fleet.chunks():
        table = arrow_chunk(rec, fleet.scale, value_wh, pa.timestamp("s"))
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd", **options)
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    writer.close()
    check_rows("parquet", pq.ParquetFile(path).metadata.num_rows, fleet)
    return os.path.getsize(path)


def parquet_sizes(fleet: Fleet, workdir: str) -> Dict[str, Size]:
    return {
        name: timed(lambda: parquet_file(fleet, os.path.join(workdir, name + ".parquet"), value_wh, options))
        for name, (value_wh, options) in PARQUET_VARIANTS.items()
    }


# DuckDB -------------------------------------------------------------------

# ts is BIGINT Unix seconds: a TIMESTAMP column (microseconds inside) made the file
# ~2 B/reading larger and the day/night query ~2x slower in our tests.
DUCKDB_VARIANTS = {"duckdb_f64": False, "duckdb_wh": True}
DUCKDB_QUERY_VARIANT = "duckdb_f64"


def duckdb_path(workdir: str, name: str) -> str:
    return os.path.join(workdir, name + ".duckdb")


def duckdb_file(fleet: Fleet, path: str, value_wh: bool) -> int:
    import duckdb

    value_type = "BIGINT" if value_wh else "DOUBLE"
    con = duckdb.connect(path)
    try:
        con.execute(f"CREATE TABLE readings (meter INTEGER, ts BIGINT, value {value_type})")
        for rec in fleet.chunks():
            chunk = arrow_chunk(rec, fleet.scale, value_wh, pa.int64())
            con.register("chunk", chunk)
            con.execute("INSERT INTO readings SELECT meter, ts, value FROM chunk")
            con.unregister("chunk")
        con.execute("CHECKPOINT")
        check_rows("duckdb", con.execute("SELECT count(*) FROM readings").fetchone()[0], fleet)
    finally:
        con.close()
    wal = path + ".wal"
    return os.path.getsize(path) + (os.path.getsize(wal) if os.path.exists(wal) else 0)


def duckdb_sizes(fleet: Fleet, workdir: str) -> Dict[str, Size]:
    return {
        name: timed(lambda: duckdb_file(fleet, duckdb_path(workdir, name), value_wh))
        for name, value_wh in DUCKDB_VARIANTS.items()
    }


# ClickHouse (chDB) --------------------------------------------------------

# name -> codec of the int64 Wh value column.  meter and ts codecs are shared.
CLICKHOUSE_VARIANTS = {
    "clickhouse_wh_delta_zstd": "Delta, ZSTD",
    # the best value codec we found for this data (Delta doubles the entropy of
    # noisy interval energies; T64 packs away the unused high bits instead)
    "clickhouse_wh_t64_zstd": "T64, ZSTD",
}


def clickhouse_sizes(fleet: Fleet, workdir: str) -> Dict[str, Size]:
    from chdb import session

    sess = session.Session(os.path.join(workdir, "clickhouse"))
    try:
        sess.query("CREATE DATABASE IF NOT EXISTS bench")
        source = "file('{}', 'RowBinary', 'meter UInt32, ts Int64, value Float64')".format(
            fleet.path.replace("\\", "\\\\").replace("'", "\\'"))

        def build(table: str, value_codec: str) -> int:
            sess.query(f"""
                CREATE TABLE bench.{table} (
                    meter UInt32 CODEC(ZSTD),
                    ts    Int64  CODEC(DoubleDelta, ZSTD),
                    value Int64  CODEC({value_codec})
                ) ENGINE = MergeTree ORDER BY (meter, ts)""")
            # readings.bin is exactly ClickHouse's RowBinary, so it streams straight in
            sess.query(f"INSERT INTO bench.{table} SELECT meter, ts, toInt64(round(value * {fleet.scale})) "
                       f"FROM {source}")
            sess.query(f"OPTIMIZE TABLE bench.{table} FINAL")
            size, rows = sess.query(
                "SELECT sum(bytes_on_disk), sum(rows) FROM system.parts "
                f"WHERE database = 'bench' AND table = '{table}' AND active", "CSV").bytes().split(b",")
            check_rows("clickhouse", int(rows), fleet)
            return int(size)

        return {name: timed(lambda: build(name, codec)) for name, codec in CLICKHOUSE_VARIANTS.items()}
    finally:
        sess.close()


# Apache TsFile ------------------------------------------------------------


def tsfile_sizes(fleet: Fleet, workdir: str) -> Dict[str, Size]:
    """TsFile table model: meter as TAG, Wh as INT64 field, ms timestamps (TsFile's default
    precision), the library's default encodings (TS_2DIFF for time and INT64) and ZSTD."""
    import tsfile as tf

    zstd = {"default_compression_type_": tf.Compressor.ZSTD, "time_compress_type_": tf.Compressor.ZSTD}
    # The library loads its default config (LZ4) when the first writer of the process is
    # created, silently undoing an earlier set_tsfile_config: create one writer first.
    probe = os.path.join(workdir, "probe.tsfile")
    tf.TsFileWriter(probe).close()
    os.remove(probe)
    tf.set_tsfile_config(zstd)
    path = os.path.join(workdir, "readings.tsfile")

    def build() -> int:
        schema = tf.TableSchema("readings", [
            tf.ColumnSchema("meter", tf.TSDataType.STRING, tf.ColumnCategory.TAG),
            tf.ColumnSchema("value", tf.TSDataType.INT64, tf.ColumnCategory.FIELD),
        ])
        writer = tf.TsFileTableWriter(path, schema)
        config = tf.get_tsfile_config()
        if any(config[key] != value for key, value in zstd.items()):
            raise RuntimeError(f"tsfile did not keep ZSTD compression: {config}")
        try:
            for rec in fleet.chunks():
                writer.write_arrow_batch(pa.table({
                    "time": pa.array(rec["ts"] * 1000),
                    "meter": pa.array(rec["meter"]).cast(pa.string()),
                    "value": pa.array(wh(rec, fleet.scale)),
                }))
        finally:
            writer.close()
        reader = tf.TsFileReader(path)
        try:
            rows = sum(ts.statistic.row_count
                       for group in reader.get_timeseries_metadata().values()
                       for ts in group.timeseries)
        finally:
            reader.close()
        check_rows("tsfile", rows, fleet)
        return os.path.getsize(path)

    return {"tsfile_wh": timed(build)}


# name -> (builder, can the run go on without it?)
SIZE_PEERS = {
    "parquet": (parquet_sizes, False),
    "duckdb": (duckdb_sizes, False),
    "clickhouse": (clickhouse_sizes, False),
    "tsfile": (tsfile_sizes, True),
}


# --------------------------------------------------------------------------- query


@dataclass
class DayNight:
    meters: np.ndarray
    day: np.ndarray  # in the input's unit (kWh)
    night: np.ndarray


@dataclass
class QueryResult:
    median_s: float
    runs_s: List[float]
    readings_per_s: float
    threads: int
    load_1m: float  # load average before the timed runs
    extra: dict = field(default_factory=dict)


def reference_day_night(fleet: Fleet) -> DayNight:
    """Exact per-meter day/night sums in integer units of the value (Wh), chunk by chunk."""
    meta = fleet.meta
    parts = []
    for start in range(0, fleet.n, CHUNK_ROWS):
        # one row past the chunk: a register's last reading of the chunk needs its next
        rec = fleet.records[start:start + CHUNK_ROWS + 1]
        value = wh(rec, fleet.scale)
        if fleet.quantity == "register":
            follows = ((rec["meter"][1:] == rec["meter"][:-1])
                       & (rec["ts"][1:] == rec["ts"][:-1] + fleet.interval_s))
            diff = value[1:] - value[:-1]
            energy = np.where(follows & (diff >= 0), diff, 0)
        else:
            energy = value[:-1] if len(rec) > CHUNK_ROWS else value
        if len(energy) == 0:
            continue
        rec = rec[:len(energy)]
        meters = rec["meter"]
        starts = np.concatenate(([0], np.flatnonzero(meters[1:] != meters[:-1]) + 1))
        minute = local_minutes(fleet, rec["ts"])
        is_day = (minute >= meta["day_start_min"]) & (minute < meta["day_end_min"])
        parts.append((meters[starts],
                      np.add.reduceat(np.where(is_day, energy, 0), starts),
                      np.add.reduceat(np.where(is_day, 0, energy), starts)))
    # a meter can span chunks: merge its runs
    meters, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    day = np.zeros(len(meters), dtype=np.int64)
    night = np.zeros(len(meters), dtype=np.int64)
    np.add.at(day, inverse, np.concatenate([p[1] for p in parts]))
    np.add.at(night, inverse, np.concatenate([p[2] for p in parts]))
    # power: W x interval seconds / 3600 is Wh
    per = fleet.interval_s / 3600 if fleet.quantity == "power" else 1
    return DayNight(meters, day * per / fleet.scale, night * per / fleet.scale)


def check_day_night(engine: str, got: DayNight, ref: DayNight, rtol: float = 1e-6) -> None:
    """Compares per-meter sums; a meter missing on one side counts as zero energy (a
    register meter without a usable difference may be left out of a result)."""
    got_meters = np.asarray(got.meters).astype(np.int64)
    if len(np.unique(got_meters)) != len(got_meters):
        raise SystemExit(f"FAIL: {engine} returned a meter twice")
    meters = np.union1d(got_meters, ref.meters.astype(np.int64))
    for what, values, expected in (("day", got.day, ref.day), ("night", got.night, ref.night)):
        aligned = np.zeros(len(meters))
        aligned[np.searchsorted(meters, got_meters)] = np.asarray(values, dtype=np.float64)
        want = np.zeros(len(meters))
        want[np.searchsorted(meters, ref.meters.astype(np.int64))] = expected
        values, expected = aligned, want
        bad = ~np.isclose(values, expected, rtol=rtol, atol=1e-6)
        if bad.any():
            i = np.flatnonzero(bad)[:5]
            raise SystemExit(f"FAIL: {engine} {what} energy differs from numpy for {bad.sum()} meters, "
                             f"e.g. meters {meters[i]}: got {values[i]}, expected {expected[i]}")


def time_runs(fn: Callable[[], DayNight], runs: int):
    """One untimed warm-up run, then `runs` timed runs.

    Returns (times, last result, 1-minute load average seen before the timed runs):
    on a shared machine other processes' load shows up directly in the times."""
    result = fn()
    load = os.getloadavg()[0]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result, load


def query_result(times: List[float], n: int, threads: int, load: float, **extra) -> QueryResult:
    median = statistics.median(times)
    return QueryResult(median, times, n / median, threads, load, extra)


def duckdb_sql(fleet: Fleet) -> str:
    """The day/night query a DuckDB user would write for this quantity and zone."""
    meta = fleet.meta
    if fleet.fixed_offset is not None:
        # ts is Unix seconds >= 0, so SQL's truncating % and // act as floor operations
        minute = f"((ts + {fleet.fixed_offset}) % 86400) // 60"
    else:
        zone = meta["tz"].replace("'", "''")
        local = f"(to_timestamp(ts) AT TIME ZONE '{zone}')"
        minute = f"(hour({local}) * 60 + minute({local}))"
    is_day = f"{minute} BETWEEN {int(meta['day_start_min'])} AND {int(meta['day_end_min']) - 1}"
    iv = fleet.interval_s
    if fleet.quantity == "register":
        # the energy of a reading: the rise to the next one, when that is in the next
        # slot and the counter did not roll over or get exchanged
        source = f"""(SELECT meter, ts, nxt - value AS value
                      FROM (SELECT meter, ts, value,
                                   lead(value) OVER w AS nxt, lead(ts) OVER w AS nxt_ts
                            FROM readings WINDOW w AS (PARTITION BY meter ORDER BY ts))
                      WHERE nxt_ts = ts + {iv} AND nxt >= value)"""
        scale = ""
    else:
        source = "readings"
        scale = f" * {iv} / 3600.0" if fleet.quantity == "power" else ""
    return f"""
        SELECT meter,
               sum(CASE WHEN is_day THEN value ELSE 0 END){scale} AS day,
               sum(CASE WHEN is_day THEN 0 ELSE value END){scale} AS night
        FROM (SELECT meter, value, {is_day} AS is_day FROM {source})
        GROUP BY meter"""


def engine_day_night(fleet: Fleet) -> Optional[DayNight]:
    """meterstore's own per-meter results (engine.csv, written by fleet_bench), if any."""
    path = os.path.join(fleet.dir, "engine.csv")
    if not os.path.exists(path):
        return None
    rows = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return DayNight(rows[:, 0].astype(np.int64), rows[:, 1], rows[:, 2])


def duckdb_query(fleet: Fleet, path: str, runs: int, ref: DayNight) -> QueryResult:
    import duckdb

    sql = duckdb_sql(fleet)
    con = duckdb.connect(path, read_only=True)
    try:
        threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])

        def run() -> DayNight:
            cols = con.execute(sql).fetchnumpy()
            return DayNight(cols["meter"], cols["day"], cols["night"])

        times, result, load = time_runs(run, runs)
    finally:
        con.close()
    check_day_night("duckdb", result, ref)
    return query_result(times, fleet.n, threads, load)


def polars_query(fleet: Fleet, runs: int, ref: DayNight) -> QueryResult:
    import polars as pl

    meta = fleet.meta
    if fleet.quantity != "interval_energy" or fleet.fixed_offset is None:
        raise ValueError("the Polars query handles interval energy at a fixed offset only")
    t0 = time.perf_counter()
    frame = pl.concat([
        pl.DataFrame({name: np.ascontiguousarray(rec[name]) for name in ("meter", "ts", "value")})
        for rec in fleet.chunks()
    ], rechunk=False)
    load_s = time.perf_counter() - t0

    minute = ((pl.col("ts") + meta["tz_offset_s"]) % 86400) // 60  # polars %: floor modulo
    is_day = (minute >= meta["day_start_min"]) & (minute < meta["day_end_min"])
    value = pl.col("value")
    query = (frame.lazy()
             .with_columns(is_day=is_day)
             .group_by("meter")
             .agg(day=pl.when(pl.col("is_day")).then(value).otherwise(0.0).sum(),
                  night=pl.when(pl.col("is_day")).then(0.0).otherwise(value).sum()))

    def run() -> DayNight:
        out = query.collect()
        return DayNight(out["meter"].to_numpy(), out["day"].to_numpy(), out["night"].to_numpy())

    times, result, load = time_runs(run, runs)
    del frame
    check_day_night("polars", result, ref)
    return query_result(times, fleet.n, pl.thread_pool_size(), load, load_s=load_s)


# --------------------------------------------------------------------------- report


def package_versions() -> Dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def print_sizes(fleet: Fleet, sizes: Dict[str, Size], skipped: Dict[str, str]) -> None:
    rows = [("readings.bin (input, uncompressed)", fleet.n * RECORD.itemsize, "")]
    rows += [(name, s.bytes, f"{s.build_s:8.1f}") for name, s in sizes.items()]
    print(f"\nSizes for {fleet.n:,} readings of {fleet.meta['n_meters']:,} meters (timestamps included)")
    print(f"{'peer':<36} {'bytes':>16} {'B/reading':>10} {'build s':>8}")
    for name, size, build in rows:
        print(f"{name:<36} {size:>16,} {size / fleet.n:>10.3f} {build:>8}")
    for name, reason in skipped.items():
        print(f"{name:<36} skipped: {reason}")


def print_queries(fleet: Fleet, queries: Dict[str, QueryResult]) -> None:
    print(f"\nDay/night query over {fleet.n:,} readings (median of {len(next(iter(queries.values())).runs_s)} runs)")
    print(f"{'engine':<12} {'threads':>7} {'median s':>10} {'readings/s':>16} {'load':>5}  runs s")
    for name, q in queries.items():
        runs = " ".join(f"{t:.3f}" for t in q.runs_s)
        print(f"{name:<12} {q.threads:>7} {q.median_s:>10.4f} {q.readings_per_s:>16,.0f} {q.load_1m:>5.1f}  {runs}")
    print(f"(load: 1-minute load average before the timed runs, on {os.cpu_count()} cores; "
          "a high value means other processes competed for the CPU)")


def report_json(fleet: Fleet, sizes, skipped, queries, versions) -> dict:
    return {
        "n_meters": fleet.meta["n_meters"],
        "n_readings": fleet.n,
        "sizes": {name: s.bytes for name, s in sizes.items()},
        "bytes_per_reading": {name: s.bytes / fleet.n for name, s in sizes.items()},
        "build_s": {name: s.build_s for name, s in sizes.items()},
        "skipped": skipped,
        "query": {name: {"median_s": q.median_s, "readings_per_s": q.readings_per_s,
                         "threads": q.threads, "runs_s": q.runs_s, "load_1m": q.load_1m, **q.extra}
                  for name, q in queries.items()},
        "versions": versions,
    }


# --------------------------------------------------------------------------- main


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="directory with readings.bin and meta.json")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query engine (default 5)")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    ap.add_argument("--skip-query", action="store_true", help="measure sizes only")
    ap.add_argument("--query-only", action="store_true",
                    help="no sizes: only the DuckDB query (and the checks); prints "
                         "'RESULT duckdb median_s=...' for fleet_bench")
    ap.add_argument("--peers", default=",".join(SIZE_PEERS),
                    help=f"comma-separated size peers (default: {','.join(SIZE_PEERS)})")
    ap.add_argument("--workdir", help="where the peers' files are written (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the peers' files afterwards")
    args = ap.parse_args(argv)

    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(SIZE_PEERS)
    if unknown:
        ap.error(f"unknown peers {sorted(unknown)}; choose from {list(SIZE_PEERS)}")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.query_only and args.skip_query:
        ap.error("--query-only and --skip-query exclude each other")
    if args.query_only:
        peers = []

    fleet = load_fleet(args.dir)
    print(f"{fleet.n:,} readings, {fleet.meta['n_meters']:,} meters from {args.dir}", flush=True)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="meterstore-peers-", dir=args.workdir)

    sizes: Dict[str, Size] = {}
    skipped: Dict[str, str] = {}
    queries: Dict[str, QueryResult] = {}
    try:
        for peer in peers:
            builder, optional = SIZE_PEERS[peer]
            print(f"building {peer} ...", flush=True)
            try:
                sizes.update(builder(fleet, workdir))
            except Exception as e:  # only optional peers may fail
                if not optional:
                    raise
                skipped[peer] = f"{type(e).__name__}: {e}"
                print(f"  {peer} skipped: {skipped[peer]}", flush=True)
        if peers:
            print_sizes(fleet, sizes, skipped)

        if not args.skip_query:
            duckdb_db = duckdb_path(workdir, DUCKDB_QUERY_VARIANT)
            if not os.path.exists(duckdb_db):
                duckdb_file(fleet, duckdb_db, DUCKDB_VARIANTS[DUCKDB_QUERY_VARIANT])
            print("\ncomputing the numpy reference ...", flush=True)
            ref = reference_day_night(fleet)
            engine = engine_day_night(fleet)
            if engine is not None:
                check_day_night("meterstore", engine, ref, rtol=1e-9)
                print("meterstore's results (engine.csv) match the numpy reference")
            print("querying duckdb ...", flush=True)
            queries["duckdb"] = duckdb_query(fleet, duckdb_db, args.runs, ref)
            if args.query_only:
                pass
            elif fleet.quantity == "interval_energy" and fleet.fixed_offset is not None:
                print("querying polars ...", flush=True)
                queries["polars"] = polars_query(fleet, args.runs, ref)
            else:
                print("polars skipped: its query handles interval energy at a fixed offset only")
            print_queries(fleet, queries)
            print(f"results of {', '.join(queries)} match the numpy reference")
            print(f"RESULT duckdb median_s={queries['duckdb'].median_s}")
    finally:
        if args.keep:
            print(f"\npeer files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    versions = package_versions()
    print("\nversions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report_json(fleet, sizes, skipped, queries, versions), f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
