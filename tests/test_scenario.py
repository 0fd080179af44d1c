"""Scenario files: validation with file/key/line errors, and the ray geometry without IQ."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from unseen.errors import ConfigError
from unseen.geo import azimuth, wrap180
from unseen.sim import scenario_geometry as geo
from unseen.sim.scenario import builtin_text, key_lines, load_scenario, parse_scenario
from unseen.sim.scenario_sim import gates, impairments, station_frames

MINI = """\
[scenario]
name = "mini"
duration_s = 10.0

[area]
south_deg = 48.0
west_deg = -2.1
north_deg = 48.1
east_deg = -2.0

[receiver]
sample_rate_hz = 1e6
center_freq_hz = 100e6
array = { kind = "uca", elements = 5, radius_m = 0.5 }

[[stations]]
id = "a"
lat_deg = 48.01
lon_deg = -2.09

[[stations]]
id = "b"
lat_deg = 48.01
lon_deg = -2.01
[stations.array]
kind = "ula"
elements = 4
spacing_m = 1.0

[[emitters]]
id = "tx"
lat_deg = 48.05
lon_deg = -2.05
freq_hz = 100.1e6
waveform = "fm"
erp_w = 1.0
"""


@pytest.fixture(scope="module")
def saint_malo():
    return load_scenario("saint-malo")


def _bad(text: str, match: str) -> ConfigError:
    with pytest.raises(ConfigError, match=match) as info:
        parse_scenario(text, "bad.toml")
    return info.value


def test_minimal_scenario_loads_with_defaults():
    sc = parse_scenario(MINI, "mini.toml")
    assert [s.id for s in sc.stations] == ["a", "b"]
    assert sc.stations[0].array.kind == "uca" and sc.stations[1].array.kind == "ula"
    assert sc.stations[1].receiver.sample_rate_hz == 1e6
    assert sc.emitters[0].schedule.off_s == 0
    assert sc.propagation.model == "two-ray"


def test_unknown_key_names_file_key_and_line():
    text = MINI.replace("spacing_m = 1.0", "spacing_m = 1.0\nspacnig_m = 2.0")
    err = _bad(text, "spacnig_m")
    line = text.splitlines().index("spacnig_m = 2.0") + 1
    assert str(err).startswith(f"bad.toml:{line}: key 'stations[1].array.spacnig_m'")


def test_wrong_type_and_range_name_the_key_and_line():
    text = MINI.replace("erp_w = 1.0", 'erp_w = "lots"')
    err = _bad(text, "expected a finite number")
    assert (
        f"bad.toml:{text.splitlines().index('erp_w = ' + chr(34) + 'lots' + chr(34)) + 1}:"
        in str(err)
    )
    _bad(MINI.replace("erp_w = 1.0", "erp_w = -3.0"), r"emitters\[0\].erp_w.*> 0")
    _bad(MINI.replace('waveform = "fm"', 'waveform = "ofdm"'), "expected one of cw, am, fm, noise")
    _bad(MINI.replace("lat_deg = 48.05", "lat_deg = 95.0"), r"emitters\[0\].lat_deg")


def test_inline_table_key_line():
    text = MINI.replace("radius_m = 0.5 }", "radius_m = 0.5, colour = 3 }")
    err = _bad(text, "colour")
    assert str(err).startswith("bad.toml:14: key 'receiver.array.colour'")


def test_missing_and_duplicate_and_geometry_errors():
    _bad(MINI.replace('id = "b"', 'id = "a"'), "duplicate station id 'a'")
    _bad(MINI.replace("duration_s = 10.0\n", ""), "missing required key 'duration_s'")
    _bad(MINI.replace("north_deg = 48.1", "north_deg = 47.0"), "south_deg < north_deg")
    _bad(MINI.replace("elements = 4", "elements = 1"), "expected an integer in \\[2, 256\\]")
    _bad(MINI + "\n[calibration]\nsource = 'nobody'\n", "expected the id of an emitter")
    _bad(
        MINI.replace('id = "b"', 'id = "b"\nkind = "mobile"\nspeed_m_s = 3.0'),
        r"stations\[1\].route.*at least two",
    )
    _bad(
        MINI + "\n[[propagation.reflectors]]\na = [48.0, -2.0]\nb = [48.0, -2.0]\n",
        "two distinct end points",
    )
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_scenario("[scenario\nname=", "broken.toml")


def test_key_lines_arrays_of_tables():
    lines = key_lines(MINI)
    assert lines[("stations", 0, "id")] == MINI.splitlines().index('id = "a"') + 1
    assert lines[("stations", 1, "array", "kind")] == MINI.splitlines().index('kind = "ula"') + 1
    assert lines[("receiver", "array", "radius_m")] == 14


def test_saint_malo_numbers_are_scenario_parameters(saint_malo):
    sc = saint_malo
    et = sc.emitter("etienne")
    assert (et.lat_deg, et.lon_deg, et.freq_hz, et.erp_w, et.height_m) == (
        48.64985,
        -2.02720,
        94.2e6,
        10.0,
        20.0,
    )
    assert (et.schedule.on_s, et.schedule.off_s) == (20.0, 40.0)
    assert {s.id for s in sc.stations} == {"dinard", "aleth", "parame", "werner"}
    for s in sc.stations:
        assert s.array.num_elements == 5 and s.receiver.sample_rate_hz == 2.4e6
    assert sc.station("werner").mobile and sc.station("werner").speed_m_s == 5.0
    # The registry is inline, so a printed copy of the scenario is self-sufficient.
    assert sc.registry_path is None
    assert [(r.name, r.freq_hz) for r in sc.registry] == [
        ("Licensed FM A", 93.5e6),
        ("Licensed FM B", 94.9e6),
    ]
    assert builtin_text().startswith("# The Saint-Malo hunt")


def test_mobile_route_timeline(saint_malo):
    w = saint_malo.station("werner")
    length = geo.route_length_m(w.route)
    p0, p_end = geo.pose(w, 0.0), geo.pose(w, length / w.speed_m_s + 5.0)
    assert (p0.lat_deg, p0.lon_deg) == pytest.approx(w.route[0], abs=1e-9)
    assert (p_end.lat_deg, p_end.lon_deg) == pytest.approx(w.route[-1], abs=1e-9)
    # Heading is the direction of travel: first leg heads north-west from the Porte Saint-Vincent.
    assert p0.heading_deg == pytest.approx(float(azimuth(*w.route[0], *w.route[1])), abs=1e-6)
    # Constant speed: distance covered in 10 s is 50 m along the first leg.
    p10 = geo.pose(w, 10.0)
    assert geo.distance_m(p0.lat_deg, p0.lon_deg, p10.lat_deg, p10.lon_deg) == pytest.approx(
        50.0, abs=1e-6
    )


def test_schedule_and_gates(saint_malo):
    et = saint_malo.emitter("etienne")
    t = np.array([0.0, 9.99, 10.0, 29.99, 30.0, 69.99, 70.0, 89.0, 90.0])
    assert geo.on_air(et, t).tolist() == [False, False, True, True, False, False, True, True, False]
    assert gates(et, 29.0, 31.0) == ((10.0, 30.0),)
    assert gates(et, 40.0, 41.0) == ()
    assert gates(saint_malo.emitter("fm-a"), 0.0, 1.0) is None


def test_direct_ray_bearing_is_geodesic_azimuth_and_free_space_loss(saint_malo):
    sc = replace(saint_malo, propagation=replace(saint_malo.propagation, model="free-space"))
    st, et = sc.station("dinard"), sc.emitter("etienne")
    (ray,) = geo.rays(sc, et, st, geo.pose(st, 0.0))
    assert ray.azimuth_deg == pytest.approx(
        float(azimuth(st.lat_deg, st.lon_deg, et.lat_deg, et.lon_deg)), abs=1e-9
    )
    lam = 299_792_458.0 / et.freq_hz
    fspl = 20 * math.log10(4 * math.pi * ray.length_m / lam)
    assert ray.power_dbm == pytest.approx(40.0 + 2.15 - fspl, abs=1e-9)
    assert ray.delay_s == pytest.approx(ray.length_m / 299_792_458.0)


def test_two_ray_meets_free_space_at_crossover(saint_malo):
    prop = saint_malo.propagation
    f, ht, hr = 94.2e6, 20.0, 4.0
    dc = 4 * math.pi * ht * hr / (299_792_458.0 / f)
    free = replace(prop, model="free-space")
    assert geo.path_loss_db(prop, dc, f, ht, hr) == pytest.approx(
        geo.path_loss_db(free, dc, f, ht, hr)
    )
    # Beyond the crossover the plane-earth loss grows 40 dB per decade.
    assert geo.path_loss_db(prop, 10 * dc, f, ht, hr) - geo.path_loss_db(
        prop, dc, f, ht, hr
    ) == pytest.approx(40.0)


def test_rampart_reflection_dominates_at_aleth_only(saint_malo):
    sc = saint_malo
    et = sc.emitter("etienne")
    for st in sc.stations:
        if st.mobile:
            continue
        rs = geo.rays(sc, et, st, geo.pose(st, 0.0))
        if st.id == "aleth":
            direct, refl = rs
            assert refl.kind == "reflected" and refl.via == "ramparts-east"
            # Reflected ray stronger than the blocked direct one, and clearly off in bearing.
            assert refl.power_dbm - direct.power_dbm > 10.0
            assert abs(float(wrap180(refl.azimuth_deg - direct.azimuth_deg))) > 12.0
            # Image method: the reflected path is longer than the direct one.
            assert refl.length_m > direct.length_m
        else:
            assert [r.kind for r in rs] == ["direct"]
    off = replace(sc, propagation=replace(sc.propagation, multipath=False))
    aleth = off.station("aleth")
    assert len(geo.rays(off, et, aleth, geo.pose(aleth, 0.0))) == 1


def test_image_method_reflection_angle_equals_incidence(saint_malo):
    sc = saint_malo
    st, et = sc.station("aleth"), sc.emitter("etienne")
    _, refl = geo.rays(sc, et, st, geo.pose(st, 0.0))
    w = sc.propagation.reflectors[0]
    plane = geo._Plane(sc)
    a, b = plane.wall(w)
    tx, rx = plane.enu(et.lat_deg, et.lon_deg), plane.enu(st.lat_deg, st.lon_deg)
    # The specular point lies on the wall where the unfolded path length is shortest.
    u = np.linspace(0, 1, 20001)
    pts = a[None, :] + u[:, None] * (b - a)[None, :]
    total = np.linalg.norm(pts - tx, axis=1) + np.linalg.norm(pts - rx, axis=1)
    assert refl.length_m == pytest.approx(total.min(), rel=1e-4)


def test_station_frames_power_and_impairments(saint_malo):
    sc = saint_malo
    st = sc.station("dinard")
    imp = impairments(sc, st)
    assert imp == impairments(sc, st)  # same seed, same receiver errors
    assert imp.gain_db[0] == 0.0 and imp.phase_deg[0] == 0.0
    # A GNSS-disciplined clock has no offset; a free-running one is off by milliseconds.
    assert not st.gnss_sync and imp.clock_offset_s != 0.0
    synced = replace(sc, stations=tuple(replace(s, gnss_sync=True) for s in sc.stations))
    assert impairments(synced, synced.station("dinard")).clock_offset_s == 0.0
    (fr,) = station_frames(sc, st, times_s=[40.0])  # Etienne is off the air at 40 s
    assert fr.block.samples.shape == (5, st.receiver.frame_samples)
    assert fr.block.samples.dtype == np.complex64
    assert {r.emitter for r in fr.rays} == {"fm-a", "fm-b"}
    expected_mw = sum(10 ** ((r.power_dbm - st.receiver.full_scale_dbm) / 10) for r in fr.rays)
    got = np.mean(np.abs(fr.block.samples) ** 2, axis=1) / 10 ** (np.asarray(imp.gain_db) / 10)
    # Two unit-power carriers plus noise 80 dB down: per-channel power within 5 % (the cross
    # term of two carriers 1.4 MHz apart averages out over 8192 samples to well under that).
    np.testing.assert_allclose(got, expected_mw, rtol=0.05)
    assert fr.block.utc_ns == sc.start_utc_ns + round((40 + imp.clock_offset_s) * 1e9)


def test_emitters_outside_the_band_are_not_received():
    sc = parse_scenario(MINI.replace("freq_hz = 100.1e6", "freq_hz = 101.0e6"), "mini.toml")
    (fr,) = station_frames(sc, sc.stations[0], times_s=[1.0])
    assert fr.rays == ()
    # Only thermal noise: −174 dBm/Hz + 60 dB (1 MS/s) + 6 dB NF = −108 dBm, −98 dBFS; the
    # mean of 8192 |x|² has a 1.1 % (0.05 dB) standard error, so 0.2 dB is a 4σ bound.
    p_dbfs = 10 * np.log10(np.mean(np.abs(fr.block.samples[0]) ** 2))
    assert p_dbfs == pytest.approx(-98.0, abs=0.2)


def test_misspelled_array_of_tables_names_its_line():
    # `[[emiters]]` and `[[station]]` are top-level arrays of tables: the error points at the
    # first header of the misspelled name.
    text = MINI.replace("[[emitters]]", "[[emiters]]")
    err = _bad(text, "unknown key")
    line = text.splitlines().index("[[emiters]]") + 1
    assert str(err).startswith(f"bad.toml:{line}: key 'emiters'")
    text = MINI.replace("[[stations]]", "[[station]]", 1)
    err = _bad(text, "unknown key")
    assert str(err).startswith(
        f"bad.toml:{text.splitlines().index('[[station]]') + 1}: key 'station'"
    )
    assert key_lines(MINI)[("stations",)] == MINI.splitlines().index("[[stations]]") + 1


def test_inline_registry_tables():
    reg = (
        '\n[[registry]]\nfreq_hz = 100.1e6\nbandwidth_hz = 200e3\nname = "Tx"\n'
        'licensee = "x"\nlat_deg = 48.05\nlon_deg = -2.05\nerp_w = 1.0\nmodulation = "fm"\n'
    )
    sc = parse_scenario(MINI + reg, "ok.toml")
    assert sc.registry_path is None
    (lic,) = sc.registry
    assert (lic.name, lic.freq_hz, lic.bandwidth_hz, lic.lat_deg) == ("Tx", 100.1e6, 200e3, 48.05)
    bad = MINI + reg.replace("bandwidth_hz = 200e3", "bandwidth_hz = -1.0")
    err = _bad(bad, r"registry\[0\].bandwidth_hz")
    assert str(err).startswith(f"bad.toml:{bad.splitlines().index('bandwidth_hz = -1.0') + 1}:")
    _bad(MINI + reg.replace("modulation", "modulaton"), r"registry\[0\].modulaton': unknown key")
    _bad(MINI + reg.replace('name = "Tx"\n', ""), "missing required key 'name'")
    _bad(MINI + "\n[registry]\nfile = 'nowhere.csv'\n", "does not exist")
