"""Sky waves and honest TDOA σ: the echo term from the cross-spectrum's phase curvature on
simulated DCF77 (ground wave + sky-wave echo, `unseen.tdoa.sim`), the effective number of
correlated segments, and the σ factor for all-pair TDOAs used as independent."""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from unseen.tdoa import measure
from unseen.tdoa.measure import effective_count, pool_echo
from unseen.tdoa.pairs import redundancy
from unseen.tdoa.sim import Path, received, skywave_delay_s

FS = 12_000.0


def _pair(gamma: complex, rng: np.random.Generator, seconds: float = 6.0):
    """Receiver a: ground wave at 1 ms plus an echo γ 100 µs later; b: ground wave at 1.5 ms."""
    bits = np.arange(60) % 2
    n = int(seconds * FS)
    pa = [Path(1e-3)] + ([Path(1.1e-3, gamma)] if gamma else [])
    a = received(1.6e9 + 0.3, n, FS, pa, snr_db=25, bits=bits, rng=rng)
    b = received(1.6e9 + 0.3, n, FS, [Path(1.5e-3)], snr_db=25, bits=bits, rng=rng)
    return measure(a, b, sample_rate_hz=FS, max_lag_s=3e-3, method="carrier", offset_s=0.0)


def test_skywave_delay_is_the_one_hop_geometry():
    # 2√(132² + 70²) − 264 km = 34.8 km: 116 µs (JO51xl's 264 km in the README)
    assert abs(skywave_delay_s(264e3) - 116e-6) < 1e-6
    assert skywave_delay_s(1000e3) < skywave_delay_s(300e3) < 2 * 70e3 / 299_792_458.0


def test_echo_term_is_near_zero_without_echo_and_pooled_it_covers_every_echo_phase():
    """An echo of 0.2 at 100 µs biases the carrier TDOA by d·Re(γ/(1+γ)) (≈ ±9 µs in phase,
    ≈ ±2 µs in quadrature) that no σ from noise sees (CRB ≈ 0.3 µs). The phase curvature sees
    the quadrature part (echo_s ≈ 11 µs); the in-phase part bends nothing (echo_s ≈ 0), so
    one pair alone is not covered, but the RMS over the pairs (pool_echo) covers all four
    within 1.96σ. Without an echo the term is noise-subtracted: < 1 µs (vs 11)."""
    rng = np.random.default_rng(7)
    clean = _pair(0, rng)
    assert abs(clean.tdoa_s + 0.5e-3) < 3 * clean.sigma_s
    assert clean.echo_s < 1e-6
    ms = [_pair(0.2 * np.exp(2j * np.pi * ph), rng) for ph in (0.0, 0.25, 0.5, 0.75)]
    err = np.array([m.tdoa_s + 0.5e-3 for m in ms])
    assert np.max(np.abs(err)) > 6e-6  # the in-phase echoes do bias it
    assert all(abs(e) > 3 * m.crb_s for e, m in zip(err, ms, strict=True))  # beyond the CRB
    assert ms[1].echo_s > 5e-6 and ms[3].echo_s > 5e-6  # quadrature: seen
    pooled = pool_echo(ms)
    assert all(abs(e) <= 1.96 * m.sigma_s for e, m in zip(err, pooled, strict=True))
    assert all(p.sigma_s >= m.sigma_s for p, m in zip(pooled, ms, strict=True))


def test_effective_count_of_white_and_slowly_varying_series():
    rng = np.random.default_rng(3)
    assert effective_count(rng.standard_normal(30)) == 30  # no significant lag-1 correlation
    x = np.zeros(400)
    for i in range(1, len(x)):  # AR(1), ρ = 0.8: K(1 − ρ)/(1 + ρ) = 44
        x[i] = 0.8 * x[i - 1] + rng.standard_normal()
    assert 25 < effective_count(x) < 70


def test_redundancy_makes_all_pairs_carry_the_receivers_information():
    """All n(n−1)/2 pairs of n receivers of one noise σ_r (=1), each pair σ² = 2, taken as
    independent after the √(n/2) factor: their information DᵀD/(2·n/2) equals the exact
    information of n receivers' differences, I − 11ᵀ/n."""
    for n in (2, 3, 4, 6):
        D = np.zeros((n * (n - 1) // 2, n))
        for r, (i, j) in enumerate(itertools.combinations(range(n), 2)):
            D[r, i], D[r, j] = 1, -1
        info = D.T @ D / (2 * redundancy(n) ** 2)
        assert np.allclose(info, np.eye(n) - np.ones((n, n)) / n)


def _stormy_pair(seed: int, seconds: float = 6.0):
    """DCF77 at a (ground wave 1 ms) and b (1.6 ms), plus a storm's sferics, 5 a second at
    10 dB over the carrier × lognormal(0, 1), reaching a at 0.3 ms and b at 1.5 ms: a second
    common signal, at −1.2 ms, against DCF77's −0.6 ms."""
    from unseen.tdoa.sim import sferics

    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, 60)
    n = int(seconds * FS)
    t0 = 1.6e9 + 0.3
    k = rng.poisson(5 * seconds)
    times = t0 + rng.uniform(0, seconds, k)
    amps = 10**0.5 * rng.lognormal(0, 1, k)
    x = []
    for d, storm_d, gain in ((1e-3, 0.3e-3, 1.0), (1.6e-3, 1.5e-3, 0.7)):
        clean = received(t0, n, FS, [Path(d)], snr_db=25, bits=bits, rng=rng)
        x.append(clean + sferics(t0, n, FS, times, gain * amps, storm_d, rng))
    return x


def test_sferics_are_blanked_and_gaussian_noise_is_not(monkeypatch):
    """Impulses common to both receivers at their own TDOA own a plain correlation (RMS
    error ≈ 350 µs over these three storms); cut at the bound of what a carrier's modulation
    reaches, they leave the DCF77 TDOA within ≈ 7 µs RMS (a 6 s block of 25 dB DCF77 has a
    0.3 µs CRB: the rest is the sferics' leftover). Gaussian noise is left alone."""
    import sys

    mod = sys.modules["unseen.tdoa.measure"]
    kw = dict(sample_rate_hz=FS, max_lag_s=2e-3, method="carrier", offset_s=0.0)
    err, raw = [], []
    for seed in (1, 3, 4):
        a, b = _stormy_pair(seed)
        err.append(mod.measure(a, b, **kw).tdoa_s + 0.6e-3)
        with monkeypatch.context() as mp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mp.setattr(mod, "blank", lambda y, carrier=None, k=4.0: y)
            raw.append(mod.measure(a, b, **kw).tdoa_s + 0.6e-3)
    assert np.sqrt(np.mean(np.square(err))) < 12e-6
    assert np.sqrt(np.mean(np.square(raw))) > 100e-6  # what the blanker prevents
    y = np.array([1, 1j]) @ np.random.default_rng(2).standard_normal((2, 100_000))
    assert np.count_nonzero(mod.blank(y) != y) <= 10  # 2^−16 of 1e5 samples: 1.5 expected
