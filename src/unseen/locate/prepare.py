"""Check observations and pack groups of them into batches of same-shaped problems."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from unseen.errors import GeometryError, InputError
from unseen.geo.frames import enu_basis, geodetic2ecef
from unseen.geo.magnetic import declination_deg
from unseen.locate.floors import MIN_SIGMA_DB, MIN_SIGMA_DEG, MIN_SIGMA_S
from unseen.locate.model import Batch
from unseen.locate.reach import apart, bounded, horizon_m
from unseen.types import Bearing, SignalStrength, Site, Tdoa

C_M_S = 299_792_458.0  # speed of light in vacuum (exact, SI)
DEFAULT_PATH_LOSS_EXPONENT = 2.0
MIN_RSSI_FOR_EXPONENT = 4  # fewer signal strengths: the exponent is fixed at the default


def prefix(group: str) -> str:
    return f"group {group!r}: " if group else ""


@dataclass
class Prepared:
    """One group's observations as plain arrays, checked; station ids kept for reporting."""

    group: str
    b: np.ndarray  # (nb, 6): lat, lon, alt, az_true_deg, sigma_deg, time_s
    b_ids: list[str]
    t: np.ndarray  # (nt, 9): lat, lon, alt, lat_b, lon_b, alt_b, tdoa_s, sigma_s, time_s
    t_ids: list[tuple[str, str]]
    r: np.ndarray  # (nr, 5): lat, lon, alt, rssi_dbm, sigma_db ... time_s last
    r_ids: list[str]
    ple: float | None
    alt: float
    dims: int
    time_s: float = 0.0
    index: list[int] = field(default_factory=list)  # input positions: bearings, TDOAs, RSSIs
    far: list[tuple[int, str, float]] = field(default_factory=list)  # left out (`beyond`)

    @property
    def signature(self) -> tuple[int, int, int, int, bool]:
        return (len(self.b), len(self.t), len(self.r), self.dims, self.ple is None)


