"""Robust fusion: find and reject observations inconsistent with the rest.

Test the fit's χ² against its χ²(m − k) quantile at level α; when it fails, refit without each
rejectable unit (a bearing, a signal strength, or all TDOAs of one station, so a receiver with a
bad clock is named) and reject the unit whose removal lowers χ² the most, if that drop is
significant against χ²(units' size). Repeat while redundancy remains (the outlier test of
Baarda's data snooping, with exact refits instead of linearised residuals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincc, gammainccinv

from unseen.locate.model import Batch, FitResult, fit, position_cov

ALPHA = 1e-3


@dataclass(frozen=True)
class Unit:
    """One rejectable unit: station id and indices into the bearing, TDOA and RSSI arrays."""

    station: str
    b: tuple[int, ...] = ()
    t: tuple[int, ...] = ()
    r: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return len(self.b) + len(self.t) + len(self.r)


def units(b_ids: list[str], t_ids: list[tuple[str, str]], r_ids: list[str]) -> list[Unit]:
    out = [Unit(s, b=(i,)) for i, s in enumerate(b_ids)]
    stations = sorted({s for pair in t_ids for s in pair})
    for s in stations:
        out.append(Unit(s, t=tuple(i for i, pair in enumerate(t_ids) if s in pair)))
    out += [Unit(s, r=(i,)) for i, s in enumerate(r_ids)]
    return out


def threshold(dof: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """χ² quantile at 1 − α for each dof (∞ where dof < 1)."""
    d = np.asarray(dof)
    return np.where(d >= 1, 2.0 * gammainccinv(0.5 * np.maximum(d, 1), alpha), np.inf)


def p_value(chi2: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """P(χ²(dof) ≥ chi2), the upper tail Q(dof/2, chi2/2); 1 where dof < 1 (nothing to test)."""
    d = np.asarray(dof)
    return np.where(d >= 1, gammaincc(0.5 * np.maximum(d, 1), 0.5 * np.asarray(chi2)), 1.0)


def _assign(res: FitResult, idx: np.ndarray, new: FitResult, src: np.ndarray) -> None:
    res.state.put(idx, new.state.take(src))
    res.chi2[idx] = new.chi2[src]
    res.converged[idx] = new.converged[src]
    res.iterations[idx] += new.iterations[src]
    res.info[idx] = new.info[src]
    res.residuals[idx] = new.residuals[src]


def reject(
    batch: Batch,
    res: FitResult,
    units_of: Callable[[int], list[Unit]],
    alpha: float = ALPHA,
) -> list[list[Unit]]:
    """Reject inconsistent units in place (weights in `batch`, solution in `res`); per group.

    `units_of(g)` lists problem g's rejectable units (asked only for problems that fail the test).
    """
    G = batch.size
    cache: dict[int, list[Unit]] = {}

    def group_units_get(g: int) -> list[Unit]:
        if g not in cache:
            cache[g] = units_of(g)
        return cache[g]

    rejected: list[list[Unit]] = [[] for _ in range(G)]
    out_of: list[set[int]] = [set() for _ in range(G)]
    give_up = np.zeros(G, dtype=bool)
    k = batch.k
    while True:
        dof = batch.n_used() - k
        failing = np.flatnonzero((res.chi2 > threshold(dof, alpha)) & (dof >= 2) & ~give_up)
        parents, masks = [], []
        for g in failing:
            allowed = (len(group_units_get(g)) - 1) // 2
            if len(out_of[g]) >= allowed:
                give_up[g] = True
                continue
            for j, u in enumerate(group_units_get(g)):
                if j in out_of[g] or dof[g] - u.size < 1:
                    continue
                parents.append((g, j))
        if not parents:
            break
        pidx = np.array([g for g, _ in parents])
        child = batch.take(pidx)
        for c, (g, j) in enumerate(parents):
            u = group_units_get(g)[j]
            child.b_w[c, list(u.b)] = 0.0
            child.t_w[c, list(u.t)] = 0.0
            child.r_w[c, list(u.r)] = 0.0
        masks = child
        cres = fit(child, res.state.take(pidx))
        _, bad = position_cov(cres.info, batch.dims)
        cchi = np.where(bad | ~cres.converged, np.inf, cres.chi2)
        for g in np.unique(pidx):
            rows = np.flatnonzero(pidx == g)
            best = rows[np.argmin(cchi[rows])]
            j = parents[best][1]
            u = group_units_get(g)[j]
            if np.isfinite(cchi[best]) and res.chi2[g] - cchi[best] > threshold(u.size, alpha):
                batch.b_w[g] = masks.b_w[best]
                batch.t_w[g] = masks.t_w[best]
                batch.r_w[g] = masks.r_w[best]
                _assign(res, np.array([g]), cres, np.array([best]))
                out_of[g].add(j)
                rejected[g].append(u)
            else:
                give_up[g] = True
    return rejected
