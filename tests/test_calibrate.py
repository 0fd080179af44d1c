"""Gain/phase calibration: known source and injected noise source, JSON files."""

import json

import numpy as np
import pytest

from unseen.doa import Array, Calibration, calibrate, covariance, crb_single, estimate
from unseen.errors import FileFormatError, InputError
from unseen.sim import gaussian_snapshots
from unseen.types import IqBlock

F = 3e8
UCA5 = Array.uca(5, 0.5 / (2 * np.sin(np.pi / 5)))


def hardware(seed=1):
    """±30° phase and ±1 dB gain errors per channel."""
    rng = np.random.default_rng(seed)
    return 10 ** (rng.uniform(-1, 1, 5) / 20) * np.exp(1j * np.radians(rng.uniform(-30, 30, 5)))


def wrap(d):
    return (np.asarray(d) + 180.0) % 360.0 - 180.0


@pytest.mark.slow
def test_known_source_calibration_restores_crb_accuracy():
    G = hardware()
    cal_x = gaussian_snapshots(UCA5, 200.0, 20.0, 65536, F, seed=2, gains=G)[0]
    cal = calibrate(covariance(cal_x), 65536, array=UCA5, azimuth_deg=200.0, freq_hz=F)
    g = cal.response
    # The estimate is G/G_0; principal-eigenvector error ~ 1/sqrt(N·SNR·M) ≈ 2e-4 rad.
    np.testing.assert_allclose(np.angle(g * np.conj(G / G[0])), 0.0, atol=np.radians(0.1))
    np.testing.assert_allclose(np.abs(g), np.abs(G / G[0]), rtol=0.01)
    az, trials, n = 37.3, 200, 1024
    X = gaussian_snapshots(UCA5, az, 10.0, n, F, trials=trials, seed=3, gains=G)
    crb = np.sqrt(crb_single(UCA5, az, F, 10.0, n))
    raw_est = [estimate(IqBlock(x, 1e6, F), UCA5, num_sources=1) for x in X]
    raw = [e.azimuths_deg[0] for e in raw_est]
    fixed = [
        estimate(IqBlock(x, 1e6, F), UCA5, num_sources=1, calibration=cal).azimuths_deg[0]
        for x in X
    ]
    # 200 trials: RMSE known to ±5 %, so 1.3× CRB is a 6σ margin for an efficient estimator.
    assert np.sqrt(np.mean(wrap(np.array(fixed) - az) ** 2)) <= 1.3 * crb
    assert np.sqrt(np.mean(wrap(np.array(raw) - az) ** 2)) > 5 * crb
    # Uncalibrated, the MUSIC null no longer fits the model: sigma grows to the size of the
    # (bias-dominated) error instead of claiming the CRB. One hardware draw gives one bias, a
    # single |N(0, 1)|-like sample in units of sigma: require it within 2 sigma.
    raw_sig = np.array([e.sigma_deg[0] for e in raw_est])
    assert np.sqrt(np.mean((wrap(np.array(raw) - az) / raw_sig) ** 2)) <= 2.0
    assert np.min(raw_sig) > 5 * crb


def test_noise_source_calibration():
    G = hardware(4)
    rng = np.random.default_rng(5)
    n = 32768
    common = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.sqrt(50)
    thermal = (rng.standard_normal((5, n)) + 1j * rng.standard_normal((5, n))) / np.sqrt(2)
    x = (G[:, None] * (common[None, :] + thermal)).astype(np.complex64)
    cal = calibrate(covariance(x), n)
    assert cal.method == "noise-source" and cal.azimuth_deg is None
    np.testing.assert_allclose(cal.response, G / G[0], atol=0.01)
    np.testing.assert_allclose(
        cal.apply(x[:, :8]), x[:, :8] / cal.response[:, None], rtol=1e-5, atol=1e-5
    )


def test_json_round_trip_and_schema_errors(tmp_path):
    cal = Calibration((0.0, 1.5, -0.5), (0.0, 20.0, -33.0), "known-source", 40.0, 94.2e6, 4096)
    p = cal.save(tmp_path / "cal.json")
    doc = json.loads(p.read_text())
    assert doc["format"] == "unseen-calibration" and doc["version"] == 1
    assert doc["num_channels"] == 3 and doc["phase_deg"] == [0.0, 20.0, -33.0]
    assert Calibration.load(p) == cal
    for bad, field in [
        ({"format": "other"}, "format"),
        ({**doc, "gain_db": "x"}, "gain_db"),
        ({**doc, "phase_deg": [0, 1]}, "equal length"),
        ({**doc, "num_channels": 4}, "num_channels"),
        ({**doc, "method": "magic"}, "method"),
    ]:
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(FileFormatError, match=field):
            Calibration.load(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_text("{nope")
    with pytest.raises(FileFormatError, match=r"junk\.json"):
        Calibration.load(tmp_path / "junk.json")
    with pytest.raises(FileFormatError, match="no such calibration file"):
        Calibration.load(tmp_path / "missing.json")
    with pytest.raises(InputError, match="3 channels but the data has 5"):
        cal.apply(np.zeros((5, 10), np.complex64))
