"""SigMF recordings (via the `sigmf` library): .sigmf-meta/.sigmf-data pairs, .sigmf archives,
.sigmf-collection files of one recording per channel; and `write_sigmf`.

Multi-channel data is interleaved per sample (`core:num_channels`), read as (channels, n).
Absolute time comes from each capture's `core:datetime` (nanosecond precision kept), the receiver
position from `core:geolocation` (GeoJSON point [lon, lat, alt]).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tarfile
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

from unseen.errors import FileFormatError, InputError
from unseen.sources.recording import Recording, Segment, Stream, parse_datatype
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
    m = _DT.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise FileFormatError(
            f"{where}: {text!r} is not an ISO-8601 time like 2020-01-01T00:00:00Z"
        )
    try:
        base = datetime.fromisoformat(m.group(1) + (m.group(3) or "Z").replace("Z", "+00:00"))
        sec = int(base.timestamp())
    except (ValueError, OverflowError, OSError) as exc:
        raise FileFormatError(
            f"{where}: {text!r} is not a valid date and time ({exc}); expected an ISO-8601 "
            "time like 2020-01-01T00:00:00Z"
        ) from None
    frac = (m.group(2) or "").ljust(9, "0")
    return sec * 1_000_000_000 + int(frac or 0)


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


MAX_META_BYTES = 64 * 2**20
MIN_RATE_HZ, MAX_RATE_HZ = 1e-3, 1e12


def _read_small(path: Path) -> bytes:
    """The file's bytes, or just over MAX_META_BYTES of them (read(n) would allocate n)."""
    with path.open("rb") as fh:
        return fh.read(min(MAX_META_BYTES + 1, max(0, path.stat().st_size)))


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _uint(obj: dict, key: str, where: str, default: int = 0) -> int:
    v = obj.get(key, default)
    if not _is_int(v) or v < 0 or v >= 2**63:
        raise FileFormatError(f"{where}.{key}={v!r}; expected a non-negative integer")
    return int(v)


def _number(obj: dict, key: str, where: str, lo: float, hi: float) -> float | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FileFormatError(f"{where}.{key}={v!r}; expected a number")
    f = float(v) if abs(v) < 1e308 else float("inf")
    if not (math.isfinite(f) and lo <= f <= hi):
        raise FileFormatError(f"{where}.{key}={v!r}; expected a number in [{lo:g}, {hi:g}]")
    return f


