"""The compiled DOA grid path's plan and codes, without numba (see `_kernels`, `_aot`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MUSIC, CAPON, BARTLETT = 0, 1, 2
MDL, AIC, TW = 0, 1, 2


class ScanPlan(NamedTuple):
    """Everything the compiled grid path needs for one (array, frequency, grid, options): built
    and cached by `stage.plan`, passed whole to the kernels.

    method: MUSIC/CAPON/BARTLETT; num_sources: K, or −1 to count them by `rule` (MDL/AIC/TW)
    after adding `floor`·λ_max to every eigenvalue (the model-error floor); grid (deg), re, im:
    float32 planes of the steering matrix over the grid; circular: the grid wraps; pos: ENU
    element positions (m); kc, ks: k·cos(el), k·sin(el); k = 2π/λ; beam_deg: λ/aperture;
    fit_thr[K]: the χ² model-fit threshold with K sources; max_sigma_deg: the sector's
    uniform-distribution sigma; cal: 1/G per channel (calibration, ones if none); window:
    frames whose summed covariance is also counted (`estimate_frames_core`), 1 = each alone.
    """

    method: int
    num_sources: int
    rule: int
    floor: float
    grid: np.ndarray
    re: np.ndarray
    im: np.ndarray
    circular: bool
    pos: np.ndarray
    kc: float
    ks: float
    k: float
    beam_deg: float
    fit_thr: np.ndarray
    max_sigma_deg: float
    cal: np.ndarray
    window: int
