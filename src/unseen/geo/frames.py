"""WGS84 frames: geodetic (lat, lon in degrees, alt in metres) ↔ ECEF ↔ local east-north-up.

Thin, array-friendly wrappers over pymap3d (WGS84 ellipsoid) that validate their input: latitude
in [-90, 90], longitude in [-180, 180], all finite.
"""

from __future__ import annotations

import numpy as np
import pymap3d

from unseen.errors import InputError

ArrayLike = np.ndarray | float


def check_latlon(lat_deg: ArrayLike, lon_deg: ArrayLike, what: str = "position") -> None:
    """Raise InputError unless every latitude is in [-90, 90] and longitude in [-180, 180]."""
    lat = np.asarray(lat_deg, dtype=float)
    lon = np.asarray(lon_deg, dtype=float)
    bad_lat = ~(np.isfinite(lat) & (np.abs(lat) <= 90.0))
    if np.any(bad_lat):
        v = lat[bad_lat].flat[0] if lat.ndim else float(lat)
        raise InputError(f"{what}: latitude must be a finite number in [-90, 90] degrees, got {v}")
    bad_lon = ~(np.isfinite(lon) & (np.abs(lon) <= 180.0))
    if np.any(bad_lon):
        v = lon[bad_lon].flat[0] if lon.ndim else float(lon)
        raise InputError(
            f"{what}: longitude must be a finite number in [-180, 180] degrees, got {v}"
        )


def geodetic2ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike = 0.0) -> np.ndarray:
    """WGS84 geodetic → ECEF metres, shape (..., 3)."""
    lat, lon, alt = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lat_deg, lon_deg, alt_m))
    )
    return np.stack(pymap3d.geodetic2ecef(lat, lon, alt), axis=-1)


def ecef2geodetic(xyz_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF metres (..., 3) → WGS84 (lat_deg, lon_deg, alt_m)."""
    xyz = np.asarray(xyz_m, dtype=float)
    lat, lon, alt = pymap3d.ecef2geodetic(xyz[..., 0], xyz[..., 1], xyz[..., 2])
    return np.asarray(lat), np.asarray(lon), np.asarray(alt)


def geodetic2enu(
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    alt_m: ArrayLike,
    lat0_deg: ArrayLike,
    lon0_deg: ArrayLike,
    alt0_m: ArrayLike = 0.0,
) -> np.ndarray:
    """WGS84 point(s) → east, north, up metres (..., 3) in the frame at (lat0, lon0, alt0)."""
    e, n, u = pymap3d.geodetic2enu(lat_deg, lon_deg, alt_m, lat0_deg, lon0_deg, alt0_m)
    return np.stack(np.broadcast_arrays(e, n, u), axis=-1).astype(float)


def enu2geodetic(
    enu_m: np.ndarray, lat0_deg: ArrayLike, lon0_deg: ArrayLike, alt0_m: ArrayLike = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """East, north, up metres (..., 3) in the frame at (lat0, lon0, alt0) → (lat, lon, alt)."""
    enu = np.asarray(enu_m, dtype=float)
    lat, lon, alt = pymap3d.enu2geodetic(
        enu[..., 0], enu[..., 1], enu[..., 2], lat0_deg, lon0_deg, alt0_m
    )
    return np.asarray(lat), np.asarray(lon), np.asarray(alt)


def enu_basis(lat_deg: ArrayLike, lon_deg: ArrayLike) -> np.ndarray:
    """Rows east, north, up of the local frame as ECEF unit vectors, shape (..., 3, 3).

    `enu_basis(lat, lon) @ d_ecef` gives a vector's east, north, up components.
    """
    lat = np.asarray(lat_deg, dtype=float)
    lon = np.asarray(lon_deg, dtype=float)
    lat, lon = np.broadcast_arrays(lat, lon)
    one, zero = np.ones_like(lat), np.zeros_like(lat)
    rows = [
        np.stack(pymap3d.enu2uvw(*v, lat, lon), axis=-1)
        for v in ((one, zero, zero), (zero, one, zero), (zero, zero, one))
    ]
    return np.stack(rows, axis=-2)
