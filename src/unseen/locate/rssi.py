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
    receiver's gain offset (0 uncalibrated: its spread is part of s). A calibration may give
    receiver i its own exponent n + u_i over the distances its survey covered, [a_i, b_i]
    (`exponent_dev` (station, u_i, a_i, b_i), metres): u_i (clip(x, 10 log10 a_i, 10 log10 b_i)
    − x_ref) is added to its reading, x_ref = 10 log10 `exponent_ref_m` (where g_i holds).
    Shadowing is correlated
    between receivers i, j a distance d_ij apart as exp(−d_ij / `corr_m`) (Gudmundson); each
    reading's s² is scaled by Σ_j exp(−d_ij / corr_m), so that k co-located receivers weigh as
    one (POWDER: residual correlation 0.7–0.9 between two receivers on one mast, |ρ| < 0.4 and
    ≈ 0 on average from 74 m apart, so corr_m = 20 m).
    """

    shadowing_db: float = 9.0
    prior_dof: int = 4
    n_bounds: tuple[float, float] = (1.5, 5.0)
    ref_m: float = 10.0
    pad_m: float = 500.0
    corr_m: float = 20.0
    source: str = "default"
    shadow_map: ShadowMap | None = None
    exponent_dev: tuple[tuple[str, float, float, float], ...] = ()
    exponent_ref_m: float = 100.0


@dataclass(frozen=True, eq=False)
class ShadowMap:
    """Each receiver's shadowing as a function of transmitter position, learned from a survey
    (`rss_cal.calibrate`): simple kriging of the survey's residuals (exponential covariance:
    nugget η², partial sill σs², correlation distance L) on a raster of `cell_m` cells in the
    tangent plane at (lat0, lon0). On another day the structured part holds only in part
    (correlation ρ = `transfer` between days), so a reading at position x is corrected by
    ρ·m(x) and its shadowing variance is η² + σs² − ρ²(σs² − v(x)) (m, v the kriging mean and
    variance); outside the raster, or for a receiver the survey lacks, m = 0 and v = σs²: the
    prior (η² + σs²)."""

    lat0: float
    lon0: float
    e0: float
    n0: float
    cell_m: float
    nugget_db2: float
    sill_db2: float
    transfer: float
    stations: tuple[str, ...]
    mean_db: np.ndarray  # (S, ny, nx)
    var_db2: np.ndarray  # (S, ny, nx) kriging variance of the structured part

    def at(self, sid: np.ndarray, en: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(correction dB, shadowing variance / prior variance) for receivers `sid` (…) (−1:
        not mapped) at map-frame positions en (…, 2), bilinear between cells."""
        ny, nx = self.mean_db.shape[1:]
        u = (en[..., 0] - self.e0) / self.cell_m
        v = (en[..., 1] - self.n0) / self.cell_m
        ok = (sid >= 0) & (u >= 0) & (v >= 0) & (u < nx - 1) & (v < ny - 1)
        i = np.where(ok, np.floor(u), 0).astype(np.int64)
        j = np.where(ok, np.floor(v), 0).astype(np.int64)
        fu, fv = np.where(ok, u - i, 0.0), np.where(ok, v - j, 0.0)
        s = np.where(ok, sid, 0)

        def lerp(a: np.ndarray) -> np.ndarray:
            return (a[s, j, i] * (1 - fu) * (1 - fv) + a[s, j, i + 1] * fu * (1 - fv)
                    + a[s, j + 1, i] * (1 - fu) * fv + a[s, j + 1, i + 1] * fu * fv)  # fmt: skip

        mu = np.where(ok, self.transfer * lerp(self.mean_db), 0.0)
        kv = np.where(ok, lerp(self.var_db2), self.sill_db2)
        tot = self.nugget_db2 + self.sill_db2
        return mu, (tot - self.transfer**2 * (self.sill_db2 - kv)) / tot

    def ids(self, names: list[str]) -> np.ndarray:
        idx = {s: k for k, s in enumerate(self.stations)}
        return np.array([idx.get(n, -1) for n in names], dtype=np.int64)

    def origin(self, lat: float, lon: float) -> np.ndarray:
        """Position (e, n) of (lat, lon) in the map's frame (m)."""
        from unseen.geo.frames import geodetic2enu

        return np.asarray(geodetic2enu(lat, lon, 0.0, self.lat0, self.lon0, 0.0))[:2]


