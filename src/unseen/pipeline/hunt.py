"""The hunt pipeline: a directory of station recordings in, a located transmitter out.

    hunt_dir(DIR)   scan every station, merge the carriers, flag the unlicensed target → one
                    station chain per station (`unseen.pipeline.chain`: calibrate, gated DOA)
                    (+ TDOA when synchronised) → robust fix, refined as observations accumulate
                    → HuntResult

The directory layout and `simulate_dir`, which writes a scenario in it, are in
`unseen.pipeline.layout`. `hunt_dir` never sees the scenario.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unseen.channelize import channelize
from unseen.detect.merge import merge, pick_target
from unseen.errors import FileFormatError, GeometryError, InputError, UnseenError
from unseen.locate.coverage import inside_ellipse
from unseen.locate.floors import TRUSTED_SIGMA_DEG
from unseen.pipeline.chain import ChainOptions, StationRun, run_station, scan_station
from unseen.pipeline.layout import (
    MAP_JSON,
    REGISTRY_CSV,
    Progress,
    StationData,
    load_dir,
    no_progress,
)
from unseen.report.model import (
    DoaSpectrum,
    Heatmap,
    HuntResult,
    Spectrum,
    StationTrack,
    Truth,
)
from unseen.types import Bearing, Detection, Fix, Tdoa

__all__ = ["GROUP", "HuntOptions", "hunt_dir", "inside_ellipse", "observations", "truth_of"]

GROUP = "hunt"  # the `unseen locate` group of every fix and observation of a hunt


@dataclass(frozen=True)
class HuntOptions:
    """Settings of the hunt pipeline (none of them is scenario truth).

    `sigma_floor_deg` is the bearing error the operator trusts at best (array, calibration and
    site errors the CRB does not see); `target_freq_hz` skips automatic target selection.
    """

    method: str = "music"
    sigma_floor_deg: float = TRUSTED_SIGMA_DEG
    tdoa_sigma_floor_s: float = 100e-9
    target_freq_hz: float | None = None
    channel_bandwidth_hz: float = 200e3
    frame_samples: int = 8192
    heatmap_cells: int = 160
    max_fixes: int = 80
    min_observations: int = 5
    calibration_frames: int = 10
    tdoa: bool = True

    def chain(self) -> ChainOptions:
        """The options of each station's chain."""
        return ChainOptions(
            method=self.method,
            sigma_floor_deg=self.sigma_floor_deg,
            target_freq_hz=self.target_freq_hz,
            channel_bandwidth_hz=self.channel_bandwidth_hz,
            calibration_frames=self.calibration_frames,
        )


