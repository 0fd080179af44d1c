"""Scenario files: a hunt described in TOML, loaded into plain frozen values and validated.

A scenario names the area, the receiving stations (fixed or mobile along a route), the emitters
(position, frequency, waveform, power, on/off schedule), the propagation (path-loss model,
reflecting walls, blocking obstacles) and the licence registry. Every error names the file, the
key and the line of the key (tomllib gives no line numbers, so `key_lines` finds them in the text).
The format is documented in README.md and by the Saint-Malo example
(`unseen demo --print-scenario`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from unseen import validate
from unseen.doa.array import MAX_ELEMENTS, Array
from unseen.errors import ConfigError, InputError

WAVEFORMS = ("cw", "am", "fm", "noise")
PATH_LOSS_MODELS = ("free-space", "two-ray", "log-distance")
BUILTIN = ("saint-malo", "saint-malo-drive")
MIN_GATE_S = 1e-3
MAX_OFFSET_S = 1e7
START_RANGE = (
    dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2200, 1, 1, tzinfo=dt.UTC),
)

_REQUIRED = object()


@dataclass(frozen=True)
class Area:
    """Map extent of the hunt (degrees) and optional outlines drawn as a tile-free backdrop."""

    south_deg: float
    west_deg: float
    north_deg: float
    east_deg: float
    outlines: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = ()

    @property
    def center(self) -> tuple[float, float]:
        return (self.south_deg + self.north_deg) / 2, (self.west_deg + self.east_deg) / 2


@dataclass(frozen=True)
class Receiver:
    """A coherent multi-channel receiver; impairments are standard deviations drawn per station."""

    sample_rate_hz: float
    center_freq_hz: float
    noise_figure_db: float = 6.0
    full_scale_dbm: float = -10.0
    gain_sigma_db: float = 1.0
    phase_sigma_deg: float = 20.0
    cfo_ppm: float = 0.5
    antenna_height_m: float = 3.0
    frame_samples: int = 8192
    frame_interval_s: float = 1.0
    datatype: str = "cf32_le"


@dataclass(frozen=True)
class Station:
    """A DF station: fixed at (lat, lon) with `heading_deg`, or mobile along `route` at `speed_m_s`.

    A mobile station starts at the first waypoint at `start_s` and its array heading follows the
    direction of travel (GNSS heading). `heading_sigma_deg` and `position_sigma_m` are the errors
    (standard deviations, per frame) of the heading and position the station records.
    """

    id: str
    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    array: Array
    receiver: Receiver
    heading_deg: float = 0.0
    mobile: bool = False
    route: tuple[tuple[float, float], ...] = ()
    speed_m_s: float = 0.0
    start_s: float = 0.0
    gnss_sync: bool = False
    heading_sigma_deg: float = 0.0
    position_sigma_m: float = 0.0


@dataclass(frozen=True)
class Schedule:
    """On the air for `on_s`, then off for `off_s`, repeating from `offset_s` (off_s 0: always)."""

    on_s: float = math.inf
    off_s: float = 0.0
    offset_s: float = 0.0


@dataclass(frozen=True)
class Emitter:
    """A transmitter: WGS84 position, antenna height above ground, carrier, waveform and ERP."""

    id: str
    name: str
    lat_deg: float
    lon_deg: float
    height_m: float
    freq_hz: float
    waveform: str
    erp_w: float
    deviation_hz: float = 75e3
    modulation_index: float = 0.5
    bandwidth_hz: float = 200e3
    audio: str = "speech"
    schedule: Schedule = field(default_factory=Schedule)
    route: tuple[tuple[float, float, float], ...] = ()  # (lat_deg, lon_deg, time_s) waypoints

    def at(self, time_s: float) -> Emitter:
        """The emitter where its route puts it at `time_s` (linear between waypoints; before the
        first and after the last it waits there; two waypoints at one place are a stop)."""
        if not self.route:
            return self
        r = self.route
        t = [w[2] for w in r]
        lat = float(np.interp(time_s, t, [w[0] for w in r]))
        lon = float(np.interp(time_s, t, [w[1] for w in r]))
        return replace(self, lat_deg=lat, lon_deg=lon)


@dataclass(frozen=True)
class Wall:
    """A straight wall between two WGS84 points (lat, lon): reflects with `loss_db` or blocks."""

    id: str
    a: tuple[float, float]
    b: tuple[float, float]
    loss_db: float


@dataclass(frozen=True)
class Propagation:
    """Path-loss model and the walls that reflect (image method) or attenuate rays crossing them."""

    model: str = "two-ray"
    exponent: float = 2.0
    reflectors: tuple[Wall, ...] = ()
    blockers: tuple[Wall, ...] = ()
    multipath: bool = True


@dataclass(frozen=True)
class Licence:
    """A licensed transmitter of the registry: carrier and bandwidth (Hz), site (deg), ERP (W)."""

    name: str
    freq_hz: float
    bandwidth_hz: float
    licensee: str = ""
    lat_deg: float | None = None
    lon_deg: float | None = None
    erp_w: float | None = None
    modulation: str = ""


@dataclass(frozen=True)
class Scenario:
    """A whole hunt: where, who listens, who transmits, how radio travels, what is licensed."""

    name: str
    description: str
    start_utc_ns: int
    duration_s: float
    seed: int
    area: Area
    stations: tuple[Station, ...]
    emitters: tuple[Emitter, ...]
    propagation: Propagation
    registry_path: Path | None = None
    calibration_source: str | None = None
    source: str = "<scenario>"
    registry: tuple[Licence, ...] = ()

    def station(self, sid: str) -> Station:
        for s in self.stations:
            if s.id == sid:
                return s
        raise InputError(f"{self.source}: no station {sid!r}")

    def emitter(self, eid: str) -> Emitter:
        for e in self.emitters:
            if e.id == eid:
                return e
        raise InputError(f"{self.source}: no emitter {eid!r}")


# ---------------------------------------------------------------- line numbers of keys

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=")


def _split_key(key: str) -> list[str]:
    return [p.strip().strip("\"'") for p in key.split(".")]


def key_lines(text: str) -> dict[tuple, int]:
    """Map each key path (e.g. ("stations", 1, "array", "radius_m")) to its 1-based line number.

    Array-of-tables entries are indexed from 0; keys of one-line inline tables are included.
    """
    lines: dict[tuple, int] = {}
    counts: dict[tuple, int] = {}
    current: tuple = ()
    for no, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if m and not line.lstrip().startswith("#"):
            parts = _split_key(m.group(2))
            # Resolve against the arrays of tables already opened: [stations.array] under
            # [[stations]] belongs to the latest station.
            path: tuple = ()
            for p in parts:
                path = (*path, p)
                if path in counts and (p != parts[-1] or m.group(1) == "["):
                    path = (*path, counts[path] - 1)
            if m.group(1) == "[[":
                lines.setdefault(path, no)  # the array itself: its first header
                n = counts.get(path, 0)
                counts[path] = n + 1
                path = (*path, n)
            current = path
            lines.setdefault(current, no)
            continue
        m = _KEY.match(line)
        if m and not line.lstrip().startswith("#"):
            kpath = (*current, *_split_key(m.group(1)))
            lines.setdefault(kpath, no)
            rest = line[m.end() :]
            if rest.lstrip().startswith("{"):
                for k in _INLINE_KEY.finditer(rest):
                    lines.setdefault((*kpath, k.group(1)), no)
    return lines


def _fmt_path(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Ctx:
    """Where errors point: the file name and the line of each key."""

    def __init__(self, source: str, text: str):
        self.source = source
        self.lines = key_lines(text)

    def line(self, path: tuple) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None

    def where(self, path: tuple) -> str:
        ln = self.line(path)
        return (
            f"{self.source}:{ln}: key '{_fmt_path(path)}'"
            if ln
            else (f"{self.source}: key '{_fmt_path(path)}'")
        )

    def error(self, path: tuple, msg: str) -> ConfigError:
        return ConfigError(f"{self.where(path)}: {msg}")


# ---------------------------------------------------------------- typed field readers


def _check_keys(ctx: _Ctx, table: dict, path: tuple, allowed: set[str]) -> None:
    for k in table:
        if k not in allowed:
            raise ctx.error(
                (*path, k), f"unknown key; expected one of {', '.join(sorted(allowed))}"
            )


def _table(ctx: _Ctx, doc: dict, key: str, path: tuple, required: bool = False) -> dict:
    v = doc.get(key)
    if v is None:
        if required:
            raise ctx.error(path, f"missing table [{_fmt_path((*path, key))}]")
        return {}
    if not isinstance(v, dict):
        raise ctx.error((*path, key), f"expected a table, got {v!r}")
    return v


def _num(
    ctx: _Ctx,
    t: dict,
    key: str,
    path: tuple,
    default: Any = _REQUIRED,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    if key not in t:
        if default is _REQUIRED:
            raise ctx.error(path, f"missing required key '{key}'")
        return default
    return validate.number(
        t[key], ctx.where((*path, key)), lo=lo, hi=hi, lo_open=lo_open, error=ConfigError
    )


def _int(
    ctx: _Ctx,
    t: dict,
    key: str,
    path: tuple,
    default: Any = _REQUIRED,
    lo: int = 0,
    hi: int | None = None,
) -> int:
    if key not in t:
        if default is _REQUIRED:
            raise ctx.error(path, f"missing required key '{key}'")
        return default
    if isinstance(t[key], float):
        raise ctx.error((*path, key), f"expected an integer, got {t[key]!r}")
    return int(
        validate.number(
            t[key], ctx.where((*path, key)), lo=lo, hi=hi, integer=True, error=ConfigError
        )
    )


def _str(
    ctx: _Ctx,
    t: dict,
    key: str,
    path: tuple,
    default: Any = _REQUIRED,
    choices: tuple[str, ...] | None = None,
) -> str:
    if key not in t:
        if default is _REQUIRED:
            raise ctx.error(path, f"missing required key '{key}'")
        return default
    v = t[key]
    if not isinstance(v, str):
        raise ctx.error((*path, key), f"expected a string, got {v!r}")
    if choices and v not in choices:
        raise ctx.error((*path, key), f"expected one of {', '.join(choices)}, got {v!r}")
    return v


def _bool(ctx: _Ctx, t: dict, key: str, path: tuple, default: bool) -> bool:
    v = t.get(key, default)
    if not isinstance(v, bool):
        raise ctx.error((*path, key), f"expected true or false, got {v!r}")
    return v


def _latlon(ctx: _Ctx, v: Any, path: tuple) -> tuple[float, float]:
    if (
        not isinstance(v, list | tuple)
        or len(v) != 2
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
    ):
        raise ctx.error(path, f"expected [lat_deg, lon_deg], got {v!r}")
    lat, lon = float(v[0]), float(v[1])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ctx.error(
            path, f"expected latitude in [-90, 90] and longitude in [-180, 180], got {v}"
        )
    return lat, lon


def _emitter_route(ctx: _Ctx, v: Any, path: tuple) -> tuple[tuple[float, float, float], ...]:
    """A moving emitter's waypoints: [[lat_deg, lon_deg, time_s], ...], at least two, times
    strictly increasing."""
    if v is None:
        return ()
    if not isinstance(v, list) or len(v) < 2:
        raise ctx.error(
            path, f"expected at least two [lat_deg, lon_deg, time_s] waypoints, got {v!r}"
        )
    out = []
    for i, w in enumerate(v):
        if not isinstance(w, list | tuple) or len(w) != 3:
            raise ctx.error((*path, i), f"expected [lat_deg, lon_deg, time_s], got {w!r}")
        lat, lon = _latlon(ctx, list(w[:2]), (*path, i))
        t = w[2]
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
            raise ctx.error((*path, i), f"expected a finite time_s, got {t!r}")
        if out and t <= out[-1][2]:
            raise ctx.error(
                (*path, i), f"time_s must increase along the route, got {t} after {out[-1][2]}"
            )
        out.append((lat, lon, float(t)))
    return tuple(out)


def _position(ctx: _Ctx, t: dict, path: tuple) -> tuple[float, float]:
    lat = _num(ctx, t, "lat_deg", path, lo=-90, hi=90)
    lon = _num(ctx, t, "lon_deg", path, lo=-180, hi=180)
    return lat, lon


# ---------------------------------------------------------------- sections

_RECEIVER_KEYS = {
    "sample_rate_hz",
    "center_freq_hz",
    "noise_figure_db",
    "full_scale_dbm",
    "gain_sigma_db",
    "phase_sigma_deg",
    "cfo_ppm",
    "antenna_height_m",
    "frame_samples",
    "frame_interval_s",
    "datatype",
}
_ARRAY_KEYS = {"kind", "elements", "radius_m", "spacing_m", "elements_enu_m"}


def _receiver(ctx: _Ctx, t: dict, path: tuple, base: Receiver | None) -> Receiver:
    b = base
    d = (lambda name: getattr(b, name)) if b else (lambda name: _REQUIRED)
    opt = (lambda name: getattr(b, name)) if b else (lambda name: getattr(Receiver, name))
    r = Receiver(
        sample_rate_hz=_num(ctx, t, "sample_rate_hz", path, d("sample_rate_hz"), 0, lo_open=True),
        center_freq_hz=_num(ctx, t, "center_freq_hz", path, d("center_freq_hz"), 0, lo_open=True),
        noise_figure_db=_num(ctx, t, "noise_figure_db", path, opt("noise_figure_db"), 0, 60),
        full_scale_dbm=_num(ctx, t, "full_scale_dbm", path, opt("full_scale_dbm"), -200, 100),
        gain_sigma_db=_num(ctx, t, "gain_sigma_db", path, opt("gain_sigma_db"), 0, 20),
        phase_sigma_deg=_num(ctx, t, "phase_sigma_deg", path, opt("phase_sigma_deg"), 0, 180),
        cfo_ppm=_num(ctx, t, "cfo_ppm", path, opt("cfo_ppm"), 0, 100),
        antenna_height_m=_num(ctx, t, "antenna_height_m", path, opt("antenna_height_m"), 0),
        frame_samples=_int(ctx, t, "frame_samples", path, opt("frame_samples"), lo=64, hi=2**24),
        frame_interval_s=_num(
            ctx, t, "frame_interval_s", path, opt("frame_interval_s"), 0, lo_open=True
        ),
        datatype=_str(ctx, t, "datatype", path, opt("datatype"), ("cf32_le", "ci16_le")),
    )
    if r.frame_samples / r.sample_rate_hz > r.frame_interval_s:
        raise ctx.error(
            (*path, "frame_samples"),
            f"a frame of {r.frame_samples} samples at {r.sample_rate_hz:g} Hz lasts longer "
            f"than frame_interval_s = {r.frame_interval_s:g} s",
        )
    return r


def _array(ctx: _Ctx, t: dict, path: tuple, base: Array | None, freq_hz: float) -> Array:
    if not t:
        if base is None:
            raise ctx.error(path, "missing table 'array' (kind = \"uca\", elements, radius_m)")
        return base
    _check_keys(ctx, t, path, _ARRAY_KEYS)
    kind = _str(ctx, t, "kind", path, choices=("uca", "ula", "custom"))
    try:
        if kind == "uca":
            arr = Array.uca(
                _int(ctx, t, "elements", path, lo=3, hi=MAX_ELEMENTS),
                _num(ctx, t, "radius_m", path, lo=0),
            )
        elif kind == "ula":
            arr = Array.ula(
                _int(ctx, t, "elements", path, lo=2, hi=MAX_ELEMENTS),
                _num(ctx, t, "spacing_m", path, lo=0),
            )
        else:
            if "elements_enu_m" not in t:
                raise ctx.error(path, "missing required key 'elements_enu_m'")
            if not isinstance(t["elements_enu_m"], list) or not (
                2 <= len(t["elements_enu_m"]) <= MAX_ELEMENTS
            ):
                raise ctx.error(
                    (*path, "elements_enu_m"),
                    f"expected a list of 2 to {MAX_ELEMENTS} [e, n, u] positions",
                )
            arr = Array.from_dict({"elements_enu_m": t["elements_enu_m"]}, 0.0, "array")
    except InputError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ctx.error(path, str(exc)) from None
    return arr


def _wall(ctx: _Ctx, t: dict, path: tuple, kind: str) -> Wall:
    _check_keys(ctx, t, path, {"id", "a", "b", "loss_db"})
    a = _latlon(ctx, t.get("a"), (*path, "a"))
    b = _latlon(ctx, t.get("b"), (*path, "b"))
    if a == b:
        raise ctx.error((*path, "b"), f"a {kind} needs two distinct end points, got a = b = {a}")
    return Wall(
        id=_str(ctx, t, "id", path, f"{kind}{path[-1]}"),
        a=a,
        b=b,
        loss_db=_num(ctx, t, "loss_db", path, 6.0 if kind == "reflector" else 10.0, 0),
    )


def _ids(ctx: _Ctx, items: list, path: tuple, what: str) -> None:
    seen: set[str] = set()
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            raise ctx.error((*path, i), f"expected a table for each {what}, got {it!r}")
        sid = it.get("id")
        if not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", sid):
            raise ctx.error(
                (*path, i, "id"), f"expected an id of letters, digits, - or _, got {sid!r}"
            )
        if sid in seen:
            raise ctx.error((*path, i, "id"), f"duplicate {what} id {sid!r}")
        seen.add(sid)


def _list(ctx: _Ctx, doc: dict, key: str, what: str) -> list:
    v = doc.get(key)
    if not isinstance(v, list) or not v:
        raise ctx.error((key,), f"expected at least one [[{key}]] {what}")
    return v


_LICENCE_KEYS = {"name", "freq_hz", "bandwidth_hz", "licensee", "lat_deg", "lon_deg", "erp_w",
                 "modulation"}  # fmt: skip


def _registry(ctx: _Ctx, v: Any, base_dir: Path | None) -> tuple[Path | None, tuple[Licence, ...]]:
    """`[registry] file = "x.csv"` (relative to the scenario) or inline `[[registry]]` licences."""
    if v is None:
        return None, ()
    if isinstance(v, dict):
        _check_keys(ctx, v, ("registry",), {"file"})
        if "file" not in v:
            return None, ()
        path = (base_dir or Path.cwd()) / _str(ctx, v, "file", ("registry",))
        if not path.is_file():
            raise ctx.error(
                ("registry", "file"),
                f"registry file {str(path)!r} does not exist (or list the licences inline as "
                "[[registry]] tables)",
            )
        return path, ()
    if not isinstance(v, list):
        raise ctx.error(
            ("registry",), f"expected [[registry]] tables or [registry] file, got {v!r}"
        )
    out = []
    for i, t in enumerate(v):
        p = ("registry", i)
        if not isinstance(t, dict):
            raise ctx.error(p, f"expected a table for each licence, got {t!r}")
        _check_keys(ctx, t, p, _LICENCE_KEYS)
        out.append(
            Licence(
                name=_str(ctx, t, "name", p),
                freq_hz=_num(ctx, t, "freq_hz", p, lo=0, lo_open=True),
                bandwidth_hz=_num(ctx, t, "bandwidth_hz", p, lo=0, lo_open=True),
                licensee=_str(ctx, t, "licensee", p, ""),
                lat_deg=_num(ctx, t, "lat_deg", p, None, -90, 90),
                lon_deg=_num(ctx, t, "lon_deg", p, None, -180, 180),
                erp_w=_num(ctx, t, "erp_w", p, None, 0, lo_open=True),
                modulation=_str(ctx, t, "modulation", p, ""),
            )
        )
    return None, tuple(out)


def parse_scenario(text: str, source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Parse and validate scenario TOML `text`; `source` names the file in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    ctx = _Ctx(source, text)
    _check_keys(
        ctx,
        doc,
        (),
        {
            "scenario",
            "area",
            "receiver",
            "stations",
            "emitters",
            "propagation",
            "registry",
            "calibration",
        },
    )

    meta = _table(ctx, doc, "scenario", (), required=True)
    mp = ("scenario",)
    _check_keys(ctx, meta, mp, {"name", "description", "start_utc", "duration_s", "seed"})
    start = meta.get("start_utc", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    if isinstance(start, str):
        try:
            start = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise ctx.error(
                (*mp, "start_utc"), f"expected an RFC 3339 date-time, got {start!r}"
            ) from None
    if not isinstance(start, dt.datetime) or start.tzinfo is None:
        raise ctx.error(
            (*mp, "start_utc"), f"expected a date-time with a UTC offset, got {start!r}"
        )
    if not START_RANGE[0] <= start <= START_RANGE[1]:
        raise ctx.error(
            (*mp, "start_utc"),
            f"expected a time between {START_RANGE[0]:%Y-%m-%d} and {START_RANGE[1]:%Y-%m-%d}, "
            f"got {start.isoformat()}",
        )
    start_ns = round(start.timestamp() * 1e6) * 1000
    duration = _num(ctx, meta, "duration_s", mp, lo=0, lo_open=True)

    at = _table(ctx, doc, "area", (), required=True)
    ap = ("area",)
    _check_keys(ctx, at, ap, {"south_deg", "west_deg", "north_deg", "east_deg", "outlines"})
    outlines = []
    for i, o in enumerate(at.get("outlines", [])):
        op = (*ap, "outlines", i)
        if not isinstance(o, dict):
            raise ctx.error(op, f"expected a table with name and points, got {o!r}")
        _check_keys(ctx, o, op, {"name", "points"})
        pts = o.get("points")
        if not isinstance(pts, list) or len(pts) < 2:
            raise ctx.error((*op, "points"), "expected a list of at least two [lat_deg, lon_deg]")
        outlines.append(
            (
                _str(ctx, o, "name", op, f"outline{i}"),
                tuple(_latlon(ctx, p, (*op, "points")) for p in pts),
            )
        )
    area = Area(
        south_deg=_num(ctx, at, "south_deg", ap, lo=-90, hi=90),
        west_deg=_num(ctx, at, "west_deg", ap, lo=-180, hi=180),
        north_deg=_num(ctx, at, "north_deg", ap, lo=-90, hi=90),
        east_deg=_num(ctx, at, "east_deg", ap, lo=-180, hi=180),
        outlines=tuple(outlines),
    )
    if area.north_deg <= area.south_deg or area.east_deg <= area.west_deg:
        raise ctx.error(ap, "expected south_deg < north_deg and west_deg < east_deg")

    rt = _table(ctx, doc, "receiver", ())
    rp = ("receiver",)
    _check_keys(ctx, rt, rp, _RECEIVER_KEYS | {"array"})
    receiver = _receiver(ctx, rt, rp, None) if rt else None
    base_array = (
        _array(ctx, rt["array"], (*rp, "array"), None, 0.0)
        if isinstance(rt.get("array"), dict)
        else None
    )

    stations_doc = _list(ctx, doc, "stations", "station")
    _ids(ctx, stations_doc, ("stations",), "station")
    stations = []
    for i, st in enumerate(stations_doc):
        sp = ("stations", i)
        _check_keys(
            ctx,
            st,
            sp,
            {
                "id",
                "name",
                "kind",
                "lat_deg",
                "lon_deg",
                "alt_m",
                "heading_deg",
                "route",
                "speed_m_s",
                "start_s",
                "gnss_sync",
                "heading_sigma_deg",
                "position_sigma_m",
                "array",
                "receiver",
            },
        )
        kind = _str(ctx, st, "kind", sp, "fixed", ("fixed", "mobile"))
        rtab = _table(ctx, st, "receiver", sp)
        _check_keys(ctx, rtab, (*sp, "receiver"), _RECEIVER_KEYS)
        if receiver is None and not rtab:
            raise ctx.error(sp, "missing [receiver] defaults and no [stations.receiver] table")
        rx = _receiver(ctx, rtab, (*sp, "receiver"), receiver)
        arr = _array(
            ctx, _table(ctx, st, "array", sp), (*sp, "array"), base_array, rx.center_freq_hz
        )
        route: tuple[tuple[float, float], ...] = ()
        speed = 0.0
        if kind == "mobile":
            rv = st.get("route")
            if not isinstance(rv, list) or len(rv) < 2:
                raise ctx.error(
                    (*sp, "route"),
                    "a mobile station needs a route of at least two [lat_deg, lon_deg]",
                )
            route = tuple(_latlon(ctx, p, (*sp, "route")) for p in rv)
            speed = _num(ctx, st, "speed_m_s", sp, lo=0, lo_open=True)
            lat, lon = route[0]
        else:
            for k in ("route", "speed_m_s"):
                if k in st:
                    raise ctx.error((*sp, k), f"'{k}' is only for kind = \"mobile\" stations")
            lat, lon = _position(ctx, st, sp)
        stations.append(
            Station(
                id=st["id"],
                name=_str(ctx, st, "name", sp, st["id"]),
                lat_deg=lat,
                lon_deg=lon,
                alt_m=_num(ctx, st, "alt_m", sp, 0.0),
                array=arr,
                receiver=rx,
                heading_deg=_num(ctx, st, "heading_deg", sp, 0.0, -360, 360),
                mobile=kind == "mobile",
                route=route,
                speed_m_s=speed,
                start_s=_num(ctx, st, "start_s", sp, 0.0, 0),
                gnss_sync=_bool(ctx, st, "gnss_sync", sp, False),
                heading_sigma_deg=_num(ctx, st, "heading_sigma_deg", sp, 0.0, 0, 90),
                position_sigma_m=_num(ctx, st, "position_sigma_m", sp, 0.0, 0, 1000),
            )
        )

    em_doc = _list(ctx, doc, "emitters", "emitter")
    _ids(ctx, em_doc, ("emitters",), "emitter")
    emitters = []
    for i, et in enumerate(em_doc):
        ep = ("emitters", i)
        _check_keys(
            ctx,
            et,
            ep,
            {
                "id",
                "name",
                "lat_deg",
                "lon_deg",
                "height_m",
                "freq_hz",
                "waveform",
                "erp_w",
                "deviation_hz",
                "modulation_index",
                "bandwidth_hz",
                "audio",
                "schedule",
                "route",
            },
        )
        route = _emitter_route(ctx, et.get("route"), (*ep, "route"))
        if route and "lat_deg" not in et and "lon_deg" not in et:
            lat, lon = route[0][0], route[0][1]
        else:
            lat, lon = _position(ctx, et, ep)
        sch = _table(ctx, et, "schedule", ep)
        shp = (*ep, "schedule")
        _check_keys(ctx, sch, shp, {"on_s", "off_s", "offset_s"})
        schedule = Schedule(
            on_s=_num(ctx, sch, "on_s", shp, math.inf, MIN_GATE_S),
            off_s=_num(ctx, sch, "off_s", shp, 0.0, 0),
            offset_s=_num(ctx, sch, "offset_s", shp, 0.0, -MAX_OFFSET_S, MAX_OFFSET_S),
        )
        if 0 < schedule.off_s < MIN_GATE_S:
            raise ctx.error(
                (*shp, "off_s"), f"expected 0 or at least {MIN_GATE_S} s, got {schedule.off_s:g}"
            )
        emitters.append(
            Emitter(
                id=et["id"],
                name=_str(ctx, et, "name", ep, et["id"]),
                lat_deg=lat,
                lon_deg=lon,
                height_m=_num(ctx, et, "height_m", ep, 10.0, 0),
                freq_hz=_num(ctx, et, "freq_hz", ep, lo=0, lo_open=True),
                waveform=_str(ctx, et, "waveform", ep, choices=WAVEFORMS),
                erp_w=_num(ctx, et, "erp_w", ep, lo=0, lo_open=True),
                deviation_hz=_num(ctx, et, "deviation_hz", ep, 75e3, 0),
                modulation_index=_num(ctx, et, "modulation_index", ep, 0.5, 0, 1),
                bandwidth_hz=_num(ctx, et, "bandwidth_hz", ep, 200e3, 0, lo_open=True),
                audio=_str(
                    ctx, et, "audio", ep, "speech", ("speech", "music", "speech+music", "tone")
                ),
                schedule=schedule,
                route=route,
            )
        )

    pt = _table(ctx, doc, "propagation", ())
    pp = ("propagation",)
    _check_keys(ctx, pt, pp, {"model", "exponent", "reflectors", "blockers", "multipath"})
    walls: dict[str, list[Wall]] = {"reflectors": [], "blockers": []}
    for key, kind in (("reflectors", "reflector"), ("blockers", "blocker")):
        items = pt.get(key, [])
        if not isinstance(items, list):
            raise ctx.error((*pp, key), f"expected [[propagation.{key}]] tables, got {items!r}")
        for j, w in enumerate(items):
            if not isinstance(w, dict):
                raise ctx.error((*pp, key, j), f"expected a table, got {w!r}")
            walls[key].append(_wall(ctx, w, (*pp, key, j), kind))
    propagation = Propagation(
        model=_str(ctx, pt, "model", pp, "two-ray", PATH_LOSS_MODELS),
        exponent=_num(ctx, pt, "exponent", pp, 2.0, 1.5, 6),
        reflectors=tuple(walls["reflectors"]),
        blockers=tuple(walls["blockers"]),
        multipath=_bool(ctx, pt, "multipath", pp, True),
    )

    registry_path, registry = _registry(ctx, doc.get("registry"), base_dir)

    cal = _table(ctx, doc, "calibration", ())
    _check_keys(ctx, cal, ("calibration",), {"source"})
    cal_src = _str(ctx, cal, "source", ("calibration",), None) if cal else None
    if cal_src is not None and cal_src not in {e.id for e in emitters}:
        raise ctx.error(
            ("calibration", "source"),
            f"expected the id of an emitter ({', '.join(e.id for e in emitters)}), got {cal_src!r}",
        )

    for s in stations:
        lo_f = s.receiver.center_freq_hz - s.receiver.sample_rate_hz / 2
        hi_f = s.receiver.center_freq_hz + s.receiver.sample_rate_hz / 2
        if cal_src is not None:
            f = next(e for e in emitters if e.id == cal_src).freq_hz
            if not lo_f < f < hi_f:
                raise ctx.error(
                    ("calibration", "source"),
                    f"calibration emitter at {f:g} Hz is outside station {s.id!r}'s band "
                    f"{lo_f:g}..{hi_f:g} Hz",
                )

    _check_size(ctx, duration, stations)
    return Scenario(
        name=_str(ctx, meta, "name", mp),
        description=_str(ctx, meta, "description", mp, ""),
        start_utc_ns=start_ns,
        duration_s=duration,
        seed=_int(ctx, meta, "seed", mp, 0),
        area=area,
        stations=tuple(stations),
        emitters=tuple(emitters),
        propagation=propagation,
        registry_path=registry_path,
        calibration_source=cal_src,
        source=source,
        registry=registry,
    )


def _check_size(ctx: _Ctx, duration_s: float, stations: list[Station]) -> None:
    """At least one frame per station; the samples written stay within the memory budget."""
    total = 0.0
    for i, s in enumerate(stations):
        rx = s.receiver
        frame_s = rx.frame_samples / rx.sample_rate_hz
        if duration_s < frame_s:
            raise ctx.error(
                ("scenario", "duration_s"),
                f"{duration_s:g} s is shorter than one frame of station {s.id!r} "
                f"({rx.frame_samples} samples at {rx.sample_rate_hz:g} Hz = {frame_s:.3g} s)",
            )
        frames = math.floor((duration_s - frame_s) / rx.frame_interval_s) + 1
        total += frames * rx.frame_samples * s.array.num_elements * 8.0
        if not math.isfinite(total) or total > validate.memory_budget_bytes():
            path = ("scenario", "duration_s") if i == 0 else ("stations", i)
            validate.budget(
                total, f"{ctx.where(path)}: the recordings of {duration_s:g} s", ConfigError
            )


def builtin_path(name: str) -> Path:
    """Path of a scenario shipped in the package (`saint-malo`)."""
    if name not in BUILTIN:
        raise InputError(f"no built-in scenario {name!r}; expected one of {', '.join(BUILTIN)}")
    with resources.as_file(resources.files("unseen.scenarios") / f"{name}.toml") as p:
        return Path(p)


def builtin_text(name: str = "saint-malo") -> str:
    """The TOML text of a built-in scenario, to print and copy."""
    return builtin_path(name).read_text(encoding="utf-8")


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file (or a built-in name such as `saint-malo`)."""
    p = Path(path)
    if not p.exists() and str(path) in BUILTIN:
        p = builtin_path(str(path))
    if not p.is_file():
        raise InputError(f"{path}: no such scenario file (or built-in {', '.join(BUILTIN)})")
    text = validate.read_text(p, "scenario", ConfigError, max_bytes=4 * 1024**2)
    return parse_scenario(text, str(p), p.parent)


def with_overrides(sc: Scenario, **changes: Any) -> Scenario:
    """A copy of `sc` with top-level fields replaced (e.g. duration_s, propagation)."""
    from dataclasses import replace

    return replace(sc, **changes)
