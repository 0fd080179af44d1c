"""WAV IQ recordings (stereo I/Q as SDR#, HDSDR, GQRX and KiwiSDR write).

Chunks are walked by hand so that KiwiSDR's per-block GNSS stamps (`kiwi` chunks) can be used:
each 10-byte `kiwi` chunk (u8 last-fix, u8 pad, u32 GNSS seconds of week, u32 ns) stamps the
first sample of the `data` chunk after it. Samples are placed on the GNSS time axis by a robust
straight-line fit (stamps that disagree with it — the stale first blocks — are dropped with a
warning); the fitted slope is the true sample rate.
"""

from __future__ import annotations

import re
import struct
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from unseen.errors import FileFormatError
from unseen.sources.recording import Recording, Segment, Stream, parse_datatype

GPS_EPOCH_NS = 315_964_800 * 1_000_000_000  # 1980-01-06T00:00:00Z as POSIX ns
WEEK_NS = 604_800 * 1_000_000_000
# GPS − UTC (leap seconds) from each date on.
LEAP_S = (
    ((1999, 1, 1), 13),
    ((2006, 1, 1), 14),
    ((2009, 1, 1), 15),
    ((2012, 7, 1), 16),
    ((2015, 7, 1), 17),
    ((2017, 1, 1), 18),
)
NO_FIX = 255  # kiwi chunk "last GNSS solution" byte: no solution (hcab14/TDoA proc_kiwi_iq_wav.m)
_NAME_TIME = re.compile(r"(\d{8})[T_](\d{6})Z")
_KIWI_NAME = re.compile(r"^(\d{8}T\d{6}Z)_(\d+)_(.+?)_iq$", re.IGNORECASE)
_NAME_FREQ = re.compile(r"_(\d+(?:\.\d+)?)(k|M)?Hz", re.IGNORECASE)


def gps_utc_offset_s(utc_ns: int) -> int:
    """Leap seconds GPS − UTC at `utc_ns` (18 s since 2017)."""
    off = 13
    for (y, m, d), s in LEAP_S:
        if utc_ns >= int(datetime(y, m, d, tzinfo=UTC).timestamp()) * 1_000_000_000:
            off = s
    return off


