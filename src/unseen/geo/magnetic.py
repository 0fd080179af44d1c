"""Magnetic declination from the World Magnetic Model (pygeomag): compass bearings → true."""

from __future__ import annotations

import datetime as _dt
from functools import cache

import numpy as np

from unseen.errors import InputError


@cache
def _model():
    from pygeomag import GeoMag

    return GeoMag()


def decimal_year(when: _dt.datetime | _dt.date | None = None) -> float:
    """Decimal year of a date (default: today, UTC), as the World Magnetic Model expects."""
    d = when or _dt.datetime.now(_dt.UTC).date()
    start = _dt.date(d.year, 1, 1)
    days = (_dt.date(d.year + 1, 1, 1) - start).days
    day = d.date() if isinstance(d, _dt.datetime) else d
    return d.year + (day - start).days / days


def declination_deg(
    lat_deg: float, lon_deg: float, alt_m: float = 0.0, year: float | None = None
) -> float:
    """Magnetic declination D (degrees, east positive): true azimuth = magnetic azimuth + D."""
    y = decimal_year() if year is None else float(year)
    if not np.isfinite(y):
        raise InputError(f"year for the magnetic model must be finite, got {year!r}")
    try:
        res = _model().calculate(
            float(lat_deg),
            float(lon_deg),
            float(alt_m) / 1000.0,
            y,
            allow_date_outside_lifespan=True,
        )
    except Exception as exc:  # pygeomag raises plain Exception/ValueError subclasses
        raise InputError(f"magnetic model cannot evaluate year {y}: {exc}") from exc
    return float(res.d)


def magnetic_to_true(
    azimuth_deg: float,
    lat_deg: float,
    lon_deg: float,
    alt_m: float = 0.0,
    year: float | None = None,
) -> float:
    """Convert a magnetic (compass) azimuth to true north, degrees in [0, 360)."""
    return float(np.mod(azimuth_deg + declination_deg(lat_deg, lon_deg, alt_m, year), 360.0))
