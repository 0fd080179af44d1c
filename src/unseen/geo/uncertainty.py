"""Position uncertainty: covariance → confidence ellipse and CEP.

For a 2-D Gaussian with covariance C = V diag(λ1, λ2) Vᵀ the p-confidence ellipse has semi-axes
sqrt(λ·k) with k = −2 ln(1 − p) (the χ²₂ quantile); CEP50 is the radius r with P(|x| ≤ r) = 0.5.
"""

from __future__ import annotations

import numpy as np

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

    P(r) = 1/(2π σ1 σ2) ∫₀^{2π} (1 − exp(−r² g(θ)/2)) / g(θ) dθ, g = cos²θ/σ1² + sin²θ/σ2²;
    the periodic integrand makes the trapezoid rule spectrally accurate. Solved by bisection.
    """
    c = np.asarray(cov_en_m2, dtype=float)[..., :2, :2]
    a, b, d = c[..., 0, 0], c[..., 0, 1], c[..., 1, 1]
    half = 0.5 * (a + d)
    rad = np.sqrt(np.maximum(0.25 * (a - d) ** 2 + b * b, 0.0))
    l1 = np.maximum(half + rad, 1e-300)
    l2 = np.maximum(half - rad, 1e-18 * l1)
    th = np.linspace(0.0, 2.0 * np.pi, 128, endpoint=False)
    g = np.cos(th) ** 2 / l1[..., None] + np.sin(th) ** 2 / l2[..., None]
    norm = 1.0 / (np.sqrt(l1 * l2) * th.size)
    lo = np.zeros_like(l1)
    hi = 4.0 * np.sqrt(l1 + l2) * np.sqrt(max(chi2_2(p), 1.0))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        prob = norm * np.sum(-np.expm1(-0.5 * mid[..., None] ** 2 * g) / g, axis=-1)
        below = prob < p
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)
