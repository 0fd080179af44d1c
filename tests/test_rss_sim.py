"""Signal-strength fixes and survey calibration against simulator truth (fixed seeds)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unseen.cli import main
from unseen.errors import GeometryError
from unseen.geo import enu2geodetic, geodetic2enu
from unseen.locate import solve, solve_many
from unseen.locate.prepare import prepare
from unseen.locate.rss_cal import calibrate
from unseen.locate.rssi import POOL_MIN_GROUPS, RssModel, fix_rss_many, pooled_offsets
from unseen.types import SignalStrength, Site

LAT0, LON0 = 40.765, -111.842


def _site(name: str, e: float, n: float) -> Site:
    la, lo, _ = enu2geodetic(np.array([e, n, 0.0]), LAT0, LON0, 0.0)
    return Site(name, float(la), float(lo))


def _rss(rng, tx_en, rx_en, gains, n_ple, shadow_db, p0=-20.0, ref_m=10.0):
    d = np.maximum(np.hypot(*(rx_en - tx_en).T), ref_m)
    return p0 + gains - 10 * n_ple * np.log10(d) + rng.normal(0, shadow_db, len(rx_en))


def _inside95(fix, e, n) -> bool:
    fe, fn, _ = geodetic2enu(fix.lat_deg, fix.lon_deg, 0.0, LAT0, LON0, 0.0)
    el = fix.ellipse95
    t = np.radians(el.orientation_deg)
    de, dn = e - fe, n - fn
    u, v = de * np.sin(t) + dn * np.cos(t), de * np.cos(t) - dn * np.sin(t)
    return (u / el.semi_major_m) ** 2 + (v / el.semi_minor_m) ** 2 <= 1.0


def test_calibration_recovers_offsets_exponent_and_shadowing():
    """12 receivers, 150 surveyed transmissions, offsets N(0, 6 dB), n = 2.8, shadowing 4 dB."""
    rng = np.random.default_rng(3)
    rx = rng.uniform(-1500, 1500, (12, 2))
    gains = rng.normal(0, 6, 12)
    gains -= gains.mean()
    sites = [_site(f"r{i}", *p) for i, p in enumerate(rx)]
    groups, truth = {}, {}
    for j in range(150):
        tx = rng.uniform(-1200, 1200, 2)
        p = _rss(rng, tx, rx, gains, 2.8, 4.0, p0=rng.uniform(-30, 0))
        groups[str(j)] = [SignalStrength(s, float(v), 1.0) for s, v in zip(sites, p, strict=True)]
        la, lo, _ = enu2geodetic(np.array([*tx, 0.0]), LAT0, LON0, 0.0)
        truth[str(j)] = (float(la), float(lo))
    cal = calibrate(groups, truth)
    z = np.array([(cal["receivers"][f"r{i}"]["offset_db"] - gains[i])
                  / cal["receivers"][f"r{i}"]["sd_db"] for i in range(12)])  # fmt: skip
    # standardised errors of 12 offsets (11 free): Σz² ~ χ²(11), P(> 31.3) = 0.001
    assert np.sum(z**2) < 31.3
    zn = (cal["path_loss_exponent"] - 2.8) / cal["path_loss_exponent_sd"]
    assert abs(zn) < 3.3
    # s² from ~1650 residuals has a relative sd of about 1/sqrt(2·1650) ≈ 1.7%
    assert cal["shadowing_db"] == pytest.approx(4.0, rel=0.06)


def test_a_survey_where_no_receiver_has_three_readings_is_refused():
    """18 readings of 12 receivers in 3 groups leave degrees of freedom for the fit, yet no
    receiver is heard 3 times (six twice, six once): an error naming the shortfall, not a
    CAL.json of no receivers and a meaningless exponent."""
    rng = np.random.default_rng(1)
    rx = rng.uniform(-1500, 1500, (6, 2))
    groups, truth = {}, {}
    for j, tag in enumerate("AAB"):
        tx = rng.uniform(-1200, 1200, 2)
        p = _rss(rng, tx, rx, np.zeros(6), 2.8, 4.0)
        groups[str(j)] = [SignalStrength(_site(f"{tag}{i}", *q), float(v), 1.0)
                          for i, (q, v) in enumerate(zip(rx, p, strict=True))]  # fmt: skip
        la, lo, _ = enu2geodetic(np.array([*tx, 0.0]), LAT0, LON0, 0.0)
        truth[str(j)] = (float(la), float(lo))
    with pytest.raises(GeometryError, match=r"no receiver has 3 readings .*at most 2, 3 groups"):
        calibrate(groups, truth)


def test_ellipse_coverage_with_shadowing_and_unknown_power_and_exponent():
    """200 transmissions, 8 receivers, 6 dB log-normal shadowing as the model states: the 95%
    posterior ellipse holds the truth at least 95% − 4.6% (3 binomial sd at 200 trials).

    It is conservative (≈ 99%): the region is centred on the ML point, not the
    posterior's highest-density region, and P0, n and the noise scale are integrated out.
    """
    rng = np.random.default_rng(11)
    rx = np.array([[0, 1500], [1300, 700], [1400, -900], [0, -1600], [-1300, -800],
                   [-1400, 900], [300, 200], [-500, -300]], float)  # fmt: skip
    sites = [_site(f"r{i}", *p) for i, p in enumerate(rx)]
    txs = rng.uniform(-1000, 1000, (200, 2))
    groups = {
        str(j): [SignalStrength(s, float(v), 0.5) for s, v in
                 zip(sites, _rss(rng, tx, rx, 0.0, 3.0, 6.0), strict=True)]
        for j, tx in enumerate(txs)
    }  # fmt: skip
    model = RssModel(shadowing_db=6.0)
    out = solve_many(groups, rss_model=model)
    hits = [_inside95(out[str(j)], *tx) for j, tx in enumerate(txs)]
    assert np.mean(hits) >= 0.95 - 0.046


def test_pooled_self_calibration_learns_offsets_without_truth():
    """60 transmissions heard by the same 10 uncalibrated receivers (offsets N(0, 6 dB), n = 2.8,
    shadowing 4 dB). At the true positions the pooled fit recovers offsets and exponent within
    their stated sd; from the data alone (block coordinate descent, no truth) the pooled fixes
    beat per-group solving and their 95% ellipses still cover (≥ 95% − 3 binomial sd at 60
    trials = 86.6%)."""
    rng = np.random.default_rng(5)
    rx = rng.uniform(-1500, 1500, (10, 2))
    gains = rng.normal(0, 6, 10)
    sites = [_site(f"r{i}", *p) for i, p in enumerate(rx)]
    txs = rng.uniform(-1000, 1000, (60, 2))
    groups = {
        str(j): [SignalStrength(s, float(v), 1.0) for s, v in
                 zip(sites, _rss(rng, tx, rx, gains, 2.8, 4.0, p0=rng.uniform(-30, 0)),
                     strict=True)]
        for j, tx in enumerate(txs)
    }  # fmt: skip
    preps = [prepare(v, k) for k, v in groups.items()]
    true_pos = [tuple(float(v) for v in enu2geodetic(np.array([*t, 0.0]), LAT0, LON0, 0.0)[:2])
                for t in txs]  # fmt: skip
    off, n = pooled_offsets(preps, true_pos, RssModel(shadowing_db=4.0))
    z = np.array([(off[f"r{i}"][0] - (gains[i] - gains.mean())) / off[f"r{i}"][1]
                  for i in range(10)])  # fmt: skip
    # 10 offsets relative to their mean (9 free): Σz² ~ χ²(9), P(> 27.9) = 0.001
    assert np.sum(z**2) < 27.9 and abs(n - 2.8) < 0.2
    single = fix_rss_many(preps, RssModel(), pool=False)
    pooled = fix_rss_many(preps, RssModel())
    err = [[np.hypot(*(geodetic2enu(f.lat_deg, f.lon_deg, 0.0, LAT0, LON0, 0.0)[:2] - tx))
            for f, tx in zip(fx, txs, strict=True)] for fx in (single, pooled)]  # fmt: skip
    # measured 480 → 207 m: the offsets (6 dB spread) dominate the 4 dB shadowing
    assert np.median(err[1]) < 0.7 * np.median(err[0]), [np.median(e) for e in err]
    assert all(f.extra["pooled_groups"] == 60 for f in pooled)
    assert abs(pooled[0].extra["path_loss_exponent_pooled"] - 2.8) < 0.4
    assert np.mean([_inside95(f, *tx) for f, tx in zip(pooled, txs, strict=True)]) >= 0.866
    # fewer groups than POOL_MIN_GROUPS: each solved alone, as before
    few = fix_rss_many(preps[: POOL_MIN_GROUPS - 1], RssModel())
    assert not any("pooled_groups" in f.extra for f in few)


def test_a_transmitter_that_stays_put_is_not_pooled():
    """40 transmissions from one place: every group sees it from the same distances, so the
    receivers' offsets and its position cannot be told apart; each group is solved alone."""
    rng = np.random.default_rng(8)
    rx = rng.uniform(-1500, 1500, (8, 2))
    gains = rng.normal(0, 6, 8)
    sites = [_site(f"r{i}", *p) for i, p in enumerate(rx)]
    preps = [
        prepare([SignalStrength(s, float(v), 1.0) for s, v in
                 zip(sites, _rss(rng, np.array([200.0, -300.0]), rx, gains, 2.8, 4.0),
                     strict=True)], str(j))
        for j in range(40)
    ]  # fmt: skip
    out = fix_rss_many(preps, RssModel())
    assert not any("pooled_groups" in f.extra for f in out)


