"""Complex baseband waveforms: pure functions of (num_samples, sample_rate_hz, seed, ...).

Every generator returns complex128 samples at `sample_rate_hz` with unit mean power
E|s|² = 1: exactly over the block for cw, am, fm and qpsk, in expectation for noise. Audio
generators return real samples in [-1, 1]. The same arguments and seed give the same samples.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from unseen.errors import InputError

AUDIO_RATE_HZ = 16_000.0
WAVEFORMS = ("cw", "am", "fm", "noise", "qpsk")


def _check(num_samples: int, sample_rate_hz: float) -> None:
    if int(num_samples) != num_samples or num_samples < 1:
        raise InputError(f"num_samples must be a positive integer, got {num_samples!r}")
    if not np.isfinite(sample_rate_hz) or sample_rate_hz <= 0:
        raise InputError(f"sample_rate_hz must be a finite rate > 0 Hz, got {sample_rate_hz!r}")


def _unit_power(x: np.ndarray) -> np.ndarray:
    p = np.mean(np.abs(x) ** 2)
    return x / np.sqrt(p) if p > 0 else x


def _to_rate(x: np.ndarray, rate_in: float, num_samples: int, rate_out: float) -> np.ndarray:
    """Linearly interpolate real `x` sampled at `rate_in` onto `num_samples` at `rate_out`."""
    t_out = np.arange(num_samples) / rate_out
    t_in = np.arange(x.size) / rate_in
    return np.interp(t_out, t_in, x)


def speech(num_samples: int, sample_rate_hz: float, seed: int = 0) -> np.ndarray:
    """Speech-like audio in [-1, 1]: a glottal pulse train (pitch 90–180 Hz, gliding) through
    three formant resonators, its level swinging 14 dB at 3–5 syllables a second, silent in pauses
    between words (18 % of the time, as in read or broadcast speech; a frame that falls in one is
    a bare carrier once modulated). Band-limited to 3.4 kHz."""
    _check(num_samples, sample_rate_hz)
    rng = np.random.default_rng(seed)
    fs = min(AUDIO_RATE_HZ, sample_rate_hz)
    n = int(np.ceil(num_samples * fs / sample_rate_hz)) + 2
    t = np.arange(n) / fs
    pitch = 90 + 90 * rng.random() + 25 * np.sin(2 * np.pi * (0.3 + 0.4 * rng.random()) * t)
    phase = np.cumsum(pitch / fs)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    out = np.zeros(n)
    for f0, bw in ((500 + 300 * rng.random(), 90), (1200 + 600 * rng.random(), 120), (2500, 200)):
        f0 = min(f0, 0.45 * fs)
        r = np.exp(-np.pi * bw / fs)
        out += signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f0 / fs), r * r], pulses)
    out += 0.05 * rng.standard_normal(n)
    syll = 3 + 2 * rng.random()
    env = 0.2 + 0.8 * np.sin(np.pi * syll * t + 2 * np.pi * rng.random()) ** 2
    words = (np.sin(2 * np.pi * 0.4 * t + 2 * np.pi * rng.random()) > -0.85).astype(float)
    out *= env * words
    if fs > 7000:
        out = signal.sosfiltfilt(signal.butter(4, 3400, fs=fs, output="sos"), out)
    out /= max(np.max(np.abs(out)), 1e-12)
    return _to_rate(out, fs, num_samples, sample_rate_hz)


def music(num_samples: int, sample_rate_hz: float, seed: int = 0) -> np.ndarray:
    """Music-like audio in [-1, 1]: notes of a pentatonic scale, three decaying harmonics each,
    a new note every 0.25 s over a sustained bass note. Band-limited below 4 kHz."""
    _check(num_samples, sample_rate_hz)
    rng = np.random.default_rng(seed)
    fs = min(AUDIO_RATE_HZ, sample_rate_hz)
    n = int(np.ceil(num_samples * fs / sample_rate_hz)) + 2
    t = np.arange(n) / fs
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
    note_s = 0.25
    idx = (t // note_s).astype(int)
    notes = rng.integers(0, scale.size, idx.max() + 1)
    f = scale[notes[idx]]
    tn = t - idx * note_s
    env = np.exp(-tn / 0.15) * (1 - np.exp(-tn / 0.005))
    ph = 2 * np.pi * np.cumsum(f) / fs
    out = env * sum(np.sin(h * ph) / h for h in (1, 2, 3) if h * f.max() < 0.45 * fs)
    out += 0.3 * np.sin(2 * np.pi * scale[0] / 2 * t)
    out /= max(np.max(np.abs(out)), 1e-12)
    return _to_rate(out, fs, num_samples, sample_rate_hz)


AUDIO = {"speech": speech, "music": music}


def _audio(kind: str, num_samples: int, sample_rate_hz: float, seed: int) -> np.ndarray:
    if kind not in AUDIO:
        raise InputError(f"audio must be one of {sorted(AUDIO)}, got {kind!r}")
    return AUDIO[kind](num_samples, sample_rate_hz, seed)


def cw(num_samples: int, sample_rate_hz: float, seed: int = 0, tone_hz: float = 0.0) -> np.ndarray:
    """Unmodulated carrier exp(j(2π·tone_hz·t + φ0)), φ0 uniform from the seed."""
    _check(num_samples, sample_rate_hz)
    phi0 = 2 * np.pi * np.random.default_rng(seed).random()
    return np.exp(1j * (2 * np.pi * tone_hz * np.arange(num_samples) / sample_rate_hz + phi0))


def am(
    num_samples: int,
    sample_rate_hz: float,
    seed: int = 0,
    audio: str = "speech",
    depth: float = 0.8,
) -> np.ndarray:
    """Double-sideband AM with carrier: (1 + depth·m(t))·exp(jφ0), m the audio, unit power."""
    _check(num_samples, sample_rate_hz)
    if not 0 <= depth <= 1:
        raise InputError(f"AM depth must be in [0, 1], got {depth!r}")
    m = _audio(audio, num_samples, sample_rate_hz, seed)
    phi0 = 2 * np.pi * np.random.default_rng(seed + 1).random()
    return _unit_power((1 + depth * m) * np.exp(1j * phi0))


def fm(
    num_samples: int,
    sample_rate_hz: float,
    seed: int = 0,
    audio: str = "speech",
    deviation_hz: float = 5_000.0,
) -> np.ndarray:
    """Frequency modulation exp(j(2π·deviation_hz·∫m dt + φ0)); 5 kHz is narrowband voice FM,
    75 kHz broadcast FM. Constant envelope, unit power."""
    _check(num_samples, sample_rate_hz)
    m = _audio(audio, num_samples, sample_rate_hz, seed)
    phi0 = 2 * np.pi * np.random.default_rng(seed + 1).random()
    return np.exp(1j * (2 * np.pi * deviation_hz * np.cumsum(m) / sample_rate_hz + phi0))


def noise(
    num_samples: int, sample_rate_hz: float, seed: int = 0, bandwidth_hz: float | None = None
) -> np.ndarray:
    """Circular complex Gaussian noise, E|s|² = 1; low-pass filtered to ±bandwidth_hz/2 if given."""
    _check(num_samples, sample_rate_hz)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(num_samples) + 1j * rng.standard_normal(num_samples)) / np.sqrt(2)
    if bandwidth_hz is None or bandwidth_hz >= sample_rate_hz:
        return x
    if bandwidth_hz <= 0:
        raise InputError(f"bandwidth_hz must be > 0, got {bandwidth_hz!r}")
    sos = signal.butter(6, bandwidth_hz / 2, fs=sample_rate_hz, output="sos")
    y = signal.sosfilt(sos, x)
    return y / np.sqrt(np.sum(np.abs(signal.sosfreqz(sos, 4096, whole=True)[1]) ** 2) / 4096)


def rrc_taps(samples_per_symbol: int, rolloff: float = 0.35, span_symbols: int = 8) -> np.ndarray:
    """Root-raised-cosine impulse response, unit energy, `span_symbols` symbols long."""
    if not 0 < rolloff <= 1 or samples_per_symbol < 2:
        raise InputError(
            f"RRC needs 0 < rolloff <= 1 and >= 2 samples per symbol, got {rolloff}, "
            f"{samples_per_symbol}"
        )
    sps, b = samples_per_symbol, rolloff
    t = np.arange(-span_symbols * sps // 2, span_symbols * sps // 2 + 1) / sps
    h = np.empty_like(t)
    for i, ti in enumerate(t):
        if abs(ti) < 1e-12:
            h[i] = 1 - b + 4 * b / np.pi
        elif abs(abs(4 * b * ti) - 1) < 1e-9:
            h[i] = (b / np.sqrt(2)) * (
                (1 + 2 / np.pi) * np.sin(np.pi / (4 * b))
                + (1 - 2 / np.pi) * np.cos(np.pi / (4 * b))
            )
        else:
            num = np.sin(np.pi * ti * (1 - b)) + 4 * b * ti * np.cos(np.pi * ti * (1 + b))
            h[i] = num / (np.pi * ti * (1 - (4 * b * ti) ** 2))
    return h / np.sqrt(np.sum(h * h))


def qpsk(
    num_samples: int,
    sample_rate_hz: float,
    seed: int = 0,
    symbol_rate_hz: float | None = None,
    rolloff: float = 0.35,
) -> np.ndarray:
    """Gray-coded QPSK with root-raised-cosine pulses (scipy.signal.upfirdn); the symbol rate is
    rounded so there is an integer number of samples per symbol (default 8). Unit power."""
    _check(num_samples, sample_rate_hz)
    sps = 8 if symbol_rate_hz is None else max(2, round(sample_rate_hz / symbol_rate_hz))
    h = rrc_taps(sps, rolloff)
    rng = np.random.default_rng(seed)
    nsym = num_samples // sps + h.size // sps + 2
    bits = rng.integers(0, 2, (2, nsym))
    sym = ((1 - 2 * bits[0]) + 1j * (1 - 2 * bits[1])) / np.sqrt(2)
    y = signal.upfirdn(h, sym, up=sps)
    start = h.size // 2
    return _unit_power(y[start : start + num_samples])


GENERATORS = {"cw": cw, "am": am, "fm": fm, "noise": noise, "qpsk": qpsk}


def generate(
    kind: str, num_samples: int, sample_rate_hz: float, seed: int = 0, **kwargs
) -> np.ndarray:
    """Dispatch by name: one of cw, am, fm, noise, qpsk (kwargs go to that generator)."""
    if kind not in GENERATORS:
        raise InputError(f"waveform must be one of {', '.join(WAVEFORMS)}, got {kind!r}")
    try:
        return GENERATORS[kind](num_samples, sample_rate_hz, seed, **kwargs)
    except TypeError as exc:
        raise InputError(f"waveform {kind!r}: bad arguments {sorted(kwargs)}: {exc}") from None
