"""Time-domain detection: the power envelope of a recording, energy bursts above the noise, and
the repetition period of a pulsed envelope (autocorrelation with a false-alarm threshold).

These find what a spectral CFAR cannot: pulses whose power is diluted in a long average (ADS-B),
and pulse trains that fill the whole band, leaving no noise-only bins (Loran), which are found by
their repetition instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.stats

MAX_POINTS = 1 << 21
CORRELATION = 4
"""Samples over which receiver noise is assumed correlated (anti-alias filters oversample by
up to ~4): the smoothed noise power is Gamma with (window samples · channels / 4) degrees."""


@dataclass(frozen=True)
class Envelope:
    """Mean power per channel of consecutive blocks of `block` samples (`power`), with the
    recording time (s) and POSIX ns (or None) of the first sample of each read (`anchors`:
    (sample index, start_s, utc_ns))."""

    power: np.ndarray
    block: int
    sample_rate_hz: float
    channels: int
    anchors: tuple[tuple[int, float, int | None], ...]

    def time_at(self, index: int) -> tuple[float, int | None]:
        """(recording time s, POSIX ns or None) of sample `index`."""
        i = max(0, int(np.searchsorted([a[0] for a in self.anchors], index, side="right")) - 1)
        i0, t0, u0 = self.anchors[i]
        dt = (index - i0) / self.sample_rate_hz
        return t0 + dt, (None if u0 is None else int(u0 + round(dt * 1e9)))


def envelope(source, *, chunk: int = 1 << 18) -> Envelope:
    """Power envelope of an IqBlock or a recording (streamed, whole file including the tail):
    blocks of a power-of-two length chosen so that at most MAX_POINTS remain."""
    n = int(source.num_samples)
    block = 1 << max(0, int(np.ceil(np.log2(max(n, 1) / MAX_POINTS))))
    out, anchors = [], []
    if hasattr(source, "samples"):
        reads = [(0, source)]
    else:
        chunk = max(chunk // block, 1) * block
        reads = ((i, source.read(i, min(chunk, n - i))) for i in range(0, n, chunk))
    for i, blk in reads:
        anchors.append((i, float(blk.start_s), blk.utc_ns))
        x = blk.samples
        p = (x.real.astype(np.float64) ** 2 + x.imag.astype(np.float64) ** 2).mean(axis=0)
        m = len(p) // block
        if m:
            out.append(p[: m * block].reshape(m, block).mean(axis=1))
    power = np.concatenate(out) if out else np.zeros(0)
    return Envelope(power, block, float(source.sample_rate_hz), int(source.num_channels),
                    tuple(anchors))  # fmt: skip


def noise_level(smooth: np.ndarray, k: float, q: float = 0.02) -> float:
    """Mean noise power from the q-quantile of a smoothed envelope whose noise-only values are
    Gamma(k, mean/k): the quietest q of the time must be noise."""
    return float(np.quantile(smooth, q) / (scipy.stats.gamma.ppf(q, k) / k))


def bursts(
    env: Envelope,
    noise: float,
    *,
    window: int,
    pfa: float = 1e-6,
    gap: int | None = None,
    min_len: int = 2,
) -> list[tuple[int, int]]:
    """[start, stop) sample spans where the envelope, averaged over `window` samples, exceeds
    the level noise power reaches with probability `pfa` per window; spans closer than `gap`
    samples (default 4 windows) merge, and spans shorter than `min_len` windows are dropped."""
    w = max(1, window // env.block)
    k = max(1.0, w * env.block * env.channels / CORRELATION)
    smooth = scipy.ndimage.uniform_filter1d(env.power, w, mode="nearest")
    on = smooth > noise * scipy.stats.gamma.isf(pfa, k) / k
    idx = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    runs = list(zip(idx[::2], idx[1::2], strict=True))
    g = (gap or 4 * w * env.block) // env.block
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] <= g:
            merged[-1][1] = b
        else:
            merged.append([int(a), int(b)])
    return [(a * env.block, b * env.block) for a, b in merged if b - a >= min_len * w]


@dataclass(frozen=True)
class Repetition:
    """A periodic envelope: `period_s`, its autocorrelation `score` (mean normalised ACF at the
    first multiples of the period), the peak's `z` over the ACF's robust spread, and the
    folded envelope's mean/peak `duty` (pulses: well below 1)."""

    period_s: float
    score: float
    z: float
    duty: float


