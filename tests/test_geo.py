"""Geodesy: frames round trips, geodesics against geographiclib, magnetic model, ellipses, CEP."""

import numpy as np
import pytest
from geographiclib.geodesic import Geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from unseen.errors import InputError
from unseen.geo import (
    cep,
    check_latlon,
    declination_deg,
    ecef2geodetic,
    ellipse,
    enu2geodetic,
    enu_basis,
    forward,
    geodetic2ecef,
    geodetic2enu,
    inverse,
    magnetic_to_true,
    wrap180,
)

lats = st.floats(-89.9, 89.9)
lons = st.floats(-180.0, 180.0)
alts = st.floats(-400.0, 20_000.0)


@settings(max_examples=200, deadline=None)
@given(lats, lons, alts)
def test_geodetic_ecef_round_trip(lat, lon, alt):
    la, lo, al = ecef2geodetic(geodetic2ecef(lat, lon, alt))
    assert la == pytest.approx(lat, abs=1e-9)
    assert wrap180(lo - lon) == pytest.approx(0.0, abs=1e-9)
    # PROJ's closed-form inverse: ≤ 0.1 mm in altitude up to 100 km (10 µm here), far below
    # any position this project states (floors are metres)
    assert al == pytest.approx(alt, abs=1e-5)


@settings(max_examples=200, deadline=None)
@given(lats, lons, st.floats(-5e4, 5e4), st.floats(-5e4, 5e4), st.floats(-100, 3000))
def test_enu_round_trip(lat0, lon0, e, n, u):
    la, lo, al = enu2geodetic(np.array([e, n, u]), lat0, lon0, 0.0)
    back = geodetic2enu(la, lo, al, lat0, lon0, 0.0)
    np.testing.assert_allclose(back, [e, n, u], atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(lats, lons, st.floats(0, 359.999), st.floats(1.0, 5e6))
def test_geodesic_forward_inverse_round_trip(lat, lon, az, dist):
    la2, lo2, _ = forward(lat, lon, az, dist)
    az1, _, d = inverse(lat, lon, la2, lo2)
    assert d == pytest.approx(dist, rel=1e-9, abs=1e-6)
    assert abs(wrap180(az1 - az)) < 1e-6


def test_geodesic_matches_geographiclib():
    rng = np.random.default_rng(4)
    lat1, lat2 = rng.uniform(-80, 80, (2, 200))
    lon1, lon2 = rng.uniform(-180, 180, (2, 200))
    az1, az2, d = inverse(lat1, lon1, lat2, lon2)
    for i in range(200):
        g = Geodesic.WGS84.Inverse(lat1[i], lon1[i], lat2[i], lon2[i])
        assert abs(wrap180(az1[i] - g["azi1"])) < 1e-8
        assert abs(wrap180(az2[i] - g["azi2"])) < 1e-8
        assert d[i] == pytest.approx(g["s12"], rel=1e-12, abs=1e-6)


def test_closed_form_cases():
    # due north along a meridian; equator due east; ECEF of the poles and (0, 0)
    assert inverse(10, 20, 11, 20)[0] == pytest.approx(0.0, abs=1e-9)
    assert inverse(0, 20, 0, 21)[0] == pytest.approx(90.0, abs=1e-9)
    np.testing.assert_allclose(geodetic2ecef(0, 0, 0), [6378137.0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(geodetic2ecef(90, 0, 0), [0, 0, 6356752.314245], atol=1e-5)
    np.testing.assert_allclose(enu_basis(0, 0), [[0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-12)


def test_normal_section_azimuth_is_geodesic_to_within_bound():
    """The ECEF-chord (normal-section) azimuth the solver iterates on, against geographiclib."""
    lat1, lon1 = 48.0, -2.0
    S = geodetic2ecef(lat1, lon1, 0.0)
    R = enu_basis(lat1, lon1)
    worst = {}
    for dist in (1e4, 3e5, 1e6):
        errs = []
        for az in range(0, 360, 10):
            g = Geodesic.WGS84.Direct(lat1, lon1, az, dist)
            e, n, _ = R @ (geodetic2ecef(g["lat2"], g["lon2"], 0.0) - S)
            errs.append(abs(wrap180(np.degrees(np.arctan2(e, n)) - az)))
        worst[dist] = max(errs)
    assert worst[3e5] < 5e-5 and worst[1e6] < 5e-4 and worst[1e4] < 1e-7


@pytest.mark.parametrize("lat,lon", [(91, 0), (-90.5, 0), (0, 181), (0, -180.1), (np.nan, 0)])
def test_latlon_out_of_range(lat, lon):
    with pytest.raises(InputError, match=r"latitude|longitude"):
        check_latlon(lat, lon)
    with pytest.raises(InputError):
        inverse(lat, lon, 0, 0)


# NOAA's published WMM2025 test values (WMM2025testvalues.pdf): year, alt km, lat, lon, D (deg)
WMM2025 = [
    (2025.0, 0.0, 80.0, 0.0, 1.28),
    (2025.0, 0.0, 0.0, 120.0, -0.16),
    (2025.0, 0.0, -80.0, -120.0, 68.78),
    (2025.0, 100.0, 80.0, 0.0, 0.85),
    (2025.0, 100.0, 0.0, 120.0, -0.15),
]


@pytest.mark.parametrize("year,alt_km,lat,lon,d", WMM2025)
def test_magnetic_declination_matches_noaa_test_values(year, alt_km, lat, lon, d):
    # NOAA prints D to 0.01°, so a right answer is within 0.005° (+ rounding slack)
    assert declination_deg(lat, lon, alt_km * 1000.0, year) == pytest.approx(d, abs=0.006)


def test_magnetic_to_true():
    d = declination_deg(48.65, -2.03, 0.0, 2026.0)
    assert magnetic_to_true(100.0, 48.65, -2.03, 0.0, 2026.0) == pytest.approx((100 + d) % 360)
    assert magnetic_to_true(359.9, -80.0, -120.0, 0.0, 2025.0) == pytest.approx(68.68, abs=0.01)


def test_ellipse_closed_forms():
    # covariance diag(σe², σn²) = (4, 1): major axis east (90°), 95% semi-axes sqrt(5.991 λ)
    e = ellipse(np.diag([4.0, 1.0]), 0.95)
    assert e.orientation_deg == pytest.approx(90.0)
    assert e.semi_major_m == pytest.approx(np.sqrt(5.991464547 * 4.0))
    assert e.semi_minor_m == pytest.approx(np.sqrt(5.991464547))
    rot = ellipse(np.array([[2.5, 1.5], [1.5, 2.5]]), 0.5)
    assert rot.orientation_deg == pytest.approx(45.0)  # north-east
    assert rot.semi_major_m == pytest.approx(np.sqrt(-2 * np.log(0.5) * 4.0))
    assert ellipse(np.array([[2.5, -1.5], [-1.5, 2.5]]), 0.5).orientation_deg == pytest.approx(135)


def test_cep_closed_forms_and_monte_carlo():
    assert cep(np.eye(2) * 9.0) == pytest.approx(3.0 * np.sqrt(2 * np.log(2)), rel=1e-9)
    # degenerate (a line): median of |N(0, σ²)| = 0.6744897…σ
    assert cep(np.diag([4.0, 1e-14])) == pytest.approx(2 * 0.6744897501960817, rel=1e-6)
    C = np.array([[4.0, 1.5], [1.5, 1.0]])
    x = np.random.default_rng(0).multivariate_normal([0, 0], C, 200_000)
    # the sample median of 2e5 draws has relative sd ≈ 0.3%; allow 1%
    assert cep(C) == pytest.approx(np.median(np.hypot(*x.T)), rel=0.01)


def test_forward_azimuth_is_direction_of_travel():
    from unseen.geo.geodesic import forward, inverse

    lat2, lon2, az2 = forward(0.0, 0.0, 0.0, 1000.0)
    assert az2 == pytest.approx(0.0, abs=1e-9) or az2 == pytest.approx(360.0, abs=1e-9)
    lat2, lon2, az2 = forward(48.0, -2.0, 75.0, 300e3)
    _, az2_inv, dist = inverse(48.0, -2.0, lat2, lon2)
    assert az2 == pytest.approx(az2_inv, abs=1e-9)
    assert dist == pytest.approx(300e3, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(lats, lons, alts, lats, lons)
def test_enu_agrees_with_pymap3d(lat, lon, alt, lat0, lon0):
    """Our ENU (PROJ + the frame's rotation) against pymap3d's, an independent implementation."""
    import pymap3d

    want = np.array(pymap3d.geodetic2enu(lat, lon, alt, lat0, lon0, 12.0))
    got = geodetic2enu(lat, lon, alt, lat0, lon0, 12.0)
    assert np.abs(got - want).max() < 1e-4
    back = pymap3d.enu2geodetic(*want, lat0, lon0, 12.0)
    la, lo, al = enu2geodetic(want, lat0, lon0, 12.0)
    assert la == pytest.approx(back[0], abs=1e-9) and al == pytest.approx(back[2], abs=1e-4)
    assert wrap180(lo - back[1]) == pytest.approx(0.0, abs=1e-9)
