"""Licence registry: which detections match an assignment, and which are unlicensed.

CSV columns `name,freq_hz,bandwidth_hz[,lat,lon,erp_w]` (header required, any order, `#` comments
allowed; `lat_deg`/`lon_deg` accepted for lat/lon, other columns ignored).
A detection matches an assignment when at least half of its occupied band lies inside the
assigned band and, when both the detection's location and the assignment's are known, the
detection lies within `max_distance_m` of the licensed site.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from unseen import validate
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


def _num(row: dict[str, str], key: str, where: str, **limits: float | bool) -> float | None:
    text = row.get(key, "")
    if text == "":
        return None
    return validate.number(text, f"{where}: {key}", error=ConfigError, **limits)  # type: ignore[arg-type]


def load_registry(path: str | Path) -> list[Assignment]:
    """Read a registry CSV; errors name the file, line and column."""
    path = Path(path)
    text = validate.read_text(path, "registry", ConfigError)
    _, rows = validate.csv_rows(text, str(path), required=REQUIRED, error=ConfigError)
    out = []
    for i, row in rows:
        where = f"{path}:{i}"
        for a, b in (("lat", "lat_deg"), ("lon", "lon_deg")):
            if row.get(a) and row.get(b):
                raise ConfigError(f"{where}: give {a} or {b}, not both")
            row.setdefault(a, row.get(b, ""))
            if not row[a]:
                row[a] = row.get(b, "")
        name = row.get("name") or ""
        if not name:
            raise ConfigError(f"{where}: name is empty")
        f = _num(row, "freq_hz", where, lo=0, lo_open=True)
        bw = _num(row, "bandwidth_hz", where, lo=0, lo_open=True)
        if f is None or bw is None:
            raise ConfigError(f"{where}: freq_hz and bandwidth_hz are required")
        lat = _num(row, "lat", where, lo=-90, hi=90)
        lon = _num(row, "lon", where, lo=-180, hi=360)
        if (lat is None) != (lon is None):
            raise ConfigError(f"{where}: give both lat and lon or neither")
        erp = _num(row, "erp_w", where, lo=0, lo_open=True)
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
