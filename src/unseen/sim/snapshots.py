"""Batched narrowband snapshots for Monte Carlo: every trial in one array operation.

    X[t] = G · (A(θ)·S[t] + N[t]),   S, N circular Gaussian, E|s_k|² = σ²·10^(snr_k/10)

This is the stochastic (unconditional) signal model under which `unseen.doa.bounds.crb_stochastic`
is the Cramér–Rao bound. `coherent=True` makes every source a complex-scaled copy of the first
(fully correlated, e.g. multipath), the case spatial smoothing exists for.
"""

from __future__ import annotations

import numpy as np

from unseen.doa.array import Array
from unseen.errors import InputError


def gaussian_snapshots(
    array: Array,
    azimuth_deg: float | np.ndarray,
    snr_db: float | np.ndarray,
    num_snapshots: int,
    freq_hz: float,
    *,
    trials: int = 1,
    seed: int = 0,
    coherent: bool = False,
    noise_power: float = 1.0,
    gains: np.ndarray | None = None,
) -> np.ndarray:
    """Snapshots of shape (trials, elements, num_snapshots), complex64.

    `snr_db` is per element and per source; `gains` (elements,) complex channel errors G.
    """
    az = np.atleast_1d(np.asarray(azimuth_deg, dtype=float))
    snr = np.broadcast_to(np.asarray(snr_db, dtype=float), az.shape)
    if num_snapshots < 1 or trials < 1:
        raise InputError(f"num_snapshots and trials must be >= 1, got {num_snapshots}, {trials}")
    rng = np.random.default_rng(seed)
    M, K, N = array.num_elements, az.size, int(num_snapshots)
    A = array.steering(az, freq_hz)
    amp = np.sqrt(noise_power * 10 ** (snr / 10))

    def cn(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)

    if coherent:
        ph = np.exp(2j * np.pi * rng.random((trials, K, 1)))
        S = amp[None, :, None] * ph * cn(trials, 1, N)
    else:
        S = amp[None, :, None] * cn(trials, K, N)
    X = A[None] @ S + np.sqrt(noise_power) * cn(trials, M, N)
    if gains is not None:
        X *= np.asarray(gains, dtype=complex).reshape(1, M, 1)
    return X.astype(np.complex64)
