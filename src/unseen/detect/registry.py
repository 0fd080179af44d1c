"""Licence registry: which detections match an assignment, and which are unlicensed.

CSV columns `name,freq_hz,bandwidth_hz[,lat,lon,erp_w]` (header required, any order, `#` comments
allowed; `lat_deg`/`lon_deg` accepted for lat/lon, other columns ignored).
A detection matches an assignment when at least half of its occupied band lies inside the
assigned band and, when both the detection's location and the assignment's are known, the
detection lies within `max_distance_m` of the licensed site.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from unseen.errors import ConfigError
from unseen.types import Detection

REQUIRED = ("name", "freq_hz", "bandwidth_hz")
OPTIONAL = ("lat", "lon", "erp_w")


@dataclass(frozen=True)
class Assignment:
    """A licensed channel: centre and bandwidth (Hz), optional site (deg) and ERP (W)."""

    name: str
    freq_hz: float
    bandwidth_hz: float
    lat_deg: float | None = None
    lon_deg: float | None = None
    erp_w: float | None = None

    @property
    def lo_hz(self) -> float:
        return self.freq_hz - self.bandwidth_hz / 2

    @property
    def hi_hz(self) -> float:
        return self.freq_hz + self.bandwidth_hz / 2


def _num(
    text: str | None,
    path: Path,
    line: int,
    key: str,
    *,
    positive: bool = False,
    lo: float | None = None,
    hi: float | None = None,
) -> float | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"{path}:{line}: {key}={text!r} is not a number") from None
    if (
        not math.isfinite(v)
        or (positive and v <= 0)
        or (lo is not None and v < lo)
        or (hi is not None and v > hi)
    ):
        rng = "positive" if positive else f"in [{lo}, {hi}]"
        raise ConfigError(f"{path}:{line}: {key}={text!r}; expected a {rng} number")
    return v


def load_registry(path: str | Path) -> list[Assignment]:
    """Read a registry CSV; errors name the file, line and column."""
    path = Path(path)
    with path.open(newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    cols = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise ConfigError(
            f"{path}: header lacks column(s) {', '.join(missing)}; expected "
            "name,freq_hz,bandwidth_hz[,lat,lon,erp_w]"
        )
    out = []
    for i, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        name = row.get("name") or ""
        if not name:
            raise ConfigError(f"{path}:{i}: name is empty")
        f = _num(row.get("freq_hz"), path, i, "freq_hz", positive=True)
        bw = _num(row.get("bandwidth_hz"), path, i, "bandwidth_hz", positive=True)
        if f is None or bw is None:
            raise ConfigError(f"{path}:{i}: freq_hz and bandwidth_hz are required")
        lat = _num(row.get("lat", row.get("lat_deg")), path, i, "lat", lo=-90, hi=90)
        lon = _num(row.get("lon", row.get("lon_deg")), path, i, "lon", lo=-180, hi=360)
        if (lat is None) != (lon is None):
            raise ConfigError(f"{path}:{i}: give both lat and lon or neither")
        erp = _num(row.get("erp_w"), path, i, "erp_w", positive=True)
        out.append(Assignment(name, f, bw, lat, lon, erp))
    return out


def _overlap(d: Detection, a: Assignment) -> float:
    lo = max(d.freq_hz - d.bandwidth_hz / 2, a.lo_hz)
    hi = min(d.freq_hz + d.bandwidth_hz / 2, a.hi_hz)
    return max(0.0, hi - lo) / max(d.bandwidth_hz, 1e-9)


def match(
    detections: Sequence[Detection],
    registry: Sequence[Assignment],
    *,
    locations: Mapping[int, tuple[float, float]] | None = None,
    max_distance_m: float = 10_000.0,
    min_overlap: float = 0.5,
) -> list[Detection]:
    """Detections with `licensed` and `assignment` set.

    `locations` maps a detection's index to its located (lat, lon) (from bearings or a fix);
    an assignment with a site then matches only within `max_distance_m` of it. A detection
    matching no assignment is `licensed=False, assignment=None`.
    """
    from unseen.geo.geodesic import distance

    out = []
    for i, d in enumerate(detections):
        best, score = None, 0.0
        for a in registry:
            ov = _overlap(d, a)
            if ov < min_overlap or ov <= score:
                continue
            loc = (locations or {}).get(i)
            if (
                loc is not None
                and a.lat_deg is not None
                and float(distance(loc[0], loc[1], a.lat_deg, a.lon_deg)) > max_distance_m
            ):
                continue
            best, score = a, ov
        out.append(replace(d, licensed=best is not None, assignment=best.name if best else None))
    return out
