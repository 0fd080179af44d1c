"""Bearings-only start: least-squares intersection of the lines of bearing (closed form).

In the tangent plane at the stations' centroid each bearing is a line through station s_i with
unit direction d_i and normal n_i; x = argmin Σ w_i (n_iᵀ(x − s_i))², i.e.
(Σ w_i n_i n_iᵀ) x = Σ w_i n_i n_iᵀ s_i, first with w_i = 1/σ_i², then with w_i = 1/(σ_i r_i)²
(ranges from the first pass), the pseudo-linear weighting that approaches the ML weights.
"""

from __future__ import annotations

import numpy as np

from unseen.geo.frames import ecef2geodetic, enu2geodetic, enu_basis, geodetic2ecef


def centroid_frame(sta_ecef: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Tangent frame at the weighted centroid of stations (G, n, 3): lat, lon, origin, basis."""
    c = np.einsum("gn,gnj->gj", w, sta_ecef) / np.maximum(w.sum(1), 1e-300)[:, None]
    lat, lon, _ = ecef2geodetic(c)
    origin = geodetic2ecef(lat, lon, 0.0)
    return lat, lon, origin, enu_basis(lat, lon)


def intersect(
    sta_ecef: np.ndarray,
    rot: np.ndarray,
    az_rad: np.ndarray,
    sig_rad: np.ndarray,
    w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares intersection of G sets of bearing lines.

    Returns (lat, lon, ahead, cond): the point, the signed distance of the point along each ray
    (negative: behind the station), and the condition number of the normal matrix (∞: parallel).
    """
    lat0, lon0, origin, C = centroid_frame(sta_ecef, w)
    s = np.einsum("gij,gnj->gni", C[:, :2], sta_ecef - origin[:, None, :])
    dir_ecef = np.sin(az_rad)[..., None] * rot[:, :, 0] + np.cos(az_rad)[..., None] * rot[:, :, 1]
    d = np.einsum("gij,gnj->gni", C[:, :2], dir_ecef)
    d /= np.maximum(np.linalg.norm(d, axis=-1), 1e-300)[..., None]
    nrm = np.stack([d[..., 1], -d[..., 0]], axis=-1)
    wt = w / sig_rad**2
    x = None
    for _ in range(2):
        NN = nrm[..., :, None] * nrm[..., None, :]
        A = np.einsum("gn,gnij->gij", wt, NN)
        rhs = np.einsum("gn,gnij,gnj->gi", wt, NN, s)
        with np.errstate(all="ignore"):
            ev = np.linalg.eigvalsh(A)
            cond = ev[:, 1] / np.maximum(ev[:, 0], 1e-300 * ev[:, 1])
        good = np.isfinite(cond) & (cond < 1e10)
        A[~good] = np.eye(2)
        x = np.linalg.solve(A, rhs[..., None])[..., 0]
        r = np.linalg.norm(x[:, None, :] - s, axis=-1)
        scale = np.maximum(np.median(np.where(w > 0, r, np.inf), axis=1), 1.0)
        wt = w / (sig_rad**2 * np.maximum(r, 1e-3 * scale[:, None]) ** 2)
        cond = np.where(good, cond, np.inf)
    ahead = np.einsum("gni,gni->gn", x[:, None, :] - s, d)
    enu = np.concatenate([x, np.zeros((x.shape[0], 1))], axis=1)
    lat, lon, _ = enu2geodetic(enu, lat0, lon0, 0.0)
    return lat, lon, ahead, cond
