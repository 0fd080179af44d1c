"""A recording on disk: metadata plus memory-mapped sample segments, read as IqBlock frames.

Every format adapter (SigMF, raw, WAV, KiwiSDR) builds a `Recording`: one or more *streams*
(a file holding some of the channels, interleaved per sample) made of *segments* (byte ranges of
consecutive samples). Reads map only the window they need (`np.memmap` with an offset) and drop
it afterwards, so memory stays bounded however large the file is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unseen.errors import FileFormatError, InputError
from unseen.types import IqBlock, Site


@dataclass(frozen=True)
class Datatype:
    """A SigMF datatype: component dtype, complex or real, and the int → [-1, 1) scaling."""

    name: str
    component: np.dtype
    is_complex: bool
    offset: float
    scale: float

    @property
    def sample_bytes(self) -> int:
        return self.component.itemsize * (2 if self.is_complex else 1)


def parse_datatype(name: str, *, where: str = "datatype") -> Datatype:
    """Parse a SigMF datatype string such as `cf32_le`, `ci16_le`, `ci8`, `cu8`, `rf32_le`.

    Integers scale to [-1, 1): signed by 2^(bits-1), unsigned as (x - 2^(bits-1)) / 2^(bits-1).
    """
    text = str(name).strip().lower()
    base, _, endian = text.partition("_")
    ok = len(base) >= 3 and base[0] in "cr" and base[1] in "fiu" and base[2:].isdigit()
    bits = int(base[2:]) if ok else 0
    kind = base[1] if ok else ""
    valid_bits = {"f": (32, 64), "i": (8, 16, 32), "u": (8, 16, 32)}
    if not ok or bits not in valid_bits[kind] or endian not in ("", "le", "be"):
        raise FileFormatError(
            f"{where}: unknown datatype {name!r}; expected a SigMF datatype such as cf32_le, "
            "cf64_le, ci32_le, ci16_le, ci8, cu8, cu16_le or a real r.. type"
        )
    if bits > 8 and endian == "":
        raise FileFormatError(f"{where}: datatype {name!r} needs an endianness suffix _le or _be")
    order = ">" if endian == "be" else "<"
    code = {"f": "f", "i": "i", "u": "u"}[kind]
    comp = np.dtype(f"{order}{code}{bits // 8}")
    if kind == "f":
        offset, scale = 0.0, 1.0
    elif kind == "i":
        offset, scale = 0.0, 1.0 / 2.0 ** (bits - 1)
    else:
        offset, scale = 2.0 ** (bits - 1), 1.0 / 2.0 ** (bits - 1)
    return Datatype(text, comp, base[0] == "c", offset, scale)


@dataclass(frozen=True)
class Segment:
    """`count` consecutive samples starting at byte `offset` of a stream's file."""

    offset: int
    count: int


@dataclass(frozen=True)
class Stream:
    """One file holding `channels` interleaved channels as a sequence of segments."""

    path: Path
    datatype: Datatype
    channels: int
    segments: tuple[Segment, ...]

    @property
    def num_samples(self) -> int:
        return sum(s.count for s in self.segments)


def _convert(raw: np.ndarray, dt: Datatype, channels: int) -> np.ndarray:
    """Raw components (n·channels·(2|1),) → complex64 (channels, n)."""
    if dt.is_complex:
        if dt.component == np.dtype("<f4"):  # cf32_le is complex64 already: a view
            return raw.view(np.complex64).reshape(-1, channels).T
        comp = raw.reshape(-1, channels, 2)
        if dt.component.kind == "f":
            out = np.empty(comp.shape[:2], np.complex64)
            out.real = comp[..., 0]
            out.imag = comp[..., 1]
        else:
            out = np.empty(comp.shape[:2], np.complex64)
            re = comp[..., 0].astype(np.float32)
            im = comp[..., 1].astype(np.float32)
            if dt.offset:
                re -= dt.offset
                im -= dt.offset
            out.real = re * np.float32(dt.scale)
            out.imag = im * np.float32(dt.scale)
    else:
        comp = raw.reshape(-1, channels).astype(np.float32)
        if dt.offset:
            comp -= dt.offset
        out = (comp * np.float32(dt.scale)).astype(np.complex64)
    return out.T


