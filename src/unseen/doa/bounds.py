"""The stochastic (unconditional) Cramér–Rao bound on azimuth, any geometry, any source count.

Stoica & Nehorai (1990), in the form of Stoica, Larsson & Gershman (2001): with N snapshots,
steering A, derivatives D = ∂A/∂θ, source covariance P, noise power σ² and R = A·P·Aᴴ + σ²·I,

    CRB(θ)⁻¹ = (2N/σ²) · Re{ (Dᴴ·Π⊥·D) ⊙ (P·Aᴴ·R⁻¹·A·P)ᵀ },   Π⊥ = I − A(AᴴA)⁻¹Aᴴ

in rad² (θ in radians); P and σ² are nuisance parameters. It holds for circular Gaussian sources.
"""

from __future__ import annotations

import numpy as np

from unseen.doa.array import Array
from unseen.errors import GeometryError


def crb_stochastic(
    array: Array,
    azimuth_deg: np.ndarray | float,
    freq_hz: float,
    source_cov: np.ndarray | float,
    noise_power: float,
    num_snapshots: int,
) -> np.ndarray:
    """CRB matrix on azimuths, degrees², shape (K, K).

    `source_cov` is P (K×K), or a vector of source powers, or one power for every source, in the
    same units as `noise_power` (so a per-element SNR of s dB is power σ²·10^(s/10)).
    """
    az = np.atleast_1d(np.asarray(azimuth_deg, dtype=float))
    K, M = az.size, array.num_elements
    P = np.asarray(source_cov, dtype=complex)
    if P.ndim < 2:
        P = np.diag(np.broadcast_to(P, (K,)).astype(complex))
    A = array.steering(az, freq_hz)
    D = array.steering_derivative(az, freq_hz)
    AhA = A.conj().T @ A
    if K >= M or np.linalg.cond(AhA) > 1e12:
        raise GeometryError(
            f"CRB undefined: {K} sources at {az.tolist()} deg are not identifiable by {M} elements"
        )
    proj = np.eye(M) - A @ np.linalg.solve(AhA, A.conj().T)
    R = A @ P @ A.conj().T + noise_power * np.eye(M)
    H = D.conj().T @ proj @ D
    G = P @ A.conj().T @ np.linalg.solve(R, A) @ P
    fim = (2 * num_snapshots / noise_power) * np.real(H * G.T)
    try:
        crb = np.linalg.inv(fim)
    except np.linalg.LinAlgError:
        raise GeometryError(
            f"CRB undefined: singular Fisher information for azimuths {az.tolist()} deg"
        ) from None
    return np.degrees(np.degrees(crb))


def crb_single(
    array: Array, azimuth_deg: float, freq_hz: float, snr_db: float, num_snapshots: int
) -> float:
    """Closed form for one source: CRB = (1 + M·snr) / (2N·M·snr²·‖Π⊥d‖²), degrees²."""
    M = array.num_elements
    snr = 10 ** (snr_db / 10)
    a = array.steering(azimuth_deg, freq_hz)[:, 0]
    d = array.steering_derivative(azimuth_deg, freq_hz)[:, 0]
    pd = d - a * (a.conj() @ d) / M
    h = float(np.real(pd.conj() @ pd))
    return float(np.degrees(np.degrees((1 + M * snr) / (2 * num_snapshots * M * snr**2 * h))))
