#!/usr/bin/env python3
"""Write a synthetic smart-meter fleet in the peer-benchmark input format.

    python bench/peers/make_test_fleet.py DIR --meters N --days D [--seed S]

DIR receives:
  readings.bin  packed little-endian records (meter u32, ts i64, value f64),
                20 bytes each, no header, sorted by meter then ts
  meta.json     n_meters, n_readings, interval_s, tz_offset_s, day window, value_scale

Each meter gets a base load, a daytime profile with morning and evening peaks,
multiplicative noise and Wh resolution (values are exact multiples of 0.001 kWh).
A few readings are missing at random and about 2% of meters have a multi-day outage,
so the series are not perfectly regular.  Meters are generated in blocks so memory
stays small whatever the fleet size.
"""

import argparse
import json
import os
import sys

import numpy as np

RECORD = np.dtype([("meter", "<u4"), ("ts", "<i8"), ("value", "<f8")])
assert RECORD.itemsize == 20

INTERVAL_S = 900
TZ_OFFSET_S = 8 * 3600  # fixed UTC+8
DAY_START_MIN = 8 * 60
DAY_END_MIN = 20 * 60
VALUE_SCALE = 1000  # kWh -> Wh
START_TS = 1_704_038_400  # 2024-01-01 00:00 local (UTC+8), in UTC seconds
BLOCK_METERS = 100


def daily_profile(slots_per_day: int) -> np.ndarray:
    """Relative load per interval of a local day: night trough, morning and evening peaks."""
    hour = (np.arange(slots_per_day) + 0.5) * 24.0 / slots_per_day
    morning = 0.8 * np.exp(-0.5 * ((hour - 7.5) / 1.2) ** 2)
    evening = 1.4 * np.exp(-0.5 * ((hour - 19.5) / 1.8) ** 2)
    daytime = 0.4 * ((hour > 9) & (hour < 17))
    return 0.3 + morning + evening + daytime


def make_block(rng, first_meter: int, n_meters: int, days: int) -> np.ndarray:
    """Records for meters [first_meter, first_meter + n_meters), gaps removed."""
    slots_per_day = 86400 // INTERVAL_S
    n_slots = days * slots_per_day
    # local time of slot 0 is midnight, so the profile lines up with local hours
    profile = np.tile(daily_profile(slots_per_day), days)

    base_wh = rng.uniform(20, 120, size=(n_meters, 1))  # Wh per 15 min at night
    peak_wh = rng.uniform(50, 400, size=(n_meters, 1))
    seasonal = 1.0 + 0.25 * np.cos(2 * np.pi * np.arange(n_slots) / (365 * slots_per_day))
    noise = rng.lognormal(mean=0.0, sigma=0.35, size=(n_meters, n_slots))
    wh = np.rint((base_wh + peak_wh * profile * seasonal) * noise).astype(np.int64)
    wh[rng.random(size=wh.shape) < 0.01] = 0  # occasional zero reading

    present = rng.random(size=wh.shape) >= 0.001  # ~0.1% single missing readings
    for i in np.flatnonzero(rng.random(n_meters) < 0.02):  # multi-day outages
        start = rng.integers(0, n_slots)
        present[i, start:start + rng.integers(1, 4) * slots_per_day] = False

    rec = np.empty(wh.shape, dtype=RECORD)
    rec["meter"] = np.arange(first_meter, first_meter + n_meters, dtype=np.uint32)[:, None]
    rec["ts"] = START_TS + INTERVAL_S * np.arange(n_slots, dtype=np.int64)[None, :]
    rec["value"] = wh / VALUE_SCALE
    return rec[present]  # row-major: sorted by meter then ts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--meters", type=int, required=True)
    ap.add_argument("--days", type=int, required=True)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)

    os.makedirs(args.dir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    n_readings = 0
    with open(os.path.join(args.dir, "readings.bin"), "wb") as out:
        for first in range(0, args.meters, BLOCK_METERS):
            block = make_block(rng, first, min(BLOCK_METERS, args.meters - first), args.days)
            block.tofile(out)
            n_readings += len(block)

    meta = {
        "n_meters": args.meters,
        "n_readings": n_readings,
        "interval_s": INTERVAL_S,
        "tz_offset_s": TZ_OFFSET_S,
        "day_start_min": DAY_START_MIN,
        "day_end_min": DAY_END_MIN,
        "value_scale": VALUE_SCALE,
    }
    with open(os.path.join(args.dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {n_readings:,} readings for {args.meters:,} meters x {args.days} days to {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
