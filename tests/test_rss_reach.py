"""Receivers beyond the radio horizon of their transmitter (`locate.reach`): a survey row is left
out with a warning, a locate reading is left out of its group's fix and named."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest

from unseen.cli import main
from unseen.errors import GeometryError, InputError
from unseen.geo import enu2geodetic
from unseen.geo.geodesic import forward
from unseen.locate import solve_many
from unseen.locate.io import observation_to_row
from unseen.locate.prepare import prepare
from unseen.locate.reach import horizon_m
from unseen.locate.rss_cal import calibrate, read_survey
from unseen.types import SignalStrength, Site

LAT0, LON0 = 40.765, -111.842
COLUMNS = ("kind", "group", "station", "lat", "lon", "alt_m", "time_s", "rssi_dbm", "sigma_db",
           "true_lat", "true_lon")  # fmt: skip


def _survey(seed: int = 4, groups: int = 40) -> list[dict]:
    """Rows of a sim survey: 8 receivers within 1.5 km, offsets N(0, 5 dB), n = 2.7, 4 dB."""
    rng = np.random.default_rng(seed)
    rx = rng.uniform(-1500, 1500, (8, 2))
    gains = rng.normal(0, 5, 8)
    ll = [enu2geodetic(np.array([*p, 0.0]), LAT0, LON0, 0.0) for p in rx]
    sites = [Site(f"r{i}", float(a), float(b)) for i, (a, b, _) in enumerate(ll)]
    rows = []
    for j in range(groups):
        tx = rng.uniform(-1200, 1200, 2)
        d = np.maximum(np.hypot(*(rx - tx).T), 10.0)
        p = -20.0 + gains - 27.0 * np.log10(d) + rng.normal(0, 4.0, 8)
        la, lo, _ = enu2geodetic(np.array([*tx, 0.0]), LAT0, LON0, 0.0)
        for s, v in zip(sites, p, strict=True):
            r = observation_to_row(SignalStrength(s, float(v), 1.0), str(j))
            rows.append({**r, "true_lat": float(la), "true_lon": float(lo)})
    return rows


def _write(path, rows: list[dict]) -> str:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return str(path)


def test_a_survey_row_thousands_of_km_off_is_left_out_with_a_warning(tmp_path, capsys):
    """One receiver's position moved 40° south (≈ 4,400 km, a bad GPS fix): calibrate-rss warns
    naming the line, station and distance, counts it, and writes the calibration it writes
    without that row."""
    rows = _survey()
    bad = 17
    wrong = [dict(r) for r in rows]
    wrong[bad]["lat"] = rows[bad]["lat"] - 40.0
    opts = ["--no-shadow-map", "--no-receiver-exponents"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["calibrate-rss", _write(tmp_path / "w.csv", wrong), "--out", str(a), *opts]) == 0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"w.csv: line {bad + 2} (group '2'): station 'r1'" in lines[0]
    assert "4,4" in lines[0] and "km from the surveyed transmitter" in lines[0]
    assert "1 survey row(s) left out" in out
    kept = rows[:bad] + rows[bad + 1 :]
    assert main(["calibrate-rss", _write(tmp_path / "k.csv", kept), "--out", str(b), *opts]) == 0
    assert capsys.readouterr().err == ""
    ca, cb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ca["survey"].pop("beyond_horizon") == 1
    assert cb["survey"].pop("beyond_horizon") == 0
    assert ca == cb


def test_a_group_whose_transmitter_position_is_wrong_gets_one_warning_naming_it(
    tmp_path, capsys
):
    """Every receiver of group '5' beyond the horizon of its true_lat/true_lon (0°, 0°): one
    warning blames the transmitter position, not eight about receiver positions; its 8 rows
    are left out and counted as such."""
    rows = [dict(r) for r in _survey()]
    for r in rows:
        if r["group"] == "5":
            r["true_lat"], r["true_lon"] = 0.0, 0.0
    out = tmp_path / "c.json"
    args = ["--out", str(out), "--no-shadow-map", "--no-receiver-exponents"]
    assert main(["calibrate-rss", _write(tmp_path / "w.csv", rows), *args]) == 0
    o, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "w.csv: line 42: group '5': all 8 receivers lie beyond the radio horizon" in lines[0]
    assert "0.00000, 0.00000 (a wrong true_lat/true_lon)" in lines[0]
    assert "8 survey row(s) left out" in o
    assert json.loads(out.read_text())["survey"]["beyond_horizon"] == 8


@pytest.mark.parametrize(("km", "kept"), [(1600.0, True), (1700.0, False)])
def test_a_receiver_near_the_horizon_bound_is_kept(tmp_path, km, kept):
    """The bound is 4.12 km·(√40 000 + √40 000) = 1,648 km: a receiver 1,600 km from its
    transmitter is read, one 1,700 km away is left out (and named)."""
    assert horizon_m() == pytest.approx(1_648_000.0)
    rows = _survey(groups=3)
    lat, lon, _ = forward(rows[0]["true_lat"], rows[0]["true_lon"], 45.0, km * 1e3)
    rows[0] = {**rows[0], "lat": float(lat), "lon": float(lon)}
    excluded: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        groups, _ = read_survey(_write(tmp_path / "s.csv", rows), excluded)
    assert len(groups["0"]) == (8 if kept else 7)
    assert len(excluded) == len(caught) == (0 if kept else 1)


def test_calibrate_refuses_a_reading_beyond_the_horizon():
    """The library call gets the same rule: an error naming group, station and distance, not a
    calibration bent by it."""
    rows = _survey()
    groups: dict[str, list] = {}
    truth = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(
            SignalStrength(Site(r["station"], r["lat"], r["lon"]), r["rssi_dbm"], 1.0)
        )
        truth[r["group"]] = (r["true_lat"], r["true_lon"])
    o = groups["5"][3]
    groups["5"][3] = SignalStrength(Site(o.site.station, 0.0, 0.0), o.rssi_dbm, 1.0)
    with pytest.raises(InputError, match=r"group '5': signal strength at station 'r3' is 11,8"):
        calibrate(groups, truth)


def _group(seed: int = 9) -> list[SignalStrength]:
    """One transmission heard by 8 receivers within 1.5 km (n = 2.7, 4 dB shadowing)."""
    rows = _survey(seed, groups=1)
    return [SignalStrength(Site(r["station"], r["lat"], r["lon"]), r["rssi_dbm"], 1.0)
            for r in rows]  # fmt: skip


def _moved(o: SignalStrength, lat: float, lon: float) -> SignalStrength:
    return SignalStrength(Site(o.site.station, lat, lon), o.rssi_dbm, o.sigma_db)


def test_locate_leaves_out_a_receiver_thousands_of_km_from_the_others(tmp_path, capsys):
    """A receiver at 0°, 0° (POWDER's shuttles without a GPS fix) among receivers in Utah: the
    fix is the one without it, which is named in `rejected` and `rejected_index` and on
    stderr; with --no-robust the group is refused instead."""
    obs = _group()
    bad = 5
    wrong = [*obs[:bad], _moved(obs[bad], 0.0, 0.0), *obs[bad + 1 :]]
    with pytest.warns(UserWarning, match=r"receiver .r5. lies a median 10,2\d\d km \(straight"):
        fix = solve_many({"g": wrong})["g"]
    ref = solve_many({"g": obs[:bad] + obs[bad + 1 :]})["g"]
    assert (fix.lat_deg, fix.lon_deg, fix.cov_enu_m2) == (ref.lat_deg, ref.lon_deg, ref.cov_enu_m2)
    assert fix.rejected == ("r5",) and fix.extra["rejected_index"] == [bad]
    assert fix.n_used == 7
    path = tmp_path / "obs.csv"
    _write(path, [observation_to_row(o, "g") for o in wrong])
    assert main(["locate", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["rejected"] == ["r5"] and json.loads(out)["rejected_index"] == [bad]
    assert err.count("\n") == 1 and "group 'g': signal strength: receiver 'r5' lies" in err
    assert main(["locate", str(path), "--no-robust"]) == 1
    assert "robust mode is off" in capsys.readouterr().err


@pytest.mark.parametrize(("km", "far"), [(3200.0, False), (3400.0, True)])
def test_locate_keeps_a_receiver_within_the_bound(km, far):
    """Two receivers of one transmitter lie at most 2 × 1,648 km = 3,296 km apart in a straight
    line (a 3,200 km arc is a 3,166 km chord, 3,400 km a 3,360 km one)."""
    obs = _group()
    lat, lon, _ = forward(obs[0].site.lat_deg, obs[0].site.lon_deg, 80.0, km * 1e3)
    pr = prepare([*obs[1:], _moved(obs[0], float(lat), float(lon))], "g")
    assert [(i, s) for i, s, _ in pr.far] == ([(7, "r0")] if far else [])
    assert len(pr.r) == (7 if far else 8)


def test_locate_refuses_a_group_whose_receivers_split_far_apart():
    """Half the receivers 10,000 km from the other half: which positions are wrong is unknown."""
    obs = _group()
    split = [*obs[:4], *(_moved(o, o.site.lat_deg - 80.0, o.site.lon_deg) for o in obs[4:])]
    with pytest.raises(GeometryError, match=r"group 'g': signal-strength receivers lie up to"):
        prepare(split, "g")
