"""The hunt pipeline: a directory of station recordings in, a located transmitter out.

    hunt_dir(DIR)   calibrate → detect → flag unlicensed → channelize → DOA per station and frame
                    (+ TDOA when synchronised) → robust fix, refined as observations accumulate
                    → HuntResult

The directory layout and `simulate_dir`, which writes a scenario in it, are in
`unseen.pipeline.layout`. `hunt_dir` never sees the scenario.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unseen.errors import FileFormatError, GeometryError, InputError, UnseenError
from unseen.pipeline.layout import (
    MAP_JSON,
    REGISTRY_CSV,
    FrameRef,
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
from unseen.types import Bearing, Detection, Fix, IqBlock, Tdoa

USABLE_BAND = 0.9  # fraction of the receiver band inside its anti-alias roll-off
GROUP = "hunt"  # the `unseen locate` group of every fix and observation of a hunt


@dataclass(frozen=True)
class HuntOptions:
    """Settings of the hunt pipeline (none of them is scenario truth).

    `sigma_floor_deg` is the bearing error the operator trusts at best (array, calibration and
    site errors the CRB does not see); `target_freq_hz` skips automatic target selection.
    """

    method: str = "music"
    sigma_floor_deg: float = 2.0
    tdoa_sigma_floor_s: float = 100e-9
    target_freq_hz: float | None = None
    channel_bandwidth_hz: float = 200e3
    frame_samples: int = 8192
    heatmap_cells: int = 160
    max_fixes: int = 80
    min_observations: int = 5
    calibration_frames: int = 10
    tdoa: bool = True


def _circmean_deg(a: np.ndarray) -> tuple[float, float]:
    """Circular mean and circular standard deviation of angles in degrees."""
    z = np.exp(1j * np.radians(a)).mean()
    r = min(abs(z), 1.0)
    std = math.degrees(math.sqrt(max(-2 * math.log(r), 0.0))) if r > 0 else 180.0
    return float(np.degrees(np.angle(z)) % 360.0), std


def _windows(times: list[float], gap_s: float) -> list[list[int]]:
    """Split sorted frame indices into runs whose consecutive times are closer than gap_s."""
    out: list[list[int]] = []
    for i, t in enumerate(times):
        if out and t - times[out[-1][-1]] <= gap_s:
            out[-1].append(i)
        else:
            out.append([i])
    return out


@dataclass
class _Dir:
    """Per-station DOA results inside the hunt."""

    frames: list[FrameRef] = field(default_factory=list)
    az: list[float] = field(default_factory=list)
    sigma: list[float] = field(default_factory=list)
    blocks: list[IqBlock] = field(default_factory=list)


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
    timings: dict[str, float] = {}
    tic = time.perf_counter()
    d = Path(path)
    stations = load_dir(d, frame_samples=opt.frame_samples)
    registry = None
    if (d / REGISTRY_CSV).is_file():
        from unseen.detect.registry import load_registry

        registry = load_registry(d / REGISTRY_CSV)
    timings["open"] = time.perf_counter() - tic

    # Detect carriers in every frame of every station, merge, check against the registry.
    tic = time.perf_counter()
    scan = _scan(stations, registry, progress)
    detections = scan.detections
    timings["detect"] = time.perf_counter() - tic
    target = _pick_target(detections, opt.target_freq_hz)
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
    bw = target.bandwidth_hz if target.bandwidth_hz > 0 else opt.channel_bandwidth_hz
    bw = max(bw, opt.channel_bandwidth_hz)

    # Calibrate each array on a known transmitter at start-up.
    tic = time.perf_counter()
    for k, st in enumerate(stations):
        src = st.calibration or _calibration_source(st, scan, registry)
        if src is not None:
            st.cal = _calibrate(st, src, opt)
            st.extras["calibration_source"] = (
                src.get("name") or f"{float(src['freq_hz']) / 1e6:.3f} MHz"
            )
        progress("calibrate", k + 1, len(stations))
    timings["calibrate"] = time.perf_counter() - tic

    # Channelize the target and take a bearing per station per frame it is on the air.
    tic = time.perf_counter()
    doas = _bearings(stations, scan, target, bw, opt, progress)
    timings["bearings"] = time.perf_counter() - tic

    # TDOA between synchronised fixed stations on common frames.
    tic = time.perf_counter()
    tdoas: list[Tdoa] = []
    if opt.tdoa:
        tdoas = _tdoas(stations, doas, target.freq_hz, bw, opt.tdoa_sigma_floor_s)
    timings["tdoa"] = time.perf_counter() - tic

    # Fixes as observations accumulate.
    tic = time.perf_counter()
    fixes, naive_fixes, first_obs, final_obs = _fix_sequence(stations, doas, tdoas, opt, progress)
    timings["locate"] = time.perf_counter() - tic
    if not fixes:
        raise GeometryError(f"{d}: no fix: the bearings never crossed at a unique point")
    final = fixes[-1]
    bearings = [o for o in final_obs if isinstance(o, Bearing)]
    rejected = _reasons(final, final_obs)

    # The map's likelihood heatmap and the per-station DOA spectra.
    tic = time.perf_counter()
    from unseen.locate.grid import likelihood_grid

    # The heatmap shows the first fix's likelihood (the bay stage, before the mobile station
    # narrows it down), without the observations the robust fit rejected.
    first = fixes[0]
    left_out = {id(o) for o in _rejected_obs(first, first_obs)}
    used = [o for o in first_obs if id(o) not in left_out]
    half = float(np.clip(3 * first.ellipse95.semi_major_m, 250.0, 3000.0))
    dlat = half / 111_200
    dlon = half / (111_200 * math.cos(math.radians(final.lat_deg)))
    glat = np.linspace(final.lat_deg - dlat, final.lat_deg + dlat, opt.heatmap_cells)
    glon = np.linspace(final.lon_deg - dlon, final.lon_deg + dlon, opt.heatmap_cells)
    ll = likelihood_grid(used, glat, glon)
    heat = Heatmap(glat, glon, np.exp(ll - ll.max()))
    spectra = []
    for st in stations:
        dd = doas[st.id]
        if not dd.frames:
            continue
        j = len(dd.frames) // 2 if st.mobile else 0
        fr = dd.frames[j]
        blk = _channelize(st.read(fr), target.freq_hz, bw)
        grid, p = pseudo_spectrum(
            blk, st.array_at(fr), target.freq_hz, opt.method, 1, calibration=st.cal
        )
        spectra.append(DoaSpectrum(st.id, fr.time_s, grid, p, dd.az[j]))
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
        )
        for st in stations
    )
    lats = [f.lat_deg for st in stations for f in st.frames] + [final.lat_deg]
    lons = [f.lon_deg for st in stations for f in st.frames] + [final.lon_deg]
    pad_lat, pad_lon = 0.1 * (max(lats) - min(lats)) + 0.002, 0.1 * (max(lons) - min(lons)) + 0.003
    area = (min(lats) - pad_lat, min(lons) - pad_lon, max(lats) + pad_lat, max(lons) + pad_lon)
    backdrop = _backdrop(d / MAP_JSON)
    notes = [
        f"{st.name}: array calibrated at start-up on {st.extras['calibration_source']}."
        for st in stations
        if "calibration_source" in st.extras
    ]
    notes.append(
        f"Heatmap: likelihood of the transmitter position given the {len(used)} observations "
        f"of the first fix (t = {first.time_s:.0f} s), rejected ones left out."
    )
    return HuntResult(
        title=title or backdrop.get("title") or f"unseen hunt: {d.name}",
        area=backdrop.get("area", area),
        outlines=backdrop.get("outlines", ()),
        stations=tracks,
        detections=tuple(detections),
        target=target,
        spectrum=scan.spectrum,
        bearings=tuple(sorted(bearings, key=lambda b: b.time_s)),
        tdoas=tuple(o for o in final_obs if isinstance(o, Tdoa)),
        fixes=tuple(fixes),
        naive_fix=naive_fixes[-1],
        naive_fixes=tuple(naive_fixes),
        rejected=rejected,
        doa_spectra=tuple(spectra),
        heatmap=heat,
        truth=truth,
        timings_s=timings,
        notes=tuple(notes),
        frame_bearings=_frame_bearings(stations, doas, target.freq_hz),
    )


def _frame_bearings(stations: list[StationData], doas: dict[str, _Dir], freq_hz: float) -> tuple:
    """Every station's bearing of every frame (not averaged), in time order: for tracking."""
    out = [
        Bearing(st.site(fr), az, sg, fr.time_s, freq_hz)
        for st in stations
        for fr, az, sg in zip(doas[st.id].frames, doas[st.id].az, doas[st.id].sigma, strict=True)
    ]
    return tuple(sorted(out, key=lambda b: b.time_s))


