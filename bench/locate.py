# ruff: noqa: E402  (BLAS threads are pinned before numpy is imported)
"""Locate benchmark: batched ML fixes/s against a plain scipy least_squares fit, CLI throughput,
and the likelihood grid (500 × 500 cells, 50 bearings). One core: BLAS threads are pinned to 1.

Run: .venv/bin/python bench/locate.py [--groups 4000] [--peer-groups 300]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import contextlib
import csv
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pyproj
from scipy.optimize import least_squares

from unseen.geo import enu2geodetic, geodetic2enu, inverse
from unseen.locate import solve_many
from unseen.locate.grid import likelihood_grid
from unseen.locate.io import observation_to_row
from unseen.types import Bearing, Site

TRUTH = (48.64985, -2.02720)


def make_groups(n_groups: int, n_bearings: int, sigma_deg: float, seed: int) -> dict:
    """Stations on a ring 5–15 km around a transmitter that moves within 2 km; σ-noisy bearings."""
    rng = np.random.default_rng(seed)
    groups = {}
    for g in range(n_groups):
        tx = enu2geodetic(np.array([*rng.uniform(-2000, 2000, 2), 0.0]), *TRUTH, 0.0)[:2]
        ang = rng.uniform(0, 2 * np.pi, n_bearings)
        rad = rng.uniform(5000, 15000, n_bearings)
        en = np.stack([rad * np.sin(ang), rad * np.cos(ang), np.zeros(n_bearings)], axis=-1)
        la, lo, _ = enu2geodetic(en, float(tx[0]), float(tx[1]), 0.0)
        az = inverse(la, lo, float(tx[0]), float(tx[1]))[0] + rng.normal(0, sigma_deg, n_bearings)
        groups[f"g{g}"] = [
            Bearing(Site(f"s{k}", float(la[k]), float(lo[k])), float(az[k]), sigma_deg)
            for k in range(n_bearings)
        ]
    return groups


GEOD = pyproj.Geod(ellps="WGS84")


def peer_fix(obs: list[Bearing]) -> tuple[float, float]:
    """The plain way: scipy least_squares on (lat, lon) with geodesic azimuth residuals."""
    la = np.array([b.site.lat_deg for b in obs])
    lo = np.array([b.site.lon_deg for b in obs])
    z = np.array([b.azimuth_deg for b in obs])
    s = np.array([b.sigma_deg for b in obs])

    def resid(x):
        az, _, _ = GEOD.inv(lo, la, np.full_like(lo, x[1]), np.full_like(la, x[0]))
        return ((z - az + 180.0) % 360.0 - 180.0) / s

    r = least_squares(resid, x0=[la.mean(), lo.mean()], method="lm", x_scale=[1e-3, 1e-3])
    return float(r.x[0]), float(r.x[1])


def bench_fixes(n_groups: int, n_peer: int) -> None:
    groups = make_groups(n_groups, 10, 2.0, 1)
    solve_many(dict(list(groups.items())[:20]))
    t = time.perf_counter()
    fixes = solve_many(groups)
    ours = time.perf_counter() - t
    names = list(groups)[:n_peer]
    t = time.perf_counter()
    peer = {k: peer_fix(groups[k]) for k in names}
    theirs = time.perf_counter() - t
    ok = [k for k in names if hasattr(fixes[k], "lat_deg")]
    d = [
        np.hypot(*geodetic2enu(fixes[k].lat_deg, fixes[k].lon_deg, 0, *peer[k], 0)[:2]) for k in ok
    ]
    failed = sum(not hasattr(f, "lat_deg") for f in fixes.values())
    rate, prate = n_groups / ours, n_peer / theirs
    print(f"solve_many, 10-bearing groups, robust on: {n_groups} groups in {ours:.3f} s = "
          f"{rate:,.0f} fixes/s ({failed} groups refused as degenerate)")  # fmt: skip
    print(f"peer scipy least_squares (LM, pyproj geodesics), per group: {n_peer} groups in "
          f"{theirs:.3f} s = {prate:,.0f} fixes/s")  # fmt: skip
    print(f"ratio: {rate / prate:.1f}x; fixes agree to median {np.median(d) * 1000:.2f} mm, "
          f"max {np.max(d) * 1000:.2f} mm")  # fmt: skip


def bench_cli(n_groups: int) -> None:
    from unseen.cli import main

    groups = make_groups(n_groups, 10, 2.0, 2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "obs.csv"
        cols = ["kind", "group", "station", "lat", "lon", "alt_m", "time_s", "bearing_deg",
                "sigma_deg", "magnetic"]  # fmt: skip
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, cols)
            w.writeheader()
            for g, obs in groups.items():
                for o in obs:
                    w.writerow(observation_to_row(o, g))
        buf = io.StringIO()
        t = time.perf_counter()
        with contextlib.redirect_stdout(buf):
            rc = main(["locate", str(path), "--json"])
        dt = time.perf_counter() - t
    n = buf.getvalue().count("\n")
    print(f"unseen locate OBS.csv --json: {n_groups} groups × 10 bearings in {dt:.3f} s = "
          f"{n_groups / dt:,.0f} fixes/s end to end (read, solve, write; rc={rc}, "
          f"{n} fixes)")  # fmt: skip


def bench_grid() -> None:
    groups = make_groups(1, 50, 2.0, 3)
    obs = next(iter(groups.values()))
    lat = np.linspace(TRUTH[0] - 0.15, TRUTH[0] + 0.15, 500)
    lon = np.linspace(TRUTH[1] - 0.2, TRUTH[1] + 0.2, 500)
    likelihood_grid(obs, lat, lon)
    times = []
    for _ in range(10):
        t = time.perf_counter()
        likelihood_grid(obs, lat, lon)
        times.append(time.perf_counter() - t)
    # the plain numpy way for comparison: exact geodesic azimuths for every cell and bearing
    LA, LO = np.meshgrid(lat, lon, indexing="ij")
    t = time.perf_counter()
    L = np.zeros(LA.shape)
    for b in obs[:5]:
        az, _, _ = GEOD.inv(np.full(LA.size, b.site.lon_deg), np.full(LA.size, b.site.lat_deg),
                            LO.ravel(), LA.ravel())  # fmt: skip
        L -= 0.5 * (((b.azimuth_deg - az.reshape(LA.shape) + 180) % 360 - 180) / b.sigma_deg) ** 2
    peer = (time.perf_counter() - t) * len(obs) / 5
    med = float(np.median(times))
    print(f"likelihood_grid 500×500 cells, 50 bearings: median {med * 1e3:.1f} ms "
          f"(min {min(times) * 1e3:.1f} ms) over 10 runs; pyproj geodesic per cell: "
          f"{peer * 1e3:.0f} ms (extrapolated from 5 bearings) = "
          f"{peer / med:.0f}x slower")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--groups", type=int, default=4000)
    ap.add_argument("--peer-groups", type=int, default=300)
    a = ap.parse_args()
    bench_fixes(a.groups, a.peer_groups)
    bench_cli(min(a.groups, 2000))
    bench_grid()


if __name__ == "__main__":
    main()
