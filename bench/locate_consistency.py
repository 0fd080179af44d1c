# ruff: noqa: E402  (BLAS threads are pinned before numpy is imported)
"""Never confidently wrong: fixes of groups with one gross error, and of clean groups.

Random geometries (transmitter anywhere on Earth, stations 3–25 km away at random azimuths);
bearings σ = 2°, TDOAs σ = 50 ns. Outlier kinds: one bearing 90° off, one bearing reversed
(front/back ambiguity), one TDOA 10× its true value. For each group: a fix is "confidently
wrong" when the truth lies outside its 99.9 % ellipse (Mahalanobis d² > χ²₂(0.999) = 13.8).
Clean groups: RMSE/CRB (CRB at the truth) and 95 % ellipse coverage.

Run: .venv/bin/python bench/locate_consistency.py [--groups 600] [--clean 40x50] [--seed 1]
"""

from __future__ import annotations

import os

import _common

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import time

import numpy as np

from unseen.doa.array import C_M_S
from unseen.errors import UnseenError
from unseen.geo import enu2geodetic, geodetic2ecef, geodetic2enu, inverse
from unseen.locate import solve_many
from unseen.locate.bounds import crb
from unseen.types import Bearing, Site, Tdoa

SIGMA_DEG = 2.0
SIGMA_S = 50e-9
K999 = -2.0 * np.log(1e-3)  # χ²₂ quantile at 0.999
K95 = -2.0 * np.log(0.05)
KINDS = ("bearing90", "reversed", "tdoa10x")


def geometry(rng: np.random.Generator, n: int) -> tuple[tuple[float, float], list[Site]]:
    """A transmitter and n stations 3–25 km from it at random azimuths (≥ 15° apart)."""
    truth = (float(rng.uniform(-60, 60)), float(rng.uniform(-180, 180)))
    while True:
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        gaps = np.diff(np.r_[ang, ang[0] + 2 * np.pi])
        if gaps.min() > np.radians(15):
            break
    rad = rng.uniform(3000, 25000, n)
    en = np.stack([rad * np.sin(ang), rad * np.cos(ang), np.zeros(n)], axis=-1)
    la, lo, _ = enu2geodetic(en, truth[0], truth[1], 0.0)
    return truth, [Site(f"s{i}", float(la[i]), float(lo[i])) for i in range(n)]


def bearing_group(rng, truth, ss, bad: int | None, shift_deg: float) -> list[Bearing]:
    az = np.array([inverse(s.lat_deg, s.lon_deg, *truth)[0] for s in ss])
    az = az + rng.normal(0.0, SIGMA_DEG, len(ss))
    if bad is not None:
        az[bad] += shift_deg
    return [Bearing(s, float(a % 360.0), SIGMA_DEG) for s, a in zip(ss, az, strict=True)]


def tdoa_group(rng, truth, ss, bad: int | None) -> list[Tdoa]:
    P = geodetic2ecef(*truth, 0.0)
    r = np.array([np.linalg.norm(P - geodetic2ecef(s.lat_deg, s.lon_deg, 0.0)) for s in ss])
    d = (r[1:] - r[0]) / C_M_S
    d = d + rng.normal(0.0, SIGMA_S, len(d))
    if bad is not None:
        d[bad] *= 10.0
    return [Tdoa(ss[i + 1], ss[0], float(d[i]), SIGMA_S) for i in range(len(d))]


def outlier_groups(kind: str, n_groups: int, seed: int) -> dict[str, tuple]:
    """{name: (truth, observations)} with one gross error of `kind` per group."""
    rng = np.random.default_rng(seed)
    out = {}
    for g in range(n_groups):
        if kind == "tdoa10x":
            truth, ss = geometry(rng, int(rng.integers(4, 7)))
            obs = tdoa_group(rng, truth, ss, int(rng.integers(0, len(ss) - 1)))
        else:
            truth, ss = geometry(rng, int(rng.integers(3, 6)))
            shift = 180.0 if kind == "reversed" else float(rng.choice([-90.0, 90.0]))
            obs = bearing_group(rng, truth, ss, int(rng.integers(0, len(ss))), shift)
        out[f"{kind}{g}"] = (truth, obs)
    return out