def _num(v, what: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {v!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{what} must be finite, got {x}")
    return x


def _site(s: Site, what: str) -> tuple[float, float, float]:
    if not isinstance(s, Site):
        raise InputError(f"{what}: expected a Site, got {type(s).__name__}")
    lat = _num(s.lat_deg, f"{what} lat")
    lon = _num(s.lon_deg, f"{what} lon")
    alt = _num(s.alt_m, f"{what} alt_m")
    if abs(lat) > 90:
        raise InputError(f"{what}: latitude must be in [-90, 90] degrees, got {lat}")
    if abs(lon) > 180:
        raise InputError(f"{what}: longitude must be in [-180, 180] degrees, got {lon}")
    return lat, lon, alt


def _positive(v, what: str) -> float:
    x = _num(v, what)
    if x <= 0:
        raise InputError(f"{what} must be > 0, got {x}")
    return x


def prepare(
    observations: Sequence,
    group: str = "",
    *,
    dims: int = 2,
    alt_m: float | None = None,
    year: float | None = None,
) -> Prepared:
    """Check one group's observations (InputError on bad values) and convert them to arrays.

    Sigmas are floored at the physical minima of `unseen.locate.floors`.
    """
    p = prefix(group)
    if dims not in (2, 3):
        raise InputError(f"dims must be 2 or 3, got {dims!r}")
    b, b_ids, t, t_ids, r, r_ids, ples, r_held = [], [], [], [], [], [], [], []
    times = []
    order: tuple[list[int], list[int], list[int]] = ([], [], [])
    for i, o in enumerate(observations):
        if isinstance(o, Bearing):
            what = f"{p}bearing from station {o.site.station!r}"
            lat, lon, alt = _site(o.site, what)
            az = _num(o.azimuth_deg, f"{what}: azimuth_deg")
            sig = max(_positive(o.sigma_deg, f"{what}: sigma_deg"), MIN_SIGMA_DEG)
            if o.magnetic:
                az = az + declination_deg(lat, lon, alt, year)
            b.append((lat, lon, alt, az % 360.0, sig, _num(o.time_s, f"{what}: time_s")))
            b_ids.append(o.site.station)
            order[0].append(i)
            times.append(o.time_s)
        elif isinstance(o, Tdoa):
            what = f"{p}tdoa {o.site.station!r}-{o.site_b.station!r}"
            a = _site(o.site, what)
            bb = _site(o.site_b, what)
            if np.allclose(a, bb, rtol=0, atol=1e-7):
                raise InputError(f"{what}: the two stations are at the same place")
            d = _num(o.tdoa_s, f"{what}: tdoa_s")
            sig = max(_positive(o.sigma_s, f"{what}: sigma_s"), MIN_SIGMA_S)
            t.append((*a, *bb, d, sig, _num(o.time_s, f"{what}: time_s")))
            t_ids.append((o.site.station, o.site_b.station))
            order[1].append(i)
            times.append(o.time_s)
        elif isinstance(o, SignalStrength):
            what = f"{p}rssi at station {o.site.station!r}"
            lat, lon, alt = _site(o.site, what)
            pw = _num(o.rssi_dbm, f"{what}: rssi_dbm")
            sig = max(_positive(o.sigma_db, f"{what}: sigma_db"), MIN_SIGMA_DB)
            if o.path_loss_exponent is not None:
                ples.append(_positive(o.path_loss_exponent, f"{what}: path_loss_exponent"))
            r.append((lat, lon, alt, pw, sig, _num(o.time_s, f"{what}: time_s")))
            r_ids.append(o.site.station)
            r_held.append(bounded(o.freq_hz))
            order[2].append(i)
            times.append(o.time_s)
        else:
            raise InputError(
                f"{p}expected Bearing, Tdoa or SignalStrength observations, got {type(o).__name__}"
            )
    if not times:
        raise GeometryError(f"{p}no observations")
    far = beyond(r, r_held, group)
    if far:
        gone = {k for k, _ in far}
        far_out = [(order[2][k], r_ids[k], d) for k, d in far]
        r = [x for k, x in enumerate(r) if k not in gone]
        r_ids = [x for k, x in enumerate(r_ids) if k not in gone]
        order[2][:] = [x for k, x in enumerate(order[2]) if k not in gone]
        times = [x[-1] for x in (*b, *t, *r)]
    alts = [x[2] for x in b] + [x[2] for x in r] + [x[i] for x in t for i in (2, 5)]
    alt_fix = math.fsum(alts) / len(alts) if alt_m is None else _num(alt_m, f"{p}alt_m")
    return Prepared(
        group=group,
        b=np.array(b, dtype=float).reshape(-1, 6),
        b_ids=b_ids,
        index=order[0] + order[1] + order[2],
        t=np.array(t, dtype=float).reshape(-1, 9),
        t_ids=t_ids,
        r=np.array(r, dtype=float).reshape(-1, 6),
        r_ids=r_ids,
        ple=float(np.mean(ples))
        if ples
        else None
        if len(r) >= MIN_RSSI_FOR_EXPONENT
        else DEFAULT_PATH_LOSS_EXPONENT,
        alt=alt_fix,
        dims=dims,
        time_s=float(max(times)),
        far=far_out if far else [],
    )


FAR_SPAN_DEG = 20.0  # receivers within a 20° × 20° box lie < 3,200 km apart


def beyond(r: list[tuple], held: list[bool], group: str = "") -> list[tuple[int, float]]:
    """(row, median chord m to the others) of the signal strengths (rows lat, lon, alt, ...)
    whose receiver cannot have heard the transmitter most of the others heard (`reach.apart`;
    only rows `held` to the horizon); GeometryError when they are not a minority."""
    k = [i for i, h in enumerate(held) if h]
    if len(k) < 2:
        return []
    lat, lon = [r[i][0] for i in k], [r[i][1] for i in k]
    if max(lat) - min(lat) <= FAR_SPAN_DEG and max(lon) - min(lon) <= FAR_SPAN_DEG:
        return []
    a = np.array([r[i][:3] for i in k], dtype=float)
    d, bad = apart(geodetic2ecef(a[:, 0], a[:, 1], a[:, 2]), a[:, 2])
    if not bad.any():
        return []
    mask = 2 * bad.sum(axis=1) >= len(k)
    if 2 * mask.sum() >= len(k) or bad[~mask][:, ~mask].any():
        raise GeometryError(
            f"{prefix(group)}signal-strength receivers lie up to {d.max() / 1e3:,.0f} km apart: "
            f"farther than two receivers of one transmitter can be (twice the "
            f"{horizon_m() / 1e3:,.0f} km radio horizon), and no majority of them lies close "
            "together to tell which positions are wrong"
        )
    d = np.array([np.median(np.delete(d[j], j)) for j in range(len(k))])
    return [(k[j], float(d[j])) for j in np.flatnonzero(mask)]


def independent_tdoas(t: np.ndarray) -> int:
    """Number of independent range differences: stations minus connected components."""
    if len(t) == 0:
        return 0
    pts = np.round(np.concatenate([t[:, 0:3], t[:, 3:6]]), 9)
    _, inv = np.unique(pts, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    n = int(inv.max()) + 1
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    nt = len(t)
    for a, c in zip(inv[:nt], inv[nt:], strict=False):
        parent[find(int(a))] = find(int(c))
    comps = len({find(i) for i in range(n)})
    return n - comps


def check_geometry(pr: Prepared) -> None:
    """GeometryError for problems that cannot have a unique fix, before any solving."""
    p = prefix(pr.group)
    nb, nt, nr = len(pr.b), len(pr.t), len(pr.r)
    k = pr.dims + (nr > 0) + (nr > 0 and pr.ple is None)
    m = nb + independent_tdoas(pr.t) + nr
    if pr.dims == 3 and nt == 0 and nr == 0:
        raise GeometryError(f"{p}a 3-D fix needs TDOA or signal strengths: bearings give no height")
    if m < k:
        kinds = ", ".join(
            f"{n} {w}" for n, w in ((nb, "bearings"), (nt, "TDOAs"), (nr, "signal strengths")) if n
        )
        raise GeometryError(f"{p}too few observations: {kinds} ({m} independent) for {k} unknowns")
    # 1e-4° of latitude is 11 m: stations that far apart are not in one place (no ECEF needed)
    lat = pr.b[:, 0].tolist()
    spread = max(lat) - min(lat) if nb else 0.0
    if nt == 0 and nr == 0 and nb and spread < 1e-4:
        xyz = geodetic2ecef(pr.b[:, 0], pr.b[:, 1], pr.b[:, 2])
        if np.max(np.linalg.norm(xyz - xyz.mean(0), axis=1)) < 1.0:
            raise GeometryError(
                f"{p}all {nb} bearings are from one place (station {pr.b_ids[0]!r}): "
                "lines of bearing from a single point do not intersect"
            )
    if nb == 0 and nt == 0 and nr:
        xyz = geodetic2ecef(pr.r[:, 0], pr.r[:, 1], pr.r[:, 2])
        if np.max(np.linalg.norm(xyz - xyz.mean(0), axis=1)) < 1.0:
            raise GeometryError(f"{p}all signal strengths are from one place: no unique fix")


def stack(preps: Sequence[Prepared]) -> Batch:
    """One Batch from groups that share a signature."""
    G = len(preps)
    nb, nt, nr, dims, est_n = preps[0].signature
    B = np.stack([p.b for p in preps]) if G else np.zeros((0, nb, 6))
    T = np.stack([p.t for p in preps])
    R = np.stack([p.r for p in preps])
    b_sta = geodetic2ecef(B[..., 0], B[..., 1], B[..., 2]).reshape(G, nb, 3)
    b_rot = enu_basis(B[..., 0], B[..., 1])[..., :2, :].reshape(G, nb, 2, 3)
    ones = np.ones
    return Batch(
        dims=dims,
        est_n=est_n,
        b_sta=b_sta,
        b_rot=b_rot,
        b_az=np.radians(B[..., 3]),
        b_off=np.zeros((G, nb)),
        b_sig=np.radians(B[..., 4]),
        b_w=ones((G, nb)),
        t_a=geodetic2ecef(T[..., 0], T[..., 1], T[..., 2]).reshape(G, nt, 3),
        t_b=geodetic2ecef(T[..., 3], T[..., 4], T[..., 5]).reshape(G, nt, 3),
        t_d=T[..., 6] * C_M_S,
        t_sig=T[..., 7] * C_M_S,
        t_w=ones((G, nt)),
        r_sta=geodetic2ecef(R[..., 0], R[..., 1], R[..., 2]).reshape(G, nr, 3),
        r_p=R[..., 3],
        r_sig=R[..., 4],
        r_w=ones((G, nr)),
        r_n=np.array(
            [DEFAULT_PATH_LOSS_EXPONENT if p.ple is None else p.ple for p in preps], dtype=float
        ),
        alt=np.array([p.alt for p in preps], dtype=float),
    )
