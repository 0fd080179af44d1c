"""station.toml: what a DF station agent needs (schema documented in README, "Station agent").

```toml
[station]                       # required
name = "dinard"                 # as registered on the server (POST /api/v1/stations)
lat = 48.6325                   # fixed position, WGS84 degrees (fallback when no GNSS)
lon = -2.0600
alt_m = 12.0
heading_deg = 0.0               # array heading, ° from true north (omit: the array file's)

[server]                        # required
url = "http://127.0.0.1:8000"
token_env = "UNSEEN_STATION_TOKEN"   # or token = "..." (the station token)
hunt = "saint-malo"

[spool]                         # optional
path = "spool.sqlite"           # default: <user data dir>/unseen/spool-<name>.sqlite
batch = 100                     # observations per POST (1..1000)

[retry]                         # optional
initial_s = 0.5                 # first back-off; doubles each failure, with jitter
max_s = 60.0                    # cap
timeout_s = 10.0                # HTTP timeout

[source]                        # required; kind = file | directory | soapy | kraken
kind = "kraken"
url = "http://kraken.local:8081/DOA_value.html"   # or doa.xml, or a local file path
poll_s = 1.0                    # XML or CSV is told from the content (`format` is ignored)
sigma_deg = 5.0                 # bearing standard deviation to report (≥ min_sigma_deg)
min_sigma_deg = 0.5             # no bearing's sigma below this, any source kind
confidence_full_db = 10.0       # Kraken PAPR (dB) that maps to confidence 1.0
min_confidence = 0.0            # drop readings below (0..1): PAPR < min_confidence × full_db
csv_convention = "auto"         # auto: θ or 360 − θ per line from its DOA spectrum
use_gnss = true                 # take position/heading from the Kraken output when it has a fix
```
For `kind = "file"` (one recording), `"directory"` (recordings appearing in a folder; each is
processed once its size stops changing) or `"soapy"` (live): `path`, `frame` (samples per DOA frame
when a recording is one capture, 4096), `method` (music), `array` (spec such as "uca:5:1.0" when
the recording has no `unseen:array`), `registry` (licence CSV), `freq_hz` and `bandwidth_hz` (the
channel to DF, 200 kHz wide by default), `calibration`, `sigma_floor_deg`, `min_sigma_deg`,
`min_confidence`, `poll_s`; soapy adds `args`, `sample_rate_hz`, `center_freq_hz`, `gain_db`,
`sources` and `window_s` (10 s: live IQ is cut into windows of this length, each processed as a
recording is; memory channels × rate × window_s × 8 bytes, checked at start-up against
UNSEEN_MAX_MEMORY_GB; time from the device's clock when it gives UTC, else the host clock at the
first sample, with a warning). Recordings and live windows go through the hunt's station chain
(`unseen.pipeline.chain`): without `freq_hz` the target is the strongest carrier `registry` does
not license, DFed only in frames where it is detected on the air; with neither, the whole band in
every frame. `calibration`: a JSON from `unseen calibrate` applied to every frame; when absent the
array is calibrated at start-up on the strongest licensed transmitter whose site the registry gives
(logged); `"none"` turns that off. `sigma_floor_deg` (2.0) is the hunt's floor on a bearing's σ;
`min_sigma_deg` (0.5, every kind) the floor below which no bearing's σ goes: an array's model error
is never zero.

Checked at start-up against the API's limits: finite numbers, lat/lon ranges, alt_m in
[−1000, 100000] m, hunt name `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` (not "." or ".."), station
name printable without slashes (≤ 64). Relative paths are relative to the station.toml file.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unseen.errors import ConfigError
from unseen.locate.floors import TRUSTED_SIGMA_DEG

KINDS = ("file", "directory", "soapy", "kraken")
HUNT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_C = r"/\\\x00-\x1f\x7f-\x9f"  # no slash, backslash or control character (the API's names)
STATION_PATTERN = re.compile(rf"^[^ {_C}]([^{_C}]{{0,62}}[^ {_C}])?$")
METHODS = ("music", "capon", "bartlett")


@dataclass(frozen=True)
class StationConfig:
    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    heading_deg: float | None
    url: str
    token: str
    hunt: str
    spool_path: Path
    batch: int
    initial_s: float
    max_s: float
    timeout_s: float
    source: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _get(tbl: dict, key: str, kind: type, file: Path, section: str, default: Any = ...):
    if key not in tbl:
        if default is ...:
            raise ConfigError(f"{file}: [{section}] {key}: missing; expected a {kind.__name__}")
        return default
    v = tbl[key]
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise ConfigError(f"{file}: [{section}] {key} = {v!r}: expected a {kind.__name__}")
    if kind is float and not math.isfinite(v):
        raise ConfigError(f"{file}: [{section}] {key} = {v!r}: expected a finite number")
    return v


def _name(v: str, pattern: re.Pattern, file: Path, where: str, expected: str) -> str:
    if not pattern.fullmatch(v) or v in (".", ".."):
        raise ConfigError(f"{file}: {where} = {v!r}: expected {expected}")
    return v


def _range(v: float, lo: float, hi: float, file: Path, where: str) -> float:
    if not lo <= v <= hi:
        raise ConfigError(f"{file}: {where} = {v!r}: expected a value in [{lo}, {hi}]")
    return v


def load_config(path: str | os.PathLike) -> StationConfig:
    """Read and check a station.toml; errors name the file, section and key."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: no such station config file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {' '.join(str(exc).split())}") from None
    for sec in ("station", "server", "source"):
        if not isinstance(data.get(sec), dict):
            raise ConfigError(f"{file}: missing section [{sec}]")
    st, sv, src = data["station"], data["server"], dict(data["source"])
    sp, rt = data.get("spool", {}), data.get("retry", {})
    name = _name(_get(st, "name", str, file, "station"), STATION_PATTERN, file,
                 "[station] name", "1-64 printable characters, no slash")  # fmt: skip
    lat = _range(_get(st, "lat", float, file, "station"), -90, 90, file, "[station] lat")
    lon = _range(_get(st, "lon", float, file, "station"), -180, 180, file, "[station] lon")
    alt = _range(_get(st, "alt_m", float, file, "station", 0.0), -1000, 100_000, file,
                 "[station] alt_m")  # fmt: skip
    heading = st.get("heading_deg")
    if heading is not None:
        heading = _get(st, "heading_deg", float, file, "station") % 360.0
        heading = 0.0 if heading == 360.0 else heading  # -1e-300 % 360 rounds to 360
    url = _get(sv, "url", str, file, "server")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{file}: [server] url = {url!r}: expected http://HOST:PORT")
    token = sv.get("token")
    if token is None:
        env = _get(sv, "token_env", str, file, "server", "UNSEEN_STATION_TOKEN")
        token = os.environ.get(env)
        if not token:
            raise ConfigError(
                f'{file}: [server] needs token = "..." or the environment variable {env}'
            )
    elif not isinstance(token, str) or not token:
        raise ConfigError(f"{file}: [server] token: expected a non-empty string")
    hunt = _name(
        _get(sv, "hunt", str, file, "server"), HUNT_PATTERN, file, "[server] hunt",
        "letters, digits, '.', '_', '-' (1-64, starting with a letter or digit)",
    )  # fmt: skip
    default_spool = None
    if "path" not in sp:
        import platformdirs

        default_spool = (
            Path(platformdirs.user_data_dir("unseen", appauthor=False)) / f"spool-{name}.sqlite"
        )
    spool = Path(_get(sp, "path", str, file, "spool", str(default_spool)))
    if not spool.is_absolute():
        spool = file.parent / spool
    batch = int(_range(_get(sp, "batch", int, file, "spool", 100), 1, 1000, file, "[spool] batch"))
    initial = _range(
        _get(rt, "initial_s", float, file, "retry", 0.5), 0.001, 3600, file, "[retry] initial_s"
    )
    cap = _range(
        _get(rt, "max_s", float, file, "retry", 60.0), initial, 86400, file, "[retry] max_s"
    )
    timeout = _range(
        _get(rt, "timeout_s", float, file, "retry", 10.0), 0.1, 600, file, "[retry] timeout_s"
    )
    kind = _get(src, "kind", str, file, "source")
    if kind not in KINDS:
        raise ConfigError(f"{file}: [source] kind = {kind!r}: expected one of {', '.join(KINDS)}")
    for key in ("path", "registry", "calibration"):
        if key in src and not isinstance(src[key], str):
            raise ConfigError(f"{file}: [source] {key} = {src[key]!r}: expected a string")
        if key == "calibration" and src.get(key) == "none":
            continue
        if key in src and not Path(src[key]).is_absolute():
            src[key] = str(file.parent / src[key])
    _range(_get(src, "min_sigma_deg", float, file, "source", 0.5), 0.001, 180, file,
           "[source] min_sigma_deg")  # fmt: skip
    _range(_get(src, "min_confidence", float, file, "source", 0.0), 0, 1, file,
           "[source] min_confidence")  # fmt: skip
    _range(_get(src, "poll_s", float, file, "source", 1.0), 0.01, 3600, file, "[source] poll_s")
    if kind == "kraken":
        u = _get(src, "url", str, file, "source")
        if "://" not in u and not Path(u).is_absolute():
            src["url"] = str(file.parent / u)
        fmt = _get(src, "format", str, file, "source", "auto")
        if fmt not in ("auto", "xml", "csv"):
            raise ConfigError(f"{file}: [source] format = {fmt!r}: expected auto, xml or csv")
        conv = _get(src, "csv_convention", str, file, "source", "auto")
        if conv not in ("auto", "theta", "360-theta"):
            raise ConfigError(f"{file}: [source] csv_convention = {conv!r}: expected auto, "
                              "theta or 360-theta")  # fmt: skip
        _range(_get(src, "sigma_deg", float, file, "source", 5.0), 0.01, 180, file,
               "[source] sigma_deg")  # fmt: skip
        _range(_get(src, "confidence_full_db", float, file, "source", 10.0), 0.01, 1000, file,
               "[source] confidence_full_db")  # fmt: skip
        _get(src, "use_gnss", bool, file, "source", True)
    else:
        _get(src, "path", str, file, "source", "")
        _iq_source(src, file)
    return StationConfig(
        name=name,
        lat_deg=lat,
        lon_deg=lon,
        alt_m=alt,
        heading_deg=heading,
        url=url.rstrip("/"),
        token=token,
        hunt=hunt,
        spool_path=spool,
        batch=batch,
        initial_s=initial,
        max_s=cap,
        timeout_s=timeout,
        source=src,
        path=file,
    )