def mahalanobis2(fix, truth) -> float:
    e = geodetic2enu(*truth, 0.0, fix.lat_deg, fix.lon_deg, 0.0)[:2]
    C = np.array(fix.cov_enu_m2)[:2, :2]
    return float(e @ np.linalg.solve(C, e))


def score_outliers(kind: str, n_groups: int, seed: int) -> dict[str, float]:
    groups = outlier_groups(kind, n_groups, seed)
    t = time.perf_counter()
    res = solve_many({k: v[1] for k, v in groups.items()})
    dt = time.perf_counter() - t
    d2 = [mahalanobis2(f, groups[k][0]) for k, f in res.items() if not isinstance(f, UnseenError)]
    d2 = np.array(d2)
    n_fix = len(d2)
    return {
        "groups": n_groups,
        "fixed": n_fix,
        "wrong999": float(np.sum(d2 > K999) / n_groups),
        "out95": float(np.mean(d2 > K95)) if n_fix else 0.0,
        "seconds": dt,
    }


def score_clean(n_geom: int, trials: int, seed: int) -> dict[str, float]:
    """Per geometry `trials` noisy groups: pooled RMSE/CRB and 95 % coverage, bearings and TDOA."""
    rng = np.random.default_rng(seed)
    out = {}
    for what in ("bearing", "tdoa"):
        ratios, inside, refused, total = [], [], 0, 0
        for _ in range(n_geom):
            if what == "bearing":
                truth, ss = geometry(rng, int(rng.integers(3, 6)))
                groups = {str(t): bearing_group(rng, truth, ss, None, 0.0) for t in range(trials)}
            else:
                truth, ss = geometry(rng, int(rng.integers(4, 7)))
                groups = {str(t): tdoa_group(rng, truth, ss, None) for t in range(trials)}
            bound = np.trace(crb(groups["0"], *truth))
            res = solve_many(groups)
            e2 = []
            for f in res.values():
                total += 1
                if isinstance(f, UnseenError):
                    refused += 1
                    continue
                e = geodetic2enu(*truth, 0.0, f.lat_deg, f.lon_deg, 0.0)[:2]
                e2.append(float(e @ e))
                inside.append(mahalanobis2(f, truth) <= K95)
            ratios.append(np.mean(e2) / bound)
        out[what] = {
            "rmse_over_crb": float(np.sqrt(np.mean(ratios))),
            "worst_geometry": float(np.sqrt(np.max(ratios))),
            "coverage95": float(np.mean(inside)),
            "refused": refused / total,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--groups", type=int, default=600)
    ap.add_argument("--clean", default="40x50", help="geometries x trials")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    _common.header("bench/locate_consistency.py")
    print(f"{'outlier':10} {'groups':>6} {'fixed':>6} {'fix & truth outside 99.9%':>26} "
          f"{'outside 95% (of fixed)':>23} {'s':>6}")  # fmt: skip
    for i, kind in enumerate(KINDS):
        s = score_outliers(kind, a.groups, a.seed + i)
        print(f"{kind:10} {s['groups']:6d} {s['fixed']:6d} {100 * s['wrong999']:25.1f}% "
              f"{100 * s['out95']:22.1f}% {s['seconds']:6.2f}")  # fmt: skip
    ng, nt = (int(x) for x in a.clean.split("x"))
    for what, s in score_clean(ng, nt, a.seed + 10).items():
        print(f"clean {what:8}: RMSE/CRB {s['rmse_over_crb']:.3f} (worst geometry "
              f"{s['worst_geometry']:.3f}), 95% coverage {100 * s['coverage95']:.1f}%, "
              f"refused {100 * s['refused']:.2f}%  ({ng} geometries x {nt} trials)")  # fmt: skip


if __name__ == "__main__":
    main()
