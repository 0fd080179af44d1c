"""`unseen demo`, `unseen simulate SCENARIO` and `unseen hunt DIR` end to end through the CLI."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from unseen.cli import main
from unseen.geo import distance
from unseen.sim.scenario import parse_scenario

ATTIC = (48.64985, -2.02720)
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["demo", "--out", str(out), "--quiet"])
    return rc, out, buf.getvalue()


@pytest.mark.slow
def test_demo_meets_the_goal(demo):
    rc, out, text = demo
    assert rc == 0
    for name in ("index.html", "hunt.geojson", "hunt.kml", "observations.csv", "fixes.jsonl"):
        assert (out / name).stat().st_size > 0, name
    fixes = [json.loads(x) for x in (out / "fixes.jsonl").read_text().splitlines()]
    final = fixes[-1]
    err = float(distance(final["lat"], final["lon"], *ATTIC))
    assert err < 30.0, err
    # Inside its own 95 % ellipse: Mahalanobis distance of the attic under the fix covariance.
    from unseen.geo import chi2_2, geodetic2enu

    e, n, _ = geodetic2enu(*ATTIC, final["alt_m"], final["lat"], final["lon"], final["alt_m"])
    import numpy as np

    C = np.asarray(final["cov_enu_m2"], float)[:2, :2]
    v = np.array([e, n])
    assert float(v @ np.linalg.solve(C, v)) <= chi2_2(0.95)
    assert "aleth" in final["rejected"]
    # The summary names the pirate, the rejected station and the distance to the attic.
    # the pirate's FM band centre, measured from 3.4 ms frames: within a few kHz of 94.2 MHz
    import re

    mhz = re.search(r"unlicensed carrier\W+([0-9.]+) MHz \(fm", text)
    assert mhz and abs(float(mhz.group(1)) - 94.2) < 5e-3, text
    assert "Saint-Servan" in text and "reflection" in text
    assert "Etienne" in text and "yes (Mahalanobis" in text


@pytest.mark.slow
def test_demo_geojson_roles(demo):
    _, out, _ = demo
    gj = json.loads((out / "hunt.geojson").read_text())
    roles = {f["properties"]["role"] for f in gj["features"]}
    assert roles >= {
        "station",
        "route",
        "bearing",
        "fix",
        "ellipse95",
        "heatmap",
        "outline",
        "truth",
    }


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian chromium")
def test_demo_report_offline_in_chromium(demo, tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_report import open_in_chromium

    _, out, _ = demo
    shot = open_in_chromium(out / "index.html", tmp_path / "demo.png")
    assert shot["errors"] == [] and shot["foreign"] == []
    assert shot["paths"] > 50 and shot["images"] >= 2  # heatmap on both maps
    assert (tmp_path / "demo.png").stat().st_size > 30_000


def test_print_scenario_is_the_builtin_and_parses(capsys):
    assert main(["demo", "--print-scenario"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# The Saint-Malo hunt")
    sc = parse_scenario(text, "printed.toml", Path(__file__).parents[1] / "src/unseen/scenarios")
    assert sc.name == "saint-malo"


def test_simulate_then_hunt_cli(tmp_path, capsys):
    rec, rep = tmp_path / "rec", tmp_path / "rep"
    assert main(["simulate", "saint-malo", "--out", str(rec), "--duration-s", "31", "--quiet"]) == 0
    assert (rec / "stations.csv").is_file() and (rec / "aleth.sigmf-meta").is_file()
    assert main(["hunt", str(rec), "--out", str(rep), "--quiet"]) == 0
    last = json.loads((rep / "fixes.jsonl").read_text().splitlines()[-1])
    assert float(distance(last["lat"], last["lon"], *ATTIC)) < 30.0
    out = capsys.readouterr().out
    assert "unlicensed carrier" in out and "Etienne" not in out  # the hunt knows no truth


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\nduration_s = 5.0\nbogus = 1\n')
    assert main(["simulate", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}:4: key 'scenario.bogus'" in err[0]
    assert main(["hunt", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "not a hunt directory" in capsys.readouterr().err
    assert main(["simulate", "nowhere.toml", "--out", str(tmp_path / "o")]) == 2


def test_printed_scenario_copy_simulates(tmp_path, capsys, monkeypatch):
    # The README workflow: print the scenario into a directory of one's own, edit, simulate.
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--print-scenario"]) == 0
    text = capsys.readouterr().out
    my = tmp_path / "my.toml"
    my.write_text(text.replace("duration_s = 120.0", "duration_s = 2.0", 1))
    assert main(["simulate", str(my), "--out", "rec", "--quiet"]) == 0, capsys.readouterr().err
    reg = (tmp_path / "rec" / "registry.csv").read_text().splitlines()
    assert reg[0] == "freq_hz,bandwidth_hz,name,licensee,lat_deg,lon_deg,erp_w,modulation"
    assert [r.split(",")[2] for r in reg[1:]] == ["Licensed FM A", "Licensed FM B"]
    from unseen.detect.registry import load_registry

    assert [a.freq_hz for a in load_registry(tmp_path / "rec" / "registry.csv")] == [93.5e6, 94.9e6]
