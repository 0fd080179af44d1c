"""Geodesy: WGS84 frames (PROJ), geodesics (pyproj/geographiclib), magnetic declination
(World Magnetic Model via pygeomag) and uncertainty (covariance → ellipse, CEP)."""

from unseen.geo.frames import (
    check_latlon,
    ecef2geodetic,
    enu2geodetic,
    enu_basis,
    geodetic2ecef,
    geodetic2enu,
)
from unseen.geo.geodesic import arc_m, azimuth, distance, forward, inverse, wrap180
from unseen.geo.magnetic import decimal_year, declination_deg, magnetic_to_true
from unseen.geo.uncertainty import cep, chi2_2, ellipse, ellipse_params

__all__ = [
    "arc_m",
    "azimuth",
    "cep",
    "check_latlon",
    "chi2_2",
    "decimal_year",
    "declination_deg",
    "distance",
    "ecef2geodetic",
    "ellipse",
    "ellipse_params",
    "enu2geodetic",
    "enu_basis",
    "forward",
    "geodetic2ecef",
    "geodetic2enu",
    "inverse",
    "magnetic_to_true",
    "wrap180",
]
