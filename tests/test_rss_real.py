"""RSS on real measurements: POWDER outdoor RSS at 462.7 MHz (University of Utah campus).

Data: ../shared/data/powder-rss-dev, from mhrafi66/wireless_localization_frs_uofu
(`Separated_Dataset_CSV/single_tx.csv`, commit 44ff592, MIT licence; "A Dataset of Outdoor RSS
Measurements for Localization", University of Utah, 2022). Truth: each transmission's GPS
position (`tx_x_coord`, `tx_y_coord` = latitude, longitude), independent of the RSS. The
receivers are uncalibrated: `unseen locate` self-calibrates them on the file's own groups
(pooling), and the public commands learn their offsets on one campaign day (2022-07-06) and
locate transmissions of another (2022-07-05).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import powder_rss
from unseen.cli import main
from unseen.geo import geodetic2enu

pytestmark = pytest.mark.skipif(
    not (powder_rss.data_dir() / "single_tx_dev.csv").exists(), reason="POWDER data not present"
)


def _subset(rows, every):
    names = sorted({r["group"] for r in rows})[::every]
    keep = set(names)
    return [r for r in rows if r["group"] in keep], names


def _score(fixes, truth):
    hit, err = [], []
    for f in fixes:
        lat, lon = truth[f["group"]]
        e, n, _ = geodetic2enu(lat, lon, 0.0, f["lat"], f["lon"], 0.0)
        el = f["ellipse95"]
        t = np.radians(el["orientation_deg"])
        u, v = e * np.sin(t) + n * np.cos(t), e * np.cos(t) - n * np.sin(t)
        hit.append((u / el["semi_major_m"]) ** 2 + (v / el["semi_minor_m"]) ** 2 <= 1)
        err.append(np.hypot(e, n))
    return np.mean(hit), np.median(err)


def _centroid(rows):
    g = defaultdict(list)
    for r in rows:
        g[r["group"]].append(r)
    errs = []
    for v in g.values():
        w = np.array([10 ** (r["rssi_dbm"] / 10) for r in v])
        la = np.sum(w * [r["lat"] for r in v]) / w.sum()
        lo = np.sum(w * [r["lon"] for r in v]) / w.sum()
        e, n, _ = geodetic2enu(v[0]["true_lat"], v[0]["true_lon"], 0.0, la, lo, 0.0)
        errs.append(np.hypot(e, n))
    return np.median(errs)


def test_powder_calibrate_on_one_day_locate_another(tmp_path, capsys):
    survey, _ = _subset(powder_rss.rows(days={"2022-07-06"}), 5)  # 320 transmissions
    test, names = _subset(powder_rss.rows(days={"2022-07-05"}), 6)  # 50 transmissions
    powder_rss.write(tmp_path / "survey.csv", survey)
    powder_rss.write(tmp_path / "obs.csv", test)
    truth = {r["group"]: (r["true_lat"], r["true_lon"]) for r in test}
    cal = tmp_path / "cal.json"
    assert main(["calibrate-rss", str(tmp_path / "survey.csv"), "--out", str(cal)]) == 0
    c = json.loads(cal.read_text())
    assert 1.0 < c["path_loss_exponent"] < 6.0 and 2.0 < c["shadowing_db"] < 12.0
    capsys.readouterr()
    out = {}
    for mode, extra in (("raw", []), ("cal", ["--rss-calibration", str(cal)])):
        rc = main(["locate", str(tmp_path / "obs.csv"), "--json", *extra])
        o = capsys.readouterr()
        fixes = [json.loads(line) for line in o.out.splitlines()]
        # every group of >= 9 receivers is fixed: none refused (shuttles whose GPS had no fix,
        # at 0°, 0°, are left out of their group with a warning)
        other = [
            w for w in o.err.splitlines() if not w.endswith("a wrong position: left out of the fix")
        ]
        assert rc == 0 and not other and len(fixes) == len(names)
        out[mode] = _score(fixes, truth)
    wc = _centroid(test)
    # the floor: truth inside the 95% ellipse in >= 80% (bench/real_rss.py, 300 a day:
    # 89-100% uncalibrated; calibrated 80.9-99.7%, this pair 80.9%). On 50 groups a count
    # of a true 80.9% is >= 35 (0.70) with probability 0.98 (binomial), >= 40 only 0.65: the
    # calibrated floor here is 0.70 (39/50 now; 40/50 before the shuttles at 0°, 0° were left
    # out, one of them a fix 3,100 km off inside a 9,400 km ellipse).
    assert out["raw"][0] >= 0.8 and out["cal"][0] >= 0.7, out
    # uncalibrated, the pooled fit (receiver offsets and one exponent learned from the 50
    # groups themselves) beats the weighted centroid (98 vs 130 m here; 0.73-0.75x over 300 a
    # day); per group, without pooling, it did not (1.02-1.16x on two of three days).
    # Calibrated on another day (calibrate-rss's default: per-receiver exponents and the
    # shadowing map, each kept on the survey's held-out evidence): also below the centroid;
    # over 300 a day the 0.7x is reached on 5 of 6 day pairs (bench/real_rss.py --pairs
    # --default-only: 0.60-0.71x).
    assert out["raw"][1] < 0.9 * wc and out["cal"][1] < 0.9 * wc, (out, wc)
