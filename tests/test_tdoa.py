"""TDOA: known delays recovered, sigma honest against Monte Carlo and the CRB, physical lag
limits, clock correction, closure checks, and the real KiwiSDR DCF77 recordings."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest

from unseen.errors import InputError
from unseen.tdoa import (
    closures,
    correct_clock,
    measure,
    on_grid,
    overlap_ns,
    suspect_receivers,
    to_tdoa,
    true_tdoa,
    widen_by_closures,
)
from unseen.tdoa.gcc import fractional_shift
from unseen.types import IqBlock, Site, Tdoa

FS = 1e6
DCF77 = Path("../shared/data/kiwisdr-dcf77-2020-08-13")
DCF77_TX = (50.0152, 9.0112)
DCF77_SITES = {
    "HB9ODP": Site("HB9ODP", 46.499351, 8.798828),
    "JO51xl": Site("JO51xl", 51.466044, 11.977189),
    "pa0rdt": Site("pa0rdt", 51.500500, 3.600690),
}


def _pair(delay_s, snr_db, n=1 << 15, seed=0, bw=200e3):
    """Band-limited noise s(t); a = s(t − delay) + noise, b = s(t) + noise (SNR per receiver)."""
    from unseen.sim import waveforms as w

    rng = np.random.default_rng(seed)
    s = w.noise(n + 64, FS, seed=seed, bandwidth_hz=bw)
    a = fractional_shift(s, delay_s * FS)[32 : 32 + n]
    b = s[32 : 32 + n]
    sig = 10 ** (-snr_db / 20) * np.sqrt(0.5)
    a = a + sig * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    b = b + sig * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    return a.astype(np.complex64), b.astype(np.complex64)


@pytest.mark.parametrize("delay_s", [0.0, 3.3e-6, -17.25e-6, 41.9e-6])
@pytest.mark.parametrize("method", ["phat", "cc"])
def test_known_fractional_delay(delay_s, method):
    a, b = _pair(delay_s, 20.0)
    band = (-100e3, 100e3) if method == "phat" else None  # PHAT: only the signal's bins
    m = measure(a, b, sample_rate_hz=FS, max_lag_s=100e-6, method=method, band_hz=band)
    # at 20 dB over 32 k samples the CRB is a few ns; 0.02 samples leaves room for both
    assert m.tdoa_s == pytest.approx(delay_s, abs=0.02 / FS)
    assert m.sigma_s < 0.02 / FS


def test_lag_search_is_limited_to_the_baseline():
    a, b = _pair(60e-6, 20.0)
    inside = measure(a, b, sample_rate_hz=FS, max_lag_s=80e-6, method="cc")
    outside = measure(a, b, sample_rate_hz=FS, max_lag_s=30e-6, method="cc")
    assert inside.tdoa_s == pytest.approx(60e-6, abs=1e-8)
    assert abs(outside.tdoa_s) <= 30e-6 + 1e-12 and outside.peak < 0.5 * inside.peak


def test_block_times_enter_the_tdoa():
    """Same samples, but block a starts 5 µs later on the absolute clock: tdoa grows by 5 µs."""
    a, b = _pair(2e-6, 20.0)
    t0 = 1_600_000_000 * 10**9
    sa, sb = Site("a", 48.6, -2.0), Site("b", 48.65, -2.0)  # 5.6 km: |tdoa| ≤ 18.5 µs
    ba = IqBlock(a[None], FS, 0.0, utc_ns=t0 + 5_000, site=sa)
    bb = IqBlock(b[None], FS, 0.0, utc_ns=t0, site=sb)
    assert measure(ba, bb, method="cc").tdoa_s == pytest.approx(7e-6, abs=2e-8)


@pytest.mark.slow
def test_sigma_matches_monte_carlo_and_crb():
    """200 trials, 8192 samples: sigma_s within 25 % of the empirical std; the coherence CRB
    matches the closed form."""
    est, sig, crb = [], [], []
    for seed in range(200):
        a, b = _pair(1.3e-6, 0.0, n=8192, seed=seed)
        m = measure(a, b, sample_rate_hz=FS, max_lag_s=20e-6, method="cc")
        est.append(m.tdoa_s)
        sig.append(m.sigma_s)
        crb.append(m.crb_s)
    std = np.std(est)
    # the std of 200 draws is known to ±5 % (1σ); 25 % allows the coherence-estimate noise
    assert np.mean(sig) == pytest.approx(std, rel=0.25)
    # bias small against the spread: 1000 trials show +19 ± 3 ns (0.18σ, with or without the
    # Tukey taper; it predates it), so 3 standard errors of the mean plus 0.2σ (MSE +4 %)
    assert np.mean(est) == pytest.approx(1.3e-6, abs=3 * std / np.sqrt(200) + 0.2 * std)
    # closed form, equal in-band SNR ρ at both receivers over a flat band B (Carter):
    # var = (1+2ρ)/ρ² / (T·∫(2πf)²df); unit signal power over 200 kHz, noise power 1 over 1 MHz
    rho, B, T = 1.0 / (200e3 / FS), 200e3, 8192 / FS
    info = T * (2 * np.pi) ** 2 * B**3 / 12
    closed = np.sqrt((1 + 2 * rho) / rho**2 / info)
    # the coherence is estimated from 63 Welch segments: ~20 % low bias-corrected noise
    assert np.mean(crb) == pytest.approx(closed, rel=0.3)
    # plain cc lets the out-of-band noise in, so it is less efficient than the bound — which
    # is why sigma_s takes the segment scatter, not the CRB, when that is larger
    assert closed < std < 3 * closed


def test_envelope_method_on_am():
    """An AM signal with a slowly varying envelope and independent carrier phases per receiver:
    the envelope method still finds the delay."""
    from unseen.sim import waveforms as w

    n, fs = 1 << 16, 48e3
    env = 1 + 0.8 * np.real(w.noise(n + 128, fs, seed=2, bandwidth_hz=2e3))
    d = 5.5
    ea = np.real(fractional_shift(env.astype(complex), d))[64 : 64 + n]
    eb = env[64 : 64 + n]
    rng = np.random.default_rng(3)
    a = ea * np.exp(1j * (0.3 + 2 * np.pi * 3.0 * np.arange(n) / fs)) + 0.01 * rng.standard_normal(
        n
    )
    b = eb * np.exp(1j * 2.1) + 0.01 * rng.standard_normal(n)
    m = measure(a, b, sample_rate_hz=fs, max_lag_s=1e-3, method="envelope")
    assert m.tdoa_s == pytest.approx(d / fs, abs=0.05 / fs)


def test_clock_correction_with_reference():
    a, b = Site("a", 48.60, -2.10), Site("b", 48.70, -1.90)
    tx, ref = (48.65, -2.02), (48.55, -1.95)
    offset = 3.7e-6  # receiver a's clock runs late
    true_t, true_r = true_tdoa(a, b, *tx), true_tdoa(a, b, *ref)
    target = Tdoa(a, b, true_t + offset, 50e-9)
    reference = Tdoa(b, a, -(true_r + offset), 30e-9)  # measured in the other order
    fixed = correct_clock(target, reference, *ref)
    assert fixed.tdoa_s == pytest.approx(true_t, abs=1e-12)
    assert fixed.sigma_s == pytest.approx(np.hypot(50e-9, 30e-9))
    with pytest.raises(InputError, match="one pair"):
        correct_clock(target, Tdoa(a, Site("c", 48.0, -2.0), 0.0, 1e-9), *ref)


def test_closure_flags_the_receiver_with_bad_timing():
    sites = [Site(n, 48.6 + 0.05 * i, -2.0 + 0.07 * (i % 2)) for i, n in enumerate("abcd")]
    tx = (48.62, -1.97)
    bias = {"a": 0.0, "b": 0.0, "c": 2e-6, "d": 0.0}  # c's clock is 2 µs off
    tdoas = [
        Tdoa(p, q, true_tdoa(p, q, *tx) + bias[p.station] - bias[q.station], 50e-9)
        for p, q in itertools.combinations(sites, 2)
    ]
    # a per-receiver offset cancels around every loop: closure cannot see it ...
    assert all(c.ok for c in closures(tdoas))
    # ... but a receiver whose timing wanders (different errors in each of its pairs) breaks
    # every loop through it, and only those
    err = {("a", "c"): 1e-6, ("b", "c"): -0.8e-6, ("c", "d"): 0.5e-6}
    tdoas = [
        Tdoa(
            t.site, t.site_b, t.tdoa_s + err.get((t.site.station, t.site_b.station), 0.0), t.sigma_s
        )
        for t in tdoas
    ]
    checks = closures(tdoas)
    assert {c.stations for c in checks if not c.ok} == {
        ("a", "b", "c"),
        ("a", "c", "d"),
        ("b", "c", "d"),
    }
    assert suspect_receivers(checks) == ["c"]
    # the evidence acts: only c's pairs widen, each enough that every loop then closes
    wide = widen_by_closures(tdoas, checks, suspect_receivers(checks))
    for t, w in zip(tdoas, wide, strict=True):
        through_c = "c" in (t.site.station, t.site_b.station)
        assert (w.sigma_s > 10 * t.sigma_s) if through_c else (w.sigma_s == t.sigma_s)
        assert abs(err.get((t.site.station, t.site_b.station), 0.0)) <= 1.96 * w.sigma_s
    assert all(c.ok for c in closures(wide))
    assert widen_by_closures(tdoas[:0], checks) == []


def test_recordings_that_do_not_overlap(tmp_path):
    with pytest.raises(InputError, match="do not overlap"):
        overlap_ns([(0, 10), (20, 30)], names=["x", "y"])
    from unseen.sources import open_recording, write_sigmf

    x = np.ones((1, 1000), np.complex64)
    ra = open_recording(write_sigmf(tmp_path / "a", x, 1e3, 1e6, utc_ns=0))
    rb = open_recording(write_sigmf(tmp_path / "b", x, 1e3, 1e6, utc_ns=5 * 10**9))
    with pytest.raises(InputError, match=r"do not overlap in time \(a: .*b: "):
        on_grid([ra, rb])
    rc = open_recording(write_sigmf(tmp_path / "c", x, 1e3, 1e6))
    with pytest.raises(InputError, match="no absolute time"):
        on_grid([ra, rc])


def _dcf77_recordings():
    if not DCF77.exists():
        pytest.skip(f"{DCF77} absent: the real KiwiSDR DCF77 recordings are not in this checkout")
    from unseen.sources import open_recording

    recs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stale first GNSS stamps are reported, then dropped
        for p in sorted(DCF77.glob("*.wav")):
            r = open_recording(p)
            r.site = DCF77_SITES[r.station]
            recs.append(r)
    return recs


@pytest.mark.slow
def test_dcf77_tdoas_against_geodesic_truth():
    """Real data: each pair's TDOA within 12 µs (3.6 km of range difference) of the ground-wave
    truth (geodesic paths at c), and the triplet closes within 3σ."""
    recs = _dcf77_recordings()
    blocks = on_grid(recs)
    tdoas = []
    for (ra, a), (rb, b) in itertools.combinations(zip(recs, blocks, strict=True), 2):
        m = measure(a, b, method="carrier")
        truth = true_tdoa(ra.site, rb.site, *DCF77_TX)
        assert m.tdoa_s == pytest.approx(truth, abs=12e-6), (ra.station, rb.station)
        tdoas.append(to_tdoa(m, ra.site, rb.site))
    assert all(c.ok for c in closures(tdoas))


def test_cross_check_widens_only_beyond_the_statistical_spread():
    """σ² grows by max(0, D² − σ_D²)/2: two estimates that agree within their own σ keep the
    primary's σ (good wideband signals keep their small σ); a gross disagreement covers D."""
    from unseen.tdoa import cross_check
    from unseen.tdoa.measure import Measurement

    p = Measurement(1e-6, 3e-9, 3e-9, None, 1.0, 0.1, "phat", 8)
    near = Measurement(1e-6 + 4e-9, 4e-9, 4e-9, None, 1.0, 0.1, "envelope", 8)
    m, ok = cross_check(p, near)
    assert ok and m.sigma_s == p.sigma_s
    far = Measurement(1e-6 + 400e-6, 1e-6, 1e-6, None, 1.0, 0.1, "envelope", 8)
    m, ok = cross_check(p, far)
    d2, s2 = (400e-6) ** 2, (3e-9) ** 2 + (1e-6) ** 2
    assert not ok and m.sigma_s == pytest.approx(np.sqrt(p.sigma_s**2 + (d2 - s2) / 2))
    assert m.tdoa_s == p.tdoa_s


def test_coherence_crb_is_finite_with_empty_bins_in_single_precision():
    # A weak channelized complex64 block has near-empty bins outside the channel whose float32
    # spectra underflow to 0; the coherence there must not turn into NaN (0/0) and poison the
    # bound.
    from unseen.tdoa.gcc import coherence_crb

    fs, n = 48e3, 1 << 14
    rng = np.random.default_rng(7)
    x = np.fft.fft(rng.standard_normal(n) + 1j * rng.standard_normal(n))
    x[n // 8 :] = 0  # an eighth of the band occupied, the rest exactly empty
    a = (1e-6 * np.fft.ifft(x)).astype(np.complex64)  # weak, as after a channel filter
    b = (a * np.exp(0.3j)).astype(np.complex64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        crb, _, _ = coherence_crb(a, b, fs, 0.0)
    assert np.isfinite(crb) and crb > 0
