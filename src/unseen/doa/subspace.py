"""Grid-free subspace estimators for uniform linear arrays: root-MUSIC and ESPRIT.

On a ULA with axis e and spacing d, a_m(θ) ∝ z^m with z = exp(j·k·d·(e·u(θ))), so bearings are
roots (root-MUSIC) or rotation eigenvalues (ESPRIT). Each z gives e·u = cos(θ − α_e), α_e the
axis azimuth, and θ = α_e − arccos(e·u): the half-plane left of the axis (`spectra.scan_sector`).
"""

from __future__ import annotations

import numpy as np

from unseen.doa.array import Array, wavelength_m
from unseen.doa.spectra import ula_axis


def _z_to_azimuth(z: np.ndarray, array: Array, freq_hz: float) -> np.ndarray:
    e, d = ula_axis(array)
    k = 2 * np.pi / wavelength_m(freq_hz)
    cos_t = np.clip(np.angle(z) / (k * d), -1.0, 1.0)
    axis_deg = np.degrees(np.arctan2(e[0], e[1]))
    return np.mod(axis_deg - np.degrees(np.arccos(cos_t)), 360.0)


def root_music(En: np.ndarray, array: Array, freq_hz: float, num_sources: int) -> np.ndarray:
    """Azimuths (deg) from the K roots of aᴴ(z)·E_n·E_nᴴ·a(z) inside and nearest the unit circle.

    The polynomial's coefficient of z^l is the l-th diagonal sum of C = E_n·E_nᴴ.
    """
    ula_axis(array)
    C = En @ En.conj().T
    M = C.shape[0]
    coeffs = np.array([np.trace(C, offset=l) for l in range(M - 1, -M, -1)])
    roots = np.roots(coeffs)
    inside = roots[np.abs(roots) < 1.0]
    if inside.size < num_sources:
        inside = roots
    best = inside[np.argsort(1.0 - np.abs(inside))[:num_sources]]
    return _z_to_azimuth(best, array, freq_hz)


def esprit(Es: np.ndarray, array: Array, freq_hz: float) -> np.ndarray:
    """Weighted least-squares ESPRIT: Ψ = (E₁ᴴWE₁)⁻¹E₁ᴴWE₂ with E₁ = Es[:-1], E₂ = Es[1:] and
    eig(Ψ) = z_k; azimuths in degrees.

    W = diag((m+1)(M−1−m)), m = 0..M−2, weights the M−1 element pairs as Kay's phase-difference
    estimator does: for one source this attains the CRB, where unweighted LS/TLS ESPRIT, which
    in effect uses only the end elements, is ~1.3× above it on an 8-element ULA.
    """
    ula_axis(array)
    M = Es.shape[0]
    m = np.arange(M - 1)
    w = ((m + 1) * (M - 1 - m)).astype(float)[:, None]
    E1, E2 = Es[:-1], Es[1:]
    psi = np.linalg.solve(E1.conj().T @ (w * E1), E1.conj().T @ (w * E2))
    return _z_to_azimuth(np.linalg.eigvals(psi), array, freq_hz)
