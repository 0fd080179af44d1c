"""Tracks in the system: a moving emitter in scenarios, the report's tracks, the server's route."""

import secrets
import uuid

import numpy as np
import pytest
from fastapi.testclient import TestClient

from unseen.errors import ConfigError
from unseen.geo.geodesic import distance
from unseen.report.tracks import track_features
from unseen.serve import Settings, bootstrap_admin, create_app
from unseen.sim.scenario import builtin_text, load_scenario, parse_scenario
from unseen.store import Repo
from unseen.track import run
from unseen.track.simulate import ORIGIN, bearings, geodetic, route_truth

FIXED = {"A": np.array([-6000.0, 3000.0]), "B": np.array([6000.0, 4000.0]),
         "C": np.array([0.0, 8000.0])}  # fmt: skip
ADMIN = secrets.token_urlsafe(32)


def test_scenario_emitter_route_moves_and_stops():
    sc = load_scenario("saint-malo-drive")
    e = next(x for x in sc.emitters if x.id == "etienne")
    (la0, lo0, _), (la1, lo1, _) = e.route[:2]
    mid = e.at(25.0)
    assert np.isclose(mid.lat_deg, (la0 + la1) / 2) and np.isclose(mid.lon_deg, (lo0 + lo1) / 2)
    assert e.at(60.0).lat_deg == e.at(110.0).lat_deg == la1  # parked
    assert (e.at(-5.0).lat_deg, e.at(1e4).lat_deg) == (la0, e.route[-1][0])
    assert 11 < float(distance(la0, lo0, la1, lo1)) / 50.0 < 15  # m/s along the seafront


@pytest.mark.parametrize(
    ("old", "new", "msg"),
    [
        ("[48.65550, -2.00950, 120.0]", "[48.65550, -2.00950, 40.0]", "time_s must increase"),
        ("[48.65280, -2.01750, 0.0]", "[98.0, -2.01750, 0.0]", "latitude in [-90, 90]"),
        ("[48.65280, -2.01750, 0.0]", "[48.65280, -2.01750]", "[lat_deg, lon_deg, time_s]"),
    ],
)
def test_scenario_route_errors_name_the_key(old, new, msg):
    text = builtin_text("saint-malo-drive").replace(old, new)
    with pytest.raises(ConfigError, match=r"drive\.toml:\d+: key 'emitters\[0\]\.route") as ex:
        parse_scenario(text, "drive.toml")
    assert msg in str(ex.value)


def test_report_track_features():
    tr = route_truth([(0, 0, 0), (500, 0, 40), (500, 0, 60)], 1.0)
    ups, _ = run(bearings(np.random.default_rng(0), [tr], FIXED, 2.0))
    feats = track_features(ups)
    roles = [f["properties"]["role"] for f in feats]
    assert roles.count("track") == 1 and roles.count("track-point") == 59
    line = next(f for f in feats if f["properties"]["role"] == "track")
    lat, lon = geodetic(tr.states[-1, :2], ORIGIN)
    end = line["geometry"]["coordinates"][-1]
    assert float(distance(end[1], end[0], lat, lon)) < 150
    ells = [f for f in feats if f["properties"]["role"] == "track-ellipse95"]
    assert len(ells) >= 6 and all(len(f["geometry"]["coordinates"][0]) >= 73 for f in ells)


