"""A WGS84 position as field teams write it: UTM (pyproj) and MGRS (the `mgrs` package)."""

from __future__ import annotations

import math


def utm_zone(lat_deg: float, lon_deg: float) -> tuple[int, str]:
    """(zone number, hemisphere "N"/"S"), with the Norway and Svalbard exceptions."""
    zone = math.floor((lon_deg + 180.0) / 6.0) % 60 + 1
    if 56 <= lat_deg < 64 and 3 <= lon_deg < 12:
        zone = 32
    elif 72 <= lat_deg < 84 and lon_deg >= 0:
        zone = {0: 31, 1: 33, 2: 33, 3: 35, 4: 35, 5: 37, 6: 37}.get(int(lon_deg // 6), zone)
    return zone, "N" if lat_deg >= 0 else "S"


def to_utm(lat_deg: float, lon_deg: float) -> tuple[int, str, float, float]:
    """(zone, hemisphere, easting_m, northing_m) on WGS84 (EPSG 326zz / 327zz)."""
    from pyproj import Transformer

    zone, hemi = utm_zone(lat_deg, lon_deg)
    epsg = (32600 if hemi == "N" else 32700) + zone
    e, n = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon_deg, lat_deg)
    return zone, hemi, float(e), float(n)


def utm_text(lat_deg: float, lon_deg: float) -> str:
    """e.g. "30N 500123 5387654" (metre precision)."""
    zone, hemi, e, n = to_utm(lat_deg, lon_deg)
    return f"{zone}{hemi} {e:.0f} {n:.0f}"


def mgrs_text(lat_deg: float, lon_deg: float, digits: int = 5) -> str:
    """MGRS reference at 10^(5 - digits) m, grouped: e.g. "30U WU 12345 67890"."""
    import mgrs

    ref = mgrs.MGRS().toMGRS(lat_deg, lon_deg, MGRSPrecision=digits)
    if isinstance(ref, bytes):
        ref = ref.decode("ascii")
    head, digs = ref[: -2 * digits], ref[len(ref) - 2 * digits :]
    return f"{head[:-2]} {head[-2:]} {digs[:digits]} {digs[digits:]}".strip()
