"""Find occupied channels: CFAR on the mean PSD, then per channel its 99 % occupied bandwidth,
SNR, power, on/off times from the spectrogram rows, and a coarse modulation class."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.signal

from unseen.detect.cfar import cfar, threshold_factor
from unseen.detect.spectrum import Spectrogram, spectrogram, spectrogram_frames
from unseen.errors import InputError
from unseen.types import Detection, IqBlock

MODULATIONS = ("cw", "am", "fm", "digital")


@dataclass(frozen=True)
class Features:
    """Simple features of one channel at baseband: fraction of its power in the strongest 3 of
    256 bins across the occupied band (`carrier`), spread of the envelope (`envelope_cv`, std/mean
    of |x|), spectral flatness (geometric/arithmetic mean of the bins above 5 % of the peak)."""

    carrier: float
    envelope_cv: float
    flatness: float


def features(
    block: IqBlock, freq_hz: float, bandwidth_hz: float, snr_db: float = 60.0
) -> tuple[Features, float, float]:
    """Features of the channel near freq_hz ± bandwidth_hz/2 of `block` (channel 0), with the
    channel's centre and 99 % occupied bandwidth re-measured at fine resolution (Hz). The
    envelope is taken over the whole detected band (an AM voice channel's 99 % band can be
    little more than its carrier)."""
    from unseen.channelize import channelize

    fs0 = block.sample_rate_hz
    one = IqBlock(block.samples[:1], fs0, block.center_freq_hz, block.start_s)
    wide = min(2 * bandwidth_hz, fs0)
    y = channelize(one, freq_hz, wide).samples[0]
    fs = fs0 / max(1, int(fs0 // (2.5 * wide)))
    nfft = int(min(max(64, 2 ** np.ceil(np.log2(512 * fs / wide))), max(64, len(y) // 4)))
    _, p = scipy.signal.welch(y, nperseg=min(nfft, len(y)), return_onesided=False, detrend=False)
    p = np.fft.fftshift(p)
    f = np.fft.fftshift(np.fft.fftfreq(len(p), 1 / fs))
    inband = np.abs(f) <= wide / 2
    ex = np.clip(p - np.percentile(p[inband], 10), 0, None) * inband
    lo, hi = occupied_band(ex)
    df = fs / len(p)
    f_lo, f_hi = f[lo] - df / 2, f[hi - 1] + df / 2
    centre, bw = freq_hz + (f_lo + f_hi) / 2, max(f_hi - f_lo, df)
    q = ex[lo:hi]
    carrier = float(np.sort(q)[::-1][:3].sum() / max(q.sum(), 1e-300))
    core = q[q > 0.05 * q.max()] if q.max() > 0 else q + 1
    flat = float(np.exp(np.mean(np.log(core + 1e-300))) / max(core.mean(), 1e-300))
    z = y
    e = np.abs(z[len(z) // 8 : len(z) - len(z) // 8]) if len(z) > 16 else np.abs(z)
    m2 = float(np.mean(e**2))
    noise = m2 / (1 + 10 ** (snr_db / 10))
    var = max(float(e.var()) - noise / 2, 0.0)
    return Features(carrier, float(np.sqrt(var) / max(e.mean(), 1e-300)), flat), centre, bw


def classify(f: Features) -> str:
    """cw: one line and a steady envelope; am: a carrier line with an envelope that moves; fm:
    constant envelope; digital: the rest (varying envelope, no carrier: filtered PSK/QAM)."""
    if f.envelope_cv < 0.05:
        return "cw" if f.carrier > 0.8 else "fm"
    if f.carrier > 0.2:
        return "am"
    return "digital"


def _runs(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """[start, stop) runs of True, merging runs separated by ≤ gap False."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return []
    out = []
    s = p = int(idx[0])
    for i in idx[1:]:
        i = int(i)
        if i - p > gap + 1:
            out.append((s, p + 1))
            s = i
        p = i
    out.append((s, p + 1))
    return out


def occupied_band(power: np.ndarray, fraction: float = 0.99) -> tuple[int, int]:
    """[lo, hi) bin span holding `fraction` of the power: (1−fraction)/2 cut from each side."""
    c = np.cumsum(power)
    tot = c[-1]
    if tot <= 0:
        return 0, len(power)
    tail = (1 - fraction) / 2 * tot
    lo = int(np.searchsorted(c, tail, side="right"))
    hi = int(np.searchsorted(c, tot - tail, side="left")) + 1
    return lo, max(hi, lo + 1)


