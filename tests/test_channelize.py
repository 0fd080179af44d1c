"""Channelizer: a chosen signal lands at baseband with its amplitude, and DOA survives it."""

import numpy as np
import pytest

from unseen.channelize import channelize
from unseen.errors import InputError
from unseen.types import IqBlock


def test_tone_to_baseband_amplitude_and_rate():
    fs, n = 1e6, 1 << 16
    t = np.arange(n) / fs
    x = 0.5 * np.exp(2j * np.pi * 123_000 * t) + 0.5 * np.exp(2j * np.pi * -300_000 * t)
    blk = IqBlock(x[None].astype(np.complex64), fs, 100e6, start_s=0.25)
    y = channelize(blk, 100.123e6 + 500, 20e3)
    assert y.center_freq_hz == 100.123e6 + 500 and y.sample_rate_hz == fs / 20
    core = y.samples[0, 50:-50]
    # the tone now sits at −500 Hz with amplitude 0.5; the other one is filtered away
    f = np.angle(np.mean(core[1:] * np.conj(core[:-1]))) * y.sample_rate_hz / (2 * np.pi)
    assert f == pytest.approx(-500, abs=1)
    assert np.abs(core).mean() == pytest.approx(0.5, rel=2e-3)
    assert np.abs(core).std() < 2e-3  # the −300 kHz tone is > 60 dB down


def test_frames_join_without_phase_jumps():
    fs, n = 1e6, 1 << 15
    t = np.arange(2 * n) / fs
    x = np.exp(2j * np.pi * 40_000 * t).astype(np.complex64)[None]
    a = channelize(IqBlock(x[:, :n], fs, 0.0, start_s=0.0), 40_000, 10e3)
    b = channelize(IqBlock(x[:, n:], fs, 0.0, start_s=n / fs), 40_000, 10e3)
    # a pure tone on the channel centre is DC: same phase in both frames
    assert abs(np.angle(a.samples[0, 100] * np.conj(b.samples[0, 100]))) < 1e-3


def test_out_of_band_is_an_error():
    blk = IqBlock(np.zeros((1, 1024), np.complex64), 1e6, 100e6)
    with pytest.raises(InputError, match="outside"):
        channelize(blk, 101e6, 10e3)


def test_doa_after_channelizing_equals_clean():
    from unseen.doa import Array, estimate
    from unseen.sim import Emitter, simulate

    arr = Array.uca(5, 1.0)
    fs, fc = 1e6, 94.2e6
    target = Emitter(
        40.0,
        snr_db=20,
        waveform="qpsk",
        waveform_args={"symbol_rate_hz": 20e3},
        freq_offset_hz=-200e3,
    )
    jammer = Emitter(200.0, snr_db=25, waveform="fm", freq_offset_hz=250e3)
    clean = simulate(
        arr, [target], num_samples=1 << 15, sample_rate_hz=fs, center_freq_hz=fc, seed=3
    )
    busy = simulate(
        arr, [target, jammer], num_samples=1 << 15, sample_rate_hz=fs, center_freq_hz=fc, seed=3
    )
    ch = channelize(busy, fc - 200e3, 40e3)
    ref = estimate(clean, arr, method="music", num_sources=1)
    got = estimate(ch, arr, freq_hz=fc, method="music", num_sources=1)
    assert got.azimuths_deg[0] == pytest.approx(ref.azimuths_deg[0], abs=0.5)
    assert got.azimuths_deg[0] == pytest.approx(40.0, abs=1.0)
    # without channelizing, a single-source MUSIC is pulled to the stronger jammer
    mixed = estimate(busy, arr, method="music", num_sources=1)
    assert abs(mixed.azimuths_deg[0] - 40.0) > 5
