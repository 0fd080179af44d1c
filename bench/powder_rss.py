"""POWDER outdoor RSS (University of Utah, 462.7 MHz) → `unseen locate` rows.

Data: ../shared/data/powder-rss-dev (mhrafi66/wireless_localization_frs_uofu, MIT licence; "A
Dataset of Outdoor RSS Measurements for Localization", University of Utah, 2022). One CSV row is
one transmission: an RSS column per fixed receiver (dB, -101 = not heard), `bus-N_rss/_x/_y` per
shuttle receiver (RSS and that sample's latitude/longitude; -101/-1 when absent) and
`tx_x_coord`, `tx_y_coord` = the transmitter's latitude, longitude.

`rows()` gives one `rssi` row per receiver that heard the transmission, grouped by transmission,
with `true_lat`/`true_lon` (the survey columns of `unseen calibrate-rss`). RSS is written as
`rssi_dbm` although it is in uncalibrated dB: only differences between transmissions matter to
a receiver, and its offset is a nuisance (estimated by calibration or absorbed in shadowing).

Run: python bench/powder_rss.py OUT.csv [--day 2022-07-05]   (all days when --day is absent)
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "powder-rss-dev"
NOT_HEARD_DB = -101.0
SIGMA_DB = 1.0  # RSS is a mean over 10,000 samples: measurement noise is well below 1 dB
COLUMNS = ("kind", "group", "station", "lat", "lon", "time_s", "rssi_dbm", "sigma_db",
           "true_lat", "true_lon")  # fmt: skip


def data_dir() -> Path:
    return DATA.resolve()


def receivers(path: Path | None = None) -> dict[str, tuple[float, float]]:
    """Fixed receiver name → (lat, lon) from receivers.csv."""
    path = path or data_dir() / "receivers.csv"
    with path.open(newline="") as fh:
        return {
            r["receiver"]: (float(r["lat_deg"]), float(r["lon_deg"])) for r in csv.DictReader(fh)
        }


def rows(
    path: Path | None = None, days: set[str] | None = None, sigma_db: float = SIGMA_DB
) -> list[dict]:
    """`unseen locate` rssi rows (with true_lat/true_lon) of every transmission on `days`.

    Groups are named `<day>/<row number>` (row number in the CSV, from 1) so that one
    transmission's receivers form one group; time_s is seconds since 00:00 of that day.
    """
    path = path or data_dir() / "single_tx_dev.csv"
    rx = receivers(path.parent / "receivers.csv")
    out: list[dict] = []
    with path.open(newline="") as fh:
        for i, r in enumerate(csv.DictReader(fh), start=1):
            day, clock = r["timestamp"].split(" ")
            if days is not None and day not in days:
                continue
            h, m, s = (float(x) for x in clock.split(":"))
            base = {"kind": "rssi", "group": f"{day}/{i:04d}", "time_s": 3600 * h + 60 * m + s,
                    "sigma_db": sigma_db, "true_lat": float(r["tx_x_coord"]),
                    "true_lon": float(r["tx_y_coord"])}  # fmt: skip
            for name, (lat, lon) in rx.items():
                v = float(r.get(name, NOT_HEARD_DB))
                if v > NOT_HEARD_DB:
                    out.append({**base, "station": name, "lat": lat, "lon": lon, "rssi_dbm": v})
            for key in r:
                if key.startswith("bus-") and key.endswith("_rss"):
                    bus = key[: -len("_rss")]
                    v, lat, lon = float(r[key]), float(r[bus + "_x"]), float(r[bus + "_y"])
                    if v > NOT_HEARD_DB and lat != -1 and lon != -1:
                        out.append({**base, "station": bus, "lat": lat, "lon": lon, "rssi_dbm": v})
    return out


def write(out: Path, data: list[dict]) -> None:
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        w.writerows({k: d[k] for k in COLUMNS} for d in data)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--day", action="append", help="campaign day(s) to keep, e.g. 2022-07-05")
    a = ap.parse_args()
    d = rows(days=set(a.day) if a.day else None)
    write(a.out, d)
    print(f"{a.out}: {len(d)} rows, {len({x['group'] for x in d})} transmissions")
