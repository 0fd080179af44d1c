"""Detection against simulator truth: frequency, bandwidth, power, burst times, class; CFAR
false alarms on noise; licence registry matching and its errors."""

import numpy as np
import pytest

from unseen.detect import detect, noise_floor, spectrogram, threshold_factor, welch_psd
from unseen.detect.registry import Assignment, load_registry, match
from unseen.errors import ConfigError
from unseen.sim import waveforms as w
from unseen.types import Detection, IqBlock

FS, N = 2.4e6, 1 << 21
NOISE_DBFS = -60.0


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    x = (
        (rng.standard_normal(N) + 1j * rng.standard_normal(N))
        * np.sqrt(0.5)
        * 10 ** (NOISE_DBFS / 20)
    )
    t = np.arange(N) / FS

    def add(sig, f0, p_db, on=None):
        s = sig * 10 ** (p_db / 20) * np.exp(2j * np.pi * f0 * t)
        return s * ((t >= on[0]) & (t < on[1])) if on else s

    x = (
        x
        + add(w.cw(N, FS, 1), -600e3, -40)
        + add(w.am(N, FS, 2, audio="music"), -300e3, -45)
        + add(w.fm(N, FS, 3, deviation_hz=5e3), 0, -40)
        + add(w.qpsk(N, FS, 4, symbol_rate_hz=25e3), 300e3, -50, on=(0.2, 0.5))
    )
    return IqBlock(x[None].astype(np.complex64), FS, 100e6)


@pytest.fixture(scope="module")
def found():
    return detect(_scene())


def _near(dets, f):
    got = [d for d in dets if abs(d.freq_hz - f) < 20e3]
    assert len(got) == 1, f"expected one detection near {f}, got {got}"
    return got[0]


def test_four_signals_found_and_nothing_else(found):
    assert len(found) == 4


@pytest.mark.parametrize(
    ("f", "p_db", "mod"),
    [(99.4e6, -40, "cw"), (99.7e6, -45, "am"), (100.0e6, -40, "fm"), (100.3e6, -50, "digital")],
)
def test_power_frequency_and_class(found, f, p_db, mod):
    d = _near(found, f)
    # power from ≥ 100 averaged bins at ≥ 10 dB SNR: the estimate is within 0.5 dB
    assert d.power_dbfs == pytest.approx(p_db, abs=0.5)
    # SNR = signal power over noise in the occupied band (noise −60 dBFS over 2.4 MHz)
    noise_in_band = NOISE_DBFS + 10 * np.log10(d.bandwidth_hz / FS)
    assert d.snr_db == pytest.approx(p_db - noise_in_band, abs=1.0)
    assert d.modulation == mod


def test_bandwidths(found):
    # a carrier's 99 % band is a few fine bins; QPSK at 25 kBd, roll-off 0.35: 99 % ≈ 33 kHz
    assert _near(found, 99.4e6).bandwidth_hz < 1e3
    assert _near(found, 100.3e6).bandwidth_hz == pytest.approx(25e3 * 1.35, rel=0.2)
    assert _near(found, 100.3e6).freq_hz == pytest.approx(100.3e6, abs=500)


