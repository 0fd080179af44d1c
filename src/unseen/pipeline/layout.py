"""The hunt directory: what stations record, as files (also for recordings a user brings).

    DIR/stations.csv      station,name,kind,lat_deg,lon_deg,alt_m,recording,gnss_sync
    DIR/registry.csv      freq_hz,bandwidth_hz,name,licensee,lat_deg,lon_deg,erp_w,modulation
    DIR/map.json          optional map backdrop: {"title", "area": [S, W, N, E], "outlines"}
    DIR/<station>.sigmf-meta/-data   multi-channel SigMF: core:geolocation, core:datetime per
                          capture, the array in the global `unseen:array`; mobile stations put
                          `unseen:lat_deg`, `unseen:lon_deg`, `unseen:heading_deg` in each capture.

One capture per recorded frame (frames need not be contiguous in time); a recording with a
single capture is cut into frames of `frame_samples`. `simulate_dir` writes a scenario in this
layout; `load_dir` reads it back without the scenario.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unseen.doa.array import Array
from unseen.errors import FileFormatError, InputError
from unseen.types import IqBlock, Site

Progress = Callable[[str, int, int], None]


STATIONS_CSV = "stations.csv"
REGISTRY_CSV = "registry.csv"
MAP_JSON = "map.json"
STATION_COLUMNS = (
    "station",
    "name",
    "kind",
    "lat_deg",
    "lon_deg",
    "alt_m",
    "recording",
    "gnss_sync",
)
K_ARRAY = "unseen:array"
K_MOBILE = "unseen:mobile"
K_SYNC = "unseen:gnss_sync"
K_CAL = "unseen:calibration"
K_LAT, K_LON, K_HEADING = "unseen:lat_deg", "unseen:lon_deg", "unseen:heading_deg"


def no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""
    return None


# ---------------------------------------------------------------- simulate → directory


def simulate_dir(
    scenario,
    out_dir: str | Path,
    *,
    progress: Progress = no_progress,
    stations: list[str] | None = None,
) -> dict[str, Path]:
    """Write what each station of `scenario` records: SigMF per station, stations.csv,
    registry.csv. Returns {station id: .sigmf-meta path}."""
    import shutil

    from unseen.sim.scenario_geometry import frame_times
    from unseen.sim.scenario_sim import station_frames
    from unseen.sources.sigmf import ns2datetime, write_sigmf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in scenario.stations if stations is None or s.id in stations]
    cal = scenario.emitter(scenario.calibration_source) if scenario.calibration_source else None
    written: dict[str, Path] = {}
    total = sum(len(frame_times(scenario, s)) for s in chosen)
    done = 0
    for st in chosen:
        rx = st.receiver
        n = rx.frame_samples
        times = frame_times(scenario, st)
        data = np.empty((st.array.num_elements, n * len(times)), np.complex64)
        captures = []
        for fr in station_frames(scenario, st, times_s=times):
            k = fr.index
            data[:, k * n : (k + 1) * n] = fr.block.samples
            cap = {
                "core:sample_start": k * n,
                "core:datetime": ns2datetime(fr.block.utc_ns),
                "core:frequency": rx.center_freq_hz,
            }
            if st.mobile:
                cap.update(
                    {
                        K_LAT: fr.reported.lat_deg,
                        K_LON: fr.reported.lon_deg,
                        K_HEADING: fr.reported.heading_deg,
                    }
                )
            captures.append(cap)
            done += 1
            progress("simulate", done, total)
        ext = {
            K_ARRAY: st.array.rotated(0.0 if st.mobile else st.heading_deg).to_dict(),
            K_MOBILE: st.mobile,
            K_SYNC: st.gnss_sync,
            "core:description": f"{st.name}: simulated by unseen from scenario {scenario.name}",
        }
        if cal is not None:
            ext[K_CAL] = {
                "freq_hz": cal.freq_hz,
                "lat_deg": cal.lat_deg,
                "lon_deg": cal.lon_deg,
                "name": cal.name,
            }
        site = Site(st.id, st.lat_deg, st.lon_deg, st.alt_m)
        written[st.id] = write_sigmf(
            out / st.id,
            data,
            rx.sample_rate_hz,
            rx.center_freq_hz,
            datatype=rx.datatype,
            site=site,
            extensions=ext,
            captures=captures,
        )
        del data
    with (out / STATIONS_CSV).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(STATION_COLUMNS)
        for st in chosen:
            w.writerow(
                [st.id, st.name, "mobile" if st.mobile else "fixed", st.lat_deg, st.lon_deg,
                 st.alt_m, written[st.id].name, str(st.gnss_sync).lower()]
            )  # fmt: skip
    if scenario.registry_path is not None:
        shutil.copyfile(scenario.registry_path, out / REGISTRY_CSV)
    a = scenario.area
    backdrop = {
        "title": f"unseen hunt: {scenario.name}",
        "area": [a.south_deg, a.west_deg, a.north_deg, a.east_deg],
        "outlines": [{"name": n, "points": [list(p) for p in pts]} for n, pts in a.outlines],
    }
    (out / MAP_JSON).write_text(json.dumps(backdrop, indent=1), encoding="utf-8")
    return written


# ---------------------------------------------------------------- reading a hunt directory


@dataclass(frozen=True)
class FrameRef:
    """Where a frame lies in a recording and where the station was then."""

    start: int
    count: int
    time_s: float
    utc_ns: int | None
    lat_deg: float
    lon_deg: float
    alt_m: float
    heading_deg: float


@dataclass
class StationData:
    """One station of a hunt directory: its recording, array, frames and calibration source."""

    id: str
    name: str
    mobile: bool
    gnss_sync: bool
    recording: object
    array: Array
    frames: list[FrameRef]
    calibration: dict | None = None
    cal: object | None = None
    extras: dict = field(default_factory=dict)

    def site(self, fr: FrameRef) -> Site:
        return Site(self.id, fr.lat_deg, fr.lon_deg, fr.alt_m)

    def array_at(self, fr: FrameRef) -> Array:
        """The array as it was during `fr` (a mobile array turns with the vehicle)."""
        return self.array.rotated(fr.heading_deg) if self.mobile else self.array

    def read(self, fr: FrameRef) -> IqBlock:
        return self.recording.read(fr.start, fr.count)


def _bool(v: str, where: str) -> bool:
    s = str(v).strip().lower()
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no", ""):
        return False
    raise FileFormatError(f"{where}: expected true or false, got {v!r}")


def _float(v: str, where: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise FileFormatError(f"{where}: expected a number, got {v!r}") from None
    if not math.isfinite(x):
        raise FileFormatError(f"{where}: expected a finite number, got {v!r}")
    return x


def _frames(rec, mobile: bool, frame_samples: int, t0_ns: int | None, where: str) -> list[FrameRef]:
    caps = sorted(rec.captures, key=lambda c: int(c.get("core:sample_start", 0)))
    site = rec.site
    out = []
    if len(caps) > 1:
        starts = [int(c.get("core:sample_start", 0)) for c in caps] + [rec.num_samples]
        spans = [(caps[i], starts[i], starts[i + 1] - starts[i]) for i in range(len(caps))]
    else:
        n = int(frame_samples)
        spans = [(caps[0] if caps else {}, s, n) for s in range(0, rec.num_samples - n + 1, n)]
    for cap, start, count in spans:
        if count <= 0:
            continue
        utc = rec.utc_ns_at(start)
        if utc is not None and t0_ns is not None:
            t = (utc - t0_ns) / 1e9
        else:
            t = start / rec.sample_rate_hz
        if mobile:
            try:
                lat, lon = float(cap[K_LAT]), float(cap[K_LON])
                heading = float(cap[K_HEADING])
            except (KeyError, TypeError, ValueError):
                raise FileFormatError(
                    f"{where}: mobile station capture at sample {start} lacks "
                    f"{K_LAT}/{K_LON}/{K_HEADING}"
                ) from None
            alt = site.alt_m if site else 0.0
        else:
            if site is None:
                raise FileFormatError(f"{where}: no core:geolocation (station position)")
            lat, lon, alt = site.lat_deg, site.lon_deg, site.alt_m
            heading = 0.0
        out.append(FrameRef(start, count, t, utc, lat, lon, alt, heading))
    return out


def load_dir(path: str | Path, *, frame_samples: int = 8192) -> list[StationData]:
    """Open every station of a hunt directory (see the module docstring for the layout)."""
    from unseen.sources import open_recording

    d = Path(path)
    sfile = d / STATIONS_CSV
    if not sfile.is_file():
        raise InputError(f"{d}: not a hunt directory (no {STATIONS_CSV}); expected the layout "
                         "written by `unseen simulate SCENARIO --out DIR`")  # fmt: skip
    rows = []
    with sfile.open(newline="", encoding="utf-8") as fh:
        rd = csv.DictReader(fh)
        missing = {"station", "recording"} - set(rd.fieldnames or [])
        if missing:
            raise FileFormatError(f"{sfile}: missing column(s) {', '.join(sorted(missing))}")
        for row in rd:
            rows.append((rd.line_num, row))
    if not rows:
        raise FileFormatError(f"{sfile}: no stations")
    recs = []
    for line, row in rows:
        where = f"{sfile}: line {line}"
        rec = open_recording(d / row["recording"])
        mobile = row.get("kind", "fixed").strip().lower() == "mobile"
        recs.append((where, row, rec, mobile))
    # Time zero: the earliest GNSS-synchronised station (else the earliest of all).
    synced = [_bool(row.get("gnss_sync") or "", where) or bool(r.extensions.get(K_SYNC, False))
              for where, row, r, _ in recs]  # fmt: skip
    utcs = [r.utc_ns_at(0) for _, _, r, _ in recs]
    pool = [u for u, s in zip(utcs, synced, strict=True) if s and u is not None]
    t0 = min(pool or [u for u in utcs if u is not None], default=None)
    out = []
    for where, row, rec, mobile in recs:
        doc = rec.extensions.get(K_ARRAY)
        if doc is None:
            raise FileFormatError(f"{rec.path}: global key '{K_ARRAY}' (array geometry) is missing")
        arr = Array.from_dict(doc, source=f"{rec.path}: {K_ARRAY}")
        frames = _frames(rec, mobile, frame_samples, t0, str(rec.path))
        if not frames:
            raise FileFormatError(f"{rec.path}: no complete frame of {frame_samples} samples")
        sync = row.get("gnss_sync")
        out.append(
            StationData(
                id=row["station"].strip(),
                name=(row.get("name") or row["station"]).strip(),
                mobile=mobile,
                gnss_sync=_bool(sync, f"{where}: gnss_sync") if sync is not None
                else bool(rec.extensions.get(K_SYNC, False)),
                recording=rec,
                array=arr,
                frames=frames,
                calibration=rec.extensions.get(K_CAL),
            )
        )  # fmt: skip
    return out


# ---------------------------------------------------------------- the hunt
