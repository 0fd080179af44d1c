"""Fuse bearings, TDOAs and signal strengths into fixes: start, ML fit, robust rejection, checks.

Groups with the same numbers of each observation kind are solved together as one batch: the
closed-form start (bearing-line intersection, Chan, or an RSSI grid), Levenberg–Marquardt on the
exact models, robust rejection, then a final fit with the bearing model made exactly geodesic.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import combinations
from math import comb

import numpy as np

from unseen.errors import GeometryError, UnseenError
from unseen.geo.frames import enu2geodetic, geodetic2ecef, geodetic2enu
from unseen.geo.geodesic import arc_m
from unseen.geo.uncertainty import cep, chi2_2, ellipse_params
from unseen.locate.bearings import centroid_frame, intersect
from unseen.locate.coverage import inside_ellipse
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
from unseen.locate.reach import horizon_m
from unseen.locate.robust import Unit, _assign, p_value, reject, threshold, units
from unseen.locate.rssi import RssModel, fix_rss_many, grid_start, linear_nuisance
from unseen.types import Ellipse, Fix, Observation

P50, P95 = 0.5, 0.95
MAX_RANGE_M = 10_000_000.0  # surface distance of a quarter meridian: beyond it rays converge again
COLLAPSE = 0.01  # a fit this fraction of a station's baseline from a bearing station sits on it
IMPOSSIBLE_SIGMA = 5.0  # |c·tdoa| beyond baseline + 5σ cannot be a range difference
EXHAUSTIVE_UNITS = 12  # up to this many rejectable units every subset is tried
MAX_COMBOS = 200  # past this many subsets of one size, only the most suspicious units are tried
TOP_UNITS = 8
AGREE = chi2_2(0.999)  # candidate fixes further apart than this Mahalanobis d² disagree
FAR_SD, FAR_MIN_M = 5.0, 1000.0  # a warm start that moves further than this is checked cold


class AmbiguousError(GeometryError):
    """More than one position fits the observations exactly."""


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
                two = (batch.b_w > 0).sum(1) == 2
                behind = np.any((ahead < 0) & (batch.b_w > 0), axis=1)
                for g in np.flatnonzero(ok & two & behind):
                    s = preps[g].b_ids[int(np.argmin(np.where(batch.b_w[g] > 0, ahead[g], 0)))]
                    errors[g] = GeometryError(
                        f"{prefix(preps[g].group)}bearing rays diverge: they meet behind "
                        f"station {s!r}, not in front of the stations"
                    )
        if nt and todo.any():
            sta = np.concatenate([batch.t_a, batch.t_b], axis=1)
            la0, lo0, origin, C = centroid_frame(sta, np.ones(sta.shape[:2]))
            for g in np.flatnonzero(todo):
                u = batch.t_w[g] > 0
                pa = (batch.t_a[g, u] - origin[g]) @ C[g].T
                pb = (batch.t_b[g, u] - origin[g]) @ C[g].T
                d_g, s_g = batch.t_d[g, u], batch.t_sig[g, u]
                try:
                    if not u.any():
                        raise GeometryError("no TDOAs left to start from")
                    cands = chan(pa, pb, d_g, s_g, batch.dims)
                except (GeometryError, np.linalg.LinAlgError) as exc:
                    errors[g] = GeometryError(f"{prefix(preps[g].group)}{exc}")
                    continue
                cost = [tdoa_cost(x, pa, pb, d_g, s_g) for x in cands]
                best = cands[int(np.argmin(cost))]
                exact = [x for x, c in zip(cands, cost, strict=True) if c < 1.0]
                n_sta = len(np.unique(np.round(np.concatenate([pa, pb]), 3), axis=0))
                if (
                    nb == 0
                    and nr == 0
                    and n_sta - 1 == batch.dims
                    and len(exact) == 2
                    and max(np.linalg.norm(x) for x in exact) < MAX_RANGE_M
                    and np.linalg.norm(exact[0] - exact[1]) > 1.0
                ):
                    gap = float(np.linalg.norm(exact[0] - exact[1]))
                    errors[g] = AmbiguousError(
                        f"{prefix(preps[g].group)}ambiguous TDOA fix: two positions "
                        f"{_km(gap)} apart fit the {int(u.sum())} range differences exactly "
                        "(each pair of hyperbolae crosses twice); a further station resolves it"
                    )
                    continue
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


def _check(
    batch: Batch, res: FitResult, preps: Sequence[Prepared], pcov: tuple | None = None
) -> dict[int, UnseenError]:
    """Reasons a converged fit is still not a fix, per problem index (the first that applies);
    `pcov`: `position_cov` of `res.info` when the caller has it."""
    cov, bad = pcov if pcov is not None else position_cov(res.info, batch.dims)
    nb, nt, nr = batch.counts
    P = geodetic2ecef(res.state.lat, res.state.lon, res.state.alt)
    sta = np.concatenate([batch.b_sta, batch.t_a, batch.t_b, batch.r_sta], axis=1)
    used = np.concatenate([batch.b_w, batch.t_w, batch.t_w, batch.r_w], axis=1) > 0
    rng_m = np.linalg.norm(sta - P[:, None, :], axis=-1)
    far = arc_m(np.max(np.where(used, rng_m, 0.0), axis=1))
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


def _labels(pr: Prepared) -> list[str]:
    """A short name of each observation, in residual order (bearings, TDOAs, signal strengths)."""
    return (
        [f"bearing from {s!r}" for s in pr.b_ids]
        + [f"tdoa {a!r}-{b!r}" for a, b in pr.t_ids]
        + [f"rssi at {s!r}" for s in pr.r_ids]
    )


def _unit_label(u: Unit) -> str:
    what = "bearing from" if u.b else "TDOAs of" if u.t else "signal strength at"
    return f"the {what} {u.station!r}"


def _used(batch: Batch) -> np.ndarray:
    return np.concatenate([batch.b_w, batch.t_w, batch.r_w], axis=1) > 0


def _inconsistent(pr: Prepared, chi2: float, dof: int, r: np.ndarray, used: np.ndarray, tail: str):
    """The error of a group whose own residuals contradict its fit, naming the worst ones."""
    labels = _labels(pr)
    order = [i for i in np.argsort(-np.abs(np.where(used, r, 0.0))) if used[i]][:3]
    worst = ", ".join(f"{labels[i]} {abs(r[i]):.1f}σ" for i in order)
    p = float(p_value(np.array(chi2), np.array(dof)))
    return GeometryError(
        f"{prefix(pr.group)}observations are inconsistent: χ² = {chi2:.1f} on {dof} degrees of "
        f"freedom (p = {p:.1e}){tail}; largest normalised residuals: {worst}"
    )


def _impossible(batch: Batch) -> np.ndarray:
    """TDOAs (G, nt) whose |range difference| exceeds the baseline by over IMPOSSIBLE_SIGMA σ."""
    base = np.linalg.norm(batch.t_a - batch.t_b, axis=-1)
    return (batch.t_w > 0) & (np.abs(batch.t_d) > base + IMPOSSIBLE_SIGMA * batch.t_sig)


def _impossible_units(pr: Prepared, rows: np.ndarray) -> list[Unit]:
    """One unit per impossible TDOA, named by the station of the pair that is in fewer pairs."""
    count: dict[str, int] = defaultdict(int)
    for a, b in pr.t_ids:
        count[a] += 1
        count[b] += 1
    out = []
    for i in rows:
        a, b = pr.t_ids[i]
        out.append(Unit(b if count[b] < count[a] else a, t=(int(i),)))
    return out


def _fit_full(batch: Batch, start: State) -> FitResult:
    """Fit, then refit with the bearing model made geodesic at the first solution (in place)."""
    res = fit(batch, start)
    if batch.counts[0]:
        batch.b_off = geodesic_offsets(batch, res.state)
        res2 = fit(batch, res.state)
        res2.iterations += res.iterations
        res = res2
    return res


def _valid(batch: Batch, res: FitResult, preps: Sequence[Prepared]) -> np.ndarray:
    """Fits that are fixes: converged, no geometric objection, χ² within its 1 − α quantile.

    With no degree of freedom left the χ² must still be ~0 (an exact solution exists).
    """
    errs = _check(batch, res, preps)
    dof = batch.n_used() - batch.k
    ok = res.converged & (dof >= 0) & (res.chi2 <= threshold(np.maximum(dof, 1)))
    ok[list(errs)] = False
    return ok


def _candidates(
    batch: Batch, res: FitResult, preps: Sequence[Prepared], rows: list[int], drops: list[list]
) -> tuple[Batch, FitResult, np.ndarray, np.ndarray]:
    """Fit every (group, units left out) candidate from its own closed-form start and from the
    group's full fit; keep the better of the two. Returns the batch, fits, validity, and which
    candidates fit exactly at two places (they explain the data as well as a valid one)."""
    pidx = np.array(rows, dtype=int)
    child = batch.take(pidx)
    for c, drop in enumerate(drops):
        for u in drop:
            child.b_w[c, list(u.b)] = 0.0
            child.t_w[c, list(u.t)] = 0.0
            child.r_w[c, list(u.r)] = 0.0
    child.b_off[:] = 0.0
    other = child.take(np.arange(child.size))
    cpreps = [preps[g] for g in pidx]
    cold, cerr = _starts(child, cpreps, None)
    rc = _fit_full(child, cold)
    rw = _fit_full(other, res.state.take(pidx))
    ok_c, ok_w = _valid(child, rc, cpreps), _valid(other, rw, cpreps)
    c2c = np.where(np.isfinite(rc.chi2), rc.chi2, np.inf)
    use_w = (ok_w & ~ok_c) | ((ok_w == ok_c) & (rw.chi2 < c2c))
    w = np.flatnonzero(use_w)
    _assign(rc, w, rw, w)
    child.b_off[w] = other.b_off[w]
    ok = np.where(use_w, ok_w, ok_c)
    ok[list(cerr)] = False  # no start of its own: parallel, diverging, collinear or ambiguous
    amb = np.zeros(child.size, dtype=bool)
    amb[[c for c, e in cerr.items() if isinstance(e, AmbiguousError)]] = True
    return child, rc, ok, amb


def _agreeing(child: Batch, res: FitResult, good: np.ndarray) -> int | None:
    """The candidate to report among valid ones, or None when their fixes disagree.

    Two fixes disagree when their difference is outside the 99.9 % region of C_i + C_j (a
    conservative sum: the candidates share most observations). Among agreeing ones: the most
    observations, then the largest p-value.
    """
    cov, _ = position_cov(res.info[good], child.dims)
    lat, lon = res.state.lat[good], res.state.lon[good]
    for i in range(len(good)):
        for j in range(i + 1, len(good)):
            e = geodetic2enu(lat[j], lon[j], 0.0, lat[i], lon[i], 0.0)[:2]
            S = cov[i, :2, :2] + cov[j, :2, :2]
            try:
                d2 = float(e @ np.linalg.solve(S, e))
            except np.linalg.LinAlgError:
                return None
            if not d2 <= AGREE:
                return None
    n = child.n_used()[good]
    p = p_value(res.chi2[good], n - child.k)
    return int(good[np.lexsort((-p, -n))[0]])


def _take(res: FitResult, idx: np.ndarray) -> FitResult:
    return FitResult(
        res.state.take(idx),
        res.chi2[idx].copy(),
        res.converged[idx].copy(),
        res.iterations[idx].copy(),
        res.info[idx].copy(),
        res.residuals[idx].copy(),
    )


def _accept(batch: Batch, res: FitResult, g: int, child: Batch, cres: FitResult, c: int) -> None:
    batch.b_w[g], batch.t_w[g], batch.r_w[g] = child.b_w[c], child.t_w[c], child.r_w[c]
    batch.b_off[g] = child.b_off[c]
    _assign(res, np.array([g]), cres, np.array([c]))


def _greedy(
    batch: Batch, res: FitResult, preps: Sequence[Prepared], big: list[int], us: dict
) -> dict[int, list[Unit] | UnseenError | None]:
    """Many units: reject one at a time (data snooping with exact refits), then test again."""
    idx = np.array(big, dtype=int)
    sub, sres = batch.take(idx), _take(res, idx)
    rej = reject(sub, sres, lambda i: us[big[i]])
    ok = _valid(sub, sres, [preps[g] for g in big])
    out: dict[int, list[Unit] | UnseenError | None] = {}
    for i, g in enumerate(big):
        if ok[i]:
            _accept(batch, res, g, sub, sres, i)
            out[g] = rej[i]
        else:
            out[g] = None
    return out


def _repair(
    batch: Batch, res: FitResult, preps: Sequence[Prepared], todo: np.ndarray
) -> dict[int, list[Unit] | UnseenError | None]:
    """Leave out the fewest units that make a group consistent (in place); None: no such subset.

    Up to EXHAUSTIVE_UNITS units every subset of h = 1, 2, … left-out units is fitted (at most
    (units − 1)/2 of them, keeping a majority), over the TOP_UNITS most suspicious units once
    the combinations grow past MAX_COMBOS. A subset with no degree of freedom left (two bearings
    of three) is valid only when its fit is exact and in front of the stations; when several
    subsets at the same h are valid but their fixes disagree, the group is refused as ambiguous.
    """
    out: dict[int, list[Unit] | UnseenError | None] = {}
    used = _used(batch)
    nb, nt, _ = batch.counts
    us: dict[int, list[Unit]] = {}
    for g in todo:
        pr = preps[g]
        keep = []
        for u in units(pr.b_ids, pr.t_ids, pr.r_ids):
            live = Unit(
                u.station,
                tuple(i for i in u.b if used[g, i]),
                tuple(i for i in u.t if used[g, nb + i]),
                tuple(i for i in u.r if used[g, nb + nt + i]),
            )
            if live.size:
                keep.append(live)
        us[int(g)] = keep
    big = [g for g in us if len(us[g]) > EXHAUSTIVE_UNITS]
    if big:
        out |= _greedy(batch, res, preps, big, us)
    dof0 = batch.n_used() - batch.k
    pending = [g for g in us if g not in out]
    rank: dict[int, list[int]] = {}
    level = 1
    while pending:
        rows: list[int] = []
        drops: list[tuple[int, ...]] = []
        for g in pending:
            n = len(us[g])
            if level > (n - 1) // 2:
                continue
            pool = range(n) if level == 1 or comb(n, level) <= MAX_COMBOS else rank[g][:TOP_UNITS]
            for c in combinations(pool, level):
                if dof0[g] - sum(us[g][j].size for j in c) >= 0:
                    rows.append(g)
                    drops.append(c)
        if not rows:
            break
        left_out = [[us[g][j] for j in c] for g, c in zip(rows, drops, strict=True)]
        child, cres, ok, amb = _candidates(batch, res, preps, rows, left_out)
        at = np.array(rows)
        nxt = []
        for g in pending:
            sel = np.flatnonzero(at == g)
            if sel.size == 0:
                continue
            good, twice = sel[ok[sel]], sel[amb[sel]]
            if good.size == 0 and twice.size == 0:
                if level == 1:
                    c2 = np.where(np.isfinite(cres.chi2[sel]), cres.chi2[sel], np.inf)
                    rank[g] = [drops[i][0] for i in sel[np.argsort(c2, kind="stable")]]
                nxt.append(g)
                continue
            pick = None if twice.size else _agreeing(child, cres, good)
            if pick is None:
                alts = " or ".join(
                    " and ".join(_unit_label(us[g][j]) for j in drops[i])
                    for i in np.r_[good, twice]
                )
                lead = "removing "
                out[g] = GeometryError(
                    f"{prefix(preps[g].group)}observations are inconsistent and the culprit "
                    f"cannot be told: {lead}{alts} leaves a consistent fix, but those fixes "
                    f"disagree or are not unique (χ² = {res.chi2[g]:.1f} on {int(dof0[g])} "
                    "degrees of freedom with all of them)"
                )
            else:
                _accept(batch, res, g, child, cres, pick)
                out[g] = [us[g][j] for j in drops[pick]]
        pending = nxt
        level += 1
    for g in us:
        out.setdefault(g, None)
    return out


def _lla(res: FitResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = res.state
    return np.asarray(s.lat, dtype=float), np.asarray(s.lon, dtype=float), np.asarray(s.alt, float)


def _fixes(
    batch: Batch,
    res: FitResult,
    preps: Sequence[Prepared],
    rejected: list[list[Unit]],
    pcov: tuple | None = None,
) -> list[Fix]:
    cov, _ = pcov if pcov is not None else position_cov(res.info, batch.dims)
    e50 = ellipse_params(cov, P50)
    e95 = ellipse_params(cov, P95)
    c50 = cep(cov, P50)
    crb = np.sqrt(np.maximum(np.einsum("gii->g", cov), 0.0))
    nb, nt, nr = batch.counts
    method = _method(nb, nt, nr)
    n_used = batch.n_used()
    dof = n_used - batch.k
    pval = p_value(res.chi2, dof)
    chi2, its, lat, lon, alt = (x.tolist() for x in (res.chi2, res.iterations, *_lla(res)))
    covl, e50l, e95l = cov.tolist(), e50.tolist(), e95.tolist()
    c50l, crbl, nu, dl, pl = (x.tolist() for x in (c50, crb, n_used, dof, pval))
    out = []
    for g, pr in enumerate(preps):
        extra = {
            "chi2": chi2[g],
            "dof": dl[g],
            "p_value": pl[g],
            "iterations": its[g],
            "rejected_index": sorted(i for u in rejected[g] for i in _input_indices(pr, u, nb, nt)),
        }
        if nr:
            extra["tx_power_dbm_at_1m"] = float(res.state.nuis[g, 0])
            extra["path_loss_exponent"] = (
                float(res.state.nuis[g, 1]) if batch.est_n else float(batch.r_n[g])
            )
        out.append(
            Fix(
                lat_deg=lat[g],
                lon_deg=lon[g],
                alt_m=alt[g],
                cov_enu_m2=tuple(map(tuple, covl[g])),
                ellipse50=Ellipse(*e50l[g]),
                ellipse95=Ellipse(*e95l[g]),
                cep50_m=c50l[g],
                method=method,
                n_used=nu[g],
                rejected=tuple(dict.fromkeys(u.station for u in rejected[g])),
                crb_rmse_m=crbl[g],
                group=pr.group,
                time_s=pr.time_s,
                extra=extra,
            )
        )
    return out


def _solve_batch(
    preps: list[Prepared], *, robust: bool, initial: tuple[float, float] | None
) -> list[Fix | UnseenError]:
    """Start, fit, test χ²; repair failing groups by leaving out units (robust) or refuse them."""
    out: list[Fix | UnseenError | None] = [None] * len(preps)
    batch = stack(preps)
    pre: list[list[Unit]] = [[] for _ in preps]
    imp = _impossible(batch)
    for g in np.flatnonzero(imp.any(axis=1)):
        pr, rows = preps[g], np.flatnonzero(imp[g])
        names = ", ".join(f"tdoa {pr.t_ids[i][0]!r}-{pr.t_ids[i][1]!r}" for i in rows)
        i = rows[0]
        why = (
            f"{names} physically impossible: |c·tdoa| = {_km(abs(batch.t_d[g, i]))} exceeds the "
            f"{_km(float(np.linalg.norm(batch.t_a[g, i] - batch.t_b[g, i])))} baseline"
        )
        batch.t_w[g, rows] = 0.0
        if not robust or batch.n_used()[g] < batch.k:
            out[g] = GeometryError(f"{prefix(pr.group)}{why}")
        else:
            pre[g] = _impossible_units(pr, rows)
    todo = [g for g in range(len(preps)) if out[g] is None]
    if not todo:
        return out  # type: ignore[return-value]
    keep0 = np.array(todo, dtype=int)
    batch = batch.take(keep0)
    preps0 = [preps[g] for g in keep0]
    start, errors = _starts(batch, preps0, initial)
    for g, e in errors.items():
        out[keep0[g]] = e
    keep = np.array([g for g in range(len(preps0)) if g not in errors], dtype=int)
    if keep.size == 0:
        return out  # type: ignore[return-value]
    batch = batch.take(keep)
    sub = [preps0[g] for g in keep]
    rejected = [list(pre[keep0[g]]) for g in keep]
    res = _fit_full(batch, start.take(keep))
    pcov = position_cov(res.info, batch.dims)
    errs = _check(batch, res, sub, pcov)
    dof = batch.n_used() - batch.k
    failing = (dof >= 1) & ~(res.chi2 <= threshold(dof))
    if robust:
        erred = np.zeros(batch.size, dtype=bool)
        erred[list(errs)] = True
        need = np.flatnonzero(failing | (erred & (dof >= 1)))
        if need.size:
            pcov = None  # a repair refits groups in place: `_fixes` computes it again
        for g, r in _repair(batch, res, sub, need).items():
            if isinstance(r, list):
                rejected[g] += r
                errs.pop(g, None)
            elif isinstance(r, UnseenError):
                errs[g] = r
            elif failing[g]:
                errs[g] = _inconsistent(
                    sub[g], float(res.chi2[g]), int(dof[g]), res.residuals[g], _used(batch)[g],
                    ", and no subset leaving out a minority of stations is consistent",
                )  # fmt: skip
    else:
        for g in np.flatnonzero(failing):
            if g not in errs:
                errs[g] = _inconsistent(
                    sub[g], float(res.chi2[g]), int(dof[g]), res.residuals[g], _used(batch)[g],
                    " (robust mode is off)",
                )  # fmt: skip
    fixes = _fixes(batch, res, sub, rejected, pcov)
    for i, g in enumerate(keep):
        out[keep0[g]] = errs.get(i, fixes[i])
    return out  # type: ignore[return-value]


def _solve_all(
    preps: Sequence[Prepared],
    robust: bool,
    initial: tuple[float, float] | None,
    rss_model: RssModel | None = None,
) -> list[Fix | UnseenError]:
    """Groups of signal strengths alone (2-D) are fixed together on their posterior grids
    (`rssi.fix_rss_many`); the others in batches of the same shape."""
    out: list[Fix | UnseenError | None] = [None] * len(preps)
    buckets: dict[tuple, list[int]] = defaultdict(list)
    rss: list[int] = []
    for i, pr in enumerate(preps):
        try:
            check_geometry(pr)
            if pr.far and not robust:
                raise GeometryError(f"{prefix(pr.group)}{_far_text(pr)} (robust mode is off)")
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
            idx, _solve_batch([preps[i] for i in idx], robust=robust, initial=initial), strict=True
        ):
            out[i] = r
    for i, pr in enumerate(preps):
        r = out[i]
        if pr.far and isinstance(r, Fix):
            warnings.warn(f"{prefix(pr.group)}{_far_text(pr)}: left out of the fix", stacklevel=3)
            idx = [j for j, _, _ in pr.far]
            out[i] = replace(
                r, rejected=tuple(dict.fromkeys([*(s for _, s, _ in pr.far), *r.rejected])),
                extra={**r.extra, "rejected_index": sorted([*r.extra["rejected_index"], *idx]),
                       "beyond_horizon": [{"index": j, "station": s, "median_distance_m": d}
                                          for j, s, d in pr.far]},
            )  # fmt: skip
    return out  # type: ignore[return-value]


def _far_text(pr: Prepared) -> str:
    """What `Prepared.far` left out, for a warning or an error."""
    who = ", ".join(f"{s!r} lies a median {d / 1e3:,.0f} km" for _, s, d in pr.far)
    return (
        f"signal strength: receiver {who} (straight line) from the group's other receivers, "
        "farther from at least half of them than two receivers of one transmitter can be (twice "
        f"the {horizon_m() / 1e3:,.0f} km radio horizon): a wrong position"
    )


def _doubtful(r: Fix | UnseenError, initial: tuple[float, float]) -> bool:
    """A warm-started answer to check against a cold solve: an error, a rejection, or a fix that
    moved more than FAR_SD standard deviations (and FAR_MIN_M) from the start."""
    if isinstance(r, UnseenError) or r.rejected:
        return True
    e = geodetic2enu(r.lat_deg, r.lon_deg, 0.0, initial[0], initial[1], 0.0)[:2]
    sd = float(np.sqrt(max(np.linalg.eigvalsh(np.array(r.cov_enu_m2)[:2, :2])[-1], 0.0)))
    return not float(np.hypot(*e)) <= max(FAR_MIN_M, FAR_SD * sd)


def solve_prepared(
    preps: Sequence[Prepared],
    *,
    robust: bool = True,
    initial: tuple[float, float] | None = None,
    rss_model: RssModel | None = None,
    cold_check: bool = False,
) -> list[Fix | UnseenError]:
    """Solve checked groups, batching those of the same shape; an error in place of each failure.

    A warm start (`initial`, e.g. the previous fix) is never trusted over a cold solve: when the
    warm-started answer is an error, rejects anything or lands far from the start (or always,
    with `cold_check`), the group is solved again from its own closed-form start and the cold
    answer is kept (unless both are fixes, the warm one lies inside the cold one's 95 %
    ellipse, and it uses more observations or fits better): a warm start that settled in
    another minimum never outvotes a cold solve.
    """
    out = _solve_all(preps, robust, initial, rss_model)
    if initial is None:
        return out
    redo = [i for i, r in enumerate(out) if cold_check or _doubtful(r, initial)]
    if redo:
        cold = _solve_all([preps[i] for i in redo], robust, None, rss_model)
        for i, c in zip(redo, cold, strict=True):
            w = out[i]
            if (
                isinstance(c, Fix)
                and isinstance(w, Fix)
                and inside_ellipse(c, w.lat_deg, w.lon_deg)[0]
            ):
                c = min((c, w), key=lambda f: (-f.n_used, f.extra["chi2"]))
            out[i] = c
    return out


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
    cold_check: bool = False,
) -> Fix:
    """Locate one transmitter from any mix of bearings, TDOAs and signal strengths.

    `robust` rejects observations inconsistent with the rest (their station ids are in
    `Fix.rejected`); `initial` (lat, lon) replaces the closed-form start, e.g. a previous fix
    (checked against a cold solve when doubtful, or always with `cold_check`: `solve_prepared`);
    `dims=3` also estimates altitude (needs TDOAs or signal strengths), otherwise the fix is at
    `alt_m` (default: mean station altitude); `year` dates the magnetic model for compass bearings;
    `rss_model` sets the signal-strength priors (shadowing, exponent bounds; `rss_cal.apply`).
    Raises InputError for bad values and GeometryError when no unique fix exists.
    """
    pr = prepare(observations, group, dims=dims, alt_m=alt_m, year=year)
    if initial is not None:
        from unseen.geo.frames import check_latlon

        check_latlon(initial[0], initial[1], f"{prefix(group)}initial")
    r = solve_prepared(
        [pr], robust=robust, initial=initial, rss_model=rss_model, cold_check=cold_check
    )[0]
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