def hunt_dir(
    path: str | Path,
    options: HuntOptions | None = None,
    *,
    progress: Progress = no_progress,
    truth: Truth | None = None,
    title: str | None = None,
) -> HuntResult:
    """Run the whole hunt on a directory of recordings (layout: `unseen.pipeline.layout`)."""
    from unseen.doa import pseudo_spectrum

    opt = options or HuntOptions()
    copt = opt.chain()
    timings: dict[str, float] = {}
    tic = time.perf_counter()
    d = Path(path)
    stations = load_dir(d, frame_samples=opt.frame_samples)
    registry = None
    if (d / REGISTRY_CSV).is_file():
        from unseen.detect.registry import load_registry

        registry = load_registry(d / REGISTRY_CSV)
    timings["open"] = time.perf_counter() - tic

    # Scan the band at every station, merge the carriers, check them against the registry.
    tic = time.perf_counter()
    total = sum(len(st.frames) for st in stations)
    scans, done = [], 0
    for k, st in enumerate(stations):
        scans.append(scan_station(st, source=k, progress=progress, done=done, total=total))
        done += len(st.frames)
    detections = merge(
        [f for s in scans for f in s.found],
        lambda s, k: stations[s].read(stations[s].frames[k]),
    )
    if registry is not None:
        from unseen.detect.registry import match

        detections = match(detections, registry)
    timings["detect"] = time.perf_counter() - tic
    target = pick_target(detections, opt.target_freq_hz)
    if target is None:
        found = ", ".join(f"{x.freq_hz / 1e6:.4f}" for x in detections) or "none"
        if registry is None:
            raise InputError(
                f"{d}: no licence registry ({REGISTRY_CSV} is missing), so no carrier can be "
                f"flagged unlicensed; detected carriers (MHz): {found}. Add {d / REGISTRY_CSV} "
                "(columns freq_hz,bandwidth_hz,name[,lat_deg,lon_deg,erp_w]) or give the "
                "carrier to hunt with --target-freq-hz"
            )
        raise InputError(
            f"{d}: no unlicensed carrier found among {len(detections)} detection(s) "
            f"(MHz: {found}); give the target frequency (--target-freq-hz) to hunt a known one"
        )

    # Each station's chain: calibrate on a known transmitter, bearings while the target is on.
    tic = time.perf_counter()
    runs: dict[str, StationRun] = {}
    done = 0
    for st, sc in zip(stations, scans, strict=True):
        runs[st.id] = run_station(
            st, registry, copt, scan=sc, target=target,
            keep_blocks=opt.tdoa and st.gnss_sync and not st.mobile,
            progress=_offset_progress(progress, done, total),
        )  # fmt: skip
        done += len(st.frames)
    timings["bearings"] = time.perf_counter() - tic
    bw = next(iter(runs.values())).bandwidth_hz

    # TDOA between synchronised fixed stations on common frames.
    tic = time.perf_counter()
    tdoas: list[Tdoa] = []
    if opt.tdoa:
        tdoas = _tdoas(stations, runs, target.freq_hz, bw, opt.tdoa_sigma_floor_s)
    timings["tdoa"] = time.perf_counter() - tic

    # Fixes as observations accumulate.
    tic = time.perf_counter()
    fixes, naive_fixes, first_obs, final_obs = _fix_sequence(stations, runs, tdoas, opt, progress)
    timings["locate"] = time.perf_counter() - tic
    if not fixes:
        raise GeometryError(f"{d}: no fix: the bearings never crossed at a unique point")
    final = fixes[-1]
    bearings = [o for o in final_obs if isinstance(o, Bearing)]
    rejected = _reasons(final, final_obs)

    # The map's likelihood heatmap and the per-station DOA spectra.
    tic = time.perf_counter()
    from unseen.locate.grid import likelihood_grid

    # The likelihood heatmaps of the final fix and of the first (the bay stage, before the
    # mobile station narrows it down), each without the observations its robust fit rejected.
    first = fixes[0]

    def heatmap(fx: Fix, obs: list, half_m: float) -> tuple[Heatmap, int]:
        left_out = {id(o) for o in _rejected_obs(fx, obs)}
        used = [o for o in obs if id(o) not in left_out]
        dlat = half_m / 111_200
        dlon = half_m / (111_200 * math.cos(math.radians(fx.lat_deg)))
        glat = np.linspace(fx.lat_deg - dlat, fx.lat_deg + dlat, opt.heatmap_cells)
        glon = np.linspace(fx.lon_deg - dlon, fx.lon_deg + dlon, opt.heatmap_cells)
        ll = likelihood_grid(used, glat, glon)
        return Heatmap(glat, glon, np.exp(ll - ll.max())), len(used)

    heat_first, n_first = heatmap(
        first, first_obs, float(np.clip(3 * first.ellipse95.semi_major_m, 250.0, 3000.0))
    )
    heat, n_final = heatmap(final, final_obs, max(2.5 * final.ellipse95.semi_major_m, 10.0))
    spectra = []
    for st in stations:
        run = runs[st.id]
        if not run.bearings:
            continue
        b = run.bearings[len(run.bearings) // 2 if st.mobile else 0]
        fr = st.frames[b.frame]
        blk = channelize(st.read(fr), target.freq_hz, bw)
        grid, p = pseudo_spectrum(
            blk, st.array_at(fr), target.freq_hz, opt.method, 1, calibration=run.calibration
        )
        spectra.append(DoaSpectrum(st.id, fr.time_s, grid, p, b.azimuth_deg))
    timings["report-data"] = time.perf_counter() - tic

    tracks = tuple(
        StationTrack(
            st.id,
            st.name,
            st.mobile,
            tuple(f.time_s for f in st.frames),
            tuple(f.lat_deg for f in st.frames),
            tuple(f.lon_deg for f in st.frames),
            tuple(f.heading_deg for f in st.frames),
            _equipment(st),
        )
        for st in stations
    )
    lats = [f.lat_deg for st in stations for f in st.frames] + [final.lat_deg]
    lons = [f.lon_deg for st in stations for f in st.frames] + [final.lon_deg]
    pad_lat, pad_lon = 0.1 * (max(lats) - min(lats)) + 0.002, 0.1 * (max(lons) - min(lons)) + 0.003
    area = (min(lats) - pad_lat, min(lons) - pad_lon, max(lats) + pad_lat, max(lons) + pad_lon)
    backdrop = _backdrop(d / MAP_JSON)
    notes = [
        f"{st.name}: array calibrated at start-up on {runs[st.id].calibration_source}."
        for st in stations
        if runs[st.id].calibration_source
    ]
    notes.append(
        f"Heatmap: likelihood of the transmitter position given the {n_final} observations "
        f"of the final fix (t = {final.time_s:.0f} s), rejected ones left out; the first fix's "
        f"(t = {first.time_s:.0f} s, {n_first} observations) is a layer in the map's menu."
    )
    t0_utc = next(
        (fr.utc_ns / 1e9 - fr.time_s for st in stations for fr in st.frames if fr.utc_ns), None
    )
    s0 = scans[0]
    return HuntResult(
        title=title or backdrop.get("title") or f"unseen hunt: {d.name}",
        area=backdrop.get("area", area),
        outlines=backdrop.get("outlines", ()),
        stations=tracks,
        detections=tuple(detections),
        target=target,
        spectrum=Spectrum(stations[0].id, s0.freqs_hz, s0.psd_db),
        bearings=tuple(sorted(bearings, key=lambda b: b.time_s)),
        tdoas=tuple(o for o in final_obs if isinstance(o, Tdoa)),
        fixes=tuple(fixes),
        naive_fix=naive_fixes[-1],
        naive_fixes=tuple(naive_fixes),
        rejected=rejected,
        doa_spectra=tuple(spectra),
        heatmap=heat,
        heatmap_first=heat_first,
        t0_utc_s=t0_utc,
        truth=truth,
        timings_s=timings,
        notes=tuple(notes),
        frame_bearings=_frame_bearings(runs, target.freq_hz),
    )


def _equipment(st: StationData) -> str:
    """The station's array (kind, elements, aperture) and how it is held, in words."""
    pos = np.asarray(st.array.elements_m, dtype=float)
    aperture = float(np.max(np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)))
    how = "vehicle, turns with heading" if st.mobile else "fixed"
    sync = ", GNSS-synchronised" if st.gnss_sync else ""
    return f"{st.array.kind} array, {len(pos)} elements, {aperture:.2f} m aperture ({how}{sync})"


