"""Fuse bearings, TDOAs and signal strengths into fixes: start, ML fit, robust rejection, checks.

Groups with the same numbers of each observation kind are solved together as one batch: the
closed-form start (bearing-line intersection, Chan, or an RSSI grid), Levenberg–Marquardt on the
exact models, robust rejection, then a final fit with the bearing model made exactly geodesic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from unseen.errors import GeometryError, UnseenError
from unseen.geo.frames import enu2geodetic, geodetic2ecef
from unseen.geo.uncertainty import cep, ellipse_params
from unseen.locate.bearings import centroid_frame, intersect
from unseen.locate.hyperbolic import chan, tdoa_cost
from unseen.locate.model import (
    MIN_RANGE_M,
    Batch,
    FitResult,
    State,
    fit,
    geodesic_offsets,
    position_cov,
    wrap_pi,
)
from unseen.locate.prepare import Prepared, check_geometry, prefix, prepare, stack
from unseen.locate.robust import Unit, reject, threshold, units
from unseen.locate.rssi import RssModel, fix_rss_many, grid_start, linear_nuisance
from unseen.types import Ellipse, Fix, Observation

P50, P95 = 0.5, 0.95
MAX_RANGE_M = 10_000_000.0  # a quarter meridian: beyond it bearing rays converge again
COLLAPSE = 0.01  # a fit this fraction of a station's baseline from a bearing station sits on it


def _km(m: float) -> str:
    """A distance for a message: metres below 1 km, else km."""
    if m < 0.1:
        return "under 0.1 m"
    return f"{m:.1f} m" if m < 10 else f"{m:.0f} m" if m < 1e3 else f"{m / 1e3:.1f} km"


def _method(nb: int, nt: int, nr: int) -> str:
    kinds = [k for n, k in ((nb, "bearing"), (nt, "tdoa"), (nr, "rssi")) if n]
    return "ml-" + (kinds[0] if len(kinds) == 1 else "hybrid")


def _starts(
    batch: Batch, preps: Sequence[Prepared], initial: tuple[float, float] | None
) -> tuple[State, dict[int, UnseenError]]:
    G = batch.size
    nb, nt, nr = batch.counts
    lat, lon = np.full(G, np.nan), np.full(G, np.nan)
    alt = batch.alt.copy()
    errors: dict[int, UnseenError] = {}
    if initial is not None:
        lat[:], lon[:] = float(initial[0]), float(initial[1])
    else:
        todo = np.ones(G, dtype=bool)
        if nb >= 2:
            la, lo, ahead, cond = intersect(
                batch.b_sta, batch.b_rot, batch.b_az, batch.b_sig, batch.b_w
            )
            ok = np.isfinite(cond)
            lat[ok], lon[ok] = la[ok], lo[ok]
            todo &= ~ok
            if nt == 0 and nr == 0:
                for g in np.flatnonzero(~ok):
                    errors[g] = GeometryError(
                        f"{prefix(preps[g].group)}bearings are parallel: "
                        "the lines of bearing do not intersect"
                    )
                if nb == 2:
                    for g in np.flatnonzero(ok & np.any(ahead < 0, axis=1)):
                        s = preps[g].b_ids[int(np.argmin(ahead[g]))]
                        errors[g] = GeometryError(
                            f"{prefix(preps[g].group)}bearing rays diverge: they meet behind "
                            f"station {s!r}, not in front of the stations"
                        )
        if nt and todo.any():
            sta = np.concatenate([batch.t_a, batch.t_b], axis=1)
            la0, lo0, origin, C = centroid_frame(sta, np.ones(sta.shape[:2]))
            for g in np.flatnonzero(todo):
                pa = (batch.t_a[g] - origin[g]) @ C[g].T
                pb = (batch.t_b[g] - origin[g]) @ C[g].T
                try:
                    cands = chan(pa, pb, batch.t_d[g], batch.t_sig[g], batch.dims)
                except GeometryError as exc:
                    errors[g] = GeometryError(f"{prefix(preps[g].group)}{exc}")
                    continue
                best = min(cands, key=lambda x: tdoa_cost(x, pa, pb, batch.t_d[g], batch.t_sig[g]))
                enu = np.zeros(3)
                enu[: batch.dims] = best
                la, lo, al = enu2geodetic(enu, la0[g], lo0[g], 0.0)
                lat[g], lon[g] = la, lo
                if batch.dims == 3:
                    alt[g] = al
                todo[g] = False
        if nr and todo.any():
            idx = np.flatnonzero(todo)
            la0, lo0, origin, C = centroid_frame(batch.r_sta[idx], batch.r_w[idx])
            en = np.einsum("gij,gnj->gni", C[:, :2], batch.r_sta[idx] - origin[:, None, :])
            best = grid_start(
                en, batch.r_p[idx], batch.r_sig[idx], batch.r_w[idx], batch.r_n[idx], batch.est_n
            )
            enu = np.concatenate([best, np.zeros((len(idx), 1))], axis=1)
            la, lo, _ = enu2geodetic(enu, la0, lo0, 0.0)
            lat[idx], lon[idx] = la, lo
    lat = np.where(np.isfinite(lat), lat, 0.0)
    lon = np.where(np.isfinite(lon), lon, 0.0)
    nuis = np.zeros((G, (nr > 0) + (nr > 0 and batch.est_n)))
    if nr:
        P = geodetic2ecef(lat, lon, alt)
        d = np.linalg.norm(P[:, None, :] - batch.r_sta, axis=-1)
        p0, n, _ = linear_nuisance(d, batch.r_p, batch.r_sig, batch.r_w, batch.r_n, batch.est_n)
        nuis[:, 0] = p0
        if batch.est_n:
            nuis[:, 1] = n
    return State(lat, lon, alt, nuis), errors


def _check(batch: Batch, res: FitResult, preps: Sequence[Prepared]) -> dict[int, UnseenError]:
    """Reasons a converged fit is still not a fix, per problem index (the first that applies)."""
    cov, bad = position_cov(res.info, batch.dims)
    nb, nt, nr = batch.counts
    P = geodetic2ecef(res.state.lat, res.state.lon, res.state.alt)
    sta = np.concatenate([batch.b_sta, batch.t_a, batch.t_b, batch.r_sta], axis=1)
    used = np.concatenate([batch.b_w, batch.t_w, batch.t_w, batch.r_w], axis=1) > 0
    rng_m = np.linalg.norm(sta - P[:, None, :], axis=-1)
    far = np.max(np.where(used, rng_m, 0.0), axis=1)
    near = np.min(np.where(used, rng_m, np.inf), axis=1)
    errors: dict[int, UnseenError] = {}
    for g in np.flatnonzero(far > MAX_RANGE_M):
        what = "bearing rays diverge: they meet only" if nb and not (nt or nr) else "the fix is"
        errors[g] = GeometryError(
            f"{prefix(preps[g].group)}{what} {far[g] / 1e3:.0f} km from a station, on the far "
            "side of the Earth, not in front of the stations"
        )
    if nb:
        errors = _collapsed(batch, res, preps) | errors
    for g in np.flatnonzero(bad | ~res.converged):
        if g in errors:
            continue
        p = prefix(preps[g].group)
        if bad[g]:
            what = "bearings are parallel or" if nb and not (nt or nr) else "observations are"
            errors[g] = GeometryError(f"{p}degenerate geometry: {what} too few to fix a position")
        else:
            errors[g] = GeometryError(
                f"{p}the fit did not converge: the observations do not meet at one place"
            )
    sd_major = np.sqrt(np.max(np.linalg.eigvalsh(cov[:, :2, :2]), axis=1))
    for g in np.flatnonzero(sd_major > np.maximum(near, 1.0)):
        if g in errors:
            continue
        what = "bearings are nearly parallel or" if nb and not (nt or nr) else "observations are"
        errors[g] = GeometryError(
            f"{prefix(preps[g].group)}degenerate geometry: {what} too weak to fix a position "
            f"(1-sigma {_km(sd_major[g])} exceeds the {_km(near[g])} to the nearest station)"
        )
    if nb:
        res_rad = np.abs(res.residuals[:, :nb] * batch.b_sig)
        behind = (batch.b_w > 0) & (res_rad > np.pi / 2)
        for g in np.flatnonzero(behind.any(axis=1)):
            if g in errors:
                continue
            s = preps[g].b_ids[int(np.argmax(np.where(behind[g], res_rad[g], -1)))]
            errors[g] = GeometryError(
                f"{prefix(preps[g].group)}bearing rays diverge: the best point lies behind "
                f"station {s!r}, not in front of the stations"
            )
    return errors


def _collapsed(batch: Batch, res: FitResult, preps: Sequence[Prepared]) -> dict[int, UnseenError]:
    """Fits that fell onto a bearing station, where its own bearing is undefined, χ² too large.

    Rays that do not meet in front of every station (two converging, one pointing away) pull
    the least-squares point onto a station: along its ray, arbitrarily close, the station's
    residual vanishes whatever the others say. Within 1 m no bearing means anything; within 1%
    of the station's baseline a fit counts as collapsed when its χ² fails the robust test.
    """
    errors: dict[int, UnseenError] = {}
    nb, nt, nr = batch.counts
    P = geodetic2ecef(res.state.lat, res.state.lon, res.state.alt)
    rng_m = np.linalg.norm(batch.b_sta - P[:, None, :], axis=-1)
    rng_m = np.where(batch.b_w > 0, rng_m, np.inf)
    j = np.argmin(rng_m, axis=1)
    g_all = np.arange(batch.size)
    sta = np.concatenate([batch.b_sta, batch.t_a, batch.t_b, batch.r_sta], axis=1)
    used = np.concatenate([batch.b_w, batch.t_w, batch.t_w, batch.r_w], axis=1) > 0
    base = np.linalg.norm(sta - batch.b_sta[g_all, j][:, None, :], axis=-1)
    base = np.min(np.where(used & (base > 1.0), base, np.inf), axis=1)
    dof = batch.n_used() - batch.k
    r = rng_m[g_all, j]
    hit = (r < MIN_RANGE_M) | ((r < COLLAPSE * base) & (res.chi2 > threshold(np.maximum(dof, 1))))
    for g in np.flatnonzero(hit):
        pr = preps[g]
        what = "bearing rays are" if not (nt or nr) else "observations are"
        worst = np.degrees(np.max(np.abs(res.residuals[g, :nb] * batch.b_sig[g])))
        errors[g] = GeometryError(
            f"{prefix(pr.group)}{what} inconsistent: no point lies on every bearing ray in front "
            f"of the stations (the least-squares point falls onto station {pr.b_ids[j[g]]!r}, "
            f"{_km(rng_m[g, j[g]])} from it, where its own bearing is undefined; the other "
            f"bearings miss that point by up to {worst:.0f}°)"
        )
    return errors


def _input_indices(pr: Prepared, u: Unit, nb: int, nt: int) -> list[int]:
    """Positions in the caller's observation list of a rejected unit's observations."""
    return [pr.index[j] for j in (*u.b, *(nb + t for t in u.t), *(nb + nt + r for r in u.r))]


def _fixes(
    batch: Batch, res: FitResult, preps: Sequence[Prepared], rejected: list[list[Unit]]
) -> list[Fix]:
    cov, _ = position_cov(res.info, batch.dims)
    e50 = ellipse_params(cov, P50)
    e95 = ellipse_params(cov, P95)
    c50 = cep(cov, P50)
    crb = np.sqrt(np.maximum(np.einsum("gii->g", cov), 0.0))
    nb, nt, nr = batch.counts
    method = _method(nb, nt, nr)
    n_used = batch.n_used()
    dof = n_used - batch.k
    out = []
    for g, pr in enumerate(preps):
        extra = {
            "chi2": float(res.chi2[g]),
            "dof": int(dof[g]),
            "iterations": int(res.iterations[g]),
            "rejected_index": sorted(i for u in rejected[g] for i in _input_indices(pr, u, nb, nt)),
        }
        if nr:
            extra["tx_power_dbm_at_1m"] = float(res.state.nuis[g, 0])
            extra["path_loss_exponent"] = (
                float(res.state.nuis[g, 1]) if batch.est_n else float(batch.r_n[g])
            )
        out.append(
            Fix(
                lat_deg=float(res.state.lat[g]),
                lon_deg=float(res.state.lon[g]),
                alt_m=float(res.state.alt[g]),
                cov_enu_m2=tuple(tuple(float(v) for v in row) for row in cov[g]),
                ellipse50=Ellipse(*(float(v) for v in e50[g])),
                ellipse95=Ellipse(*(float(v) for v in e95[g])),
                cep50_m=float(c50[g]),
                method=method,
                n_used=int(n_used[g]),
                rejected=tuple(dict.fromkeys(u.station for u in rejected[g])),
                crb_rmse_m=float(crb[g]),
                group=pr.group,
                time_s=pr.time_s,
                extra=extra,
            )
        )
    return out


def _solve_batch(
    preps: list[Prepared], *, robust: bool, initial: tuple[float, float] | None
) -> list[Fix | UnseenError]:
    out: list[Fix | UnseenError | None] = [None] * len(preps)
    batch = stack(preps)
    start, errors = _starts(batch, preps, initial)
    keep = np.array([g for g in range(len(preps)) if g not in errors], dtype=int)
    for g, e in errors.items():
        out[g] = e
    if keep.size == 0:
        return out  # type: ignore[return-value]
    batch = batch.take(keep)
    sub = [preps[g] for g in keep]
    res = fit(batch, start.take(keep))
    rejected: list[list[Unit]] = [[] for _ in sub]
    if robust:
        rejected = reject(batch, res, lambda g: units(sub[g].b_ids, sub[g].t_ids, sub[g].r_ids))
    if batch.counts[0]:
        batch.b_off = geodesic_offsets(batch, res.state)
        res2 = fit(batch, res.state)
        res2.iterations += res.iterations
        res = res2
    errs = _check(batch, res, sub)
    fixes = _fixes(batch, res, sub, rejected)
    for i, g in enumerate(keep):
        out[g] = errs.get(i, fixes[i])
    return out  # type: ignore[return-value]


def solve_prepared(
    preps: Sequence[Prepared],
    *,
    robust: bool = True,
    initial: tuple[float, float] | None = None,
    rss_model: RssModel | None = None,
) -> list[Fix | UnseenError]:
    """Solve checked groups, batching those of the same shape; an error in place of each failure.

    Groups of signal strengths alone (2-D) are fixed together on their posterior grids
    (`rssi.fix_rss_many`).
    """
    out: list[Fix | UnseenError | None] = [None] * len(preps)
    buckets: dict[tuple, list[int]] = defaultdict(list)
    rss: list[int] = []
    for i, pr in enumerate(preps):
        try:
            check_geometry(pr)
        except UnseenError as exc:
            out[i] = exc
            continue
        if len(pr.r) and not len(pr.b) and not len(pr.t) and pr.dims == 2:
            rss.append(i)
            continue
        buckets[pr.signature].append(i)
    rss_fixes = fix_rss_many([preps[i] for i in rss], rss_model or RssModel())
    for i, r in zip(rss, rss_fixes, strict=True):
        out[i] = r
    for idx in buckets.values():
        for i, r in zip(
            idx, _solve_batch([preps[i] for i in idx], robust=robust, initial=initial), strict=False
        ):
            out[i] = r
    return out  # type: ignore[return-value]


def solve(
    observations: Sequence[Observation],
    *,
    robust: bool = True,
    group: str = "",
    initial: tuple[float, float] | None = None,
    dims: int = 2,
    alt_m: float | None = None,
    year: float | None = None,
    rss_model: RssModel | None = None,
) -> Fix:
    """Locate one transmitter from any mix of bearings, TDOAs and signal strengths.

    `robust` rejects observations inconsistent with the rest (their station ids are in
    `Fix.rejected`); `initial` (lat, lon) replaces the closed-form start, e.g. a previous fix;
    `dims=3` also estimates altitude (needs TDOAs or signal strengths), otherwise the fix is at
    `alt_m` (default: mean station altitude); `year` dates the magnetic model for compass bearings;
    `rss_model` sets the signal-strength priors (shadowing, exponent bounds; `rss_cal.apply`).
    Raises InputError for bad values and GeometryError when no unique fix exists.
    """
    pr = prepare(observations, group, dims=dims, alt_m=alt_m, year=year)
    if initial is not None:
        from unseen.geo.frames import check_latlon

        check_latlon(initial[0], initial[1], f"{prefix(group)}initial")
    r = solve_prepared([pr], robust=robust, initial=initial, rss_model=rss_model)[0]
    if isinstance(r, UnseenError):
        raise r
    return r


def solve_many(
    groups: Mapping[str, Sequence[Observation]],
    *,
    robust: bool = True,
    dims: int = 2,
    alt_m: float | None = None,
    year: float | None = None,
    rss_model: RssModel | None = None,
) -> dict[str, Fix | UnseenError]:
    """Locate every group (one transmitter or time window each); failures come back as errors."""
    out: dict[str, Fix | UnseenError] = {}
    names, preps = [], []
    for name, obs in groups.items():
        try:
            preps.append(prepare(obs, name, dims=dims, alt_m=alt_m, year=year))
            names.append(name)
        except UnseenError as exc:
            out[name] = exc
    for name, r in zip(
        names, solve_prepared(preps, robust=robust, rss_model=rss_model), strict=False
    ):
        out[name] = r
    return {name: out[name] for name in groups}


__all__ = ["solve", "solve_many", "wrap_pi"]
