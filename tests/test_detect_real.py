"""Detection on real recordings made by other people's receivers (../shared/data; sources and
licences in each folder's README). Truth comes from the independent checks the READMEs
describe, computed here with numpy, never from unseen's own output."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from unseen.cli import main
from unseen.detect import detect
from unseen.sources import open_recording

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="real data not present")


def _open(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_recording(path, **kw)


def test_dcf77_carrier_within_1hz():
    # hcab14/TDoA (GPL-3.0): DCF77 is exactly 77,500 Hz; the independent check is the long-FFT
    # peak (numpy, Hann, all samples) of each KiwiSDR's recording
    for f in sorted((DATA / "kiwisdr-dcf77-2020-08-13").glob("*.wav")):
        rec = _open(f)
        x = rec.read().samples[0].astype(np.complex128)
        nfft = 1 << 22
        p = np.abs(np.fft.fft(x * np.hanning(len(x)), nfft)) ** 2
        peak = rec.center_freq_hz + np.fft.fftfreq(nfft, 1 / rec.sample_rate_hz)[np.argmax(p)]
        assert peak == pytest.approx(77_500, abs=0.5)  # the baseline agrees with the physics
        dets = detect(rec)
        d = max(dets, key=lambda d: d.power_dbfs)
        assert d.freq_hz == pytest.approx(77_500, abs=1.0)
        assert d.freq_hz == pytest.approx(peak, abs=1.0)
        assert d.repetition_s is None  # AM keying is modulation, not pulses
        assert d.start_utc_ns is not None  # GNSS-stamped: absolute time


@pytest.mark.parametrize(
    ("name", "gri_s"),
    [
        ("20251207T170403Z_100000_G4FUI_iq.wav", 0.06731),
        ("20250825T063002Z_100000_QTR_iq.wav", 0.08830),
    ],
)
def test_eloran_found_by_its_repetition(name, gri_s):
    # jmfriedt/kiwisdr_timetransfer (AGPL-3.0). The pulse groups repeat every GRI (the phase
    # code alternates, so the complex signal repeats every 2·GRI; the envelope every GRI).
    # Independent check: fold the power envelope on the GRI with numpy; the folded peak stands
    # far above the fold's median, and above the fold on a period 1.37 % off.
    rec = _open(DATA / "kiwisdr-eloran" / name)
    x = rec.read().samples[0].astype(np.complex128)
    p = np.abs(x) ** 2
    fs = rec.sample_rate_hz

    def contrast(period):
        nb = round(period * fs)
        ph = np.round(np.arange(len(p)) * nb / (period * fs)).astype(int) % nb
        prof = np.bincount(ph, p, nb) / np.bincount(ph, minlength=nb)
        return prof.max() / np.median(prof)

    assert contrast(gri_s) > 3 * contrast(gri_s * 1.0137)
    dets = detect(rec)
    pulsed = [d for d in dets if d.repetition_s is not None]
    assert len(pulsed) == 1, dets
    d = pulsed[0]
    # the period is measured to far better than a sample (83 µs) over ~150 repetitions
    assert d.repetition_s == pytest.approx(gri_s, abs=20e-6)
    assert d.modulation == "pulsed"
    assert d.bandwidth_hz > 0.5 * fs  # the pulses fill the band
    assert d.start_utc_ns is not None


def _envelope_packets(x, fs, window=256, factor=10, gap_s=5e-3):
    """Independent check (README): the envelope |x|² in 256-sample windows, on where it exceeds
    10× the median window (the noise: packets are a small fraction of the time); a packet is a
    run of on-windows with OOK/FSK gaps shorter than 5 ms."""
    w = np.abs(x[: len(x) // window * window].reshape(-1, window)) ** 2
    on = w.mean(axis=1) > factor * np.median(w.mean(axis=1))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
    out = []
    for a, b in zip(edges[::2] * window / fs, edges[1::2] * window / fs, strict=True):
        if out and a - out[-1][1] < gap_s:
            out[-1][1] = b
        else:
            out.append([a, b])
    return out


@pytest.mark.parametrize("n", [1, 2, 3])
def test_rtl433_packets_and_times(n):
    # merbanan/rtl_433 tests (GPL-2.0): OOK/FSK packets at 433.92 MHz, 250 kS/s, cu8
    path = DATA / "rtl433-433mhz" / f"first_g00{n}_433.92M_250k.cu8"
    rec = _open(path, sample_rate_hz=250e3, center_freq_hz=433.92e6, datatype="cu8")
    truth = _envelope_packets(rec.read().samples[0], rec.sample_rate_hz)
    assert truth, "the envelope check finds packets"
    dets = [d for d in detect(rec) if d.stop_s - d.start_s < 0.5]
    # every packet the envelope shows starts and stops a detection (±5 ms: two 256-sample
    # windows of the check and the detector's smoothing)
    for a, b in truth:
        near = [d for d in dets if abs(d.start_s - a) < 5e-3]
        assert near, (a, b, [(d.start_s, d.stop_s) for d in dets])
        assert max(d.stop_s for d in near) == pytest.approx(b, abs=5e-3)
    # OOK/FSK packets: the strongest detection of each packet is classed pulsed (on/off keyed
    # envelope), and none of the packets' detections reads as a steady or AM envelope
    for a, _ in truth:
        near = [d for d in dets if abs(d.start_s - a) < 5e-3]
        assert max(near, key=lambda d: d.snr_db).modulation == "pulsed"
    assert all(d.modulation in ("pulsed", "unknown") for d in dets)
    # and no detection lies outside the packets
    for d in dets:
        assert any(a - 5e-3 <= d.start_s and d.stop_s <= b + 5e-3 for a, b in truth), d


def test_sigmf_logo_activity(capsys):
    # sigmf/SigMF logo (CC-BY-SA-4.0): annotations cover samples 6,000–282,000 (0.125–5.875 s);
    # the independent check is the data itself: mean power per 1 ms, active where it exceeds
    # 10× the noise (the median 1 ms before the first annotation). After 5.875 s the power
    # decays ~0.5 dB/ms to a residue ~17 dB above the noise that lasts to ~5.99 s: energy the
    # detector must report, though the annotation stops before it.
    meta = DATA / "sigmf-logo" / "sigmf_logo.sigmf-meta"
    rec = _open(meta)
    x = rec.read().samples
    w = (np.abs(x) ** 2).mean(axis=0)[: 288000 // 48 * 48].reshape(-1, 48).mean(axis=1)
    act = np.flatnonzero(w > 10 * np.median(w[:100]))
    t0, t1 = act[0] * 1e-3, (act[-1] + 1) * 1e-3
    assert t0 == pytest.approx(0.125, abs=1e-3)
    assert t1 > 5.875
    rc = main(["detect", str(meta), "--json"])
    rows = [json.loads(r) for r in capsys.readouterr().out.splitlines()]
    assert rc == 0 and rows
    start = min(r["start_s"] for r in rows)
    stop = max(r["stop_s"] for r in rows)
    # edges at the energy detector's resolution: its 128-sample window (2.7 ms) beside the
    # check's 1 ms windows, 4 ms in all (the spectrogram's rows are 341 ms)
    assert start == pytest.approx(t0, abs=4e-3)
    assert stop == pytest.approx(t1, abs=4e-3)
    assert all(r["start_utc"].startswith("2021-06-18T23:17:5") for r in rows)
