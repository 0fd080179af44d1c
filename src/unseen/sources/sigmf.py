"""SigMF recordings (via the `sigmf` library): .sigmf-meta/.sigmf-data pairs, .sigmf archives,
.sigmf-collection files of one recording per channel; and `write_sigmf`.

Multi-channel data is interleaved per sample (`core:num_channels`), read as (channels, n).
Absolute time comes from each capture's `core:datetime` (nanosecond precision kept), the receiver
position from `core:geolocation` (GeoJSON point [lon, lat, alt]).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from unseen.errors import FileFormatError, InputError
from unseen.sources.recording import (
    Recording,
    Stream,
    contiguous_stream,
    parse_datatype,
)
from unseen.types import Site

META = ".sigmf-meta"
DATA = ".sigmf-data"
ARCHIVE = ".sigmf"
COLLECTION = ".sigmf-collection"
K_DATATYPE = "core:datatype"
K_RATE = "core:sample_rate"
K_CHANNELS = "core:num_channels"
K_GEO = "core:geolocation"
K_DATETIME = "core:datetime"
K_FREQ = "core:frequency"
K_START = "core:sample_start"
K_COUNT = "core:sample_count"
K_STATION = "unseen:station"
EXTENSION = {"name": "unseen", "version": "0.1.0", "optional": True}

_DT = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$")


def datetime2ns(text: str, *, where: str = K_DATETIME) -> int:
    """ISO-8601 UTC time (`2020-08-13T06:52:20.123456789Z`) → POSIX nanoseconds, exactly."""
    m = _DT.match(str(text).strip())
    if m is None:
        raise FileFormatError(
            f"{where}: {text!r} is not an ISO-8601 time like 2020-01-01T00:00:00Z"
        )
    base = datetime.fromisoformat(m.group(1) + (m.group(3) or "Z").replace("Z", "+00:00"))
    frac = (m.group(2) or "").ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(frac or 0)


def ns2datetime(utc_ns: int) -> str:
    """POSIX nanoseconds → ISO-8601 UTC with nanoseconds, as SigMF `core:datetime` wants."""
    sec, ns = divmod(int(utc_ns), 1_000_000_000)
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def _base(path: Path) -> Path:
    name = path.name
    for ext in (META, DATA, ARCHIVE, COLLECTION):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)])
    return path


def site_from_geolocation(geo: object, station: str, *, where: str) -> Site:
    """GeoJSON point {"type": "Point", "coordinates": [lon, lat, alt?]} → Site."""
    try:
        assert isinstance(geo, dict) and geo.get("type", "Point") == "Point"
        coords = [float(c) for c in geo["coordinates"]]
        lon, lat = coords[0], coords[1]
        alt = coords[2] if len(coords) > 2 else 0.0
        assert -90 <= lat <= 90 and -180 <= lon <= 360
    except (AssertionError, KeyError, TypeError, ValueError, IndexError):
        raise FileFormatError(
            f"{where}: core:geolocation {geo!r}; expected a GeoJSON point with coordinates "
            "[lon, lat(, alt)] in degrees"
        ) from None
    return Site(station, lat, lon, alt)


def _load(meta_or_archive: Path, *, checksum: bool):
    import sigmf
    from sigmf.error import SigMFError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sf = sigmf.fromfile(str(meta_or_archive), skip_checksum=not checksum)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{meta_or_archive}: metadata is not valid JSON ({exc})") from None
    except (SigMFError, ValueError, KeyError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FileFormatError(f"{meta_or_archive}: not a readable SigMF recording: {exc}") from None
    for w in caught:
        msg = str(w.message)
        if "integer number of samples" in msg:
            raise FileFormatError(
                f"{meta_or_archive}: data length is not a whole number of samples (truncated "
                "data file?)"
            )
        if "Failed to create data array" in msg:
            raise FileFormatError(f"{meta_or_archive}: cannot map the data file")
    return sf


def _precheck(meta: Path) -> None:
    """Check what the sigmf library would otherwise fail on obscurely: required global fields,
    the datatype, and a data file holding whole samples."""
    try:
        doc = json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{meta}: metadata is not valid JSON ({exc})") from None
    glob = doc.get("global") if isinstance(doc, dict) else None
    if not isinstance(glob, dict):
        raise FileFormatError(f"{meta}: the 'global' object is missing (required)")
    for key in (K_DATATYPE, K_RATE):
        if glob.get(key) is None:
            raise FileFormatError(f"{meta}: global field {key} is missing (required)")
    dt = parse_datatype(glob[K_DATATYPE], where=f"{meta}: global {K_DATATYPE}")
    channels = glob.get(K_CHANNELS, 1)
    if not isinstance(channels, int) or channels < 1:
        raise FileFormatError(f"{meta}: global {K_CHANNELS}={channels!r}; expected an integer ≥ 1")
    data = meta.with_name(meta.name[: -len(META)] + DATA)
    if glob.get("core:dataset"):
        data = meta.with_name(str(glob["core:dataset"]))
    if not data.exists():
        raise FileFormatError(f"{meta}: its data file {data.name} is missing")
    caps = doc.get("captures") or [{}]
    head = int(caps[0].get("core:header_bytes", 0)) if isinstance(caps[0], dict) else 0
    nbytes = data.stat().st_size - head - int(glob.get("core:trailing_bytes", 0))
    frame = dt.sample_bytes * channels
    if nbytes % frame:
        raise FileFormatError(
            f"{meta}: data file {data.name} holds {nbytes} bytes, not a whole number of "
            f"{frame}-byte samples ({dt.name} × {channels} channels): truncated data file?"
        )


def _validate(sf, where: str) -> None:
    try:
        sf.validate()
    except Exception as exc:
        path = "/".join(str(p) for p in getattr(exc, "absolute_path", []) or [])
        msg = getattr(exc, "message", str(exc))
        raise FileFormatError(
            f"{where}: invalid SigMF metadata{' at ' + path if path else ''}: {msg}"
        ) from None


def read_sigmf(path: str | Path, *, checksum: bool = False) -> Recording:
    """Open a SigMF recording (`.sigmf-meta`, `.sigmf-data`, `.sigmf` archive or collection).

    `checksum=True` verifies `core:sha512` (reads the whole file once).
    """
    path = Path(path)
    if path.name.endswith(COLLECTION):
        return read_collection(path, checksum=checksum)
    if path.name.endswith(ARCHIVE):
        target = path
    else:
        target = _base(path).with_name(_base(path).name + META)
        if not target.exists():
            raise FileNotFoundError(2, "no such file", str(target))
    if target.name.endswith(META):
        _precheck(target)
    sf = _load(target, checksum=checksum)
    from sigmf.sigmffile import SigMFCollection

    if isinstance(sf, SigMFCollection):
        return read_collection(path, checksum=checksum)
    _validate(sf, str(target))
    glob = dict(sf.get_global_info())
    where = str(target)
    dtype_name = glob.get(K_DATATYPE)
    if dtype_name is None:
        raise FileFormatError(f"{where}: global field core:datatype is missing (required)")
    dt = parse_datatype(dtype_name, where=f"{where}: global core:datatype")
    rate = glob.get(K_RATE)
    if rate is None:
        raise FileFormatError(
            f"{where}: global field core:sample_rate is missing; unseen needs the sample rate"
        )
    channels = int(glob.get(K_CHANNELS, 1) or 1)
    if channels < 1:
        raise FileFormatError(f"{where}: core:num_channels={channels}; expected ≥ 1")
    data_file = Path(sf.data_file) if sf.data_file is not None else None
    if data_file is None or not data_file.exists():
        raise FileFormatError(f"{where}: its data file ({_base(target).name}{DATA}) is missing")
    captures = [dict(c) for c in sf.get_captures()] or [{K_START: 0}]
    header = sum(int(c.get("core:header_bytes", 0)) for c in captures)
    trailing = int(glob.get("core:trailing_bytes", 0))
    offset = int(sf.data_offset) + (header if len(captures) == 1 else 0)
    nbytes = sf.data_size_bytes
    if nbytes is None:
        nbytes = data_file.stat().st_size - offset - trailing
    stream = contiguous_stream(data_file, dt, channels, offset, int(nbytes), where=where)
    return _recording(path, target, glob, captures, list(sf.get_annotations()), (stream,), dt.name)


def _recording(path, where, glob, captures, annotations, streams, dtype_name) -> Recording:
    n = streams[0].num_samples
    for i, cap in enumerate(captures):
        start = int(cap.get(K_START, 0))
        if start > n or start < 0:
            raise FileFormatError(
                f"{where}: captures[{i}].core:sample_start={start} but the data holds {n} "
                "samples (metadata/data length mismatch)"
            )
        if cap.get(K_DATETIME) is not None:
            cap["unseen:utc_ns"] = datetime2ns(
                cap[K_DATETIME], where=f"{where}: captures[{i}].core:datetime"
            )
    for i, ann in enumerate(annotations):
        end = int(ann.get(K_START, 0)) + int(ann.get(K_COUNT, 0))
        if end > n:
            raise FileFormatError(
                f"{where}: annotations[{i}] ends at sample {end} but the data holds {n} samples "
                "(metadata/data length mismatch)"
            )
    station = str(glob.get(K_STATION) or _base(Path(where)).name)
    site = None
    if glob.get(K_GEO) is not None:
        site = site_from_geolocation(glob[K_GEO], station, where=str(where))
    first = captures[0]
    freq = first.get(K_FREQ)
    extensions = {k: v for k, v in glob.items() if not k.startswith("core:")}
    return Recording(
        path=Path(path),
        sample_rate_hz=float(glob[K_RATE]),
        center_freq_hz=float(freq) if freq is not None else 0.0,
        streams=tuple(streams),
        utc_ns=first.get("unseen:utc_ns") if int(first.get(K_START, 0)) == 0 else None,
        site=site,
        extensions=extensions,
        annotations=[dict(a) for a in annotations],
        captures=captures,
        datatype=dtype_name,
    )


def read_collection(path: Path, *, checksum: bool = False) -> Recording:
    """A `.sigmf-collection` whose `core:streams` are single-channel recordings of one array."""
    try:
        meta = json.loads(Path(path).read_text())
        streams = meta["collection"]["core:streams"]
        names = [s["name"] if isinstance(s, dict) else str(s) for s in streams]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FileFormatError(
            f"{path}: collection.core:streams missing or invalid ({exc}); expected a list of "
            "{{'name': ...}}"
        ) from None
    if not names:
        raise FileFormatError(f"{path}: collection.core:streams is empty")
    metas = [path.parent / (n if n.endswith(META) else n + META) for n in names]
    rec = read_channels(metas, checksum=checksum)
    rec.path = Path(path)
    coll = meta["collection"]
    rec.extensions.update({k: v for k, v in coll.items() if not k.startswith("core:")})
    return rec


def read_channels(paths: Sequence[str | Path], *, checksum: bool = False) -> Recording:
    """Several recordings of the same instants, one per channel (or channel group), as one.

    They must agree on sample rate, centre frequency and length; channel order is path order.
    """
    recs = [read_sigmf(p, checksum=checksum) for p in paths]
    first = recs[0]
    for r in recs[1:]:
        for attr in ("sample_rate_hz", "center_freq_hz", "num_samples"):
            if getattr(r, attr) != getattr(first, attr):
                raise FileFormatError(
                    f"{r.path}: {attr}={getattr(r, attr)} differs from {first.path} "
                    f"({getattr(first, attr)}); channel files must match"
                )
        if first.utc_ns is not None and r.utc_ns is not None and r.utc_ns != first.utc_ns:
            raise FileFormatError(
                f"{r.path}: core:datetime differs from {first.path}; channel files must start "
                "at the same instant"
            )
    streams: list[Stream] = [s for r in recs for s in r.streams]
    ext = {}
    for r in recs:
        ext.update(r.extensions)
    return Recording(
        path=first.path,
        sample_rate_hz=first.sample_rate_hz,
        center_freq_hz=first.center_freq_hz,
        streams=tuple(streams),
        utc_ns=first.utc_ns,
        site=first.site,
        extensions=ext,
        annotations=first.annotations,
        captures=first.captures,
        datatype=first.datatype,
    )


def _encode(samples: np.ndarray, datatype: str) -> np.ndarray:
    """(channels, n) complex → interleaved components of `datatype` (ints clipped, scaled)."""
    dt = parse_datatype(datatype)
    x = np.asarray(samples).T  # (n, channels)
    if dt.is_complex:
        comp = np.empty((*x.shape, 2), np.float64)
        comp[..., 0] = x.real
        comp[..., 1] = x.imag
    else:
        comp = np.asarray(x.real, np.float64)
    if dt.component.kind != "f":
        info = np.iinfo(dt.component)
        comp = np.clip(np.round(comp / dt.scale + dt.offset), info.min, info.max)
    return comp.astype(dt.component).ravel()


def write_sigmf(
    base: str | Path,
    samples: np.ndarray,
    sample_rate_hz: float,
    center_freq_hz: float,
    *,
    datatype: str = "cf32_le",
    utc_ns: int | None = None,
    site: Site | None = None,
    extensions: dict | None = None,
    annotations: list[dict] | None = None,
    captures: list[dict] | None = None,
    archive: bool = False,
    split_channels: bool = False,
) -> Path:
    """Write samples (channels, n) (or (n,)) as a SigMF recording; return the `.sigmf-meta` path.

    `archive=True` writes one `.sigmf` tar and returns its path. `split_channels=True` writes one
    single-channel recording per channel (`base-ch0` ...) plus `base.sigmf-collection`, and
    returns the collection path. Integer datatypes scale [-1, 1) to the full range and clip.
    `extensions` are extra global keys (e.g. ``{"unseen:array": {...}}``); `site` becomes
    `core:geolocation` and `unseen:station`.
    """
    from sigmf import SigMFFile

    base = _base(Path(base))
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"samples shape {x.shape}; expected (channels, n)")
    if not (np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise InputError(f"sample_rate_hz={sample_rate_hz!r}; expected a positive number")
    if split_channels:
        names = []
        for ch in range(x.shape[0]):
            sub = base.with_name(f"{base.name}-ch{ch}")
            write_sigmf(
                sub,
                x[ch : ch + 1],
                sample_rate_hz,
                center_freq_hz,
                datatype=datatype,
                utc_ns=utc_ns,
                site=site,
                extensions=extensions,
                annotations=annotations,
                captures=captures,
            )
            names.append({"name": sub.name})
        coll = {"collection": {"core:version": "1.2.0", "core:streams": names}}
        out = base.with_name(base.name + COLLECTION)
        out.write_text(json.dumps(coll, indent=2))
        return out
    dt = parse_datatype(datatype)
    base.parent.mkdir(parents=True, exist_ok=True)
    data_path = base.with_name(base.name + DATA)
    _encode(x, dt.name).tofile(data_path)
    glob: dict = {
        K_DATATYPE: dt.name,
        K_RATE: float(sample_rate_hz),
        K_CHANNELS: int(x.shape[0]),
        "core:version": "1.2.0",
        "core:recorder": "unseen",
    }
    if site is not None:
        glob[K_GEO] = {
            "type": "Point",
            "coordinates": [float(site.lon_deg), float(site.lat_deg), float(site.alt_m)],
        }
        glob[K_STATION] = site.station
    if extensions:
        glob.update(extensions)
    if any(k.startswith("unseen:") for k in glob):
        glob["core:extensions"] = [EXTENSION]
    sf = SigMFFile(data_file=data_path, global_info=glob)
    caps = [dict(c) for c in captures] if captures else [{K_START: 0}]
    if utc_ns is not None and K_DATETIME not in caps[0]:
        caps[0][K_DATETIME] = ns2datetime(utc_ns)
    if K_FREQ not in caps[0]:
        caps[0][K_FREQ] = float(center_freq_hz)
    for cap in caps:
        cap = dict(cap)
        start = int(cap.pop(K_START, 0))
        cap.pop("unseen:utc_ns", None)
        sf.add_capture(start, metadata=cap)
    for ann in annotations or []:
        ann = dict(ann)
        sf.add_annotation(int(ann.pop(K_START, 0)), int(ann.pop(K_COUNT, 0)), metadata=ann)
    if archive:
        out = base.with_name(base.name + ARCHIVE)
        sf.tofile(str(out), toarchive=True, overwrite=True)
        data_path.unlink()
        return out
    meta_path = base.with_name(base.name + META)
    sf.tofile(str(meta_path), overwrite=True)
    return meta_path
