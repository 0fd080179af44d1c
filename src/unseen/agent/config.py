"""station.toml: what a DF station agent needs (schema documented in README, "Station agent").

```toml
[station]                       # required
name = "dinard"                 # as registered on the server (POST /api/v1/stations)
lat = 48.6325                   # fixed position, WGS84 degrees (fallback when no GNSS)
lon = -2.0600
alt_m = 12.0
heading_deg = 0.0               # array heading, degrees clockwise from true north

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
url = "http://kraken.local:8081/DOA_value.html"   # or a local file path
format = "xml"                  # xml (doa.xml, DF Aggregator) | csv (Kraken App line)
poll_s = 1.0
sigma_deg = 5.0                 # bearing standard deviation to report
min_confidence = 0.0            # drop readings below (0..1)
use_gnss = true                 # take position/heading from the Kraken output when valid
```
For `kind = "file"` (one recording), `"directory"` (recordings appearing in a folder; each is
processed once its size stops changing) or `"soapy"` (live): `path`, `frame` (samples per DOA
frame, 4096), `method` (music), `sources` (1), `array` (spec such as "uca:5:1.0" when the
recording has no `unseen:array`), `freq_hz` and `bandwidth_hz` (channel to DF; default the
whole band), `registry` (licence CSV for the detections), `calibration` (JSON from
`unseen calibrate`, applied to every frame), `min_confidence`, `poll_s`; soapy
adds `args`, `sample_rate_hz`, `center_freq_hz`, `gain_db`. Relative paths are relative to the
station.toml file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unseen.errors import ConfigError

KINDS = ("file", "directory", "soapy", "kraken")


@dataclass(frozen=True)
class StationConfig:
    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    heading_deg: float
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
    return v


def _range(v: float, lo: float, hi: float, file: Path, where: str) -> float:
    if not lo <= v <= hi:
        raise ConfigError(f"{file}: {where} = {v!r}: expected a value in [{lo}, {hi}]")
    return v


def load_config(path: str | os.PathLike) -> StationConfig:
    """Read and check a station.toml; errors name the file, section and key."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: no such station config file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    for sec in ("station", "server", "source"):
        if not isinstance(data.get(sec), dict):
            raise ConfigError(f"{file}: missing section [{sec}]")
    st, sv, src = data["station"], data["server"], dict(data["source"])
    sp, rt = data.get("spool", {}), data.get("retry", {})
    name = _get(st, "name", str, file, "station")
    lat = _range(_get(st, "lat", float, file, "station"), -90, 90, file, "[station] lat")
    lon = _range(_get(st, "lon", float, file, "station"), -180, 180, file, "[station] lon")
    alt = _get(st, "alt_m", float, file, "station", 0.0)
    heading = _get(st, "heading_deg", float, file, "station", 0.0) % 360.0
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
    hunt = _get(sv, "hunt", str, file, "server")
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
        if key in src and isinstance(src[key], str) and not Path(src[key]).is_absolute():
            src[key] = str(file.parent / src[key])
    if kind == "kraken":
        u = _get(src, "url", str, file, "source")
        if "://" not in u and not Path(u).is_absolute():
            src["url"] = str(file.parent / u)
        fmt = _get(src, "format", str, file, "source", "xml")
        if fmt not in ("xml", "csv"):
            raise ConfigError(f"{file}: [source] format = {fmt!r}: expected 'xml' or 'csv'")
        _range(_get(src, "poll_s", float, file, "source", 1.0), 0.01, 3600, file, "[source] poll_s")
        _range(
            _get(src, "sigma_deg", float, file, "source", 5.0),
            0.01,
            180,
            file,
            "[source] sigma_deg",
        )
        _range(
            _get(src, "min_confidence", float, file, "source", 0.0),
            0,
            1,
            file,
            "[source] min_confidence",
        )
        _get(src, "use_gnss", bool, file, "source", True)
    else:
        _get(src, "path", str, file, "source", "")
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
