"""Never confidently wrong: χ² gate, subset repair, sigma floors, geodesic guard, warm starts."""

import sys
from pathlib import Path

import numpy as np
import pytest

from unseen.errors import GeometryError, UnseenError
from unseen.geo import enu2geodetic, geodetic2enu, inverse
from unseen.locate import solve, solve_many
from unseen.locate.floors import MIN_SIGMA_DEG, MIN_SIGMA_S
from unseen.locate.model import State, geodesic_offsets
from unseen.locate.prepare import prepare, stack
from unseen.types import Bearing, Site, Tdoa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import locate_consistency as mc

TRUTH = (48.64985, -2.02720)


def ring(n, radius_m=8000.0, truth=TRUTH):
    ang = np.radians(np.arange(n) * 360.0 / n + 10.0)
    en = np.stack([radius_m * np.sin(ang), radius_m * np.cos(ang), np.zeros(n)], axis=-1)
    la, lo, _ = enu2geodetic(en, *truth, 0.0)
    return [Site(f"s{i}", float(la[i]), float(lo[i])) for i in range(n)]


def true_bearings(ss, sigma=2.0, truth=TRUTH):
    return [Bearing(s, float(inverse(s.lat_deg, s.lon_deg, *truth)[0]), sigma) for s in ss]


def d2(fix, truth):
    e = geodetic2enu(*truth, 0.0, fix.lat_deg, fix.lon_deg, 0.0)[:2]
    return float(e @ np.linalg.solve(np.array(fix.cov_enu_m2)[:2, :2], e))


@pytest.mark.parametrize("kind", mc.KINDS)
def test_one_gross_error_is_never_confidently_wrong(kind):
    """150 random geometries with one bearing 90° off, reversed, or one TDOA 10× (seeded).

    Measured at 600 groups (bench/locate_consistency.py): 1.2 %, 0.3 %, 0.2 % of groups give a
    fix whose 99.9 % ellipse misses the truth (before: 19.7 %, 2.8 %, 28.5 %). Bound 5 %: at a
    true 1.2 % the count of 150 exceeds 7 with probability < 1e-3; the old behaviour fails it.
    Among fixes the 95 % ellipse may miss more often than 5 % (the repair picks a subset), but
    no more than 15 % (measured 4.5–7.2 %, sd ≈ 2 % at ~130 fixes).
    """
    s = mc.score_outliers(kind, 150, {"bearing90": 101, "reversed": 102, "tdoa10x": 103}[kind])
    assert s["wrong999"] <= 0.05, s
    assert s["out95"] <= 0.15, s
    assert s["fixed"] >= 0.5 * s["groups"], s  # refusing everything is not the answer


def test_three_bearings_pair_search_names_the_third():
    ss = ring(3)
    obs = true_bearings(ss)
    obs[2] = Bearing(ss[2], (obs[2].azimuth_deg + 180.0) % 360.0, 2.0)
    f = solve(obs)
    assert f.rejected == ("s2",) and f.n_used == 2 and f.extra["rejected_index"] == [2]
    assert d2(f, TRUTH) < 1e-6
    with pytest.raises(GeometryError, match="inconsistent"):
        solve(obs, robust=False)


def test_four_stations_keep_the_good_ones():
    """Issue 14: robust mode once rejected a good station and kept the bad one (fixes 11–17 km
    off); the exhaustive search leaves out the bad one or refuses, over 40 seeded geometries."""
    rng = np.random.default_rng(4)
    groups, truths, bads = {}, {}, {}
    for g in range(40):
        truth, ss = mc.geometry(rng, 4)
        bads[str(g)], truths[str(g)] = int(rng.integers(0, 4)), truth
        shift = float(rng.choice([-90.0, 90.0]))
        groups[str(g)] = mc.bearing_group(rng, truth, ss, bads[str(g)], shift)
    fixed = 0
    for g, f in solve_many(groups).items():
        if isinstance(f, UnseenError):
            assert "inconsistent" in str(f) or "degenerate" in str(f), f
            continue
        fixed += 1
        assert f.rejected == (f"s{bads[g]}",), (f.rejected, bads[g])
        assert d2(f, truths[g]) < mc.K999
    assert fixed >= 20


