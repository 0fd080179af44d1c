"""The station pipeline on simulated IQ: bearings match the simulator's truth; agent delivers."""

from __future__ import annotations

import secrets
import shutil

import httpx
import numpy as np
import pytest

from _station import station_config
from unseen.cli import main
from unseen.pipeline.station import IqFollower
from unseen.serve.process import ServerProcess

TRUE_AZ = 40.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    base = tmp_path_factory.mktemp("iq") / "dinard"
    rc = main(["simulate", "doa", "--array", "uca:5:1.0", "--azimuth", str(TRUE_AZ),
               "--snr-db", "10", "--freq-hz", "94.2e6", "--samples", "32768", "--seed", "3",
               "--out", str(base)])  # fmt: skip
    assert rc == 0
    return base.with_suffix(".sigmf-meta")


def config(tmp_path, source: str, url="http://127.0.0.1:9", token="t", hunt="iq",
           floors=None):  # fmt: skip
    floors = NO_FLOORS if floors is None else floors
    return station_config(tmp_path, f"{source}\nframe = 4096\npoll_s = 0.05", url=url,
                          token=token, hunt=hunt, extra=floors)  # fmt: skip


# the honest CRB sigma is checked below, so the operator's floors are lowered here
NO_FLOORS = "sigma_floor_deg = 0.0\nmin_sigma_deg = 0.001"


def test_file_source_gives_bearings_consistent_with_truth_and_their_sigma(tmp_path, recording):
    f = IqFollower(config(tmp_path, f'kind = "file"\npath = "{recording}"'))
    rows = f.poll()
    assert f.exhausted
    b = [r for r in rows if r["kind"] == "bearing"]
    assert len(b) == 8  # 32768 samples / 4096 per frame
    az = np.array([r["bearing_deg"] for r in b])
    sig = np.array([r["sigma_deg"] for r in b])
    # each frame's error is N(0, σ) if σ is honest: |z| < 4 for all 8 frames (p ≈ 5e-4 to fail)
    assert np.all(np.abs(az - TRUE_AZ) < 4 * sig)
    assert {r["station"] for r in b} == {"dinard"} and b[0]["lat"] == 48.6325
    again = IqFollower(config(tmp_path, f'kind = "file"\npath = "{recording}"')).poll()
    assert [r["id"] for r in again] == [r["id"] for r in rows]  # deterministic ids


def test_ids_differ_for_another_hunt_or_other_data_under_the_same_name(tmp_path, recording):
    src = f'kind = "file"\npath = "{recording}"'
    first = {r["id"] for r in IqFollower(config(tmp_path, src)).poll()}
    other_hunt = {r["id"] for r in IqFollower(config(tmp_path, src, hunt="iq2")).poll()}
    assert first and not first & other_hunt
    base = tmp_path / "again" / "dinard"  # same file name and array, new samples (seed 4)
    base.parent.mkdir()
    assert main(["simulate", "doa", "--array", "uca:5:1.0", "--azimuth", str(TRUE_AZ),
                 "--snr-db", "10", "--freq-hz", "94.2e6", "--samples", "32768", "--seed", "4",
                 "--out", str(base)]) == 0  # fmt: skip
    src2 = f'kind = "file"\npath = "{base.with_suffix(".sigmf-meta")}"'
    new_data = {r["id"] for r in IqFollower(config(tmp_path, src2)).poll()}
    assert new_data and not first & new_data


def test_directory_source_waits_until_a_file_stops_growing(tmp_path, recording):
    watch = tmp_path / "incoming"
    watch.mkdir()
    f = IqFollower(config(tmp_path, f'kind = "directory"\npath = "{watch}"'))
    assert f.poll() == []
    for ext in (".sigmf-data", ".sigmf-meta"):
        shutil.copy(recording.with_suffix(ext), watch / ("dinard" + ext))
    assert f.poll() == []  # first sighting: size not yet known to be stable
    assert len(f.poll()) == 8
    assert f.poll() == []  # each recording once