def test_server_tracks_route(tmp_path):
    repo = Repo.open(str(tmp_path / "srv.sqlite"))
    settings = Settings(admin_token=ADMIN, solve_fix=False, max_body_bytes=1024 * 1024)
    bootstrap_admin(repo, settings)
    tr = route_truth([(0, 0, 0), (400, 300, 30)], 1.0)
    obs = bearings(np.random.default_rng(1), [tr], FIXED, 2.0, freq_hz=94.2e6)
    with TestClient(create_app(settings, repo)) as c:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        tokens = {}
        for name in FIXED:
            o = next(b for b in obs if b.site.station == name)
            r = c.post("/api/v1/stations", json={"name": name, "lat": o.site.lat_deg,
                       "lon": o.site.lon_deg}, headers=admin)  # fmt: skip
            assert r.status_code == 201, r.text
            tokens[name] = r.json()["token"]
        for name, tok in tokens.items():
            rows = [{"id": str(uuid.uuid4()), "hunt": "van", "kind": "bearing", "station": name,
                     "time_s": b.time_s, "lat": b.site.lat_deg, "lon": b.site.lon_deg,
                     "bearing_deg": b.azimuth_deg, "sigma_deg": b.sigma_deg, "freq_hz": b.freq_hz}
                    for b in obs if b.site.station == name]  # fmt: skip
            r = c.post("/api/v1/observations", json={"observations": rows},
                       headers={"Authorization": f"Bearer {tok}"})  # fmt: skip
            assert r.status_code in (200, 201, 202), r.text
        got = c.get("/api/v1/hunts/van/tracks", headers=admin)
        assert got.status_code == 200, got.text
        (t,) = got.json()
        assert t["status"] == "confirmed" and t["time_s"] == 30.0 and t["freq_hz"] == 94.2e6
        lat, lon = geodetic(tr.states[-1, :2], ORIGIN)
        assert float(distance(t["lat"], t["lon"], lat, lon)) < 3 * t["ellipse95"]["semi_major_m"]
        hist = c.get("/api/v1/hunts/van/tracks?history=true", headers=admin).json()
        assert [h["time_s"] for h in hist] == [float(k) for k in range(31)]
        assert c.get("/api/v1/hunts/none/tracks", headers=admin).json() == []
    repo.close()


def test_live_socket_pushes_tracks(tmp_path):
    """The fix worker pushes `{"type": "track"}` messages with the GET .../tracks shape, at the
    van's true position within its ellipse."""
    import time

    repo = Repo.open(str(tmp_path / "live.sqlite"))
    settings = Settings(admin_token=ADMIN, max_body_bytes=1024 * 1024)
    bootstrap_admin(repo, settings)
    tr = route_truth([(0, 0, 0), (400, 300, 30)], 1.0)
    obs = bearings(np.random.default_rng(2), [tr], FIXED, 2.0, freq_hz=94.2e6)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(create_app(settings, repo)) as c:
        tokens = {}
        for name in FIXED:
            o = next(b for b in obs if b.site.station == name)
            r = c.post("/api/v1/stations", json={"name": name, "lat": o.site.lat_deg,
                       "lon": o.site.lon_deg}, headers=admin)  # fmt: skip
            tokens[name] = r.json()["token"]
        with c.websocket_connect(f"/api/v1/hunts/van/live?token={ADMIN}") as ws:
            for name, tok in tokens.items():
                rows = [{"id": str(uuid.uuid4()), "hunt": "van", "kind": "bearing",
                         "station": name, "time_s": b.time_s, "lat": b.site.lat_deg,
                         "lon": b.site.lon_deg, "bearing_deg": b.azimuth_deg,
                         "sigma_deg": b.sigma_deg, "freq_hz": b.freq_hz}
                        for b in obs if b.site.station == name]  # fmt: skip
                r = c.post("/api/v1/observations", json={"observations": rows},
                           headers={"Authorization": f"Bearer {tok}"})  # fmt: skip
                assert r.status_code in (200, 201, 202), r.text
            deadline = time.monotonic() + 30
            msg = {}
            while time.monotonic() < deadline and not (
                msg.get("type") == "track" and msg.get("time_s") == 30.0
            ):
                msg = ws.receive_json()
        assert msg["type"] == "track" and msg["status"] == "confirmed"
        (got,) = c.get("/api/v1/hunts/van/tracks", headers=admin).json()
        assert set(msg) == set(got) | {"type"}
        lat, lon = geodetic(tr.states[-1, :2], ORIGIN)
        miss = float(distance(msg["lat"], msg["lon"], lat, lon))
        assert miss < 3 * msg["ellipse95"]["semi_major_m"], miss
    repo.close()
