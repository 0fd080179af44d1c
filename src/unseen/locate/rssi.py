"""Signal-strength start: log-distance path loss p = P0 − 10 n log10 r with P0 (and n) unknown.

For a candidate position the model is linear in (P0[, n]), so the start is a grid search over the
area around the stations, each cell scored by its weighted least-squares χ² with (P0, n) profiled
out in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# --- signal-strength fixes from the posterior on a grid (pure-RSS groups) -----------------------

CELLS = 48
MASS_FLOOR = 1e-7  # the fine grid covers every coarse cell holding more than this posterior mass


@dataclass(frozen=True)
class RssModel:
    """Noise model and priors of a signal-strength fix (documented in the README, locate section).

    p_i = P0 + g_i − 10 n log10 max(d_i, d0) + e_i,  e_i ~ N(0, τ (σ_i² + s²)),
    σ_i the row's `sigma_db`, s the shadowing (dB), τ ~ scaled-inverse-χ²(ν0, 1) so that s is a
    prior the residuals can widen or narrow (the likelihood becomes a Student-t); P0 flat; n
    uniform on `n_bounds`; d0 = `ref_m` the reference distance of the log-distance model (no
    singularity at d = 0: a receiver metres from the transmitter reads as one at d0); g_i the
    receiver's gain offset (0 uncalibrated: its spread is part of s).
    """

    shadowing_db: float = 9.0
    prior_dof: float = 4.0
    n_bounds: tuple[float, float] = (1.5, 5.0)
    ref_m: float = 10.0
    pad_m: float = 500.0
    source: str = "default"


def _frame(pr) -> tuple[float, float, np.ndarray]:
    from unseen.geo.frames import geodetic2enu

    lat0, lon0 = float(np.mean(pr.r[:, 0])), float(np.mean(pr.r[:, 1]))
    en = geodetic2enu(pr.r[:, 0], pr.r[:, 1], np.zeros(len(pr.r)), lat0, lon0, 0.0)[:, :2]
    return lat0, lon0, en


def log_posterior(
    xy: np.ndarray,
    sta: np.ndarray,
    p: np.ndarray,
    var: np.ndarray,
    model: RssModel,
    n_fixed: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """log p(x | data) up to a constant at positions xy (c, 2), P0 and n (and τ) integrated out.

    Also the conditional best n, P0 and the minimum weighted residual sum Q at each position.
    """
    from scipy.special import stdtr

    m = len(p)
    w = 1.0 / var
    x = 10.0 * np.log10(
        np.maximum(np.sqrt(np.sum((xy[:, None, :] - sta[None]) ** 2, -1)), model.ref_m)
    )
    sw = w.sum()
    xm = (x * w).sum(1) / sw
    pm = (p * w).sum() / sw
    dx = x - xm[:, None]
    a = (w * dx * dx).sum(1)
    k1 = 0.5 * (model.prior_dof + m - 1)
    if n_fixed is not None:
        n = np.full(len(xy), float(n_fixed))
        q = (w * (p - pm + n[:, None] * dx) ** 2).sum(1)
        return -k1 * np.log(model.prior_dof + q), n, pm + n * xm, q
    n = -(w * dx * (p - pm)).sum(1) / np.maximum(a, 1e-300)
    q = np.maximum((w * (p - pm + n[:, None] * dx) ** 2).sum(1), 0.0)
    c = model.prior_dof + q
    nu = 2 * k1 - 1
    s = np.sqrt(a * nu / c)
    lo, hi = model.n_bounds
    mass = stdtr(nu, (hi - n) * s) - stdtr(nu, (lo - n) * s)
    lp = (
        -(k1 - 0.5) * np.log(c)
        - 0.5 * np.log(np.maximum(a, 1e-300))
        + np.log(np.maximum(mass, 1e-300))
    )
    nb = np.clip(n, lo, hi)
    qb = (w * (p - pm + nb[:, None] * dx) ** 2).sum(1)
    return lp, nb, pm + nb * xm, qb


def _grid(lo: np.ndarray, hi: np.ndarray, cells: int) -> tuple[np.ndarray, float]:
    e = np.linspace(lo[0], hi[0], cells)
    n = np.linspace(lo[1], hi[1], cells)
    E, N = np.meshgrid(e, n, indexing="ij")
    return np.stack([E.ravel(), N.ravel()], -1), float((e[1] - e[0]) * (n[1] - n[0]))


def posterior(pr, model: RssModel) -> dict:
    """Posterior of one pure-RSS group on a coarse then a fine grid, in the stations' frame."""
    lat0, lon0, sta = _frame(pr)
    p = pr.r[:, 3]
    var = pr.r[:, 4] ** 2 + model.shadowing_db**2
    n_fixed = pr.ple if pr.ple is not None else None
    lo, hi = sta.min(0), sta.max(0)
    pad = max(0.5 * float(np.max(hi - lo)), model.pad_m)
    box_lo, box_hi = lo - pad, hi + pad
    xy, _ = _grid(box_lo, box_hi, CELLS)
    lp = log_posterior(xy, sta, p, var, model, n_fixed)[0]
    wt = np.exp(lp - lp.max())
    wt /= wt.sum()
    keep = xy[wt > MASS_FLOOR]
    step = (box_hi - box_lo) / (CELLS - 1)
    f_lo = np.maximum(keep.min(0) - step, box_lo)
    f_hi = np.minimum(keep.max(0) + step, box_hi)
    xy, _ = _grid(f_lo, f_hi, CELLS)
    lp, n, p0, q = log_posterior(xy, sta, p, var, model, n_fixed)
    wt = np.exp(lp - lp.max())
    wt /= wt.sum()
    return {"lat0": lat0, "lon0": lon0, "sta": sta, "xy": xy, "w": wt, "n": n, "p0": p0, "q": q,
            "var": var}  # fmt: skip