def _offset_progress(progress: Progress, done: int, total: int) -> Progress:
    return lambda stage, k, _n: progress(stage, done + k, total)


def _frame_bearings(runs: dict[str, StationRun], freq_hz: float) -> tuple:
    """Every station's bearing of every frame (not averaged), in time order: for tracking."""
    out = [
        Bearing(b.site, b.azimuth_deg, b.sigma_deg, b.time_s, freq_hz)
        for run in runs.values()
        for b in run.bearings
    ]
    return tuple(sorted(out, key=lambda b: b.time_s))


def _fix_sequence(
    stations: list[StationData],
    runs: dict[str, StationRun],
    tdoas: list[Tdoa],
    opt: HuntOptions,
    progress: Progress,
) -> tuple[list[Fix], list[Fix | None], list, list]:
    """Robust (and, for comparison, naive) fixes at each epoch as observations accumulate,
    warm-started from the previous fix; also the observations of the first and last fix."""
    from dataclasses import replace

    from unseen.locate import solve

    interval = min(
        (
            np.median(np.diff([f.time_s for f in st.frames]))
            for st in stations
            if len(st.frames) > 1
        ),
        default=1.0,
    )
    epochs = []
    for t in sorted(b.time_s for r in runs.values() for b in r.bearings):
        if epochs and t - epochs[-1] < 0.5 * interval:
            epochs[-1] = t
        else:
            epochs.append(t)
    if len(epochs) > opt.max_fixes:
        pick = np.unique(np.round(np.linspace(0, len(epochs) - 1, opt.max_fixes)).astype(int))
        epochs = [epochs[i] for i in pick]
    fixes: list[Fix] = []
    naive_fixes: list[Fix] = []
    final_obs: list = []
    first_obs: list = []
    prev = None
    for k, t in enumerate(epochs):
        obs = observations(runs, tdoas, t + 1e-6)
        progress("locate", k + 1, len(epochs))
        if len({o.site.station for o in obs}) < 2 or len(obs) < opt.min_observations:
            continue
        try:
            fx = solve(obs, robust=True, initial=prev)
        except (GeometryError, UnseenError):
            continue
        fx = replace(fx, time_s=float(t), group=GROUP)
        try:
            naive: Fix | None = replace(
                solve(obs, robust=False, initial=prev), time_s=float(t), group=GROUP
            )
        except UnseenError:
            naive = None  # without rejection the observations admit no consistent fix
        naive_fixes.append(naive)
        fixes.append(fx)
        if len(fixes) == 1:
            first_obs = obs
        prev = (fx.lat_deg, fx.lon_deg)
        final_obs = obs
    return fixes, naive_fixes, first_obs, final_obs


def observations(runs: dict[str, StationRun], tdoas: list[Tdoa], t: float) -> list:
    """Observations known at time `t`: each station's bearings so far made into what a fix
    should fuse (`unseen.locate.aggregate`: shared calibration error), then the TDOAs so far."""
    from unseen.locate.aggregate import aggregate_bearings

    bs, sys = [], []
    for r in runs.values():
        for b in r.bearings:
            if b.time_s <= t:
                bs.append(Bearing(b.site, b.azimuth_deg, b.sigma_deg, b.time_s))
                sys.append(r.sigma_sys_deg)
    obs: list = list(aggregate_bearings(bs, sys))
    obs.extend(x for x in tdoas if x.time_s <= t)
    return obs


