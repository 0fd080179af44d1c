"""Multi-target tracking over frozen states: channels, association, initiation, lifecycle.

One scan is the observations of one channel with one `time_s`. `step` takes the tracker state and
a scan and returns the next state and the track updates; nothing is mutated.

- Channels: observations whose `freq_hz` lie within `channel_hz` share a channel; without
  `freq_hz` the observation's group names the channel. Channels are tracked separately.
- Association (global nearest neighbour): per sensor (a bearing station, a TDOA pair, a fix),
  the tracks × observations cost d² + ln|S| of each innovation, gated at χ²(gate_p), solved by
  `scipy.optimize.linear_sum_assignment`; one observation per sensor per track per scan. RSSI rows
  go to the channel's only track (their transmit power is unknown, so they cannot be gated).
- Initiation: observations left over are split one per sensor in every combination; each is
  solved by `unseen.locate` (robust when unambiguous) and kept when its χ² passes; combinations
  are taken best first without sharing observations, and never within the gate of a live track.
  A false intersection of bearing lines from three or more stations fails the χ² test; with two
  stations (no redundancy) a scan is initiated only when each station saw one signal.
  Bearings from a single place cannot locate anything: no track, and the channel's note says so.
- Consistency: per track and sensor, the lag-1 autocorrelation ρ of the normalised innovations
  (exponentially weighted over CORR_WINDOW observations; a one-standard-error lower bound) scales
  that sensor's variances by (1 + ρ)/(1 − ρ), the AR(1) long-run variance ratio: errors that
  persist (multipath off fixed walls, a calibration bias) do not average down as independent ones
  would. Bias (`bias`, single tracks): per bearing sensor the residuals without bias,
  r = (z − h(x⁻))/σ, give lag-1 and lag-2 correlations; persistence shows as r = b + w with b a
  first-order Gauss–Markov bias (b_k = a·b_{k−1} + noise; lag-k correlation f·a^k, so
  a = ρ₂/ρ₁, f = ρ₁²/ρ₂, `BiasStats.model`). Such a sensor gets a bias state in the track
  (x[4 + i], rad; stationary variance f·max(c, 1)·σ², c the residuals' variance over σ²) and
  only (1 − f) of its variance stays white: a station's persistent offset is estimated as such,
  shared by all motion modes, instead of widening every mode's noise, so a parked mode that
  stops explaining the bearings loses its probability promptly. What correlation the bias
  leaves in the innovations still inflates as above. Over all sensors, the NIS test scales the
  variances when ΣNIS leaves its χ² band; the observations a lone track's gate refuses count in
  it (capped at OUTSIDE_CAP gates) only from sensors whose observations the track mostly takes:
  a sensor that sees another signal is
  refused, not allowed to widen the track.
- Lifecycle: a new track is tentative; confirmed once it was associated in `confirm_m` of its last
  `confirm_n` scans; a tentative track that can no longer reach that is deleted; any track is
  deleted after `coast_s` without an association or when its 1-σ position error exceeds
  `max_sigma_m`. A deleted track gives one last update with status "deleted".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import chdtri

from unseen.errors import GeometryError, InputError, UnseenError
from unseen.locate.prepare import prepare
from unseen.locate.solve import solve_prepared
from unseen.track.filters import Gaussian, combine, imm_update, mix, no_bias, predict
from unseen.track.kernels import gate, hjac, pda
from unseen.track.models import (
    BEARING,
    FIX,
    RECENTRE_M,
    RSSI,
    TDOA,
    Frame,
    Measurements,
    bearing_offsets,
    measurements,
    ncv,
    predict_measurements,
    recentre,
    stationary,
)
from unseen.types import Ellipse, Fix

MODELS = ("cv", "ncv", "imm")
ASSOCIATIONS = ("jpda", "gnn", "jpda-star")
TENTATIVE, CONFIRMED, DELETED = "tentative", "confirmed", "deleted"
MAX_COMBOS = 512


@lru_cache(maxsize=256)
def chi2_ppf(p: float, dof: int) -> float:
    return float(chdtri(dof, 1.0 - p))


@dataclass(frozen=True)
class TrackOptions:
    """Tracker settings (SI units in the names).

    `process_noise_m_s2` σ_a sets the NCV acceleration spectral density q = σ_a²·(1 s) (m²/s³);
    `still_m2_s` the stationary mode's position diffusion; `manoeuvre_m_s2` the RMS acceleration
    of the IMM's third mode (starting, turning, stopping); `switch_s` the mean time in an IMM
    mode; `init_speed_m_s` the 1-σ speed prior of a new track; `association` "jpda" (several
    tracks on a channel; one track always uses GNN with the iterated EKF), "gnn", or "jpda-star"
    (JPDA*: without the events that swap observations between tracks; for comparison);
    `bias` per-station bearing bias states where the residuals persist (single tracks, GNN).
    """

    model: str = "imm"
    process_noise_m_s2: float = 0.5
    still_m2_s: float = 0.05
    switch_s: float = 60.0
    manoeuvre_m_s2: float = 3.0
    init_speed_m_s: float = 15.0
    gate_p: float = 0.9999
    association: str = "jpda"
    init_p: float = 0.99
    confirm_m: int = 3
    confirm_n: int = 5
    coast_s: float = 30.0
    max_sigma_m: float = 5_000.0
    lag_s: float = 10.0
    init_window_s: float = 3.0
    channel_hz: float = 5_000.0
    iterations: int = 5
    year: float | None = None
    bias: bool = True

    def __post_init__(self) -> None:
        if self.association not in ASSOCIATIONS:
            raise InputError(
                f"association must be one of {', '.join(ASSOCIATIONS)}, got {self.association!r}"
            )
        if self.model not in MODELS:
            raise InputError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        for name in ("process_noise_m_s2", "still_m2_s", "lag_s", "channel_hz", "init_window_s"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise InputError(f"{name} must be a finite number >= 0, got {v!r}")
        for name in ("switch_s", "manoeuvre_m_s2", "init_speed_m_s", "coast_s", "max_sigma_m"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"{name} must be a finite number > 0, got {v!r}")
        if not (0 < self.gate_p < 1 and 0 < self.init_p < 1):
            raise InputError(
                f"gate_p and init_p must be in (0, 1), got {self.gate_p}, {self.init_p}"
            )
        if not (1 <= self.confirm_m <= self.confirm_n):
            raise InputError(
                f"need 1 <= confirm_m <= confirm_n, got {self.confirm_m} of {self.confirm_n}"
            )

    @property
    def q(self) -> float:
        return self.process_noise_m_s2**2


@dataclass(frozen=True, eq=False)
class Track:
    """One transmitter's state: IMM modes (one for cv/ncv) in a frame re-centred on it."""

    id: int
    channel: str
    freq_hz: float | None
    frame: Frame
    alt_m: float
    modes: tuple[Gaussian, ...]
    mu: np.ndarray
    time_s: float
    status: str
    n_obs: int
    hits: tuple[bool, ...]
    last_hit_s: float
    nis: tuple[tuple[float, int], ...] = ()  # recent (NIS, dof) at the scaled noise
    scale: float = 1.0  # measurement variances × scale: ≥ 1 once the residuals demanded it
    sensors: dict = field(default_factory=dict)  # key → SensorStats (never mutated)
    bias_keys: tuple[str, ...] = ()  # bearing sensors with a bias state (x[4 + i], rad)
    bias_sig2: tuple[float, ...] = ()  # their stated σ² at first sight (rad²)
    bias_stats: dict = field(default_factory=dict)  # key → BiasStats (never mutated)

    @property
    def state(self) -> Gaussian:
        return combine(self.modes, self.mu)