def test_burst_times(found):
    q = _near(found, 100.3e6)
    row = 16 * 1024 / FS  # time resolution of a spectrogram row
    assert q.start_s == pytest.approx(0.2, abs=row)
    assert q.stop_s == pytest.approx(0.5, abs=row)
    c = _near(found, 99.4e6)
    assert c.start_s == 0 and c.stop_s == pytest.approx(N // (16 * 1024) * row)


def test_psd_scaling_full_scale_tone():
    n = 1 << 16
    x = np.exp(2j * np.pi * 0.1 * np.arange(n)).astype(np.complex64)[None]
    f, p = welch_psd(IqBlock(x, 1.0, 0.0), nfft=256)
    assert p.sum() == pytest.approx(1.0, rel=1e-3)  # 0 dBFS
    assert f[np.argmax(p)] == pytest.approx(0.1, abs=1 / 256)


def test_cfar_false_alarm_rate():
    """Noise only: the number of bins over the threshold matches pfa (binomial bound)."""
    rng = np.random.default_rng(7)
    nfft, rows, pfa = 1024, 40, 1e-3
    fa = 0
    trials = 20
    for _ in range(trials):
        x = rng.standard_normal((1, nfft * 16 * rows)) + 1j * rng.standard_normal(
            (1, nfft * 16 * rows)
        )
        s = spectrogram(IqBlock(x.astype(np.complex64), 1e6, 0.0), nfft=nfft)
        k = s.averages * rows
        psd = s.psd()
        floor = noise_floor(psd, k)
        fa += int(np.sum(psd > floor * threshold_factor(k, pfa)))
    # expected 20·1024·1e-3 ≈ 20 (Hann 50 % overlap slightly reduces the dof, raising it a
    # little); 4× expected is > 10 σ of a Poisson(20) above the mean
    assert fa < 4 * trials * nfft * pfa
    assert detect(IqBlock(x.astype(np.complex64), 1e6, 0.0)) == []


def test_detect_streams_a_recording(tmp_path):
    from unseen.sources import write_sigmf

    blk = _scene(1)
    meta = write_sigmf(tmp_path / "scene", blk.samples, FS, 100e6, datatype="ci16_le")
    from unseen.sources import open_recording

    dets = detect(open_recording(meta))
    assert len(dets) == 4
    assert _near(dets, 100.3e6).start_s == pytest.approx(0.2, abs=16 * 1024 / FS)


def _det(f, bw):
    return Detection(f, bw, 20.0, -40.0, 0.0, 1.0, "fm")


def test_registry_match(tmp_path):
    csv = tmp_path / "reg.csv"
    csv.write_text(
        "# licences\nname,freq_hz,bandwidth_hz,lat,lon,erp_w\n"
        "Radio A,93500000,200000,48.58,-2.06,5000\n"
        "Harbour,156800000,25000,,,\n"
    )
    reg = load_registry(csv)
    assert reg[0] == Assignment("Radio A", 93.5e6, 2e5, 48.58, -2.06, 5000.0)
    dets = [_det(93.5e6, 150e3), _det(93.62e6, 50e3), _det(156.8e6, 16e3), _det(94.2e6, 150e3)]
    out = match(dets, reg)
    assert [(d.licensed, d.assignment) for d in out] == [
        (True, "Radio A"),
        (False, None),
        (True, "Harbour"),
        (False, None),
    ]
    # on Radio A's frequency but located 30 km from its licensed site: not that licence
    far = match(dets[:1], reg, locations={0: (48.85, -2.06)})
    assert far[0].licensed is False
    near = match(dets[:1], reg, locations={0: (48.581, -2.061)})
    assert near[0].assignment == "Radio A"


def test_registry_accepts_excel_bom(tmp_path):
    p = tmp_path / "reg.csv"
    p.write_bytes("\ufeffname,freq_hz,bandwidth_hz\nA,1e6,5\n".encode())
    assert load_registry(p)[0].freq_hz == 1e6


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("freq_hz,bandwidth_hz\n1,2\n", "lacks column"),
        ("name,freq_hz,bandwidth_hz\nA,abc,2\n", r"reg\.csv:2: freq_hz: expected a finite num"),
        ("name,freq_hz,freq_hz,bandwidth_hz\nA,1,2,3\n", r"reg\.csv:1: column 'freq_hz' appears"),
        ("name,freq_hz,bandwidth_hz\nA,1e6,5,9\n", r"reg\.csv:2: 4 cells but the header has 3"),
        ("name,freq_hz,bandwidth_hz\n" + "A" * 70_000 + ",1e6,5\n", "over the 65536-character"),
        ("name,freq_hz,bandwidth_hz\nA,1e6,-5\n", "bandwidth_hz"),
        ("name,freq_hz,bandwidth_hz,lat,lon\nA,1e6,5,48,\n", "both lat and lon"),
        ("name,freq_hz,bandwidth_hz,lat,lon\nA,1e6,5,95,1\n", "lat"),
    ],
)
def test_registry_errors(tmp_path, text, msg):
    p = tmp_path / "reg.csv"
    p.write_text(text)
    with pytest.raises(ConfigError, match=msg):
        load_registry(p)
