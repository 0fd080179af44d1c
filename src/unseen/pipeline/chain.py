"""The station chain: what one DF site does with its recording, for the hunt and the agent alike.

    scan the band → carriers checked against the registry → calibrate the array on a licensed
    transmitter of known position → channelize the target → DOA in each frame the target is
    detected on the air → bearings with their time and the station's common error σ_sys

`unseen hunt` runs one chain per station (with a target common to all) and fuses;
`unseen station` runs one and posts its bearings. Each step is a function of a stage package
(`detect.merge`, `doa.known_source`, `channelize`, `doa.estimate`); this module only wires them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from unseen.detect.merge import FrameScan, merge, pick_target, scan_frames
from unseen.doa.calibrate import Calibration
from unseen.doa.known_source import (
    CalFrame,
    KnownSource,
    KnownSourceCal,
    known_source_calibration,
    registry_source,
)
from unseen.locate.floors import TRUSTED_SIGMA_DEG
from unseen.pipeline.layout import Progress, StationData, no_progress
from unseen.types import Detection, IqBlock, Site


@dataclass(frozen=True)
class ChainOptions:
    """Settings of a station chain (none of them is scenario truth).

    `sigma_floor_deg`: the bearing error trusted at best (array, calibration and site errors the
    CRB does not see). `target_freq_hz`: the channel to DF instead of the strongest unlicensed
    carrier. `calibrate`: calibrate on a known transmitter when no `calibration` is given.
    """

    method: str = "music"
    sigma_floor_deg: float = TRUSTED_SIGMA_DEG
    target_freq_hz: float | None = None
    channel_bandwidth_hz: float = 200e3
    calibration_frames: int = 10
    calibrate: bool = True
    calibration: Calibration | None = None


@dataclass(frozen=True)
class FrameBearing:
    """The target's bearing in one frame: frame index, time (s, the station data's clock),
    POSIX ns when known, site, azimuth/σ (degrees), confidence; the channelized IQ for TDOA."""

    frame: int
    time_s: float
    utc_ns: int | None
    site: Site
    azimuth_deg: float
    sigma_deg: float
    confidence: float
    block: IqBlock | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class StationRun:
    """What the chain made of one station."""

    scan: FrameScan
    detections: tuple[Detection, ...]
    target: Detection | None
    bandwidth_hz: float
    calibration: Calibration | None
    calibration_source: str | None
    sigma_sys_deg: float
    on_air: tuple[bool, ...]
    bearings: tuple[FrameBearing, ...]


def scan_station(
    st: StationData, *, source: int = 0, progress: Progress = no_progress, done: int = 0,
    total: int = 0,
) -> FrameScan:  # fmt: skip
    """The band scan of every frame of `st` (one spectrogram row per frame)."""

    def frames():
        for k, fr in enumerate(st.frames):
            blk = st.read(fr)
            progress("detect", done + k + 1, total or len(st.frames))
            yield IqBlock(blk.samples, blk.sample_rate_hz, blk.center_freq_hz, fr.time_s)

    return scan_frames(frames(), [f.time_s for f in st.frames], source=source)


def station_carriers(
    st: StationData, scan: FrameScan, registry: Sequence | None
) -> list[Detection]:
    """The carriers of one station's scan, checked against the registry when one is given."""
    dets = merge(scan.found, lambda _s, k: st.read(st.frames[k]))
    if registry is not None:
        from unseen.detect.registry import match

        dets = match(dets, list(registry))
    return dets


def calibration_source(
    st: StationData, carriers: Sequence[Detection], registry: Sequence | None
) -> KnownSource | None:
    """The strongest licensed carrier this station detects whose site the registry gives, else
    the source the recording names (`unseen:calibration`)."""
    src = registry_source(carriers, registry)
    if src is not None or not st.calibration:
        return src
    c = st.calibration
    try:
        f = float(c["freq_hz"])
        return KnownSource(str(c.get("name") or f"{f / 1e6:.3f} MHz"), f,
                           float(c["lat_deg"]), float(c["lon_deg"]))  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


def calibrate_station(st: StationData, source: KnownSource, opt: ChainOptions) -> KnownSourceCal:
    """Calibrate `st` on `source` over its first `calibration_frames` frames."""
    from unseen.channelize import channelize

    bw = opt.channel_bandwidth_hz
    frames = [
        CalFrame(
            channelize(st.read(fr), source.freq_hz, bw), st.array_at(fr), fr.lat_deg, fr.lon_deg
        )
        for fr in st.frames[: opt.calibration_frames]
    ]
    return known_source_calibration(frames, source, method=opt.method)


def station_bearings(
    st: StationData,
    freq_hz: float,
    bandwidth_hz: float,
    on_air: Sequence[bool],
    calibration: Calibration | None,
    opt: ChainOptions,
    *,
    keep_blocks: bool = False,
    progress: Progress = no_progress,
    done: int = 0,
    total: int = 0,
) -> tuple[FrameBearing, ...]:
    """The target's bearing in each frame it is on the air, σ floored at `sigma_floor_deg`."""
    from unseen.channelize import channelize
    from unseen.doa import estimate

    out = []
    for i, fr in enumerate(st.frames):
        progress("bearings", done + i + 1, total or len(st.frames))
        if not on_air[i]:
            continue
        blk = channelize(st.read(fr), freq_hz, bandwidth_hz)
        est = estimate(blk, st.array_at(fr), freq_hz, opt.method, 1, calibration=calibration)
        if not est.azimuths_deg:
            continue
        out.append(
            FrameBearing(i, fr.time_s, fr.utc_ns, st.site(fr), float(est.azimuths_deg[0]),
                         max(float(est.sigma_deg[0]), opt.sigma_floor_deg),
                         float(est.confidence[0]), blk if keep_blocks else None)
        )  # fmt: skip
    return tuple(out)


def run_station(
    st: StationData,
    registry: Sequence | None,
    opt: ChainOptions,
    *,
    scan: FrameScan | None = None,
    target: Detection | None = None,
    keep_blocks: bool = False,
    progress: Progress = no_progress,
) -> StationRun:
    """The whole chain for one station. `target` (from the hunt's merged scan) overrides the
    station's own choice: the carrier at `opt.target_freq_hz`, else its strongest unlicensed one.
    A target the scan never saw (NaN SNR) is DFed in every frame."""
    scan = scan or scan_station(st, progress=progress)
    carriers = station_carriers(st, scan, registry)
    if target is None:
        target = pick_target(carriers, opt.target_freq_hz)
    cal, cal_name, sys_deg = opt.calibration, None, 0.0
    if cal is None and opt.calibrate:
        src = calibration_source(st, carriers, registry)
        if src is not None:
            kc = calibrate_station(st, src, opt)
            cal, cal_name, sys_deg = kc.calibration, src.name, kc.sigma_sys_deg
    if target is None:
        return StationRun(scan, tuple(carriers), None, opt.channel_bandwidth_hz, cal, cal_name,
                          sys_deg, (False,) * len(st.frames), ())  # fmt: skip
    bw = max(target.bandwidth_hz if target.bandwidth_hz > 0 else 0.0, opt.channel_bandwidth_hz)
    on = scan.on_air(target.freq_hz) if math.isfinite(target.snr_db) else (True,) * len(st.frames)
    bearings = station_bearings(
        st, target.freq_hz, bw, on, cal, opt, keep_blocks=keep_blocks, progress=progress
    )
    return StationRun(scan, tuple(carriers), target, bw, cal, cal_name, sys_deg, on, bearings)