@dataclass(frozen=True)
class TrackUpdate:
    """A track at one time: position, velocity (local east/north), 2×2 position covariance."""

    track: int
    time_s: float
    lat: float
    lon: float
    alt_m: float
    vel_east_m_s: float
    vel_north_m_s: float
    cov_enu_m2: tuple[tuple[float, float], tuple[float, float]]
    ellipse95: Ellipse
    speed_m_s: float
    status: str
    n_obs: int
    freq_hz: float | None
    channel: str = ""
    mode_probs: tuple[float, ...] = ()


@dataclass(frozen=True)
class TrackerState:
    """All live tracks, the next track id, per-channel notes (why no track could start), and the
    recent observations no track took (`pending`, for initiation)."""

    tracks: tuple[Track, ...] = ()
    next_id: int = 1
    notes: tuple[tuple[str, str], ...] = ()
    started: frozenset[str] = field(default_factory=frozenset)
    pending: tuple[tuple[str, float, object], ...] = ()  # (channel, time_s, observation)


def _with(t: Track, **changes) -> Track:
    """`dataclasses.replace` for a Track without its per-call field introspection (hot path;
    Track has no __post_init__)."""
    new = object.__new__(Track)
    new.__dict__.update(t.__dict__)
    new.__dict__.update(changes)
    return new


def _with_sig(m: Measurements, sig: np.ndarray) -> Measurements:
    """`m` with other σ (a copy without `dataclasses.replace`'s per-call introspection)."""
    new = object.__new__(Measurements)
    new.__dict__.update(m.__dict__)
    new.__dict__["sig"] = sig
    return new


def sigma_major(P: np.ndarray) -> float:
    """1-σ error (m) along the major axis of the east/north block of P."""
    a, b, d = P[0, 0], P[0, 1], P[1, 1]
    return math.sqrt(0.5 * (a + d) + math.sqrt(0.25 * (a - d) ** 2 + b * b))


K95 = -2.0 * math.log(0.05)  # χ²₂ 95 % quantile


def ellipse95(a: float, b: float, d: float) -> Ellipse:
    """`unseen.geo.uncertainty.ellipse(C, 0.95)` of C = [[a, b], [b, d]] in scalar arithmetic
    (semi-axes sqrt(λ·k), azimuth of the major axis; tan 2θ = 2b / (a − d) from east)."""
    half, rad = 0.5 * (a + d), math.sqrt(max(0.25 * (a - d) ** 2 + b * b, 0.0))
    az = (90.0 - math.degrees(0.5 * math.atan2(2.0 * b, a - d))) % 180.0
    return Ellipse(math.sqrt((half + rad) * K95), math.sqrt(max(half - rad, 0.0) * K95), az)


def to_update(t: Track, status: str | None = None) -> TrackUpdate:
    g = t.state
    x = g.x.tolist()
    lat, lon = t.frame.geodetic(g.x, t.alt_m)
    (a, b), (c, d) = g.P[:2, :2].tolist()
    return TrackUpdate(
        track=t.id,
        time_s=t.time_s,
        lat=lat,
        lon=lon,
        alt_m=t.alt_m,
        vel_east_m_s=x[2],
        vel_north_m_s=x[3],
        cov_enu_m2=((a, b), (c, d)),
        ellipse95=ellipse95(a, 0.5 * (b + c), d),
        speed_m_s=math.hypot(x[2], x[3]),
        status=status or t.status,
        n_obs=t.n_obs,
        freq_hz=t.freq_hz,
        channel=t.channel,
        mode_probs=tuple(float(m) for m in t.mu),
    )


NIS_WINDOW = 30
CORR_WINDOW = 60.0  # observations: the memory of a sensor's innovation statistics
CORR_GAP_S = 3.0  # consecutive innovations further apart than this are not paired
MAX_INFLATE = 25.0
SHRINK_SE = 1.0
OUTSIDE_CAP = 4.0  # a refused observation counts in the consistency test as at most 4 gates


class SensorStats(NamedTuple):
    """One sensor's innovations into one track, exponentially weighted over CORR_WINDOW: the last
    ν/√S and its time, the lag-1 sums Σ w_k w_{k−1}, Σ w_{k−1}², Σ w_k², their weight, and the
    weights of observations seen and accepted."""

    w: float = math.nan
    t: float = -math.inf
    sxy: float = 0.0
    sxx: float = 0.0
    syy: float = 0.0
    n: float = 0.0
    seen: float = 0.0
    acc: float = 0.0

    def inflation(self) -> float:
        """(1 + ρ)/(1 − ρ): the variance of a mean of errors with lag-1 correlation ρ (AR(1))
        over that of independent ones; ρ the sample correlation when above two standard errors
        (white innovations give 1)."""
        if self.n < 10 or self.sxx <= 0 or self.syy <= 0:
            return 1.0
        rho = self.sxy / math.sqrt(self.sxx * self.syy) - SHRINK_SE / math.sqrt(self.n)
        if rho <= 0:
            return 1.0
        return min((1.0 + rho) / (1.0 - rho), MAX_INFLATE) if rho < 1 else MAX_INFLATE

    def observe(self, w: float | None, time_s: float) -> SensorStats:
        """After one observation: `w` its ν/√S if the track took it, None if refused."""
        lam = 1.0 - 1.0 / CORR_WINDOW
        seen, acc = lam * self.seen + 1.0, lam * self.acc + (w is not None)
        if w is None or not math.isfinite(w):
            return SensorStats(self.w, self.t, self.sxy, self.sxx, self.syy, self.n, seen, acc)
        if math.isfinite(self.w) and time_s - self.t <= CORR_GAP_S:
            return SensorStats(w, time_s, lam * self.sxy + w * self.w, lam * self.sxx + self.w**2,
                               lam * self.syy + w * w, lam * self.n + 1.0, seen, acc)  # fmt: skip
        return SensorStats(w, time_s, self.sxy, self.sxx, self.syy, self.n, seen, acc)