def repetition(
    env: Envelope,
    *,
    pfa: float = 1e-6,
    min_period_s: float | None = None,
    min_repeats: int = 3,
    max_multiples: int = 16,
) -> Repetition | None:
    """Repetition period of the envelope, or None.

    r(L) is the normalised autocorrelation of the mean-removed envelope (FFT, O(N log N)); its
    spread over lags σ is robust (1.4826·MAD) and a lag is significant when
    r(L) > σ·Φ⁻¹(1 − pfa/lags) (Bonferroni over the lags searched). Among significant peaks the
    period is the shortest P whose score S(P) = mean_k r(kP), k = 1..K, is within 80 % of the
    best: multiples of the fundamental score as well as it, sub-multiples (pulses within a
    group, half-periods) at most half as well. At least `min_repeats` periods must fit."""
    p = env.power
    n = len(p)
    if n < 64:
        return None
    dt = env.block / env.sample_rate_hz
    x = p - p.mean()
    m = scipy.fft.next_fast_len(2 * n, real=True)
    spec = scipy.fft.rfft(x, m)
    ac = scipy.fft.irfft(spec.real**2 + spec.imag**2, m)[:n]
    if ac[0] <= 0:
        return None
    r = ac / ac[0] * n / np.maximum(n - np.arange(n), 1)  # unbiased: each lag over its overlap
    lo = max(4, int(np.ceil((min_period_s or 0.0) / dt)))
    hi = n // min_repeats
    if hi <= lo + 8:
        return None
    seg = r[lo:hi]
    med = float(np.median(seg))
    sigma = 1.4826 * float(np.median(np.abs(seg - med)))
    if sigma <= 0:
        return None
    thr = med + sigma * float(scipy.stats.norm.isf(pfa / len(seg)))
    peaks = (
        lo
        + np.flatnonzero((seg[1:-1] > thr) & (seg[1:-1] >= seg[:-2]) & (seg[1:-1] >= seg[2:]))
        + 1
    )
    if len(peaks) == 0:
        return None
    lim = n // 2
    lags = peaks + _vertex(r, peaks)
    rmax = scipy.ndimage.maximum_filter1d(r, 5)
    k = np.arange(1, max_multiples + 1)
    idx = np.round(lags[:, None] * k[None, :]).astype(int)
    valid = (idx < lim) | (k[None, :] == 1)
    vals = np.where(valid, rmax[np.minimum(idx, n - 1)], 0.0)
    scores = vals.sum(axis=1) / valid.sum(axis=1)
    best = float(scores.max())
    i = int(np.flatnonzero(scores >= 0.8 * best)[0])  # peaks ascend: the shortest such lag
    lag = float(lags[i])
    kk = 1
    while 2 * kk <= max_multiples and 2 * kk * lag < lim:  # refine on doubling multiples
        kk *= 2
        j = round(kk * lag)
        j = j - 2 + int(np.argmax(r[j - 2 : j + 3]))
        lag = (j + float(_vertex(r, np.array([j]))[0])) / kk
    period = lag * dt
    z = (float(r[peaks[i]]) - med) / sigma
    return Repetition(period, float(scores[i]), z, duty(env, period))


def _vertex(r: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Sub-sample offset of the parabola through r[j-1], r[j], r[j+1] (0 where not concave)."""
    a, b, c = r[j - 1], r[j], r[np.minimum(j + 1, len(r) - 1)]
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den < 0, 0.5 * (a - c) / den, 0.0)


def fold(env: Envelope, period_s: float) -> np.ndarray:
    """Mean envelope power in phase bins of one period (bins of the envelope's resolution)."""
    dt = env.block / env.sample_rate_hz
    nb = max(4, round(period_s / dt))
    ph = ((np.arange(len(env.power)) * dt / period_s) % 1.0 * nb).astype(int) % nb
    cnt = np.bincount(ph, minlength=nb)
    return np.bincount(ph, env.power, minlength=nb) / np.maximum(cnt, 1)


def duty(env: Envelope, period_s: float) -> float:
    """Mean over peak of the envelope folded on the period: near 1 for a steady or slowly
    modulated envelope, small for pulses separated by quiet."""
    prof = fold(env, period_s)
    return float(prof.mean() / max(prof.max(), 1e-300))