def parse_meta(raw: bytes, where: str) -> dict:
    """SigMF metadata bytes → the checked JSON document (UTF-8 JSON object with a `global`
    object, `captures` and `annotations` lists of objects), or FileFormatError naming the fault."""
    if len(raw) > MAX_META_BYTES:
        raise FileFormatError(
            f"{where}: metadata is {len(raw)} bytes; more than the {MAX_META_BYTES} accepted"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{where}: metadata is not UTF-8 text (byte {exc.start}: "
            f"{raw[exc.start : exc.start + 1]!r})"
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{where}: metadata is not valid JSON ({exc})") from None
    except (RecursionError, ValueError) as exc:
        raise FileFormatError(f"{where}: metadata JSON cannot be read ({exc})") from None
    if not isinstance(doc, dict):
        raise FileFormatError(
            f"{where}: metadata is a JSON {type(doc).__name__}; expected an object"
        )
    if not isinstance(doc.get("global"), dict):
        raise FileFormatError(f"{where}: the 'global' object is missing (required)")
    for key in ("captures", "annotations"):
        v = doc.get(key, [])
        if not isinstance(v, list) or not all(isinstance(c, dict) for c in v):
            raise FileFormatError(
                f"{where}: '{key}' is {type(v).__name__}; expected a list of objects"
            )
    return doc


def _checked_global(glob: dict, where: str) -> tuple:
    """(datatype, channels, rate or None, trailing bytes) from the global object, checked."""
    w = f"{where}: global"
    if glob.get(K_DATATYPE) is None:
        raise FileFormatError(f"{where}: global field {K_DATATYPE} is missing (required)")
    if not isinstance(glob[K_DATATYPE], str):
        raise FileFormatError(f"{w}.{K_DATATYPE}={glob[K_DATATYPE]!r}; expected a string")
    dt = parse_datatype(glob[K_DATATYPE], where=f"{w} {K_DATATYPE}")
    channels = _uint(glob, K_CHANNELS, w, 1)
    if not 1 <= channels <= 65536:
        raise FileFormatError(f"{w}.{K_CHANNELS}={channels}; expected an integer in [1, 65536]")
    rate = _number(glob, K_RATE, w, MIN_RATE_HZ, MAX_RATE_HZ)
    return dt, channels, rate, _uint(glob, "core:trailing_bytes", w)


def _segments(
    captures: list, data_offset: int, data_bytes: int, trailing: int, frame: int, where: str
) -> tuple[Segment, ...]:
    """Byte segments of the samples: capture i starts after the headers of captures 0..i, at
    byte Σ_{j≤i} header_bytes_j + sample_start_i·frame (SigMF non-conforming datasets)."""
    end = data_bytes - trailing
    if end < 0:
        raise FileFormatError(
            f"{where}: global.core:trailing_bytes={trailing} exceeds the {data_bytes}-byte data"
        )
    segs = []
    head = 0
    for i, cap in enumerate(captures):
        head += _uint(cap, "core:header_bytes", f"{where}: captures[{i}]")
        start = _uint(cap, K_START, f"{where}: captures[{i}]")
        lo = head + start * frame
        if lo > end:
            raise FileFormatError(
                f"{where}: captures[{i}] starts at byte {lo} (core:header_bytes "
                f"{cap.get('core:header_bytes', 0)}, core:sample_start {start}) but the data "
                f"holds {end} bytes"
            )
        if i + 1 < len(captures):
            nxt = _uint(captures[i + 1], K_START, f"{where}: captures[{i + 1}]")
            if nxt < start:
                raise FileFormatError(
                    f"{where}: captures[{i + 1}].core:sample_start={nxt} before captures[{i}]'s "
                    f"{start}; expected ascending"
                )
            count = nxt - start
            if lo + count * frame > end:
                raise FileFormatError(
                    f"{where}: captures[{i}] needs bytes up to {lo + count * frame} but the data "
                    f"holds {end} (core:header_bytes / core:sample_start too large?)"
                )
        else:
            count, rem = divmod(end - lo, frame)
            if rem:
                raise FileFormatError(
                    f"{where}: data holds {end - lo} bytes after its last header, not a whole "
                    f"number of {frame}-byte samples: truncated data file?"
                )
        segs.append(Segment(data_offset + lo, count))
    return tuple(segs)


def _sha512(path: Path, offset: int, size: int) -> str:
    h = hashlib.sha512()
    with path.open("rb") as fh:
        fh.seek(offset)
        left = size
        while left > 0:
            buf = fh.read(min(left, 1 << 22))
            if not buf:
                break
            h.update(buf)
            left -= len(buf)
    return h.hexdigest()


def _from_archive(path: Path) -> tuple[bytes, Path, int, int, str]:
    """(metadata bytes, archive path, data offset, data size, member name) of the first
    recording in a `.sigmf` tar archive, read in place (nothing extracted)."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = tar.getmembers()
            metas = [m for m in members if m.isfile() and m.name.endswith(META)]
            if not metas:
                raise FileFormatError(f"{path}: the archive holds no {META} file")
            meta = metas[0]
            if meta.size > MAX_META_BYTES:
                raise FileFormatError(f"{path}: {meta.name} is {meta.size} bytes; too large")
            fh = tar.extractfile(meta)
            raw = fh.read() if fh is not None else b""
            name = meta.name[: -len(META)] + DATA
            data = [m for m in members if m.isfile() and m.name == name]
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FileFormatError(f"{path}: not a readable SigMF archive (tar): {exc}") from None
    if len(raw) != meta.size:
        raise FileFormatError(f"{path}: {meta.name} is cut short (truncated archive)")
    where = f"{path}:{meta.name}"
    if not data:
        return raw, path, 0, -1, where
    d = data[0]
    if d.offset_data + d.size > path.stat().st_size:
        raise FileFormatError(
            f"{path}: {d.name} declares {d.size} bytes but the archive ends first (truncated)"
        )
    return raw, path, int(d.offset_data), int(d.size), where


def _data_file(meta: Path, glob: dict, where: str) -> Path:
    name = glob.get("core:dataset")
    if name is None:
        return meta.with_name(meta.name[: -len(META)] + DATA)
    if (
        not isinstance(name, str)
        or not name
        or "/" in name
        or "\\" in name
        or name in (".", "..")
        or "\x00" in name
    ):
        raise FileFormatError(
            f"{where}: global.core:dataset={name!r}; expected a file name in the metadata's "
            "folder (no path separators)"
        )
    return meta.with_name(name)


@lru_cache(maxsize=1)
def _schema_validator():
    """The SigMF JSON-schema validator (sigmf's schema), built once: `jsonschema.validate`
    re-checks the schema itself on every call (~0.3 s)."""
    import jsonschema
    from sigmf.schema import get_schema

    schema = get_schema()
    return jsonschema.validators.validator_for(schema)(schema)


@lru_cache(maxsize=1)
def _fast_validator():
    """jsonschema-rs's compiled validator of the same schema file (sigmf's `schema-meta.json`,
    read without importing sigmf), or None. `unseen doa` starts ~0.08 s of CPU sooner: this
    imports and builds in ~0.025 s where sigmf + jsonschema take ~0.1 s. It only accepts;
    whatever it rejects goes to jsonschema, the reference, for the message."""
    try:
        import importlib.util

        import jsonschema_rs

        spec = importlib.util.find_spec("sigmf")
        folder = Path(next(iter(spec.submodule_search_locations)))
        schema = json.loads((folder / "schema-meta.json").read_bytes())
        return jsonschema_rs.validator_for(schema, validate_formats=False)
    except Exception:  # not installed, another layout or API: the reference path only
        return None


def _validate(doc: dict, where: str) -> None:
    fast = _fast_validator()
    try:
        if fast is not None and fast.is_valid(doc):
            return
    except Exception:  # e.g. nesting deeper than it recurses: the reference decides
        pass
    import jsonschema

    try:
        err = jsonschema.exceptions.best_match(_schema_validator().iter_errors(doc))
    except RecursionError:
        raise FileFormatError(f"{where}: metadata nested too deeply") from None
    if err is not None:
        path = "/".join(str(p) for p in err.absolute_path)
        msg = " ".join(str(err.message).split())[:300]
        raise FileFormatError(
            f"{where}: invalid SigMF metadata{' at ' + path if path else ''}: {msg}"
        )


def read_sigmf(
    path: str | Path, *, checksum: bool = False, sample_rate_hz: float | None = None
) -> Recording:
    """Open a SigMF recording (`.sigmf-meta`, `.sigmf-data`, `.sigmf` archive or collection).

    Captures' `core:header_bytes` and the global `core:trailing_bytes` are skipped (SigMF
    non-conforming datasets, `core:dataset` naming the data file). `core:sample_rate` is
    optional in SigMF: `sample_rate_hz` supplies (or overrides) it. `checksum=True` verifies
    `core:sha512` (reads the whole data once).
    """
    path = Path(path)
    if path.name.endswith(COLLECTION):
        return read_collection(path, checksum=checksum, sample_rate_hz=sample_rate_hz)
    if path.name.endswith(ARCHIVE):
        if not path.exists():
            raise FileNotFoundError(2, "no such file", str(path))
        raw, data_file, data_offset, data_size, where = _from_archive(path)
        doc = parse_meta(raw, where)
    else:
        target = _base(path).with_name(_base(path).name + META)
        if not target.exists():
            raise FileNotFoundError(2, "no such file", str(target))
        where = str(target)
        try:
            raw = _read_small(target)
        except OSError as exc:
            raise FileFormatError(f"{where}: cannot read the metadata ({exc})") from None
        doc = parse_meta(raw, where)
        data_file = _data_file(target, doc["global"], where)
        data_offset, data_size = 0, -1
    glob = doc["global"]
    dt, channels, rate, trailing = _checked_global(glob, where)
    if glob.get("core:metadata_only") is True:
        raise FileFormatError(
            f"{where}: a metadata-only recording (global.core:metadata_only = true): it is "
            "distributed without samples, so there is nothing to read"
        )
    _validate(doc, where)
    if sample_rate_hz is not None:
        rate = float(sample_rate_hz)
    if rate is None:
        raise FileFormatError(
            f"{where}: global.core:sample_rate is absent (optional in SigMF) and no rate was "
            "given; add it to the metadata, or give it (--sample-rate-hz of detect, doa, "
            "calibrate and tdoa; sample_rate_hz= in Python)"
        )
    if data_size < 0:
        if not data_file.is_file():
            raise FileFormatError(f"{where}: its data file {data_file.name} is missing")
        data_size = data_file.stat().st_size
    captures = [dict(c) for c in doc.get("captures") or []] or [{K_START: 0}]
    frame = dt.sample_bytes * channels
    segs = _segments(captures, data_offset, data_size, trailing, frame, where)
    if checksum and glob.get("core:sha512") is not None:
        got = _sha512(data_file, data_offset, data_size)
        if got != str(glob["core:sha512"]).lower():
            raise FileFormatError(
                f"{where}: global.core:sha512 does not match the data ({got[:16]}…): the data "
                "file is damaged or not this recording's"
            )
    stream = Stream(data_file, dt, channels, segs)
    glob = dict(glob)
    glob[K_RATE] = rate
    return _recording(path, where, glob, captures, doc.get("annotations") or [], (stream,), dt.name)


def _recording(path, where, glob, captures, annotations, streams, dtype_name) -> Recording:
    n = streams[0].num_samples
    for i, cap in enumerate(captures):
        start = _uint(cap, K_START, f"{where}: captures[{i}]")
        if start > n:
            raise FileFormatError(
                f"{where}: captures[{i}].core:sample_start={start} but the data holds {n} "
                "samples (metadata/data length mismatch)"
            )
        if cap.get(K_FREQ) is not None:
            _number(cap, K_FREQ, f"{where}: captures[{i}]", -1e15, 1e15)
        if cap.get(K_DATETIME) is not None:
            cap["unseen:utc_ns"] = datetime2ns(
                cap[K_DATETIME], where=f"{where}: captures[{i}].core:datetime"
            )
    for i, ann in enumerate(annotations):
        w = f"{where}: annotations[{i}]"
        end = _uint(ann, K_START, w) + _uint(ann, K_COUNT, w)
        if end > n:
            raise FileFormatError(
                f"{w} ends at sample {end} but the data holds {n} samples "
                "(metadata/data length mismatch)"
            )
    station = str(glob.get(K_STATION) or _base(Path(where.split(":")[0])).name)
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


def read_collection(
    path: Path, *, checksum: bool = False, sample_rate_hz: float | None = None
) -> Recording:
    """A `.sigmf-collection` whose `core:streams` are single-channel recordings of one array
    (SigMF recording objects {"name", "hash"} or [name, hash] tuples; names are base names in
    the collection's folder)."""
    path = Path(path)
    try:
        raw = _read_small(path)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FileFormatError(f"{path}: cannot read the collection ({exc})") from None
    if len(raw) > MAX_META_BYTES:
        raise FileFormatError(f"{path}: collection larger than {MAX_META_BYTES} bytes")
    try:
        meta = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise FileFormatError(f"{path}: collection is not UTF-8 JSON ({exc})") from None
    coll = meta.get("collection") if isinstance(meta, dict) else None
    streams = coll.get("core:streams") if isinstance(coll, dict) else None
    if not isinstance(streams, list) or not streams:
        raise FileFormatError(
            f"{path}: collection.core:streams is {streams!r:.80}; expected a non-empty list of "
            '{"name": ..., "hash": ...} objects'
        )
    if len(streams) > 4096:
        raise FileFormatError(f"{path}: {len(streams)} streams; at most 4096 accepted")
    names, hashes = [], []
    for i, st in enumerate(streams):
        name, digest = (
            (st.get("name"), st.get("hash"))
            if isinstance(st, dict)
            else (st[0], st[1] if len(st) > 1 else None)
            if isinstance(st, list) and st
            else (None, None)
        )
        if (
            not isinstance(name, str)
            or not name
            or "/" in name
            or "\\" in name
            or name
            in (
                ".",
                "..",
            )
            or "\x00" in name
        ):
            raise FileFormatError(
                f"{path}: collection.core:streams[{i}].name={name!r}; expected the base name "
                "of a recording in the collection's folder"
            )
        names.append(name)
        hashes.append(digest)
    metas = [path.parent / (n if n.endswith(META) else n + META) for n in names]
    if checksum:
        for m, digest in zip(metas, hashes, strict=True):
            bad = digest is not None and m.exists()
            if bad and _sha512(m, 0, m.stat().st_size) != str(digest).lower():
                raise FileFormatError(
                    f"{path}: the hash of {m.name} does not match its collection entry"
                )
    for i, m in enumerate(metas):
        if not m.is_file():
            raise FileFormatError(
                f"{path}: collection.core:streams[{i}] names {names[i]!r} but {m.name} is missing"
            )
    rec = read_channels(metas, checksum=checksum, sample_rate_hz=sample_rate_hz)
    rec.path = path
    rec.extensions.update({k: v for k, v in coll.items() if not k.startswith("core:")})
    return rec


def read_channels(
    paths: Sequence[str | Path], *, checksum: bool = False, sample_rate_hz: float | None = None
) -> Recording:
    """Several recordings of the same instants, one per channel (or channel group), as one.

    They must agree on sample rate, centre frequency and length; channel order is path order.
    """
    recs = [read_sigmf(p, checksum=checksum, sample_rate_hz=sample_rate_hz) for p in paths]
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