EMPTY_STATS = SensorStats()
MAX_PERSIST = 0.9  # at most this fraction of a bearing's variance is put in its bias state
MAX_A = 0.99  # bias lag-1 coefficient at most (τ ≤ ~100 s at 1 Hz)


class BiasStats(NamedTuple):
    """One bearing sensor's residuals r = (z − h(x⁻) without bias)/σ into one track, exponentially
    weighted over CORR_WINDOW: the last two (value, time), Σr², Σ r_k r_{k−1}, Σ r_k r_{k−2} and
    their weights."""

    r1: float = math.nan
    t1: float = -math.inf
    r2: float = math.nan
    t2: float = -math.inf
    s0: float = 0.0
    s1: float = 0.0
    s2: float = 0.0
    n0: float = 0.0
    n1: float = 0.0
    n2: float = 0.0

    def observe(self, r: float, time_s: float) -> BiasStats:
        lam = 1.0 - 1.0 / CORR_WINDOW
        s1, n1, s2, n2 = lam * self.s1, lam * self.n1, lam * self.s2, lam * self.n2
        if math.isfinite(self.r1) and time_s - self.t1 <= CORR_GAP_S:
            s1, n1 = s1 + r * self.r1, n1 + 1.0
        if math.isfinite(self.r2) and time_s - self.t2 <= 2.0 * CORR_GAP_S:
            s2, n2 = s2 + r * self.r2, n2 + 1.0
        return BiasStats(r, time_s, self.r1, self.t1, lam * self.s0 + r * r, s1, s2,
                         lam * self.n0 + 1.0, n1, n2)  # fmt: skip

    def model(self) -> tuple[float, float, float]:
        """(f, a, c): of the residual variance c·σ², the fraction f persists as a first-order
        Gauss–Markov bias b_k = a·b_{k−1} + w (lag-k correlation f·a^k: a = ρ₂/ρ₁, f = ρ₁²/ρ₂);
        f = 0 unless ρ₁ exceeds two standard errors and ρ₂ > 0."""
        if self.n0 < 10 or self.n1 < 5 or self.n2 < 5 or self.s0 <= 0:
            return 0.0, 0.0, 1.0
        c = self.s0 / self.n0
        g1, g2 = self.s1 / self.n1 / c, self.s2 / self.n2 / c
        if g1 <= 2.0 / math.sqrt(self.n1) or g2 <= 0:
            return 0.0, 0.0, c
        a = min(g2 / g1, MAX_A)
        return min(g1 / a, MAX_PERSIST), a, c


EMPTY_BIAS = BiasStats()


def _accepts(t: Track, key: str) -> bool:
    """Whether the track took most of this sensor's observations (at least 5 seen)."""
    s = t.sensors.get(key)
    return s is not None and s.seen >= 5.0 and s.acc >= 0.5 * s.seen


@lru_cache(maxsize=64)
def _ones(n: int) -> np.ndarray:
    """A read-only array of n ones (shared)."""
    a = np.ones(n)
    a.flags.writeable = False
    return a


def _variances(t: Track, meas: Measurements) -> np.ndarray:
    """Per row: the factor on σ², the track's scale times its sensor's correlation inflation
    times the fraction (1 − f) not in the sensor's bias state."""
    f = {k: s.inflation() for k, s in t.sensors.items()}
    for k in t.bias_keys:
        p = t.bias_stats[k].model()[0] if k in t.bias_stats else 0.0
        if p > 0:
            f[k] = f.get(k, 1.0) * (1.0 - p)
    if all(v == 1.0 for v in f.values()):
        return _ones(meas.size) if t.scale == 1.0 else np.full(meas.size, t.scale)
    return np.array([t.scale * f.get(k, 1.0) for k in meas.key])


def _observe(
    t: Track,
    meas: Measurements,
    units: dict,
    rows: list[int],
    cost: tuple,
    time_s: float,
    bidx: np.ndarray,
    collect: bool = True,
) -> Track:
    """The track's sensor statistics after this scan (sensors with one scalar row only) and, if
    `collect`, its bearing sensors' residuals without bias (rows taken; `BiasStats`)."""
    taken = set(rows)
    out = dict(t.sensors)
    _, lnS, w = cost
    kinds, wl = meas.kinds, w.tolist()
    bias = dict(t.bias_stats) if collect else t.bias_stats
    x = t.state.x.tolist() if t.bias_keys else None
    bl = bidx.tolist()
    if collect:
        sl, sg = (lnS * 0.5).tolist(), meas.sig.tolist()
    for key, obs_rows in units.items():
        if len(obs_rows) != 1 or len(obs_rows[0]) != 1 or kinds[obs_rows[0][0]] > TDOA:
            continue
        r = obs_rows[0][0]
        out[key] = out.get(key, EMPTY_STATS).observe(wl[r] if r in taken else None, time_s)
        if collect and r in taken and kinds[r] == BEARING and math.isfinite(wl[r]):
            b = x[bl[r]] if bl[r] >= 0 else 0.0
            raw = (wl[r] * math.exp(sl[r]) + b) / sg[r]
            bias[key] = bias.get(key, EMPTY_BIAS).observe(raw, time_s)
    return _with(t, sensors=out, bias_stats=bias)


OWN_P = 1.0 - 1e-9  # ~6.1 σ: observations within it of a track never start another
MAX_SCALE = 100.0


def _consistency(t: Track, nis: float, dof: int) -> Track:
    """Widen a track's measurement noise when its own innovations contradict it.

    Over the last NIS_WINDOW updates ΣNIS ~ χ²(Σdof) if the stated σ are right; above the 99 %
    quantile the variances are scaled by ΣNIS/Σdof (covariance matching), below the 1 % quantile
    a scale above 1 relaxes the same way (never under 1). The window restarts after a change.
    """
    hist = (*t.nis, (nis, dof))[-NIS_WINDOW:]
    tot, n = sum(h[0] for h in hist), sum(h[1] for h in hist)
    if len(hist) >= 10 and (tot > chi2_ppf(0.99, n) or (t.scale > 1.0 and tot < chi2_ppf(0.01, n))):
        return _with(t, nis=(), scale=float(np.clip(t.scale * tot / n, 1.0, MAX_SCALE)))
    return _with(t, nis=hist)


