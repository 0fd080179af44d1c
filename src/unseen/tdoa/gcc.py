"""Generalised cross-correlation: GCC-PHAT/SCOT/plain and envelope correlation, lag-limited,
with band-limited sub-sample peak refinement and the Cramér–Rao bound for delay.

Convention: x_a(t) = s(t − τ_a), x_b(t) = s(t − τ_b); the estimate is τ = τ_a − τ_b (arrival at
a minus arrival at b), the lag that maximises |r(τ)|, r(τ) = Σ_k W_k X_a[k] X_b*[k] e^{+j2πf_kτ}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.optimize
import scipy.signal

from unseen.errors import InputError

WEIGHTINGS = ("phat", "scot", "none")


@dataclass(frozen=True)
class Correlation:
    """A correlation over the allowed lags (s): |r| / Σ|G| (≤ 1; 1 = all bins in phase), the
    refined peak lag and height, and the largest |r| away from the peak relative to it."""

    lags_s: np.ndarray
    magnitude: np.ndarray
    peak_s: float
    peak: float
    sidelobe: float


def _spectra(a: np.ndarray, b: np.ndarray, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    A = scipy.fft.fft(a, nfft)
    B = scipy.fft.fft(b, nfft)
    return A, B


def band_mask(nfft: int, fs: float, band_hz: tuple[float, float] | None) -> np.ndarray:
    """Bins of an nfft-point complex FFT with frequency in [lo, hi] (all bins when None)."""
    f = scipy.fft.fftfreq(nfft, 1.0 / fs)
    if band_hz is None:
        return np.ones(nfft, bool)
    lo, hi = band_hz
    return (f >= lo) & (f <= hi)


def cross_spectrum(
    a: np.ndarray,
    b: np.ndarray,
    fs: float,
    *,
    weighting: str = "phat",
    band_hz: tuple[float, float] | None = None,
    nfft: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted cross-spectrum W·A·B* (zero outside `band_hz`) and its frequencies (Hz).

    PHAT: W = 1/|A B*|; SCOT: W = 1/sqrt(|A|²|B|²) smoothed; none: W = 1.
    """
    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting={weighting!r}; expected one of {', '.join(WEIGHTINGS)}")
    n = len(a)
    nfft = nfft or scipy.fft.next_fast_len(2 * n)
    A, B = _spectra(a, b, nfft)
    G = A * np.conj(B)
    if weighting == "phat":
        mag = np.abs(G)
        G = G / np.maximum(mag, np.finfo(float).tiny * 1e10 + mag.max() * 1e-12)
    elif weighting == "scot":
        k = np.hanning(33)
        k /= k.sum()
        pa = np.convolve(np.abs(A) ** 2, k, mode="same")
        pb = np.convolve(np.abs(B) ** 2, k, mode="same")
        G = G / np.sqrt(np.maximum(pa * pb, 1e-300))
    G = np.where(band_mask(nfft, fs, band_hz), G, 0.0)
    return G, scipy.fft.fftfreq(nfft, 1.0 / fs)


