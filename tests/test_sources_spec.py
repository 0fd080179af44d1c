"""Readers follow the SigMF spec: per-capture header_bytes, trailing_bytes, optional sample rate,
metadata-only recordings, capture datetimes across gaps; KiwiSDR blocks with no GNSS solution."""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from unseen.cli import main
from unseen.errors import FileFormatError, InputError
from unseen.sources import open_recording, write_sigmf

DCF77 = Path(__file__).resolve().parents[1] / "../shared/data/kiwisdr-dcf77-2020-08-13"


def _ncd(tmp_path, headers, starts, n, trailing=0, rate=2.4e6):
    """A cu8 non-conforming dataset as the SigMF spec's example: each capture's samples behind
    `headers[i]` bytes of junk (0xEE), `trailing` junk bytes at the end. Returns (meta, samples
    as the cu8 codes (n, 2))."""
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (n, 2), dtype=np.uint8)
    bounds = [*starts, n]
    blob = bytearray()
    for i, h in enumerate(headers):
        blob += b"\xee" * h + codes[bounds[i] : bounds[i + 1]].tobytes()
    blob += b"\xee" * trailing
    (tmp_path / "ncd.dat").write_bytes(bytes(blob))
    glob = {"core:datatype": "cu8", "core:version": "1.2.0", "core:dataset": "ncd.dat"}
    if rate is not None:
        glob["core:sample_rate"] = rate
    if trailing:
        glob["core:trailing_bytes"] = trailing
    caps = [
        {"core:sample_start": s, "core:header_bytes": h}
        for s, h in zip(starts, headers, strict=True)
    ]
    meta = tmp_path / "ncd.sigmf-meta"
    meta.write_text(json.dumps({"global": glob, "captures": caps, "annotations": []}))
    return meta, codes


def test_header_bytes_per_capture_are_skipped_as_the_spec_example(tmp_path):
    """The spec's example: two cu8 captures with 4-byte headers; 500 samples, then the rest."""
    meta, codes = _ncd(tmp_path, [4, 4], [0, 500], 1200, trailing=6)
    rec = open_recording(meta)
    assert rec.num_samples == 1200
    x = rec.read().samples[0]
    want = (codes[:, 0].astype(np.float32) - 128) + 1j * (codes[:, 1].astype(np.float32) - 128)
    np.testing.assert_array_equal(x, (want / 128).astype(np.complex64))
    # a read straddling the second header is still contiguous samples
    np.testing.assert_array_equal(rec.read(490, 20).samples[0], x[490:510])


def test_header_larger_than_file_names_the_field(tmp_path):
    meta, _ = _ncd(tmp_path, [10_000], [0], 100)
    doc = json.loads(meta.read_text())
    doc["captures"][0]["core:header_bytes"] = 10**6
    meta.write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match=r"ncd\.sigmf-meta.*core:header_bytes"):
        open_recording(meta)


@pytest.mark.parametrize("bad", ["x", -4, 1.5, True, None])
def test_header_bytes_of_the_wrong_type(tmp_path, bad):
    meta, _ = _ncd(tmp_path, [4], [0], 100)
    doc = json.loads(meta.read_text())
    doc["captures"][0]["core:header_bytes"] = bad
    meta.write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match=r"captures(\[0\]\.|/0/)core:header_bytes"):
        open_recording(meta)


def test_sample_rate_is_optional_and_can_be_supplied(tmp_path):
    meta, _ = _ncd(tmp_path, [0], [0], 100, rate=None)
    with pytest.raises(FileFormatError, match=r"core:sample_rate is absent.*--sample-rate-hz"):
        open_recording(meta)
    rec = open_recording(meta, sample_rate_hz=250e3, center_freq_hz=433.92e6)
    assert (rec.sample_rate_hz, rec.center_freq_hz, rec.num_samples) == (250e3, 433.92e6, 100)
    assert main(["detect", str(meta), "--json"]) == 2  # the CLI supply: test_real_sources


def test_metadata_only_is_explained(tmp_path):
    meta = tmp_path / "m.sigmf-meta"
    meta.write_text(
        json.dumps(
            {
                "global": {
                    "core:datatype": "cf32_le",
                    "core:version": "1.2.0",
                    "core:sample_rate": 1e6,
                    "core:metadata_only": True,
                },
                "captures": [{"core:sample_start": 0}],
                "annotations": [],
            }
        )
    )
    with pytest.raises(FileFormatError, match="metadata-only recording"):
        open_recording(meta)


def test_capture_datetimes_give_recording_time_across_gaps(tmp_path):
    """Two captures of 1000 samples at 1 kS/s, the second 10 s after the first began (a 9 s
    gap): block times are 10 s, not the 1 s of joined samples."""
    t0 = 1_700_000_000 * 10**9
    x = np.ones((1, 2000), np.complex64)
    caps = [
        {"core:sample_start": 0, "core:datetime": "2023-11-14T22:13:20Z"},
        {"core:sample_start": 1000, "core:datetime": "2023-11-14T22:13:30.5Z"},
    ]
    meta = write_sigmf(tmp_path / "gap", x, 1e3, 1e8, captures=caps)
    rec = open_recording(meta)
    b = rec.read(1200, 10)
    assert b.start_s == pytest.approx(10.7, abs=1e-9)
    assert b.utc_ns == t0 + 10_700_000_000
    assert rec.read(999, 1).start_s == pytest.approx(0.999)
    t = rec.times_ns(998, 4)
    assert list(np.diff(t)) == [1_000_000, 9_501_000_000, 1_000_000]
    assert [f.start_s for f in rec.frames(500)] == pytest.approx([0.0, 0.5, 10.5, 11.0])


