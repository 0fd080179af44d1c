"""Position uncertainty: covariance → confidence ellipse and CEP.

For a 2-D Gaussian with covariance C = V diag(λ1, λ2) Vᵀ the p-confidence ellipse has semi-axes
sqrt(λ·k) with k = −2 ln(1 − p) (the χ²₂ quantile); CEP50 is the radius r with P(|x| ≤ r) = 0.5.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf, erfinv

from unseen.types import Ellipse


def chi2_2(p: float) -> float:
    """Quantile of the χ² distribution with 2 degrees of freedom: −2 ln(1 − p)."""
    return -2.0 * np.log1p(-p)


def ellipse_params(cov_en_m2: np.ndarray, p: float) -> np.ndarray:
    """Semi-major, semi-minor (m) and major-axis azimuth (deg in [0, 180)), shape (..., 3).

    `cov_en_m2` is (..., 2, 2) in east-north order (a 3×3 ENU covariance is cut to its first two).
    """
    c = np.asarray(cov_en_m2, dtype=float)[..., :2, :2]
    a, b, d = c[..., 0, 0], c[..., 0, 1], c[..., 1, 1]
    half = 0.5 * (a + d)
    rad = np.sqrt(np.maximum(0.25 * (a - d) ** 2 + b * b, 0.0))
    lam1, lam2 = half + rad, np.maximum(half - rad, 0.0)
    k = chi2_2(p)
    # major axis direction θ from east counter-clockwise: tan 2θ = 2b / (a − d)
    theta = 0.5 * np.arctan2(2.0 * b, a - d)
    az = np.mod(90.0 - np.degrees(theta), 180.0)
    return np.stack([np.sqrt(lam1 * k), np.sqrt(lam2 * k), az], axis=-1)


def ellipse(cov_en_m2: np.ndarray, p: float) -> Ellipse:
    """The p-confidence ellipse of one 2×2 (or 3×3, horizontal part used) covariance."""
    s1, s2, az = ellipse_params(cov_en_m2, p)
    return Ellipse(float(s1), float(s2), float(az))


def cep(cov_en_m2: np.ndarray, p: float = 0.5) -> np.ndarray:
    """Radius (m) of the circle about the mean holding probability p of a 2-D Gaussian.

    With principal variances λ1 ≥ λ2, P(r) = ∫ φ(z) erf(sqrt((r² − λ1 z²)/(2 λ2))) dz over
    |z| ≤ r/√λ1; substituting z = (r/√λ1) sin t gives a smooth integrand on [0, π/2] (Gauss–
    Legendre, exact to ~1e-12 even as λ2 → 0). Newton's method between the bounds 0.674√λ1
    (λ2 = 0) and 1.177√λ1 (λ2 = λ1) for p = 0.5.
    """
    c = np.asarray(cov_en_m2, dtype=float)[..., :2, :2]
    a, b, d = c[..., 0, 0], c[..., 0, 1], c[..., 1, 1]
    half = 0.5 * (a + d)
    rad = np.sqrt(np.maximum(0.25 * (a - d) ** 2 + b * b, 0.0))
    l1 = np.maximum(half + rad, 1e-300)
    l2 = np.maximum(half - rad, 1e-30 * l1)
    x, w = np.polynomial.legendre.leggauss(48)
    t = 0.25 * np.pi * (x + 1.0)
    w = 0.25 * np.pi * w
    st, ct = np.sin(t), np.cos(t)
    s1, s2 = np.sqrt(l1)[..., None], np.sqrt(l2)[..., None]

    def prob(r: np.ndarray) -> np.ndarray:
        u = r[..., None] / s1
        f = np.exp(-0.5 * (u * st) ** 2) * erf(r[..., None] * ct / (np.sqrt(2.0) * s2)) * ct
        return np.sqrt(2.0 / np.pi) * u[..., 0] * np.sum(w * f, axis=-1)

    lo = np.sqrt(2.0 * erfinv(p) ** 2 * l1)  # χ²₁ quantile
    hi = np.sqrt(chi2_2(p) * l1)
    r = np.sqrt(chi2_2(p) * 0.5 * (l1 + l2))
    for _ in range(40):
        h = 1e-6 * r
        pr = prob(r)
        dens = (prob(r + h) - pr) / h
        new = np.clip(r - (pr - p) / np.maximum(dens, 1e-300), lo, hi)
        if np.all(np.abs(new - r) <= 1e-10 * r):
            return new
        r = new
    return r
