"""DCF77 arrival times from its known pseudo-random phase modulation (matched filter on the GNSS
time axis), and TDOA as the difference of two receivers' arrival times.

DCF77 (77.5 kHz, Mainflingen) shifts its carrier phase by ±15.6° following a 512-chip sequence
once a second, chips of 120 carrier cycles (1.548 ms) from 200 ms after the second mark: chip 0
is a 0, chips 1–511 the m-sequence of the 9-bit LFSR x⁹ + x⁵ + 1 (feedback = bit 5 ⊕ bit 9)
started from the register holding a single 1 (published start 00000100011000010011100101010110000).
The whole sequence is inverted when that second's time-code bit is 1.

Per receiver and second S: the carrier is removed by a straight-line fit to the unwrapped phase
over the chips (the balanced sequence has zero mean), z = Im(x e^{−jθ̂}) ≈ A sin φ(t) is
correlated with the band-limited chip waveform p(t − S − 0.2 − τ) sampled at the receiver's own
GNSS sample times, and the peak |r(τ)| gives τ (lag refined off-grid, `unseen.tdoa.gcc`); its
sign gives the time-code bit. TOA = S + 0.2 s + τ, τ holding propagation and every fixed delay of
transmitter and receiver; the fixed delays common to all receivers cancel in ΔTOA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.special

from unseen.errors import InputError
from unseen.tdoa.gcc import gcc
from unseen.tdoa.measure import Measurement, effective_count

FREQ_HZ = 77_500.0
CHIP_S = 120 / FREQ_HZ
NUM_CHIPS = 512
START_S = 0.2
DEVIATION_DEG = 15.6


def chips() -> np.ndarray:
    """The 512 chips (0/1, uint8) of one second: a 0, then the 511-chip m-sequence of
    x⁹ + x⁵ + 1 from the register's single-1 state, output taken from bit 9."""
    reg = np.zeros(9, np.uint8)
    reg[0] = 1
    seq = np.empty(511 + 9, np.uint8)
    for i in range(len(seq)):
        seq[i] = reg[8]
        fb = reg[4] ^ reg[8]
        reg[1:] = reg[:-1]
        reg[0] = fb
    return np.concatenate([[0], seq[9:]]).astype(np.uint8)


def template(t_s: np.ndarray, bandwidth_hz: float) -> np.ndarray:
    """The chip waveform ±1 (chip 0 → +1; a time-code 0 is received as its negative) at times
    t_s (s after the second mark), low-passed by an ideal filter of half-width `bandwidth_hz`:
    each chip edge is ½ + Si(2πWt)/π."""
    v = 1.0 - 2.0 * chips().astype(np.float64)
    steps = np.diff(np.concatenate([[0.0], v, [0.0]]))  # jumps at the 513 edges
    edges = START_S + CHIP_S * np.arange(NUM_CHIPS + 1)
    t = np.asarray(t_s, np.float64)
    out = np.zeros(t.shape)
    for e, d in zip(edges, steps, strict=True):
        if d:
            out += d * (0.5 + scipy.special.sici(2 * np.pi * bandwidth_hz * (t - e))[0] / np.pi)
    return out


@dataclass(frozen=True)
class Arrivals:
    """One receiver's DCF77 arrivals: for each whole UTC second `seconds` (POSIX s) the delay
    `delay_s` of the phase-modulation sequence after S + 0.2 s (propagation plus fixed delays),
    the decoded time-code `bits`, the correlation coefficient `peak` of the demodulated
    phase with the sequence (≤ 1), and `crb_s`, the white-noise Cramér–Rao bound of each delay
    for the template waveform, σ_τ² = σ_n² / (a² Σ ṗ(t_n)²) with a the fitted amplitude and σ_n²
    the residual variance. Model mismatch counts as noise, so it is only a bound when the
    received chips match the template's band (on the KiwiSDR data the per-second scatter is
    1.4–1.8× it; on chips sharper than the template it is pessimistic)."""

    station: str
    seconds: np.ndarray
    delay_s: np.ndarray
    bits: np.ndarray
    peak: np.ndarray
    crb_s: np.ndarray


