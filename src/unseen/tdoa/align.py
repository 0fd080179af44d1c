"""Put recordings from different receivers on one time grid (their own clocks, e.g. GNSS).

Receivers sample at slightly different true rates (ppm) and instants; TDOA needs both signals as
functions of the same absolute time. Each is interpolated (windowed sinc, band-limited) at the
grid instants t_k = t0 + k/fs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from unseen.errors import InputError
from unseen.types import IqBlock

TAPS = 32
BETA = 8.0


def overlap_ns(spans: list[tuple[int, int]], *, names: list[str] | None = None) -> tuple[int, int]:
    """The common [start, stop) of several [start, stop) time spans (ns); error if none."""
    lo = max(s for s, _ in spans)
    hi = min(e for _, e in spans)
    if hi <= lo:
        who = ", ".join(
            f"{n}: {s / 1e9:.3f}–{e / 1e9:.3f} s"
            for n, (s, e) in zip(names or [str(i) for i in range(len(spans))], spans, strict=True)
        )
        raise InputError(f"recordings do not overlap in time ({who}, POSIX)")
    return lo, hi


def _linear_time(r) -> bool:
    """True when sample i of `r` is at utc_ns_at(0) + i/fs (no per-capture time jumps)."""
    base = r.utc_ns_at(0)
    caps = [c for c in getattr(r, "captures", None) or [] if c.get("unseen:utc_ns") is not None]
    for c in caps:
        i = int(c.get("core:sample_start", 0))
        if abs(int(c["unseen:utc_ns"]) - (base + i * 1e9 / r.sample_rate_hz)) > 0.5:
            return False
    return base is not None


def fractional_index(times_ns: np.ndarray, grid_ns: np.ndarray) -> np.ndarray:
    """Fractional sample index at each grid instant, linear between sample times."""
    t0 = times_ns[0]
    return np.interp(
        (grid_ns - t0).astype(np.float64),
        (times_ns - t0).astype(np.float64),
        np.arange(len(times_ns), dtype=np.float64),
    )


PHASES = 1024


@lru_cache(maxsize=4)
def _table(taps: int, phases: int = PHASES) -> np.ndarray:
    """Kaiser-windowed sinc coefficients (phases + 1, taps) at fractions 0, 1/phases, … 1."""
    half = taps // 2
    offs = np.arange(-half + 1, half + 1)
    frac = np.arange(phases + 1)[:, None] / phases
    d = offs[None, :] - frac
    w = np.sinc(d) * np.i0(BETA * np.sqrt(np.clip(1 - (d / half) ** 2, 0, 1))) / np.i0(BETA)
    return np.ascontiguousarray(w)


@njit(cache=True, nogil=True)
def _interp(x, pos, table, half, out):  # pragma: no cover - compiled
    n = len(x)
    phases = table.shape[0] - 1
    taps = table.shape[1]
    for i in range(len(pos)):
        p = pos[i]
        if not np.isfinite(p):
            out[i] = 0
            continue
        base = int(np.floor(p))
        ph = (p - base) * phases
        k = min(int(ph), phases - 1)
        w = ph - k
        acc = 0j
        for t in range(taps):
            j = base - half + 1 + t
            if 0 <= j < n:
                acc += x[j] * (table[k, t] * (1.0 - w) + table[k + 1, t] * w)
        out[i] = acc
    return out


def sinc_interp(x: np.ndarray, pos: np.ndarray, taps: int = TAPS) -> np.ndarray:
    """x evaluated at fractional positions `pos` by a Kaiser-windowed sinc of `taps` taps.

    Exact for band-limited x well inside Nyquist (error < −70 dB below 0.4 fs); positions
    nearer than taps/2 to an edge use the samples that exist (zero beyond). The coefficients
    come from a table of `PHASES` fractions, linearly interpolated (coefficient error
    ≈ π²/(8·PHASES²) ≈ 1e-6): O(N·taps), compiled.
    """
    x = np.asarray(x)
    ct = np.complex64 if x.dtype in (np.complex64, np.float32) else np.complex128
    x = np.ascontiguousarray(x, ct)
    pos = np.ascontiguousarray(pos, np.float64)
    out = np.empty(len(pos), ct)
    _interp(x, pos, _table(int(taps)), int(taps) // 2, out)
    return out


def to_grid(x: np.ndarray, times_ns: np.ndarray, grid_ns: np.ndarray) -> np.ndarray:
    """Samples x (with sample instants times_ns) interpolated at grid instants grid_ns."""
    if len(x) != len(times_ns):
        raise InputError(f"{len(x)} samples but {len(times_ns)} sample times")
    return sinc_interp(x, fractional_index(times_ns, grid_ns))


def on_grid(
    recordings: list,
    *,
    freq_hz: float | None = None,
    bandwidth_hz: float | None = None,
    max_duration_s: float = 120.0,
    allow_unsynchronised: bool = False,
) -> list[IqBlock]:
    """Blocks of the recordings' common time span on one absolute time grid (channel 0).

    Each recording (duck-typed `unseen.sources.Recording`: `times_ns`, `read`, `site`) is
    channelized to freq_hz ± bandwidth_hz/2 when given, then interpolated at t_k = t0 + k/fs with
    fs the first recording's (decimated) rate. At most `max_duration_s` of overlap is used.
    Errors if the recordings do not overlap in time or carry no sample-accurate absolute time
    (none, or only a file-name time or KiwiSDR stamps without a GNSS solution, unless
    `allow_unsynchronised`).
    """
    from unseen.channelize import channelize, decimation_for

    spans, names = [], []
    for r in recordings:
        if r.utc_ns is None and r.timestamps is None:
            raise InputError(
                f"{r.path}: no absolute time (core:datetime / GNSS stamps); "
                "TDOA needs time-stamped recordings"
            )
        src = (getattr(r, "extensions", None) or {}).get("unseen:time_source")
        if src in ("file name", "no GNSS solution") and not allow_unsynchronised:
            raise InputError(
                f"{r.path}: absolute time comes only from the file name (1 s resolution"
                f"{'; its KiwiSDR blocks have no GNSS solution' if src != 'file name' else ''}); "
                "TDOA needs sample-accurate time stamps (KiwiSDR `kiwi` GNSS chunks, "
                "core:datetime; --allow-unsynchronised to use it anyway)"
            )
        t = r.times_ns(0, 1)[0], r.times_ns(r.num_samples - 1, 1)[0]
        spans.append((int(t[0]), int(t[1])))
        names.append(str(r.station))
    lo, hi = overlap_ns(spans, names=names)
    hi = min(hi, lo + int(max_duration_s * 1e9))
    r0 = recordings[0]
    D = 1
    if bandwidth_hz is not None:
        D = decimation_for(r0.sample_rate_hz, bandwidth_hz)
    fs = r0.sample_rate_hz / D
    margin = int(TAPS * D * 2)
    count = int((hi - lo) / 1e9 * fs) - 2 * TAPS
    if count < 64:
        raise InputError(f"recordings overlap for only {(hi - lo) / 1e9:.3f} s; too short")
    grid = lo + np.round(np.arange(count) * (1e9 / fs)).astype(np.int64) + int(TAPS / fs * 1e9)
    out = []
    for r in recordings:
        uniform = r.timestamps is None and _linear_time(r)
        if uniform:  # t_i = t_0 + i/fs exactly: positions in closed form, no time array
            base, rate = int(r.utc_ns_at(0)), float(r.sample_rate_hz)
            i0 = max(0, int(np.floor((lo - base) * rate / 1e9)) - margin)
            i1 = min(r.num_samples, int(np.ceil((hi - base) * rate / 1e9)) + margin)
        else:
            times = r.times_ns()
            i0 = max(0, int(np.searchsorted(times, lo)) - margin)
            i1 = min(r.num_samples, int(np.searchsorted(times, hi)) + margin)
        blk = r.read(i0, i1 - i0)
        step = 1
        if freq_hz is not None or bandwidth_hz is not None:
            f = r.center_freq_hz if freq_hz is None else freq_hz
            bw = bandwidth_hz or r.sample_rate_hz
            blk = channelize(blk, f, bw, decimation=D)
            step = D
        if uniform:
            pos = ((grid - base).astype(np.float64) * (rate / 1e9) - i0) / step
            y = sinc_interp(blk.samples[0], pos)
        else:
            tt = times[i0:i1][::step][: blk.num_samples]
            y = to_grid(blk.samples[0], tt, grid)
        out.append(
            IqBlock(
                y.astype(np.complex64)[None, :],
                fs,
                blk.center_freq_hz,
                start_s=0.0,
                utc_ns=int(grid[0]),
                site=r.site,
            )
        )
    return out
