"""Sources: recordings on disk (SigMF, raw, WAV incl. KiwiSDR) and live receivers → IqBlock frames.

    rec = open_recording("capture.sigmf-meta")
    for block in rec.frames(4096):   # IqBlock, samples (channels, 4096) complex64
        ...

Data is memory-mapped window by window, so memory stays bounded for multi-GB files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from unseen.errors import InputError
from unseen.sources.raw import read_raw
from unseen.sources.recording import Datatype, Recording, parse_datatype
from unseen.sources.sigmf import (
    MAX_RATE_HZ,
    MIN_RATE_HZ,
    read_channels,
    read_sigmf,
    write_sigmf,
)
from unseen.sources.wav import read_wav
from unseen.types import Site

__all__ = [
    "Datatype",
    "Recording",
    "open_recording",
    "parse_datatype",
    "read_raw",
    "read_sigmf",
    "read_wav",
    "write_sigmf",
]

FORMATS = ("sigmf", "raw", "wav")
_SIGMF_EXT = (".sigmf-meta", ".sigmf-data", ".sigmf", ".sigmf-collection")


def guess_format(path: str | Path) -> str:
    """'sigmf', 'wav' or 'raw' from the file name."""
    name = Path(path).name.lower()
    if name.endswith(_SIGMF_EXT):
        return "sigmf"
    if name.endswith(".wav"):
        return "wav"
    return "raw"


def open_recording(
    path: str | Path | Sequence[str | Path],
    *,
    fmt: str | None = None,
    sample_rate_hz: float | None = None,
    center_freq_hz: float | None = None,
    datatype: str | None = None,
    num_channels: int = 1,
    utc_ns: int | None = None,
    site: Site | None = None,
) -> Recording:
    """Open a recording for streaming: SigMF (meta, data, archive, collection), raw or WAV.

    `path` may be a list of single-channel SigMF recordings of one array (one file per
    channel). `fmt` overrides the guess from the extension. For raw files `sample_rate_hz` is
    required and `datatype` defaults from the extension (.cf32 .cs16 .cs8 .cu8 ...). Values
    given here override the file's metadata (rate, centre frequency), except a KiwiSDR file's
    GNSS-fitted rate, which is overridden only by an explicit `sample_rate_hz`.
    """
    if not isinstance(path, (str, Path)):
        paths = [Path(p) for p in path]
        if not paths:
            raise InputError("open_recording: empty list of paths")
        if len(paths) > 1:
            return read_channels(paths, sample_rate_hz=sample_rate_hz)
        path = paths[0]
    path = Path(path)
    for name, v in (("sample_rate_hz", sample_rate_hz), ("center_freq_hz", center_freq_hz)):
        if v is not None and not math.isfinite(v):
            raise InputError(f"{path}: {name}={v!r}; expected a finite number")
    if sample_rate_hz is not None and not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
        raise InputError(
            f"{path}: sample_rate_hz={sample_rate_hz!r}; expected {MIN_RATE_HZ:g} to "
            f"{MAX_RATE_HZ:g} Hz"
        )
    fmt = (fmt or guess_format(path)).lower()
    if fmt not in FORMATS:
        raise InputError(f"{path}: format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.exists() and fmt != "sigmf":
        raise FileNotFoundError(2, "no such file", str(path))
    if fmt == "raw":
        return read_raw(
            path,
            sample_rate_hz=sample_rate_hz,
            center_freq_hz=center_freq_hz,
            datatype=datatype,
            num_channels=num_channels,
            utc_ns=utc_ns,
            site=site,
        )
    if fmt == "wav":
        rec = read_wav(path, center_freq_hz=center_freq_hz, sample_rate_hz=sample_rate_hz)
    else:
        rec = read_sigmf(path, sample_rate_hz=sample_rate_hz)
        if center_freq_hz is not None:
            rec.center_freq_hz = float(center_freq_hz)
            rec.captures = [
                {k: v for k, v in c.items() if k != "core:frequency"} for c in rec.captures
            ]
    if utc_ns is not None:
        rec.utc_ns = int(utc_ns)
        rec.captures = [{k: v for k, v in c.items() if k != "unseen:utc_ns"} for c in rec.captures]
        rec.timestamps = None
    if site is not None:
        rec.site = site
        rec.station = site.station
    return rec
