"""Simulator against closed forms: power, SNR, phase progression, delay, CFO, determinism."""

import numpy as np
import pytest

from unseen.doa.array import Array, wavelength_m
from unseen.errors import InputError
from unseen.sim import Emitter, Path, Receiver, gaussian_snapshots, simulate, waveforms

FS = 1.0e6
FC = 94.2e6


@pytest.mark.parametrize("kind", waveforms.WAVEFORMS)
def test_waveforms_unit_power_and_deterministic(kind):
    x = waveforms.generate(kind, 50_000, FS, seed=7)
    assert x.shape == (50_000,) and np.iscomplexobj(x)
    # noise: mean of 50k unit-mean exponentials has std 1/sqrt(50k) = 0.0045; 0.03 is > 6 sigma.
    assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, abs=0.03 if kind == "noise" else 1e-9)
    np.testing.assert_array_equal(x, waveforms.generate(kind, 50_000, FS, seed=7))
    assert not np.allclose(x, waveforms.generate(kind, 50_000, FS, seed=8))


@pytest.mark.parametrize("audio", ["speech", "music"])
def test_audio_is_bounded_band_limited_and_not_silent(audio):
    a = waveforms.AUDIO[audio](48_000, 16_000.0, seed=3)
    assert np.max(np.abs(a)) <= 1.0 + 1e-12 and np.std(a) > 0.05
    spec = np.abs(np.fft.rfft(a)) ** 2
    f = np.fft.rfftfreq(a.size, 1 / 16_000)
    assert spec[f > 4_500].sum() < 0.01 * spec.sum()


def test_fm_instantaneous_frequency_within_deviation():
    dev = 5_000.0
    x = waveforms.fm(200_000, FS, seed=1, deviation_hz=dev)
    inst = np.angle(x[1:] * x[:-1].conj()) * FS / (2 * np.pi)
    assert np.max(np.abs(inst)) <= dev * (1 + 1e-6) and np.max(np.abs(inst)) > 0.3 * dev


def test_qpsk_occupies_its_rrc_bandwidth():
    sym = 50_000.0
    x = waveforms.qpsk(2**17, FS, seed=2, symbol_rate_hz=sym, rolloff=0.35)
    p = np.abs(np.fft.fft(x)) ** 2
    f = np.fft.fftfreq(x.size, 1 / FS)
    inside = p[np.abs(f) <= sym * (1 + 0.35) / 2].sum() / p.sum()
    assert inside > 0.99


def test_cw_per_element_snr_and_phase_progression():
    arr = Array.ula(4, 1.0)
    az, snr_db = 30.0, 20.0
    blk = simulate(
        arr,
        [Emitter(az, snr_db, "cw")],
        num_samples=2**16,
        sample_rate_hz=FS,
        center_freq_hz=FC,
        seed=4,
    )
    x = blk.samples.astype(complex)
    assert blk.samples.dtype == np.complex64 and x.shape == (4, 2**16)
    # Power per element = S + N = 100 + 1; sample mean of 65536 noise samples: std ~ 0.5 %.
    np.testing.assert_allclose(np.mean(np.abs(x) ** 2, axis=1), 101.0, rtol=0.02)
    # Phase between neighbours = 2π·d·sin(az)/λ (east axis, source at az clockwise from north).
    expected = 2 * np.pi * 1.0 * np.sin(np.radians(az)) / wavelength_m(FC)
    dphi = np.angle(np.mean(x[1:] * x[:-1].conj(), axis=1))
    np.testing.assert_allclose(dphi, expected, atol=0.01)


def test_noise_only_has_the_receiver_noise_power():
    blk = simulate(
        Array.uca(5, 1.0),
        [],
        num_samples=2**15,
        sample_rate_hz=FS,
        center_freq_hz=FC,
        receiver=Receiver(noise_power_db=-10.0),
        seed=1,
    )
    p = np.mean(np.abs(blk.samples.astype(complex)) ** 2, axis=1)
    np.testing.assert_allclose(p, 0.1, rtol=0.05)  # 32768 samples: std 0.55 %


