"""The hunt pipeline on simulated station recordings: it knows nothing of the truth; we do."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest

from unseen.errors import FileFormatError, InputError
from unseen.geo import azimuth, distance, wrap180
from unseen.pipeline.hunt import HuntOptions, hunt_dir, inside_ellipse, truth_of
from unseen.pipeline.layout import load_dir, simulate_dir
from unseen.sim.scenario import load_scenario, parse_scenario

ATTIC = (48.64985, -2.02720)
C = 299_792_458.0


def _short(multipath: bool):
    """Saint-Malo cut to Etienne's first 20 s on the air (10–30 s), every station."""
    sc = load_scenario("saint-malo")
    return replace(sc, duration_s=31.0, propagation=replace(sc.propagation, multipath=multipath))


@pytest.fixture(scope="module")
def hunted(tmp_path_factory):
    out = {}
    for multipath in (True, False):
        d = tmp_path_factory.mktemp(f"rec-{multipath}")
        sc = _short(multipath)
        simulate_dir(sc, d)
        out[multipath] = (sc, d, hunt_dir(d))
    return out


def _err(fix) -> float:
    return float(distance(fix.lat_deg, fix.lon_deg, *ATTIC))


def test_directory_layout_and_recorded_track(hunted):
    sc, d, _ = hunted[True]
    with (d / "stations.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["station"] for r in rows] == ["dinard", "aleth", "parame", "werner"]
    from unseen.detect.registry import load_registry

    reg = load_registry(d / "registry.csv")
    assert [(a.name, a.freq_hz, a.lat_deg) for a in reg] == [
        (r.name, r.freq_hz, r.lat_deg) for r in sc.registry
    ]
    meta = json.loads((d / "werner.sigmf-meta").read_text())
    assert meta["global"]["unseen:array"]["kind"] == "uca"
    caps = meta["captures"]
    assert len(caps) == 31 and all("unseen:heading_deg" in c and "core:datetime" in c for c in caps)
    stations = load_dir(d)
    werner = next(s for s in stations if s.id == "werner")
    # The recorded track follows the route within the GNSS error (2.5 m per axis: 5σ = 18 m).
    from unseen.sim.scenario_geometry import pose

    for fr in werner.frames:
        p = pose(sc.station("werner"), fr.time_s)
        assert distance(fr.lat_deg, fr.lon_deg, p.lat_deg, p.lon_deg) < 18.0


def test_band_scan_flags_the_pirate(hunted):
    _, _, r = hunted[True]
    lic = sorted((round(d.freq_hz / 1e6, 1), d.licensed) for d in r.detections)
    assert lic == [(93.5, True), (94.2, False), (94.9, True)]
    assert abs(r.target.freq_hz - 94.2e6) < 20e3
    # On the air 10–30 s only: the detection's burst says so (frames are 1 s apart).
    assert 9.0 <= r.target.start_s <= 11.0 and 29.0 <= r.target.stop_s <= 31.5


def test_reflection_rejected_and_named_final_fix_meets_goal(hunted):
    sc, _, r = hunted[True]
    final = r.final
    assert "aleth" in r.rejected and "reflection" in r.rejected["aleth"]
    assert set(r.rejected) == {"aleth"}
    assert _err(final) < 30.0
    inside, d2 = inside_ellipse(final, *ATTIC)
    assert inside, d2
    # Aleth's bearing is confidently wrong: it points to the ramparts, not to the attic.
    aleth = [b for b in r.bearings if b.site.station == "aleth"]
    true_az = float(azimuth(48.637, -2.028, *ATTIC))
    assert all(abs(float(wrap180(b.azimuth_deg - true_az))) > 10.0 for b in aleth)
    assert truth_of(sc, r.target).name.startswith("Etienne")


def test_robust_fusion_matters_only_with_the_reflection(hunted):
    _, _, with_refl = hunted[True]
    _, _, no_refl = hunted[False]
    # With the reflection: every robust fix rejects Aleth and stays near the attic while Werner
    # adds bearings; fused without rejection the fixes are pulled far off (or admit no
    # consistent fix at all: None).
    assert all("aleth" in f.rejected for f in with_refl.fixes)
    robust = [_err(f) for f in with_refl.fixes]
    naive = [_err(f) if f is not None else np.inf for f in with_refl.naive_fixes]
    assert np.median(naive) > 3 * np.median(robust)
    assert max(e for e in naive[:5]) > 100.0 and robust[0] < 30.0
    # Without it: nothing to reject, and rejection changes nothing.
    assert no_refl.rejected == {}
    assert all(f.rejected == () for f in no_refl.fixes)
    for f, n in zip(no_refl.fixes, no_refl.naive_fixes, strict=True):
        assert n is not None
        assert float(distance(f.lat_deg, f.lon_deg, n.lat_deg, n.lon_deg)) < 1.0
    assert _err(no_refl.final) < 30.0
    aleth = [b for b in no_refl.bearings if b.site.station == "aleth"]
    true_az = float(azimuth(48.637, -2.028, *ATTIC))
    assert all(abs(float(wrap180(b.azimuth_deg - true_az))) < 2.0 for b in aleth)


def test_ellipses_shrink_as_the_vehicle_adds_bearings(hunted):
    _, _, r = hunted[True]
    majors = [f.ellipse95.semi_major_m for f in r.fixes]
    assert len(majors) >= 10
    assert majors[-1] < 0.5 * majors[0]
    assert [f.time_s for f in r.fixes] == sorted(f.time_s for f in r.fixes)


def test_hunt_a_given_frequency(hunted):
    # Hunting the licensed FM B by frequency locates its registered site (1.4–4 km from the
    # stations; 2° bearings give tens of metres there, 100 m is a loose bound).
    _, d, _ = hunted[True]
    r = hunt_dir(d, HuntOptions(target_freq_hz=94.9e6))
    assert r.target.licensed is True and r.target.assignment == "Licensed FM B"
    assert float(distance(r.final.lat_deg, r.final.lon_deg, 48.645, -2.005)) < 100.0


def test_hunt_directory_errors(tmp_path, hunted):
    with pytest.raises(InputError, match="not a hunt directory"):
        hunt_dir(tmp_path)
    _, d, _ = hunted[True]
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in d.iterdir():
        (bad / f.name).symlink_to(f)
    (bad / "stations.csv").unlink()
    (bad / "stations.csv").write_text("name,kind\nx,fixed\n")
    with pytest.raises(FileFormatError, match="lacks column"):
        load_dir(bad)
    # A mobile station whose captures lack the recorded pose.
    meta = json.loads((d / "werner.sigmf-meta").read_text())
    for c in meta["captures"]:
        c.pop("unseen:heading_deg")
    (bad / "werner.sigmf-meta").unlink()
    (bad / "werner.sigmf-meta").write_text(json.dumps(meta))
    (bad / "stations.csv").unlink()
    (bad / "stations.csv").write_text((d / "stations.csv").read_text())
    with pytest.raises(FileFormatError, match="unseen:heading_deg"):
        load_dir(bad)


HYBRID = """
[scenario]
name = "hybrid"
duration_s = 4.0
seed = 7

[area]
south_deg = 48.60
west_deg = -2.10
north_deg = 48.70
east_deg = -1.95

[receiver]
sample_rate_hz = 2.4e6
center_freq_hz = 94.2e6
frame_samples = 16384
frame_interval_s = 1.0
phase_sigma_deg = 20.0
array = { kind = "uca", elements = 5, radius_m = 1.0 }

[[stations]]
id = "a"
lat_deg = 48.6325
lon_deg = -2.0600
gnss_sync = true

[[stations]]
id = "b"
lat_deg = 48.6370
lon_deg = -2.0280
gnss_sync = true

[[stations]]
id = "c"
lat_deg = 48.6570
lon_deg = -1.9900
gnss_sync = true

[[stations]]
id = "d"
lat_deg = 48.6800
lon_deg = -2.0400
gnss_sync = true

[[emitters]]
id = "digital"
name = "wideband data link"
lat_deg = 48.64985
lon_deg = -2.02720
height_m = 20.0
freq_hz = 94.2e6
waveform = "noise"
bandwidth_hz = 200e3
erp_w = 1.0

[[emitters]]
id = "beacon"
name = "Licensed FM B"
lat_deg = 48.64500
lon_deg = -2.00500
freq_hz = 94.9e6
waveform = "fm"
erp_w = 500.0

[propagation]
model = "two-ray"

[registry]
file = "registry.csv"
"""


def test_synchronised_stations_add_tdoas_hybrid_fix(tmp_path):
    (tmp_path / "registry.csv").write_text(
        "freq_hz,bandwidth_hz,name,licensee,lat_deg,lon_deg,erp_w,modulation\n"
        "94900000,200000,Licensed FM B,x,48.64500,-2.00500,500,fm\n"
    )
    sc = parse_scenario(HYBRID, "hybrid.toml", tmp_path)
    d = tmp_path / "rec"
    simulate_dir(sc, d)
    r = hunt_dir(d)
    assert r.tdoas, "synchronised stations must yield TDOAs"
    for t in r.tdoas:
        da = float(distance(t.site.lat_deg, t.site.lon_deg, *ATTIC))
        db = float(distance(t.site_b.lat_deg, t.site_b.lon_deg, *ATTIC))
        true = (da - db) / C
        # Within 3σ of the reported sigma (which carries the pipeline's 100 ns timing floor),
        # and within 150 ns (45 m): a 150 kHz-wide signal over 6.8 ms resolves well below that.
        assert abs(t.tdoa_s - true) < min(3 * t.sigma_s, 150e-9), (t, true)
    # Independent pairs only: three, all against the first station.
    assert len({(t.site.station, t.site_b.station) for t in r.tdoas}) == 3
    assert r.final.method == "ml-hybrid"
    assert _err(r.final) < 30.0
    assert np.isfinite(r.final.cep50_m)


@pytest.mark.slow
def test_ellipse_coverage_and_rejection_over_seeds(tmp_path, hunted):
    """Monte Carlo over 6 seeds of the short Saint-Malo variant (receiver errors, GNSS errors,
    waveforms and noise all redrawn): Aleth is rejected every time, and the attic lies inside
    the final 95 % ellipse at least 5 times of 6 (if the ellipse were exact, P(≤ 4 of 6) = 0.2 %;
    an ellipse too small by the ignored calibration bias failed half the time before it was
    modelled). The scenario's own seed (1944, the module's run) is one of the six draws."""
    sc, _, first = hunted[True]
    assert sc.seed not in range(201, 206)
    runs = [first]
    for seed in range(201, 206):
        d = tmp_path / str(seed)
        simulate_dir(replace(_short(True), seed=seed), d)
        runs.append(hunt_dir(d))
    inside, errors = 0, []
    for r in runs:
        assert set(r.rejected) == {"aleth"}, r.rejected
        inside += inside_ellipse(r.final, *ATTIC)[0]
        errors.append(_err(r.final))
    assert inside >= 5, (inside, errors)
    assert np.median(errors) < 15.0, errors


def _copy_dir(src, dst, skip=()):
    dst.mkdir()
    for f in src.iterdir():
        if f.name not in skip:
            (dst / f.name).symlink_to(f)
    return dst


def test_malformed_stations_csv_rows_name_line_and_column(tmp_path, hunted):
    from unseen.cli import main

    _, d, _ = hunted[True]
    bad = _copy_dir(d, tmp_path / "bad", skip=("stations.csv",))
    good = (d / "stations.csv").read_text().splitlines()
    header, rows = good[0], good[1:]
    lat = header.split(",").index("lat_deg")

    def with_row(k: int, column: str, value: str) -> str:
        cells = rows[k].split(",")
        cells[header.split(",").index(column)] = value
        return "\n".join([header, *rows[:k], ",".join(cells), *rows[k + 1 :]]) + "\n"

    cases = [
        ("\n".join([header, *rows, "garbage,,,"]) + "\n", len(rows) + 2, "recording"),
        (with_row(1, "lat_deg", "abc"), 3, "lat_deg"),
        (with_row(2, "lat_deg", "148.6"), 4, "lat_deg"),
        (with_row(0, "lon_deg", "-200"), 2, "lon_deg"),
        (with_row(0, "kind", "flying"), 2, "kind"),
        (with_row(3, "gnss_sync", "maybe"), 5, "gnss_sync"),
        (with_row(0, "station", ""), 2, "station"),
        (with_row(0, "recording", "nowhere.sigmf-meta"), 2, "recording"),
    ]
    assert lat > 0
    for text, line, column in cases:
        (bad / "stations.csv").write_text(text)
        with pytest.raises(InputError, match=rf"stations\.csv:{line}: column '{column}'"):
            load_dir(bad)
    # Through the CLI: one line on stderr and exit code 2, not a traceback.
    (bad / "stations.csv").write_text(cases[0][0])
    assert main(["hunt", str(bad), "--out", str(tmp_path / "rep"), "--quiet"]) == 2


def test_no_registry_says_so(tmp_path, hunted):
    _, d, _ = hunted[True]
    bare = _copy_dir(d, tmp_path / "bare", skip=("registry.csv",))
    with pytest.raises(InputError) as info:
        hunt_dir(bare)
    msg = str(info.value)
    assert "no licence registry" in msg and "registry.csv" in msg and "--target-freq-hz" in msg
    assert "94.2" in msg  # the detected carriers are listed to choose from
    assert "no unlicensed carrier found" not in msg


def test_report_observations_reproduce_the_final_fix_with_unseen_locate(tmp_path, hunted, capsys):
    from unseen.cli import main
    from unseen.report import write_report

    _, _, r = hunted[True]
    paths = write_report(r, tmp_path / "rep")
    last = json.loads(paths["fixes"].read_text().splitlines()[-1])
    capsys.readouterr()
    assert main(["locate", str(paths["observations"]), "--json"]) == 0
    (got,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert got["group"] == last["group"] == "hunt"
    # The same observations and the same ML fit: the same optimum (the hunt warm-starts from
    # its previous fix, the CLI does not; both converge far below a centimetre).
    assert float(distance(got["lat"], got["lon"], last["lat"], last["lon"])) < 0.01
    assert got["rejected"] == last["rejected"]
    gj = json.loads(paths["geojson"].read_text())
    fixes = [f["properties"] for f in gj["features"] if f["properties"]["role"] == "fix"]
    assert {p["group"] for p in fixes} == {"hunt"}


def test_fixed_station_without_geolocation_takes_stations_csv_position(tmp_path, hunted):
    _, d, _ = hunted[True]
    bare = _copy_dir(d, tmp_path / "nogeo", skip=("dinard.sigmf-meta",))
    meta = json.loads((d / "dinard.sigmf-meta").read_text())
    meta["captures"] = [{k: v for k, v in c.items() if k != "core:geolocation"}
                        for c in meta["captures"]]  # fmt: skip
    meta["global"].pop("core:geolocation", None)
    (bare / "dinard.sigmf-meta").write_text(json.dumps(meta))
    text = (d / "stations.csv").read_text()
    dinard = next(s for s in load_dir(bare) if s.id == "dinard")
    row = next(r for r in csv.DictReader(text.splitlines()) if r["station"] == "dinard")
    assert {(f.lat_deg, f.lon_deg) for f in dinard.frames} == {
        (float(row["lat_deg"]), float(row["lon_deg"]))
    }
    (bare / "stations.csv").unlink()
    (bare / "stations.csv").write_text(
        text.replace(row["lat_deg"], "", 1).replace(row["lon_deg"], "", 1)
    )
    with pytest.raises(FileFormatError, match="no core:geolocation"):
        load_dir(bare)
