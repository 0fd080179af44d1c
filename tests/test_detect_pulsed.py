"""Detection measures what users read: the bandwidth of pulses, the period of a pulse train,
power per channel, times in recording time and UTC, classes on clean signals (simulator truth)."""

import numpy as np
import pytest

from unseen.detect import detect
from unseen.detect.detect import band_snr_db, snr_for_bandwidth
from unseen.sim import waveforms as w
from unseen.types import IqBlock


def _noise(rng, n, p_db, ch=1):
    s = np.sqrt(10 ** (p_db / 10) / 2)
    return s * (rng.standard_normal((ch, n)) + 1j * rng.standard_normal((ch, n)))


def test_adsb_like_pulses_read_their_full_bandwidth():
    # 1090 MHz, 2 MS/s; messages of 8 µs preamble + 112 bits of 1 µs PPM (0.5 µs pulses),
    # 40 messages at random times in 0.5 s: the 0.5 µs pulses' spectrum fills the ±1 MHz band
    fs, n = 2e6, 1 << 20
    rng = np.random.default_rng(1)
    x = _noise(rng, n, -60)[0]
    starts = np.sort(rng.choice(n // 400, 40, replace=False)) * 400
    for s0 in starts:
        chips = np.concatenate([[1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]])
        bits = rng.integers(0, 2, 112)
        ppm = np.stack([bits, 1 - bits], axis=1).ravel()
        msg = np.repeat(np.concatenate([chips, ppm]), 1)  # one sample per 0.5 µs chip
        x[s0 : s0 + len(msg)] += 10 ** (-30 / 20) * msg * np.exp(1j * rng.uniform(0, 6.3))
    dets = detect(IqBlock(x[None].astype(np.complex64), fs, 1090e6))
    assert dets
    widest = max(dets, key=lambda d: d.bandwidth_hz)
    assert widest.bandwidth_hz > 1.5e6
    assert widest.freq_hz == pytest.approx(1090e6, abs=200e3)
    # no narrow detection left pretending the pulses are a 50 kHz channel
    assert all(d.bandwidth_hz > 1e6 for d in dets)
    assert min(d.start_s for d in dets) == pytest.approx(starts[0] / fs, abs=1e-3)
    # on/off keyed (PPM chips): never a carrier with modulation (am) or a steady envelope;
    # at ≥ 20 dB in band the class is pulsed, but for the odd lone message whose 1-sample chips
    # ring in the band filter as long as they are off (unknown, not a guess)
    assert all(d.modulation in ("pulsed", "unknown") for d in dets)
    strong = [d.modulation for d in dets if d.snr_db >= 20]
    assert strong.count("pulsed") >= 0.85 * len(strong)


def test_pulse_train_filling_the_band_found_by_repetition():
    # 3-sample pulses in groups of 8 (1 ms apart) every 50 ms, 10 dB peak SNR: the mean
    # spectrum is flat (no noise-only bins); the repetition gives it away
    fs, n = 12e3, 12_000 * 6
    rng = np.random.default_rng(2)
    x = _noise(rng, n, -40)[0]
    period = 0.050
    for g in range(int(n / fs / period)):
        for k in range(8):
            i = round((g * period + k * 1e-3) * fs) + 5
            x[i : i + 3] += 10 ** (-30 / 20) * np.array([0.6, 1.0, 0.6]) * (-1) ** (k + g)
    dets = detect(IqBlock(x[None].astype(np.complex64), fs, 100e3))
    rep = [d for d in dets if d.repetition_s is not None]
    assert len(rep) == 1
    assert rep[0].repetition_s == pytest.approx(period, abs=1 / fs / 10)
    # the 3-sample pulse [0.6, 1, 0.6] has its first spectral nulls at ±4.9 kHz: the occupied
    # band from pulse-on vs pulse-off spectra (32-sample segments, 375 Hz bins) lies within
    assert 6e3 < rep[0].bandwidth_hz < 10e3
    assert rep[0].freq_hz == pytest.approx(100e3, abs=750)
    assert rep[0].modulation == "pulsed"


def test_noise_has_no_repetition():
    fs, n = 12e3, 12_000 * 6
    for seed in range(3):
        x = _noise(np.random.default_rng(seed), n, -40)
        dets = detect(IqBlock(x.astype(np.complex64), fs, 100e3))
        assert dets == []


def test_power_is_per_channel():
    # a 0 dBFS tone on each of 5 channels reads 0 dBFS (mean over channels, not summed)
    fs, n = 1e6, 1 << 17
    rng = np.random.default_rng(3)
    t = np.arange(n) / fs
    x = _noise(rng, n, -50, ch=5) + np.exp(2j * np.pi * 100e3 * t)[None] * np.exp(
        1j * rng.uniform(0, 6.3, (5, 1))
    )
    (d,) = detect(IqBlock(x.astype(np.complex64), fs, 0.0))
    assert d.power_dbfs == pytest.approx(0.0, abs=0.3)
    assert d.freq_hz == pytest.approx(100e3, abs=1.0)


def test_times_follow_the_block_clock_and_utc():
    # a block 10 s into a recording (after a gap) with absolute time: start/stop in recording
    # time, start_utc_ns on the block's clock
    fs, n = 1e6, 1 << 19
    rng = np.random.default_rng(4)
    t = np.arange(n) / fs
    on = (t > 0.2) & (t < 0.4)
    x = _noise(rng, n, -60)[0] + 1e-2 * np.exp(2j * np.pi * 50e3 * t) * on
    utc0 = 1_700_000_000_000_000_000
    dets = detect(IqBlock(x[None].astype(np.complex64), fs, 0.0, start_s=10.0, utc_ns=utc0))
    (d,) = dets
    row = 16 * 1024 / fs
    assert d.start_s == pytest.approx(10.2, abs=row)
    assert d.stop_s == pytest.approx(10.4, abs=row)
    assert (d.start_utc_ns - utc0) / 1e9 == pytest.approx(d.start_s - 10.0, abs=1e-6)
    assert (d.stop_utc_ns - utc0) / 1e9 == pytest.approx(d.stop_s - 10.0, abs=1e-6)
    assert detect(IqBlock(x[None].astype(np.complex64), fs, 0.0))[0].start_utc_ns is None


@pytest.mark.parametrize(
    ("kind", "kw", "mod"),
    [
        ("fm", {"deviation_hz": 5e3, "audio": "music"}, "fm"),
        ("am", {"audio": "music"}, "am"),
        ("cw", {}, "cw"),
        ("qpsk", {"symbol_rate_hz": 25e3}, "digital"),
    ],
)
def test_classes_at_20db_and_unknown_when_weak(kind, kw, mod):
    # 20 dB in the signal's band (FM/AM/QPSK ≈ 10–35 kHz); music keeps the modulation on
    fs, n = 1e6, 1 << 19
    rng = np.random.default_rng(5)
    s = w.generate(kind, n, fs, 7, **kw) * np.exp(2j * np.pi * 100e3 * np.arange(n) / fs)
    bw = {"fm": 20e3, "am": 8e3, "cw": 1e3, "qpsk": 34e3}[kind]  # cw: one analysis bin
    noise_db = -20 - 10 * np.log10(bw / fs)  # noise power over the whole band
    x = s + _noise(rng, n, noise_db)[0]
    dets = detect(IqBlock(x[None].astype(np.complex64), fs, 0.0))
    d = max(dets, key=lambda d: d.power_dbfs)
    assert d.modulation == mod
    weak = s + _noise(rng, n, noise_db + 15)[0]  # 5 dB in band: below the classes' confidence
    dw = [d for d in detect(IqBlock(weak[None].astype(np.complex64), fs, 0.0))]
    if kind != "cw":
        assert all(d.modulation == "unknown" for d in dw if abs(d.freq_hz - 100e3) < 20e3)


def test_snr_helpers():
    assert band_snr_db(100.0, 1.0) == pytest.approx(20.0)
    d = detect(
        IqBlock(
            (np.exp(2j * np.pi * 1e3 * np.arange(1 << 16) / 1e5) + 1e-3)[None].astype(np.complex64),
            1e5,
            0.0,
        )
    )
    if d:
        assert snr_for_bandwidth(d[0], d[0].bandwidth_hz * 10) == pytest.approx(
            d[0].snr_db - 10, abs=1e-9
        )