def _bearings(
    stations: list[StationData],
    scan: Scan,
    target: Detection,
    bw: float,
    opt: HuntOptions,
    progress: Progress,
) -> dict[str, _Dir]:
    """Bearing per station per frame the target is on the air (channelized, calibrated)."""
    from unseen.doa import estimate

    doas: dict[str, _Dir] = {}
    total = sum(len(st.frames) for st in stations)
    done = 0
    for st in stations:
        dd = _Dir()
        on = (
            scan.on_air(st.id, target.freq_hz)
            if math.isfinite(target.snr_db)
            else [True] * len(st.frames)  # a given frequency the scan did not see: try every frame
        )
        for i, fr in enumerate(st.frames):
            done += 1
            progress("bearings", done, total)
            if not on[i]:
                continue
            blk = _channelize(st.read(fr), target.freq_hz, bw)
            est = estimate(blk, st.array_at(fr), target.freq_hz, opt.method, 1, calibration=st.cal)
            if not est.azimuths_deg:
                continue
            dd.frames.append(fr)
            dd.az.append(est.azimuths_deg[0])
            dd.sigma.append(max(est.sigma_deg[0], opt.sigma_floor_deg))
            if st.gnss_sync and not st.mobile:
                dd.blocks.append(blk)
        doas[st.id] = dd
    return doas