def detect_spectrogram(
    s: Spectrogram,
    *,
    pfa: float = 1e-6,
    min_snr_db: float = 3.0,
    merge_hz: float | None = None,
    burst_gap_rows: int = 2,
) -> list[Detection]:
    """Detections from a spectrogram (see `detect`); `modulation` is left empty."""
    rows, nb = s.power.shape
    psd = s.psd()
    k_all = s.averages * rows
    mask, floor = cfar(psd, k_all, pfa=pfa)
    gap = max(1, round((merge_hz or 4 * s.bin_hz) / s.bin_hz))
    out: list[Detection] = []
    for lo, hi in _runs(mask, gap):
        pad = max(2, (hi - lo) // 4)
        a, b = max(0, lo - pad), min(nb, hi + pad)
        excess = np.clip(psd[a:b] - floor[a:b], 0, None)
        olo, ohi = occupied_band(excess)
        olo, ohi = a + olo, a + ohi
        sig = float(np.sum(np.clip(psd[olo:ohi] - floor[olo:ohi], 0, None)))
        noise = float(np.sum(floor[olo:ohi]))
        if sig <= 0 or 10 * np.log10(sig / noise) < min_snr_db:
            continue
        band = s.power[:, olo:ohi].sum(axis=1)
        nfl = noise * threshold_factor(s.averages, pfa, ohi - olo)
        on = band > nfl
        if not on.any():
            on = band >= band.max()
        rp = band - noise
        for r0, r1 in _runs(on, burst_gap_rows):
            seg = rp[r0:r1]
            p_sig = float(np.clip(seg.mean(), 1e-300, None))
            f_lo, f_hi = s.freqs_hz[olo] - s.bin_hz / 2, s.freqs_hz[ohi - 1] + s.bin_hz / 2
            out.append(
                Detection(
                    freq_hz=float((f_lo + f_hi) / 2),
                    bandwidth_hz=float(f_hi - f_lo),
                    snr_db=float(10 * np.log10(p_sig / noise)),
                    power_dbfs=float(10 * np.log10(p_sig)),
                    start_s=float(s.times_s[r0]),
                    stop_s=float(s.times_s[r1 - 1] + s.row_s),
                    modulation="",
                )
            )
    return sorted(out, key=lambda d: (d.start_s, d.freq_hz))


def detect(
    source,
    *,
    nfft: int = 1024,
    row_s: float | None = None,
    pfa: float = 1e-6,
    min_snr_db: float = 3.0,
    max_rows: int | None = None,
) -> list[Detection]:
    """Occupied channels in an IqBlock or a recording (`unseen.sources.Recording`, streamed).

    Each Detection has centre frequency and 99 %-power occupied bandwidth (Hz, absolute), SNR
    (signal power over noise power in that bandwidth, dB), mean power while on (dBFS: a
    full-scale complex tone is 0 dBFS), start/stop (s from the recording's start; a channel that
    goes quiet for more than two rows is reported once per burst) and modulation (cw, am, fm,
    digital). `pfa` is the per-bin false-alarm probability of the CFAR; rows are `row_s` long
    (default 16·nfft samples). A recording shorter than one row gets one row of whole FFTs;
    one shorter than `nfft` a smaller FFT (a power of two, at least MIN_NFFT).
    """
    where = str(getattr(source, "path", None) or "samples")
    if isinstance(source, IqBlock):
        nfft = _fit_nfft(nfft, source.num_samples, where)
        row = int(row_s * source.sample_rate_hz) if row_s else None
        s = spectrogram(source, nfft=nfft, row_len=row)
    elif hasattr(source, "frames"):
        n = source.num_samples
        nfft = _fit_nfft(nfft, n, where)
        row = int(row_s * source.sample_rate_hz) if row_s else 16 * nfft
        # at most `max_rows` rows: long recordings get longer rows (memory stays bounded)
        row = max(row, nfft, -(-n // (max_rows or 4096) // nfft) * nfft)
        row = min(row, n // nfft * nfft)
        frames = source.frames(row)
        s = spectrogram_frames(frames, nfft=nfft)
    else:
        raise InputError(f"detect: expected an IqBlock or a recording, got {type(source).__name__}")
    bad = np.flatnonzero(~np.isfinite(s.power).all(axis=1))
    if len(bad):
        t0 = s.times_s[bad[0]]
        raise InputError(
            f"{where}: samples contain NaN or Inf values in {len(bad)} spectrogram row(s), the "
            f"first at {t0:.6f}–{t0 + s.row_s:.6f} s (row {bad[0]}); expected finite IQ"
        )
    dets = detect_spectrogram(s, pfa=pfa, min_snr_db=min_snr_db)
    return [_refine(source, d) for d in dets]


MIN_NFFT = 64


def _fit_nfft(nfft: int, n: int, where: str) -> int:
    """`nfft`, halved while longer than the n samples, down to MIN_NFFT."""
    if n < MIN_NFFT:
        raise InputError(
            f"{where}: {n} samples per channel; detection needs at least {MIN_NFFT} (one FFT)"
        )
    while nfft > n and nfft > MIN_NFFT:
        nfft //= 2
    return nfft


def _refine(source, d: Detection, max_samples: int = 1 << 17) -> Detection:
    """Re-measure the channel at fine resolution on its first burst and classify it."""
    fs = source.sample_rate_hz
    if isinstance(source, IqBlock):
        i0 = round((d.start_s - source.start_s) * fs)
        i1 = round((d.stop_s - source.start_s) * fs)
        i0 = max(0, i0, (i0 + i1 - max_samples) // 2)
        i1 = min(source.num_samples, i1, i0 + max_samples)
        blk = IqBlock(source.samples[..., i0:i1], fs, source.center_freq_hz, d.start_s)
    else:
        i0, i1 = round(d.start_s * fs), round(d.stop_s * fs)
        i0 = max(0, i0, (i0 + i1 - max_samples) // 2)
        i1 = min(source.num_samples, i1, i0 + max_samples)
        blk = source.read(i0, i1 - i0)
    if blk.num_samples < 256:
        return replace(d, modulation="cw" if d.bandwidth_hz <= 4 * fs / 1024 else "digital")
    feats, centre, bw = features(blk, d.freq_hz, d.bandwidth_hz, d.snr_db)
    if bw < d.bandwidth_hz:
        snr = d.snr_db + 10 * np.log10(d.bandwidth_hz / bw)
        return replace(
            d,
            freq_hz=float(centre),
            bandwidth_hz=float(bw),
            snr_db=float(snr),
            modulation=classify(feats),
        )
    return replace(d, modulation=classify(feats))