def update_to_dict(u: TrackUpdate) -> dict:
    """The `unseen track --json` object of one track update."""
    e = u.ellipse95
    return {
        "track": u.track,
        "time_s": u.time_s,
        "lat": u.lat,
        "lon": u.lon,
        "alt_m": u.alt_m,
        "vel_east_m_s": u.vel_east_m_s,
        "vel_north_m_s": u.vel_north_m_s,
        "cov_enu_m2": [list(r) for r in u.cov_enu_m2],
        "ellipse95": {
            "semi_major_m": e.semi_major_m,
            "semi_minor_m": e.semi_minor_m,
            "orientation_deg": e.orientation_deg,
        },
        "speed_m_s": u.speed_m_s,
        "status": u.status,
        "n_obs": u.n_obs,
        "freq_hz": u.freq_hz,
    }


def _transition(opts: TrackOptions, dt: float) -> tuple[list, np.ndarray]:
    """Mode models [(F, Q)] and the mode transition matrix Π over dt (cached; never mutated)."""
    return _transition_cached(
        opts.model, dt, opts.q, opts.still_m2_s, opts.manoeuvre_m_s2, opts.switch_s
    )


@lru_cache(maxsize=1024)
def _transition_cached(
    model: str, dt: float, q: float, still: float, man: float, switch_s: float
) -> tuple[list, np.ndarray]:
    opts = TrackOptions(
        model=model, process_noise_m_s2=float(np.sqrt(q)), still_m2_s=still,
        manoeuvre_m_s2=man, switch_s=switch_s,
    )  # fmt: skip
    if opts.model == "cv":
        return [ncv(dt, 0.0)], np.ones((1, 1))
    if opts.model == "ncv":
        return [ncv(dt, opts.q)], np.ones((1, 1))
    models = [stationary(dt, opts.still_m2_s), ncv(dt, opts.q), ncv(dt, opts.manoeuvre_m_s2**2)]
    r = len(models)
    p = (1.0 - np.exp(-r * dt / ((r - 1) * opts.switch_s))) / r
    Pi = np.full((r, r), p) + np.eye(r) * (1.0 - r * p)
    return models, Pi