def gnss2utc_ns(sow: np.ndarray, ns: np.ndarray, near_utc_ns: int) -> np.ndarray:
    """GNSS seconds-of-week + ns → POSIX ns, the week chosen nearest `near_utc_ns`."""
    leap = gps_utc_offset_s(near_utc_ns) * 1_000_000_000
    gps_near = near_utc_ns + leap - GPS_EPOCH_NS
    week0 = (gps_near // WEEK_NS) * WEEK_NS
    t = week0 + sow.astype(np.int64) * 1_000_000_000 + ns.astype(np.int64)
    t = np.where(t - gps_near > WEEK_NS // 2, t - WEEK_NS, t)
    t = np.where(gps_near - t > WEEK_NS // 2, t + WEEK_NS, t)
    return t + GPS_EPOCH_NS - leap


def _name_time_ns(path: Path) -> int | None:
    m = _NAME_TIME.search(path.name)
    if m is None:
        return None
    dt = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000


def _fmt_datatype(path: Path, fmt: bytes) -> tuple[str, int, float]:
    if len(fmt) < 16:
        raise FileFormatError(f"{path}: fmt chunk is {len(fmt)} bytes; expected at least 16")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    if channels < 2 or channels % 2:
        raise FileFormatError(
            f"{path}: fmt channels={channels}; an IQ WAV needs I and Q as channel pairs "
            "(2 channels per receiver channel) — this looks like an audio recording"
        )
    if tag == 1 and bits in (8, 16, 32):
        name = {8: "cu8", 16: "ci16_le", 32: "ci32_le"}[bits]
    elif tag == 3 and bits in (32, 64):
        name = {32: "cf32_le", 64: "cf64_le"}[bits]
    else:
        raise FileFormatError(
            f"{path}: fmt format tag {tag} with {bits} bits per sample is not supported; "
            "expected PCM 8/16/32-bit or IEEE float 32/64-bit"
        )
    return name, channels // 2, float(rate)


def read_wav(
    path: str | Path,
    *,
    center_freq_hz: float | None = None,
    sample_rate_hz: float | None = None,
    station: str | None = None,
) -> Recording:
    """Open an IQ WAV file; KiwiSDR GNSS stamps (when present) give `times_ns` and the rate."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            raise FileFormatError(f"{path}: not a RIFF/WAVE file (header {head[:12]!r})")
        if head[:4] == b"RIFX":
            raise FileFormatError(f"{path}: big-endian RIFX WAV is not supported")
        fmt = None
        auxi = None
        segments: list[Segment] = []
        stamps: list[tuple[int, int, int]] = []  # (segment index, sow, ns)
        pending = None
        n_kiwi = 0
        n_nofix = 0
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            cid, csize = struct.unpack("<4sI", fh.read(8))
            body = pos + 8
            if cid == b"fmt ":
                fmt = fh.read(min(csize, 64))
            elif cid == b"kiwi":
                n_kiwi += 1
                raw = fh.read(min(csize, 16))
                if csize >= 10 and len(raw) >= 10:
                    pending = (*struct.unpack("<II", raw[2:10]), raw[0])
            elif cid == b"auxi":
                auxi = fh.read(min(csize, 64))
            elif cid == b"data":
                if fmt is None:
                    raise FileFormatError(f"{path}: data chunk at byte {pos} before the fmt chunk")
                avail = min(csize, size - body)
                if avail < csize:
                    warnings.warn(
                        f"{path}: data chunk at byte {pos} declares {csize} bytes but the file "
                        f"ends after {avail}; the truncated tail is dropped",
                        stacklevel=2,
                    )
                if pending is not None and avail == csize:
                    if pending[2] == NO_FIX:
                        n_nofix += 1
                    else:
                        stamps.append((len(segments), pending[0], pending[1]))
                segments.append(Segment(body, avail))
                pending = None
            if csize == 0xFFFFFFFF or csize > size - body:
                break
            pos = body + csize + (csize & 1)
    if fmt is None:
        raise FileFormatError(f"{path}: no fmt chunk; not a valid WAV file")
    if not segments:
        raise FileFormatError(f"{path}: no data chunk; the recording holds no samples")
    name, channels, hdr_rate = _fmt_datatype(path, fmt)
    dt = parse_datatype(name)
    frame = dt.sample_bytes * channels
    segs = [Segment(s.offset, s.count // frame) for s in segments]
    if any(s.count * frame != seg.count for s, seg in zip(segs, segments, strict=True)):
        warnings.warn(
            f"{path}: a data chunk ends mid-sample; the partial sample is dropped", stacklevel=2
        )
    kiwi = _KIWI_NAME.match(path.stem)
    freq = center_freq_hz
    if freq is None and kiwi:
        freq = float(kiwi.group(2))
    if freq is None and auxi is not None and len(auxi) >= 36:
        freq = float(struct.unpack("<I", auxi[32:36])[0])
    if freq is None and (m := _NAME_FREQ.search(path.stem)):
        freq = (
            float(m.group(1))
            * {None: 1.0, "k": 1e3, "m": 1e6}[m.group(2).lower() if m.group(2) else None]
        )
    station = station or (kiwi.group(3) if kiwi else path.stem)
    name_ns = _name_time_ns(path)
    rate = float(sample_rate_hz or hdr_rate)
    timestamps = None
    utc0 = name_ns
    ext: dict = {}
    if not n_kiwi and name_ns is not None and not n_nofix:
        ext["unseen:time_source"] = "file name"
        if kiwi:
            warnings.warn(
                f"{path}: no kiwi GNSS timestamps (no `kiwi` chunks); time from the file name, "
                "1 s resolution",
                stacklevel=2,
            )
    if n_kiwi and n_nofix and len(stamps) < 2:
        warnings.warn(
            f"{path}: KiwiSDR blocks say no GNSS solution (last-fix byte 255 in {n_nofix} of "
            f"{n_nofix + len(stamps)} stamped blocks): its times are not GNSS time; time from "
            "the file name (1 s resolution), not synchronised with other receivers",
            stacklevel=2,
        )
        n_kiwi = 0
        ext["unseen:time_source"] = "no GNSS solution"
        ext["unseen:synchronised"] = False
    elif n_nofix:
        warnings.warn(
            f"{path}: {n_nofix} KiwiSDR block(s) say no GNSS solution (last-fix byte 255): "
            "their stamps are not GNSS time and are ignored",
            stacklevel=2,
        )
    if n_kiwi:
        segs, timestamps, rate = _kiwi_axis(path, segs, stamps, rate, name_ns)
        utc0 = int(timestamps[1][0] - round(timestamps[0][0] * 1e9 / rate))
        if sample_rate_hz is not None:
            rate = float(sample_rate_hz)
    stream = Stream(path, dt, channels, tuple(segs))
    return Recording(
        path=path,
        sample_rate_hz=rate,
        center_freq_hz=float(freq or 0.0),
        streams=(stream,),
        utc_ns=utc0,
        datatype=dt.name,
        timestamps=timestamps,
        station=station,
        extensions={"unseen:header_rate_hz": hdr_rate} if n_kiwi else ext,
    )


def _kiwi_axis(path, segs, stamps, rate, name_ns):
    """Drop stale stamps, trim unstamped edge blocks, fit time = t0 + i / rate."""
    if name_ns is None:
        raise FileFormatError(
            f"{path}: KiwiSDR GNSS stamps give seconds of the week only; the file name must "
            "carry the date (YYYYMMDDTHHMMSSZ) to place them in time"
        )
    starts = np.cumsum([0] + [s.count for s in segs])
    if len(stamps) < 2:
        raise FileFormatError(
            f"{path}: kiwi chunks: only {len(stamps)} GNSS time stamp(s); need at least 2 to "
            "place samples on the GNSS time axis"
        )
    seg_idx = np.array([s[0] for s in stamps])
    t_ns = gnss2utc_ns(np.array([s[1] for s in stamps]), np.array([s[2] for s in stamps]), name_ns)
    si = starts[seg_idx].astype(np.int64)
    good = _consistent(si, t_ns, rate)
    if good.sum() < 2:
        raise FileFormatError(
            f"{path}: kiwi chunks: fewer than 2 mutually consistent GNSS time stamps "
            f"({len(stamps)} stamps, all stale or inconsistent)"
        )
    bad = [int(seg_idx[i]) for i in np.flatnonzero(~good)]
    first_seg, last_seg = int(seg_idx[good][0]), int(seg_idx[good][-1])
    missing = sorted(set(range(len(segs))) - {int(i) for i in seg_idx})
    if bad or missing:
        dropped = list(range(first_seg)) + list(range(last_seg + 1, len(segs)))
        warnings.warn(
            f"{path}: kiwi chunks: {len(bad)} block(s) with stale or inconsistent GNSS stamps "
            f"{bad[:8]}{'...' if len(bad) > 8 else ''} and {len(missing)} unstamped; stamps "
            f"ignored (sample times interpolated), blocks outside the stamped span dropped "
            f"{dropped[:8]}{'...' if len(dropped) > 8 else ''}",
            stacklevel=3,
        )
    keep_segs = segs[first_seg:]
    shift = int(starts[first_seg])
    si_g = si[good] - shift
    t_g = t_ns[good]
    if len(t_g) >= 2:
        slope = np.polyfit(si_g.astype(np.float64), (t_g - t_g[0]).astype(np.float64), 1)[0]
        rate = 1e9 / slope
    return list(keep_segs), (si_g, t_g), float(rate)


def _consistent(si: np.ndarray, t_ns: np.ndarray, rate: float) -> np.ndarray:
    """Stamps on one straight line t = a + i/rate' (rate' fitted), within a tenth of a sample."""
    good = np.ones(len(si), bool)
    if len(si) < 2:
        return good
    ds = np.diff(si).astype(np.float64)
    dt = np.diff(t_ns).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = ds * 1e9 / dt
    rates = rates[np.isfinite(rates) & (rates > 0)]
    r = float(np.median(rates)) if len(rates) else rate
    t0 = t_ns[0]
    off = (t_ns - t0).astype(np.float64) - si * 1e9 / r
    good = np.abs(off - np.median(off)) < 1e6
    tol = max(2e3, 0.1e9 / rate)
    for _ in range(3):
        if good.sum() < 2:
            break
        c = np.polyfit(si[good].astype(np.float64), (t_ns[good] - t0).astype(np.float64), 1)
        res = (t_ns - t0) - np.polyval(c, si.astype(np.float64))
        good = np.abs(res) < tol
    return good