def test_deterministic_under_seed():
    kw = dict(num_samples=4096, sample_rate_hz=FS, center_freq_hz=FC)
    em = [Emitter(10.0, 5.0, "fm"), Emitter(200.0, 0.0, "am", {"audio": "music"})]
    a = simulate(Array.uca(5, 1.0), em, seed=9, **kw).samples
    b = simulate(Array.uca(5, 1.0), em, seed=9, **kw).samples
    c = simulate(Array.uca(5, 1.0), em, seed=10, **kw).samples
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fractional_delay_is_exact_and_carries_carrier_phase():
    fs = 1.0e6
    w = waveforms.noise(8192 + 200, fs, seed=3, bandwidth_hz=0.4 * fs)
    arr = Array.ula(2, 0.1)
    kw = dict(num_samples=8192, sample_rate_hz=fs, center_freq_hz=FC, receiver=Receiver(-300))
    ref = (
        simulate(arr, [Emitter(0.0, 0.0, w, power_db=0.0)], seed=0, **kw).samples[0].astype(complex)
    )
    tau = 12.37 / fs
    late = simulate(arr, [Emitter(0.0, 0.0, w, delay_s=tau, power_db=0.0)], seed=0, **kw).samples[0]
    # Cross-spectrum phase slope gives the delay; carrier phase e^{-j2π f_c τ} is the offset.
    X = np.fft.fft(late.astype(complex)) * np.fft.fft(ref).conj()
    f = np.fft.fftfreq(ref.size, 1 / fs)
    band = np.abs(f) < 0.15 * fs
    ph = np.unwrap(np.angle(X[band][np.argsort(f[band])]))
    slope, icpt = np.polyfit(np.sort(f[band]), ph, 1)
    assert -slope / (2 * np.pi) == pytest.approx(tau, rel=1e-3)
    carrier = np.angle(np.exp(-2j * np.pi * FC * tau))
    assert np.angle(np.exp(1j * (icpt - carrier))) == pytest.approx(0.0, abs=0.02)


def test_cfo_and_frequency_offset_shift_the_tone():
    blk = simulate(
        Array.ula(2, 0.5),
        [Emitter(0.0, 30.0, "cw", freq_offset_hz=20_000.0)],
        num_samples=2**14,
        sample_rate_hz=FS,
        center_freq_hz=FC,
        receiver=Receiver(cfo_hz=1_500.0),
        seed=2,
    )
    spec = np.abs(np.fft.fft(blk.samples[0]))
    f = np.fft.fftfreq(2**14, 1 / FS)
    assert f[np.argmax(spec)] == pytest.approx(21_500.0, abs=FS / 2**14)


def test_gain_and_phase_errors_apply_per_channel():
    g_db, ph = [0.0, 3.0, -2.0], [0.0, 25.0, -40.0]
    arr = Array.ula(3, 0.5)
    kw = dict(num_samples=2**14, sample_rate_hz=FS, center_freq_hz=FC, seed=5)
    clean = simulate(arr, [Emitter(0.0, 30.0, "cw")], **kw).samples.astype(complex)
    bad = simulate(
        arr, [Emitter(0.0, 30.0, "cw")], receiver=Receiver(gain_db=g_db, phase_deg=ph), **kw
    ).samples.astype(complex)
    ratio = np.mean(bad * clean.conj(), axis=1) / np.mean(np.abs(clean) ** 2, axis=1)
    np.testing.assert_allclose(20 * np.log10(np.abs(ratio)), g_db, atol=0.01)
    np.testing.assert_allclose(np.degrees(np.angle(ratio)), ph, atol=0.1)


