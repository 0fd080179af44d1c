"""The hunt as GeoJSON (RFC 7946): one FeatureCollection, every feature with `properties.role`.

Roles: station, route, bearing, fix, ellipse95, ellipse50 (final fix only), naive-fix, heatmap,
outline, truth. Fixes also carry `utm` and `mgrs` (`unseen.geo.gridref`; absent beyond UTM's
-80..84° latitudes). Coordinates are [lon, lat] (GeoJSON order). Bearing rays run from the station
along the bearing's geodesic for `ray_length`; ellipses are 180-point polygons of the
confidence ellipses of the fix's covariance.
"""

from __future__ import annotations

import math

import numpy as np

from unseen.geo import enu2geodetic, forward
from unseen.geo.gridref import grid_refs
from unseen.report.model import HuntResult
from unseen.types import Ellipse, Fix

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def station_colors(result: HuntResult) -> dict[str, str]:
    """A colour per station id, stable in the result's station order."""
    return {s.id: PALETTE[i % len(PALETTE)] for i, s in enumerate(result.stations)}


def ellipse_ring(lat_deg: float, lon_deg: float, e: Ellipse, n: int = 180) -> list[list[float]]:
    """Closed [lon, lat] ring of ellipse `e` centred at (lat, lon): semi-axes in metres, major
    axis `orientation_deg` clockwise from north."""
    t = np.linspace(0.0, 2 * np.pi, n + 1)
    a, b, th = e.semi_major_m, e.semi_minor_m, math.radians(e.orientation_deg)
    along, across = a * np.cos(t), b * np.sin(t)
    east = along * math.sin(th) + across * math.cos(th)
    north = along * math.cos(th) - across * math.sin(th)
    enu = np.stack([east, north, np.zeros_like(east)], axis=1)
    lat, lon, _ = enu2geodetic(enu, lat_deg, lon_deg)
    ring = [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lon, lat, strict=True)]
    ring[-1] = ring[0]
    return ring


def ray_length_m(result: HuntResult) -> float:
    """Rays long enough to cross the whole map area."""
    s, w, n, e = result.area
    lat0 = math.radians((s + n) / 2)
    return 1.2 * math.hypot((n - s) * 111_200, (e - w) * 111_200 * math.cos(lat0))


def ray_length(result: HuntResult, b) -> float:
    """How far to draw a bearing ray: 1.6 × the distance to the final fix (at least 150 m), or
    across the whole area when there is no fix."""
    from unseen.geo import distance

    full = ray_length_m(result)
    f = result.final
    if f is None:
        return full
    d = float(distance(b.site.lat_deg, b.site.lon_deg, f.lat_deg, f.lon_deg))
    return float(min(max(1.6 * d, 150.0), full))


def _feature(geom: dict, **props) -> dict:
    return {"type": "Feature", "geometry": geom, "properties": props}


def _fix_props(f: Fix, final: bool, group: str) -> dict:
    return {
        "group": group,
        "time_s": f.time_s,
        "lat_deg": f.lat_deg,
        "lon_deg": f.lon_deg,
        **grid_refs(f.lat_deg, f.lon_deg),
        "method": f.method,
        "n_used": f.n_used,
        "rejected": list(f.rejected),
        "cep50_m": f.cep50_m,
        "semi_major_95_m": f.ellipse95.semi_major_m,
        "semi_minor_95_m": f.ellipse95.semi_minor_m,
        "orientation_95_deg": f.ellipse95.orientation_deg,
        "final": final,
    }


