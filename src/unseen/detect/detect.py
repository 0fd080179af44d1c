"""Find occupied channels: CFAR on the mean PSD, then per channel its 99 % occupied bandwidth,
SNR, power, on/off times from the spectrogram rows, and a coarse modulation class."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.ndimage
import scipy.signal
import scipy.stats

from unseen.detect.carrier import carrier_line
from unseen.detect.cfar import cfar, threshold_factor
from unseen.detect.pulses import (
    CORRELATION,
    Envelope,
    Repetition,
    bursts,
    envelope,
    fold,
    noise_level,
    repetition,
)
from unseen.detect.spectrum import Spectrogram, _periodograms, spectrogram, spectrogram_frames
from unseen.errors import InputError
from unseen.types import Detection, IqBlock

MODULATIONS = ("cw", "am", "fm", "digital", "pulsed", "unknown")


@dataclass(frozen=True)
class Features:
    """Simple features of one channel at baseband: fraction of its power in the strongest 3 of
    256 bins across the occupied band (`carrier`), spread of the signal's power envelope with
    the noise taken out (`envelope_cv`: std/mean of |s|², see `envelope_spread`) and its
    two-sigma interval (`envelope_cv_lo`, `envelope_cv_hi`), spectral flatness (geometric/
    arithmetic mean of the bins above 5 % of the peak) and the bimodality of the envelope
    (`keyed`: fraction of the time the power is off, under 3× the noise, when the rest sits
    at an on level: on/off keying, see `keyed`) and the fraction of the time under 3× the
    noise (`off`)."""

    carrier: float
    envelope_cv: float
    flatness: float
    envelope_cv_lo: float = 0.0
    envelope_cv_hi: float = np.inf
    keyed: float = 0.0
    off: float = 0.0


def envelope_spread(e2: np.ndarray, noise: float, dof: float, noise_rel_sigma: float):
    """(cv, cv_lo, cv_hi) of the signal's power envelope from |x|² = |s + n|² samples `e2` with
    complex Gaussian noise of power `noise` (relative standard error `noise_rel_sigma`):
    var|s|² = var|x|² − 2·S·N − N², S = mean|x|² − N (exact for independent noise); the interval
    is ± two standard errors from `dof` independent samples and from the noise estimate."""
    m = float(e2.mean())
    v = float(e2.var())
    sig = max(m - noise, 1e-300)
    var_s = v - 2 * sig * noise - noise**2
    err = v * np.sqrt(2 / max(dof, 1.0)) + (2 * sig + 2 * noise) * noise * noise_rel_sigma
    cv = np.sqrt(max(var_s, 0.0)) / sig
    lo = np.sqrt(max(var_s - 2 * err, 0.0)) / sig
    hi = np.sqrt(max(var_s + 2 * err, 0.0)) / sig
    return float(cv), float(lo), float(hi)


def features(
    block: IqBlock, freq_hz: float, bandwidth_hz: float, snr_db: float = 60.0
) -> tuple[Features, float, float]:
    """Features of the channel near freq_hz ± bandwidth_hz/2 of `block` (channel 0), with the
    channel's centre and 99 % occupied bandwidth re-measured at fine resolution (Hz).

    The noise density is the median of the fine PSD's bins outside the occupied band (inside
    the channelizer's flat passband); the envelope is read on the occupied band widened by a
    quarter each side (brick-wall FFT filter), with that band's noise power taken out exactly
    (`envelope_spread`). Without noise-only bins the stated `snr_db` gives the noise."""
    from unseen.channelize import channelize

    fs0 = block.sample_rate_hz
    one = IqBlock(block.samples[:1], fs0, block.center_freq_hz, block.start_s)
    room = fs0 - 2 * abs(freq_hz - block.center_freq_hz)  # the channel stays inside the band
    wide = max(min(2 * bandwidth_hz, fs0, room), min(bandwidth_hz, room), 64 * fs0 / 2**20)
    y = channelize(one, freq_hz, wide).samples[0].astype(np.complex128)
    fs = fs0 / max(1, int(fs0 // (2.5 * wide)))
    nfft = int(min(max(64, 2 ** np.ceil(np.log2(512 * fs / wide))), max(64, len(y) // 4)))
    seg = min(nfft, len(y))
    _, p = scipy.signal.welch(y, nperseg=seg, return_onesided=False, detrend=False)
    k_welch = max(1, 2 * len(y) // seg - 1)
    p = np.fft.fftshift(p)
    f = np.fft.fftshift(np.fft.fftfreq(len(p), 1 / fs))
    inband = np.abs(f) <= wide / 2
    # the noise floor from the quietest tenth of the bins (Welch bins are Gamma(k_welch)); for
    # the envelope's band, bins not significantly above it (2σ) hold no measurable signal
    fl = float(np.percentile(p[inband], 10)) / (scipy.stats.gamma.ppf(0.1, k_welch) / k_welch)
    sig = np.where(p > fl * (1 + 2 / np.sqrt(k_welch)), p - fl, 0.0) * inband
    ex = np.clip(p - np.percentile(p[inband], 10), 0, None) * inband
    lo, hi = occupied_band(ex)
    df = fs / len(p)
    f_lo, f_hi = f[lo] - df / 2, f[hi - 1] + df / 2
    centre, bw = freq_hz + (f_lo + f_hi) / 2, max(f_hi - f_lo, df)
    q = ex[lo:hi]
    carrier = float(np.sort(q)[::-1][:3].sum() / max(q.sum(), 1e-300))
    core = q[q > 0.05 * q.max()] if q.max() > 0 else q + 1
    flat = float(np.exp(np.mean(np.log(core + 1e-300))) / max(core.mean(), 1e-300))
    # the envelope on the band of significant power (99 %) ± a quarter (at least 2 fine bins)
    s_lo, s_hi = occupied_band(sig)
    e_lo, e_hi = f[s_lo] - df / 2, f[s_hi - 1] + df / 2
    pad = max(0.25 * (e_hi - e_lo), 2 * df)
    b_lo, b_hi = e_lo - pad, e_hi + pad
    quiet = inband & (np.abs(f) <= 0.8 * wide / 2) & ((f < b_lo - df) | (f > b_hi + df))
    fy = np.fft.fftfreq(len(y), 1 / fs)
    keep = (fy >= b_lo) & (fy <= b_hi)
    z = np.fft.ifft(np.fft.fft(y) * keep)
    band_hz = keep.sum() * fs / len(y)
    if quiet.sum() >= 8:
        noise = float(np.median(p[quiet])) * band_hz / fs
        rel = 1.0 / np.sqrt(k_welch * quiet.sum())
    else:
        m2 = float(np.mean(np.abs(z) ** 2))
        noise = m2 / (1 + 10 ** (snr_db / 10))
        rel = 0.3
    t = min(len(z) // 8, 32)  # the channelizer's start and end transients
    e2 = np.abs(z[t : len(z) - t] if len(z) > 16 else z) ** 2
    cv, cv_lo, cv_hi = envelope_spread(e2, noise, len(e2) * band_hz / fs, rel)
    corr = max(1, round(fs / band_hz))  # samples per inverse bandwidth
    off = float(np.mean(scipy.ndimage.uniform_filter1d(e2, corr) < 3 * noise))
    feats = Features(carrier, cv, flat, cv_lo, cv_hi, keyed(e2, noise, corr), off)
    return feats, centre, bw


def keyed(e2: np.ndarray, noise: float, corr: int = 1) -> float:
    """Fraction of the time an on/off keyed envelope is off: the power |x|² (smoothed over
    `corr` samples, the inverse bandwidth) has an on level (median above the geometric mean of
    its peak and the noise) at least 20× the noise, is off (under 3× the noise) at least 10 %
    of the time, and spends less time in between (3× the noise to a quarter of the on level:
    transitions, filter ringing) than off; 0 when not keyed. AM and filtered PSK/QAM at
    ≥ 20 dB dip under 3× the noise only briefly."""
    if len(e2) < 64:
        return 0.0
    sm = scipy.ndimage.uniform_filter1d(e2, corr)
    on = sm > np.sqrt(max(float(sm.max()), 1e-300) * max(noise, 1e-300))
    if on.all() or not on.any():
        return 0.0
    level = float(np.median(sm[on]))
    off = float(np.mean(sm < 3 * noise))
    between = float(np.mean((sm >= 3 * noise) & (sm < level / 4)))
    if level < 20 * noise or off < 0.1 or between > off:
        return 0.0
    return off


ENVELOPE_CV = 0.2
"""Power-envelope spread (std/mean of |s|²) splitting steady envelopes (cw, fm: 0 up to filter
ripple) from moving ones (am, digital: a half-modulated AM tone reads 0.7)."""


def classify(f: Features) -> str:
    """pulsed: an on/off keyed envelope (see `keyed`); cw: one line and a
    steady power envelope; am: a carrier line with an envelope that moves; fm: a steady
    envelope without a line; digital: the rest (moving envelope, no carrier: filtered PSK/QAM);
    unknown: the envelope's interval straddles the steady/moving split, or it is off (under 3×
    the noise) a tenth of the time without a clean on/off split."""
    if f.keyed > 0:
        return "pulsed"
    if f.off >= 0.1:
        return "unknown"
    if f.envelope_cv_hi < ENVELOPE_CV:
        return "cw" if f.carrier > 0.8 else "fm"
    if f.envelope_cv_lo <= ENVELOPE_CV:
        return "unknown"
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
            t0, u0 = s.time_at(r0)
            t1, u1 = s.time_at(r1 - 1, s.row_s)
            out.append(
                Detection(
                    freq_hz=float((f_lo + f_hi) / 2),
                    bandwidth_hz=float(f_hi - f_lo),
                    snr_db=float(10 * np.log10(p_sig / noise)),
                    power_dbfs=float(10 * np.log10(p_sig)),
                    start_s=t0,
                    stop_s=t1,
                    modulation="",
                    start_utc_ns=u0,
                    stop_utc_ns=u1,
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
    found = detect_spectrogram(s, pfa=pfa, min_snr_db=min_snr_db)
    spectral = [_refine(source, s, d) for d in found]
    env = envelope(source)
    mask, floor = cfar(s.psd(), s.averages * len(s.times_s), pfa=pfa)
    # noise power: the spectral floor where noise-only bins exist, else the envelope's quietest
    # 2 %; a signal on nearly all the time (bursts over 90 % of it) raises the spectral floor
    # with its skirts and leakage, so then the lower of the two (both bound the noise above)
    w = max(1, (nfft // 8) // env.block)
    k = max(1.0, w * env.block * env.channels / CORRELATION)
    quiet = noise_level(scipy.ndimage.uniform_filter1d(env.power, w), k)
    noise = float(floor.sum()) if mask.mean() < 0.5 else quiet
    row = round(s.row_s * source.sample_rate_hz)
    spans = bursts(env, noise, window=max(16, nfft // 8), pfa=pfa, gap=row)
    if quiet < noise and sum(b - a for a, b in spans) > 0.9 * source.num_samples:
        spans = bursts(env, quiet, window=max(16, nfft // 8), pfa=pfa, gap=row)
    spectral = [_edges(d, spans, env, s) for d in spectral]
    pulsed = _burst_detections(source, env, s, spans, floor, nfft=nfft, pfa=pfa,
                               min_snr_db=min_snr_db)  # fmt: skip
    rep = repetition(env, pfa=pfa)
    if rep is not None and rep.duty <= MAX_DUTY:
        if pulsed:  # bursts seen one by one: the period is theirs when they are shorter
            pulsed = [
                replace(d, repetition_s=rep.period_s) if d.stop_s - d.start_s < rep.period_s else d
                for d in pulsed
            ]
        else:
            pulsed = _periodic_detection(source, env, rep, min_snr_db=min_snr_db)
    return _merge(spectral, pulsed, s.row_s)


MAX_DUTY = 0.5
"""A folded envelope whose mean is over half its peak is modulation, not pulses."""


def _merge(spectral: list[Detection], pulsed: list[Detection], row_s: float) -> list[Detection]:
    """All detections, less spectral ones that a time-domain detection explains: half their
    band inside its band and their time span inside its span (± one spectrogram row)."""
    keep = []
    for d in spectral:
        same = [
            p
            for p in pulsed
            if _overlap(d, p) >= 0.5
            and p.start_s - row_s <= d.start_s
            and d.stop_s <= p.stop_s + row_s
        ]
        if not same:
            keep.append(d)
    if pulsed:
        # several bursts of one emitter: a spectral detection spanning them all is explained
        spans = [(p.start_s, p.stop_s) for p in pulsed]
        t0, t1 = min(a for a, _ in spans), max(b for _, b in spans)
        keep = [
            d
            for d in keep
            if not (
                any(_overlap(d, p) >= 0.5 for p in pulsed)
                and t0 - row_s <= d.start_s
                and d.stop_s <= t1 + row_s
            )
        ]
    return sorted(keep + pulsed, key=lambda d: (d.start_s, d.freq_hz))


def _overlap(d: Detection, p: Detection) -> float:
    """Fraction of the narrower band inside the other (a line measured 60 or 120 Hz wide is one
    line)."""
    lo = max(d.freq_hz - d.bandwidth_hz / 2, p.freq_hz - p.bandwidth_hz / 2)
    hi = min(d.freq_hz + d.bandwidth_hz / 2, p.freq_hz + p.bandwidth_hz / 2)
    return max(0.0, hi - lo) / max(min(d.bandwidth_hz, p.bandwidth_hz), 1e-9)


def _read(source, start: int, count: int) -> np.ndarray:
    if isinstance(source, IqBlock):
        return source.samples[..., start : start + count]
    return source.read(start, count).samples


def _mean_periodogram(x: np.ndarray, nfft: int) -> tuple[np.ndarray, int]:
    """(mean Hann periodogram, segments averaged) of (channels, n) samples; n ≥ nfft."""
    hop = nfft // 2
    m = (x.shape[-1] - nfft) // hop + 1
    return _periodograms(x, nfft), m


def _bands(on_psd, off_psd, k: int, pfa: float) -> list[tuple[int, int]]:
    """[lo, hi) bin spans where on_psd exceeds off_psd beyond noise (k averaged segments), each
    narrowed to the 99 % of its excess power."""
    mask = on_psd > off_psd * threshold_factor(k, pfa)
    out = []
    nb = len(on_psd)
    for lo, hi in _runs(mask, max(2, nb // 16)):  # a pulse spectrum has nulls: bridge them
        pad = max(2, (hi - lo) // 4)
        a, b = max(0, lo - pad), min(nb, hi + pad)
        olo, ohi = occupied_band(np.clip(on_psd[a:b] - off_psd[a:b], 0, None))
        out.append((a + olo, a + ohi))
    return out


def _pulse_detection(
    source, env: Envelope, on, off, k: int, nfft: int, span: tuple[int, int], pfa: float,
    min_snr_db: float, duty_on: float, repetition_s: float | None, modulation: str | None,
) -> list[Detection]:  # fmt: skip
    """Detections from on- and off-spectra (per channel, bins sum to power) over a span."""
    fs = source.sample_rate_hz
    f = np.fft.fftshift(np.fft.fftfreq(nfft, 1 / fs))
    df = fs / nfft
    out = []
    for lo, hi in _bands(on, off, k, pfa):
        sig = float(np.clip(on[lo:hi] - off[lo:hi], 0, None).sum())
        noise = float(off[lo:hi].sum())
        if sig <= 0 or noise <= 0 or 10 * np.log10(sig / noise) < min_snr_db:
            continue
        f_lo, f_hi = f[lo] - df / 2, f[hi - 1] + df / 2
        t0, u0 = env.time_at(span[0])
        t1, u1 = env.time_at(span[1])
        out.append(
            Detection(
                freq_hz=float(source.center_freq_hz + (f_lo + f_hi) / 2),
                bandwidth_hz=float(f_hi - f_lo),
                snr_db=band_snr_db(sig * duty_on, noise),
                power_dbfs=float(10 * np.log10(sig * duty_on)),
                start_s=t0,
                stop_s=t1,
                modulation=modulation or "",
                repetition_s=repetition_s,
                start_utc_ns=u0,
                stop_utc_ns=u1,
            )
        )
    return out


def _burst_detections(
    source, env: Envelope, s: Spectrogram, spans: list[tuple[int, int]], floor: np.ndarray,
    *, nfft: int, pfa: float, min_snr_db: float, budget: int = 1 << 20,
) -> list[Detection]:  # fmt: skip
    """Bursts of energy above the noise: one detection per group of bursts (closer than a
    spectrogram row) and per band their spectrum (bursts only) exceeds the quiet spectrum.
    A recording on the air more than 90 % of the time is left to the spectral detector."""
    n = source.num_samples
    if not spans or sum(b - a for a, b in spans) > 0.9 * n:
        return []
    nb = max(MIN_NFFT, min(nfft, 1 << int(np.log2(max(1, np.median([b - a for a, b in spans]))))))
    quiet, total, prev = np.zeros(nb), 0, 0
    for a, b in [*spans, (n, n)]:
        i = prev
        while i + nb <= a and total < budget:
            c = min(a - i, budget - total)
            if c >= nb:
                p, m = _mean_periodogram(_read(source, i, c), nb)
                quiet += p * m
                total += m * nb // 2
            i += c
        prev = b
    if total >= 8 * nb:
        quiet /= total / (nb // 2)
        k_off = total // (nb // 2)
    else:  # too little quiet time: the spectral floor, per bin of the burst FFT
        fine = np.interp(np.arange(nb) * len(floor) / nb, np.arange(len(floor)), floor)
        quiet, k_off = fine * len(floor) / nb, len(s.times_s) * s.averages
    out = []
    for a, b in spans:
        c = min(b - a, budget)
        if c < nb:
            a, c = max(0, min(a, n - nb)), nb
        p, m = _mean_periodogram(_read(source, a, c), nb)
        for d in _pulse_detection(source, env, p, quiet, min(m, k_off), nb, (a, b), pfa,
                                  min_snr_db, 1.0, None, None):  # fmt: skip
            blk = _block(source, a, c)
            out.append(_classify(blk, d))
    return out


def _edges(d: Detection, spans: list[tuple[int, int]], env: Envelope, s: Spectrogram) -> Detection:
    """A spectral detection's start/stop at the energy detector's resolution (its window,
    nfft/8 samples): a burst edge within one spectrogram row of the detection's edge is the
    same edge seen finer (the last row's end may also reach on to the recording's end)."""
    if not spans:
        return d
    end = float(s.times_s[-1]) + s.row_s
    starts = [env.time_at(a) for a, _ in spans]
    stops = [env.time_at(b) for _, b in spans]
    near = [t for t in starts if abs(t[0] - d.start_s) <= s.row_s]
    if near:
        t0, u0 = min(near, key=lambda t: abs(t[0] - d.start_s))
        d = replace(d, start_s=float(t0), start_utc_ns=u0)
    last = d.stop_s >= end - 1e-9
    near = [t for t in stops if abs(t[0] - d.stop_s) <= s.row_s or (last and t[0] > d.stop_s)]
    if near:
        t1, u1 = min(near, key=lambda t: abs(t[0] - d.stop_s))
        if t1 > d.start_s:
            d = replace(d, stop_s=float(t1), stop_utc_ns=u1)
    return d


def _periodic_detection(
    source, env: Envelope, rep: Repetition, *, min_snr_db: float, budget: int = 1 << 20,
    seg: int = 32, pfa: float = 1e-6,
) -> list[Detection]:  # fmt: skip
    """A pulse train found by its repetition: on-pulse (folded envelope well above its median)
    against off-pulse spectra in segments of `seg` samples."""
    prof = fold(env, rep.period_s)
    med = float(np.median(prof))
    spread = 1.4826 * float(np.median(np.abs(prof - med)))
    on_bins = prof > med + 6 * max(spread, 1e-12 * med)
    # the train's presence is the repetition test (at pfa); its strength the folded peak over
    # the fold's median (the noise where the duty is low): under min_snr_db it is not reported
    if not on_bins.any() or band_snr_db(float(prof.max()) - med, med) < min_snr_db:
        return []
    n = min(source.num_samples, budget) // seg * seg
    x = _read(source, 0, n)
    fs = source.sample_rate_hz
    # a segment is on when any of its samples falls in an on phase, off when none within a
    # segment of it does (pulses shorter than a segment are still caught)
    t = np.arange(n) / fs
    ph = ((t / rep.period_s) % 1.0 * len(prof)).astype(int) % len(prof)
    hit = on_bins[ph].reshape(-1, seg).any(axis=1)
    is_on = hit
    near = scipy.ndimage.binary_dilation(hit, np.ones(3, bool))
    win = np.hanning(seg)
    win = win / np.sqrt((win**2).sum() * seg)
    segs = x.reshape(x.shape[0], -1, seg) * win
    pw = (np.abs(np.fft.fftshift(np.fft.fft(segs, axis=-1), axes=-1)) ** 2).mean(axis=0)
    if is_on.sum() < 4 or (~near).sum() < 4:
        return []
    on, off = pw[is_on].mean(axis=0), pw[~near].mean(axis=0)
    dets = _pulse_detection(source, env, on, off, int(is_on.sum()), seg,
                            (0, source.num_samples), pfa, -np.inf,
                            float(is_on.mean()), rep.period_s, "pulsed")  # fmt: skip
    return [replace(d, snr_db=d.snr_db) for d in dets]


def band_snr_db(signal_power: float, noise_power: float) -> float:
    """SNR in a band, dB: the signal's power in the band (on-air minus off-air power) over the
    noise power in the same band, what a power meter on vs off the air measures. Use it with
    `snr_for_bandwidth` to restate an SNR for another bandwidth holding the same signal."""
    return float(10 * np.log10(max(signal_power, 1e-300) / max(noise_power, 1e-300)))


def snr_for_bandwidth(d: Detection, bandwidth_hz: float) -> float:
    """The detection's SNR restated in `bandwidth_hz` (the same signal power over noise in the
    new band; valid while the band holds the signal's occupied band)."""
    return float(d.snr_db + 10 * np.log10(d.bandwidth_hz / bandwidth_hz))


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


