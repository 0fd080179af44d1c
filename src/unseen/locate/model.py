"""Measurement models and a batched Levenberg–Marquardt solver over many same-shaped problems.

Unknowns per problem: the transmitter position (east, north[, up] steps in the local frame at the
current estimate, applied on the WGS84 ellipsoid), then the transmit power P0 (dBm at 1 m) when
there are signal strengths, then the path-loss exponent n when it is estimated.

Models (ECEF positions P of the transmitter, S of a station; E_S, N_S the station's east/north):
  bearing   β = atan2(E_S·(P − S), N_S·(P − S)) + δ   (normal-section azimuth; δ is the small,
            locally constant correction to the geodesic initial azimuth, set by `geodesic_offsets`)
  tdoa      c·tdoa = |P − S_a| − |P − S_b|
  rssi      p = P0 − 10 n log10 |P − S|
Residuals are normalised by their sigmas, so the cost is χ² and (JᵀJ)⁻¹ is the Cramér–Rao bound.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from unseen.geo.frames import ecef2geodetic, enu2geodetic, enu_basis, geodetic2ecef
from unseen.geo.geodesic import inverse

LN10 = np.log(10.0)
MIN_RANGE_M = 1.0
GEODESIC_MAX_M = 5_000_000.0  # beyond this surface distance δ is not a small local correction
GEODESIC_MAX_RAD = np.radians(1.0)  # |δ| is < 0.1° wherever the correction is meaningful


@dataclass
class Batch:
    """G problems with the same numbers of bearings (nb), TDOAs (nt) and signal strengths (nr).

    Arrays are (G, n) unless noted; `*_w` are weights (1 used, 0 rejected).
    """

    dims: int
    est_n: bool
    b_sta: np.ndarray  # (G, nb, 3) station ECEF, m
    b_rot: np.ndarray  # (G, nb, 2, 3) station east and north unit vectors in ECEF
    b_az: np.ndarray  # measured true azimuth, rad
    b_off: np.ndarray  # geodesic minus normal-section azimuth, rad
    b_sig: np.ndarray  # rad
    b_w: np.ndarray
    t_a: np.ndarray  # (G, nt, 3)
    t_b: np.ndarray  # (G, nt, 3)
    t_d: np.ndarray  # measured range difference c·tdoa_s, m
    t_sig: np.ndarray  # m
    t_w: np.ndarray
    r_sta: np.ndarray  # (G, nr, 3)
    r_p: np.ndarray  # dBm
    r_sig: np.ndarray  # dB
    r_w: np.ndarray
    r_n: np.ndarray  # (G,) path-loss exponent (fixed, or the start when estimated)
    alt: np.ndarray  # (G,) altitude of a 2-D fix, m

    @property
    def size(self) -> int:
        return int(self.alt.shape[0])

    @property
    def counts(self) -> tuple[int, int, int]:
        return self.b_az.shape[1], self.t_d.shape[1], self.r_p.shape[1]

    @property
    def k(self) -> int:
        """Number of unknowns."""
        nr = self.counts[2]
        return self.dims + (nr > 0) + (nr > 0 and self.est_n)

    def take(self, idx: np.ndarray) -> Batch:
        """The sub-batch of problems `idx` (copies)."""
        kw = {
            f.name: getattr(self, f.name)[idx]
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return replace(self, **kw)

    def n_used(self) -> np.ndarray:
        return (self.b_w > 0).sum(1) + (self.t_w > 0).sum(1) + (self.r_w > 0).sum(1)


@dataclass
class State:
    """Current estimates: lat/lon/alt (G,) and nuisance parameters (G, q)."""

    lat: np.ndarray
    lon: np.ndarray
    alt: np.ndarray
    nuis: np.ndarray

    def take(self, idx: np.ndarray) -> State:
        return State(self.lat[idx], self.lon[idx], self.alt[idx], self.nuis[idx])

    def put(self, idx: np.ndarray, other: State) -> None:
        self.lat[idx], self.lon[idx], self.alt[idx] = other.lat, other.lon, other.alt
        self.nuis[idx] = other.nuis

    def copy(self) -> State:
        return State(self.lat.copy(), self.lon.copy(), self.alt.copy(), self.nuis.copy())


def wrap_pi(x: np.ndarray) -> np.ndarray:
    """Wrap radians to [-π, π)."""
    return np.mod(x + np.pi, 2.0 * np.pi) - np.pi


def bearing_model(b: Batch, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal-section azimuth (rad) from each station to P (G, 3) and its gradient wrt P."""
    D = P[:, None, :] - b.b_sta
    e = np.einsum("gbj,gbj->gb", b.b_rot[:, :, 0], D)
    n = np.einsum("gbj,gbj->gb", b.b_rot[:, :, 1], D)
    q = np.maximum(e * e + n * n, 1e-12)
    grad = (n[..., None] * b.b_rot[:, :, 0] - e[..., None] * b.b_rot[:, :, 1]) / q[..., None]
    return np.arctan2(e, n), grad


