"""DCF77-like signals through a ground-wave + sky-wave channel, for choosing and checking TDOA
methods on data that is not the development set.

Transmitted baseband (emission time t, seconds): AM second marks (amplitude 0.15 for 100 ms on a
time-code 0, 200 ms on a 1, raised-cosine edges of `ramp_s`) times the ±15.6° phase sequence of
`unseen.tdoa.dcf77`. Received: Σ_p g_p(t) s(t − τ_p) + noise, the ground wave (g = 1, τ =
range/c) and a sky wave g = β e^{j(φ0 + 2π f_d t)} (ionospheric Doppler f_d), τ = τ_ground + d
with d the one-hop excess delay for reflection height h: d = (2√((D/2)² + h²) − D)/c. Drawn at
8× the rate and decimated (scipy), so no estimator's own waveform model is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from unseen.tdoa.dcf77 import CHIP_S, DEVIATION_DEG, NUM_CHIPS, START_S, chips

C_M_S = 299_792_458.0


@dataclass(frozen=True)
class Path:
    """One propagation path: delay (s), complex gain at t = 0, Doppler (Hz) of that gain."""

    delay_s: float
    gain: complex = 1.0
    doppler_hz: float = 0.0


def skywave_delay_s(ground_m: float, height_m: float = 70e3) -> float:
    """One-hop sky-wave excess delay over the ground wave (s), flat earth, mirror at height_m."""
    return (2 * np.hypot(ground_m / 2, height_m) - ground_m) / C_M_S


def transmitted(t_emit_s: np.ndarray, bits: np.ndarray, ramp_s: float = 0.5e-3) -> np.ndarray:
    """DCF77 baseband at emission times (s, POSIX): AM marks and the phase-chip sequence
    (`bits[i]` is the time-code bit of the i-th second, cyclic from the first second)."""
    sec = np.floor(t_emit_s)
    frac = t_emit_s - sec
    b = np.asarray(bits)[(sec - sec[0]).astype(int) % len(bits)]
    k = np.floor((frac - START_S) / CHIP_S).astype(int)
    on = (k >= 0) & (k < NUM_CHIPS)
    cv = np.where(on, (1 - 2.0 * chips()[np.clip(k, 0, NUM_CHIPS - 1)]) * (2.0 * b - 1), 0.0)

    def rc(u):
        return 0.5 - 0.5 * np.cos(np.pi * np.clip(u / ramp_s, 0, 1))

    amp = 1 - 0.85 * rc(frac) * (1 - rc(frac - np.where(b == 1, 0.2, 0.1)))
    return amp * np.exp(1j * np.deg2rad(DEVIATION_DEG) * cv)


def received(
    start_s: float,
    n: int,
    fs: float,
    paths: list[Path],
    *,
    snr_db: float,
    bits: np.ndarray,
    rng: np.random.Generator,
    up: int = 8,
) -> np.ndarray:
    """n samples (complex64) from absolute time start_s at rate fs: the paths' sum plus complex
    white noise at `snr_db` (carrier power over noise power in the whole band fs)."""
    t = start_s + np.arange(n * up) / (fs * up)
    x = np.zeros(len(t), np.complex128)
    for p in paths:
        g = p.gain * np.exp(2j * np.pi * p.doppler_hz * (t - start_s)) if p.doppler_hz else p.gain
        x += g * transmitted(t - p.delay_s, bits)
    x = scipy.signal.resample_poly(x, 1, up)[:n]
    sd = 10 ** (-snr_db / 20) * np.sqrt(0.5)
    x += sd * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    return x.astype(np.complex64)


def sferics(
    start_s: float,
    n: int,
    fs: float,
    times_s: np.ndarray,
    amplitudes: np.ndarray,
    delay_s: float,
    rng: np.random.Generator,
    *,
    decay_s: float = 0.5e-3,
) -> np.ndarray:
    """Impulsive atmospheric noise as one receiver gets it: lightning sferics emitted at
    `times_s` (absolute s) by one storm, arriving `delay_s` later, each a burst of peak
    magnitude `amplitudes` (relative to the unit carrier) decaying with `decay_s`, with a
    random phase and an oscillation anywhere in the band (complex128, n samples from start_s).
    Every receiver sees the same sferics at its own delay: a second common signal at the
    storm's TDOA."""
    x = np.zeros(n, np.complex128)
    length = max(2, int(np.ceil(5 * decay_s * fs)))
    t = np.arange(length) / fs
    for t0, a in zip(times_s, amplitudes, strict=True):
        i = int(np.floor((t0 + delay_s - start_s) * fs))
        if 0 <= i < n:
            f = rng.uniform(-0.4, 0.4) * fs
            w = a * np.exp(-t / decay_s + 2j * np.pi * f * t + 2j * np.pi * rng.uniform())
            m = min(length, n - i)
            x[i : i + m] += w[:m]
    return x
