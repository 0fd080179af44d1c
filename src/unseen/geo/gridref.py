"""Grid references for field teams: UTM (pyproj) and MGRS (the `mgrs` package), WGS84 in."""

from __future__ import annotations

import functools

from unseen.errors import InputError


@functools.cache
def _utm_transformer(zone: int, south: bool):
    from pyproj import Transformer

    epsg = (32700 if south else 32600) + zone
    return Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)


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


def utm(lat_deg: float, lon_deg: float) -> str:
    """'30U 571761 E 5388929 N': zone, latitude band, easting and northing in metres (WGS84)."""
    if not -80.0 <= lat_deg <= 84.0:
        raise InputError(f"UTM covers latitudes -80..84, got {lat_deg}")
    zone = utm_zone(lat_deg, lon_deg)
    e, n = _utm_transformer(zone, lat_deg < 0).transform(lon_deg, lat_deg)
    band = "CDEFGHJKLMNPQRSTUVWXX"[int((lat_deg + 80.0) // 8.0)]
    return f"{zone}{band} {e:.0f} E {n:.0f} N"


def mgrs(lat_deg: float, lon_deg: float, digits: int = 5) -> str:
    """'30U WU 71761 88929': MGRS to 10^(5-digits) m (digits=5: 1 m), grouped for reading."""
    import mgrs as _mgrs

    if not -80.0 <= lat_deg <= 84.0:
        raise InputError(f"MGRS (UTM part) covers latitudes -80..84, got {lat_deg}")
    ref = _mgrs.MGRS().toMGRS(lat_deg, lon_deg, MGRSPrecision=digits)
    ref = ref.decode() if isinstance(ref, bytes) else ref
    head, sq, num = ref[: -2 * digits - 2], ref[-2 * digits - 2 : -2 * digits], ref[-2 * digits :]
    return f"{head} {sq} {num[:digits]} {num[digits:]}"