def evaluate(b: Batch, s: State) -> tuple[np.ndarray, np.ndarray]:
    """Weighted normalised residuals r (G, m) = (z − h)/σ and Jacobian J = ∂h/∂θ / σ (G, m, k)."""
    G, dims = b.size, b.dims
    P = geodetic2ecef(s.lat, s.lon, s.alt)
    T = enu_basis(s.lat, s.lon)[:, :dims]
    nb, nt, nr = b.counts
    k = b.k
    rs, Js = [], []
    if nb:
        az, grad = bearing_model(b, P)
        w = b.b_w / b.b_sig
        rs.append(wrap_pi(b.b_az - az - b.b_off) * w)
        J = np.zeros((G, nb, k))
        J[..., :dims] = np.einsum("gbj,gdj->gbd", grad, T) * w[..., None]
        Js.append(J)
    if nt:
        Da = P[:, None, :] - b.t_a
        Db = P[:, None, :] - b.t_b
        ra = np.linalg.norm(Da, axis=-1)
        rb = np.linalg.norm(Db, axis=-1)
        w = b.t_w / b.t_sig
        rs.append((b.t_d - (ra - rb)) * w)
        grad = Da / np.maximum(ra, 1e-9)[..., None] - Db / np.maximum(rb, 1e-9)[..., None]
        J = np.zeros((G, nt, k))
        J[..., :dims] = np.einsum("gbj,gdj->gbd", grad, T) * w[..., None]
        Js.append(J)
    if nr:
        Ds = P[:, None, :] - b.r_sta
        d = np.maximum(np.linalg.norm(Ds, axis=-1), MIN_RANGE_M)
        n_ple = s.nuis[:, 1] if b.est_n else b.r_n
        p0 = s.nuis[:, 0]
        w = b.r_w / b.r_sig
        lg = np.log10(d)
        rs.append((b.r_p - (p0[:, None] - 10.0 * n_ple[:, None] * lg)) * w)
        grad = (-10.0 * n_ple[:, None, None] / LN10) * Ds / (d * d)[..., None]
        J = np.zeros((G, nr, k))
        J[..., :dims] = np.einsum("gbj,gdj->gbd", grad, T) * w[..., None]
        J[..., dims] = w
        if b.est_n:
            J[..., dims + 1] = -10.0 * lg * w
        Js.append(J)
    return np.concatenate(rs, axis=1), np.concatenate(Js, axis=1)


def retract(b: Batch, s: State, step: np.ndarray) -> State:
    """Apply a step (east, north[, up] metres at the estimate; then nuisance) on the ellipsoid."""
    dims = b.dims
    up = step[:, 2] if dims == 3 else np.zeros(b.size)
    lat, lon, alt = enu2geodetic(
        np.stack([step[:, 0], step[:, 1], up], axis=-1), s.lat, s.lon, s.alt
    )
    if dims == 2:
        alt = b.alt.copy()
    return State(lat, lon, alt, s.nuis + step[:, dims:])


@dataclass
class FitResult:
    state: State
    chi2: np.ndarray  # (G,)
    converged: np.ndarray  # (G,) bool
    iterations: np.ndarray  # (G,)
    info: np.ndarray  # (G, k, k) JᵀJ at the solution (Fisher information)
    residuals: np.ndarray  # (G, m) normalised residuals