def test_impossible_tdoa_is_named_and_refused():
    from unseen.doa.array import C_M_S
    from unseen.geo import geodetic2ecef

    ss = ring(5, 20000.0, truth=(TRUTH[0] + 0.05, TRUTH[1]))
    P = geodetic2ecef(*TRUTH, 0.0)
    r = [np.linalg.norm(P - geodetic2ecef(s.lat_deg, s.lon_deg, 0.0)) for s in ss]
    obs = [Tdoa(ss[i], ss[0], float((r[i] - r[0]) / C_M_S), 20e-9) for i in range(1, 5)]
    obs[1] = Tdoa(ss[2], ss[0], obs[1].tdoa_s * 1000.0, 20e-9)  # 1000× the true difference
    f = solve(obs)
    assert f.rejected == ("s2",) and np.sqrt(d2(f, TRUTH)) < 4.0
    with pytest.raises(GeometryError, match=r"tdoa 's2'-'s0' physically impossible"):
        solve(obs, robust=False)


@pytest.mark.parametrize("tiny", [1e-300, 1e-6])
def test_a_tiny_sigma_is_floored_and_the_group_still_fixes(tiny):
    ss = ring(5)
    obs = true_bearings(ss)
    obs[0] = Bearing(ss[0], obs[0].azimuth_deg, tiny)
    assert stack([prepare(obs)]).b_sig[0, 0] == pytest.approx(np.radians(MIN_SIGMA_DEG))
    f = solve(obs)
    assert f.n_used == 5 and not f.rejected and d2(f, TRUTH) < 1e-6
    t = prepare([Tdoa(ss[1], ss[0], 1e-6, 1e-300)]).t
    assert t[0, 7] == MIN_SIGMA_S


def test_geodesic_correction_only_where_it_linearises():
    pr = prepare(true_bearings(ring(3)))
    b = stack([pr])
    near = geodesic_offsets(
        b, State(np.array([TRUTH[0]]), np.array([TRUTH[1]]), b.alt, np.zeros((1, 0)))
    )
    assert np.all(np.abs(near) < np.radians(1e-3)) and np.any(near != 0)
    anti = State(np.array([-TRUTH[0]]), np.array([TRUTH[1] + 180.0]), b.alt, np.zeros((1, 0)))
    assert np.all(geodesic_offsets(b, anti) == 0.0)


def test_reversed_bearing_never_reports_a_far_side_fix():
    """Issue 14: a first fit on the far side of the Earth carried 120–154° corrections into a
    7 km-off fix with a 189 × 75 m ellipse. Every fix now holds its bearings within 90°."""
    rng = np.random.default_rng(9)
    groups, truths = {}, {}
    for g in range(60):
        truth, ss = mc.geometry(rng, 3)
        groups[str(g)] = mc.bearing_group(rng, truth, ss, int(rng.integers(0, 3)), 180.0)
        truths[str(g)] = truth
    for g, f in solve_many(groups).items():
        if isinstance(f, UnseenError):
            continue
        assert d2(f, truths[g]) < mc.K999
        used = [o for o in groups[g] if o.site.station not in f.rejected]
        for o in used:
            az = inverse(o.site.lat_deg, o.site.lon_deg, f.lat_deg, f.lon_deg)[0]
            assert abs((az - o.azimuth_deg + 180.0) % 360.0 - 180.0) < 20.0


def test_warm_start_is_never_trusted_over_a_cold_solve():
    """The server's previous fix as the start: far away, on the far side, or a moved target."""
    obs = true_bearings(ring(5))
    cold = solve(obs)
    for start in [(-TRUTH[0], TRUTH[1] + 180.0), (48.0, 5.0), (TRUTH[0] + 0.5, TRUTH[1])]:
        warm = solve(obs, initial=start)
        e = geodetic2enu(warm.lat_deg, warm.lon_deg, 0.0, cold.lat_deg, cold.lon_deg, 0.0)
        assert np.hypot(e[0], e[1]) < 1e-3, start
        assert warm.rejected == ()


def test_clean_groups_are_rarely_refused():
    """α = 1e-3 per test: 300 clean 4-bearing groups expect 0.3 refusals or repairs."""
    rng = np.random.default_rng(21)
    truth, ss = mc.geometry(rng, 4)
    groups = {str(t): mc.bearing_group(rng, truth, ss, None, 0.0) for t in range(300)}
    res = solve_many(groups)
    touched = sum(isinstance(f, UnseenError) or bool(f.rejected) for f in res.values())
    assert touched <= 3
