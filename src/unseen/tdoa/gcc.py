"""Generalised cross-correlation: GCC-PHAT/SCOT/plain, lag-limited, with band-limited
sub-sample peak refinement and the Cramér–Rao bound for delay.

Convention: x_a(t) = s(t − τ_a), x_b(t) = s(t − τ_b); the estimate is τ = τ_a − τ_b (arrival at
a minus arrival at b), the lag that maximises |r(τ)|, r(τ) = Σ_k W_k X_a[k] X_b*[k] e^{+j2πf_kτ}.

Speed: transforms are only as long as the lag window needs (n + max|lag| points, not 2n, a
`scipy.fft.next_fast_len` size), in the inputs' precision (complex64 IQ stays single), one
worker; the off-grid peak is found by safeguarded Newton steps on |r(τ)|², each evaluating r, r′
and r″ exactly from the spectrum as one small matrix product (bins reshaped Q × B, so
e^{j2πkτ/N} = e^{j2π(qB)τ/N}·e^{j2πrτ/N} needs only Q + B exponentials).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.optimize
import scipy.signal

from unseen.errors import InputError

WEIGHTINGS = ("phat", "scot", "none")


@dataclass(frozen=True)
class Correlation:
    """A correlation over the allowed lags (s): |r| / Σ|G| (≤ 1; 1 = all bins in phase), the
    refined peak lag and height, the highest local maximum outside the main lobe relative to
    the peak (`sidelobe`), and the indices into `lags_s` of the main lobe's integer-lag maximum
    (`main`) and of every local maximum outside the main lobe (`rivals`, highest first). The
    main lobe runs from the peak down to the first local minimum on each side."""

    lags_s: np.ndarray
    magnitude: np.ndarray
    peak_s: float
    peak: float
    sidelobe: float
    main: int = 0
    rivals: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _ctype(*xs: np.ndarray) -> type:
    single = all(np.asarray(x).dtype in (np.complex64, np.float32) for x in xs)
    return np.complex64 if single else np.complex128


def band_mask(nfft: int, fs: float, band_hz: tuple[float, float] | None) -> np.ndarray:
    """Bins of an nfft-point complex FFT with frequency in [lo, hi] (all bins when None)."""
    f = scipy.fft.fftfreq(nfft, 1.0 / fs)
    if band_hz is None:
        return np.ones(nfft, bool)
    lo, hi = band_hz
    return (f >= lo) & (f <= hi)


def _zero_outside(G: np.ndarray, fs: float, band_hz: tuple[float, float] | None) -> None:
    """Zero, in place, the bins of G (FFT order) whose frequency is outside [lo, hi]."""
    if band_hz is None:
        return
    n = len(G)
    k = np.arange(n)
    f = np.where(k < (n + 1) // 2, k, k - n) * (fs / n)
    G[(f < band_hz[0]) | (f > band_hz[1])] = 0


def _weighted(A: np.ndarray, B: np.ndarray, weighting: str) -> np.ndarray:
    """W·A·B* in place of A."""
    G = np.multiply(A, np.conj(B), out=A)
    if weighting == "phat":
        mag = np.abs(G)
        floor = mag.max() * 1e-12 if len(mag) else 0.0
        np.maximum(mag, floor if floor > 0 else np.finfo(mag.dtype).tiny, out=mag)
        np.divide(G, mag, out=G)
    elif weighting == "scot":
        k = np.hanning(33)
        k /= k.sum()
        pa = np.convolve(np.abs(A) ** 2, k, mode="same")
        pb = np.convolve(np.abs(B) ** 2, k, mode="same")
        np.divide(G, np.sqrt(np.maximum(pa * pb, 1e-300)).astype(G.real.dtype), out=G)
    return G


def cross_spectrum(
    a: np.ndarray,
    b: np.ndarray,
    fs: float,
    *,
    weighting: str = "phat",
    band_hz: tuple[float, float] | None = None,
    nfft: int | None = None,
    max_lag_samples: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted cross-spectrum W·A·B* (zero outside `band_hz`) and its frequencies (Hz).

    PHAT: W = 1/|A B*|; SCOT: W = 1/sqrt(|A|²|B|²) smoothed; none: W = 1. The transform length
    is `nfft`, else n + `max_lag_samples` (enough for lags up to that without wrap-around), else
    2n, rounded up to a fast size.
    """
    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting={weighting!r}; expected one of {', '.join(WEIGHTINGS)}")
    n = min(len(a), len(b))
    if nfft is None:
        extra = n if max_lag_samples is None else min(n, int(max_lag_samples) + 1)
        nfft = scipy.fft.next_fast_len(n + extra)
    ct = _ctype(a, b)
    A = scipy.fft.fft(np.asarray(a[:n], ct), nfft, workers=1)
    B = scipy.fft.fft(np.asarray(b[:n], ct), nfft, workers=1)
    G = _weighted(A, B, weighting)
    _zero_outside(G, fs, band_hz)
    return G, scipy.fft.fftfreq(nfft, 1.0 / fs)


