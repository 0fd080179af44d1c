"""A carrier line, if there is one: long-FFT peak with an interpolated frequency and a test that
the line stands out of the spectrum around it.

A line of power A² in an N-point Hann periodogram of a signal with local spectral density S
(per bin) reads about A²/ (1.5 S)·(N-bin gain) above its neighbours, while a modulated spectrum's
bins are exponential about S: the largest of M such bins exceeds S·ln(M/pfa) with probability
pfa. The frequency is refined by a Gaussian (log-parabolic) fit over the peak and its two
neighbours, unbiased to a few hundredths of a bin for a Hann window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal


@dataclass(frozen=True)
class Carrier:
    """A line at `offset_hz` from the centre of the analysed samples, holding `fraction` of the
    band's power, `excess` times the false-alarm level of the spectrum around it."""

    offset_hz: float
    fraction: float
    excess: float


def carrier_line(
    x: np.ndarray,
    sample_rate_hz: float,
    band_hz: tuple[float, float],
    *,
    pfa: float = 1e-3,
    min_fraction: float = 0.05,
) -> Carrier | None:
    """The strongest line of complex `x` between band_hz (offsets, Hz) if it holds at least
    `min_fraction` of the band's power and exceeds the band's median bin by the false-alarm
    factor ln(M/pfa) (M bins searched); None otherwise."""
    x = np.asarray(x, np.complex128)
    n = len(x)
    if n < 64:
        return None
    nfft = 1 << int(np.ceil(np.log2(n)))
    win = scipy.signal.get_window("hann", n)
    p = np.abs(scipy.fft.fft(x * win, nfft)) ** 2
    f = scipy.fft.fftfreq(nfft, 1 / sample_rate_hz)
    sel = np.flatnonzero((f >= band_hz[0]) & (f <= band_hz[1]))
    if len(sel) < 8:
        return None
    k = int(sel[np.argmax(p[sel])])
    # the main lobe of a zero-padded Hann line spans ±2·nfft/n bins
    lobe = int(np.ceil(2 * nfft / n)) + 1
    near = (np.abs(((sel - k + nfft // 2) % nfft) - nfft // 2)) <= lobe
    rest = p[sel[~near]]
    if len(rest) < 4:
        return None
    level = float(np.median(rest)) / np.log(2)  # median of exponential bins → their mean
    line = float(p[sel[near]].sum())
    fraction = line / max(float(p[sel].sum()), 1e-300)
    excess = float(p[k]) / (level * np.log(len(sel) / pfa))
    if fraction < min_fraction or excess < 1:
        return None
    a, b, c = (np.log(max(p[(k + i) % nfft], 1e-300)) for i in (-1, 0, 1))
    den = a - 2 * b + c
    delta = 0.5 * (a - c) / den if den < 0 else 0.0
    return Carrier(float(f[k] + delta * sample_rate_hz / nfft), fraction, excess)