def _frame(pr) -> tuple[float, float, np.ndarray]:
    from unseen.geo.frames import geodetic2enu

    lat0, lon0 = float(np.mean(pr.r[:, 0])), float(np.mean(pr.r[:, 1]))
    en = geodetic2enu(pr.r[:, 0], pr.r[:, 1], np.zeros(len(pr.r)), lat0, lon0, 0.0)[:, :2]
    return lat0, lon0, en


def log_posterior(
    xy: np.ndarray,
    sta: np.ndarray,
    p: np.ndarray,
    w: np.ndarray,
    n_fixed: np.ndarray,
    model: RssModel,
    field=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """log p(x | data) + const at positions xy (G, C, 2) of G groups, P0, n and τ integrated out.

    sta (G, M, 2) receivers, p (G, M) readings, w (G, M) = 1/(σ² + s²) (0 for padding rows),
    n_fixed (G,) the exponent where given, NaN where it is estimated. With x = 10 log10 max(d, d0)
    the model is linear in (P0, n): P0 is integrated in closed form, τ under its
    scaled-inverse-χ²(ν0) prior gives a Student-t in n, integrated over `n_bounds`. Also
    returns the conditional n, P0 and weighted residual sum Q at each position.
    `field(xy)` → (correction (G, C, M), weights (G, C, M)): a shadowing map (`_field`); the
    weights then vary with position and the likelihood gains ½ Σ log w − ½ log Σ w.
    """
    m = (w > 0).sum(-1)[:, None].astype(float)
    x = 10.0 * np.log10(
        np.maximum(np.sqrt(np.sum((xy[:, :, None, :] - sta[:, None]) ** 2, -1)), model.ref_m)
    )
    if field is None:
        wg, pc = w[:, None, :], p[:, None, :]
    else:
        mu, wg = field(xy)
        pc = p[:, None, :] - mu
    sw = wg.sum(-1)
    xm = (x * wg).sum(-1) / sw
    pm = (pc * wg).sum(-1) / sw
    dx = x - xm[..., None]
    dp = (pc - pm[..., None]) * (wg > 0)
    a = np.maximum((wg * dx * dx).sum(-1), 1e-300)
    k1 = 0.5 * (model.prior_dof + m - 1)
    lo, hi = model.n_bounds
    n_ml = -(wg * dx * dp).sum(-1) / a
    nf = n_fixed[:, None]
    free = np.isnan(nf)
    n_b = np.where(free, np.clip(n_ml, lo, hi), nf)
    q_b = np.maximum((wg * (dp + n_b[..., None] * dx) ** 2).sum(-1), 0.0)
    # free exponent: residual sum at the unconstrained best n, Student-t mass within the bounds
    q = np.maximum((wg * (dp + n_ml[..., None] * dx) ** 2).sum(-1), 0.0)
    c = model.prior_dof + q
    nu = np.broadcast_to(np.rint(2 * k1 - 1), c.shape)
    s = np.sqrt(a * nu / c)
    lp_free = -(k1 - 0.5) * np.log(c) - 0.5 * np.log(a)
    lp_free = lp_free + np.log(np.maximum(t_mass(lo, hi, n_ml, s, nu), 1e-300))
    lp_fixed = -k1 * np.log(model.prior_dof + q_b)
    lp = np.where(free, lp_free, lp_fixed)
    if field is not None:
        lp = lp + 0.5 * (np.log(np.where(wg > 0, wg, 1.0)).sum(-1) - np.log(sw))
    return lp, n_b, pm + n_b * xm, q_b


def t_cdf(t: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Student-t CDF for integer ν ≥ 1 in closed form (Abramowitz & Stegun 26.7.3–4):
    F = ½(1 + A), A = sinθ Σ_k c_k cos^{2k}θ (ν even) or (2/π)(θ + sinθ cosθ Σ_k d_k cos^{2k}θ)
    (ν odd), θ = atan(t/√ν)."""
    nu = np.broadcast_to(nu, t.shape).astype(np.int64)
    th = np.arctan(t / np.sqrt(nu))
    c2, sn, cs = np.cos(th) ** 2, np.sin(th), np.cos(th)
    odd = nu % 2 == 1
    terms = np.where(odd, (nu - 3) // 2, (nu - 2) // 2)
    acc = np.where(terms >= 0, 1.0, 0.0)
    cur = np.ones_like(t)
    for k in range(1, int(terms.max(initial=0)) + 1):
        cur = cur * c2 * np.where(odd, 2.0 * k / (2 * k + 1), (2 * k - 1) / (2.0 * k))
        acc = acc + np.where(k <= terms, cur, 0.0)
    a = np.where(odd, (2.0 / np.pi) * (th + sn * cs * acc), sn * acc)
    return 0.5 * (1.0 + a)


def t_mass(lo: float, hi: float, mean: np.ndarray, scale: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """P(lo < n < hi) for n = mean + t_ν / scale (upper tails by symmetry, without cancellation)."""
    a, b = (lo - mean) * scale, (hi - mean) * scale
    up = a > 0
    return np.where(up, t_cdf(-a, nu) - t_cdf(-b, nu), t_cdf(b, nu) - t_cdf(a, nu))


def _grid(lo: np.ndarray, hi: np.ndarray, cells: int) -> np.ndarray:
    """(G, cells², 2) regular grids spanning [lo, hi] (G, 2) per group."""
    t = np.linspace(0.0, 1.0, cells)
    e = lo[:, 0, None] + (hi - lo)[:, 0, None] * t
    n = lo[:, 1, None] + (hi - lo)[:, 1, None] * t
    E = np.broadcast_to(e[:, :, None], (len(lo), cells, cells))
    N = np.broadcast_to(n[:, None, :], (len(lo), cells, cells))
    return np.stack([E.reshape(len(lo), -1), N.reshape(len(lo), -1)], -1)


def _normalise(lp: np.ndarray) -> np.ndarray:
    w = np.exp(lp - lp.max(-1, keepdims=True))
    return w / w.sum(-1, keepdims=True)


def posterior(sta: np.ndarray, p: np.ndarray, w: np.ndarray, n_fixed: np.ndarray,
              model: RssModel, field=None) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Posterior of G groups on a coarse grid over the receivers' area, then a fine grid over
    every coarse cell holding more than MASS_FLOOR: (xy (G, C, 2), weights (G, C), step (G, 2))."""
    big = np.where(w[..., None] > 0, sta, np.nan)
    lo, hi = np.nanmin(big, 1), np.nanmax(big, 1)
    pad = np.maximum(0.5 * np.max(hi - lo, -1), model.pad_m)[:, None]
    box_lo, box_hi = lo - pad, hi + pad
    xy = _grid(box_lo, box_hi, CELLS)
    wt = _normalise(log_posterior(xy, sta, p, w, n_fixed, model, field)[0])
    keep = wt[..., None] > MASS_FLOOR
    step = (box_hi - box_lo) / (CELLS - 1)
    f_lo = np.maximum(np.where(keep, xy, np.inf).min(1) - step, box_lo)
    f_hi = np.minimum(np.where(keep, xy, -np.inf).max(1) + step, box_hi)
    xy = _grid(f_lo, f_hi, CELLS)
    wt = _normalise(log_posterior(xy, sta, p, w, n_fixed, model, field)[0])
    return xy, wt, (f_hi - f_lo) / (CELLS - 1)


def _mass_radius(d2: np.ndarray, w: np.ndarray, prob: float) -> np.ndarray:
    """Smallest r per group with posterior mass prob inside d2 ≤ r² (G, C) → (G,)."""
    o = np.argsort(d2, -1)
    c = np.cumsum(np.take_along_axis(w, o, -1), -1)
    k = np.minimum((c < prob).sum(-1), d2.shape[-1] - 1)
    return np.sqrt(np.take_along_axis(np.take_along_axis(d2, o, -1), k[:, None], -1)[:, 0])


def _colinear(sta: np.ndarray) -> bool:
    """All receivers on one line (within 1 m): mirror-image positions fit equally well."""
    c = sta - sta.mean(0)
    return bool(np.linalg.svd(c, compute_uv=False)[-1] / np.sqrt(len(sta)) < 1.0)


BATCH_CELLS = 3_000_000  # grid cells × receivers evaluated at once (memory ~ 10 arrays of this)


def fix_rss(pr, model: RssModel):
    """One pure-RSS group → Fix, or GeometryError (see `fix_rss_many`)."""
    return fix_rss_many([pr], model)[0]


POOL_MIN_GROUPS = 20  # pure-RSS groups solved together before their receivers are self-calibrated
POOL_MIN_ROWS = 10  # readings (groups) a receiver needs for its own offset in the pooled fit
POOL_PASSES = 6  # at most: block coordinate descent, offsets and exponent then positions
POOL_TOL_DB, POOL_TOL_N = 0.2, 0.02  # the descent stops when no offset moves more than these
POOL_F_ALPHA = 1e-6  # false-alarm rate of "the groups' positions differ" (`_moving`)
POOL_GAIN_PRIOR_DB = 10.0  # prior sd of a receiver's gain offset in the pooled fit (shrinkage)


def fit_gains(
    sid: np.ndarray, gid: np.ndarray, p: np.ndarray, x: np.ndarray, ridge: float = 0.0
) -> tuple[np.ndarray, float, np.ndarray, float, int]:
    """Receiver gains g and one exponent n from p_ij = P0_j + g_i − n x_ij + e (x = 10 log10 d).

    P0_j is eliminated by centring each group; `ridge` = s²/σg² shrinks the gains toward 0
    (a N(0, σg²) prior); gains are relative to their mean. Returns (g (S,), n, cov (S+1, S+1),
    s² the residual variance, dof = rows − groups − receivers).
    """
    S, G, N = int(sid.max()) + 1, int(gid.max()) + 1, len(p)
    A = np.zeros((N, S + 1))
    A[np.arange(N), sid] = 1.0
    A[:, S] = -x
    y = np.asarray(p, dtype=float).copy()
    cnt = np.bincount(gid, minlength=G).astype(float)
    for col in (*A.T, y):
        col -= (np.bincount(gid, weights=col, minlength=G) / cnt)[gid]
    H = A.T @ A + ridge * np.diag(np.r_[np.ones(S), 0.0])
    sol = np.linalg.lstsq(H, A.T @ y, rcond=None)[0]
    res = y - A @ sol
    dof = N - G - S
    s2 = float(res @ res) / max(dof, 1)
    cov = s2 * np.linalg.pinv(H)
    return sol[:S] - sol[:S].mean(), float(sol[S]), cov, s2, dof


def pooled_offsets(preps: list, pos: list, model: RssModel) -> tuple[dict, float] | None:
    """Self-calibration of the receivers shared by many groups (no truth): with each group's
    current position `pos` (lat, lon), fit every receiver's gain offset (N(0,
    POOL_GAIN_PRIOR_DB²) prior) and one path-loss exponent for all groups (`fit_gains`).
    ({station: (offset_db, sd_db)}, n), or None when fewer than POOL_MIN_GROUPS groups are
    given or the exponent is not determined."""
    from unseen.geo.frames import geodetic2enu

    if len(preps) < POOL_MIN_GROUPS:
        return None
    ids, gid, p, x = [], [], [], []
    for j, (pr, (la, lo)) in enumerate(zip(preps, pos, strict=True)):
        en = geodetic2enu(pr.r[:, 0], pr.r[:, 1], np.zeros(len(pr.r)), la, lo, 0.0)
        d = np.hypot(en[:, 0], en[:, 1])
        xj = 10.0 * np.log10(np.maximum(d, model.ref_m))
        ids += list(pr.r_ids)
        gid += [j] * len(pr.r)
        p += list(
            pr.r[:, 3]
            - _map_mean(model.shadow_map, pr.r_ids, la, lo)
            + _tilt_db(model, *_devs(model, pr.r_ids), xj)
        )
        x += list(xj)
    names, sid, rows = np.unique(
        np.array(ids, dtype=object), return_inverse=True, return_counts=True
    )
    g, n, cov, s2, dof = fit_gains(
        sid,
        np.asarray(gid),
        np.asarray(p),
        np.asarray(x),
        (model.shadowing_db / POOL_GAIN_PRIOR_DB) ** 2,
    )
    sd_n = float(np.sqrt(max(cov[-1, -1], 0.0)))
    if dof < 2 or not np.isfinite(n) or sd_n > 0.5 or not _moving(sid, gid, p, s2 * dof, dof):
        return None
    sd = np.sqrt(np.maximum(np.diag(cov)[:-1], 0.0))
    off = {
        str(s): (float(g[i]), float(sd[i])) for i, s in enumerate(names) if rows[i] >= POOL_MIN_ROWS
    }
    return off, float(np.clip(n, *model.n_bounds))


def _devs(model: RssModel, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, 10 log10 a, 10 log10 b) of receivers `ids` (u = 0 where the model has none)."""
    dev = {d[0]: d[1:] for d in model.exponent_dev}
    a = np.array([dev.get(s, (0.0, 1.0, 1.0)) for s in ids], dtype=float).reshape(-1, 3)
    return a[:, 0], 10.0 * np.log10(a[:, 1]), 10.0 * np.log10(a[:, 2])


def _tilt_db(model: RssModel, u, lo, hi, x) -> np.ndarray:
    """What a reading gains from its receiver's exponent deviation at x = 10 log10 d (dB)."""
    return u * (np.clip(x, lo, hi) - 10.0 * np.log10(model.exponent_ref_m))


def _map_mean(sm: ShadowMap | None, ids: list[str], lat: float, lon: float) -> np.ndarray:
    """The map's correction of receivers `ids` for a transmitter at (lat, lon) (0 without one)."""
    if sm is None:
        return np.zeros(len(ids))
    en = np.broadcast_to(sm.origin(lat, lon), (len(ids), 2))
    return sm.at(sm.ids(list(ids)), en)[0]


def _moving(sid: list, gid: list, p: list, rss: float, dof: int) -> bool:
    """Do the groups come from different positions? F test of the log-distance model at the
    groups' positions (residual sum `rss`, `dof`) against readings that differ between groups
    only by a constant per receiver and per group (a transmitter that stays put: every group
    sees it from the same distances, so receiver offsets and position cannot be told apart and
    pooling would fit the noise): the positions must explain more than their 2G + 1 extra
    parameters would by chance: F above its 1 − POOL_F_ALPHA quantile (positions from a grid
    search overfit noise more than linear parameters would: F = 1.16–1.20 measured for 500
    groups of one stationary transmitter, where the 0.999 quantile is 1.18 and the 1 − 1e-6 one
    1.26; 1.4–9 for moving ones, POWDER and simulated)."""
    from scipy.stats import f as fdist

    sid, gid, p = np.asarray(sid), np.asarray(gid), np.asarray(p, dtype=float)
    _, _, _, s2_add, dof_add = fit_gains(sid, gid, p, np.zeros(len(p)))
    rss_add = s2_add * max(dof_add, 1)
    extra = 2 * (int(gid.max()) + 1) + 1  # positions and the exponent
    dof_mov = dof - extra + 1  # `dof` counted the exponent, not the positions
    if dof_mov < 1:
        return False
    f = (rss_add - rss) / extra / (rss / dof_mov)
    return f > fdist.isf(POOL_F_ALPHA, extra, dof_mov)


def _corrected(pr, off: dict, n: float):
    """A Prepared with the pooled offsets removed (their sd added to sigma_db) and exponent n."""
    from dataclasses import replace

    r = pr.r.copy()
    for k, s in enumerate(pr.r_ids):
        if s in off:
            r[k, 3] -= off[s][0]
            r[k, 4] = np.hypot(r[k, 4], off[s][1])
    return replace(pr, r=r, ple=n if pr.ple is None else pr.ple)


def fix_rss_many(preps: list, model: RssModel, pool: bool = True) -> list:
    """Pure-RSS groups → Fix each, or GeometryError where the receivers cannot separate positions.

    With `pool` and at least POOL_MIN_GROUPS groups, a second pass: receivers are
    self-calibrated on all the groups' first-pass positions (`pooled_offsets`: gain offsets and
    one exponent shared by the groups) and every group is solved again with them.

    Groups are solved together (padded to the largest, in batches). The position is the
    maximum-likelihood point (P0 free, n within its bounds); covariance, ellipses and CEP are
    the posterior's own mass about that point
    (P0, n and the noise scale integrated out), not a linearisation: the 95% ellipse has the
    posterior covariance's shape, scaled to hold 95% of the posterior.
    """
    from unseen.errors import GeometryError
    from unseen.locate.prepare import prefix

    out: list = [None] * len(preps)
    frames = []
    for i, pr in enumerate(preps):
        f = _frame(pr)
        if _colinear(f[2]):
            out[i] = GeometryError(
                f"{prefix(pr.group)}degenerate geometry: all {len(pr.r)} receivers lie on one "
                "line, so mirror-image positions on either side fit their signal strengths equally"
            )
        else:
            frames.append((i, f))
    if not frames:
        return out
    size = max(1, BATCH_CELLS // (CELLS * CELLS * max(len(preps[i].r) for i, _ in frames)))
    for b in range(0, len(frames), size):
        chunk = frames[b : b + size]
        fixes = _solve_chunk([preps[i] for i, _ in chunk], [f for _, f in chunk], model)
        for (i, _), fx in zip(chunk, fixes, strict=True):
            out[i] = fx
    if not pool:
        return out
    rss = [i for i, f in enumerate(out) if not isinstance(f, GeometryError)]
    if len(rss) < POOL_MIN_GROUPS:
        return out
    raw = [preps[i] for i in rss]
    pos = [(out[i].lat_deg, out[i].lon_deg) for i in rss]
    last = None
    for _ in range(POOL_PASSES):
        pooled = pooled_offsets(raw, pos, model)
        if pooled is None:
            return out if last is None else _final(out, rss, raw, last, model)
        if last is not None and _settled(last, pooled):
            break
        last = pooled
        pos = _ml_points([_corrected(pr, *pooled) for pr in raw], pos, model)
    return _final(out, rss, raw, pooled, model)


def _settled(a: tuple[dict, float], b: tuple[dict, float]) -> bool:
    """Pooled offsets and exponent unchanged (within POOL_TOL_DB, POOL_TOL_N) between passes."""
    da = max((abs(a[0][k][0] - b[0].get(k, (np.inf,))[0]) for k in a[0]), default=0.0)
    return da < POOL_TOL_DB and abs(a[1] - b[1]) < POOL_TOL_N


def _final(out: list, rss: list, raw: list, pooled: tuple[dict, float], model: RssModel) -> list:
    off, n = pooled
    again = fix_rss_many([_corrected(pr, off, n) for pr in raw], model, pool=False)
    for i, f in zip(rss, again, strict=True):
        f.extra.update({"pooled_groups": len(rss), "pooled_receivers": len(off)})
        f.extra["rss_model"] = f"{model.source}+pooled"
        f.extra["path_loss_exponent_pooled"] = n
        out[i] = f
    return out


def _ml_points(preps: list, pos: list, model: RssModel) -> list:
    """ML positions (lat, lon) of groups by pattern search from `pos` (an intermediate pass of
    the pooled fit: no posterior grid, no ellipse)."""
    from unseen.geo.frames import enu2geodetic, geodetic2enu

    out = []
    size = max(1, BATCH_CELLS // (25 * max(len(pr.r) for pr in preps)))
    for b in range(0, len(preps), size):
        chunk = preps[b : b + size]
        frames = [_frame(pr) for pr in chunk]
        sta, p, w, n_fixed, field = _arrays(chunk, frames, model)
        start = np.array(
            [
                geodetic2enu(la, lo, 0.0, f[0], f[1], 0.0)[:2]
                for (la, lo), f in zip(pos[b : b + size], frames, strict=True)
            ]
        )
        best = _zoom(start, np.full((len(chunk), 2), 32.0), sta, p, w, n_fixed, model, 40, field)
        for (lat0, lon0, _), e in zip(frames, best, strict=True):
            la, lo, _ = enu2geodetic(np.array([e[0], e[1], 0.0]), lat0, lon0, 0.0)
            out.append((float(la), float(lo)))
    return out


_PATTERN = np.stack(np.meshgrid(*(np.arange(-2.0, 3.0),) * 2, indexing="ij"), -1).reshape(-1, 2)


def _cost(xy, sta, p, w, n_fixed, model: RssModel, field) -> np.ndarray:
    """What the ML search minimises: the profiled residual sum Q, or with a shadowing map (the
    weights vary with position, so Q alone does not compare positions) −log posterior."""
    lp, _, _, q = log_posterior(xy, sta, p, w, n_fixed, model, field)
    return q if field is None or getattr(field, "fixed_weights", False) else -lp


def _zoom(best, h, sta, p, w, n_fixed, model: RssModel, iters: int, field=None) -> np.ndarray:
    """Least profiled residual sum Q by 5 × 5 patterns: the spacing halves when the best point is
    inside the pattern and stays when it is on the edge (the minimum lies further out)."""
    g = np.arange(len(best))
    h = h.copy()
    for _ in range(iters):
        cand = best[:, None] + _PATTERN[None] * h[:, None]
        k = np.argmin(_cost(cand, sta, p, w, n_fixed, model, field), -1)
        best = cand[g, k]
        edge = np.abs(_PATTERN[k]).max(-1) == 2
        h = np.where(edge[:, None], h, 0.5 * h)
    return best


def _arrays(preps: list, frames: list, model: RssModel) -> tuple:
    """Padded (sta (G, M, 2), p (G, M), w (G, M), n_fixed (G,), field) of groups (w = 0 for
    padding; field from `_field`, None without a shadowing map)."""
    G, M = len(preps), max(len(pr.r) for pr in preps)
    sta, p = np.zeros((G, M, 2)), np.zeros((G, M))
    sig2, shad2 = np.full((G, M), np.inf), np.zeros((G, M))
    for g, (pr, (_, _, en)) in enumerate(zip(preps, frames, strict=True)):
        k = len(pr.r)
        near = np.exp(-np.hypot(*(en[:, None] - en[None]).transpose(2, 0, 1)) / model.corr_m)
        sta[g, :k], p[g, :k] = en, pr.r[:, 3]
        sig2[g, :k] = pr.r[:, 4] ** 2
        shad2[g, :k] = model.shadowing_db**2 * near.sum(1)
        sta[g, k:] = en[0]
    n_fixed = np.array([np.nan if pr.ple is None else pr.ple for pr in preps])
    w = 1.0 / (sig2 + shad2)
    sm = model.shadow_map
    field = None if sm is None else _field(preps, frames, sm, sig2, shad2)
    if model.exponent_dev:
        du = np.zeros((3, G, M))
        for g, pr in enumerate(preps):
            du[:, g, : len(pr.r)] = _devs(model, pr.r_ids)
        if du[0].any():
            field = _tilt(field, sta, w, du, model)
    return sta, p, w, n_fixed, field


def _tilt(field, sta: np.ndarray, w: np.ndarray, du: np.ndarray, model: RssModel):
    """`field` with each receiver's exponent deviation: correction −u_i (x_i − x_ref) added."""
    u, lo, hi = du[:, :, None]

    def tilted(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.sqrt(np.sum((xy[:, :, None, :] - sta[:, None]) ** 2, -1))
        mu = -_tilt_db(model, u, lo, hi, 10.0 * np.log10(np.maximum(d, model.ref_m)))
        if field is None:
            return mu, np.broadcast_to(w[:, None], mu.shape)
        m0, wg = field(xy)
        return m0 + mu, wg

    tilted.fixed_weights = field is None  # type: ignore[attr-defined]
    return tilted


def _field(preps: list, frames: list, sm: ShadowMap, sig2: np.ndarray, shad2: np.ndarray):
    """xy (G, C, 2) in each group's frame → (correction (G, C, M), weights 1/(σ² + s²·f(x)))
    from the map (`ShadowMap.at`; each group's tangent plane taken as a translate of the map's,
    exact to ~1e-4 of the distance between their origins)."""
    G, M = sig2.shape
    sid = np.full((G, M), -1, dtype=np.int64)
    off = np.zeros((G, 2))
    for g, (pr, (lat0, lon0, _)) in enumerate(zip(preps, frames, strict=True)):
        sid[g, : len(pr.r)] = sm.ids(list(pr.r_ids))
        off[g] = sm.origin(lat0, lon0)
    pad = ~np.isfinite(sig2)

    def field(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        en = (xy + off[:, None])[:, :, None, :]
        mu, f = sm.at(sid[:, None, :], np.broadcast_to(en, (*xy.shape[:2], M, 2)))
        w = np.where(pad[:, None], 0.0, 1.0 / (sig2[:, None] + shad2[:, None] * f))
        return mu, w

    return field


def _solve_chunk(preps: list, frames: list, model: RssModel) -> list:
    from unseen.geo.frames import enu2geodetic
    from unseen.geo.uncertainty import chi2_2, ellipse_params
    from unseen.types import Ellipse, Fix

    G = len(preps)
    sta, p, w, n_fixed, field = _arrays(preps, frames, model)
    var = np.divide(1.0, w, out=np.full_like(w, np.inf), where=w > 0)
    xy, wt, step = posterior(sta, p, w, n_fixed, model, field)
    q0 = _cost(xy, sta, p, w, n_fixed, model, field)
    g = np.arange(G)
    best = xy[g, np.argmin(q0, -1)]
    # ML point (least profiled residual sum Q, exponent within its bounds): zoom from the best
    # cell with 5 × 5 patterns of halving spacing (a sharp minimum is narrower than a cell)
    o = np.stack(np.meshgrid(*(np.arange(-2.0, 3.0),) * 2, indexing="ij"), -1).reshape(-1, 2)
    h = step.copy()
    for _ in range(24):
        cand = best[:, None] + o[None] * h[:, None]
        q = _cost(cand, sta, p, w, n_fixed, model, field)
        best = cand[g, np.argmin(q, -1)]
        h = h * 0.5
    _, n_b, p0_b, q_b = log_posterior(best[:, None], sta, p, w, n_fixed, model, field)
    d = xy - best[:, None]
    cov = np.einsum("gc,gci,gcj->gij", wt, d, d) + np.eye(2) * (step**2 / 12.0)[:, None, :]
    d2 = np.einsum("gci,gij,gcj->gc", d, np.linalg.inv(cov), d)
    r50, r95 = _mass_radius(d2, wt, 0.5), _mass_radius(d2, wt, 0.95)
    cep = _mass_radius(np.einsum("gci,gci->gc", d, d), wt, 0.5)
    out = []
    for g, (pr, (lat0, lon0, _)) in enumerate(zip(preps, frames, strict=True)):
        m = len(pr.r)
        e50, e95 = ellipse_params(cov[g], 0.5), ellipse_params(cov[g], 0.95)
        e50[:2] *= r50[g] / np.sqrt(chi2_2(0.5))
        e95[:2] *= r95[g] / np.sqrt(chi2_2(0.95))
        lat, lon, _ = enu2geodetic(np.array([best[g, 0], best[g, 1], 0.0]), lat0, lon0, 0.0)
        q = float(q_b[g, 0])
        tau = (model.prior_dof + q) / (model.prior_dof + m)
        out.append(Fix(
            lat_deg=float(lat),
            lon_deg=float(lon),
            alt_m=float(pr.alt),
            cov_enu_m2=tuple(tuple(float(v) for v in row) for row in cov[g]),
            ellipse50=Ellipse(*(float(v) for v in e50)),
            ellipse95=Ellipse(*(float(v) for v in e95)),
            cep50_m=float(cep[g]),
            method="ml-rssi",
            n_used=m,
            rejected=(),
            crb_rmse_m=float(np.sqrt(np.trace(cov[g]))),
            group=pr.group,
            time_s=pr.time_s,
            extra={
                "chi2": q,
                "dof": m - 3 - (pr.ple is None),
                "iterations": 0,
                "rejected_index": [],
                "tx_power_dbm_at_1m": float(p0_b[g, 0]),
                "path_loss_exponent": float(n_b[g, 0]),
                "sigma_db_fit": float(np.sqrt(tau * np.mean(var[g, :m]))),
                "rss_model": model.source,
            },
        ))  # fmt: skip
    return out
