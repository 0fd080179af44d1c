"""Sources: SigMF / raw / WAV / KiwiSDR read back what was written, with sample-exact timing."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.io.wavfile

from unseen.errors import FileFormatError, InputError
from unseen.sources import open_recording, parse_datatype, write_sigmf
from unseen.sources.wav import gnss2utc_ns
from unseen.types import Site

T0 = 1_597_301_540_123_456_789  # 2020-08-13T06:52:20.123456789Z


def _iq(channels: int, n: int, seed: int = 0, amp: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((channels, n)) + 1j * rng.standard_normal((channels, n))
    return np.clip(x * amp / 4, -0.99, 0.99).astype(np.complex64)


@pytest.mark.parametrize(
    ("datatype", "step"),
    [
        ("cf32_le", 0.0),
        ("cf64_le", 0.0),
        ("ci16_le", 2**-15),
        ("ci8", 2**-7),
        ("cu8", 2**-7),
        ("ci32_le", 2**-31),
        ("cf32_be", 0.0),
    ],
)
def test_sigmf_roundtrip_datatypes(tmp_path, datatype, step):
    x = _iq(3, 5000)
    site = Site("attic", 48.6493, -2.0257, 12.0)
    meta = write_sigmf(
        tmp_path / "rec",
        x,
        2.4e6,
        94.2e6,
        datatype=datatype,
        utc_ns=T0,
        site=site,
        extensions={"unseen:array": {"kind": "uca", "n": 3}},
        annotations=[{"core:sample_start": 10, "core:sample_count": 90, "core:label": "burst"}],
    )
    rec = open_recording(meta)
    assert (rec.num_channels, rec.num_samples, rec.sample_rate_hz) == (3, 5000, 2.4e6)
    assert rec.center_freq_hz == 94.2e6 and rec.utc_ns == T0 and rec.site == site
    assert rec.extensions["unseen:array"] == {"kind": "uca", "n": 3}
    assert rec.annotations[0]["core:label"] == "burst"
    blk = rec.read()
    assert blk.samples.dtype == np.complex64 and blk.samples.shape == (3, 5000)
    # rounding to the nearest code: error at most half a step per component
    assert np.max(np.abs(blk.samples.real - x.real)) <= step / 2 + 1e-7
    assert np.max(np.abs(blk.samples.imag - x.imag)) <= step / 2 + 1e-7


def test_frames_are_sample_accurate(tmp_path):
    x = _iq(2, 10_000)
    rate = 1e6 / 3  # a rate whose period is not a whole number of ns
    meta = write_sigmf(tmp_path / "r", x, rate, 1e6, utc_ns=T0)
    rec = open_recording(meta)
    frames = list(rec.frames(1024, hop=512))
    assert len(frames) == (10_000 - 1024) // 512 + 1
    for k, f in enumerate(frames):
        assert np.array_equal(f.samples, x[:, k * 512 : k * 512 + 1024])
        assert f.start_s == pytest.approx(k * 512 / rate, abs=1e-12)
        assert f.utc_ns == T0 + round(k * 512 * 1e9 / rate)


def test_captures_with_datetime_and_frequency(tmp_path):
    x = _iq(1, 4000)
    caps = [
        {"core:sample_start": 0, "core:frequency": 100e6, "core:datetime": "2020-08-13T06:52:20Z"},
        {
            "core:sample_start": 2000,
            "core:frequency": 101e6,
            "core:datetime": "2020-08-13T06:53:00.5Z",
        },
    ]
    rec = open_recording(write_sigmf(tmp_path / "c", x, 1000.0, 0.0, captures=caps))
    a, b = rec.read(100, 10), rec.read(2100, 10)
    assert a.center_freq_hz == 100e6 and b.center_freq_hz == 101e6
    assert a.utc_ns == 1_597_301_540_000_000_000 + 100_000_000
    assert b.utc_ns == 1_597_301_580_500_000_000 + 100_000_000


def test_archive_and_one_file_per_channel(tmp_path):
    x = _iq(4, 3000)
    arch = write_sigmf(tmp_path / "a", x, 1e6, 1e8, archive=True, utc_ns=T0)
    assert arch.suffix == ".sigmf" and not (tmp_path / "a.sigmf-data").exists()
    rec = open_recording(arch)
    assert np.array_equal(rec.read(100, 50).samples, x[:, 100:150]) and rec.utc_ns == T0
    coll = write_sigmf(tmp_path / "s", x, 1e6, 1e8, split_channels=True, utc_ns=T0)
    rec = open_recording(coll)
    assert rec.num_channels == 4 and np.array_equal(rec.read().samples, x)
    metas = [tmp_path / f"s-ch{i}.sigmf-meta" for i in range(4)]
    assert np.array_equal(open_recording(metas).read().samples, x)


def test_multichannel_matches_sigmf_library(tmp_path):
    import sigmf

    x = _iq(3, 2000)
    meta = write_sigmf(tmp_path / "m", x, 1e6, 1e8, datatype="ci16_le")
    ref = sigmf.fromfile(str(meta)).read_samples()  # (n, channels), scaled by the library
    assert np.allclose(open_recording(meta).read().samples, ref.T, atol=1e-6)


def test_raw_rtl_sdr_cu8(tmp_path):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, size=2 * 4096, dtype=np.uint8)
    path = tmp_path / "cap.cu8"
    codes.tofile(path)
    rec = open_recording(path, sample_rate_hz=2.4e6, center_freq_hz=433.92e6)
    want = (codes[0::2] - 128.0) / 128 + 1j * (codes[1::2] - 128.0) / 128
    assert np.allclose(rec.read().samples[0], want)
    assert rec.center_freq_hz == 433.92e6 and rec.station == "cap"
    two = open_recording(path, sample_rate_hz=1e6, num_channels=2, datatype="cu8")
    assert two.num_channels == 2 and np.allclose(two.read().samples[1], want[1::2])


@pytest.mark.parametrize(
    ("ext", "dtype"), [(".cf32", np.float32), (".cs16", np.int16), (".cs8", np.int8)]
)
def test_raw_extensions(tmp_path, ext, dtype):
    scale = 1.0 if dtype is np.float32 else float(np.iinfo(dtype).max + 1)
    comp = (np.arange(200) % 50 - 25).astype(dtype)
    path = tmp_path / f"x{ext}"
    comp.tofile(path)
    rec = open_recording(path, sample_rate_hz=1e3)
    assert np.allclose(rec.read().samples[0], (comp[0::2] + 1j * comp[1::2]) / scale)


def test_wav_stereo_iq(tmp_path):
    x = _iq(1, 3000)[0]
    pcm = np.stack([np.round(x.real * 32768), np.round(x.imag * 32768)], axis=1).astype(np.int16)
    path = tmp_path / "SDRSharp_20200813_065220Z_7000000Hz_IQ.wav"
    scipy.io.wavfile.write(path, 48000, pcm)
    rec = open_recording(path)
    assert rec.sample_rate_hz == 48000 and rec.center_freq_hz == 7e6
    assert rec.utc_ns == 1_597_301_540 * 10**9
    assert (
        np.max(np.abs(rec.read().samples[0] - x)) <= 2**-16 * np.sqrt(2) + 1e-7
    )  # ½ LSB on I and Q
    fl = tmp_path / "gqrx.wav"
    scipy.io.wavfile.write(fl, 96000, np.stack([x.real, x.imag], axis=1).astype(np.float32))
    assert np.array_equal(open_recording(fl, center_freq_hz=1e6).read().samples[0], x)


def _kiwi_wav(path, n_blocks=40, rate=12001.1, stale=(0, 1), missing=(), seed=0, t0_ns=None):
    """A KiwiSDR-style WAV: fmt, then (kiwi, data) chunk pairs of 512 IQ samples each."""
    rng = np.random.default_rng(seed)
    data = (rng.integers(-3000, 3000, size=(n_blocks, 512, 2))).astype("<i2")
    t0_ns = gnss_t0 = 370358 * 10**9 + 269_435_262 if t0_ns is None else t0_ns
    body = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 12001, 48004, 4, 16)
    stamps = []
    for b in range(n_blocks):
        t = gnss_t0 + round(b * 512 * 1e9 / rate)
        sow, ns = divmod(t, 10**9)
        if b in stale:
            sow, ns = (0, 0) if b == 0 else (358742, 520645442)
        if b not in missing:
            body += b"kiwi" + struct.pack("<IBBII", 10, 0, 0, sow, ns)
        stamps.append(t)
        blk = data[b].tobytes()
        body += b"data" + struct.pack("<I", len(blk)) + blk
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    return data, np.array(stamps)


def test_kiwisdr_gnss_time_axis(tmp_path):
    path = tmp_path / "20200813T065220Z_77500_TEST1_iq.wav"
    data, stamps = _kiwi_wav(path, rate=12001.1)
    with pytest.warns(UserWarning, match="stale"):
        rec = open_recording(path)
    assert rec.station == "TEST1" and rec.center_freq_hz == 77500.0
    assert rec.sample_rate_hz == pytest.approx(12001.1, abs=1e-3)
    assert rec.num_samples == 38 * 512  # the two stale leading blocks are dropped
    want0 = gnss2utc_ns(
        np.array([stamps[2] // 10**9]), np.array([stamps[2] % 10**9]), 1_597_301_540 * 10**9
    )[0]
    assert rec.utc_ns == want0 and want0 // 10**9 == 1_597_301_540  # GNSS − 18 s = file name
    t = rec.times_ns(0, rec.num_samples)
    k = np.arange(rec.num_samples)
    assert np.max(np.abs((t - want0) - k * 1e9 / 12001.1)) < 2  # ns
    blk = rec.read(512, 512)
    assert np.allclose(blk.samples[0], (data[3, :, 0] + 1j * data[3, :, 1]) / 32768)


def test_kiwisdr_missing_stamps_interpolated(tmp_path):
    path = tmp_path / "20200813T065220Z_77500_TEST2_iq.wav"
    _, stamps = _kiwi_wav(path, stale=(), missing=(5, 6, 20))
    with pytest.warns(UserWarning, match="3 unstamped"):
        rec = open_recording(path)
    assert rec.num_samples == 40 * 512
    assert abs(int(rec.times_ns(5 * 512, 1)[0]) - (rec.utc_ns + (stamps[5] - stamps[0]))) < 2


def test_kiwisdr_all_stale_is_an_error(tmp_path):
    path = tmp_path / "20200813T065220Z_77500_TEST3_iq.wav"
    _kiwi_wav(path, n_blocks=3, stale=(0, 1), missing=(2,))
    with pytest.raises(FileFormatError, match="kiwi chunks"):
        open_recording(path)


def test_real_kiwisdr_files_rate_from_stamps():
    import pathlib

    folder = pathlib.Path("../shared/data/kiwisdr-dcf77-2020-08-13")
    if not folder.exists():
        pytest.skip(f"{folder} absent (real KiwiSDR DCF77 recordings)")
    for path in sorted(folder.glob("*.wav")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = open_recording(path)
        assert 12000.9 < rec.sample_rate_hz < 12001.2
        assert 1_597_301_540 * 10**9 <= rec.utc_ns < 1_597_301_541 * 10**9


# ---- bad input ------------------------------------------------------------------------------


def test_truncated_data_file(tmp_path):
    meta = write_sigmf(tmp_path / "t", _iq(2, 100), 1e6, 1e8)
    data = tmp_path / "t.sigmf-data"
    data.write_bytes(data.read_bytes()[:-3])
    with pytest.raises(FileFormatError, match=r"t\.sigmf-meta.*(truncated|whole number)"):
        open_recording(meta)


def test_metadata_data_length_mismatch(tmp_path):
    meta = write_sigmf(
        tmp_path / "m",
        _iq(1, 100),
        1e6,
        1e8,
        annotations=[{"core:sample_start": 50, "core:sample_count": 20}],
    )
    (tmp_path / "m.sigmf-data").write_bytes((tmp_path / "m.sigmf-data").read_bytes()[: 8 * 60])
    with pytest.raises(FileFormatError, match=r"annotations\[0\].*mismatch"):
        open_recording(meta)


def _edit_meta(meta, fn):
    doc = json.loads(meta.read_text())
    fn(doc)
    meta.write_text(json.dumps(doc))


def test_unknown_datatype(tmp_path):
    meta = write_sigmf(tmp_path / "u", _iq(1, 10), 1e6, 1e8)
    _edit_meta(meta, lambda d: d["global"].__setitem__("core:datatype", "cq12_le"))
    with pytest.raises(FileFormatError, match=r"u\.sigmf-meta.*cq12_le"):
        open_recording(meta)
    with pytest.raises(FileFormatError, match="unknown datatype 'ci12'"):
        parse_datatype("ci12")
    with pytest.raises(InputError, match="datatype"):
        open_recording(tmp_path / "u.sigmf-data", fmt="raw", sample_rate_hz=1.0)


@pytest.mark.parametrize("key", ["core:datatype", "core:sample_rate"])
def test_missing_required_sigmf_fields(tmp_path, key):
    meta = write_sigmf(tmp_path / "f", _iq(1, 10), 1e6, 1e8)
    _edit_meta(meta, lambda d: d["global"].pop(key))
    with pytest.raises(FileFormatError, match=rf"f\.sigmf-meta.*{key}"):
        open_recording(meta)


def test_bad_geolocation(tmp_path):
    meta = write_sigmf(tmp_path / "g", _iq(1, 10), 1e6, 1e8)
    _edit_meta(
        meta,
        lambda d: d["global"].__setitem__(
            "core:geolocation", {"type": "Point", "coordinates": [1]}
        ),
    )
    with pytest.raises(FileFormatError, match="geolocation"):
        open_recording(meta)


def test_wav_without_iq_channels(tmp_path):
    path = tmp_path / "mono.wav"
    scipy.io.wavfile.write(path, 8000, np.zeros(100, np.int16))
    with pytest.raises(FileFormatError, match=r"mono\.wav.*channels=1"):
        open_recording(path)
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    with pytest.raises(FileFormatError, match="RIFF"):
        open_recording(tmp_path / "junk.wav")


def test_raw_needs_rate_and_whole_samples(tmp_path):
    path = tmp_path / "x.cs16"
    np.zeros(7, np.int16).tofile(path)
    with pytest.raises(InputError, match="sample rate"):
        open_recording(path)
    with pytest.raises(FileFormatError, match="truncated"):
        open_recording(path, sample_rate_hz=1e6)


def test_streaming_memory_is_bounded(tmp_path):
    """Reading a 256 MB file frame by frame raises peak RSS by far less than the file size."""
    path = tmp_path / "big.cf32"
    n = 32 * 2**20
    with path.open("wb") as fh:
        chunk = np.ones(2 * 2**20, np.float32)
        for _ in range(n // 2**20):
            chunk.tofile(fh)
    code = (
        "import resource, sys\n"
        "from unseen.sources import open_recording\n"
        "rec = open_recording(sys.argv[1], sample_rate_hz=1e6)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "total = 0.0\n"
        "for b in rec.frames(1 << 16):\n"
        "    total += float(b.samples.real.sum())\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(total, (after - before) / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert float(out[0]) == n
    assert float(out[1]) < 40  # MB: 256 MB streamed, one 0.5 MB frame resident at a time


def test_soapy_missing_is_a_clear_error():
    import importlib.util

    from unseen.sources.soapy import SoapySource

    if importlib.util.find_spec("SoapySDR") is not None:
        pytest.skip("SoapySDR bindings are installed here")
    with pytest.raises(InputError, match="SoapySDR Python bindings"):
        SoapySource("driver=rtlsdr", 2.4e6, 100e6)


def strip_kiwi(src, dst):
    """A copy of a WAV with every `kiwi` chunk removed (RIFF size fixed)."""
    raw = src.read_bytes()
    out, pos = bytearray(raw[:12]), 12
    while pos + 8 <= len(raw):
        cid, size = struct.unpack("<4sI", raw[pos : pos + 8])
        end = pos + 8 + size + (size & 1)
        if cid != b"kiwi":
            out += raw[pos:end]
        pos = end
    out[4:8] = struct.pack("<I", len(out) - 8)
    dst.write_bytes(bytes(out))
    return dst


def test_kiwisdr_without_kiwi_chunks_warns_time_from_file_name(tmp_path):
    import pathlib

    folder = pathlib.Path("../shared/data/kiwisdr-dcf77-2020-08-13")
    if not folder.exists():
        pytest.skip(f"{folder} absent (real KiwiSDR DCF77 recordings)")
    src = sorted(folder.glob("*.wav"))[0]
    dst = strip_kiwi(src, tmp_path / src.name)
    assert b"kiwi" in src.read_bytes() and b"kiwi" not in dst.read_bytes()
    with pytest.warns(UserWarning, match="no kiwi GNSS timestamps.*file name, 1 s resolution") as w:
        rec = open_recording(dst)
    assert any(str(dst) in str(x.message) for x in w)
    assert rec.extensions["unseen:time_source"] == "file name"
    assert rec.utc_ns == 1_597_301_540 * 10**9
