"""Agent = hunt: the Saint-Malo recordings through `unseen serve` + one `unseen station --once`
per site (station.toml with only what a field engineer knows) give the hunt's fix.

Truth is the simulator's: the attic's position and Etienne's on-air schedule (10–30 s).
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime

import httpx
import pytest

from unseen.cli import main
from unseen.doa import Array
from unseen.geo import distance
from unseen.locate.coverage import inside_ellipse
from unseen.pipeline.hunt import hunt_dir
from unseen.pipeline.layout import load_dir
from unseen.serve.process import ServerProcess
from unseen.types import Ellipse, Fix

ATTIC = (48.64985, -2.02720)
START = datetime(2026, 8, 13, 21, 0, tzinfo=UTC).timestamp()  # the scenario's start_utc
ON_S = (10.0, 30.0)  # Etienne on the air (scenario schedule: offset 10 s, 20 s on)
FRAME_S = 8192 / 2.4e6


def _toml(d, name, lat, lon, url, token, extra=""):
    p = d / f"{name}.toml"
    p.write_text(f"""
[station]
name = "{name}"
lat = {lat}
lon = {lon}
[server]
url = "{url}"
token = "{token}"
hunt = "saint-malo"
[spool]
path = "{name}-spool.sqlite"
[source]
kind = "file"
path = "{d / name}.sigmf-meta"
registry = "{d / "registry.csv"}"
{extra}
""")
    return p


def _fix(doc: dict) -> Fix:
    e = doc["ellipse95"]
    e95 = Ellipse(e["semi_major_m"], e["semi_minor_m"], e["orientation_deg"])
    cov = tuple(tuple(r) for r in doc["cov_enu_m2"])
    return Fix(doc["lat"], doc["lon"], doc.get("alt_m", 0.0), cov, e95, e95, 0.0, "", 0)


@pytest.fixture(scope="module")
def saint_malo(tmp_path_factory):
    d = tmp_path_factory.mktemp("sm")
    assert main(["simulate", "saint-malo", "--out", str(d), "--duration-s", "31", "--quiet"]) == 0
    return d


def test_calibrate_picks_one_transmitter_out_of_a_multi_signal_recording(saint_malo, tmp_path):
    """Dinard hears FM A (strongest), FM B and the pirate. Calibrated on FM B alone (--freq-hz)
    before the pirate starts (--stop-s), the array points at FM A within the bearing floor;
    calibrated at FM B's azimuth on the whole band (where FM A dominates) it does not."""
    from unseen.channelize import channelize
    from unseen.doa import Calibration, estimate
    from unseen.geo import azimuth, wrap180
    from unseen.sources import open_recording

    dinard, fm_a, fm_b = (48.6325, -2.06), (48.58, -2.06), (48.645, -2.005)
    rec = saint_malo / "dinard.sigmf-meta"
    az_b = float(azimuth(*dinard, *fm_b))
    args = ["calibrate", str(rec), "--azimuth", f"{az_b}", "--stop-s", f"{8 * 8192 / 2.4e6}"]
    assert main([*args, "--freq-hz", "94.9e6", "--out", str(tmp_path / "b.json")]) == 0
    assert main([*args, "--out", str(tmp_path / "all.json")]) == 0
    r = open_recording(rec)
    blk = channelize(r.read(0, 8192), 93.5e6, 200e3)
    arr = Array.from_dict(r.extensions["unseen:array"])
    true_a = float(azimuth(*dinard, *fm_a))

    def err(path):
        est = estimate(blk, arr, 93.5e6, "music", 1, calibration=Calibration.load(path))
        return abs(float(wrap180(est.azimuths_deg[0] - true_a)))

    assert err(tmp_path / "b.json") < 2.0
    assert err(tmp_path / "all.json") > 5.0
    assert main([*args[:2], "--azimuth", "1", "--start-s", "5", "--stop-s", "1",
                 "--out", str(tmp_path / "x.json")]) == 2  # fmt: skip