def test_bad_datetime_and_dataset_name_the_field(tmp_path):
    meta = write_sigmf(tmp_path / "d", np.ones((1, 10), np.complex64), 1e3, 1e8, utc_ns=10**18)
    doc = json.loads(meta.read_text())
    doc["captures"][0]["core:datetime"] = "2020-13-01T00:00:00Z"
    meta.write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match=r"captures\[0\]\.core:datetime.*2020-13-01"):
        open_recording(meta)
    doc["captures"][0].pop("core:datetime")
    doc["global"]["core:dataset"] = "../etc/passwd"
    meta.write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match=r"core:dataset='\.\./etc/passwd'"):
        open_recording(meta)


def test_sigmf_logo_checksum_detects_a_changed_byte(tmp_path):
    src = Path(__file__).resolve().parents[1] / "../shared/data/sigmf-logo"
    if not src.exists():
        pytest.skip(f"{src} absent")
    for name in ("sigmf_logo.sigmf-meta", "sigmf_logo.sigmf-data"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    from unseen.sources import read_sigmf

    read_sigmf(tmp_path / "sigmf_logo.sigmf-meta", checksum=True)
    data = bytearray((tmp_path / "sigmf_logo.sigmf-data").read_bytes())
    data[1000] ^= 1
    (tmp_path / "sigmf_logo.sigmf-data").write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="core:sha512 does not match"):
        read_sigmf(tmp_path / "sigmf_logo.sigmf-meta", checksum=True)


def no_fix(src: Path, dst: Path, every: int = 1) -> Path:
    """A copy of a KiwiSDR WAV whose `kiwi` chunks (every `every`-th) say "no GNSS solution"
    (last-fix byte 255)."""
    raw = bytearray(src.read_bytes())
    pos, k = 12, 0
    while pos + 8 <= len(raw):
        cid, size = struct.unpack("<4sI", raw[pos : pos + 8])
        if cid == b"kiwi":
            if k % every == 0:
                raw[pos + 8] = 255
            k += 1
        pos += 8 + size + (size & 1)
    dst.write_bytes(bytes(raw))
    return dst


def test_kiwisdr_without_gnss_solution_warns_once_and_tdoa_refuses(tmp_path, capsys):
    if not DCF77.exists():
        pytest.skip(f"{DCF77} absent")
    wavs = sorted(DCF77.glob("*.wav"))
    bad = no_fix(wavs[1], tmp_path / wavs[1].name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = open_recording(bad)
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1 and str(bad) in msgs[0] and "not GNSS time" in msgs[0]
    assert rec.timestamps is None and rec.extensions["unseen:synchronised"] is False
    stations = tmp_path / "st.csv"
    stations.write_text("station,lat,lon\nHB9ODP,46.499351,8.798828\nJO51xl,51.466044,11.977189\n")
    rc = main(["tdoa", str(wavs[0]), str(bad), "--stations", str(stations), "--json"])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and "no GNSS solution" in err
    # a few blocks without a fix: their stamps are dropped, the rest still give GNSS time
    (tmp_path / "part").mkdir()
    part = no_fix(wavs[1], tmp_path / "part" / wavs[1].name, 7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec2 = open_recording(part, center_freq_hz=77500)
    assert rec2.timestamps is not None
    assert any("no GNSS solution" in str(w.message) for w in caught)


def test_tdoa_allow_unsynchronised_runs_with_a_warning(tmp_path, capsys):
    if not DCF77.exists():
        pytest.skip(f"{DCF77} absent")
    wavs = sorted(DCF77.glob("*.wav"))
    bad = no_fix(wavs[1], tmp_path / wavs[1].name)
    stations = tmp_path / "st.csv"
    stations.write_text("station,lat,lon\nHB9ODP,46.499351,8.798828\nJO51xl,51.466044,11.977189\n")
    argv = ["tdoa", str(wavs[0]), str(bad), "--stations", str(stations), "--json"]
    rc = main([*argv, "--allow-unsynchronised", "--check-method", "none", "--max-duration-s", "5"])
    out = capsys.readouterr()
    assert rc == 0 and "without synchronised time" in out.err and len(out.out.splitlines()) == 1


def test_rate_out_of_range_is_refused(tmp_path):
    meta, _ = _ncd(tmp_path, [0], [0], 100, rate=5e-324)
    with pytest.raises(FileFormatError, match=r"core:sample_rate=5e-324"):
        open_recording(meta)
    with pytest.raises(InputError, match=r"ncd\.sigmf-meta: sample_rate_hz=nan"):
        open_recording(meta, sample_rate_hz=float("nan"))