def correlate(
    G: np.ndarray, freqs: np.ndarray, fs: float, max_lag_s: float, center_s: float = 0.0
) -> Correlation:
    """|IFFT(G)| over |lag − center_s| ≤ max_lag_s; the peak refined continuously."""
    nfft = len(G)
    r = scipy.fft.ifft(G)
    lo = int(np.ceil((center_s - max_lag_s) * fs))
    hi = int(np.floor((center_s + max_lag_s) * fs))
    lo, hi = max(lo, -(nfft // 2) + 1), min(hi, nfft // 2 - 1)
    if hi < lo:
        lo = hi = round(center_s * fs)
    idx = np.arange(lo, hi + 1)
    mag = np.abs(r[idx % nfft]) * nfft / max(float(np.sum(np.abs(G))), 1e-300)
    k = int(np.argmax(mag))
    peak_s = refine_peak(
        G, freqs, idx[k] / fs, 1.0 / fs, (center_s - max_lag_s, center_s + max_lag_s)
    )
    total = float(np.sum(np.abs(G)))
    pk = float(np.abs(np.sum(G * np.exp(2j * np.pi * freqs * peak_s)))) / max(total, 1e-300)
    guard = max(2, int(np.ceil(0.02 * len(idx))))
    away = np.abs(np.arange(len(mag)) - k) > guard
    side = float(mag[away].max()) if away.any() else 0.0
    return Correlation(idx / fs, mag, float(peak_s), pk, side / pk if pk > 0 else 1.0)


def refine_peak(
    G: np.ndarray, freqs: np.ndarray, tau0_s: float, step_s: float, bounds_s: tuple[float, float]
) -> float:
    """Maximise |Σ G e^{j2πfτ}| over τ within one sample of the integer-lag peak tau0_s.

    The correlation evaluated directly from the spectrum is the exact band-limited
    interpolation, so no parabolic-fit bias.
    """
    nz = np.flatnonzero(G)
    g, f = G[nz], freqs[nz]

    def neg(tau: float) -> float:
        return -float(np.abs(np.sum(g * np.exp(2j * np.pi * f * tau))))

    lo = max(tau0_s - step_s, bounds_s[0])
    hi = min(tau0_s + step_s, bounds_s[1])
    if hi <= lo:
        return float(tau0_s)
    res = scipy.optimize.minimize_scalar(
        neg, bounds=(lo, hi), method="bounded", options={"xatol": step_s * 1e-6}
    )
    return float(res.x)


def coherence_crb(
    a: np.ndarray,
    b: np.ndarray,
    fs: float,
    delay_s: float,
    *,
    band_hz: tuple[float, float] | None = None,
    nperseg: int = 256,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Cramér–Rao bound (s) for the delay from the measured magnitude-squared coherence.

    var τ ≥ 1 / (T Σ_f Δf (2πf)² C(f) / (1 − C(f))) with C = |γ|², T the duration: each
    frequency cell of width 1/T contributes Fisher information (2πf)² C/(1−C) (Carter 1987).
    `b` is first shifted by `delay_s` so the coherence is not lost to the delay. Frequencies
    are relative to the signal centroid (a common phase drift carries no delay information).
    """
    n = len(a)
    bs = fractional_shift(b, delay_s * fs)
    nperseg = int(min(nperseg, n // 8 if n >= 64 else n))
    kw = {"fs": fs, "nperseg": nperseg, "return_onesided": False, "detrend": False}
    f, Sab = scipy.signal.csd(a, bs, **kw)
    _, Saa = scipy.signal.welch(a, **kw)
    _, Sbb = scipy.signal.welch(bs, **kw)
    C = np.abs(Sab) ** 2 / np.maximum(Saa * Sbb, 1e-300)
    K = max(1, 2 * (n // nperseg) - 1)  # Welch segments at 50 % overlap
    C = np.clip((C - 1.0 / K) / (1 - 1.0 / K), 0.0, 0.999999)  # remove the 1/K bias
    if band_hz is not None:
        C = np.where((f >= band_hz[0]) & (f <= band_hz[1]), C, 0.0)
    w = C / (1 - C)
    fc = np.sum(f * w) / np.sum(w) if np.sum(w) > 0 else 0.0
    df = fs / nperseg
    T = n / fs
    info = T * df * np.sum((2 * np.pi * (f - fc)) ** 2 * w)
    return (float(1 / np.sqrt(info)) if info > 0 else float("inf")), f, C


def fractional_shift(x: np.ndarray, shift_samples: float) -> np.ndarray:
    """x delayed by `shift_samples` (may be fractional) via the FFT phase ramp (circular)."""
    n = len(x)
    nfft = scipy.fft.next_fast_len(n + int(abs(shift_samples)) + 16)
    X = scipy.fft.fft(x, nfft)
    k = scipy.fft.fftfreq(nfft)
    y = scipy.fft.ifft(X * np.exp(-2j * np.pi * k * shift_samples))[:n]
    return y.astype(np.result_type(x, np.complex64))