def _window(nfft: int, fs: float, max_lag_s: float, center_s: float) -> np.ndarray:
    lo = int(np.ceil((center_s - max_lag_s) * fs - 1e-9))
    hi = int(np.floor((center_s + max_lag_s) * fs + 1e-9))
    lo, hi = max(lo, -(nfft // 2) + 1), min(hi, nfft // 2 - 1)
    if hi < lo:
        lo = hi = round(center_s * fs)
    return np.arange(lo, hi + 1)


def gcc(
    a: np.ndarray,
    b: np.ndarray,
    fs: float,
    max_lag_s: float,
    *,
    center_s: float = 0.0,
    weighting: str = "phat",
    band_hz: tuple[float, float] | None = None,
    taper: float = 0.0,
) -> Correlation:
    """Generalised cross-correlation of a and b over |lag − center_s| ≤ max_lag_s (s), with the
    peak refined off-grid: the transform covers only that window, in the inputs' precision.

    `taper` > 0 multiplies both blocks by a Tukey window with that tapered fraction first.
    Blocks cut from one time grid end at the same sample at every receiver: a strong carrier's
    step there (and at the zero padding) leaks a 1/f spectrum that is identical in both and
    coherent at zero lag, which PHAT, weighting every bin alike, turns into a false peak; the
    cosine edges make that leakage fall as 1/f³, below the receivers' noise.
    """
    if taper > 0:
        n = min(len(a), len(b))
        w = tukey(n, taper)
        ct = _ctype(a, b)
        a = np.multiply(np.asarray(a[:n], ct), w)
        b = np.multiply(np.asarray(b[:n], ct), w)
    reach = int(np.ceil((abs(center_s) + max_lag_s) * fs)) + 1
    G, _ = cross_spectrum(a, b, fs, weighting=weighting, band_hz=band_hz, max_lag_samples=reach)
    return _correlate(G, fs, max_lag_s, center_s)


@lru_cache(maxsize=8)
def tukey(n: int, alpha: float) -> np.ndarray:
    """Tukey (tapered-cosine) window of n points, fraction `alpha` tapered (float32, cached)."""
    w = scipy.signal.windows.tukey(n, alpha).astype(np.float32)
    w.setflags(write=False)
    return w


def correlate(
    G: np.ndarray, freqs: np.ndarray, fs: float, max_lag_s: float, center_s: float = 0.0
) -> Correlation:
    """|IFFT(G)| over |lag − center_s| ≤ max_lag_s; the peak refined continuously."""
    return _correlate(G, fs, max_lag_s, center_s)


def _correlate(G: np.ndarray, fs: float, max_lag_s: float, center_s: float) -> Correlation:
    nfft = len(G)
    idx = _window(nfft, fs, max_lag_s, center_s)
    r = scipy.fft.ifft(G, workers=1)
    total = float(np.sum(np.abs(G), dtype=np.float64))
    mag = np.abs(r[idx % nfft]).astype(np.float64) * nfft / max(total, 1e-300)
    k = int(np.argmax(mag))
    bounds = ((center_s - max_lag_s) * fs, (center_s + max_lag_s) * fs)
    start = 0.0
    if 0 < k < len(mag) - 1:
        den = mag[k - 1] - 2 * mag[k] + mag[k + 1]
        start = float(np.clip(0.5 * (mag[k - 1] - mag[k + 1]) / den, -0.5, 0.5)) if den < 0 else 0.0
    tau, c = _refine(Spectrum(G), float(idx[k]), bounds, start)
    pk = c / max(total, 1e-300)
    rivals = _rivals(mag, k)
    side = float(mag[rivals[0]]) if len(rivals) else 0.0
    return Correlation(idx / fs, mag, tau / fs, pk, side / pk if pk > 0 else 1.0, k, rivals)


def _rivals(mag: np.ndarray, k: int) -> np.ndarray:
    """Indices of the local maxima of `mag` outside the main lobe around index k (the lobe
    ends at the first local minimum on each side), highest first; window edges count."""
    n = len(mag)
    lo = k
    while lo > 0 and mag[lo - 1] <= mag[lo]:
        lo -= 1
    hi = k
    while hi < n - 1 and mag[hi + 1] <= mag[hi]:
        hi += 1
    m = np.concatenate(([-np.inf], mag, [-np.inf]))
    peaks = np.flatnonzero((m[1:-1] > m[:-2]) & (m[1:-1] >= m[2:]))
    peaks = peaks[(peaks < lo) | (peaks > hi)]
    return peaks[np.argsort(-mag[peaks], kind="stable")]


class Spectrum:
    """A spectrum G (FFT order, N bins) ready for exact evaluation of c(τ) = Σ_k G_k e^{j2πm_kτ/N}
    (τ in samples, m_k the signed bin index) and its first two τ-derivatives.

    The nonzero bins are laid out as a Q × B matrix H, m = m0 + qB + r, so
    c = e^{jθm0} uᵀ H v with u_q = e^{jθqB}, v_r = e^{jθr}, θ = 2πτ/N: one GEMM per τ. m is
    counted from the band centre (a constant phase factor, invisible in |c|).
    """

    def __init__(self, G: np.ndarray) -> None:
        n = len(G)
        Gs = np.fft.fftshift(G)
        nz = np.flatnonzero(Gs)
        k0, k1 = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 1)
        width = k1 - k0
        B = max(1, int(np.sqrt(width)))
        Q = -(-width // B)
        H = np.zeros(Q * B, G.dtype if G.dtype == np.complex64 else np.complex128)
        H[:width] = Gs[k0:k1]
        self.n = n
        self.H = H.reshape(Q, B)
        self.B = B
        self.m0 = float(k0 - n // 2 - width // 2)  # m relative to the band centre: conditioning
        self.a = self.m0 + B * np.arange(Q, dtype=np.float64)
        self.r = np.arange(B, dtype=np.float64)

    def terms(self, tau: float) -> tuple[complex, complex, complex]:
        """(c, dc/dτ, d²c/dτ²) at τ (samples)."""
        w = 2 * np.pi / self.n
        th = w * tau
        u = np.exp(1j * th * self.B * np.arange(self.H.shape[0]))
        v = np.exp(1j * th * self.r)
        V = np.stack([v, self.r * v, self.r**2 * v], axis=1).astype(self.H.dtype)
        P = self.H @ V  # (Q, 3)
        e0 = np.exp(1j * th * self.m0)
        s0 = u @ P[:, 0]
        s1 = u @ (self.a * P[:, 0] + P[:, 1])
        s2 = u @ (self.a**2 * P[:, 0] + 2 * self.a * P[:, 1] + P[:, 2])
        c = e0 * s0
        return c, 1j * w * e0 * s1, -(w**2) * e0 * s2

    def value(self, tau: float) -> float:
        return float(abs(self.terms(tau)[0]))


def _refine(
    S: Spectrum, tau0: float, bounds: tuple[float, float], start: float = 0.0
) -> tuple[float, float]:
    """Maximise |c(τ)| near the integer-lag peak tau0 (within one sample and `bounds`), samples.

    Newton steps on d|c|²/dτ = 0 from tau0 + `start` (a parabolic guess); if they leave the
    range or meet positive curvature, the slope of |c|² is followed from tau0 in half-sample
    steps until it changes sign, then safeguarded Newton steps inside that bracket (bisection
    when a step leaves it); a peak against a bound of the window stays there.
    """
    lo_b, hi_b = max(tau0 - 1.0, bounds[0]), min(tau0 + 1.0, bounds[1])

    def slope(t: float) -> tuple[float, float, float]:
        c, d1, d2 = S.terms(t)
        g1 = 2 * (c.conjugate() * d1).real
        g2 = 2 * (abs(d1) ** 2 + (c.conjugate() * d2).real)
        return g1, g2, abs(c)

    t = min(max(tau0 + start, lo_b), hi_b)
    for _ in range(6):  # plain Newton from the parabolic start: 2–3 steps near a clean peak
        g1, g2, v = slope(t)
        if g2 >= 0:
            break
        step = -g1 / g2
        if abs(step) > 0.5 or not (lo_b <= t + step <= hi_b):
            break
        t += step
        if abs(step) < 1e-4:  # the next step would be ~1e-8 (quadratic convergence)
            return float(t), v
    t0 = min(max(tau0, lo_b), hi_b)
    g1, g2, v = slope(t0)
    if g1 == 0:
        return t0, v
    direction = 1.0 if g1 > 0 else -1.0
    a = t0
    b = None
    for _ in range(2):
        t = min(max(a + 0.5 * direction, lo_b), hi_b)
        if t == a:
            break
        gt, _, vt = slope(t)
        if gt * direction <= 0:
            b = t
            break
        a, v = t, vt
    if b is None:  # still climbing at the end of the search range: the peak is at its edge
        return a, v
    lo, hi = (a, b) if a < b else (b, a)
    t = a
    for _ in range(40):
        g1, g2, v = slope(t)
        if g1 > 0:
            lo = t
        else:
            hi = t
        nt = t - g1 / g2 if g2 < 0 else 0.5 * (lo + hi)
        if not (lo < nt < hi):
            nt = 0.5 * (lo + hi)
        if abs(nt - t) < 1e-7 or hi - lo < 1e-7:
            break
        t = nt
    return float(t), v


def refine_peak(
    G: np.ndarray, freqs: np.ndarray, tau0_s: float, step_s: float, bounds_s: tuple[float, float]
) -> float:
    """Maximise |Σ G e^{j2πfτ}| over τ within one sample (`step_s`) of the integer-lag peak.

    The correlation evaluated directly from the spectrum is the exact band-limited
    interpolation, so no parabolic-fit bias.
    """
    tau, _ = _refine(Spectrum(G), tau0_s / step_s, (bounds_s[0] / step_s, bounds_s[1] / step_s))
    return tau * step_s


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
    `b` is first shifted by `delay_s` rounded to whole samples so the coherence is not lost to
    the delay (the fraction left is a per-bin phase common to all Welch segments, which |S_ab|
    ignores, plus a misalignment of < 1/nperseg of a segment). Frequencies
    are relative to the signal centroid (a common phase drift carries no delay information).
    """
    n = len(a)
    bs = _shift(b, round(delay_s * fs))
    nperseg = int(min(nperseg, n // 8 if n >= 64 else n))
    f, Saa, Sbb, Sab = welch3(a, bs, fs, nperseg)
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


def echo_sigma(
    a: np.ndarray,
    b: np.ndarray,
    fs: float,
    delay_s: float,
    *,
    echo_delay_s: float = 100e-6,
    band_hz: tuple[float, float] | None = None,
    nperseg: int = 256,
) -> float:
    """σ (s) of the delay bias that an unresolved echo (sky wave) implies, from the curvature
    of the cross-spectrum phase: a common delay makes the phase a straight line in f; an
    echo γ at excess delay d bends it (a receiver filter that differs between the two too).

    Two paths: H(f) = 1 + γe^{−j2πfd}, u = γ/(1 + γ): the delay is biased by d·Re u and the
    phase gains the curvature ψ₂ = (2πd)²·Im(u)/2 (per Hz²). With the echo's phase uniform,
    Re u and Im u have one spread, so σ = 2|ψ₂|/((2π)²d) for excess delay d = `echo_delay_s`
    (one hop, 70 km: 100 µs at 400 km, 150 µs at 200 km, 60 µs at 650 km). ψ(f) is fitted as
    α + βf + ψ₂f² by weighted least squares over the contiguous run of bins of coherence
    C > 5 % around the most coherent one (another signal elsewhere in the band is left out), weights
    2K·C/(1 − C) (inverse phase variance, K Welch segments), after removing `delay_s` in whole
    samples. ψ₂'s own variance (doubled for the correlation of neighbouring Hann-windowed bins,
    scaled by the fit's χ²/dof when above 1) is subtracted, and a ψ₂ within 3 of its σ counts
    as 0 (noise alone bent 6 s of simulated DCF77 by up to 3 µs without that test). 0 with
    fewer than 8 usable bins.
    """
    n = min(len(a), len(b))
    bs = _shift(b, round(delay_s * fs))
    nperseg = int(min(nperseg, n // 8 if n >= 64 else n))
    f, Saa, Sbb, Sab = welch3(a, bs, fs, nperseg)
    C = np.abs(Sab) ** 2 / np.maximum(Saa * Sbb, 1e-300)
    K = max(1, 2 * (n // nperseg) - 1)
    C = np.clip((C - 1.0 / K) / (1 - 1.0 / K), 0.0, 0.999)
    if band_hz is not None:
        C = np.where((f >= band_hz[0]) & (f <= band_hz[1]), C, 0.0)
    order = np.argsort(f)
    f, C, Sab = f[order], C[order], Sab[order]
    use = C > 0.05  # phase well defined: no unwrapping slips
    if use.any():  # only the run of such bins around the most coherent one: the signal's band
        k = int(np.argmax(C))
        lo, hi = k, k
        while lo > 0 and use[lo - 1]:
            lo -= 1
        while hi < len(C) - 1 and use[hi + 1]:
            hi += 1
        use = np.zeros_like(use)
        use[lo : hi + 1] = True
    if use.sum() < 8:
        return 0.0
    w = 2 * K * C[use] / (1 - C[use])
    step = fs / nperseg
    x = (f[use] - float(np.sum(w * f[use]) / np.sum(w))) / step
    psi = np.unwrap(np.angle(Sab[use]))
    A = np.stack([np.ones_like(x), x, x * x], axis=1)
    Aw = A * w[:, None]
    cov = np.linalg.pinv(Aw.T @ A)
    coef = cov @ (Aw.T @ psi)
    chi = float(np.sum(w * (psi - A @ coef) ** 2)) / max(len(x) - 3, 1)
    var = 2 * cov[2, 2] * max(chi, 1.0)  # ×2: Hann-windowed neighbouring bins correlate
    if coef[2] ** 2 <= 9 * var:  # not significant at 3σ
        return 0.0
    g2 = coef[2] ** 2 - var
    psi2 = np.sqrt(g2) / step**2  # rad/Hz²
    return float(2 * psi2 / ((2 * np.pi) ** 2 * echo_delay_s))


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x delayed by k whole samples (zeros shifted in): y[i] = x[i − k]."""
    y = np.zeros_like(x)
    if abs(k) < len(x):
        if k >= 0:
            y[k:] = x[: len(x) - k]
        else:
            y[:k] = x[-k:]
    return y


def welch3(
    a: np.ndarray, b: np.ndarray, fs: float, nperseg: int, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Welch auto- and cross-spectra (f, S_aa, S_bb, S_ab; two-sided, FFT order, Hann window,
    50 % overlap, no detrend, as scipy.signal.welch/csd up to one common scale), from batched
    FFTs of `chunk` segments at a time: O(N log nperseg), float64 sums (in float32 1e-300 rounds
    to 0, and 0/0 = NaN in empty bins outside a channel).
    """
    n = min(len(a), len(b))
    step = nperseg // 2 or 1
    count = (n - nperseg) // step + 1
    w = scipy.signal.windows.hann(nperseg, sym=False).astype(np.float32)
    saa = np.zeros(nperseg)
    sbb = np.zeros(nperseg)
    sab = np.zeros(nperseg, np.complex128)
    ct = _ctype(a, b)
    a, b = np.asarray(a, ct), np.asarray(b, ct)
    for s in range(0, count, chunk):
        idx = (np.arange(s, min(count, s + chunk)) * step)[:, None] + np.arange(nperseg)
        A = scipy.fft.fft(a[idx] * w, axis=1, workers=1)
        B = scipy.fft.fft(b[idx] * w, axis=1, workers=1)
        saa += np.sum(np.abs(A) ** 2, axis=0, dtype=np.float64)
        sbb += np.sum(np.abs(B) ** 2, axis=0, dtype=np.float64)
        sab += np.sum(np.conj(A) * B, axis=0, dtype=np.complex128)
    scale = 1.0 / (fs * np.sum(w.astype(np.float64) ** 2) * max(count, 1))
    return scipy.fft.fftfreq(nperseg, 1.0 / fs), saa * scale, sbb * scale, sab * scale


def fractional_shift(x: np.ndarray, shift_samples: float) -> np.ndarray:
    """x delayed by `shift_samples` (may be fractional) via the FFT phase ramp (circular)."""
    n = len(x)
    nfft = scipy.fft.next_fast_len(n + int(abs(shift_samples)) + 16)
    X = scipy.fft.fft(x, nfft, workers=1)
    k = scipy.fft.fftfreq(nfft)
    y = scipy.fft.ifft(X * np.exp(-2j * np.pi * k * shift_samples), workers=1)[:n]
    return y.astype(np.result_type(x, np.complex64))