def arrivals(
    recording,
    *,
    bandwidth_hz: float = 1600.0,
    max_delay_s: float = 0.02,
    min_peak: float = 0.2,
) -> Arrivals:
    """DCF77 sequence arrivals in a GNSS-timed recording (`unseen.sources.Recording` with
    `times_ns`) whose band holds 77.5 kHz; seconds whose correlation peak is below `min_peak`
    (no DCF77 there, or a dropout) are left out. Delays are searched over [−1 ms, max_delay_s].
    The recording is read one second at a time (bounded memory for long recordings)."""
    fs = recording.sample_rate_hz
    offset = FREQ_HZ - recording.center_freq_hz
    if abs(offset) + bandwidth_hz > fs / 2:
        raise InputError(
            f"{recording.path}: 77.5 kHz ± {bandwidth_hz} Hz is outside the recording's band "
            f"{recording.center_freq_hz} ± {fs / 2} Hz"
        )
    n = recording.num_samples
    t_first = int(recording.times_ns(0, 1)[0])
    t_last = int(recording.times_ns(n - 1, 1)[0])
    lo, hi = -1e-3, float(max_delay_s)
    g0 = START_S + lo
    count = int(np.ceil((NUM_CHIPS * CHIP_S + hi - lo) * fs))
    grid = np.arange(count, dtype=np.float64)
    ref = template(g0 + grid / fs, bandwidth_hz)  # once: every second is this grid shifted
    secs, delays, bits, peaks, crbs = [], [], [], [], []
    for S in range(-(-t_first // 1_000_000_000), t_last // 1_000_000_000 + 1):
        s_ns = S * 1_000_000_000
        want = s_ns + round(g0 * 1e9)
        if want < t_first:
            continue  # the second is not wholly inside the recording
        i0 = _first_at(recording, want, n)
        if i0 + count > n:
            break
        ts = (recording.times_ns(i0, count) - s_ns) / 1e9
        seg = recording.read(i0, count).samples[0].astype(np.complex128)
        if offset:
            seg = seg * np.exp(-2j * np.pi * offset * ts)
        on = (ts >= START_S) & (ts <= START_S + NUM_CHIPS * CHIP_S)
        ph = np.unwrap(np.angle(seg))
        tc = ts - ts.mean()
        coef = np.polyfit(tc[on], ph[on], 1)
        z = (seg * np.exp(-1j * np.polyval(coef, tc))).imag
        z = np.where(on, z - z[on].mean(), 0.0)
        cr = gcc(
            z.astype(np.complex128),
            ref.astype(np.complex128),
            fs,
            (hi - lo) / 2,
            center_s=(hi + lo) / 2 - (ts[0] - g0),
            weighting="none",
            band_hz=(-bandwidth_hz, bandwidth_hz),
        )
        # z[n] = p(ts[0] + n/fs − τ), ref[n] = p(g0 + n/fs): a lag L gives τ = ts[0] − g0 + L
        shifted = np.interp(grid - cr.peak_s * fs, grid, ref)
        r = float(np.sum(z * shifted))
        amp = r / max(float(np.sum(shifted[on] ** 2)), 1e-300)
        noise = float(np.var(z[on] - amp * shifted[on]))
        slope = np.gradient(shifted) * fs
        crbs.append(np.sqrt(noise / max(amp**2 * float(np.sum(slope[on] ** 2)), 1e-300)))
        secs.append(S)
        delays.append(float(ts[0] - g0 + cr.peak_s))
        bits.append(int(r > 0))  # a time-code 1 sends the sequence as `template` gives it
        peaks.append(abs(r) / max(float(np.sqrt(np.sum(z**2) * np.sum(shifted**2))), 1e-300))
    peaks_a = np.array(peaks)
    keep = peaks_a >= min_peak
    return Arrivals(
        str(recording.station),
        np.array(secs, np.int64)[keep],
        np.array(delays)[keep],
        np.array(bits, np.uint8)[keep],
        peaks_a[keep],
        np.array(crbs)[keep],
    )


def _first_at(recording, t_ns: int, n: int) -> int:
    """Index of the first sample at or after t_ns (bisection on the monotonic sample times)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if recording.times_ns(mid, 1)[0] < t_ns:
            lo = mid + 1
        else:
            hi = mid
    return lo


def difference(a: Arrivals, b: Arrivals, *, sigma_sys_s: float = 0.0) -> Measurement:
    """TDOA = arrival at a − arrival at b from the seconds both received, with σ the standard
    deviation of the per-second differences over √K (independent 1-s windows) ⊕ `sigma_sys_s`,
    and `crb_s` the bound for that mean from the per-second CRBs.

    The decoded time-code bits must agree in every common second: a disagreement means a
    receiver locked onto the wrong second or the wrong signal.
    """
    common, ia, ib = np.intersect1d(a.seconds, b.seconds, return_indices=True)
    if len(common) < 3:
        raise InputError(
            f"{a.station} and {b.station} share {len(common)} seconds with a DCF77 sequence; "
            "need at least 3"
        )
    bad = common[a.bits[ia] != b.bits[ib]]
    if len(bad):
        raise InputError(
            f"{a.station} and {b.station} decode different DCF77 time-code bits in "
            f"{len(bad)} of {len(common)} seconds (first at POSIX {int(bad[0])}): not the same "
            "signal or not the same second"
        )
    d = a.delay_s[ia] - b.delay_s[ib]
    k = len(d)
    stat = float(np.std(d, ddof=1) / np.sqrt(effective_count(d)))
    return Measurement(
        tdoa_s=float(np.mean(d)),
        sigma_s=float(np.hypot(stat, sigma_sys_s)),
        crb_s=float(np.sqrt(np.sum(a.crb_s[ia] ** 2 + b.crb_s[ib] ** 2)) / k),
        scatter_s=stat,
        peak=float(min(a.peak[ia].mean(), b.peak[ib].mean())),
        sidelobe=float("nan"),
        method="dcf77",
        segments=k,
    )
