"""Cramér–Rao bounds for localization and maps of them for planning station sites.

With residuals normalised by their sigmas the Fisher information is F = JᵀJ, J the Jacobian of the
models at the true position (bearing rows (cos β, −sin β)/(σ r) in a flat neighbourhood, TDOA rows
(u_a − u_b)ᵀ/(c σ), RSSI rows −10 n/(ln 10 · σ r) uᵀ plus the nuisance columns); the bound on the
position is the position block of F⁻¹ (nuisance parameters — transmit power, path-loss exponent —
marginalised). Measured values in the observations are ignored: only stations and sigmas count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from unseen.errors import GeometryError
from unseen.geo.frames import check_latlon
from unseen.locate.model import State, evaluate, position_cov
from unseen.locate.prepare import DEFAULT_PATH_LOSS_EXPONENT, prepare, stack
from unseen.types import Observation


def _info(observations, lat, lon, alt_m, dims, path_loss_exponent):
    pr = prepare(observations, dims=dims, alt_m=alt_m)
    batch = stack([pr])
    G = lat.size
    big = batch.take(np.zeros(G, dtype=int))
    nr = batch.counts[2]
    q = (nr > 0) + (nr > 0 and batch.est_n)
    nuis = np.zeros((G, q))
    if batch.est_n:
        nuis[:, 1] = path_loss_exponent
        big.r_n[:] = path_loss_exponent
    alt = np.full(G, pr.alt if alt_m is None else float(alt_m))
    big.alt = alt
    _, J = evaluate(big, State(lat, lon, alt, nuis))
    return np.einsum("gmi,gmj->gij", J, J), dims


def crb(
    observations: Sequence[Observation],
    lat_deg: float,
    lon_deg: float,
    alt_m: float | None = None,
    *,
    dims: int = 2,
    path_loss_exponent: float = DEFAULT_PATH_LOSS_EXPONENT,
) -> np.ndarray:
    """CRB covariance (dims × dims, ENU m²) of a transmitter at (lat, lon, alt) seen this way.

    `path_loss_exponent` is the true exponent where the observations leave it to be estimated.
    Raises GeometryError when the Fisher information is singular (no unbiased estimator exists).
    """
    check_latlon(lat_deg, lon_deg, "transmitter")
    info, dims = _info(
        observations,
        np.array([float(lat_deg)]),
        np.array([float(lon_deg)]),
        alt_m,
        dims,
        path_loss_exponent,
    )
    cov, bad = position_cov(info, dims)
    if bad[0]:
        raise GeometryError("degenerate geometry: the Fisher information is singular")
    return cov[0]


def crb_map(
    observations: Sequence[Observation],
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    alt_m: float | None = None,
    *,
    path_loss_exponent: float = DEFAULT_PATH_LOSS_EXPONENT,
) -> np.ndarray:
    """RMSE bound sqrt(tr CRB) in metres for a transmitter at each grid cell, (len(lat), len(lon)).

    Cells where the geometry is degenerate (e.g. on a baseline) are +inf. For one observation kind
    with equal sigmas this map divided by the range sigma (or σ·range) is the GDOP map.
    """
    lat = np.asarray(lat_deg, dtype=float).reshape(-1)
    lon = np.asarray(lon_deg, dtype=float).reshape(-1)
    check_latlon(lat, 0.0, "grid")
    check_latlon(0.0, lon, "grid")
    LA, LO = np.meshgrid(lat, lon, indexing="ij")
    info, dims = _info(observations, LA.ravel(), LO.ravel(), alt_m, 2, path_loss_exponent)
    cov, bad = position_cov(info, dims)
    rmse = np.sqrt(np.maximum(np.einsum("gii->g", cov), 0.0))
    return np.where(bad, np.inf, rmse).reshape(LA.shape)


def best_site(
    observations: Sequence[Observation],
    candidates: Sequence[Observation],
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    alt_m: float | None = None,
) -> tuple[int, np.ndarray]:
    """Which candidate observation (a new station) minimises the mean RMSE bound over the area.

    Returns the index of the best candidate and each candidate's mean bound in metres.
    """
    scores = []
    for c in candidates:
        m = crb_map([*observations, c], lat_deg, lon_deg, alt_m)
        scores.append(float(np.mean(m[np.isfinite(m)])) if np.isfinite(m).any() else np.inf)
    s = np.array(scores)
    return int(np.argmin(s)), s