def _backdrop(path: Path) -> dict:
    """The optional map.json: title, area (S, W, N, E) and outlines of the map backdrop."""
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        out: dict = {}
        if "title" in doc:
            out["title"] = str(doc["title"])
        if "area" in doc:
            s, w, n, e = (float(v) for v in doc["area"])
            out["area"] = (s, w, n, e)
        out["outlines"] = tuple(
            (str(o["name"]), tuple((float(p[0]), float(p[1])) for p in o["points"]))
            for o in doc.get("outlines", [])
        )
    except (OSError, ValueError, TypeError, KeyError, IndexError, json.JSONDecodeError) as exc:
        raise FileFormatError(
            f"{path}: expected {{title, area: [S, W, N, E], outlines}}: {exc}"
        ) from None
    return out


def _offset(b: Bearing, fix: Fix) -> float:
    """|bearing − azimuth from the station to the fix|, degrees."""
    from unseen import geo

    toward = geo.azimuth(b.site.lat_deg, b.site.lon_deg, fix.lat_deg, fix.lon_deg)
    return abs(float(geo.wrap180(b.azimuth_deg - toward)))


def _rejected_obs(fix: Fix, obs: list) -> list:
    """The observations the robust fit left out (by index when the solver says, else by station)."""
    idx = fix.extra.get("rejected_index")
    if idx is not None:
        return [obs[i] for i in idx if 0 <= i < len(obs)]
    return [o for o in obs if o.site.station in fix.rejected]


def _reasons(final: Fix, obs: list) -> dict[str, str]:
    """Why each rejected station was rejected: its bearing against the direction of the fix."""
    from unseen import geo

    out: dict[str, str] = {}
    dropped = _rejected_obs(final, obs)
    for sid in dict.fromkeys(o.site.station for o in dropped):
        mine = [o for o in dropped if o.site.station == sid and isinstance(o, Bearing)]
        if not mine:
            out[sid] = f"its time differences disagree with the other {len(obs) - 1} observations"
            continue
        worst = max(mine, key=lambda b: _offset(b, final) / b.sigma_deg)
        toward = float(
            geo.azimuth(worst.site.lat_deg, worst.site.lon_deg, final.lat_deg, final.lon_deg)
        )
        off = float(geo.wrap180(worst.azimuth_deg - toward))
        n = len(mine)
        out[sid] = (
            f"bearing {worst.azimuth_deg:.1f}°, but the fix lies at {toward:.1f}° "
            f"({off:+.1f}°, {abs(off) / worst.sigma_deg:.0f} σ): a χ² outlier"
            f"{f' ({n} bearings)' if n > 1 else ''}, confidently wrong as from a reflection "
            "stronger than the direct path"
        )
    return out


# ---------------------------------------------------------------- TDOA


def _tdoas(
    stations: list[StationData],
    runs: dict[str, StationRun],
    freq_hz: float,
    bandwidth_hz: float,
    sigma_floor_s: float,
) -> list[Tdoa]:
    """Per on-air window, the median TDOA of each synchronised fixed station against the first
    (independent pairs only), from GCC-PHAT on the channelized target in common frames,
    restricted to the target's band (PHAT would otherwise whiten the empty bins into noise)."""
    from unseen.tdoa.pairs import TimedFrame, pairs, windowed_tdoas

    synced = [s for s in stations if s.gnss_sync and not s.mobile and runs[s.id].bearings]
    frames = [
        [TimedFrame(b.time_s, b.site, b.block) for b in runs[s.id].bearings if b.block is not None]
        for s in synced
    ]
    times = [f.time_s for f in frames[0]] if frames else []
    gap = 1.5 * (float(np.median(np.diff(times))) if len(times) > 1 else 1.0)
    out: list[Tdoa] = []
    for i, j in pairs(len(synced), independent=True):
        out += windowed_tdoas(
            frames[i], frames[j], gap_s=gap, freq_hz=freq_hz,
            band_hz=(-bandwidth_hz / 2, bandwidth_hz / 2), sigma_sys_s=sigma_floor_s,
        )  # fmt: skip
    return out


# ---------------------------------------------------------------- the demo


def truth_of(scenario, target: Detection | None) -> Truth | None:
    """The scenario emitter transmitting on the target's frequency (only the demo knows it)."""
    if target is None:
        return None
    near = [
        e
        for e in scenario.emitters
        if abs(e.freq_hz - target.freq_hz) <= max(target.bandwidth_hz, 50e3) / 2
    ]
    if not near:
        return None
    e = min(near, key=lambda e: abs(e.freq_hz - target.freq_hz))
    return Truth(e.name, e.lat_deg, e.lon_deg)