def _normal(J: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    A = np.einsum("gmi,gmj->gij", J, J)
    g = np.einsum("gmi,gm->gi", J, r)
    return A, g


NEWTON_AFTER = 12


def _newton_hessian(
    b: Batch, s: State, A: np.ndarray, g: np.ndarray, sel: np.ndarray
) -> np.ndarray:
    """Exact Hessian of ½χ² by differencing the gradient −Jᵀr, for the problems `sel`.

    Gauss–Newton (JᵀJ) converges only linearly where residual curvature matters (signal strengths
    near a flat direction); Newton restores fast convergence. Falls back to JᵀJ where the
    differenced Hessian is not positive definite.
    """
    idx = np.flatnonzero(sel)
    bs, ss = b.take(idx), s.take(idx)
    As, gs = A[idx], g[idx]
    k = As.shape[-1]
    eps = 1e-4 / np.sqrt(np.maximum(np.einsum("gii->gi", As), 1e-300))
    H = np.empty_like(As)
    for j in range(k):
        step = np.zeros((idx.size, k))
        step[:, j] = eps[:, j]
        r, J = evaluate(bs, retract(bs, ss, step))
        H[:, :, j] = -(np.einsum("gmi,gm->gi", J, r) - gs) / eps[:, j, None]
    H = 0.5 * (H + np.swapaxes(H, 1, 2))
    with np.errstate(all="ignore"):
        ok = np.all(np.linalg.eigvalsh(H) > 0, axis=1) & np.all(np.isfinite(H), axis=(1, 2))
    return np.where(ok[:, None, None], H, As)


def fit(b: Batch, start: State, *, max_iter: int = 200, tol_m: float = 1e-4) -> FitResult:
    """Levenberg–Marquardt on every problem of the batch at once; inactive problems drop out."""
    G, k = b.size, b.k
    s = start.copy()
    r, J = evaluate(b, s)
    cost = np.sum(r * r, axis=1)
    lam = np.full(G, 1e-4)
    its = np.zeros(G, dtype=int)
    done = ~np.isfinite(cost)
    conv = np.zeros(G, dtype=bool)
    eye = np.eye(k)
    rs, Js = r, J
    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        sub = b.take(act) if act.size < G else b
        sa = s.take(act)
        A, g = _normal(Js[act], rs[act])
        slow = its[act] >= NEWTON_AFTER
        if slow.any():
            A[slow] = _newton_hessian(sub, sa, A, g, slow)
        d = np.einsum("gii->gi", A)
        dz = d <= 0
        dd = np.where(dz, 1.0, d)
        Alm = A + eye * (dz * 1.0)[:, None, :] + lam[act, None, None] * eye * dd[:, None, :]
        try:
            step = np.linalg.solve(Alm, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack(
                [np.linalg.lstsq(a, v, rcond=None)[0] for a, v in zip(Alm, g, strict=False)]
            )
        cand = retract(sub, sa, step)
        r2, J2 = evaluate(sub, cand)
        c2 = np.sum(r2 * r2, axis=1)
        ok = np.isfinite(c2) & (c2 <= cost[act]) & np.isfinite(cand.lat)
        its[act] += 1
        idx = act[ok]
        if idx.size:
            s.put(idx, cand.take(np.flatnonzero(ok)))
            rs[idx] = r2[ok]
            Js[idx] = J2[ok]
        smallstep = np.linalg.norm(step[:, : b.dims], axis=1) < tol_m
        # the step's predicted χ² decrease: < 1e-6 means it moves < 1e-3 standard deviations
        tiny = np.einsum("gi,gi->g", step, g) < 1e-6
        cost[idx] = c2[ok]
        lam[idx] = np.maximum(lam[idx] / 10.0, 1e-12)
        lam[act[~ok]] *= 10.0
        finished = (ok & (smallstep | tiny)) | (lam[act] > 1e10)
        conv[act[finished]] = True
        done[act[finished]] = True
    A, _ = _normal(Js, rs)
    return FitResult(s, cost, conv & done, its, A, rs)


def position_cov(info: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Position block of the inverse Fisher information, and a per-problem degeneracy flag."""
    d = np.sqrt(np.maximum(np.einsum("gii->gi", info), 1e-300))
    scaled = info / d[:, :, None] / d[:, None, :]
    with np.errstate(all="ignore"):
        cond = np.linalg.cond(scaled)
        bad = ~np.isfinite(cond) | (cond > 1e12)
        inv = np.linalg.pinv(scaled) / d[:, :, None] / d[:, None, :]
    cov = inv[:, :dims, :dims]
    bad |= ~np.all(np.isfinite(cov), axis=(1, 2))
    return cov, bad


def geodesic_offsets(b: Batch, s: State) -> np.ndarray:
    """δ = geodesic initial azimuth − normal-section azimuth, station → estimate (rad, (G, nb)).

    δ is held constant in the next fit, a linearisation that holds only near the estimate: where
    the estimate is more than GEODESIC_MAX_M of surface from a station (a fit on the far side of
    the Earth) or |δ| exceeds GEODESIC_MAX_RAD, δ is 0 (the plain normal-section model).
    """
    nb = b.counts[0]
    if nb == 0:
        return b.b_off
    lat_s, lon_s, _ = ecef2geodetic(b.b_sta)
    geo_az, _, dist = inverse(
        lat_s, lon_s, np.repeat(s.lat[:, None], nb, 1), np.repeat(s.lon[:, None], nb, 1)
    )
    P = geodetic2ecef(s.lat, s.lon, s.alt)
    ns_az, _ = bearing_model(b, P)
    d = wrap_pi(np.radians(geo_az) - ns_az)
    ok = (dist < GEODESIC_MAX_M) & (np.abs(d) < GEODESIC_MAX_RAD)
    return np.where(ok, d, 0.0)
