"""Measure a time difference of arrival between two receivers' blocks of the same signal.

tdoa_s = arrival at a − arrival at b. With block a's sample 0 at t_a0 and b's at t_b0 (absolute
times when known), a correlation peak at lag L (a[n + L] ≈ b[n]) gives
tdoa = L/fs + (t_a0 − t_b0). Only |tdoa| ≤ baseline/c is searched.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from unseen.errors import AmbiguityWarning, GeometryError, InputError
from unseen.tdoa.gcc import Correlation, coherence_crb, echo_sigma, gcc
from unseen.types import IqBlock, Site, Tdoa

C_M_S = 299_792_458.0
METHODS = ("phat", "cc", "envelope", "carrier")
TAPER = 0.1  # Tukey fraction tapered before correlating (block-edge leakage; see gcc.gcc)
WARN_AMBIGUITY = 0.05
BLANK = 4.0  # impulse blanker threshold over the median magnitude (see blank)


@dataclass(frozen=True)
class Measurement:
    """A TDOA with its uncertainty: `sigma_s` (reported, includes `sigma_sys_s`), `crb_s` (the
    Cramér–Rao bound from the measured coherence), `scatter_s` (spread of per-segment estimates
    over √K, or None), the normalised peak and the highest local maximum outside its main lobe
    (relative), `ambiguity` (probability that a rival peak, not the chosen one, is the true
    one), `rival_s` (the most likely rival's TDOA, or None), `ambiguity_s` (its σ term) and
    `echo_s`, the σ an unresolved echo (sky wave) implies from the phase curvature
    (`unseen.tdoa.gcc.echo_sigma`; 0 when the phase is straight or the method has none)."""

    tdoa_s: float
    sigma_s: float
    crb_s: float
    scatter_s: float | None
    peak: float
    sidelobe: float
    method: str
    segments: int
    ambiguity: float = 0.0
    rival_s: float | None = None
    ambiguity_s: float = 0.0
    echo_s: float = 0.0


def prepare(x: np.ndarray, fs: float, method: str, carrier_window_s: float = 0.05) -> np.ndarray:
    """The waveform each method correlates.

    phat, cc: the complex baseband; carrier: x minus a moving-average carrier estimate of
    `carrier_window_s` (keeps the modulation — AM edges, phase chips — and drops the
    unmodulated carrier, which carries no timing), impulses blanked (`blank`); envelope:
    |x| − mean (AM-like signals), |x| held within 2 × its median, the carrier's magnitude (an AM
    of index ≤ 1 stays within it; impulses are cut there).
    """
    x = np.asarray(x)
    x = x.astype(np.complex64 if x.dtype in (np.complex64, np.float32) else np.complex128)
    if method in ("phat", "cc"):
        return x
    if method == "carrier":
        avg = moving_average(x, max(1, round(carrier_window_s * fs))).astype(x.dtype)
        return blank(x - avg, avg)
    if method == "envelope":
        e = np.abs(x)
        np.minimum(e, 2.0 * float(np.median(e)) or np.inf, out=e)
        return (e - e.mean()).astype(x.dtype)
    raise InputError(f"method={method!r}; expected one of {', '.join(METHODS)}")


def blank(y: np.ndarray, carrier: np.ndarray | None = None, k: float = BLANK) -> np.ndarray:
    """y, the modulation left after removing a carrier estimate `carrier`, with every sample
    beyond what that modulation can reach cut to that magnitude (phase kept): a noise blanker
    for impulses that are not the signal (lightning sferics at LF, ignition, switching), which
    reach every receiver at their own TDOA and would otherwise own the correlation. The bound
    is the larger of 2 × the carrier's median magnitude (a constant-envelope phase modulation
    or an AM of index ≤ 1 stays within it) and k × the median |y| (complex Gaussian y exceeds
    it with probability 2^(−k²): 1.5e-5 at k = 4, for noise-like signals with no carrier)."""
    m = np.abs(y)
    t = k * float(np.median(m))
    if carrier is not None:
        t = max(t, 2.0 * float(np.median(np.abs(carrier))))
    over = m > t
    if t <= 0 or not over.any():
        return y
    y = y.copy()
    y[over] *= (t / m[over]).astype(m.dtype)
    return y


def moving_average(x: np.ndarray, k: int) -> np.ndarray:
    """Centred k-point moving average, zero beyond the ends (as np.convolve(x, ones(k)/k,
    "same")), from a float64 running sum: O(N) whatever k."""
    n = len(x)
    c = np.zeros(n + 1, np.complex128 if np.iscomplexobj(x) else np.float64)
    np.cumsum(x, out=c[1:])
    end = np.arange(n) + (k - 1) // 2 + 1
    return (c[np.minimum(end, n)] - c[np.maximum(end - k, 0)]) / k


def effective_count(x: np.ndarray) -> float:
    """How many independent values a series of K consecutive estimates is worth:
    K(1 − ρ)/(1 + ρ), ρ its lag-1 autocorrelation when significant (ρ > 1.645/√K, one-sided
    5 %), else K. Slowly varying errors (a sky wave whose phase drifts with the ionosphere, a
    fading carrier) make consecutive seconds alike; their mean is then worth fewer seconds."""
    k = len(x)
    if k < 4:
        return float(k)
    d = np.asarray(x, float) - np.mean(x)
    den = float(d @ d)
    rho = float(d[:-1] @ d[1:]) / den if den > 0 else 0.0
    if rho <= 1.645 / np.sqrt(k):
        return float(k)
    rho = min(rho, 0.95)
    return max(1.0, k * (1 - rho) / (1 + rho))


def mean_sigma(x: np.ndarray) -> float:
    """σ of the mean of consecutive per-segment estimates: robust spread (1.4826·MAD) over
    √K_eff (`effective_count`)."""
    x = np.asarray(x, float)
    mad = 1.4826 * float(np.median(np.abs(x - np.median(x))))
    return mad / float(np.sqrt(effective_count(x)))


def max_lag_from(site_a: Site | None, site_b: Site | None, speed_m_s: float = C_M_S) -> float:
    """baseline/speed between two sites (s): the largest physically possible |tdoa|."""
    if site_a is None or site_b is None:
        raise InputError("max_lag_s not given and the blocks carry no sites to bound it")
    from unseen.geo.frames import geodetic2ecef

    pa = np.array(geodetic2ecef(site_a.lat_deg, site_a.lon_deg, site_a.alt_m), float).ravel()
    pb = np.array(geodetic2ecef(site_b.lat_deg, site_b.lon_deg, site_b.alt_m), float).ravel()
    base = float(np.linalg.norm(pa - pb))
    if base <= 0:
        raise GeometryError(f"stations {site_a.station} and {site_b.station} are at one place")
    # the ground path (geodesic) is longer than the chord; 1 % covers it to > 1000 km
    return base * 1.01 / speed_m_s


def _corr(a, b, fs, weighting, band_hz, max_lag_s, center_s):
    return gcc(
        a, b, fs, max_lag_s, center_s=center_s, weighting=weighting, band_hz=band_hz, taper=TAPER
    )


def ambiguity(whole: Correlation, segments: Sequence[Correlation]) -> tuple[np.ndarray, np.ndarray]:
    """For each rival peak of `whole` (a local maximum outside the main lobe): its offset from
    the chosen peak (s) and the probability P that it, not the chosen one, is the higher.

    The heights at the main and rival lags in K segments give differences δ_k; with mean δ̄
    and standard error s/√K, P = Pr(t_{K−1} > δ̄√K/s): the chance that the expected height
    difference has the other sign (flat prior). P grows as the rival nears the main peak's
    height and as the correlation's SNR (the consistency of δ_k) falls; a rival the segments
    put clearly lower gets P ≈ 0. If the pick is wrong with probability P the error is the
    offset d, so the pick adds Σ P d² to the delay's mean-square error. Empty when there are
    fewer than 4 segments or they were correlated over other lags.
    """
    import scipy.stats

    k = len(segments)
    riv = whole.rivals
    if k < 4 or not len(riv) or any(len(c.magnitude) != len(whole.magnitude) for c in segments):
        return np.zeros(0), np.zeros(0)
    mags = np.stack([c.magnitude for c in segments])
    delta = mags[:, whole.main][:, None] - mags[:, riv]
    mean = delta.mean(axis=0)
    se = delta.std(axis=0, ddof=1) / np.sqrt(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / se, np.where(mean > 0, np.inf, 0.0))
    p = scipy.stats.t.sf(t, k - 1)
    return whole.lags_s[riv] - whole.peak_s, p


def measure(
    block_a: IqBlock | np.ndarray,
    block_b: IqBlock | np.ndarray,
    *,
    sample_rate_hz: float | None = None,
    max_lag_s: float | None = None,
    method: str = "phat",
    band_hz: tuple[float, float] | None = None,
    carrier_window_s: float = 0.05,
    segment_s: float = 1.0,
    sigma_sys_s: float = 0.0,
    offset_s: float | None = None,
    echo_delay_s: float | None = 100e-6,
) -> Measurement:
    """TDOA (arrival at a − arrival at b) of the common signal in two single-channel blocks.

    `max_lag_s` bounds the search (default: baseline/c from the blocks' sites). The peak is
    refined off-grid (band-limited). Both blocks are Tukey-tapered (`TAPER`) first: blocks on
    one time grid share their edges, whose leakage would correlate at zero lag.
    `sigma_s` = sqrt(max(crb, scatter)² + echo² + Σ P d² + sigma_sys_s²): the CRB from the
    measured coherence, the robust scatter (1.4826·MAD) of per-segment estimates over
    √K_eff (segments of `segment_s`, or eighths of a block shorter than 4 of them;
    `effective_count`), the echo term of `echo_sigma` for an excess delay `echo_delay_s`
    (None: off; for `envelope`, whose real spectrum has no phase to bend, from the `carrier`
    waveform: an echo moves both timings alike), the peak-choice
    term of
    `ambiguity` (rival peaks at offset d, each the right one with probability P; an
    AmbiguityWarning naming the pair when Σ P ≥ 5 %), and a systematic term (receiver timing,
    propagation model). PHAT whitens every bin: give `band_hz` (relative to the block centre)
    to keep noise-only bins out.
    `offset_s` overrides t_a0 − t_b0 (default from the blocks' utc_ns, else 0).
    """
    if isinstance(block_a, IqBlock):
        fs = block_a.sample_rate_hz
        xa = block_a.samples[0] if block_a.samples.ndim == 2 else block_a.samples
    else:
        fs = sample_rate_hz
        xa = np.asarray(block_a)
    if isinstance(block_b, IqBlock):
        if block_b.sample_rate_hz != fs and fs is not None:
            raise InputError(
                f"blocks at {fs} Hz and {block_b.sample_rate_hz} Hz: put both on one time grid "
                "first (unseen.tdoa.align)"
            )
        fs = fs or block_b.sample_rate_hz
        xb = block_b.samples[0] if block_b.samples.ndim == 2 else block_b.samples
    else:
        xb = np.asarray(block_b)
    if fs is None or fs <= 0:
        raise InputError("sample_rate_hz is needed when measuring on plain arrays")
    n = min(len(xa), len(xb))
    if n < 16:
        raise InputError(f"blocks of {len(xa)} and {len(xb)} samples; need at least 16 each")
    xa, xb = xa[:n], xb[:n]
    if offset_s is None:
        ua = getattr(block_a, "utc_ns", None)
        ub = getattr(block_b, "utc_ns", None)
        offset_s = (ua - ub) / 1e9 if ua is not None and ub is not None else 0.0
    if max_lag_s is None:
        max_lag_s = max_lag_from(getattr(block_a, "site", None), getattr(block_b, "site", None))
    weighting = "phat" if method == "phat" else "none"
    a = prepare(xa, fs, method, carrier_window_s)
    b = prepare(xb, fs, method, carrier_window_s)
    center = -offset_s
    cr = _corr(a, b, fs, weighting, band_hz, max_lag_s, center)
    lag = cr.peak_s
    crb, _, _ = coherence_crb(a, b, fs, lag, band_hz=band_hz)
    seg = round(segment_s * fs)
    if seg <= 0 or n // seg < 4:
        seg = n // 8  # short blocks: eight segments
    scatter = None
    k = n // seg if seg >= 16 else 0
    parts: list[Correlation] = []
    if k >= 4:
        parts = [
            _corr(
                a[i * seg : (i + 1) * seg],
                b[i * seg : (i + 1) * seg],
                fs,
                weighting,
                band_hz,
                max_lag_s,
                center,
            )
            for i in range(k)
        ]
        est = np.array([c.peak_s for c in parts])
        scatter = mean_sigma(est)
    d, p = ambiguity(cr, parts)
    amb = float(np.sqrt(np.sum(p * d * d)))
    rival = None
    if len(p):
        j = int(np.argmax(p))
        rival = float(lag + d[j] + offset_s)
        p_any = float(1.0 - np.prod(1.0 - np.clip(p, 0.0, 1.0)))  # some rival is the higher
        if p_any >= WARN_AMBIGUITY:
            sa, sb = getattr(block_a, "site", None), getattr(block_b, "site", None)
            pair = f"{sa.station}–{sb.station}" if sa and sb else "a–b"
            warnings.warn(
                AmbiguityWarning(
                    f"{pair}: {method} correlation has a rival peak {d[j] * 1e6:+.1f} µs from "
                    f"the chosen one at {cr.magnitude[cr.rivals[j]] / cr.magnitude[cr.main]:.2f}"
                    f" of its height (peak choice wrong with P = {p_any:.2f}); σ widened by "
                    f"{amb * 1e6:.1f} µs"
                ),
                stacklevel=2,
            )
    echo = 0.0
    if echo_delay_s is not None:  # the channel's, so the envelope's from the complex signal
        ea, eb = (
            (a, b)
            if method != "envelope"
            else (
                prepare(xa, fs, "carrier", carrier_window_s),
                prepare(xb, fs, "carrier", carrier_window_s),
            )
        )
        echo = echo_sigma(ea, eb, fs, lag, echo_delay_s=echo_delay_s, band_hz=band_hz)
    stat = max(crb, scatter or 0.0)
    sigma = float(np.sqrt(stat**2 + echo**2 + amb**2 + sigma_sys_s**2))
    return Measurement(
        float(lag + offset_s),
        sigma,
        float(crb),
        scatter,
        float(cr.peak),
        float(cr.sidelobe),
        method,
        max(k, 1),
        float(min(1.0, p.sum())),
        rival,
        amb,
        echo,
    )


def with_echo(m: Measurement, echo_s: float) -> Measurement:
    """`m` with an echo term (e.g. from the pair's `carrier` measurement) added to σ²."""
    add = max(0.0, echo_s**2 - m.echo_s**2)
    return replace(m, sigma_s=float(np.sqrt(m.sigma_s**2 + add)), echo_s=max(echo_s, m.echo_s))


def pool_echo(ms: Sequence[Measurement]) -> list[Measurement]:
    """Each measurement with its echo term raised to the RMS echo term of all of them.

    An echo bends a pair's phase only as far as its phase is in quadrature with the ground
    wave (the part in phase shifts the delay without bending it), and its phase differs from
    receiver to receiver; one propagation state (time of day, ranges of one band) holds for
    every pair, so the pairs whose echoes show set the expected level for all:
    σ² += max(0, rms² − echo²)."""
    if not ms:
        return []
    rms2 = float(np.mean([m.echo_s**2 for m in ms]))
    out = []
    for m in ms:
        add = max(0.0, rms2 - m.echo_s**2)
        out.append(
            replace(
                m,
                sigma_s=float(np.sqrt(m.sigma_s**2 + add)),
                echo_s=max(m.echo_s, float(np.sqrt(rms2))),
            )
        )
    return out


def cross_check(
    primary: Measurement, other: Measurement, *, k: float = 3.0
) -> tuple[Measurement, bool]:
    """`primary` with its σ widened by its disagreement D with `other`, a TDOA of the same pair
    from another feature of the signal (e.g. the AM envelope against the phase chips), and
    whether the two agree.

    Errors that depend on which feature is timed (receiver filters, AGC, sky-wave mixing, a
    spurious correlation peak) show up as D. With statistical spread σ_D = sqrt(σ_primary² +
    σ_other²) and independent systematic errors of one spread s, E[D²] = σ_D² + 2s², so
    s² = max(0, D² − σ_D²)/2 is added to σ² (no widening when the two agree within their own
    σ). They agree when |D| ≤ k·σ_D.
    """
    d = other.tdoa_s - primary.tdoa_s
    stat = float(np.hypot(primary.sigma_s, other.sigma_s))
    excess = max(0.0, d * d - stat * stat) / 2
    sigma = float(np.sqrt(primary.sigma_s**2 + excess))
    return replace(primary, sigma_s=sigma), bool(abs(d) <= k * stat)


def to_tdoa(
    m: Measurement, site_a: Site, site_b: Site, *, time_s: float = 0.0, freq_hz: float | None = None
) -> Tdoa:
    """The pipeline value for a measurement between two sites."""
    return Tdoa(site_a, site_b, m.tdoa_s, m.sigma_s, time_s, freq_hz)


def true_tdoa(
    site_a: Site,
    site_b: Site,
    lat_deg: float,
    lon_deg: float,
    *,
    speed_m_s: float = C_M_S,
    ground: bool = True,
) -> float:
    """tdoa (s) for a transmitter at (lat, lon): geodesic (ground-wave) path lengths over speed,
    or straight-line (ECEF chord) lengths when `ground` is False."""
    if ground:
        from unseen.geo.geodesic import distance

        da = float(distance(site_a.lat_deg, site_a.lon_deg, lat_deg, lon_deg))
        db = float(distance(site_b.lat_deg, site_b.lon_deg, lat_deg, lon_deg))
    else:
        from unseen.geo.frames import geodetic2ecef

        p = np.array(geodetic2ecef(lat_deg, lon_deg, 0.0), float).ravel()
        da = float(
            np.linalg.norm(
                np.array(geodetic2ecef(site_a.lat_deg, site_a.lon_deg, site_a.alt_m), float).ravel()
                - p
            )
        )
        db = float(
            np.linalg.norm(
                np.array(geodetic2ecef(site_b.lat_deg, site_b.lon_deg, site_b.alt_m), float).ravel()
                - p
            )
        )
    return (da - db) / speed_m_s


def correct_clock(
    target: Tdoa,
    reference: Tdoa,
    ref_lat_deg: float,
    ref_lon_deg: float,
    *,
    speed_m_s: float = C_M_S,
) -> Tdoa:
    """Remove the receivers' clock offset using a reference transmitter at a known position.

    Both TDOAs were measured between the same two receivers (same clocks), so
    offset = measured_ref − true_ref, and the corrected target is tdoa − offset, with
    σ² = σ_target² + σ_ref².
    """
    if {target.site.station, target.site_b.station} != {
        reference.site.station,
        reference.site_b.station,
    }:
        raise InputError(
            f"reference TDOA is between {reference.site.station}/{reference.site_b.station}, "
            f"target between {target.site.station}/{target.site_b.station}: must be one pair"
        )
    ref = reference
    if ref.site.station != target.site.station:
        ref = Tdoa(ref.site_b, ref.site, -ref.tdoa_s, ref.sigma_s, ref.time_s, ref.freq_hz)
    offset = ref.tdoa_s - true_tdoa(
        ref.site, ref.site_b, ref_lat_deg, ref_lon_deg, speed_m_s=speed_m_s
    )
    return Tdoa(
        target.site,
        target.site_b,
        target.tdoa_s - offset,
        float(np.hypot(target.sigma_s, ref.sigma_s)),
        target.time_s,
        target.freq_hz,
    )


@dataclass(frozen=True)
class Closure:
    """tdoa_ab + tdoa_bc + tdoa_ca for one receiver triplet, its σ and whether it is within
    `k`σ (k = 3 by default)."""

    stations: tuple[str, str, str]
    residual_s: float
    sigma_s: float
    ok: bool


def closures(tdoas: Sequence[Tdoa], *, k: float = 3.0) -> list[Closure]:
    """Check every receiver triplet: the three pairwise TDOAs must sum to zero (within kσ)."""
    pair: dict[tuple[str, str], tuple[float, float]] = {}
    for t in tdoas:
        a, b = t.site.station, t.site_b.station
        pair[(a, b)] = (t.tdoa_s, t.sigma_s)
        pair[(b, a)] = (-t.tdoa_s, t.sigma_s)
    names = sorted({s for ab in pair for s in ab})
    out = []
    for a, b, c in itertools.combinations(names, 3):
        if (a, b) in pair and (b, c) in pair and (c, a) in pair:
            r = pair[(a, b)][0] + pair[(b, c)][0] + pair[(c, a)][0]
            s = float(np.sqrt(pair[(a, b)][1] ** 2 + pair[(b, c)][1] ** 2 + pair[(c, a)][1] ** 2))
            out.append(Closure((a, b, c), float(r), s, bool(abs(r) <= k * s)))
    return out


def implicated(bad: Sequence[Iterable[str]], good: Sequence[Iterable[str]]) -> list[str]:
    """The receivers in every one of the `bad` groups (pairs, triplets) and in none of the
    `good` ones: the one timing fault that explains every failure."""
    if not bad:
        return []
    common = set.intersection(*[set(g) for g in bad])
    return sorted(common - set().union(*[set(g) for g in good]))


def suspect_receivers(checks: Sequence[Closure]) -> list[str]:
    """Receivers in every failing triplet and in no passing one (whose timing disagrees)."""
    return implicated(
        [c.stations for c in checks if not c.ok], [c.stations for c in checks if c.ok]
    )


def widen_by_closures(
    tdoas: Sequence[Tdoa], checks: Sequence[Closure], suspects: Sequence[str] = ()
) -> list[Tdoa]:
    """`tdoas` with σ widened where a triplet fails to close: a failing closure (|r| > kσ_c)
    says some of its three TDOAs are off beyond their σ by errors that are not one receiver's
    offset (those cancel around a loop). Its excess r² − σ_c² goes to the pairs through a
    suspect receiver of it (`suspect_receivers`), else to all three: each of those m pairs gets
    s² = (r² − σ_c²)/m (so the triplet then closes within 1σ), a pair in several failing
    triplets the largest. Passing triplets change nothing."""
    add: dict[frozenset[str], float] = {}
    bad = set(suspects)
    for c in checks:
        if c.ok:
            continue
        tri = [frozenset(p) for p in itertools.combinations(c.stations, 2)]
        named = [p for p in tri if p & bad] or tri
        s2 = max(0.0, c.residual_s**2 - c.sigma_s**2) / len(named)
        for p in named:
            add[p] = max(add.get(p, 0.0), s2)
    return [
        replace(t, sigma_s=float(np.sqrt(t.sigma_s**2 + add.get(key, 0.0))))
        for t in tdoas
        for key in [frozenset((t.site.station, t.site_b.station))]
    ]
