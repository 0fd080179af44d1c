"""Pure Gaussian filters over frozen states: predict, iterated-EKF update, and the IMM around them.

Predict:  x⁻ = F x,  P⁻ = F P Fᵀ + Q.
Update (iterated EKF, Gauss–Newton on the MAP cost; one iteration is the plain EKF):
  x_{i+1} = x⁻ + K_i (z − h(x_i) − H_i (x⁻ − x_i)),  K_i = P⁻H_iᵀ (H_i P⁻ H_iᵀ + R)⁻¹,
  P = (I − K H) P⁻ (I − K H)ᵀ + K R Kᵀ  (Joseph form, at the last linearisation).
IMM (Blom & Bar-Shalom): mix with μ_{i|j} = Π_ij μ_i / c_j, c_j = Σ_i Π_ij μ_i; predict and update
each mode; μ_j ∝ Λ_j c_j with Λ_j the Gaussian likelihood of the innovation at the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from unseen.track.kernels import iekf
from unseen.track.models import (
    Frame,
    Measurements,
    predict_measurements,
    residual_space,
    wrap_rows,
)

LOG_2PI = np.log(2.0 * np.pi)


@lru_cache(maxsize=64)
def no_bias(n: int) -> np.ndarray:
    """A read-only array of n × −1 (no bias state)."""
    a = np.full(n, -1, dtype=np.int64)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Gaussian:
    """Mean x (4,) = east, north (m), v_east, v_north (m/s) and covariance P (4, 4)."""

    x: np.ndarray
    P: np.ndarray


def predict(g: Gaussian, F: np.ndarray, Q: np.ndarray) -> Gaussian:
    """x⁻ = F x, P⁻ = F P Fᵀ + Q."""
    return Gaussian(F @ g.x, F @ g.P @ F.T + Q)


@dataclass(frozen=True, eq=False)
class Update:
    """The posterior and the innovation statistics at the prediction (for IMM and consistency)."""

    g: Gaussian
    nis: float  # νᵀ S⁻¹ ν
    loglik: float  # ln N(ν; 0, S)
    dof: int


def update(
    g: Gaussian,
    meas: Measurements,
    frame: Frame,
    alt_m: float,
    delta: np.ndarray,
    *,
    iterations: int = 5,
    tol_m: float = 1e-3,
    bidx: np.ndarray | None = None,
) -> Update:
    """Iterated-EKF update of `g` with all rows of `meas` (one joint update); `bidx` per row the
    index of its bias state in x (−1: none; bearing/TDOA rows only)."""
    if meas.scalar:
        if bidx is None:
            bidx = no_bias(meas.size)
        x, P, nis, ll = iekf(
            g.x, g.P, meas.kind, meas.sta, meas.sta_b, meas.rot, meas.z, meas.sig, delta,
            frame.ecef, frame.rot, alt_m - frame.alt_m, iterations, tol_m, bidx,
        )  # fmt: skip
        return Update(Gaussian(x, P), float(nis), float(ll), meas.size)
    D, zd, R = residual_space(meas, frame)
    x0, P0 = g.x, g.P
    xi = x0
    nis = loglik = 0.0
    for it in range(max(iterations, 1)):
        h, Hen = predict_measurements(meas, frame, alt_m, xi[None, :2], delta)
        Hd = D @ Hen[0]
        v = wrap_rows(meas, D, zd - D @ h[0]) - Hd @ (x0[:2] - xi[:2])
        PHt = P0[:, :2] @ Hd.T
        S = Hd @ PHt[:2] + R
        S = 0.5 * (S + S.T)
        cho = np.linalg.cholesky(S)
        K = np.linalg.solve(cho.T, np.linalg.solve(cho, PHt.T)).T
        if it == 0:
            w = np.linalg.solve(cho, v)
            nis = float(w @ w)
            loglik = -0.5 * (nis + 2.0 * np.sum(np.log(np.diag(cho))) + len(v) * LOG_2PI)
        xn = x0 + K @ v
        done = np.linalg.norm(xn[:2] - xi[:2]) < tol_m
        xi = xn
        if done:
            break
    IKH = np.eye(x0.shape[0])
    IKH[:, :2] -= K @ Hd
    P = IKH @ P0 @ IKH.T + K @ R @ K.T
    return Update(Gaussian(xi, 0.5 * (P + P.T)), nis, loglik, len(zd))


def combine(modes: tuple[Gaussian, ...], mu: np.ndarray) -> Gaussian:
    """Moment-matched Gaussian of a mixture."""
    if len(modes) == 1:
        return modes[0]
    xs = np.stack([m.x for m in modes])
    x = mu @ xs
    d = xs - x
    P = np.einsum("r,rij->ij", mu, np.stack([m.P for m in modes])) + np.einsum(
        "r,ri,rj->ij", mu, d, d
    )
    return Gaussian(x, P)


def mix(
    modes: tuple[Gaussian, ...], mu: np.ndarray, Pi: np.ndarray
) -> tuple[tuple[Gaussian, ...], np.ndarray]:
    """IMM mixing: the mode-conditioned starting Gaussians and the predicted mode probabilities."""
    if len(modes) == 1:
        return modes, mu
    c = mu @ Pi
    w = Pi * mu[:, None] / np.maximum(c, 1e-300)[None, :]
    out = tuple(combine(modes, w[:, j]) for j in range(len(modes)))
    return out, c


def imm_update(
    modes: tuple[Gaussian, ...],
    c: np.ndarray,
    meas: Measurements,
    frame: Frame,
    alt_m: float,
    delta: np.ndarray,
    iterations: int = 5,
    bidx: np.ndarray | None = None,
) -> tuple[tuple[Gaussian, ...], np.ndarray, float]:
    """Update every mode; new mode probabilities; the NIS of the combined prediction's best mode."""
    ups = [update(m, meas, frame, alt_m, delta, iterations=iterations, bidx=bidx) for m in modes]
    if len(ups) == 1:
        return (ups[0].g,), np.ones(1), ups[0].nis
    ll = np.array([u.loglik for u in ups])
    lw = ll + np.log(np.maximum(c, 1e-300))
    w = np.exp(lw - lw.max())
    mu = w / w.sum()
    return tuple(u.g for u in ups), mu, float(min(u.nis for u in ups))
