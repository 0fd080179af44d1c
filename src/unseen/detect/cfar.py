"""Noise floor and CFAR over frequency for averaged periodograms.

Noise-only bins of a K-segment Welch average follow σ²·Gamma(K, 1/K) (χ² with 2K degrees of
freedom over 2K). The floor is an ordered-statistic estimate (median over a window of bins,
divided by the Gamma median/mean ratio), robust to signals in the window; a bin is occupied when
it exceeds floor · Q(1 − pfa) with Q the Gamma(K, 1/K) quantile.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.stats


def median_to_mean(k: int) -> float:
    """Median/mean of the average of k exponential periodogram bins."""
    return float(scipy.stats.gamma.median(k, scale=1.0 / k))


def noise_floor(psd: np.ndarray, averages: int, *, window: int | None = None) -> np.ndarray:
    """Per-bin noise power: running median over `window` bins (default len/8, wrapping),
    bias-corrected to the mean; the global median where the window would be too small."""
    n = len(psd)
    window = window or max(33, n // 8)
    if window >= n:
        med = np.full(n, np.median(psd))
    else:
        med = scipy.ndimage.median_filter(psd, size=window | 1, mode="wrap")
        med = np.minimum(med, np.median(psd) * 4)  # a wide signal cannot lift the floor unbounded
    return med / median_to_mean(averages)


def threshold_factor(averages: int, pfa: float, bins: int = 1) -> float:
    """Factor over the floor that noise in a sum of `bins` bins exceeds with probability pfa."""
    k = averages * bins
    return float(scipy.stats.gamma.isf(pfa, k, scale=1.0 / k))


def cfar(
    psd: np.ndarray, averages: int, *, pfa: float = 1e-6, window: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(occupied mask, floor) for an averaged periodogram."""
    floor = noise_floor(psd, averages, window=window)
    return psd > floor * threshold_factor(averages, pfa), floor