def mass_radius(d2: np.ndarray, w: np.ndarray, prob: float) -> float:
    """Smallest r with posterior mass prob inside d2 ≤ r² (d2 squared distances, w weights)."""
    o = np.argsort(d2)
    c = np.cumsum(w[o])
    return float(np.sqrt(d2[o][min(int(np.searchsorted(c, prob)), len(c) - 1)]))


def _colinear(sta: np.ndarray) -> bool:
    """All receivers on one line (within 1 m): mirror-image positions fit equally well."""
    c = sta - sta.mean(0)
    return bool(np.linalg.svd(c, compute_uv=False)[-1] / np.sqrt(len(sta)) < 1.0)


def fix_rss(pr, model: RssModel, estimate: str = "ml"):
    """One pure-RSS group → Fix, or GeometryError when the receivers cannot separate positions.

    The position is the maximum-likelihood point (P0 free, n within its bounds, refined from the
    best fine-grid cell); covariance, ellipses and CEP are the posterior's own mass about that
    point (P0, n and the noise scale integrated out), not a linearisation: the 95% ellipse has
    the posterior covariance's shape, scaled to hold 95% of the posterior.
    """
    from scipy.optimize import minimize

    from unseen.errors import GeometryError
    from unseen.geo.frames import enu2geodetic
    from unseen.geo.uncertainty import chi2_2, ellipse_params
    from unseen.locate.prepare import prefix
    from unseen.types import Ellipse, Fix

    m = len(pr.r)
    if _colinear(_frame(pr)[2]):
        return GeometryError(
            f"{prefix(pr.group)}degenerate geometry: all {m} receivers lie on one line, so "
            "mirror-image positions on either side fit their signal strengths equally"
        )
    post = posterior(pr, model)
    xy, w = post["xy"], post["w"]
    n_fixed = pr.ple
    args = (post["sta"], pr.r[:, 3], post["var"], model, n_fixed)
    if estimate == "mean":
        best = (w[:, None] * xy).sum(0)
    elif estimate == "map":
        best = xy[int(np.argmax(w))]
    else:
        b0 = xy[int(np.argmin(post["q"]))]
        cell = float(np.linalg.norm(xy[1] - xy[0]) + 1e-9)

        def cost(v: np.ndarray) -> float:
            return float(log_posterior(v[None], *args)[3][0])

        simplex = b0 + np.array([[0.0, 0.0], [cell, 0.0], [0.0, cell]])
        opts = {"initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-10}
        r = minimize(cost, b0, method="Nelder-Mead", options=opts)
        best = r.x if r.fun <= cost(b0) else b0
    _, n_b, p0_b, q_b = log_posterior(best[None], *args)
    d = xy - best
    step = np.ptp(xy, axis=0) / (CELLS - 1)
    cov = np.einsum("c,ci,cj->ij", w, d, d) + np.diag(step**2 / 12.0)
    icov = np.linalg.inv(cov)
    d2 = np.einsum("ci,ij,cj->c", d, icov, d)
    e50 = ellipse_params(cov, 0.5)
    e95 = ellipse_params(cov, 0.95)
    for e, prob in ((e50, 0.5), (e95, 0.95)):
        e[:2] *= mass_radius(d2, w, prob) / np.sqrt(chi2_2(prob))
    cep50 = mass_radius(np.einsum("ci,ci->c", d, d), w, 0.5)
    lat, lon, _ = enu2geodetic(np.array([best[0], best[1], 0.0]), post["lat0"], post["lon0"], 0.0)
    k = 3 + (n_fixed is None)
    tau = (model.prior_dof + float(q_b[0])) / (model.prior_dof + m)
    return Fix(
        lat_deg=float(lat),
        lon_deg=float(lon),
        alt_m=float(pr.alt),
        cov_enu_m2=tuple(tuple(float(v) for v in row) for row in cov),
        ellipse50=Ellipse(*(float(v) for v in e50)),
        ellipse95=Ellipse(*(float(v) for v in e95)),
        cep50_m=float(cep50),
        method="ml-rssi",
        n_used=m,
        rejected=(),
        crb_rmse_m=float(np.sqrt(np.trace(cov))),
        group=pr.group,
        time_s=pr.time_s,
        extra={
            "chi2": float(q_b[0]),
            "dof": m - k,
            "iterations": 0,
            "rejected_index": [],
            "tx_power_dbm_at_1m": float(p0_b[0]),
            "path_loss_exponent": float(n_b[0]),
            "sigma_db_fit": float(np.sqrt(tau * np.mean(post["var"]))),
            "rss_model": model.source,
        },
    )
