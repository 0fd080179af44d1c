"""Geodesics on the WGS84 ellipsoid (pyproj.Geod, i.e. Karney's algorithms, on whole arrays).

A bearing is the initial azimuth of the geodesic from the station to the transmitter, degrees
clockwise from true north in [0, 360).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyproj

from unseen.geo.frames import ArrayLike, check_latlon


@cache
def _geod() -> pyproj.Geod:
    return pyproj.Geod(ellps="WGS84")


def inverse(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geodesic inverse problem: (initial azimuth at 1, forward azimuth at 2, distance in m).

    Azimuths are degrees clockwise from true north in [0, 360); the forward azimuth at point 2 is
    the direction of travel on arrival (back azimuth + 180°).
    """
    lat1, lon1, lat2, lon2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lat1_deg, lon1_deg, lat2_deg, lon2_deg))
    )
    check_latlon(lat1, lon1, "geodesic start")
    check_latlon(lat2, lon2, "geodesic end")
    az12, az21, dist = _geod().inv(lon1, lat1, lon2, lat2)
    az12 = np.mod(np.asarray(az12, dtype=float), 360.0)
    az2 = np.mod(np.asarray(az21, dtype=float) + 180.0, 360.0)
    return az12, az2, np.asarray(dist, dtype=float)


def forward(
    lat_deg: ArrayLike, lon_deg: ArrayLike, azimuth_deg: ArrayLike, distance_m: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geodesic direct problem: end (lat, lon) and forward azimuth there after `distance_m`.

    The forward azimuth is the direction of travel on arrival (pyproj's back azimuth + 180°).
    """
    lat, lon, az, dist = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lat_deg, lon_deg, azimuth_deg, distance_m))
    )
    check_latlon(lat, lon, "geodesic start")
    lon2, lat2, az21 = _geod().fwd(lon, lat, az, dist)
    return (
        np.asarray(lat2, dtype=float),
        np.asarray(lon2, dtype=float),
        np.mod(np.asarray(az21, dtype=float) + 180.0, 360.0),
    )


def azimuth(lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike):
    """Initial geodesic azimuth from point 1 to point 2, degrees in [0, 360)."""
    return inverse(lat1_deg, lon1_deg, lat2_deg, lon2_deg)[0]


def distance(lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike):
    """Geodesic distance in metres."""
    return inverse(lat1_deg, lon1_deg, lat2_deg, lon2_deg)[2]


MEAN_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius


def arc_m(chord_m: ArrayLike) -> np.ndarray:
    """Surface distance (m) of a chord on the mean sphere, 2R·asin(c/2R) (within 0.5 % of WGS84)."""
    c = np.asarray(chord_m, dtype=float)
    return 2.0 * MEAN_RADIUS_M * np.arcsin(np.clip(c / (2.0 * MEAN_RADIUS_M), 0.0, 1.0))


def wrap180(angle_deg: ArrayLike) -> np.ndarray:
    """Wrap an angle difference in degrees to [-180, 180)."""
    return np.mod(np.asarray(angle_deg, dtype=float) + 180.0, 360.0) - 180.0
