"""The server fuses a station agent's bearings as the hunt does (`unseen.locate.aggregate`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unseen.geo import azimuth, forward
from unseen.locate import solve
from unseen.locate.aggregate import aggregate_bearings
from unseen.serve.locating import observations
from unseen.types import Bearing, Site

TX = (48.64985, -2.02720)
SITES = {"dinard": (48.6325, -2.06), "aleth": (48.637, -2.028), "parame": (48.657, -1.99)}


def rows(n: int, sys_deg: float | None, seed: int = 0, t0: float = 1.8e9):
    """n bearings per fixed station, one a second, σ 2°, scattered by 0.3° (pose noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for name, (lat, lon) in SITES.items():
        true = float(azimuth(lat, lon, *TX))
        for k in range(n):
            az = (true + 0.3 * rng.standard_normal()) % 360
            r = {
                "id": f"{name}-{k}",
                "hunt": "h",
                "kind": "bearing",
                "station": name,
                "time_s": t0 + k,
                "lat": lat,
                "lon": lon,
                "bearing_deg": az,
                "sigma_deg": 2.0,
            }
            if sys_deg is not None:
                r["sigma_sys_deg"] = sys_deg
            out.append(r)
    return out


def test_a_hundred_bearings_from_one_site_count_as_one_window():
    one = solve(observations(rows(1, 0.5)), robust=True)
    many = solve(observations(rows(100, 0.5)), robust=True)
    assert len(observations(rows(100, 0.5))) == 3
    # same information per site: the ellipse does not shrink by √100
    assert many.ellipse95.semi_major_m == pytest.approx(one.ellipse95.semi_major_m, rel=0.05)
    naive = solve(observations(rows(100, None)), robust=True)  # rows without sigma_sys_deg
    assert naive.ellipse95.semi_major_m < 0.2 * many.ellipse95.semi_major_m


def test_windows_split_at_gaps_and_each_carries_the_shared_error():
    site = Site("s", *SITES["dinard"])
    bs = [Bearing(site, 10.0, 2.0, t) for t in (*range(0, 20), *range(60, 80))]
    out = aggregate_bearings(bs, [1.0] * len(bs))
    assert len(out) == 2 and [b.time_s for b in out] == [19, 79]
    assert all(b.sigma_deg == pytest.approx(math.sqrt(2.0**2 + 2 * 1.0**2)) for b in out)


def test_a_moving_station_keeps_every_bearing():
    pts = [forward(*TX, 90.0, 200.0 + 5 * k)[:2] for k in range(10)]
    bs = [Bearing(Site("w", float(la), float(lo)), 270.0, 2.0, k) for k, (la, lo) in enumerate(pts)]
    out = aggregate_bearings(bs, [0.5] * 10)
    assert len(out) == 10
    assert all(b.sigma_deg == pytest.approx(math.sqrt(4 + 10 * 0.25)) for b in out)
