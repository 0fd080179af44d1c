"""Power spectra of IQ: Welch PSD and spectrogram (scipy.signal), in dBFS-ready linear units.

Scaling: a complex full-scale tone exp(j2πft) reads 1.0 (0 dBFS) summed over its bins; noise of
power σ² reads σ² summed over all bins (window-power normalised, `scaling="spectrum"` per bin
times the equivalent noise bandwidth correction folded into the bin sums).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

from unseen.errors import InputError
from unseen.types import IqBlock


@dataclass(frozen=True)
class Spectrogram:
    """power[t, f]: mean power per bin (linear, full-scale = 1) of each time row.

    `freqs_hz` are absolute (centre frequency added), ascending; `times_s` the start of each row
    in recording time (the blocks' `start_s`, so gaps between captures are kept); `row_s` the row
    duration; `averages` the periodograms per row; `index` the sample index of each row's first
    sample; `utc_ns` its POSIX ns (None when the recording has no absolute time). Power is the
    mean over channels (a full-scale tone on every channel reads 1).
    """

    freqs_hz: np.ndarray
    times_s: np.ndarray
    power: np.ndarray
    row_s: float
    averages: int
    sample_rate_hz: float
    center_freq_hz: float
    index: np.ndarray | None = None
    utc_ns: tuple[int | None, ...] | None = None

    def time_at(self, row: int, offset_s: float = 0.0) -> tuple[float, int | None]:
        """(recording time s, POSIX ns or None) of `offset_s` after the start of `row`."""
        u = self.utc_ns[row] if self.utc_ns is not None else None
        t = float(self.times_s[row]) + offset_s
        return t, (None if u is None else int(u + round(offset_s * 1e9)))

    @property
    def bin_hz(self) -> float:
        return self.sample_rate_hz / len(self.freqs_hz)

    def psd(self) -> np.ndarray:
        """Mean power per bin over all rows."""
        return self.power.mean(axis=0)


@functools.lru_cache(maxsize=16)
def _window(nfft: int) -> np.ndarray:
    w = scipy.signal.get_window("hann", nfft).astype(np.float32)
    w = w / np.sqrt(np.sum(w.astype(np.float64) ** 2) * nfft)
    w.flags.writeable = False
    return w


def _workspace(nfft: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batch = max(1, min(m, (1 << 15) // nfft))
    return (
        np.empty((batch, nfft), np.complex64),
        np.empty((batch, nfft), np.float32),
        np.empty((batch, nfft), np.float32),
    )


def _periodograms(x: np.ndarray, nfft: int, work: tuple | None = None) -> np.ndarray:
    """Mean Hann periodogram (50 % overlap), averaged over channels, fftshifted, float32,
    normalised so that the bins sum to the mean power per channel (a unit tone sums to 1).

    Segments go in batches of ~256 kB through reused buffers (window, in-place single-precision
    FFT, |X|²): they stay in cache and no fresh pages are touched per frame, which is what
    bounds the streaming rate, not the FFT."""
    x = np.atleast_2d(x)
    hop = nfft // 2
    m = (x.shape[-1] - nfft) // hop + 1 if x.shape[-1] >= nfft else 0
    if m <= 0:
        raise InputError(f"a frame of {x.shape[-1]} samples is shorter than nfft={nfft}")
    win = _window(nfft)
    if work is None or work[0].shape[1] != nfft:
        work = _workspace(nfft, m)
    buf, pw, tmp = work
    batch = len(buf)
    acc = np.zeros(nfft, np.float64)
    for ch in x:
        seg = np.lib.stride_tricks.sliding_window_view(ch, nfft)[::hop][:m]
        for first in range(0, m, batch):
            c = min(batch, m - first)
            np.multiply(seg[first : first + c], win, out=buf[:c])
            X = scipy.fft.fft(buf[:c], axis=-1, workers=1, overwrite_x=True)
            np.multiply(X.real, X.real, out=pw[:c])
            np.multiply(X.imag, X.imag, out=tmp[:c])
            pw[:c] += tmp[:c]
            acc += pw[:c].sum(axis=0)
    return np.fft.fftshift(acc / (m * len(x))).astype(np.float32)


def spectrogram(block: IqBlock, *, nfft: int = 1024, row_len: int | None = None) -> Spectrogram:
    """Spectrogram of a block: rows of `row_len` samples (default 16·nfft), each a Welch average."""
    x = block.samples
    n = x.shape[-1]
    if nfft < 8 or n < nfft:
        raise InputError(f"nfft={nfft} with {n} samples; need 8 ≤ nfft ≤ samples")
    row_len = row_len or min(n, 16 * nfft)
    rows = max(1, n // row_len)
    work = _workspace(nfft, 2 * row_len // nfft)
    power = np.stack(
        [_periodograms(x[..., r * row_len : (r + 1) * row_len], nfft, work) for r in range(rows)]
    )
    fs = block.sample_rate_hz
    utc = [None if block.utc_ns is None else block.utc_ns + round(r * row_len * 1e9 / fs)
           for r in range(rows)]  # fmt: skip
    return _make(
        power,
        block,
        nfft,
        row_len,
        [block.start_s + r * row_len / fs for r in range(rows)],
        np.arange(rows, dtype=np.int64) * row_len,
        utc,
    )


def _make(power, block, nfft, row_len, times, index=None, utc=None) -> Spectrogram:
    fs = block.sample_rate_hz
    freqs = np.fft.fftshift(np.fft.fftfreq(nfft, 1.0 / fs)) + block.center_freq_hz
    return Spectrogram(
        freqs,
        np.asarray(times, float),
        np.asarray(power),
        row_len / fs,
        max(1, row_len // nfft),
        fs,
        block.center_freq_hz,
        None if index is None else np.asarray(index, np.int64),
        None if utc is None or all(u is None for u in utc) else tuple(utc),
    )


def spectrogram_frames(frames, *, nfft: int = 1024) -> Spectrogram:
    """Spectrogram with one row per frame of an iterator of IqBlocks (streams; bounded memory)."""
    rows, times, utc, first, work = [], [], [], None, None
    for blk in frames:
        first = first or blk
        work = work or _workspace(nfft, 2 * blk.num_samples // nfft)
        rows.append(_periodograms(blk.samples, nfft, work))
        times.append(blk.start_s)
        utc.append(blk.utc_ns)
    if first is None:
        raise InputError("no frames: the recording is shorter than one frame")
    index = np.arange(len(rows), dtype=np.int64) * first.num_samples
    return _make(np.stack(rows), first, nfft, first.num_samples, times, index, utc)


def welch_psd(block: IqBlock, *, nfft: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(freqs_hz absolute, power per bin) averaged over the whole block."""
    s = spectrogram(block, nfft=nfft, row_len=block.num_samples)
    return s.freqs_hz, s.psd()