@dataclass
class Recording:
    """A recorded (or streamed) IQ file opened for bounded-memory reading.

    Attributes: `path`, `sample_rate_hz`, `center_freq_hz`, `num_channels`, `num_samples`,
    `utc_ns` (POSIX ns of sample 0, or None), `site` (receiver position, or None),
    `extensions` (non-core SigMF global keys, e.g. ``"unseen:array"``), `annotations` and
    `captures` (SigMF-style lists of dicts; `core:sample_start` indexes samples), `station`.
    """

    path: Path
    sample_rate_hz: float
    center_freq_hz: float
    streams: tuple[Stream, ...]
    utc_ns: int | None = None
    site: Site | None = None
    extensions: dict = field(default_factory=dict)
    annotations: list = field(default_factory=list)
    captures: list = field(default_factory=list)
    datatype: str = "cf32_le"
    timestamps: tuple[np.ndarray, np.ndarray] | None = None
    """Optional per-block time stamps (sample index int64, POSIX ns int64) for sample timing."""
    station: str | None = None
    """Station id: the site's, else one the format names (KiwiSDR file name), else the stem."""

    def __post_init__(self) -> None:
        if self.site is not None:
            self.station = self.site.station
        elif not self.station:
            self.station = _stem(Path(self.path))
        if not (math.isfinite(self.sample_rate_hz) and 1e-3 <= self.sample_rate_hz <= 1e12):
            raise FileFormatError(
                f"{self.path}: sample rate {self.sample_rate_hz!r} Hz; expected 1e-3 to 1e12 Hz"
            )
        counts = {s.num_samples for s in self.streams}
        if len(counts) != 1:
            raise FileFormatError(
                f"{self.path}: channel files hold different sample counts {sorted(counts)}; "
                "expected equal lengths"
            )

    @property
    def num_channels(self) -> int:
        return sum(s.channels for s in self.streams)

    @property
    def num_samples(self) -> int:
        return self.streams[0].num_samples

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz

    def _capture_at(self, index: int) -> dict | None:
        starts = self._starts()
        i = int(np.searchsorted(starts, index, side="right")) - 1
        return self.captures[i] if i >= 0 else None

    def _starts(self) -> np.ndarray:
        key = (id(self.captures), len(self.captures))
        if getattr(self, "_starts_key", None) != key:
            self._starts_cache = np.array(
                [int(c.get("core:sample_start", 0)) for c in self.captures], np.int64
            )
            dated = [
                (int(c.get("core:sample_start", 0)), int(c["unseen:utc_ns"]))
                for c in self.captures
                if c.get("unseen:utc_ns") is not None
            ]
            self._dated_cache = (
                np.array([d[0] for d in dated], np.int64),
                np.array([d[1] for d in dated], np.int64),
            )
            self._starts_key = key
        return self._starts_cache

    def _dated(self) -> tuple[np.ndarray, np.ndarray]:
        """(sample_start, POSIX ns) of the captures that carry a core:datetime."""
        self._starts()
        return self._dated_cache

    def center_freq_at(self, index: int) -> float:
        """Centre frequency (Hz) of the capture segment holding sample `index`."""
        cap = self._capture_at(index)
        if cap is not None and cap.get("core:frequency") is not None:
            return float(cap["core:frequency"])
        return float(self.center_freq_hz)

    def utc_ns_at(self, index: int) -> int | None:
        """POSIX ns of sample `index`: from GNSS block stamps, else the latest capture
        `core:datetime` at or before it (gaps between captures respected), else sample 0's."""
        if self.timestamps is not None:
            return int(self.times_ns(index, 1)[0])
        si, sn = self._dated()
        if len(si) and (self.utc_ns is None or index >= si[0]):
            j = max(0, int(np.searchsorted(si, index, side="right")) - 1)
            return int(sn[j]) + round((index - int(si[j])) * 1e9 / self.sample_rate_hz)
        if self.utc_ns is None:
            return None
        return int(self.utc_ns) + round(index * 1e9 / self.sample_rate_hz)

    def time_s(self, index: int) -> float:
        """Recording time (s) of sample `index` from sample 0: the absolute time difference
        when the recording has one (capture gaps, GNSS stamps), else index / sample rate."""
        t0 = self.utc_ns_at(0)
        if t0 is None:
            return index / self.sample_rate_hz
        return (self.utc_ns_at(index) - t0) / 1e9

    def times_ns(self, start: int = 0, count: int | None = None) -> np.ndarray:
        """POSIX ns (int64) of each sample in [start, start+count).

        With per-block GNSS stamps, time is piecewise linear between stamped samples (so dropped
        blocks and rate drift are followed); otherwise each capture's core:datetime +
        (i − sample_start)/sample_rate_hz (utc_ns + i/sample_rate_hz without one).
        """
        count = self.num_samples - start if count is None else count
        idx = np.arange(start, start + count, dtype=np.int64)
        if self.timestamps is not None:
            si, sn = self.timestamps
            rel = (sn - sn[0]).astype(np.float64)
            t = np.interp(idx, si, rel)
            rate = self.sample_rate_hz
            lo, hi = idx < si[0], idx > si[-1]
            t[lo] = rel[0] + (idx[lo] - si[0]) * 1e9 / rate
            t[hi] = rel[-1] + (idx[hi] - si[-1]) * 1e9 / rate
            return sn[0] + np.round(t).astype(np.int64)
        si, sn = self._dated()
        if len(si) > 1:
            j = np.maximum(np.searchsorted(si, idx, side="right") - 1, 0)
            if self.utc_ns is not None and si[0] > 0:
                before = idx < si[0]
                base = np.where(before, int(self.utc_ns), sn[j])
                ref = np.where(before, 0, si[j])
            else:
                base, ref = sn[j], si[j]
            return base + np.round((idx - ref) * (1e9 / self.sample_rate_hz)).astype(np.int64)
        base = self.utc_ns_at(0)
        if base is None:
            raise InputError(f"{self.path}: recording has no absolute time (no core:datetime)")
        return base + np.round(idx * (1e9 / self.sample_rate_hz)).astype(np.int64)

    def read(self, start: int = 0, count: int | None = None) -> IqBlock:
        """Samples [start, start+count) of every channel as one IqBlock (complex64)."""
        n = self.num_samples
        if count is None:
            count = n - start
        if start < 0 or count < 0 or start + count > n:
            raise InputError(
                f"{self.path}: read of samples [{start}, {start + count}) outside the recording's "
                f"{n} samples"
            )
        out = np.empty((self.num_channels, count), np.complex64)
        row = 0
        for st in self.streams:
            out[row : row + st.channels] = _read_stream(st, start, count)
            row += st.channels
        return IqBlock(
            samples=out,
            sample_rate_hz=float(self.sample_rate_hz),
            center_freq_hz=self.center_freq_at(start),
            start_s=self.time_s(start),
            utc_ns=self.utc_ns_at(start),
            site=self.site,
        )

    def raw_window(self, start: int, count: int) -> tuple[np.ndarray, float, float] | None:
        """Samples [start, start+count) as they lie on disk, unconverted: a read-only memory map
        (count, channels, 2) of the datatype's components (the interleaved layout) and
        (offset, scale) with value = scale·(component − offset). None when the window is not
        one run of native-order cf32/ci16/ci8/cu8 samples in one file (use `read` then)."""
        if len(self.streams) != 1 or count <= 0 or start < 0:
            return None
        st = self.streams[0]
        dt = st.datatype
        if not (dt.is_complex and dt.component.isnative and dt.component.str[1:] in _RAW):
            return None
        pos = 0
        for seg in st.segments:
            if pos <= start and start + count <= pos + seg.count:
                raw = np.memmap(
                    st.path,
                    dtype=dt.component,
                    mode="r",
                    offset=seg.offset + (start - pos) * 2 * st.channels * dt.component.itemsize,
                    shape=(count, st.channels, 2),
                )
                return raw, dt.offset, dt.scale
            pos += seg.count
        return None

    def frames(
        self, frame_len: int, hop: int | None = None, *, start: int = 0, stop: int | None = None
    ) -> Iterator[IqBlock]:
        """Consecutive frames of `frame_len` samples every `hop` (default frame_len) samples.

        A trailing partial frame is dropped; memory use is one frame regardless of file size.
        """
        frame_len = int(frame_len)
        hop = frame_len if hop is None else int(hop)
        if frame_len <= 0 or hop <= 0:
            raise InputError(f"frame_len={frame_len}, hop={hop}: expected positive integers")
        stop = self.num_samples if stop is None else min(int(stop), self.num_samples)
        pos = int(start)
        while pos + frame_len <= stop:
            yield self.read(pos, frame_len)
            pos += hop

    def close(self) -> None:
        """Nothing is held open between reads; present for symmetry with live sources."""

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_RAW = ("f4", "i2", "i1", "u1")
"""Component types the compiled DOA path reads straight from a memory map."""


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".sigmf-meta", ".sigmf-data", ".sigmf-collection", ".sigmf"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return path.stem


