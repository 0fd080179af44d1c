"""The O(N) / O(N log N) kernels behind `unseen tdoa` agree with their direct definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from unseen.tdoa.align import BETA, TAPS, sinc_interp
from unseen.tdoa.gcc import welch3
from unseen.tdoa.measure import moving_average


@pytest.mark.parametrize(("n", "k"), [(10, 1), (10, 3), (10, 4), (11, 10), (1000, 37), (999, 500)])
def test_moving_average_equals_the_boxcar_convolution(n, k):
    x = np.random.default_rng(n + k).standard_normal(n) + 1j
    want = np.convolve(x, np.ones(k) / k, "same")
    np.testing.assert_allclose(moving_average(x, k), want, rtol=0, atol=1e-12)


def test_sinc_interp_matches_the_direct_kaiser_sinc():
    """The tabulated kernel equals the directly computed windowed sinc within 1e-5 of the
    signal (the table's linear interpolation error ≈ π²/(8·1024²)), edges included."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(300) + 1j * rng.standard_normal(300)).astype(np.complex64)
    pos = np.concatenate([rng.uniform(-3, 303, 400), [0.0, 5.5, 299.0]])
    half = TAPS // 2
    offs = np.arange(-half + 1, half + 1)
    base = np.floor(pos).astype(int)
    d = offs[None, :] - (pos - base)[:, None]
    w = np.sinc(d) * np.i0(BETA * np.sqrt(np.clip(1 - (d / half) ** 2, 0, 1))) / np.i0(BETA)
    idx = base[:, None] + offs[None, :]
    vals = np.where((idx >= 0) & (idx < len(x)), x[np.clip(idx, 0, len(x) - 1)], 0)
    want = np.sum(vals * w, axis=1)
    got = sinc_interp(x, pos)
    assert got.dtype == np.complex64
    assert np.max(np.abs(got - want)) < 1e-5 * np.max(np.abs(x))


def test_welch3_equals_scipy_welch_and_csd():
    rng = np.random.default_rng(2)
    a = (rng.standard_normal(5000) + 1j * rng.standard_normal(5000)).astype(np.complex64)
    b = (a + 0.3 * rng.standard_normal(5000)).astype(np.complex64)
    kw = {"fs": 2e3, "nperseg": 128, "return_onesided": False, "detrend": False}
    f, sab = scipy.signal.csd(a, b, **kw)
    _, saa = scipy.signal.welch(a, **kw)
    _, sbb = scipy.signal.welch(b, **kw)
    f3, aa, bb, ab = welch3(a, b, 2e3, 128, chunk=7)
    np.testing.assert_array_equal(f, f3)
    for got, want in ((aa, saa), (bb, sbb), (ab, sab)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.max(np.abs(want)))
