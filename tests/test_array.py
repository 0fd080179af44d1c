"""Array geometry and the steering-vector convention."""

import json
import warnings

import numpy as np
import pytest

from unseen.doa.array import Array, direction_enu, wavelength_m
from unseen.errors import AmbiguityWarning, InputError


def test_uca_element0_north_then_clockwise():
    arr = Array.uca(4, 2.0)
    np.testing.assert_allclose(
        arr.positions_enu_m[:, :2], [[0, 2], [2, 0], [0, -2], [-2, 0]], atol=1e-12
    )


def test_ula_along_east_centred():
    arr = Array.ula(3, 0.5)
    np.testing.assert_allclose(arr.positions_enu_m, [[-0.5, 0, 0], [0, 0, 0], [0.5, 0, 0]])


def test_steering_phase_leads_on_element_nearer_the_source():
    # Source due east: the easternmost element sees the wavefront first, so its phase is largest.
    f = 100e6
    arr = Array.ula(2, 1.0)
    a = arr.steering(90.0, f)[:, 0]
    dphi = np.angle(a[1] / a[0])
    assert dphi == pytest.approx(2 * np.pi * 1.0 / wavelength_m(f), abs=1e-9)


def test_steering_matches_closed_form():
    f = 94.2e6
    arr = Array.uca(5, 1.0)
    az = 37.0
    u = direction_enu(az)
    expected = np.exp(1j * 2 * np.pi * (arr.positions_enu_m @ u) / wavelength_m(f))
    np.testing.assert_allclose(arr.steering(az, f)[:, 0], expected, rtol=1e-12)


def test_heading_rotates_elements_clockwise():
    # Heading 90°: body north (element 0 of a UCA) now points east.
    arr = Array.uca(4, 1.0, heading_deg=90.0)
    np.testing.assert_allclose(arr.positions_enu_m[0], [1, 0, 0], atol=1e-12)
    # A source at true azimuth b + h looks, to the rotated array, like body azimuth b.
    f = 50e6
    body = Array.uca(4, 1.0)
    np.testing.assert_allclose(arr.steering(30.0 + 90.0, f), body.steering(30.0, f), atol=1e-12)


def test_grating_warning_above_half_wavelength():
    f = 100e6  # λ = 3.0 m
    with pytest.warns(AmbiguityWarning):
        Array.ula(4, 2.0).check_spacing(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Array.ula(4, 1.4).check_spacing(f)


def test_spec_parsing(tmp_path):
    assert Array.from_spec("uca:5:1.0").num_elements == 5
    assert Array.from_spec("ula:8:0.5").kind == "ula"
    p = tmp_path / "arr.json"
    p.write_text(json.dumps({"elements_enu_m": [[0, 0, 0], [1, 0, 0], [0, 1, 0.5]]}))
    arr = Array.from_spec(str(p), heading_deg=10.0)
    assert arr.num_elements == 3 and arr.heading_deg == 10.0
    for bad in ["uca:x:1", "hex:3:1", str(tmp_path / "missing.json")]:
        with pytest.raises(InputError, match="array spec"):
            Array.from_spec(bad)


def test_bad_frequency_is_named():
    with pytest.raises(InputError, match="freq_hz"):
        Array.uca(5, 1.0).steering(0.0, -1.0)
