"""Motion models and the exact measurement models of `unseen.locate`, in a local ENU frame.

State x = (east, north, v_east, v_north) in metres and m/s in the tangent frame at `Frame.origin`.
The target sits at a fixed altitude: its ECEF position is P = O + E·e + N·n + U·u with
u = Δalt − (e² + n²)/(2 R) (the ellipsoid falls below the tangent plane), so frames are re-centred
on the target every `RECENTRE_M` to keep u exact to centimetres.

Motion (per axis, continuous white-noise acceleration of spectral density q, m²/s³):
  F = [[1, dt], [0, 1]],  Q = q·[[dt³/3, dt²/2], [dt²/2, dt]]          (NCV; CV is q = 0)
Stationary (near-constant position): F = [[1, 0], [0, 0]], Q = diag(q_p·dt, ε): the velocity is
forgotten and the position wanders by q_p m²/s.

Measurements (the equations of `unseen.locate.model`): bearing β = atan2(E_S·(P−S), N_S·(P−S)) + δ
with δ the geodesic minus normal-section azimuth; TDOA c·τ = |P − S_a| − |P − S_b|; RSSI
differences p_i − p_1 = −10 n log10(|P − S_i| / |P − S_1|) (the unknown transmit power cancels);
a fix is a direct position measurement with its own covariance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numba import njit

from unseen.geo.frames import enu_basis, geodetic2ecef, geodetic2enu
from unseen.geo.geodesic import inverse
from unseen.locate.model import LN10, MIN_RANGE_M, bearing_model, wrap_pi

EARTH_RADIUS_M = 6_371_000.0
WGS84_A = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
WGS84_B = WGS84_A * (1.0 - WGS84_F)
FAR_M = 50_000.0  # beyond this the geodesic and normal-section azimuths may differ by > 1e-9 rad
RECENTRE_M = 2_000.0
BEARING, TDOA, RSSI, FIX = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class Frame:
    """A local east-north-up tangent frame: origin (deg, deg, m), its ECEF point and ENU rows."""

    lat_deg: float
    lon_deg: float
    alt_m: float
    ecef: np.ndarray  # (3,)
    rot: np.ndarray  # (3, 3) rows: east, north, up unit vectors in ECEF

    @staticmethod
    def at(lat_deg: float, lon_deg: float, alt_m: float) -> Frame:
        return Frame(
            float(lat_deg),
            float(lon_deg),
            float(alt_m),
            geodetic2ecef(lat_deg, lon_deg, alt_m).reshape(3),
            enu_basis(lat_deg, lon_deg).reshape(3, 3),
        )

    def ecef_of(self, en: np.ndarray, alt_m: float) -> tuple[np.ndarray, np.ndarray]:
        """ECEF points (G, 3) of east/north positions (G, 2) at altitude `alt_m`, and ∂P/∂(e, n)
        (G, 3, 2)."""
        e, n = en[:, 0], en[:, 1]
        u = (alt_m - self.alt_m) - (e * e + n * n) / (2.0 * EARTH_RADIUS_M)
        E, N, U = self.rot
        P = self.ecef + np.outer(e, E) + np.outer(n, N) + np.outer(u, U)
        dP = np.empty((en.shape[0], 3, 2))
        dP[:, :, 0] = E - np.outer(e / EARTH_RADIUS_M, U)
        dP[:, :, 1] = N - np.outer(n / EARTH_RADIUS_M, U)
        return P, dP

    def point(self, en: np.ndarray, alt_m: float) -> np.ndarray:
        """ECEF (3,) of one east/north position at altitude `alt_m`."""
        e, n = float(en[0]), float(en[1])
        u = (alt_m - self.alt_m) - (e * e + n * n) / (2.0 * EARTH_RADIUS_M)
        return self.ecef + np.array([e, n, u]) @ self.rot

    def geodetic(self, en: np.ndarray, alt_m: float) -> tuple[float, float]:
        """(lat, lon) of one east/north position at altitude `alt_m` (Bowring, sub-mm)."""
        return ecef2latlon(*self.point(en, alt_m))

    def en_of(self, lat_deg: float, lon_deg: float, alt_m: float) -> np.ndarray:
        """East/north (2,) of a geodetic point in this frame."""
        return geodetic2enu(lat_deg, lon_deg, alt_m, self.lat_deg, self.lon_deg, self.alt_m)[:2]


@lru_cache(maxsize=4096)
def station_frame(lat_deg: float, lon_deg: float, alt_m: float) -> tuple[np.ndarray, np.ndarray]:
    """ECEF (3,) of a WGS84 point and its east, north unit vectors (2, 3); closed form, cached."""
    la, lo = math.radians(lat_deg), math.radians(lon_deg)
    sl, cl, so, co = math.sin(la), math.cos(la), math.sin(lo), math.cos(lo)
    N = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sl * sl)
    xyz = np.array(
        [(N + alt_m) * cl * co, (N + alt_m) * cl * so, (N * (1 - WGS84_E2) + alt_m) * sl]
    )
    rot = np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl]])
    xyz.flags.writeable = False
    rot.flags.writeable = False
    return xyz, rot


def ecef2latlon(x: float, y: float, z: float) -> tuple[float, float]:
    """WGS84 latitude, longitude (deg) of an ECEF point near the surface (Bowring's formula)."""
    p = math.hypot(x, y)
    ep2 = WGS84_E2 / (1.0 - WGS84_E2)
    th = math.atan2(z * WGS84_A, p * WGS84_B)
    st, ct = math.sin(th), math.cos(th)
    lat = math.atan2(z + ep2 * WGS84_B * st**3, p - WGS84_E2 * WGS84_A * ct**3)
    return math.degrees(lat), math.degrees(math.atan2(y, x))


def recentre(
    frame: Frame, x: np.ndarray, P: np.ndarray, alt_m: float
) -> tuple[Frame, np.ndarray, np.ndarray]:
    """The frame at the state's position, with x and P expressed in it (velocities rotated; bias
    states after the first four kept)."""
    lat, lon = frame.geodetic(x[:2], alt_m)
    new = Frame.at(lat, lon, alt_m)
    R = (new.rot @ frame.rot.T)[:2, :2]
    J = np.eye(x.shape[0])
    J[:2, :2] = R
    J[2:4, 2:4] = R
    y = np.concatenate([[0.0, 0.0], R @ x[2:4], x[4:]])
    return new, y, J @ P @ J.T


def ncv(dt: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """F, Q of the nearly-constant-velocity model over `dt` s with acceleration PSD q (m²/s³)."""
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    Q = np.zeros((4, 4))
    a, b, c = q * dt**3 / 3.0, q * dt**2 / 2.0, q * dt
    Q[0, 0] = Q[1, 1] = a
    Q[0, 2] = Q[2, 0] = Q[1, 3] = Q[3, 1] = b
    Q[2, 2] = Q[3, 3] = c
    return F, Q


STILL_VEL_M2_S2 = 1e-4  # (1 cm/s)²: the stationary model's velocity variance


def stationary(dt: float, q_pos: float) -> tuple[np.ndarray, np.ndarray]:
    """F, Q of the near-constant-position model: velocity forgotten, position diffuses q_pos
    m²/s."""
    F = np.diag([1.0, 1.0, 0.0, 0.0])
    Q = np.diag([q_pos * dt, q_pos * dt, STILL_VEL_M2_S2, STILL_VEL_M2_S2])
    return F, Q


@dataclass(frozen=True, eq=False)
class Measurements:
    """m observations as arrays in ECEF; `key` names the sensor (association unit) of each.

    kind: BEARING (z rad, sig rad), TDOA (z = c·τ m, sig m; `sta_b` the second station),
    RSSI (z dBm, sig dB, `ple` the path-loss exponent), FIX (z unused; `fix_en`/`fix_cov` hold
    the position and its covariance in the frame named by `fix_frame`).
    """

    kind: np.ndarray  # (m,) int
    sta: np.ndarray  # (m, 3) ECEF of the (first) station
    sta_b: np.ndarray  # (m, 3) ECEF of the second TDOA station (zeros otherwise)
    rot: np.ndarray  # (m, 2, 3) station east, north unit vectors
    z: np.ndarray  # (m,)
    sig: np.ndarray  # (m,)
    ple: np.ndarray  # (m,)
    lat: np.ndarray  # (m,) station latitude, deg (geodesic bearing correction)
    lon: np.ndarray  # (m,)
    key: tuple[str, ...]
    index: tuple[int, ...]  # position of each in the caller's input
    fixes: tuple = ()  # per row: the Fix of a FIX row, None otherwise

    @property
    def size(self) -> int:
        return int(self.kind.shape[0])

    @cached_property
    def scalar(self) -> bool:
        """Only bearing and TDOA rows (the numba kernels' domain)."""
        return bool(np.all(self.kind <= TDOA))

    @cached_property
    def kinds(self) -> list[int]:
        return self.kind.tolist()

    def take(self, idx) -> Measurements:
        idx = np.asarray(idx, dtype=int)
        return Measurements(
            self.kind[idx], self.sta[idx], self.sta_b[idx], self.rot[idx], self.z[idx],
            self.sig[idx], self.ple[idx], self.lat[idx], self.lon[idx],
            tuple(self.key[i] for i in idx), tuple(self.index[i] for i in idx),
            tuple(self.fixes[i] for i in idx),
        )  # fmt: skip


class _Stations:
    """The two arrays of a locate `Batch` that `bearing_model` reads."""

    def __init__(self, sta: np.ndarray, rot: np.ndarray) -> None:
        self.b_sta, self.b_rot = sta, rot


def bearing_offsets(meas: Measurements, frame: Frame, en: np.ndarray, alt_m: float) -> np.ndarray:
    """δ (rad, (m,)) = geodesic initial azimuth − normal-section azimuth, station → the position
    `en` in `frame`.

    Computed (Karney) for stations beyond FAR_M; nearer, |δ| < 1e-9 rad and it is left at 0.
    """
    out = np.zeros(meas.size)
    r_t = math.hypot(float(en[0]), float(en[1])) + abs(alt_m - frame.alt_m) + 1.0
    if not _any_far(meas.sta, meas.kind, frame.ecef, FAR_M - r_t):
        return out  # no station can be beyond FAR_M from the target
    b = np.flatnonzero(meas.kind == BEARING)
    P0 = frame.point(en, alt_m)[None]
    b = b[np.linalg.norm(meas.sta[b] - P0, axis=1) > FAR_M]
    if b.size == 0:
        return out
    lat_deg, lon_deg = ecef2latlon(*P0[0])
    geo_az, _, _ = inverse(meas.lat[b], meas.lon[b], lat_deg, lon_deg)
    st = _Stations(meas.sta[None, b], meas.rot[None, b])
    ns, _ = bearing_model(st, P0)
    out[b] = wrap_pi(np.radians(geo_az) - ns[0])
    return out


@njit(cache=True)
def _any_far(sta, kind, origin, limit):
    """Whether a bearing row's station lies beyond `limit` metres of `origin`."""
    lim2 = limit * limit if limit > 0 else -1.0
    for r in range(kind.shape[0]):
        if kind[r] == BEARING:
            d = sta[r] - origin
            if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] > lim2:
                return True
    return False


def predict_measurements(
    meas: Measurements, frame: Frame, alt_m: float, en: np.ndarray, delta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """h (G, m) and ∂h/∂(e, n) (G, m, 2) for G positions `en` (G, 2) in `frame`.

    RSSI rows give −10 n log10 d (the transmit power is removed later by differencing); FIX rows
    give the position in the frame of the fix (east or north, alternating, two rows per fix).
    """
    G, m = en.shape[0], meas.size
    P, dP = frame.ecef_of(en, alt_m)
    h = np.zeros((G, m))
    J = np.zeros((G, m, 3))
    k = meas.kind
    b = np.flatnonzero(k == BEARING)
    if b.size:
        st = _Stations(
            np.broadcast_to(meas.sta[b], (G, b.size, 3)),
            np.broadcast_to(meas.rot[b], (G, b.size, 2, 3)),
        )
        az, grad = bearing_model(st, P)
        h[:, b] = az + delta[b]
        J[:, b] = grad
    t = np.flatnonzero(k == TDOA)
    if t.size:
        Da = P[:, None, :] - meas.sta[t]
        Db = P[:, None, :] - meas.sta_b[t]
        ra = np.linalg.norm(Da, axis=-1)
        rb = np.linalg.norm(Db, axis=-1)
        h[:, t] = ra - rb
        J[:, t] = Da / np.maximum(ra, 1e-9)[..., None] - Db / np.maximum(rb, 1e-9)[..., None]
    r = np.flatnonzero(k == RSSI)
    if r.size:
        Ds = P[:, None, :] - meas.sta[r]
        d = np.maximum(np.linalg.norm(Ds, axis=-1), MIN_RANGE_M)
        h[:, r] = -10.0 * meas.ple[r] * np.log10(d)
        J[:, r] = (-10.0 * meas.ple[r, None] / LN10) * Ds / (d * d)[..., None]
    Hen = np.einsum("gmj,gjd->gmd", J, dP)
    f = np.flatnonzero(k == FIX)
    if f.size:
        h[:, f] = en[:, meas.z[f].astype(int)]
        Hen[:, f] = 0.0
        Hen[:, f, meas.z[f].astype(int)] = 1.0
    return h, Hen


def residual_space(meas: Measurements, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(D, z', R'): the linear map D from raw rows to independent rows, D z, and their covariance.

    Bearings and TDOAs pass through with R = diag(σ²); RSSI rows become differences to the first
    RSSI row (the transmit power cancels, R = D diag(σ²) Dᵀ); a fix's two rows (east, north in
    `frame`) carry its 2×2 covariance.
    """
    m = meas.size
    k = meas.kind
    rows = np.flatnonzero((k == BEARING) | (k == TDOA) | (k == FIX))
    rr = np.flatnonzero(k == RSSI)
    nd = rows.size + max(rr.size - 1, 0)
    D = np.zeros((nd, m))
    D[np.arange(rows.size), rows] = 1.0
    if rr.size > 1:
        i = rows.size + np.arange(rr.size - 1)
        D[i, rr[1:]] = 1.0
        D[i, rr[0]] = -1.0
    R = D @ (np.diag(meas.sig**2)) @ D.T
    f = np.flatnonzero(k == FIX)
    for j in range(0, f.size, 2):
        fx = meas.fixes[f[j]]
        C = np.asarray(fx.cov_enu_m2, dtype=float)[:2, :2]
        ia, ib = np.searchsorted(rows, f[j]), np.searchsorted(rows, f[j + 1])
        R[np.ix_([ia, ib], [ia, ib])] = C
    z = meas.z.copy()
    if f.size:
        for j in range(0, f.size, 2):
            fx = meas.fixes[f[j]]
            z[f[j] : f[j] + 2] = frame.en_of(fx.lat_deg, fx.lon_deg, fx.alt_m)
    return D, D @ z, R


def wrap_rows(meas: Measurements, D: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Wrap the bearing rows of a residual (…, nd) to [−π, π)."""
    ang = (D[:, meas.kind == BEARING] != 0).any(axis=1)
    if ang.any():
        v = v.copy()
        v[..., ang] = wrap_pi(v[..., ang])
    return v


def _plain_bearings(obs) -> Measurements | None:
    """`Measurements` of true-north bearings with valid numbers, without `prepare`'s per-field
    checks (the hot path of tracking); None for anything else, which `prepare` then checks."""
    from unseen.types import Bearing

    rows = []
    for o in obs:
        if type(o) is not Bearing or o.magnetic is not False:
            return None
        s = o.site
        try:
            lat, lon, alt = float(s.lat_deg), float(s.lon_deg), float(s.alt_m)
            az, sig, t = float(o.azimuth_deg), float(o.sigma_deg), float(o.time_s)
        except (TypeError, ValueError):
            return None
        if not (abs(lat) <= 90.0 and abs(lon) <= 180.0 and sig > 0.0 and math.isfinite(alt)
                and math.isfinite(az) and math.isfinite(sig) and math.isfinite(t)):  # fmt: skip
            return None
        rows.append((lat, lon, alt, az % 360.0, sig))
    n = len(rows)
    fr = [station_frame(*r[:3]) for r in rows]
    b = np.array(rows)
    return Measurements(
        kind=np.zeros(n, dtype=np.int64), sta=np.array([f[0] for f in fr]),
        sta_b=np.zeros((n, 3)), rot=np.array([f[1] for f in fr]),
        z=np.radians(b[:, 3]), sig=np.radians(b[:, 4]), ple=np.zeros(n),
        lat=np.ascontiguousarray(b[:, 0]), lon=np.ascontiguousarray(b[:, 1]),
        key=tuple("b:" + o.site.station for o in obs), index=tuple(range(n)), fixes=(None,) * n,
    )  # fmt: skip


def measurements(observations, *, year: float | None = None) -> Measurements:
    """Check observations (Bearing, Tdoa, SignalStrength, Fix) and pack them as `Measurements`.

    Validation, magnetic declination and station frames come from `unseen.locate.prepare`; an
    InputError names the bad value.
    """
    from unseen.doa.array import C_M_S
    from unseen.locate.prepare import DEFAULT_PATH_LOSS_EXPONENT, prepare
    from unseen.types import Fix, SignalStrength

    obs = [o for o in observations if not isinstance(o, Fix)]
    fix_idx = [i for i, o in enumerate(observations) if isinstance(o, Fix)]
    obs_idx = [i for i, o in enumerate(observations) if not isinstance(o, Fix)]
    parts = []
    if obs and not fix_idx:
        fast = _plain_bearings(obs)
        if fast is not None:
            return fast
    if obs:
        pr = prepare(obs, year=year)
        nb, nt, nr = len(pr.b), len(pr.t), len(pr.r)
        sites = np.concatenate([pr.b[:, :3], pr.t[:, :3], pr.r[:, :3]]).tolist()
        fr = [station_frame(*s) for s in sites]
        fb = [station_frame(*s) for s in pr.t[:, 3:6].tolist()]
        ples = [
            o.path_loss_exponent or DEFAULT_PATH_LOSS_EXPONENT
            for o in obs
            if isinstance(o, SignalStrength)
        ]
        parts.append(
            dict(
                kind=np.repeat([BEARING, TDOA, RSSI], [nb, nt, nr]),
                sta=np.array([f[0] for f in fr]).reshape(-1, 3),
                sta_b=np.concatenate(
                    [
                        np.zeros((nb, 3)),
                        np.array([f[0] for f in fb]).reshape(-1, 3),
                        np.zeros((nr, 3)),
                    ]
                ),
                rot=np.array([f[1] for f in fr]).reshape(-1, 2, 3),
                z=np.concatenate([np.radians(pr.b[:, 3]), pr.t[:, 6] * C_M_S, pr.r[:, 3]]),
                sig=np.concatenate([np.radians(pr.b[:, 4]), pr.t[:, 7] * C_M_S, pr.r[:, 4]]),
                ple=np.concatenate([np.zeros(nb + nt), np.asarray(ples, dtype=float)]),
                lat=np.concatenate([pr.b[:, 0], pr.t[:, 0], pr.r[:, 0]]),
                lon=np.concatenate([pr.b[:, 1], pr.t[:, 1], pr.r[:, 1]]),
                key=tuple(
                    [f"b:{s}" for s in pr.b_ids]
                    + [f"t:{a}-{c}" for a, c in pr.t_ids]
                    + [f"r:{s}" for s in pr.r_ids]
                ),
                index=tuple(obs_idx[i] for i in pr.index),
                fixes=(None,) * (nb + nt + nr),
            )
        )
    fixes = []
    for i in fix_idx:
        f = observations[i]
        c = np.asarray(f.cov_enu_m2, dtype=float)
        if c.shape[0] < 2 or not np.all(np.isfinite(c)) or np.linalg.eigvalsh(c[:2, :2])[0] <= 0:
            from unseen.errors import InputError

            raise InputError(f"fix at time {f.time_s}: cov_enu_m2 must be positive definite")
        fixes.append(f)
        parts.append(
            dict(
                kind=np.array([FIX, FIX]),
                sta=np.zeros((2, 3)),
                sta_b=np.zeros((2, 3)),
                rot=np.zeros((2, 2, 3)),
                z=np.array([0.0, 1.0]),
                sig=np.ones(2),
                ple=np.zeros(2),
                lat=np.full(2, f.lat_deg),
                lon=np.full(2, f.lon_deg),
                key=(f"f:{i}", f"f:{i}"),
                fixes=(f, f),
                index=(i, i),
            )
        )
    if not parts:
        from unseen.errors import GeometryError

        raise GeometryError("no observations")
    if len(parts) == 1:
        cat = {k: v for k, v in parts[0].items() if k not in ("key", "index", "fixes")}
    else:
        cat = {
            k: np.concatenate([p[k] for p in parts])
            for k in parts[0]
            if k not in ("key", "index", "fixes")
        }
    return Measurements(
        key=tuple(k for p in parts for k in p["key"]),
        index=tuple(i for p in parts for i in p["index"]),
        fixes=tuple(f for p in parts for f in p["fixes"]),
        **cat,
    )