@pytest.mark.slow
def test_agents_posting_to_the_server_give_the_hunts_fix(saint_malo, tmp_path, caplog):
    d = saint_malo
    hunt = hunt_dir(d).final
    admin = secrets.token_urlsafe(32)
    h = {"Authorization": f"Bearer {admin}"}
    caplog.set_level(logging.INFO)
    with ServerProcess(tmp_path / "s.sqlite", admin) as srv:
        for st in load_dir(d):
            fr = st.frames[0]
            tok = httpx.post(f"{srv.url}/api/v1/stations", headers=h, trust_env=False,
                             json={"name": st.id, "lat": fr.lat_deg, "lon": fr.lon_deg}
                             ).json()["token"]  # fmt: skip
            cfg = _toml(d, st.id, fr.lat_deg, fr.lon_deg, srv.url, tok)
            assert main(["station", "--config", str(cfg), "--once"]) == 0
        rows = httpx.get(f"{srv.url}/api/v1/hunts/saint-malo/observations", headers=h,
                         params={"limit": 1000}, trust_env=False).json()  # fmt: skip
        last = max(r["seq"] for r in rows)
        deadline = time.monotonic() + 120  # generous: CI machines may be loaded
        while time.monotonic() < deadline:  # the server fuses in the background
            got = httpx.get(f"{srv.url}/api/v1/hunts/saint-malo/fix", headers=h, trust_env=False)
            if got.status_code == 200 and got.json()["last_seq"] == last:
                break
            time.sleep(0.2)
    assert got.status_code == 200, got.text
    assert got.json()["last_seq"] == last, "the server never fused the last observations"
    fix = _fix(got.json())
    log = caplog.text
    # Every agent calibrated on a licensed transmitter from the registry, and said so.
    assert log.count("array calibrated on Licensed FM") == 4
    bearings = [r for r in rows if r["kind"] == "bearing"]
    assert {r["station"] for r in bearings} == {"dinard", "aleth", "parame", "werner"}
    # Absolute times (core:datetime), and no bearing while the pirate is off the air.
    rel = [r["time_s"] - START for r in bearings]
    assert min(rel) >= 0 and max(rel) <= 31
    off = [t for t in rel if not ON_S[0] - 1 <= t <= ON_S[1] + FRAME_S]
    assert off == [], off
    assert all(r["sigma_sys_deg"] >= 0 and r["sigma_deg"] >= 0.5 for r in bearings)
    # No target frequency given: every agent found the unlicensed 94.2 MHz carrier.
    assert all(abs(r["freq_hz"] - 94.2e6) < 20e3 for r in bearings)
    err = float(distance(fix.lat_deg, fix.lon_deg, *ATTIC))
    to_hunt = float(distance(fix.lat_deg, fix.lon_deg, hunt.lat_deg, hunt.lon_deg))
    inside, d2 = inside_ellipse(fix, *ATTIC)
    print(
        f"agent fix: {err:.2f} m from the attic (d² {d2:.2f}), {to_hunt:.2f} m from the hunt's;"
        f" ellipse95 {fix.ellipse95}; {len(bearings)} bearings, {len(off)} off the air"
    )
    assert err < 10.0 and inside, (err, d2)
    assert to_hunt < 3.0, to_hunt


def test_with_freq_hz_the_agent_dfs_that_channel(saint_malo):
    """freq_hz = FM A (licensed, continuous): a bearing in every frame, pointing at FM A."""
    from unseen.geo import azimuth, wrap180
    from unseen.pipeline.station import StationSetup, process_recording
    from unseen.types import Site

    setup = StationSetup("dinard", "h", Site("dinard", 48.6325, -2.06), freq_hz=93.5e6,
                         registry=str(saint_malo / "registry.csv"))  # fmt: skip
    rows = process_recording(saint_malo / "dinard.sigmf-meta", setup)
    b = [r for r in rows if r["kind"] == "bearing"]
    assert len(b) == 31  # within the channel: the carrier centre as measured (FM: ±25 kHz)
    assert all(r["freq_hz"] == pytest.approx(93.5e6, abs=100e3) for r in b)
    true = float(azimuth(48.6325, -2.06, 48.58, -2.06))
    assert all(abs(float(wrap180(r["bearing_deg"] - true))) < 3 * r["sigma_deg"] for r in b)
