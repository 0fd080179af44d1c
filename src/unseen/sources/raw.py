"""Raw interleaved IQ files (rtl_sdr's .cu8, .cs8, .cs16, .cf32 ...) with explicit rate."""

from __future__ import annotations

from pathlib import Path

from unseen.errors import InputError
from unseen.sources.recording import Recording, contiguous_stream, parse_datatype
from unseen.types import Site

EXTENSIONS = {
    ".cf32": "cf32_le",
    ".fc32": "cf32_le",
    ".cfile": "cf32_le",
    ".cf64": "cf64_le",
    ".cs32": "ci32_le",
    ".ci32": "ci32_le",
    ".cs16": "ci16_le",
    ".ci16": "ci16_le",
    ".sc16": "ci16_le",
    ".cs8": "ci8",
    ".ci8": "ci8",
    ".sc8": "ci8",
    ".cu8": "cu8",
    ".cu16": "cu16_le",
}


def read_raw(
    path: str | Path,
    *,
    sample_rate_hz: float | None,
    center_freq_hz: float | None = None,
    datatype: str | None = None,
    num_channels: int = 1,
    utc_ns: int | None = None,
    site: Site | None = None,
) -> Recording:
    """Open a headerless file of interleaved samples (channel-interleaved per sample).

    The datatype comes from `datatype` or the extension (`.cu8` is rtl_sdr's unsigned 8-bit
    I/Q); a raw file carries no metadata, so `sample_rate_hz` is required.
    """
    path = Path(path)
    name = datatype or EXTENSIONS.get(path.suffix.lower())
    if name is None:
        raise InputError(
            f"{path}: cannot tell the datatype of a raw file with extension {path.suffix!r}; "
            f"give datatype= (e.g. cf32_le, ci16_le, ci8, cu8) or use one of "
            f"{', '.join(sorted(EXTENSIONS))}"
        )
    if sample_rate_hz is None:
        raise InputError(f"{path}: a raw IQ file has no metadata; give its sample rate (Hz)")
    if int(num_channels) < 1:
        raise InputError(f"{path}: num_channels={num_channels}; expected ≥ 1")
    if not path.exists():
        raise FileNotFoundError(2, "no such file", str(path))
    dt = parse_datatype(name, where=f"{path}: datatype")
    stream = contiguous_stream(path, dt, int(num_channels))
    return Recording(
        path=path,
        sample_rate_hz=float(sample_rate_hz),
        center_freq_hz=float(center_freq_hz or 0.0),
        streams=(stream,),
        utc_ns=utc_ns,
        site=site,
        datatype=dt.name,
    )