def _iq_source(src: dict, file: Path) -> None:
    """Check the [source] keys of the IQ kinds (file, directory, soapy)."""
    if "freq_hz" in src:
        _range(_get(src, "freq_hz", float, file, "source"), 1.0, 1e12, file, "[source] freq_hz")
    _range(_get(src, "bandwidth_hz", float, file, "source", 200e3), 1.0, 1e10, file,
           "[source] bandwidth_hz")  # fmt: skip
    _range(_get(src, "frame", int, file, "source", 4096), 64, 1 << 24, file, "[source] frame")
    _range(_get(src, "sources", int, file, "source", 1), 1, 16, file, "[source] sources")
    _range(_get(src, "sigma_floor_deg", float, file, "source", TRUSTED_SIGMA_DEG), 0, 180, file,
           "[source] sigma_floor_deg")  # fmt: skip
    m = _get(src, "method", str, file, "source", "music")
    if m not in METHODS:
        raise ConfigError(f"{file}: [source] method = {m!r}: expected one of {', '.join(METHODS)}")
    for key in ("array", "args"):
        _get(src, key, str, file, "source", "")
    if src["kind"] == "soapy":
        _range(_get(src, "sample_rate_hz", float, file, "source", 2.4e6), 1.0, 1e10, file,
               "[source] sample_rate_hz")  # fmt: skip
        if "center_freq_hz" in src:
            _range(_get(src, "center_freq_hz", float, file, "source"), 1.0, 1e12, file,
                   "[source] center_freq_hz")  # fmt: skip
        _range(_get(src, "window_s", float, file, "source", 10.0), 0.001, 3600, file,
               "[source] window_s")  # fmt: skip
        if "gain_db" in src:
            _range(_get(src, "gain_db", float, file, "source"), -100, 200, file,
                   "[source] gain_db")  # fmt: skip
