"""Posterior Cramér–Rao bound of filtering (Tichavský, Muravchik & Nehorai 1998).

With linear Gaussian motion x⁺ = F x + w, w ~ N(0, Q) (Q full rank) the information recursion is
J_{k+1} = (Q + F J_k⁻¹ Fᵀ)⁻¹ + E[H_{k+1}ᵀ R⁻¹ H_{k+1}], the expectation over the true states; the
bound on the error covariance of any estimator at step k is J_k⁻¹.
"""

from __future__ import annotations

import numpy as np


def pcrb(F: np.ndarray, Q: np.ndarray, J0: np.ndarray, infos: np.ndarray) -> np.ndarray:
    """Bounds J_k⁻¹ (K + 1, n, n) from the prior information J0 and measurement infos (K, n, n)."""
    out = [np.linalg.inv(J0)]
    for Jz in infos:
        J = np.linalg.inv(Q + F @ out[-1] @ F.T) + Jz
        out.append(np.linalg.inv(J))
    return np.stack(out)


def bearing_information(
    states: np.ndarray, stations: dict[str, np.ndarray], sigma_rad: float
) -> np.ndarray:
    """Σ over stations of Hᵀ H / σ² (T, 4, 4) for bearings β = atan2(Δe, Δn) of true `states`
    (T, 4); a station is (2,) fixed or (T, 2) moving, east/north metres."""
    T = states.shape[0]
    out = np.zeros((T, 4, 4))
    for pos in stations.values():
        p = np.broadcast_to(np.asarray(pos, dtype=float), (T, 2))
        de, dn = states[:, 0] - p[:, 0], states[:, 1] - p[:, 1]
        r2 = de * de + dn * dn
        g = np.stack([dn / r2, -de / r2], axis=1)
        out[:, :2, :2] += np.einsum("ti,tj->tij", g, g) / sigma_rad**2
    return out