def test_bad_source_settings_are_config_errors(tmp_path):
    from unseen.errors import ConfigError

    with pytest.raises(ConfigError, match="array"):
        IqFollower(config(tmp_path, 'kind = "file"\npath = "x"\narray = "hex:9"'))
    f = IqFollower(config(tmp_path, 'kind = "file"\npath = "missing.sigmf-meta"'))
    with pytest.raises(ConfigError, match="no such file"):
        f.poll()


@pytest.mark.slow
def test_agent_posts_iq_bearings_to_the_server(tmp_path, recording):
    admin = secrets.token_urlsafe(32)
    with ServerProcess(tmp_path / "s.sqlite", admin) as srv:
        tok = httpx.post(f"{srv.url}/api/v1/stations", json={"name": "dinard", "lat": 48.6325,
                         "lon": -2.06}, headers={"Authorization": f"Bearer {admin}"},
                         trust_env=False).json()["token"]  # fmt: skip
        cfg = config(tmp_path, f'kind = "file"\npath = "{recording}"', srv.url, tok)
        assert main(["station", "--config", str(cfg.path), "--once"]) == 0
        h = {"Authorization": f"Bearer {admin}"}
        got = httpx.get(f"{srv.url}/api/v1/hunts/iq/observations", headers=h, trust_env=False)
        got = got.json()
    assert len(got) == 8 and all(abs(r["bearing_deg"] - TRUE_AZ) < 1.0 for r in got)


def test_site_calibration_removes_channel_phase_errors(tmp_path):
    common = ["--array", "uca:5:1.0", "--snr-db", "15", "--freq-hz", "94.2e6", "--samples",
              "16384", "--phase-error-deg", "40", "--phase-seed", "5"]  # fmt: skip
    assert main(["simulate", "doa", *common, "--azimuth", "200", "--seed", "1",
                 "--out", str(tmp_path / "cal")]) == 0  # fmt: skip
    assert main(["simulate", "doa", *common, "--azimuth", str(TRUE_AZ), "--seed", "2",
                 "--out", str(tmp_path / "obs")]) == 0  # fmt: skip
    assert main(["calibrate", str(tmp_path / "cal.sigmf-meta"), "--azimuth", "200",
                 "--out", str(tmp_path / "cal.json")]) == 0  # fmt: skip
    src = f'kind = "file"\npath = "{tmp_path / "obs.sigmf-meta"}"'
    raw = IqFollower(config(tmp_path, src)).poll()
    fixed = IqFollower(config(tmp_path, src + f'\ncalibration = "{tmp_path / "cal.json"}"')).poll()

    def err(rows):
        return np.array([abs((r["bearing_deg"] - TRUE_AZ + 180) % 360 - 180) for r in rows])

    def sig(rows):
        return np.array([r["sigma_deg"] for r in rows])

    # calibrated: errors consistent with a small honest sigma (|z| < 4 on 4 frames)
    assert np.all(err(fixed) < 4 * sig(fixed)) and sig(fixed).max() < 0.1
    # uncalibrated: ±40° channel phase errors bias the bearings, and the DOA stage says so by
    # inflating sigma well past the calibrated one
    assert err(raw).mean() > 2 * err(fixed).mean()
    assert sig(raw).min() > 10 * sig(fixed).max()


def test_bearing_sigma_never_below_the_floors(tmp_path, recording):
    src = f'kind = "file"\npath = "{recording}"'
    rows = [r for r in IqFollower(config(tmp_path, src, floors="")).poll()]
    assert rows and min(r["sigma_deg"] for r in rows) == 2.0  # the hunt's sigma_floor_deg
    rows = IqFollower(config(tmp_path, src, floors="sigma_floor_deg = 0.0")).poll()
    assert rows and min(r["sigma_deg"] for r in rows) == 0.5  # min_sigma_deg, every source
