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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unseen import validate
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
REGISTRY_COLUMNS = (
    "freq_hz",
    "bandwidth_hz",
    "name",
    "licensee",
    "lat_deg",
    "lon_deg",
    "erp_w",
    "modulation",
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


def _cell(v: object) -> str:
    """A CSV cell: empty for None, integral floats without a fraction (93500000, not 9.35e+07)."""
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


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
    elif scenario.registry:
        with (out / REGISTRY_CSV).open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(REGISTRY_COLUMNS)
            for lic in scenario.registry:
                w.writerow([_cell(getattr(lic, c)) for c in REGISTRY_COLUMNS])
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


def _frames(
    rec, mobile: bool, frame_samples: int, t0_ns: int | None, where: str, site: Site | None
) -> list[FrameRef]:
    caps = sorted(rec.captures, key=lambda c: int(c.get("core:sample_start", 0)))
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
                raise FileFormatError(
                    f"{where}: no core:geolocation and no lat_deg/lon_deg in {STATIONS_CSV} "
                    "(station position)"
                )
            lat, lon, alt = site.lat_deg, site.lon_deg, site.alt_m
            heading = 0.0
        out.append(FrameRef(start, count, t, utc, lat, lon, alt, heading))
    return out


@dataclass(frozen=True)
class _Row:
    """One validated row of stations.csv."""

    line: int
    station: str
    name: str
    mobile: bool
    site: Site | None
    recording: str
    gnss_sync: bool | None


def _row(row: dict, sfile: Path, line: int) -> _Row:
    """Validate a stations.csv row; errors name `stations.csv:LINE` and the column."""

    def where(col: str) -> str:
        return f"{sfile}:{line}: column '{col}'"

    def text(col: str, required: bool = False) -> str:
        v = row.get(col)
        v = "" if v is None else str(v).strip()
        if required and not v:
            raise FileFormatError(f"{where(col)}: expected a value, got an empty cell")
        return v

    def num(col: str, lo: float, hi: float) -> float | None:
        v = text(col)
        return validate.number(v, where(col), lo=lo, hi=hi, error=FileFormatError) if v else None

    station = text("station", required=True)
    kind = text("kind").lower() or "fixed"
    if kind not in ("fixed", "mobile"):
        raise FileFormatError(f"{where('kind')}: expected fixed or mobile, got {kind!r}")
    lat, lon = num("lat_deg", -90, 90), num("lon_deg", -180, 180)
    alt = num("alt_m", -500, 1e5)
    if (lat is None) != (lon is None):
        col = "lon_deg" if lon is None else "lat_deg"
        raise FileFormatError(f"{where(col)}: lat_deg and lon_deg go together; one is empty")
    sync = text("gnss_sync")
    return _Row(
        line=line,
        station=station,
        name=text("name") or station,
        mobile=kind == "mobile",
        site=Site(station, lat, lon, alt or 0.0) if lat is not None else None,
        recording=text("recording", required=True),
        gnss_sync=_bool(sync, where("gnss_sync")) if sync else None,
    )


def load_dir(path: str | Path, *, frame_samples: int = 8192) -> list[StationData]:
    """Open every station of a hunt directory (see the module docstring for the layout).

    A fixed station's position is its recording's `core:geolocation`, else stations.csv's
    lat_deg/lon_deg/alt_m.
    """
    from unseen.sources import open_recording

    d = Path(path)
    sfile = d / STATIONS_CSV
    if not sfile.is_file():
        raise InputError(f"{d}: not a hunt directory (no {STATIONS_CSV}); expected the layout "
                         "written by `unseen simulate SCENARIO --out DIR`")  # fmt: skip
    text = validate.read_text(sfile, STATIONS_CSV, FileFormatError, max_bytes=16 * 1024**2)
    _, table = validate.csv_rows(
        text, str(sfile), required=("station", "recording"), error=FileFormatError, comments=False
    )
    rows = [_row(row, sfile, line) for line, row in table]
    if not rows:
        raise FileFormatError(f"{sfile}: no stations")
    seen: dict[str, int] = {}
    for r in rows:
        if r.station in seen:
            raise FileFormatError(f"{sfile}:{r.line}: column 'station': duplicate station "
                                  f"{r.station!r} (first on line {seen[r.station]})")  # fmt: skip
        seen[r.station] = r.line
    recs = []
    for r in rows:
        try:
            rec = open_recording(d / r.recording)
        except FileNotFoundError:
            raise FileFormatError(f"{sfile}:{r.line}: column 'recording': no recording "
                                  f"{r.recording!r} in {d}") from None  # fmt: skip
        except (InputError, OSError) as exc:
            raise FileFormatError(f"{sfile}:{r.line}: column 'recording': {exc}") from None
        recs.append((r, rec))
    # Time zero: the earliest GNSS-synchronised station (else the earliest of all).
    synced = [r.gnss_sync or bool(rec.extensions.get(K_SYNC, False)) for r, rec in recs]
    utcs = [rec.utc_ns_at(0) for _, rec in recs]
    pool = [u for u, s in zip(utcs, synced, strict=True) if s and u is not None]
    t0 = min(pool or [u for u in utcs if u is not None], default=None)
    out = []
    for r, rec in recs:
        doc = rec.extensions.get(K_ARRAY)
        if doc is None:
            raise FileFormatError(f"{rec.path}: global key '{K_ARRAY}' (array geometry) is missing")
        arr = Array.from_dict(doc, source=f"{rec.path}: {K_ARRAY}")
        frames = _frames(rec, r.mobile, frame_samples, t0, str(rec.path), rec.site or r.site)
        if not frames:
            raise FileFormatError(f"{rec.path}: no complete frame of {frame_samples} samples")
        out.append(
            StationData(
                id=r.station,
                name=r.name,
                mobile=r.mobile,
                gnss_sync=r.gnss_sync if r.gnss_sync is not None
                else bool(rec.extensions.get(K_SYNC, False)),
                recording=rec,
                array=arr,
                frames=frames,
                calibration=rec.extensions.get(K_CAL),
            )
        )  # fmt: skip
    return out


# ---------------------------------------------------------------- the hunt


def open_station(
    path: str | Path,
    *,
    station: str,
    site: Site | None,
    frame_samples: int = 8192,
    array: Array | None = None,
    name: str | None = None,
) -> StationData:
    """One recording as a station, as `load_dir` opens each (its frames, array, mobility), with
    frame times from its own start. A mobile recording (`unseen:mobile`, or captures carrying
    `unseen:lat_deg`) takes its position per frame from the captures; a fixed one from its
    `core:geolocation`, else `site`. `array` is used when the recording has no `unseen:array`."""
    from unseen.sources import open_recording

    rec = open_recording(path)
    try:
        doc = rec.extensions.get(K_ARRAY)
        if doc is not None:
            arr = Array.from_dict(doc, source=f"{rec.path}: {K_ARRAY}")
        elif array is not None:
            arr = array
        else:
            raise FileFormatError(
                f"{rec.path}: no '{K_ARRAY}' (array geometry) in the recording; "
                'give the array (station.toml: [source] array = "uca:5:1.0")'
            )
        if rec.num_channels != arr.num_elements:
            raise FileFormatError(
                f"{rec.path}: {rec.num_channels} channels but the array has {arr.num_elements}"
            )
        mobile = bool(rec.extensions.get(K_MOBILE, False)) or any(K_LAT in c for c in rec.captures)
        frames = _frames(rec, mobile, frame_samples, rec.utc_ns_at(0), str(rec.path),
                         rec.site or site)  # fmt: skip
        if not frames:
            raise FileFormatError(f"{rec.path}: no complete frame of {frame_samples} samples")
    except BaseException:
        rec.close()
        raise
    return StationData(
        id=station,
        name=name or station,
        mobile=mobile,
        gnss_sync=bool(rec.extensions.get(K_SYNC, False)),
        recording=rec,
        array=arr,
        frames=frames,
        calibration=rec.extensions.get(K_CAL),
    )