def test_multipath_adds_a_coherent_copy_from_its_azimuth():
    arr = Array.uca(8, 1.0)
    kw = dict(num_samples=2**14, sample_rate_hz=FS, center_freq_hz=FC, seed=6)
    em = Emitter(
        30.0, 0.0, "cw", power_db=20.0, multipath=(Path(150.0, gain_db=-6.0, phase_deg=45.0),)
    )
    x = simulate(arr, [em], receiver=Receiver(-300), **kw).samples.astype(complex)
    # Noise-free: every snapshot is c(t)·(a(30°) + 0.5·e^{j45°}·a(150°)).
    a = arr.steering([30.0, 150.0], FC)
    v = a[:, 0] + 10 ** (-6 / 20) * np.exp(1j * np.radians(45)) * a[:, 1]
    c = v.conj() @ x / (v.conj() @ v)
    np.testing.assert_allclose(x, np.outer(v, c), atol=1e-4 * np.abs(x).max())


def test_gate_turns_the_emitter_off():
    blk = simulate(
        Array.ula(2, 0.5),
        [Emitter(0.0, 40.0, "cw", gate_s=((0.002, 0.004),))],
        num_samples=6000,
        sample_rate_hz=FS,
        center_freq_hz=FC,
        seed=1,
    )
    p = np.abs(blk.samples[0].astype(complex)) ** 2
    assert p[2100:3900].mean() > 1000 and p[:1900].mean() < 5 and p[4100:].mean() < 5


def test_gaussian_snapshots_covariance_matches_the_model():
    arr = Array.uca(5, 1.0)
    X = gaussian_snapshots(arr, [20.0, 140.0], [10.0, 0.0], 4000, FC, trials=50, seed=3)
    R = (X @ np.swapaxes(X, 1, 2).conj()).mean(axis=0) / 4000
    A = arr.steering([20.0, 140.0], FC)
    R0 = A @ np.diag([10.0, 1.0]) @ A.conj().T + np.eye(5)
    # 200 000 snapshots: entries of R̂ have std ~ sqrt(12·12/2e5) ≈ 0.03.
    np.testing.assert_allclose(R, R0, atol=0.15)


def test_bad_inputs_are_named():
    arr = Array.ula(3, 0.5)
    kw = dict(num_samples=100, sample_rate_hz=FS, center_freq_hz=FC)
    with pytest.raises(InputError, match="waveform must be one of"):
        simulate(arr, [Emitter(0.0, waveform="ofdm")], **kw)
    with pytest.raises(InputError, match="center_freq_hz"):
        simulate(arr, [], num_samples=100, sample_rate_hz=FS, center_freq_hz=0.0)
    with pytest.raises(InputError, match="sample_rate_hz"):
        simulate(arr, [], num_samples=100, sample_rate_hz=-1.0, center_freq_hz=FC)
    with pytest.raises(InputError, match="phase_deg"):
        simulate(arr, [], receiver=Receiver(phase_deg=[1.0, 2.0]), **kw)
    with pytest.raises(InputError, match="at least num_samples"):
        simulate(arr, [Emitter(0.0, waveform=np.ones(10))], **kw)
    with pytest.raises(InputError, match="delay_s"):
        simulate(arr, [Emitter(0.0, delay_s=-1.0)], **kw)


def test_fractional_delay_adds_no_broadband_leakage():
    # A tone delayed by a fractional number of samples must stay a tone: every bin away from it
    # sits > 100 dB below the peak (Blackman-Harris sidelobes are below −92 dB and fall off fast
    # 40 bins out; an FFT phase-ramp delay rings at Nyquist and gives about −73 dB here).
    from scipy.signal import get_window

    from unseen.sim.emitters import _delay

    n = 8192
    w = np.exp(2j * np.pi * 0.31 * np.arange(n)).astype(np.complex64)
    y = _delay(w, 37.43)[512:]
    spec = np.abs(np.fft.fft(y * get_window("blackmanharris", y.size))) ** 2
    peak = spec.argmax()
    far = np.ones(spec.size, bool)
    far[max(0, peak - 40) : peak + 40] = False
    assert 10 * np.log10(spec[far].max() / spec[peak]) < -100
    # and the delay itself is exact: phase of the tone moved by 2π·f·τ
    ref = w[512:] * np.exp(-2j * np.pi * 0.31 * 37.43)
    np.testing.assert_allclose(y, ref, atol=2e-3)
