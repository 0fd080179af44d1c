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
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
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


MAX_FIELD_CHARS = 64 * 1024  # a CSV field longer than this is not an observation value
MAX_LINE_CHARS = 1 << 20  # nor a JSON line longer than 1 MiB
NEEDED = ("kind", "station", "lat", "lon")


class _Table:
    """The records of one CSV (lists, with `header`) or JSON Lines (dicts) stream."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.stream, self.name = stream, name
        self.header: list[str] | None = None
        self.col: dict[str, int] = {}

    def where(self, line: int) -> str:
        return f"{self.name}: line {line}"

    def records(self) -> Iterator[tuple[Any, int]]:
        """(record, line number) of each non-blank record; FileFormatError on structural faults."""
        name = self.name
        lines = _bounded(self.stream, name)
        buffered: list[str] = []
        first = ""
        for line in lines:
            if not buffered:
                line = line.removeprefix("\ufeff")  # Excel's "CSV UTF-8" byte-order mark
            buffered.append(line)
            if line.strip():
                first = line.lstrip()
                break
        if not first:
            raise FileFormatError(f"{name}: no observations (empty input)")
        if first.startswith("{"):
            for n, line in enumerate(chain(buffered, lines), start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise FileFormatError(f"{name}: line {n}: not valid JSON: {exc.msg}") from None
                except RecursionError:
                    raise FileFormatError(f"{name}: line {n}: JSON nested too deeply") from None
                except ValueError as exc:  # e.g. an integer of more than 4300 digits
                    raise FileFormatError(
                        f"{name}: line {n}: not valid JSON: {str(exc).splitlines()[0]}"
                    ) from None
                if not isinstance(obj, dict):
                    raise FileFormatError(f"{name}: line {n}: expected a JSON object")
                yield obj, n
            return
        reader = csv.reader(chain(buffered, lines))
        try:
            header = [h.strip() for h in next(reader)]
            dup = sorted({h for h in header if header.count(h) > 1 and h})
            if dup:
                raise FileFormatError(
                    f"{name}: line 1: CSV header repeats column(s) {', '.join(dup)}: "
                    "each column must appear once"
                )
            missing = [c for c in NEEDED if c not in header]
            if missing:
                raise FileFormatError(
                    f"{name}: line 1: CSV header lacks column(s) {', '.join(missing)} "
                    f"(got {', '.join(header)[:200]}); a header row is required"
                )
            self.header = header
            self.col = {h: i for i, h in enumerate(header)}
            width = len(header)
            for row in reader:
                if len(row) > width:
                    raise FileFormatError(
                        f"{name}: line {reader.line_num}: more fields than the header has columns"
                    )
                if row:
                    yield row, reader.line_num
        except csv.Error as exc:
            raise FileFormatError(f"{name}: line {reader.line_num}: not valid CSV: {exc}") from None

    def as_dict(self, rec: Any) -> dict[str, Any]:
        if isinstance(rec, dict):
            return rec
        return dict(zip(self.header or (), rec, strict=False))

    def keyed(self) -> Iterator[tuple[str, Any, int]]:
        """(group, record, line number) of every record."""
        records = self.records()
        for rec, n in records:
            if isinstance(rec, dict):
                yield row_group(rec, self.where(n)), rec, n
                for rec, n in records:
                    yield row_group(rec, self.where(n)), rec, n
                return
            gi = self.col.get("group")
            if gi is None:
                yield "", rec, n
                for rec, n in records:
                    yield "", rec, n
                return
            yield (rec[gi].strip() if gi < len(rec) else ""), rec, n
            for rec, n in records:
                yield (rec[gi].strip() if gi < len(rec) else ""), rec, n


def _bounded(stream: IO[str], name: str) -> Iterator[str]:
    """Lines of at most MAX_LINE_CHARS (FileFormatError past it: no unbounded reads)."""
    n = 0
    read = stream.readline
    try:
        while line := read(MAX_LINE_CHARS + 1):
            n += 1
            if len(line) > MAX_LINE_CHARS:
                raise FileFormatError(
                    f"{name}: line {n}: longer than {MAX_LINE_CHARS} characters (a CSV or JSON "
                    "line of one observation is far shorter)"
                )
            yield line
    except UnicodeDecodeError:
        raise FileFormatError(f"{name}: not a UTF-8 text file") from None


class _FieldLimit:
    """CSV field size limit for the duration of a read (csv's limit is process-wide)."""

    def __enter__(self) -> None:
        self.old = csv.field_size_limit(MAX_FIELD_CHARS)

    def __exit__(self, *exc: object) -> None:
        csv.field_size_limit(self.old)


@contextmanager
def _opened(source: str | Path | IO[str]) -> Iterator[tuple[IO[str], str]]:
    """A seekable text stream of `source` (stdin and pipes are spooled to a temporary file)."""
    if isinstance(source, str | Path):
        if str(source) == "-":
            with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as tmp:
                _spool(sys.stdin, tmp, "<stdin>")
                yield tmp, "<stdin>"
            return
        path = Path(source)
        try:
            fh = path.open(newline="", encoding="utf-8-sig")
        except IsADirectoryError:
            raise FileFormatError(f"{path}: is a directory, not an observation file") from None
        with fh:
            yield fh, str(path)
        return
    name = getattr(source, "name", "<stream>")
    name = name if isinstance(name, str) else "<stream>"
    try:
        seekable = source.seekable()
    except (AttributeError, OSError, ValueError):
        seekable = False
    if seekable:
        yield source, name
        return
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as tmp:
        _spool(source, tmp, name)
        yield tmp, name


def _spool(src: IO[str], dst: IO[str], name: str) -> None:
    try:
        while chunk := src.read(1 << 16):
            dst.write(chunk)
    except UnicodeDecodeError:
        raise FileFormatError(f"{name}: not a UTF-8 text file") from None
    dst.seek(0)


def iter_groups(
    source: str | Path | IO[str],
) -> Iterator[tuple[str, list[tuple[Any, int]], _Table]]:
    """Each group's (record, line) list once its last row is read, in first-appearance order.

    Two passes over a seekable input (stdin is spooled to a temporary file): the first checks
    the structure (a structural fault raises FileFormatError before any group is returned) and
    counts each group's rows, so memory holds only the groups not yet complete (one, when a
    file keeps each group's rows together) whatever the file's size.
    """
    with _FieldLimit(), _opened(source) as (stream, name):
        start = stream.tell()
        left: dict[str, int] = {}
        for g, _, _ in _Table(stream, name).keyed():
            left[g] = left.get(g, 0) + 1
        if not left:
            raise FileFormatError(f"{name}: no observations (a header but no rows)")
        stream.seek(start)
        table = _Table(stream, name)
        pending: dict[str, list[tuple[Any, int]]] = {}
        done: dict[str, list[tuple[Any, int]]] = {}
        order = iter(list(left))
        head = next(order, None)
        for g, rec, n in table.keyed():
            recs = pending.get(g)
            if recs is None:
                recs = pending[g] = []
            recs.append((rec, n))
            left[g] -= 1
            if left[g]:
                continue
            del left[g]
            done[g] = pending.pop(g)
            while head is not None and head in done:
                yield head, done.pop(head), table
                head = next(order, None)


def observations_of(table: _Table, recs: list[tuple[Any, int]]) -> list[Observation]:
    """Typed observations of one group's records (InputError naming the first bad row)."""
    return [row_to_observation(table.as_dict(rec), table.where(n))[1] for rec, n in recs]


def read_observations(
    source: str | Path | IO[str], errors: dict[str, UnseenError] | None = None
) -> dict[str, list[Observation]]:
    """Observations grouped by `group` from a CSV/JSONL path, '-' (stdin) or a text stream.

    Without `errors`, the first bad row raises FileFormatError. With it, a bad value in a row
    whose group is known (range, NaN/Inf, not a number, a missing column, an unknown kind) puts
    that group's first error in `errors[group]` and leaves the group out; the other groups are
    read. Structural problems (no header, not UTF-8, bad JSON, empty input, an unreadable group,
    a repeated column, an over-long field or line) always raise. A UTF-8 byte-order mark is
    accepted.
    """
    groups: dict[str, list[Observation]] = {}
    failed: dict[str, UnseenError] = {}
    for g, recs, table in iter_groups(source):
        try:
            groups[g] = observations_of(table, recs)
        except InputError as exc:
            if errors is None:
                raise
            failed[g] = exc
    if errors is not None:
        errors.update(failed)
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
        "chi2": fix.extra.get("chi2"),
        "dof": fix.extra.get("dof"),
        "p_value": fix.extra.get("p_value"),
        "rejected_index": list(fix.extra.get("rejected_index", [])),
    }
