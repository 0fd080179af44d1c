"""Ground truth for tracking: moving transmitters, moving stations, exact geodesic bearings.

Trajectories are east/north metres in the frame at `origin`; bearings are the geodesic initial
azimuths (pyproj/Karney) from each station to the transmitter plus N(0, σ²) noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unseen.geo.frames import enu2geodetic
from unseen.geo.geodesic import inverse
from unseen.track.models import ncv
from unseen.types import Bearing, Site

ORIGIN = (48.6493, -2.0257, 0.0)  # Saint-Malo


@dataclass(frozen=True, eq=False)
class Truth:
    """States (T, 4) = east, north, v_east, v_north at `times_s` (T,)."""

    times_s: np.ndarray
    states: np.ndarray


def ncv_truth(rng: np.random.Generator, x0: np.ndarray, q: float, dt: float, n: int) -> Truth:
    """A nearly-constant-velocity trajectory drawn from the model itself (the PCRB's prior)."""
    F, Q = ncv(dt, q)
    L = np.linalg.cholesky(Q + 1e-12 * np.eye(4))
    xs = np.empty((n, 4))
    x = np.asarray(x0, dtype=float)
    for k in range(n):
        xs[k] = x
        x = F @ x + L @ rng.standard_normal(4)
    return Truth(np.arange(n) * dt, xs)


def route_truth(waypoints: Sequence[tuple[float, float, float]], dt: float) -> Truth:
    """Piecewise straight drive: waypoints (east m, north m, arrival time s); equal positions
    on consecutive waypoints are a stop."""
    w = np.asarray(waypoints, dtype=float)
    t = np.arange(w[0, 2], w[-1, 2] + 1e-9, dt)
    e = np.interp(t, w[:, 2], w[:, 0])
    n = np.interp(t, w[:, 2], w[:, 1])
    seg = np.clip(np.searchsorted(w[:, 2], t, side="right") - 1, 0, len(w) - 2)
    span = w[seg + 1, 2] - w[seg, 2]
    ve = (w[seg + 1, 0] - w[seg, 0]) / span
    vn = (w[seg + 1, 1] - w[seg, 1]) / span
    return Truth(t, np.stack([e, n, ve, vn], axis=1))


def geodetic(en: np.ndarray, origin=ORIGIN) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of east/north points (…, 2) in the frame at `origin`."""
    en = np.asarray(en, dtype=float)
    lat, lon, _ = enu2geodetic(
        np.concatenate([en, np.zeros((*en.shape[:-1], 1))], axis=-1), *origin
    )
    return lat, lon


def bearings(
    rng: np.random.Generator,
    truths: Sequence[Truth],
    stations: dict[str, np.ndarray],
    sigma_deg: float,
    *,
    freq_hz: float | None = None,
    origin=ORIGIN,
) -> list[Bearing]:
    """One bearing per station per transmitter per time; `stations[name]` is (2,) fixed or
    (T, 2) moving east/north metres."""
    out = []
    T = truths[0].times_s
    tx = [geodetic(tr.states[:, :2], origin) for tr in truths]
    for name, pos in stations.items():
        p = np.broadcast_to(np.asarray(pos, dtype=float), (len(T), 2))
        slat, slon = geodetic(p, origin)
        for lat, lon in tx:
            az, _, _ = inverse(slat, slon, lat, lon)
            az = np.mod(az + sigma_deg * rng.standard_normal(len(T)), 360.0)
            for k in range(len(T)):
                out.append(
                    Bearing(
                        Site(name, float(slat[k]), float(slon[k]), origin[2]),
                        float(az[k]),
                        sigma_deg,
                        float(T[k]),
                        freq_hz,
                    )
                )
    out.sort(key=lambda b: b.time_s)
    return out