def test_a_receiver_metres_from_the_transmitter_is_not_degenerate():
    rng = np.random.default_rng(2)
    rx = np.array([[3.0, 0.0], [900, 600], [-800, 500], [100, -1000], [-600, -700]])
    p = _rss(rng, np.zeros(2), rx, 0.0, 2.5, 4.0)
    obs = [
        SignalStrength(_site(f"r{i}", *q), float(v), 1.0)
        for i, (q, v) in enumerate(zip(rx, p, strict=True))
    ]
    f = solve(obs, rss_model=RssModel(shadowing_db=4.0))
    assert _inside95(f, 0.0, 0.0)


def test_receivers_on_one_line_are_degenerate():
    obs = [SignalStrength(_site(f"r{i}", 100.0 * i, 0.0), -60.0 - i, 3.0) for i in range(5)]
    with pytest.raises(GeometryError, match="one line"):
        solve(obs, group="g")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"format": "x"}, "field 'format'"),
        ({"shadowing_db": -1}, "field 'shadowing_db'.*-1"),
        ({"offset_drift_db": "4 dB"}, "field 'offset_drift_db'.*4 dB"),
        ({"receivers": {"a": {"offset_db": "high", "sd_db": 1}}}, "receivers.a.*'offset_db'.*high"),
        (
            {
                "receivers": {
                    "a": {
                        "offset_db": 1,
                        "sd_db": 1,
                        "exponent_dev": 0.5,
                        "exponent_range_m": [500, 20],
                    }
                }
            },
            "receivers.a.*'exponent_range_m'.*500, 20",
        ),
        ({"exponent_ref_m": 0}, "field 'exponent_ref_m'.*0"),
    ],
)
def test_bad_calibration_file_is_one_line_exit_2(tmp_path, capsys, edit, match):
    cal = {"format": "unseen-rss-calibration", "version": 1, "path_loss_exponent": 2.5,
           "path_loss_exponent_sd": 0.1, "shadowing_db": 6.0, "ref_m": 10.0,
           "gain_spread_db": 5.0, "receivers": {}} | edit  # fmt: skip
    (tmp_path / "cal.json").write_text(json.dumps(cal))
    (tmp_path / "o.csv").write_text(
        "kind,station,lat,lon,rssi_dbm,sigma_db\n"
        + "".join(
            f"rssi,r{i},{40.76 + 0.004 * (i % 2)},{-111.84 + 0.003 * i},-70,1\n" for i in range(4)
        )
    )
    rc = main(["locate", str(tmp_path / "o.csv"), "--rss-calibration", str(tmp_path / "cal.json")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "cal.json" in err
    import re

    assert re.search(match, err)


def _survey(rng, rx, gains, ple, k, shadow_db=4.0):
    sites = [_site(f"r{i}", *p) for i, p in enumerate(rx)]
    groups, truth = {}, {}
    for j in range(k):
        tx = rng.uniform(-1200, 1200, 2)
        p = _rss(rng, tx, rx, gains, ple, shadow_db, p0=rng.uniform(-30, 0))
        groups[str(j)] = [SignalStrength(s, float(v), 1.0) for s, v in zip(sites, p, strict=True)]
        la, lo, _ = enu2geodetic(np.array([*tx, 0.0]), LAT0, LON0, 0.0)
        truth[str(j)] = (float(la), float(lo))
    return groups, truth


def test_per_receiver_exponents_learned_only_where_the_survey_shows_them(tmp_path):
    """12 receivers whose exponents differ (2.8 + N(0, 0.6)): the survey's held-out blocks
    choose per-receiver exponents (`calibrate-rss --receiver-exponents`), they come out near the
    truth, and fixes elsewhere improve; with one true exponent the same survey keeps one."""
    from unseen.locate.rss_cal import apply, load

    rng = np.random.default_rng(5)
    rx = rng.uniform(-1500, 1500, (12, 2))
    gains = rng.normal(0, 6, 12)
    u = rng.normal(0, 0.6, 12)
    groups, truth = _survey(rng, rx, gains, 2.8 + u, 200)
    cal = calibrate(groups, truth, exponents=True)
    assert "exponent_ridge" in cal, cal.get("exponent_cv_db")
    got = np.array([cal["receivers"][f"r{i}"]["exponent_dev"] for i in range(12)])
    # se of one deviation ≈ s / (sd(x) √rows) ≈ 4 / (3.5 · √200) ≈ 0.08 (plus the ridge's pull)
    assert np.sqrt(np.mean((got - (u - u.mean())) ** 2)) < 0.25, (got, u - u.mean())
    test, t_truth = _survey(rng, rx, gains, 2.8 + u, 20)
    err = {}
    for mode in (True, False):
        (tmp_path / "cal.json").write_text(json.dumps(calibrate(groups, truth, exponents=mode)))
        gs, model = apply(test, load(tmp_path / "cal.json"))
        fx = fix_rss_many([prepare(v, k) for k, v in gs.items()], model, pool=False)
        e = []
        for k, f in zip(gs, fx, strict=True):
            te, tn, _ = geodetic2enu(*t_truth[k], 0.0, f.lat_deg, f.lon_deg, 0.0)
            e.append(np.hypot(te, tn))
        err[mode] = np.median(e)
    # 248 vs 281 m here (20 groups; 0.83x over 40): a locate that ignored the deviations would
    # give equal errors
    assert err[True] < 0.95 * err[False], err
    flat, f_truth = _survey(np.random.default_rng(6), rx, gains, 2.8, 200)
    assert "exponent_ridge" not in calibrate(flat, f_truth, exponents=True)
