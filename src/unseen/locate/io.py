"""Observation rows (CSV with a header, or JSON Lines) ↔ observations; fixes → JSON objects.

Every row has `kind` (bearing, tdoa, rssi), `station`, `lat`, `lon`, optional `group` (default:
one group ""), `alt_m` (default 0) and `time_s` (default 0). Bearing rows add `bearing_deg`,
`sigma_deg`, optional `magnetic` (true/false); TDOA rows add `station_b`, `lat_b`, `lon_b`,
`alt_b_m`, `tdoa_s` (arrival at `station` minus arrival at `station_b`), `sigma_s`; RSSI rows add
`rssi_dbm`, `sigma_db`, optional `path_loss_exponent`. `freq_hz` is optional everywhere.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from unseen.errors import FileFormatError, InputError, UnseenError
from unseen.types import Bearing, Fix, Observation, SignalStrength, Site, Tdoa

KINDS = ("bearing", "tdoa", "rssi")
COLUMNS = (
    "kind", "group", "station", "lat", "lon", "alt_m", "time_s", "freq_hz",
    "bearing_deg", "sigma_deg", "magnetic",
    "station_b", "lat_b", "lon_b", "alt_b_m", "tdoa_s", "sigma_s",
    "rssi_dbm", "sigma_db", "path_loss_exponent",
)  # fmt: skip
REQUIRED = {
    "bearing": ("bearing_deg", "sigma_deg"),
    "tdoa": ("station_b", "lat_b", "lon_b", "tdoa_s", "sigma_s"),
    "rssi": ("rssi_dbm", "sigma_db"),
}
TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f", ""}


class _Row:
    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data, self.where = data, where

    def has(self, key: str) -> bool:
        v = self.data.get(key)
        return v is not None and not (isinstance(v, str) and v.strip() == "")

    def text(self, key: str, default: str | None = None) -> str:
        if not self.has(key):
            if default is not None:
                return default
            raise FileFormatError(f"{self.where}: column {key!r} is missing or empty")
        return str(self.data[key]).strip()

    def num(self, key: str, default: float | None = None) -> float:
        if not self.has(key):
            if default is not None:
                return default
            raise FileFormatError(f"{self.where}: column {key!r} is missing or empty")
        v = self.data[key]
        try:
            if isinstance(v, bool):
                raise ValueError
            x = float(v)
        except (TypeError, ValueError):
            raise FileFormatError(
                f"{self.where}: column {key!r}: expected a number, got {v!r}"
            ) from None
        if not math.isfinite(x):
            raise FileFormatError(
                f"{self.where}: column {key!r}: expected a finite number, got {v!r}"
            )
        return x

    def opt(self, key: str) -> float | None:
        return self.num(key) if self.has(key) else None

    def flag(self, key: str) -> bool:
        v = self.data.get(key)
        if isinstance(v, bool):
            return v
        s = "" if v is None else str(v).strip().lower()
        if s in TRUE:
            return True
        if s in FALSE:
            return False
        raise FileFormatError(f"{self.where}: column {key!r}: expected true or false, got {v!r}")

    def latlon(self, lat_key: str, lon_key: str) -> tuple[float, float]:
        lat, lon = self.num(lat_key), self.num(lon_key)
        if abs(lat) > 90:
            raise FileFormatError(
                f"{self.where}: column {lat_key!r}: latitude must be in [-90, 90], got {lat}"
            )
        if abs(lon) > 180:
            raise FileFormatError(
                f"{self.where}: column {lon_key!r}: longitude must be in [-180, 180], got {lon}"
            )
        return lat, lon


def row_group(data: dict[str, Any], where: str = "row") -> str:
    """The row's `group` ("" when absent); FileFormatError when it is not text or an integer."""
    v = data.get("group")
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise FileFormatError(f"{where}: column 'group': expected text, got {v!r}")
    return str(v).strip()


def row_to_observation(data: dict[str, Any], where: str = "row") -> tuple[str, Observation]:
    """(group, observation) from one row; FileFormatError naming `where`, the group and column."""
    group = row_group(data, where)
    if group:
        where = f"{where} (group {group!r})"
    row = _Row(data, where)
    kind = row.text("kind").lower()
    if kind not in KINDS:
        raise FileFormatError(
            f"{where}: column 'kind': expected one of {', '.join(KINDS)}, got {data.get('kind')!r}"
        )
    lat, lon = row.latlon("lat", "lon")
    site = Site(row.text("station"), lat, lon, row.num("alt_m", 0.0))
    time_s = row.num("time_s", 0.0)
    freq = row.opt("freq_hz")
    if kind == "bearing":
        obs: Observation = Bearing(
            site, row.num("bearing_deg"), row.num("sigma_deg"), time_s, freq, row.flag("magnetic")
        )
    elif kind == "tdoa":
        lat_b, lon_b = row.latlon("lat_b", "lon_b")
        site_b = Site(row.text("station_b"), lat_b, lon_b, row.num("alt_b_m", 0.0))
        obs = Tdoa(site, site_b, row.num("tdoa_s"), row.num("sigma_s"), time_s, freq)
    else:
        obs = SignalStrength(
            site, row.num("rssi_dbm"), row.num("sigma_db"), time_s, freq,
            row.opt("path_loss_exponent"),
        )  # fmt: skip
    return group, obs


