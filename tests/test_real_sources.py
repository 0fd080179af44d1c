"""Real recordings made by other people's tools, read through the public commands and checked
against truth computed here independently (each data folder's README says what is known).

Sources: sigmf/SigMF `logo/` (CC-BY-SA-4.0); merbanan/rtl_433 tests (GPL-2.0);
jmfriedt/kiwisdr_timetransfer (AGPL-3.0); hcab14/TDoA `iq/` (GPL-3.0).
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from unseen.cli import main
from unseen.sources import open_recording, read_sigmf

DATA = Path(__file__).resolve().parents[1] / "../shared/data"


def _need(folder: str) -> Path:
    p = DATA / folder
    if not p.exists():
        pytest.skip(f"{p} absent (real recordings)")
    return p


def test_sigmf_logo_ri16_two_channels_checksum_and_annotations():
    d = _need("sigmf-logo")
    meta_doc = json.loads((d / "sigmf_logo.sigmf-meta").read_text())
    raw = (d / "sigmf_logo.sigmf-data").read_bytes()
    rec = read_sigmf(d / "sigmf_logo.sigmf-meta", checksum=True)
    assert hashlib.sha512(raw).hexdigest() == meta_doc["global"]["core:sha512"]
    assert (rec.datatype, rec.num_channels, rec.sample_rate_hz) == ("ri16_le", 2, 48000.0)
    assert rec.num_samples == len(raw) // 4 == 288_000
    want = np.frombuffer(raw, "<i2").reshape(-1, 2).T / 32768.0
    got = rec.read(100_000, 5000).samples
    np.testing.assert_array_equal(got.imag, 0)
    np.testing.assert_allclose(got.real, want[:, 100_000:105_000], atol=0)
    spans = sorted(
        (a["core:sample_start"], a["core:sample_start"] + a["core:sample_count"])
        for a in rec.annotations
    )
    assert len(spans) == 3 and spans[0][0] == 6000 and spans[-1][1] == 282_000


def test_rtl433_cu8_opens_with_rate_from_the_command_line(capsys):
    d = _need("rtl433-433mhz")
    path = d / "first_g001_433.92M_250k.cu8"
    codes = np.frombuffer(path.read_bytes(), np.uint8).astype(np.float64)
    want = ((codes[0::2] - 128) + 1j * (codes[1::2] - 128)) / 128
    rec = open_recording(path, sample_rate_hz=250e3, center_freq_hz=433.92e6)
    assert rec.num_samples == path.stat().st_size // 2
    np.testing.assert_allclose(rec.read(0, 4096).samples[0], want[:4096], atol=1e-7)
    assert main(["detect", str(path), "--json"]) == 2
    assert f"{path}" in capsys.readouterr().err
    rc = main(
        ["detect", str(path), "--json", "--sample-rate-hz", "250e3", "--center-freq-hz", "433.92e6"]
    )
    rows = [json.loads(r) for r in capsys.readouterr().out.splitlines()]
    assert rc == 0 and rows
    # the carrier seen in a long-FFT power spectrum (independent of detect) is among the rows
    spec = np.abs(np.fft.fftshift(np.fft.fft(want - want.mean()))) ** 2
    f = np.fft.fftshift(np.fft.fftfreq(len(want), 1 / 250e3)) + 433.92e6
    peak = f[np.argmax(spec)]
    assert any(abs(r["freq_hz"] - peak) <= r["bandwidth_hz"] / 2 + 2e3 for r in rows)


def _kiwi_chunks(path: Path) -> list[tuple[int, int, int]]:
    """(last-fix byte, GNSS seconds of week, ns) of every `kiwi` chunk, parsed here."""
    raw = path.read_bytes()
    out, pos = [], 12
    while pos + 8 <= len(raw):
        cid, size = struct.unpack("<4sI", raw[pos : pos + 8])
        if cid == b"kiwi":
            out.append((raw[pos + 8], *struct.unpack("<II", raw[pos + 10 : pos + 18])))
        pos += 8 + size + (size & 1)
    return out


@pytest.mark.parametrize(
    "name", ["20251207T170403Z_100000_G4FUI_iq.wav", "20250825T063002Z_100000_QTR_iq.wav"]
)
def test_eloran_gnss_state_byte_and_time(name):
    """Both receivers had a GNSS solution (last-fix byte < 255 in every block): read as GNSS
    time, no 'not GNSS time' warning, and the stamped start within 20 s after the file name
    (GNSS − 18 s = UTC; the name is when the recording was requested)."""
    path = _need("kiwisdr-eloran") / name
    chunks = _kiwi_chunks(path)
    assert max(c[0] for c in chunks) < 255
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = open_recording(path)
    assert not any("not GNSS time" in str(w.message) for w in caught)
    assert rec.timestamps is not None and rec.center_freq_hz == 100e3
    named = datetime.strptime(name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    assert 0 <= rec.utc_ns_at(0) / 1e9 - named < 20
    # the fitted rate is the stamps' own: seconds between the last and a late-first stamp
    good = [c for c in chunks if c[1] > 0]
    span_s = (good[-1][1] - good[1][1]) + (good[-1][2] - good[1][2]) / 1e9
    assert rec.sample_rate_hz == pytest.approx((len(good) - 2) * 512 / span_s, rel=2e-4)