def _block(source, start: int, count: int) -> IqBlock:
    """Samples [start, start+count) of an IqBlock or a recording, as an IqBlock."""
    if isinstance(source, IqBlock):
        fs = source.sample_rate_hz
        return IqBlock(source.samples[..., start : start + count], fs, source.center_freq_hz,
                       source.start_s + start / fs)  # fmt: skip
    return source.read(start, count)


def _refine(source, s: Spectrogram, d: Detection, max_samples: int = 1 << 17) -> Detection:
    """Re-measure a spectral detection at fine resolution on its first burst: occupied band,
    carrier line, class."""
    fs = source.sample_rate_hz
    row = round(s.row_s * fs)
    r0 = max(0, int(np.searchsorted(s.times_s, d.start_s + 1e-9, side="right")) - 1)
    r1 = max(r0 + 1, int(np.searchsorted(s.times_s, d.stop_s - 1e-9, side="left")))
    idx = s.index if s.index is not None else np.arange(len(s.times_s)) * row
    i0, i1 = int(idx[r0]), min(source.num_samples, int(idx[r1 - 1]) + row)
    i0 = max(i0, (i0 + i1 - max_samples) // 2)
    i1 = min(i1, i0 + max_samples)
    blk = _block(source, i0, i1 - i0)
    if blk.num_samples < 256:
        return replace(d, modulation="cw" if d.bandwidth_hz <= 4 * fs / 1024 else "unknown")
    return _classify(blk, d)


def _classify(blk: IqBlock, d: Detection) -> Detection:
    """Fine band, carrier (a line near the band's centre) and class of a detection."""
    feats, centre, bw = features(blk, d.freq_hz, d.bandwidth_hz, d.snr_db)
    if bw < d.bandwidth_hz:
        d = replace(d, freq_hz=float(centre), bandwidth_hz=float(bw),
                    snr_db=snr_for_bandwidth(d, bw))  # fmt: skip
    off = d.freq_hz - blk.center_freq_hz
    half = d.bandwidth_hz / 2
    line = carrier_line(blk.samples[0], blk.sample_rate_hz, (off - half, off + half))
    if line is not None and abs(line.offset_hz - off) <= half / 2 + 2 * blk.sample_rate_hz / (
        blk.num_samples
    ):
        d = replace(d, freq_hz=float(blk.center_freq_hz + line.offset_hz))
    if d.modulation:
        return d
    return replace(d, modulation=classify(feats) if d.snr_db >= MIN_CLASS_SNR_DB else "unknown")


MIN_CLASS_SNR_DB = 10.0
"""Below this in-band SNR the envelope spread and line fraction are noise-dominated: the class
is `unknown` rather than a guess."""
