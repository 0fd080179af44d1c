"""Bearings of one station that share an error, made into the observations a fix should fuse.

A station's bearings share its calibration error (σ_sys, degrees: a rotation common to all of
them) and, while it stands still, the same site errors; they are not independent. So:

- a station that stands still (every bearing within `still_m` of the first) gives one bearing
  per on-air window (consecutive bearings closer than 1.5 × its median spacing): their circular
  mean, with σ = max(median σ_i, circular spread);
- a moving station keeps every bearing (each from its own position);

and each bearing of a station with n of them so far gets σ² + n·σ_sys², so that their weighted
mean has variance σ²/n + σ_sys², not σ²/n. The hunt and the server both fuse through this, so
the same observations give the same fix whichever path they came by.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from unseen.types import Bearing

GAP = 1.5  # a window ends where the spacing exceeds this many median spacings
STILL_M = 1.0


def circmean_deg(a: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Circular mean and circular standard deviation of angles in degrees."""
    z = np.exp(1j * np.radians(np.asarray(a, dtype=float))).mean()
    r = min(abs(z), 1.0)
    std = math.degrees(math.sqrt(max(-2 * math.log(r), 0.0))) if r > 0 else 180.0
    return float(np.degrees(np.angle(z)) % 360.0), std


def windows(times_s: Sequence[float], gap_s: float) -> list[list[int]]:
    """Split indices of sorted times into runs whose consecutive times are ≤ gap_s apart."""
    out: list[list[int]] = []
    for i, t in enumerate(times_s):
        if out and t - times_s[out[-1][-1]] <= gap_s:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _still(bs: Sequence[Bearing], still_m: float) -> bool:
    from unseen import geo

    s0 = bs[0].site
    return all(
        float(geo.distance(s0.lat_deg, s0.lon_deg, b.site.lat_deg, b.site.lon_deg)) <= still_m
        for b in bs[1:]
    )


def aggregate_bearings(
    bearings: Sequence[Bearing],
    sigma_sys_deg: Sequence[float] | None = None,
    *,
    still_m: float = STILL_M,
) -> list[Bearing]:
    """The observations to fuse from per-frame `bearings` (σ_sys per bearing, default 0);
    stations in order of first appearance, see the module docstring."""
    sys = list(sigma_sys_deg) if sigma_sys_deg is not None else [0.0] * len(bearings)
    if len(sys) != len(bearings):
        raise ValueError("sigma_sys_deg: one value per bearing")
    by: dict[str, list[int]] = {}
    for i, b in enumerate(bearings):
        by.setdefault(b.site.station, []).append(i)
    out: list[Bearing] = []
    for idx in by.values():
        idx = sorted(idx, key=lambda i: bearings[i].time_s)
        bs = [bearings[i] for i in idx]
        bias2 = max(sys[i] for i in idx) ** 2
        if not _still(bs, still_m):
            out.extend(
                Bearing(b.site, b.azimuth_deg, math.sqrt(b.sigma_deg**2 + len(bs) * bias2),
                        b.time_s, b.freq_hz, b.magnetic)
                for b in bs
            )  # fmt: skip
            continue
        times = [b.time_s for b in bs]
        gap = GAP * float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        runs = windows(times, gap)
        for run in runs:
            mean, spread = circmean_deg([bs[i].azimuth_deg for i in run])
            sigma = max(float(np.median([bs[i].sigma_deg for i in run])), spread)
            last = bs[run[-1]]
            out.append(
                Bearing(last.site, mean, math.sqrt(sigma**2 + len(runs) * bias2), last.time_s,
                        last.freq_hz, last.magnetic)
            )  # fmt: skip
    return out