def _fix_sequence(
    stations: list[StationData],
    doas: dict[str, _Dir],
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
    for t in sorted(f.time_s for dd in doas.values() for f in dd.frames):
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
        obs = _observations(stations, doas, tdoas, t + 1e-6, 1.5 * interval)
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


def _calibrate(st: StationData, src: dict, opt: HuntOptions):
    """Channel gains/phases from a transmitter at a known position over the first frames.

    Each frame's estimate G_k (known azimuth from the recorded pose) is averaged: G = mean(G_k).
    The bearings of the source through G then scatter by the per-frame pose errors (σ_h, their
    RMS); the calibration keeps σ_h/√K of it as a rotation common to all later bearings, which
    is stored as the station's `bias_sigma_deg`.
    """
    from unseen import geo
    from unseen.doa import Calibration, calibrate, covariance, estimate

    f = float(src["freq_hz"])
    gains, blocks, known = [], [], []
    n = 0
    for fr in st.frames[: opt.calibration_frames]:
        blk = _channelize(st.read(fr), f, opt.channel_bandwidth_hz)
        az = float(
            geo.azimuth(fr.lat_deg, fr.lon_deg, float(src["lat_deg"]), float(src["lon_deg"]))
        )
        c = calibrate(
            covariance(blk.samples),
            blk.num_samples,
            array=st.array_at(fr),
            azimuth_deg=az,
            freq_hz=f,
        )
        gains.append(c.response)
        blocks.append((fr, blk))
        known.append(az)
        n += blk.num_samples
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
    k = len(blocks)
    if k >= 2:
        res = []
        for (fr, blk), az in zip(blocks, known, strict=True):
            est = estimate(blk, st.array_at(fr), f, opt.method, 1, calibration=cal)
            if est.azimuths_deg:
                res.append(float(geo.wrap180(est.azimuths_deg[0] - az)))
        if len(res) >= 2:
            sigma_h = float(np.sqrt(np.sum(np.square(res)) / (len(res) - 1)))
            st.extras["bias_sigma_deg"] = sigma_h / math.sqrt(len(res))
    return cal


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


def _is_mobile(stations: list[StationData], o) -> bool:
    return any(s.id == o.site.station and s.mobile for s in stations)


def _observations(
    stations: list[StationData], doas: dict[str, _Dir], tdoas: list[Tdoa], t: float, gap_s: float
) -> list:
    """Observations known at time `t`: per on-air window one averaged bearing per fixed station,
    every bearing of a mobile station (each from its own position), TDOAs so far.

    A station's n bearings share its calibration bias (σ_b, `bias_sigma_deg`): each gets
    σ² + n·σ_b², so that their weighted mean has variance σ²/n + σ_b², not σ²/n.
    """
    obs: list = []
    for st in stations:
        dd = doas[st.id]
        idx = [i for i, f in enumerate(dd.frames) if f.time_s <= t]
        if not idx:
            continue
        bias2 = st.extras.get("bias_sigma_deg", 0.0) ** 2
        if st.mobile:
            for i in idx:
                fr = dd.frames[i]
                sigma = math.sqrt(dd.sigma[i] ** 2 + len(idx) * bias2)
                obs.append(Bearing(st.site(fr), dd.az[i], sigma, fr.time_s))
            continue
        runs = _windows([dd.frames[i].time_s for i in idx], gap_s)
        for run in runs:
            az = np.array([dd.az[idx[i]] for i in run])
            mean, spread = _circmean_deg(az)
            sigma = max(float(np.median([dd.sigma[idx[i]] for i in run])), spread)
            fr = dd.frames[idx[run[-1]]]
            obs.append(
                Bearing(st.site(fr), mean, math.sqrt(sigma**2 + len(runs) * bias2), fr.time_s)
            )
    obs.extend(x for x in tdoas if x.time_s <= t)
    return obs


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


# ---------------------------------------------------------------- stages (other areas' APIs)


def _channelize(block: IqBlock, freq_hz: float, bandwidth_hz: float) -> IqBlock:
    from unseen.channelize import channelize

    return channelize(block, freq_hz, bandwidth_hz)


@dataclass
class Scan:
    """The band scan: merged detections, the spectrum for the report, per-frame occupancy."""

    detections: list[Detection]
    spectrum: Spectrum | None
    occupancy: dict[str, list[list[Detection]]]

    def on_air(self, station: str, freq_hz: float) -> list[bool]:
        """Per frame of `station`: was a carrier detected within its bandwidth of `freq_hz`?"""
        return [
            any(abs(d.freq_hz - freq_hz) <= max(d.bandwidth_hz / 2, 25e3) for d in frame)
            for frame in self.occupancy[station]
        ]


def _pick_target(detections: list[Detection], freq_hz: float | None) -> Detection | None:
    """The carrier to hunt: the one at `freq_hz`, else the strongest unlicensed one."""
    if freq_hz is not None:
        near = [d for d in detections if abs(d.freq_hz - freq_hz) <= max(d.bandwidth_hz / 2, 25e3)]
        if near:
            return max(near, key=lambda d: d.snr_db)
        return Detection(freq_hz, 0.0, math.nan, math.nan, 0.0, 0.0, "unknown", None, None)
    bad = [d for d in detections if d.licensed is False]
    return max(bad, key=lambda d: d.snr_db) if bad else None


def _calibration_source(st: StationData, scan: Scan, registry: list | None) -> dict | None:
    """The strongest licensed carrier whose registry assignment gives the transmitter's site."""
    best = None
    for d in scan.detections:
        if not d.licensed:
            continue
        for a in registry or []:
            if (
                a.lat_deg is not None
                and a.lo_hz <= d.freq_hz <= a.hi_hz
                and (best is None or d.snr_db > best[0])
            ):
                best = (d.snr_db, a)
    if best is None:
        return None
    a = best[1]
    return {"freq_hz": a.freq_hz, "lat_deg": a.lat_deg, "lon_deg": a.lon_deg, "name": a.name}


def _tdoas(
    stations: list[StationData],
    doas: dict,
    freq_hz: float,
    bandwidth_hz: float,
    sigma_floor_s: float,
) -> list[Tdoa]:
    """Per on-air window, the median TDOA of each synchronised fixed station against the first
    (independent pairs only), from GCC-PHAT on the channelized target in common frames,
    restricted to the target's band (PHAT would otherwise whiten the empty bins into noise)."""
    from unseen.tdoa.measure import measure

    synced = [s for s in stations if s.gnss_sync and not s.mobile and doas[s.id].blocks]
    if len(synced) < 2:
        return []
    ref = synced[0]
    out: list[Tdoa] = []
    rd = doas[ref.id]
    ref_t = {round(f.time_s, 3): i for i, f in enumerate(rd.frames)}
    times = [f.time_s for f in rd.frames]
    interval = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    for st in synced[1:]:
        dd = doas[st.id]
        pairs = [(ref_t[round(f.time_s, 3)], j) for j, f in enumerate(dd.frames)
                 if round(f.time_s, 3) in ref_t]  # fmt: skip
        if not pairs:
            continue
        for run in _windows([rd.frames[i].time_s for i, _ in pairs], 1.5 * interval):
            vals, sig = [], []
            for k in run:
                i, j = pairs[k]
                m = measure(
                    rd.blocks[i],
                    dd.blocks[j],
                    sigma_sys_s=sigma_floor_s,
                    band_hz=(-bandwidth_hz / 2, bandwidth_hz / 2),
                )
                vals.append(m.tdoa_s)
                sig.append(m.sigma_s)
            v = np.array(vals)
            mad = 1.4826 * float(np.median(np.abs(v - np.median(v))))
            fa, fb = rd.frames[pairs[run[-1]][0]], dd.frames[pairs[run[-1]][1]]
            out.append(
                Tdoa(ref.site(fa), st.site(fb), float(np.median(v)),
                     max(float(np.median(sig)), mad), fa.time_s, freq_hz)
            )  # fmt: skip
    return out


def _scan(stations: list[StationData], registry: list | None, progress: Progress) -> Scan:
    """Detect carriers in every frame of every station (one spectrogram row per frame), merge
    them across stations and bursts, and check each against the licence registry."""
    from unseen.detect import classify, detect_spectrogram, features, spectrogram_frames

    occupancy: dict[str, list[list[Detection]]] = {}
    found: list[tuple[Detection, StationData, np.ndarray]] = []
    spectrum = None
    total = sum(len(st.frames) for st in stations)
    done = 0

    def frames(st: StationData):
        nonlocal done
        for fr in st.frames:
            blk = st.read(fr)
            done += 1
            progress("detect", done, total)
            yield IqBlock(blk.samples, blk.sample_rate_hz, blk.center_freq_hz, fr.time_s)

    for st in stations:
        sg = spectrogram_frames(frames(st), nfft=1024)
        if spectrum is None or (not st.mobile and spectrum.station == ""):
            spectrum = Spectrum(st.id, sg.freqs_hz, 10 * np.log10(np.maximum(sg.psd(), 1e-30)))
        rows: list[list[Detection]] = [[] for _ in st.frames]
        times = np.array([f.time_s for f in st.frames])
        half = USABLE_BAND * sg.sample_rate_hz / 2
        for d in detect_spectrogram(sg):
            if abs(d.freq_hz - sg.center_freq_hz) + d.bandwidth_hz / 2 > half:
                continue  # the receiver's anti-alias roll-off: edge bins are not trusted
            idx = np.flatnonzero((times >= d.start_s - 1e-9) & (times < d.stop_s - 1e-9))
            for i in idx:
                rows[i].append(d)
            if idx.size:
                found.append((d, st, idx))
        occupancy[st.id] = rows
    merged = []
    for group in _clusters([d for d, _, _ in found]):
        ds = [found[i][0] for i in group]
        d0 = max((found[i][0] for i in group), key=lambda d: d.snr_db)
        # Classify on up to 8 frames spread over the strongest station's bursts: one short frame
        # of FM speech in a pause looks like a bare carrier, the majority does not.
        best = max((found[i] for i in group), key=lambda x: x[0].snr_db)[1]
        on = np.unique(np.concatenate([found[i][2] for i in group if found[i][1] is best]))
        kinds, centres, bws = [], [], []
        for k_j in on[np.unique(np.linspace(0, on.size - 1, min(8, on.size)).astype(int))]:
            feats, centre, bw = features(best.read(best.frames[k_j]), d0.freq_hz, d0.bandwidth_hz)
            kinds.append(classify(feats))
            centres.append(centre)
            bws.append(bw)
        centre, bw = float(np.median(centres)), float(np.median(bws))
        det = Detection(
            freq_hz=float(centre),
            bandwidth_hz=float(max(bw, np.median([d.bandwidth_hz for d in ds]))),
            snr_db=max(d.snr_db for d in ds),
            power_dbfs=max(d.power_dbfs for d in ds),
            start_s=min(d.start_s for d in ds),
            stop_s=max(d.stop_s for d in ds),
            modulation=max(dict.fromkeys(kinds), key=kinds.count),
        )
        merged.append(det)
    if registry is not None:
        from unseen.detect.registry import match

        merged = match(merged, registry)
    return Scan(sorted(merged, key=lambda d: d.freq_hz), spectrum, occupancy)


def _clusters(dets: list[Detection]) -> list[list[int]]:
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


def inside_ellipse(fix: Fix, lat_deg: float, lon_deg: float, p: float = 0.95) -> tuple[bool, float]:
    """Is (lat, lon) inside the fix's p-confidence ellipse? Returns (inside, Mahalanobis d²)."""
    from unseen.geo import chi2_2, geodetic2enu

    e, n, _ = geodetic2enu(lat_deg, lon_deg, fix.alt_m, fix.lat_deg, fix.lon_deg, fix.alt_m)
    C = np.asarray(fix.cov_enu_m2, dtype=float)[:2, :2]
    v = np.array([e, n])
    d2 = float(v @ np.linalg.solve(C, v))
    return d2 <= chi2_2(p), d2
