"""The compiled frame-path kernels against plain numpy/closed forms (exact up to rounding)."""

import numpy as np
import pytest

from unseen.doa import Array, Calibration, crb_stochastic, estimate, estimate_frames
from unseen.doa._kernels import count_sources as count_compiled
from unseen.doa._kernels import covariance_c64, covariance_range, uncertainty
from unseen.doa.order import count_sources
from unseen.errors import InputError
from unseen.sim import Emitter, simulate
from unseen.types import IqBlock

F = 94.2e6


@pytest.mark.parametrize("M", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("N", [8, 511, 512, 1000, 4097])
def test_covariance_matches_complex128_product(M, N):
    rng = np.random.default_rng(M * 10_000 + N)
    x = (rng.standard_normal((M, N)) + 1j * rng.standard_normal((M, N))).astype(np.complex64)
    want = x.astype(complex) @ x.conj().T.astype(complex)
    # float32 sums over ≤ 512 products then float64: relative error ~ 1e-7, far below 1e-5
    tol = 1e-5 * np.abs(want).max()
    np.testing.assert_allclose(covariance_c64(x), want, rtol=0, atol=tol)
    sub = x[:, 3 : N - 2]  # rows contiguous, array not: the strided-layout compile
    want_sub = sub.astype(complex) @ sub.conj().T.astype(complex)
    np.testing.assert_allclose(covariance_c64(sub), want_sub, rtol=0, atol=tol)
    np.testing.assert_allclose(covariance_range(x, 3, N - 2), want_sub, rtol=0, atol=tol)


@pytest.mark.parametrize("az", [0.0, 37.3, 181.0, 299.9])
def test_one_source_closed_form_crb_equals_general_bound(az):
    arr = Array.uca(5, 1.0)
    k = 2 * np.pi * F / 299_792_458.0
    a = arr.steering(az, F)
    power, noise, N = 3.7, 0.4, 4096
    R = power * (a @ a.conj().T) + noise * np.eye(5)
    var, p, h, ok = uncertainty(arr.positions_enu_m, np.radians([az]), k, R, noise, N)
    assert ok and p[0] == pytest.approx(power, rel=1e-12)
    d = arr.steering_derivative(az, F)
    proj = np.eye(5) - a @ a.conj().T / 5
    assert h[0] == pytest.approx((d.conj().T @ proj @ d).real[0, 0], rel=1e-9)
    want = crb_stochastic(arr, az, F, power, noise, N)[0, 0]
    assert np.degrees(np.degrees(var[0])) == pytest.approx(want, rel=1e-9)


def test_compiled_source_count_is_the_argmin_of_the_criteria():
    from unseen.doa._kernels import AIC, MDL
    from unseen.doa.order import criterion

    rng = np.random.default_rng(3)
    for _ in range(200):
        lam = np.sort(rng.exponential(1.0, 6) * rng.choice([1, 1, 30], 6))
        N = int(rng.integers(10, 5000))
        for kind, rule in (("mdl", MDL), ("aic", AIC)):
            want = int(np.argmin(criterion(lam, N, kind)))
            assert count_compiled(lam, N, rule, 5, 0.0) == want
            assert count_sources(lam, N, kind, 5) == want


def test_batched_frames_with_calibration_match_single_frames():
    arr = Array.uca(5, 1.0)
    cal = Calibration((0.0, 1.5, -0.7, 0.3, 2.0), (0.0, -40.0, 25.0, 10.0, -75.0))
    blk = simulate(
        arr,
        [Emitter(40.0, 12.0)],
        num_samples=3 * 2048,
        sample_rate_hz=1e6,
        center_freq_hz=F,
        seed=9,
    )
    g = cal.response[:, None]
    raw = IqBlock((blk.samples * g).astype(np.complex64), 1e6, F)
    batch = estimate_frames(raw, arr, 2048, "music", 1, calibration=cal)
    for i, b in enumerate(batch):
        s = estimate(
            IqBlock(raw.samples[:, i * 2048 : (i + 1) * 2048], 1e6, F, i * 2048 / 1e6),
            arr,
            method="music",
            num_sources=1,
            calibration=cal,
            frame=i,
        )
        assert b == s
        assert abs((b.azimuths_deg[0] - 40.0 + 180) % 360 - 180) < 1.0
    bad = raw.samples.copy()
    bad[1, 5000] = np.inf
    with pytest.raises(InputError, match="NaN or Inf"):
        estimate_frames(IqBlock(bad, 1e6, F), arr, 2048)
    with pytest.raises(InputError, match="criterion"):
        estimate(IqBlock(raw.samples, 1e6, F), arr, criterion="bic")


@pytest.mark.parametrize("azimuths", [[40.0], [40.0, 115.0]])
def test_compiled_sigma_matches_python_reference(azimuths):
    from unseen.doa import covariance
    from unseen.doa.stage import _uncertainty

    arr = Array.uca(5, 1.0)
    blk = simulate(
        arr,
        [Emitter(a, 8.0) for a in azimuths],
        num_samples=4096,
        sample_rate_hz=1e6,
        center_freq_hz=F,
        seed=11,
    )
    est = estimate(blk, arr, method="music", num_sources=len(azimuths))
    R = covariance(blk.samples)
    lam, E = np.linalg.eigh(R)
    K = len(azimuths)
    sigma, _, _ = _uncertainty(arr, np.array(est.azimuths_deg), F, R, lam, E, 4096, K, np.zeros(K))
    np.testing.assert_allclose(est.sigma_deg, sigma, rtol=1e-9)


@pytest.mark.parametrize("datatype", ["cf32_le", "ci16_le", "ci8", "cu8"])
def test_interleaved_recording_layout_matches_converted_block(tmp_path, datatype):
    """The compiled path on the memory-mapped interleaved file equals the path on the
    converted complex64 block (same covariance up to float32 rounding, same bearings)."""
    from unseen.doa import DoaOptions, estimate_raw
    from unseen.sources import open_recording
    from unseen.sources.sigmf import write_sigmf

    arr = Array.uca(5, 1.0)
    blk = simulate(arr, [Emitter(40.0, 12.0), Emitter(160.0, 6.0)], num_samples=3 * 1024,
                   sample_rate_hz=1e6, center_freq_hz=F, seed=5)  # fmt: skip
    x = blk.samples * np.float32(0.9 / np.abs(blk.samples.view(np.float32)).max())
    write_sigmf(tmp_path / "r", x, 1e6, F, datatype=datatype)
    rec = open_recording(tmp_path / "r.sigmf-meta")
    raw, off, scale = rec.raw_window(1024, 2048)
    conv = rec.read(1024, 2048).samples
    want = conv.astype(complex) @ conv.conj().T.astype(complex)
    got = covariance_range(raw, 0, 2048, off) * scale**2
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    opts = DoaOptions(num_sources=2)
    a = estimate_raw(raw, arr, F, 1024, opts, off, scale)
    b = estimate_raw(np.ascontiguousarray(conv), arr, F, 1024, opts)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-6)
