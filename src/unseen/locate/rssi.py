"""Signal-strength start: log-distance path loss p = P0 − 10 n log10 r with P0 (and n) unknown.

For a candidate position the model is linear in (P0[, n]), so the start is a grid search over the
area around the stations, each cell scored by its weighted least-squares χ² with (P0, n) profiled
out in closed form.
"""

from __future__ import annotations

import numpy as np


def linear_nuisance(
    r_m: np.ndarray, p_dbm: np.ndarray, sig_db: np.ndarray, w: np.ndarray, n_fixed, est_n: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best (P0, n) and χ² for ranges r (..., nr): WLS on p = P0 − 10 n log10 r."""
    lg = np.log10(np.maximum(r_m, 1.0))
    wt = w / sig_db**2
    if not est_n:
        n = np.broadcast_to(np.asarray(n_fixed, dtype=float), lg.shape[:-1])
        y = p_dbm + 10.0 * n[..., None] * lg
        p0 = np.sum(wt * y, -1) / np.maximum(np.sum(wt, -1), 1e-300)
        chi2 = np.sum(wt * (y - p0[..., None]) ** 2, -1)
        return p0, n, chi2
    x = -10.0 * lg
    sw, sx, sxx = np.sum(wt, -1), np.sum(wt * x, -1), np.sum(wt * x * x, -1)
    sy, sxy = np.sum(wt * p_dbm, -1), np.sum(wt * x * p_dbm, -1)
    det = sw * sxx - sx * sx
    det = np.where(np.abs(det) < 1e-12, np.nan, det)
    n = (sw * sxy - sx * sy) / det
    p0 = (sy - n * sx) / sw
    n = np.clip(np.nan_to_num(n, nan=2.0), 1.0, 6.0)
    p0 = (sy - n * sx) / sw
    chi2 = np.sum(wt * (p_dbm - p0[..., None] - n[..., None] * x) ** 2, -1)
    return p0, n, chi2


def grid_start(
    sta_en: np.ndarray,
    p_dbm: np.ndarray,
    sig_db: np.ndarray,
    w: np.ndarray,
    n_fixed: np.ndarray,
    est_n: bool,
    cells: int = 48,
) -> np.ndarray:
    """Best cell (G, 2) of a cells × cells grid over the stations' area (tangent-plane metres)."""
    lo = np.min(np.where(w[..., None] > 0, sta_en, np.inf), axis=1)
    hi = np.max(np.where(w[..., None] > 0, sta_en, -np.inf), axis=1)
    pad = np.maximum(0.5 * (hi - lo).max(axis=1, keepdims=True), 500.0)
    t = np.linspace(0.0, 1.0, cells)
    ax = (lo - pad)[:, None, :] + (hi - lo + 2 * pad)[:, None, :] * t[None, :, None]
    ge, gn = ax[:, :, None, 0], ax[:, None, :, 1]
    e = np.broadcast_to(ge, (ge.shape[0], cells, cells)).reshape(-1, cells * cells)
    n = np.broadcast_to(gn, (gn.shape[0], cells, cells)).reshape(-1, cells * cells)
    r = np.hypot(e[..., None] - sta_en[:, None, :, 0], n[..., None] - sta_en[:, None, :, 1])
    _, _, chi2 = linear_nuisance(
        r, p_dbm[:, None], sig_db[:, None], w[:, None], n_fixed[:, None], est_n
    )
    best = np.argmin(chi2, axis=1)
    g = np.arange(len(best))
    return np.stack([e[g, best], n[g, best]], axis=-1)