def _bias_model(t: Track, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Per bias state over dt: the coefficient a^dt and the stationary variance f·c·σ² (from the
    sensor's residual statistics, `BiasStats.model`)."""
    a = np.zeros(len(t.bias_keys))
    var = np.zeros(len(t.bias_keys))
    for i, (k, s2) in enumerate(zip(t.bias_keys, t.bias_sig2, strict=True)):
        st = t.bias_stats.get(k)
        if st is not None:
            f, ak, c = st.model()
            if f > 0:
                a[i], var[i] = ak**dt, f * max(c, 1.0) * s2
    return a, var


def _with_bias(F: np.ndarray, Q: np.ndarray, a: np.ndarray, var: np.ndarray):
    """F, Q extended by first-order Gauss–Markov biases: b' = a·b + w, var(w) = σ_b²(1 − a²)."""
    nb = a.size
    F2 = np.zeros((4 + nb, 4 + nb))
    Q2 = np.zeros((4 + nb, 4 + nb))
    F2[:4, :4], Q2[:4, :4] = F, Q
    idx = np.arange(4, 4 + nb)
    F2[idx, idx] = a
    Q2[idx, idx] = var * (1.0 - a * a)
    return F2, Q2


def _augment(t: Track, meas: Measurements, opts: TrackOptions) -> Track:
    """The track with a bias state for each bearing sensor of `meas` whose residuals have shown
    persistence (`BiasStats.model` f > 0) and that has none yet: zero mean, its stationary
    variance f·max(c, 1)·σ² (bearings with white errors never get one)."""
    if not opts.bias or not t.bias_stats:
        return t
    ready = {}
    for k, st in t.bias_stats.items():
        if k not in t.bias_keys:
            f, _, c = st.model()
            if f > 0:
                ready[k] = f * max(c, 1.0)
    if not ready:
        return t
    new: dict[str, float] = {}
    var: list[float] = []
    for k, kind, sg in zip(meas.key, meas.kinds, meas.sig.tolist(), strict=True):
        if kind == BEARING and k in ready and k not in new:
            new[k] = sg * sg
            var.append(ready[k] * sg * sg)
    if not new:
        return t
    nb = len(new)
    modes = []
    for g in t.modes:
        n = g.x.shape[0]
        P = np.zeros((n + nb, n + nb))
        P[:n, :n] = g.P
        P[np.arange(n, n + nb), np.arange(n, n + nb)] = var
        modes.append(Gaussian(np.concatenate([g.x, np.zeros(nb)]), P))
    return _with(t, modes=tuple(modes), bias_keys=(*t.bias_keys, *new),
                 bias_sig2=(*t.bias_sig2, *new.values()))  # fmt: skip


def _bidx(t: Track, meas: Measurements) -> np.ndarray:
    """Per row the index of its bias state in the track's x (−1: none)."""
    if not t.bias_keys:
        return no_bias(meas.size)
    pos = {k: 4 + i for i, k in enumerate(t.bias_keys)}
    rows = zip(meas.key, meas.kinds, strict=True)
    return np.array([pos.get(k, -1) if kind == BEARING else -1 for k, kind in rows], dtype=np.int64)


def predict_track(t: Track, time_s: float, opts: TrackOptions) -> tuple[Track, np.ndarray]:
    """The track at `time_s` (re-centred when far from its frame) and the predicted mode weights."""
    frame, modes = t.frame, t.modes
    if np.hypot(*t.state.x[:2]) > RECENTRE_M:
        new = []
        for m in modes:
            frame2, x, P = recentre(t.frame, m.x, m.P, t.alt_m)
            new.append(Gaussian(x, P))
        frame, modes = frame2, tuple(new)
    dt = max(time_s - t.time_s, 0.0)
    models, Pi = _transition(opts, dt)
    if t.bias_keys:
        a, var = _bias_model(t, dt)
        models = [_with_bias(F, Q, a, var) for F, Q in models]
    mixed, c = mix(modes, t.mu, Pi)
    pred = tuple(predict(m, F, Q) for m, (F, Q) in zip(mixed, models, strict=True))
    return _with(t, frame=frame, modes=pred, mu=c, time_s=time_s), c


def _new_track(fix: Fix, tid: int, channel: str, freq: float | None, opts: TrackOptions) -> Track:
    frame = Frame.at(fix.lat_deg, fix.lon_deg, fix.alt_m)
    P = np.zeros((4, 4))
    P[:2, :2] = np.asarray(fix.cov_enu_m2, dtype=float)[:2, :2]
    P[2, 2] = P[3, 3] = opts.init_speed_m_s**2
    nm = 3 if opts.model == "imm" else 1
    g = Gaussian(np.zeros(4), P)
    return Track(
        id=tid, channel=channel, freq_hz=freq, frame=frame, alt_m=fix.alt_m,
        modes=(g,) * nm, mu=np.full(nm, 1.0 / nm), time_s=fix.time_s, status=TENTATIVE,
        n_obs=fix.n_used, hits=(True,), last_hit_s=fix.time_s,
    )  # fmt: skip


def _units(meas: Measurements) -> dict[str, list[list[int]]]:
    """Rows per observation, grouped by sensor key: {key: [[rows of obs 1], ...]}."""
    out: dict[str, dict[int, list[int]]] = {}
    for r, (k, i) in enumerate(zip(meas.key, meas.index, strict=True)):
        out.setdefault(k, {}).setdefault(i, []).append(r)
    return {k: list(v.values()) for k, v in out.items()}


def _gate_costs(
    t: Track,
    meas: Measurements,
    delta: np.ndarray,
    fix_scale: float = 1.0,
    var: np.ndarray | None = None,
    bidx: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: squared normalised innovation d², ln S and signed ν/√S at the track's prediction
    (scalar rows; `var` the rows' variance factors, default the track's scale). Fix rows get the
    2-D d² of the pair times `fix_scale` (χ²₁/χ²₂ gate ratio) on each row (ν/√S: nan)."""
    g = t.state
    Pp = g.P[:2, :2]
    var = np.full(meas.size, t.scale) if var is None else var
    if meas.scalar:
        f = t.frame
        h, H = hjac(g.x[:2], meas.kind, meas.sta, meas.sta_b, meas.rot, delta, f.ecef, f.rot,
                    t.alt_m - f.alt_m)  # fmt: skip
        bidx = no_bias(meas.size) if bidx is None else bidx
        return gate(h, H, g.P, g.x, meas.z, meas.sig * np.sqrt(var), meas.kind, bidx)
    h, H = predict_measurements(meas, t.frame, t.alt_m, g.x[None, :2], delta)
    h, H = h[0], H[0]
    S = np.einsum("mi,ij,mj->m", H, Pp, H) + var * meas.sig**2
    v = meas.z - h
    b = meas.kind == BEARING
    v[b] = np.mod(v[b] + np.pi, 2.0 * np.pi) - np.pi
    d2 = v * v / S
    lnS = np.log(S)
    w = v / np.sqrt(S)
    f = np.flatnonzero(meas.kind == FIX)
    for j in range(0, f.size, 2):
        fx = meas.fixes[f[j]]
        zf = t.frame.en_of(fx.lat_deg, fx.lon_deg, fx.alt_m)
        Sf = Pp + np.asarray(fx.cov_enu_m2, dtype=float)[:2, :2]
        vf = zf - g.x[:2]
        d2[f[j]] = d2[f[j + 1]] = float(vf @ np.linalg.solve(Sf, vf)) * fix_scale
        lnS[f[j]] = lnS[f[j + 1]] = 0.5 * np.log(np.linalg.det(Sf))
    d2[meas.kind == RSSI] = np.nan
    w[(meas.kind == RSSI) | (meas.kind == FIX)] = np.nan
    return d2, lnS, w


def associate(
    tracks: Sequence[Track],
    meas: Measurements,
    deltas: Sequence[np.ndarray],
    opts: TrackOptions,
    variances: Sequence[np.ndarray] | None = None,
    units: dict | None = None,
    bidxs: Sequence[np.ndarray] | None = None,
) -> tuple[list[list[int]], list[int], list[tuple[float, int]], list]:
    """GNN per sensor: rows assigned to each track, the rows left unassigned, per track the
    summed d² and count of the observations its gate refused where it was the only track (so
    that the consistency test sees the tail the gate cut off; not from a sensor whose
    observations the track mostly refuses: that one sees another signal), and the gate costs."""
    n = len(tracks)
    assigned: list[list[int]] = [[] for _ in range(n)]
    outside = [(0.0, 0)] * n
    used: set[int] = set()
    units = _units(meas) if units is None else units
    if n:
        gate1 = chi2_ppf(opts.gate_p, 1)
        scale = gate1 / chi2_ppf(opts.gate_p, 2)
        var = variances or [None] * n
        bi = bidxs or [None] * n
        costs = [_gate_costs(t, meas, d, scale, v, b)
                 for t, d, v, b in zip(tracks, deltas, var, bi, strict=True)]  # fmt: skip
        big = 1e9
        kinds = meas.kinds
        d2_0 = costs[0][0].tolist()
        for key, obs_rows in units.items():
            if n == 1 and len(obs_rows) == 1 and kinds[obs_rows[0][0]] != RSSI:
                if d2_0[obs_rows[0][0]] <= gate1:
                    assigned[0].extend(obs_rows[0])
                    used.update(obs_rows[0])
                elif _accepts(tracks[0], key):
                    d2 = min(d2_0[obs_rows[0][0]], OUTSIDE_CAP * gate1)
                    outside[0] = (outside[0][0] + d2, outside[0][1] + 1)
                continue
            if kinds[obs_rows[0][0]] == RSSI:
                if n == 1:
                    for rows in obs_rows:
                        assigned[0].extend(rows)
                        used.update(rows)
                continue
            m = len(obs_rows)
            C = np.full((n, m + n), big)
            for i, (d2, lnS, _) in enumerate(costs):
                for j, rows in enumerate(obs_rows):
                    r = rows[0]
                    if d2[r] <= gate1:
                        C[i, j] = d2[r] + lnS[r]
                C[i, m + i] = gate1 + max(lnS[r] for r in (rows[0] for rows in obs_rows))
            ri, ci = linear_sum_assignment(C)
            for i, j in zip(ri, ci, strict=True):
                if j < m and C[i, j] < big:
                    assigned[i].extend(obs_rows[j])
                    used.update(obs_rows[j])
    if n:
        # an observation this close to a live track is its outlier, not a new transmitter
        own = chi2_ppf(OWN_P, 1)
        for d2, _, _ in costs:
            used.update(r for r, v in enumerate(d2.tolist()) if v <= own)  # nan (RSSI): False
    left = [r for r in range(meas.size) if r not in used]
    return assigned, left, outside, costs if n else []


P_DETECT = 0.95
FALSE_PER_SCAN = 0.01  # expected false observations per sensor and scan (clutter density below)
CLUTTER = {BEARING: FALSE_PER_SCAN / (2.0 * np.pi), TDOA: FALSE_PER_SCAN / 2.0e4}


def _events(L: np.ndarray, miss: float, star: bool = False) -> np.ndarray:
    """JPDA marginals β (n, m + 1) (column 0: no observation) from likelihood ratios L (n, m):
    every joint event gives each track at most one observation and each observation at most one
    track; p(event) ∝ Π L_ij over the pairs × miss^(tracks without one).

    `star` (JPDA*, Blom & Bloem 2000): of the events that give the same observations to the same
    tracks in another order, only the likeliest is kept. Plain JPDA averages over the
    permutations, which draws two tracks on one line of bearing together (coalescence) but keeps
    the covariance honest and, with it, the velocities that carry each track through a crossing;
    JPDA* commits to one permutation like GNN (bench/track.py compares the three).
    """
    n, m = L.shape
    beta = np.zeros((n, m + 1))
    best: dict[tuple[int, int], tuple[float, tuple[int, ...]]] = {}
    events: list[tuple[float, tuple[int, ...]]] = []

    def walk(i: int, taken: int, det: int, p: float, path: tuple[int, ...]) -> None:
        if i == n:
            if star:
                k = (det, taken)
                if p > best.get(k, (-1.0, ()))[0]:
                    best[k] = (p, path)
            else:
                events.append((p, path))
            return
        walk(i + 1, taken, det, p * miss, (*path, 0))
        for j in range(m):
            if L[i, j] > 0 and not taken & (1 << j):
                walk(i + 1, taken | (1 << j), det | (1 << i), p * L[i, j], (*path, j + 1))

    walk(0, 0, 0, 1.0, ())
    total = 0.0
    for p, path in best.values() if star else events:
        total += p
        for a, j in enumerate(path):
            beta[a, j] += p
    return beta / total if total > 0 else beta


def jpda(
    tracks: Sequence[Track], meas: Measurements, deltas: Sequence[np.ndarray], opts: TrackOptions
) -> tuple[list[Track], list[int], list[bool]]:
    """Joint probabilistic data association, one sensor after another (bearing and TDOA rows).

    Per sensor, each track's posterior is the mixture of "no observation" (β₀, the prediction)
    and "observation j" (β_j, the EKF update with it), moment-matched (`combine`): where two
    transmitters sit on nearly the same line of bearing the covariance grows by the spread of the
    candidate innovations instead of trusting one guess. IMM modes share the β of the combined
    state; each mode's likelihood is (1 − P_D) + P_D Σ_j N(ν_j; 0, S_j)/λ.
    Returns the updated tracks, the rows left for initiation, and which tracks were seen.
    """
    n = len(tracks)
    gate1 = chi2_ppf(opts.gate_p, 1)
    modes = [list(t.modes) for t in tracks]
    loglik = [np.zeros(len(t.modes)) for t in tracks]
    seen = [False] * n
    nobs = [0] * n
    used: set[int] = set()
    kinds = meas.kinds
    norm = P_DETECT / math.sqrt(2.0 * math.pi)
    for _key, obs_rows in _units(meas).items():
        rows = [r[0] for r in obs_rows]
        kind = kinds[rows[0]]
        if kind not in CLUTTER or any(len(r) > 1 for r in obs_rows):
            continue
        ix = np.array(rows)
        sk, ss, sb, sr = meas.kind[ix], meas.sta[ix], meas.sta_b[ix], meas.rot[ix]
        sz, sg = meas.z[ix], meas.sig[ix]
        lam = CLUTTER[kind]
        m = len(rows)
        dl = [d[ix] for d in deltas]
        L = np.zeros((n, m))
        for i, t in enumerate(tracks):
            g = combine(tuple(modes[i]), t.mu)
            f = t.frame
            h, H = hjac(g.x[:2], sk, ss, sb, sr, dl[i], f.ecef, f.rot, t.alt_m - f.alt_m)
            d2, lnS, _ = gate(h, H, g.P, g.x, sz, sg, sk, no_bias(m))
            for j, (a, b) in enumerate(zip(d2.tolist(), lnS.tolist(), strict=True)):
                if a <= gate1:
                    L[i, j] = norm * math.exp(-0.5 * (a + b)) / lam
        beta = _events(L, 1.0 - P_DETECT, opts.association == "jpda-star")
        bl = beta.tolist()
        best = np.argmax(beta[:, 1:], axis=0).tolist() if m else []
        for i, t in enumerate(tracks):
            if not any(v > 0 for v in bl[i][1:]):
                continue
            seen[i] = True
            nobs[i] += sum(1 for k in best if k == i)
            f = t.frame
            for k, g in enumerate(modes[i]):
                x, P, ll = pda(g.x, g.P, sk, ss, sb, sr, sz, sg, dl[i], f.ecef, f.rot,
                               t.alt_m - f.alt_m, beta[i], lam, P_DETECT)  # fmt: skip
                modes[i][k] = Gaussian(x, P)
                loglik[i][k] += ll
        used.update(r for j, r in enumerate(rows) if any(b[j + 1] > 0 for b in bl))
    out = []
    for i, t in enumerate(tracks):
        if len(t.modes) == 1:
            out.append(_with(t, modes=tuple(modes[i]), n_obs=t.n_obs + nobs[i]))
            continue
        lw = loglik[i] + np.log(np.maximum(t.mu, 1e-300))
        mu = np.exp(lw - lw.max())
        out.append(_with(t, modes=tuple(modes[i]), mu=mu / mu.sum(), n_obs=t.n_obs + nobs[i]))
    return out, [r for r in range(meas.size) if r not in used], seen


def _partition(cands: list) -> list:
    """The set of candidate fixes sharing no observation with the most members and, among those,
    the least total χ² (exhaustive up to 16 candidates, else greedy by χ²/dof): a ghost at a
    false intersection has to beat the true pairing as a whole, not one fix at a time."""
    cands = sorted(cands, key=lambda s: s[0])
    if len(cands) > 16:
        taken: set[int] = set()
        out = []
        for sc, c, r in cands:
            if not taken.intersection(c):
                taken.update(c)
                out.append((sc, c, r))
        return out
    best: tuple[int, float, list] = (0, 0.0, [])

    def walk(i: int, taken: frozenset, chosen: list, cost: float) -> None:
        nonlocal best
        if (len(chosen), -cost) > (best[0], -best[1]):
            best = (len(chosen), cost, list(chosen))
        for j in range(i, len(cands)):
            _, c, r = cands[j]
            if not taken.intersection(c):
                walk(j + 1, taken | set(c), [*chosen, cands[j]], cost + r.extra["chi2"])

    walk(0, frozenset(), [], 0.0)
    return best[2]


def _initiate(
    observations: Sequence,
    meas: Measurements,
    rows: list[int],
    live: Sequence[Track],
    opts: TrackOptions,
) -> tuple[list[Fix], str | None, set[int]]:
    """Fixes to start tracks from the unassigned rows, a note when nothing can be located, and
    the observations (indices) the fixes used."""
    sub = meas.take(rows)
    fixes: list[Fix] = []
    used: set[int] = set()
    for i in sorted({sub.index[j] for j in range(sub.size) if sub.kind[j] == FIX}):
        fixes.append(observations[i])
        used.add(i)
    by_key: dict[str, list[int]] = {}
    for j in range(sub.size):
        if sub.kind[j] != FIX:
            by_key.setdefault(sub.key[j], [])
            if sub.index[j] not in by_key[sub.key[j]]:
                by_key[sub.key[j]].append(sub.index[j])
    note = None
    places = {tuple(np.round(meas.sta[r], 0)) for r in rows if meas.kind[r] != FIX}
    if by_key and len(places) == 1 and all(k.startswith("b:") for k in by_key):
        note = (
            f"bearings from one station only ({', '.join(k[2:] for k in sorted(by_key))}) "
            f"within the {opts.init_window_s:g} s initiation window: a transmitter is not "
            "observable from the lines of bearing of a single place"
        )
        by_key = {}
    if by_key:
        keys = sorted(by_key)
        ambiguous = any(len(v) > 1 for v in by_key.values())
        combos = list(itertools.islice(itertools.product(*(by_key[k] for k in keys)), MAX_COMBOS))
        preps = []
        for c in combos:
            preps.append(prepare([observations[i] for i in c], year=opts.year))
        results = solve_prepared(preps, robust=not ambiguous)
        cands = []
        for c, r in zip(combos, results, strict=True):
            if isinstance(r, UnseenError):
                note = note or str(r)
                continue
            dof = r.extra.get("dof", 0)
            if dof < 1 and ambiguous:
                continue
            if dof >= 1 and r.extra["chi2"] > chi2_ppf(opts.init_p, dof):
                continue
            if r.ellipse95.semi_major_m > 2.45 * opts.max_sigma_m:
                continue
            score = r.extra["chi2"] / max(dof, 1) if dof else 0.0
            cands.append((score, c, r))
        for _, c, r in _partition(cands):
            fixes.append(r)
            used.update(c)
    out = []
    gate2 = chi2_ppf(opts.gate_p, 2)
    for f in fixes:
        near = False
        for t in live:
            g = t.state
            v = t.frame.en_of(f.lat_deg, f.lon_deg, f.alt_m) - g.x[:2]
            S = g.P[:2, :2] + np.asarray(f.cov_enu_m2, dtype=float)[:2, :2]
            if float(v @ np.linalg.solve(S, v)) <= gate2:
                near = True
                break
        if not near:
            out.append(f)
    return out, (note if not fixes else None), used


def _channel_label(freq: float | None) -> str:
    return "" if freq is None else f"{freq:.0f} Hz"


def step(
    state: TrackerState,
    observations: Sequence,
    time_s: float,
    channel: str,
    freq_hz: float | None,
    opts: TrackOptions,
) -> tuple[TrackerState, list[TrackUpdate]]:
    """One scan of one channel: predict, associate, update, initiate, manage. Pure."""
    meas = measurements(observations, year=opts.year)
    mine = [t for t in state.tracks if t.channel == channel]
    others = [t for t in state.tracks if t.channel != channel]
    preds = []
    for t in mine:
        p, c = predict_track(t, time_s, opts)
        preds.append((p, c))
    tracks = [p for p, _ in preds]
    deltas = [bearing_offsets(meas, t.frame, t.state.x[:2], t.alt_m) for t in tracks]
    if opts.association != "gnn" and len(tracks) > 1:
        tracks, left, seen = jpda(tracks, meas, deltas, opts)
        assigned = [[] for _ in tracks]
        outside = [(0.0, 0)] * len(tracks)
        variances = [np.full(meas.size, t.scale) for t in tracks]
        bidxs = [no_bias(meas.size)] * len(tracks)
    else:
        tracks = [_augment(t, meas, opts) for t in tracks]
        bidxs = [_bidx(t, meas) for t in tracks]
        variances = [_variances(t, meas) for t in tracks]
        units = _units(meas)
        assigned, left, outside, costs = associate(tracks, meas, deltas, opts, variances, units,
                                                   bidxs)  # fmt: skip
        seen = [bool(r) for r in assigned]
        per = zip(tracks, assigned, costs, bidxs, strict=True)
        tracks = [_observe(t, meas, units, rows, c, time_s, b, opts.bias)
                  for t, rows, c, b in per]  # fmt: skip
    out: list[Track] = []
    for t, rows, d, hit, (out_d2, out_n), var, bi in zip(
        tracks, assigned, deltas, seen, outside, variances, bidxs, strict=True
    ):
        if rows:
            sub = meas if len(rows) == meas.size and rows == sorted(rows) else meas.take(rows)
            v = var[rows]
            if np.any(v != 1.0):
                sub = _with_sig(sub, sub.sig * np.sqrt(v))
            modes, mu, nis = imm_update(
                t.modes, t.mu, sub, t.frame, t.alt_m, d[rows], opts.iterations, bi[rows]
            )
            t = _consistency(_with(t, modes=modes, mu=mu, n_obs=t.n_obs + len(set(sub.index))),
                             nis + out_d2, len(rows) + out_n)  # fmt: skip
        elif out_n:
            t = _consistency(t, out_d2, out_n)
        hits = (*t.hits, hit)[-opts.confirm_n :]
        out.append(_with(t, hits=hits, last_hit_s=time_s if hit else t.last_hit_s))
    updates: list[TrackUpdate] = []
    notes = dict(state.notes)
    started = set(state.started)
    next_id = state.next_id
    # initiation: this scan's leftovers with the channel's recent unused observations (stations
    # rarely observe at the same instant), the latest of each sensor only
    since = time_s - opts.init_window_s
    keep = [p for p in state.pending if p[0] != channel and p[1] >= since]
    pool = [p[2] for p in state.pending if p[0] == channel and since <= p[1] < time_s]
    pool += [observations[i] for i in sorted({meas.index[r] for r in left})]
    if pool:
        pm = measurements(pool, year=opts.year)
        latest: dict[str, float] = {}
        for r in range(pm.size):
            latest[pm.key[r]] = max(latest.get(pm.key[r], -np.inf), _time(pool[pm.index[r]]))
        rows = [r for r in range(pm.size) if _time(pool[pm.index[r]]) == latest[pm.key[r]]]
        fixes, note, used = _initiate(pool, pm, rows, out, opts)
        for f in fixes:
            f = replace(f, time_s=time_s)
            out.append(_new_track(f, next_id, channel, freq_hz, opts))
            next_id += 1
        keep += [(channel, _time(o), o) for i, o in enumerate(pool) if i not in used]
        if note and channel not in started:
            notes[channel] = note
    live = []
    for t in others + out:
        dead = time_s - t.last_hit_s > opts.coast_s
        dead |= sigma_major(t.state.P) > opts.max_sigma_m
        if t.status == TENTATIVE and t.channel == channel:
            n_hit = sum(t.hits)
            if n_hit >= opts.confirm_m:
                t = _with(t, status=CONFIRMED)
                started.add(channel)
                notes.pop(channel, None)
            elif n_hit + (opts.confirm_n - len(t.hits)) < opts.confirm_m:
                dead = True
        if dead:
            updates.append(replace(to_update(t, DELETED), time_s=max(time_s, t.time_s)))
            continue
        live.append(t)
        if t.channel == channel and t.hits[-1]:
            updates.append(to_update(t))
    live.sort(key=lambda t: t.id)
    updates.sort(key=lambda u: u.track)
    return (
        TrackerState(
            tuple(live), next_id, tuple(sorted(notes.items())), frozenset(started), tuple(keep)
        ),
        updates,
    )


def freq_of(o) -> float | None:
    f = getattr(o, "freq_hz", None)
    if f is None and isinstance(o, Fix):
        f = o.extra.get("freq_hz") if o.extra else None
    return None if f is None else float(f)


class ChannelMap:
    """Frequencies → channels: a frequency within `width_hz` of a known channel's first frequency
    joins it, otherwise it opens a new channel. Without a frequency the group names the channel."""

    def __init__(self, width_hz: float) -> None:
        self.width_hz = width_hz
        self.centres: list[float] = []

    def key(self, o, group: str = "") -> tuple[str, float | None]:
        f = freq_of(o)
        if f is None:
            return (f"group {group!r}" if group else ""), None
        if not np.isfinite(f):
            raise InputError(f"freq_hz must be finite, got {f}")
        near = [c for c in self.centres if abs(c - f) <= self.width_hz]
        if near:
            c = min(near, key=lambda c: abs(c - f))
        else:
            c = f
            self.centres.append(f)
        return _channel_label(c), c


def _time(o) -> float:
    t = float(o.time_s)
    if not np.isfinite(t):
        raise InputError(f"time_s must be finite, got {t}")
    return t


def scans(
    groups: dict[str, Sequence], opts: TrackOptions
) -> list[tuple[float, str, float | None, list]]:
    """(time_s, channel, freq_hz, observations) per scan in time order (stable within a time)."""
    flat = [(_time(o), g, o) for g, obs in groups.items() for o in obs]
    flat.sort(key=lambda x: x[0])
    cmap = ChannelMap(opts.channel_hz)
    buckets: dict[tuple[float, str], list] = {}
    meta: dict[str, float | None] = {}
    for t, g, o in flat:
        ch, fc = cmap.key(o, g)
        meta[ch] = fc
        buckets.setdefault((t, ch), []).append(o)
    keys = sorted(buckets, key=lambda k: (k[0], k[1]))
    return [(t, ch, meta[ch], buckets[(t, ch)]) for t, ch in keys]


def run(
    groups: dict[str, Sequence] | Sequence, opts: TrackOptions | None = None
) -> tuple[list[TrackUpdate], TrackerState]:
    """Track every channel of a batch of observations (any order); updates in time order."""
    opts = opts or TrackOptions()
    if not isinstance(groups, dict):
        groups = {"": list(groups)}
    state = TrackerState()
    updates: list[TrackUpdate] = []
    for t, ch, f, obs in scans(groups, opts):
        state, up = step(state, obs, t, ch, f, opts)
        updates.extend(up)
    return updates, state


class Tracker:
    """Observations one at a time, in any order within `opts.lag_s` of the latest time seen.

    Each scan's starting state is kept while the scan is within the lag; an observation for an
    earlier time joins its scan and every scan from there on is filtered again from the retained
    state, so the result equals filtering the observations in time order. `add` returns the
    updates of the scans it (re)filtered: a later update for the same track and time revises the
    earlier one. Observations older than the lag are refused (kept in `late`, never used).
    """

    def __init__(self, opts: TrackOptions | None = None) -> None:
        self.opts = opts or TrackOptions()
        self.state = TrackerState()
        self.cmap = ChannelMap(self.opts.channel_hz)
        self.scans: list[tuple[float, str, float | None, list]] = []
        self.snaps: list[TrackerState] = []
        self.latest = -np.inf
        self.late: list = []

    def add(self, obs, group: str = "") -> list[TrackUpdate]:
        t = _time(obs)
        if t < self.latest - self.opts.lag_s:
            self.late.append(obs)
            return []
        ch, fc = self.cmap.key(obs, group)
        keys = [(s[0], s[1]) for s in self.scans]
        if (t, ch) in keys:
            i = keys.index((t, ch))
            self.scans[i][3].append(obs)
        else:
            i = sum(1 for k in keys if k < (t, ch))
            self.scans.insert(i, (t, ch, fc, [obs]))
            self.snaps.insert(i, self.snaps[i] if i < len(self.snaps) else self.state)
        state = self.snaps[i]
        ups: list[TrackUpdate] = []
        for j in range(i, len(self.scans)):
            self.snaps[j] = state
            tj, chj, fj, oj = self.scans[j]
            state, up = step(state, oj, tj, chj, fj, self.opts)
            ups.extend(up)
        self.state = state
        self.latest = max(self.latest, t)
        while self.scans and self.scans[0][0] < self.latest - self.opts.lag_s:
            self.scans.pop(0)
            self.snaps.pop(0)
        return ups


def unobservable(state: TrackerState) -> dict[str, GeometryError]:
    """Channels that never started a track, with the reason."""
    return {
        ch: GeometryError(f"channel {ch or 'default'}: no track: {msg}")
        for ch, msg in state.notes
        if ch not in state.started
    }
