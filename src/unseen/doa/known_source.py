"""Array calibration on a transmitter of known position (a licensed broadcaster, a beacon).

    known_source_calibration(frames, freq_hz)  →  KnownSourceCal(calibration, sigma_sys_deg)

Each frame k gives G_k from the principal eigenvector at the known azimuth (the geodesic from
the array's position in that frame to the source); G = mean_k G_k, normalised to channel 0.
The source's bearings through G then scatter by the per-frame pose errors (RMS σ_h); their mean,
which G absorbs, is left uncertain by σ_h/√K: a rotation common to every later bearing of the
array, returned as `sigma_sys_deg`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unseen.doa.array import Array
from unseen.doa.calibrate import Calibration
from unseen.errors import InputError
from unseen.types import IqBlock


@dataclass(frozen=True)
class KnownSource:
    """A transmitter at a known place (WGS84 degrees) on `freq_hz`."""

    name: str
    freq_hz: float
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class CalFrame:
    """One frame for calibration: the IQ (channelized to the source), the array as oriented
    then, and where it stood (WGS84 degrees)."""

    block: IqBlock
    array: Array
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class KnownSourceCal:
    """The calibration and the bearing error it leaves common to every bearing (degrees)."""

    calibration: Calibration
    sigma_sys_deg: float
    source: KnownSource
    num_frames: int


def known_source_calibration(
    frames: Sequence[CalFrame], source: KnownSource, *, method: str = "music"
) -> KnownSourceCal:
    """Calibrate on `source` over `frames` (see the module docstring for the maths)."""
    from unseen import geo
    from unseen.doa import calibrate, covariance, estimate

    if not frames:
        raise InputError(f"calibration on {source.name}: no frames")
    f = float(source.freq_hz)
    gains, known = [], []
    n = 0
    for fr in frames:
        az = float(geo.azimuth(fr.lat_deg, fr.lon_deg, source.lat_deg, source.lon_deg))
        c = calibrate(
            covariance(fr.block.samples), fr.block.num_samples, array=fr.array,
            azimuth_deg=az, freq_hz=f,
        )  # fmt: skip
        gains.append(c.response)
        known.append(az)
        n += fr.block.num_samples
    g = np.mean(gains, axis=0)
    g = g / g[0]
    cal = Calibration(
        tuple(float(x) for x in 20 * np.log10(np.abs(g))),
        tuple(float(x) for x in np.degrees(np.angle(g))),
        "known-source",
        None,
        f,
        n,
    )
    res = []
    if len(frames) >= 2:
        for fr, az in zip(frames, known, strict=True):
            est = estimate(fr.block, fr.array, f, method, 1, calibration=cal)
            if est.azimuths_deg:
                res.append(float(geo.wrap180(est.azimuths_deg[0] - az)))
    sys_deg = 0.0
    if len(res) >= 2:
        sigma_h = math.sqrt(float(np.sum(np.square(res))) / (len(res) - 1))
        sys_deg = sigma_h / math.sqrt(len(res))
    return KnownSourceCal(cal, sys_deg, source, len(frames))


def registry_source(detections: Sequence, registry: Sequence | None) -> KnownSource | None:
    """The strongest detected licensed carrier whose registry assignment gives the site."""
    best = None
    for d in detections:
        if not d.licensed:
            continue
        for a in registry or []:
            if (
                a.lat_deg is not None
                and a.lon_deg is not None
                and a.lo_hz <= d.freq_hz <= a.hi_hz
                and (best is None or d.snr_db > best[0])
            ):
                best = (d.snr_db, a)
    if best is None:
        return None
    a = best[1]
    return KnownSource(a.name, float(a.freq_hz), float(a.lat_deg), float(a.lon_deg))
