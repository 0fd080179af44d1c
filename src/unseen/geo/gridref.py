"""Grid references for field teams, WGS84 in: UTM from pyproj (EPSG 326zz/327zz) and MGRS
lettering from the `mgrs` package (NGA GeoTrans); the one implementation every output uses."""

from __future__ import annotations

import functools
import math

from unseen.errors import InputError

BANDS = "CDEFGHJKLMNPQRSTUVWXX"  # 8° latitude bands from 80° S; X spans 72..84° N


@functools.cache
def _utm_transformer(zone: int, south: bool):
    from pyproj import Transformer

    epsg = (32700 if south else 32600) + zone
    return Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)


def covered(lat_deg: float) -> bool:
    """True where UTM and MGRS are defined (latitudes −80..84; UPS beyond)."""
    return -80.0 <= lat_deg <= 84.0


def _check(lat_deg: float) -> None:
    if not covered(lat_deg):
        raise InputError(f"UTM and MGRS cover latitudes -80..84, got {lat_deg}")


def utm_zone(lat_deg: float, lon_deg: float) -> int:
    """UTM zone number 1..60, with the Norway (32V) and Svalbard (31X-37X) exceptions."""
    zone = int((lon_deg + 180.0) // 6.0) % 60 + 1
    if 56.0 <= lat_deg < 64.0 and 3.0 <= lon_deg < 12.0:
        zone = 32
    elif 72.0 <= lat_deg < 84.0 and lon_deg >= 0.0:
        for z, lo, hi in ((31, 0.0, 9.0), (33, 9.0, 21.0), (35, 21.0, 33.0), (37, 33.0, 42.0)):
            if lo <= lon_deg < hi:
                zone = z
    return zone


def utm_coords(lat_deg: float, lon_deg: float) -> tuple[int, str, float, float]:
    """(zone, latitude band letter, easting_m, northing_m); northing from the equator (north) or
    10 000 km below it (south)."""
    _check(lat_deg)
    zone = utm_zone(lat_deg, lon_deg)
    e, n = _utm_transformer(zone, lat_deg < 0).transform(lon_deg, lat_deg)
    return zone, BANDS[int((lat_deg + 80.0) // 8.0)], float(e), float(n)


def utm(lat_deg: float, lon_deg: float) -> str:
    """'30U 571761 E 5388929 N': zone, latitude band, easting and northing in metres (WGS84),
    truncated to the metre as MGRS truncates, so both name the same 1 m square."""
    zone, band, e, n = utm_coords(lat_deg, lon_deg)
    return f"{zone}{band} {math.floor(e)} E {math.floor(n)} N"


def mgrs(lat_deg: float, lon_deg: float, digits: int = 5) -> str:
    """'30U WU 71761 88929': MGRS to 10^(5-digits) m (digits=5: 1 m), grouped for reading."""
    import mgrs as _mgrs

    _check(lat_deg)
    ref = _mgrs.MGRS().toMGRS(lat_deg, lon_deg, MGRSPrecision=digits)
    ref = ref.decode() if isinstance(ref, bytes) else ref
    head, sq, num = ref[: -2 * digits - 2], ref[-2 * digits - 2 : -2 * digits], ref[-2 * digits :]
    return f"{head} {sq} {num[:digits]} {num[digits:]}"


def grid_refs(lat_deg: float, lon_deg: float) -> dict[str, str]:
    """{"utm": ..., "mgrs": ...} for output records; {} outside UTM's latitudes (polar UPS)."""
    if not covered(lat_deg):
        return {}
    return {"utm": utm(lat_deg, lon_deg), "mgrs": mgrs(lat_deg, lon_deg)}
