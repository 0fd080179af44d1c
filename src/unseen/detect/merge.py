"""The band scan of one receiver over its frames, and merging of detections into carriers.

    scan_frames(blocks)      one spectrogram row per frame → bursts, per-frame occupancy, PSD
    merge(found, read)       bursts of one carrier (across frames and receivers) → one Detection

A carrier is one cluster of detections whose centres lie closer than half the wider bandwidth.
Its modulation is read on up to 8 frames spread over the bursts of the receiver that saw it
strongest: one short frame of FM speech in a pause looks like a bare carrier, but a bare carrier
never shows modulation, so a modulated class read on at least a quarter of the frames wins over
cw; otherwise the majority class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from unseen.types import Detection, IqBlock

USABLE_BAND = 0.9  # fraction of the receiver band inside its anti-alias roll-off
MIN_HALF_WIDTH_HZ = 25e3  # a carrier is "at" a frequency within max(bandwidth/2, this)


@dataclass(frozen=True)
class Found:
    """One detected burst: the detection, which receiver (`source`) and which of its frames."""

    detection: Detection
    source: int
    frames: tuple[int, ...]


@dataclass(frozen=True)
class FrameScan:
    """One receiver's band scan: bursts, the carriers detected in each frame, the mean PSD."""

    found: tuple[Found, ...]
    occupancy: tuple[tuple[Detection, ...], ...]
    freqs_hz: np.ndarray
    psd_db: np.ndarray

    def on_air(self, freq_hz: float) -> tuple[bool, ...]:
        """Per frame: was a carrier detected within its half bandwidth of `freq_hz`?"""
        return tuple(any(near(d, freq_hz) for d in row) for row in self.occupancy)


def near(d: Detection, freq_hz: float) -> bool:
    """Is `freq_hz` within the carrier's half bandwidth (at least 25 kHz) of its centre?"""
    return abs(d.freq_hz - freq_hz) <= max(d.bandwidth_hz / 2, MIN_HALF_WIDTH_HZ)


def scan_frames(
    blocks: Iterable[IqBlock], times_s: Sequence[float], *, source: int = 0, nfft: int = 1024
) -> FrameScan:
    """Detect carriers in frames (one spectrogram row each, `times_s` their start times, s).

    Detections reaching into the outer (1 − 0.9)/2 of the band on either side (the receiver's
    anti-alias roll-off) are left out."""
    from unseen.detect import detect_spectrogram, spectrogram_frames

    sg = spectrogram_frames(blocks, nfft=nfft)
    times = np.asarray(times_s, dtype=float)
    rows: list[list[Detection]] = [[] for _ in times]
    half = USABLE_BAND * sg.sample_rate_hz / 2
    found = []
    for d in detect_spectrogram(sg):
        if abs(d.freq_hz - sg.center_freq_hz) + d.bandwidth_hz / 2 > half:
            continue
        idx = np.flatnonzero((times >= d.start_s - 1e-9) & (times < d.stop_s - 1e-9))
        for i in idx:
            rows[i].append(d)
        if idx.size:
            found.append(Found(d, source, tuple(int(i) for i in idx)))
    psd = 10 * np.log10(np.maximum(sg.psd(), 1e-30))
    return FrameScan(tuple(found), tuple(tuple(r) for r in rows), sg.freqs_hz, psd)


def clusters(dets: Sequence[Detection]) -> list[list[int]]:
    """Group detections of one carrier: centres closer than half the wider bandwidth."""
    order = sorted(range(len(dets)), key=lambda i: dets[i].freq_hz)
    groups: list[list[int]] = []
    for i in order:
        if groups:
            j = groups[-1][-1]
            if (
                dets[i].freq_hz - dets[j].freq_hz
                <= max(dets[i].bandwidth_hz, dets[j].bandwidth_hz) / 2
            ):
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups


def merge(
    found: Sequence[Found], read: Callable[[int, int], IqBlock], *, max_frames: int = 8
) -> list[Detection]:
    """One Detection per carrier, sorted by frequency; `read(source, frame)` gives a frame's IQ.

    The centre is the strongest receiver's scan measurement over all its frames (a short frame
    of FM sees the instantaneous deviation, not the carrier); the bandwidth the larger of the
    medians of the per-frame and per-receiver measurements; SNR and power the maxima;
    start/stop the span of all bursts."""
    from unseen.detect import classify, features

    out = []
    for group in clusters([f.detection for f in found]):
        ds = [found[i].detection for i in group]
        best = max((found[i] for i in group), key=lambda f: f.detection.snr_db)
        d0 = best.detection
        on = np.unique([k for i in group if found[i].source == best.source
                        for k in found[i].frames])  # fmt: skip
        pick = on[np.unique(np.linspace(0, on.size - 1, min(max_frames, on.size)).astype(int))]
        kinds, bws = [], []
        for k in pick:
            feats, _, bw = features(read(best.source, int(k)), d0.freq_hz, d0.bandwidth_hz)
            kinds.append(classify(feats))
            bws.append(bw)
        out.append(
            Detection(
                freq_hz=d0.freq_hz,
                bandwidth_hz=float(max(np.median(bws), np.median([d.bandwidth_hz for d in ds]))),
                snr_db=max(d.snr_db for d in ds),
                power_dbfs=max(d.power_dbfs for d in ds),
                start_s=min(d.start_s for d in ds),
                stop_s=max(d.stop_s for d in ds),
                modulation=_modulation(kinds),
            )
        )
    return sorted(out, key=lambda d: d.freq_hz)


def _modulation(kinds: list[str]) -> str:
    """The carrier's class from its frames' (see the module docstring)."""
    mod = [k for k in kinds if k not in ("cw", "unknown")]
    if mod and 4 * max(mod.count(k) for k in mod) >= len(kinds):
        return max(dict.fromkeys(mod), key=mod.count)
    return max(dict.fromkeys(kinds), key=kinds.count)


def pick_target(detections: Sequence[Detection], freq_hz: float | None = None) -> Detection | None:
    """The carrier to hunt: the strongest at `freq_hz` (a placeholder with NaN SNR when none was
    detected there), else the strongest the registry does not license."""
    import math

    if freq_hz is not None:
        at = [d for d in detections if near(d, freq_hz)]
        if at:
            return max(at, key=lambda d: d.snr_db)
        return Detection(freq_hz, 0.0, math.nan, math.nan, 0.0, 0.0, "unknown", None, None)
    bad = [d for d in detections if d.licensed is False]
    return max(bad, key=lambda d: d.snr_db) if bad else None