def to_geojson(result: HuntResult, *, heatmap_cells: int = 48) -> dict:
    """The hunt as a GeoJSON FeatureCollection (see the module docstring for the roles)."""
    colors = station_colors(result)
    names = {s.id: s.name for s in result.stations}
    feats: list[dict] = []
    for name, pts in result.outlines:
        feats.append(
            _feature(
                {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in pts]},
                role="outline",
                name=name,
            )
        )
    for st in result.stations:
        feats.append(
            _feature(
                {"type": "Point", "coordinates": [st.lon_deg[0], st.lat_deg[0]]},
                role="station",
                id=st.id,
                name=st.name,
                mobile=st.mobile,
                color=colors[st.id],
                rejected=st.id in result.rejected,
                reason=result.rejected.get(st.id, ""),
            )
        )
        if st.mobile and len(st.times_s) > 1:
            feats.append(
                _feature(
                    {
                        "type": "LineString",
                        "coordinates": [
                            [lo, la] for la, lo in zip(st.lat_deg, st.lon_deg, strict=True)
                        ],
                    },
                    role="route",
                    id=st.id,
                    name=st.name,
                    color=colors[st.id],
                    times_s=list(st.times_s),
                    heading_deg=list(st.heading_deg),
                )
            )
    for b in result.bearings:
        lat2, lon2, _ = forward(
            b.site.lat_deg, b.site.lon_deg, b.azimuth_deg, ray_length(result, b)
        )
        feats.append(
            _feature(
                {
                    "type": "LineString",
                    "coordinates": [
                        [b.site.lon_deg, b.site.lat_deg],
                        [round(float(lon2), 7), round(float(lat2), 7)],
                    ],
                },
                role="bearing",
                station=b.site.station,
                station_name=names.get(b.site.station, b.site.station),
                azimuth_deg=b.azimuth_deg,
                sigma_deg=b.sigma_deg,
                time_s=b.time_s,
                freq_hz=b.freq_hz,
                color=colors.get(b.site.station, PALETTE[0]),
                rejected=b.site.station in result.rejected,
            )
        )
    n = len(result.fixes)
    for i, f in enumerate(result.fixes):
        final = i == n - 1
        feats.append(_ellipse_feature(f, f.ellipse95, "ellipse95", i, final))
        if final:
            feats.append(_ellipse_feature(f, f.ellipse50, "ellipse50", i, True))
        feats.append(
            _feature(
                {"type": "Point", "coordinates": [f.lon_deg, f.lat_deg]},
                role="fix",
                index=i,
                **_fix_props(f, final, result.group),
            )
        )
    if result.naive_fix is not None:
        feats.append(
            _feature(
                {
                    "type": "Point",
                    "coordinates": [result.naive_fix.lon_deg, result.naive_fix.lat_deg],
                },
                role="naive-fix",
                **_fix_props(result.naive_fix, False, result.group),
            )
        )
    if result.heatmap is not None:
        feats.extend(_heatmap_features(result, heatmap_cells))
    if result.truth is not None:
        feats.append(
            _feature(
                {"type": "Point", "coordinates": [result.truth.lon_deg, result.truth.lat_deg]},
                role="truth",
                name=result.truth.name,
            )
        )
    return {"type": "FeatureCollection", "features": feats}


def _heatmap_features(result: HuntResult, cells: int) -> list[dict]:
    """Grid cells (polygons) where the likelihood exceeds 1 % of its peak, coarsened to `cells`."""
    hm = result.heatmap
    assert hm is not None
    lat, lon, L = np.asarray(hm.lat_deg), np.asarray(hm.lon_deg), np.asarray(hm.likelihood)
    si, sj = max(1, math.ceil(lat.size / cells)), max(1, math.ceil(lon.size / cells))
    out = []
    dlat = (lat[-1] - lat[0]) / max(lat.size - 1, 1) * si
    dlon = (lon[-1] - lon[0]) / max(lon.size - 1, 1) * sj
    peak = float(L.max()) if L.size else 0.0
    for i in range(0, lat.size, si):
        for j in range(0, lon.size, sj):
            v = float(L[i : i + si, j : j + sj].max())
            if peak <= 0 or v < 0.01 * peak:
                continue
            la, lo = float(lat[i : i + si].mean()), float(lon[j : j + sj].mean())
            ring = [
                [lo - dlon / 2, la - dlat / 2],
                [lo + dlon / 2, la - dlat / 2],
                [lo + dlon / 2, la + dlat / 2],
                [lo - dlon / 2, la + dlat / 2],
                [lo - dlon / 2, la - dlat / 2],
            ]
            out.append(
                _feature(
                    {
                        "type": "Polygon",
                        "coordinates": [[[round(x, 7), round(y, 7)] for x, y in ring]],
                    },
                    role="heatmap",
                    likelihood=round(v / peak, 4),
                )
            )
    return out


def _ellipse_feature(f, ell, role: str, index: int, final: bool) -> dict:
    """A fix's ellipse (`ell`: its 50 % or 95 % one) as a GeoJSON polygon feature."""
    return _feature(
        {"type": "Polygon", "coordinates": [ellipse_ring(f.lat_deg, f.lon_deg, ell)]},
        role=role,
        time_s=f.time_s,
        index=index,
        final=final,
        semi_major_m=ell.semi_major_m,
        semi_minor_m=ell.semi_minor_m,
        orientation_deg=ell.orientation_deg,
    )
