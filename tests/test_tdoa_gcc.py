"""GCC internals: the window-sized transform gives the exact linear correlation at every lag in
the window, and the Newton-refined peak is the maximum of the band-limited correlation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from unseen.tdoa.gcc import cross_spectrum, fractional_shift, gcc


def _pair(delay, n=1 << 14, seed=0, dtype=np.complex64):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal(n + 64) + 1j * rng.standard_normal(n + 64)
    a = fractional_shift(s, delay)[32 : 32 + n] + 0.3 * rng.standard_normal(n)
    b = s[32 : 32 + n] + 0.3 * rng.standard_normal(n)
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_short_transform_is_the_linear_correlation_in_the_window(dtype):
    a, b = _pair(5.5, dtype=dtype)
    n, L = len(a), 40
    G, _ = cross_spectrum(a, b, 1.0, weighting="none", max_lag_samples=L)
    assert len(G) < 2 * n and len(G) >= n + L  # n + L (fast size), not 2n
    assert G.dtype == dtype
    r = np.fft.ifft(G)
    full = scipy.signal.correlate(a.astype(complex), b.astype(complex), mode="full")
    lags = np.arange(-L, L + 1)
    ref = full[lags + n - 1]  # scipy: full[k + n − 1] = Σ a[m + k] b*[m]
    tol = 1e-4 if dtype == np.complex64 else 1e-9
    assert np.allclose(r[lags % len(G)], ref, rtol=tol, atol=tol * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("band", [None, (-0.2, 0.3)])
@pytest.mark.parametrize("delay", [-17.37, 0.49, 8.02])
def test_refined_peak_is_the_maximum_of_the_band_limited_correlation(dtype, band, delay):
    a, b = _pair(delay, seed=int(abs(delay) * 100), dtype=dtype)
    cr = gcc(a, b, 1.0, 30.0, band_hz=band)
    G, f = cross_spectrum(a, b, 1.0, band_hz=band, max_lag_samples=31)
    nz = np.flatnonzero(G)
    g = G[nz].astype(np.complex128)
    grid = cr.peak_s + np.linspace(-0.02, 0.02, 401)  # 1e-4-sample steps
    vals = np.abs(np.exp(2j * np.pi * np.outer(grid, f[nz])) @ g)
    assert abs(grid[int(np.argmax(vals))] - cr.peak_s) <= 1e-4
    assert cr.peak == pytest.approx(vals.max() / np.abs(G).sum(), rel=1e-5)
    assert abs(cr.peak_s - delay) < 0.05  # 16 k samples at 10 dB: the CRB is ~0.005 samples


def test_peak_outside_the_window_stays_on_its_edge():
    a, b = _pair(12.3)
    cr = gcc(a, b, 1.0, 10.0)  # the true lag is beyond ±10
    assert -10.0 <= cr.peak_s <= 10.0
    assert cr.lags_s.min() >= -10 and cr.lags_s.max() <= 10