def _rows(stream: IO[str], name: str) -> Iterator[tuple[dict[str, Any], str]]:
    first = ""
    lines = iter(stream)
    buffered: list[str] = []
    for line in lines:
        buffered.append(line)
        if line.strip():
            first = line.lstrip()
            break
    if not first:
        raise FileFormatError(f"{name}: no observations (empty input)")
    if first.startswith("{"):
        for n, line in enumerate(_chain(buffered, lines), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FileFormatError(f"{name}: line {n}: not valid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise FileFormatError(f"{name}: line {n}: expected a JSON object")
            yield obj, f"{name}: line {n}"
        return
    reader = csv.DictReader(_chain(buffered, lines))
    header = reader.fieldnames or []
    missing = [c for c in ("kind", "station", "lat", "lon") if c not in header]
    if missing:
        raise FileFormatError(
            f"{name}: line 1: CSV header lacks column(s) {', '.join(missing)} "
            f"(got {', '.join(header)}); a header row is required"
        )
    for row in reader:
        if None in row:
            raise FileFormatError(
                f"{name}: line {reader.line_num}: more fields than the header has columns"
            )
        yield row, f"{name}: line {reader.line_num}"


def _chain(head: list[str], tail: Iterable[str]) -> Iterator[str]:
    yield from head
    yield from tail


def read_observations(
    source: str | Path | IO[str], errors: dict[str, UnseenError] | None = None
) -> dict[str, list[Observation]]:
    """Observations grouped by `group` from a CSV/JSONL path, '-' (stdin) or a text stream.

    Without `errors`, the first bad row raises FileFormatError. With it, a bad value in a row
    whose group is known (range, NaN/Inf, not a number, a missing column, an unknown kind) puts
    that group's first error in `errors[group]` and leaves the group out; the other groups are
    read. Structural problems (no header, not UTF-8, bad JSON, empty input, an unreadable group)
    always raise.
    """
    if isinstance(source, str | Path):
        if str(source) == "-":
            return _read(sys.stdin, "<stdin>", errors)
        path = Path(source)
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                return _read(fh, str(path), errors)
        except UnicodeDecodeError:
            raise FileFormatError(f"{path}: not a UTF-8 text file") from None
    return _read(source, getattr(source, "name", "<stream>"), errors)


def _read(
    stream: IO[str], name: str, errors: dict[str, UnseenError] | None
) -> dict[str, list[Observation]]:
    groups: dict[str, list[Observation]] = {}
    failed: dict[str, UnseenError] = {}
    for data, where in _rows(stream, name):
        if errors is None:
            g, obs = row_to_observation(data, where)
        else:
            g = row_group(data, where)
            if g in failed:
                continue
            try:
                _, obs = row_to_observation(data, where)
            except InputError as exc:
                failed[g] = exc
                groups.pop(g, None)
                continue
        groups.setdefault(g, []).append(obs)
    if errors is not None:
        errors.update(failed)
    if not groups and not failed:
        raise FileFormatError(f"{name}: no observations (a header but no rows)")
    return groups


def observation_to_row(obs: Observation, group: str = "") -> dict[str, Any]:
    """The `unseen locate` row of one observation (keys from COLUMNS, only those that apply)."""
    s = obs.site
    row: dict[str, Any] = {"group": group, "station": s.station, "lat": s.lat_deg,
                           "lon": s.lon_deg, "alt_m": s.alt_m, "time_s": obs.time_s}  # fmt: skip
    if isinstance(obs, Bearing):
        row = {"kind": "bearing", **row, "bearing_deg": obs.azimuth_deg,
               "sigma_deg": obs.sigma_deg, "magnetic": obs.magnetic}  # fmt: skip
    elif isinstance(obs, Tdoa):
        b = obs.site_b
        row = {"kind": "tdoa", **row, "station_b": b.station, "lat_b": b.lat_deg,
               "lon_b": b.lon_deg, "alt_b_m": b.alt_m, "tdoa_s": obs.tdoa_s,
               "sigma_s": obs.sigma_s}  # fmt: skip
    elif isinstance(obs, SignalStrength):
        row = {"kind": "rssi", **row, "rssi_dbm": obs.rssi_dbm, "sigma_db": obs.sigma_db}
        if obs.path_loss_exponent is not None:
            row["path_loss_exponent"] = obs.path_loss_exponent
    else:
        raise TypeError(f"not an observation: {type(obs).__name__}")
    if obs.freq_hz is not None:
        row["freq_hz"] = obs.freq_hz
    return row


def _ellipse(e) -> dict[str, float]:
    return {
        "semi_major_m": e.semi_major_m,
        "semi_minor_m": e.semi_minor_m,
        "orientation_deg": e.orientation_deg,
    }


def fix_to_dict(fix: Fix) -> dict[str, Any]:
    """Exactly the `unseen locate --json` output object of one fix."""
    return {
        "group": fix.group,
        "lat": fix.lat_deg,
        "lon": fix.lon_deg,
        "alt_m": fix.alt_m,
        "cov_enu_m2": [list(r) for r in fix.cov_enu_m2],
        "ellipse50": _ellipse(fix.ellipse50),
        "ellipse95": _ellipse(fix.ellipse95),
        "cep50_m": fix.cep50_m,
        "method": fix.method,
        "n_used": fix.n_used,
        "rejected": list(fix.rejected),
        "crb_rmse_m": fix.crb_rmse_m,
    }