def _read_stream(st: Stream, start: int, count: int) -> np.ndarray:
    out = np.empty((st.channels, count), np.complex64)
    comps = (2 if st.datatype.is_complex else 1) * st.channels
    item = st.datatype.component.itemsize
    pos = 0
    filled = 0
    for seg in st.segments:
        lo = max(start, pos)
        hi = min(start + count, pos + seg.count)
        if lo < hi:
            byte0 = seg.offset + (lo - pos) * comps * item
            raw = np.memmap(
                st.path,
                dtype=st.datatype.component,
                mode="r",
                offset=byte0,
                shape=((hi - lo) * comps,),
            )
            out[:, filled : filled + hi - lo] = _convert(raw, st.datatype, st.channels)
            del raw
            filled += hi - lo
        pos += seg.count
        if pos >= start + count:
            break
    return out


def contiguous_stream(
    path: Path,
    datatype: Datatype,
    channels: int,
    offset: int = 0,
    nbytes: int | None = None,
    *,
    where: str | None = None,
) -> Stream:
    """A stream of whole samples from `offset` to the end (or `nbytes`) of `path`.

    A trailing partial sample is an error: it means the data file was truncated.
    """
    size = path.stat().st_size
    if nbytes is None:
        nbytes = size - offset
    if offset + nbytes > size:
        raise FileFormatError(
            f"{where or path}: data ends at byte {size} but {offset + nbytes} bytes were expected"
            " (truncated data file?)"
        )
    frame = datatype.sample_bytes * channels
    n, rem = divmod(nbytes, frame)
    if rem:
        raise FileFormatError(
            f"{where or path}: {nbytes} data bytes is not a whole number of {frame}-byte samples "
            f"({datatype.name} × {channels} channels); the data file looks truncated"
        )
    return Stream(path, datatype, channels, (Segment(offset, n),))
