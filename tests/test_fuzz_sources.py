"""Fuzzing the recording readers: every input is either read or refused with one line.

Property-based (hypothesis) and mutation fuzzing from valid seeds: SigMF metadata JSON (values
replaced, keys dropped, bytes flipped), `.sigmf` archives and collections, WAV / KiwiSDR chunk
headers (real KiwiSDR bytes mutated), raw files of any length. The property: `open_recording`
followed by a read of the first samples and their times either succeeds or raises an
`UnseenError` whose message is one line naming the file; never another exception, within
`TIME_S` seconds and `MEMORY_B` bytes of Python/numpy allocations (tracemalloc) per case.
`UNSEEN_FUZZ_EXAMPLES` scales the number of cases (default 200 per parser per run).
"""

from __future__ import annotations

import collections
import io
import itertools
import json
import os
import signal
import tarfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unseen.errors import UnseenError
from unseen.sources import open_recording, write_sigmf

EXAMPLES = int(os.environ.get("UNSEEN_FUZZ_EXAMPLES", "200"))
TIME_S = 5.0
MEMORY_B = 64 * 2**20
DCF77 = Path(__file__).resolve().parents[1] / "../shared/data/kiwisdr-dcf77-2020-08-13"
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory):
    """Import and build once (jsonschema validator, numpy paths) outside the budgets."""
    d = tmp_path_factory.mktemp("warm")
    (d / "r.sigmf-meta").write_text(json.dumps(_seed_doc()))
    (d / "r.sigmf-data").write_bytes(b"\0" * 412)
    for p in (
        d / "r.sigmf-meta",
        write_sigmf(d / "a", np.ones((1, 8), np.complex64), 1e3, 1e6, archive=True),
    ):
        open_recording(p).read()


OUTCOMES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _report():
    """Print the cases run per parser and their outcomes (shown with -s)."""
    yield
    for (test, outcome), n in sorted(OUTCOMES.items()):
        print(f"fuzz {test}: {n} {outcome}")


class _TimeoutError(Exception):
    pass


def _alarm(*_):
    raise _TimeoutError


def check(path: Path, **kw) -> str:
    """Open, read ≤ 4096 samples and their times; 'ok' or 'error'. Fails the test on anything
    else, on a multi-line message, or beyond the time and memory budgets."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_S * 4)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = open_recording(path, **kw)
            n = min(rec.num_samples, 4096)
            blk = rec.read(0, n)
            assert blk.samples.shape == (rec.num_channels, n)
            if rec.utc_ns is not None or rec.timestamps is not None:
                rec.times_ns(0, n)
            list(rec.frames(max(1, n // 2), stop=n))
        outcome = "ok"
    except UnseenError as exc:
        msg = str(exc)
        assert "\n" not in msg, f"multi-line error for {path.name}: {msg!r}"
        assert path.name in msg or str(path) in msg, f"error does not name the file: {msg!r}"
        outcome = "error"
    except _TimeoutError:
        pytest.fail(f"{path.name}: no answer within {TIME_S * 4} s (hang?): {_show(path)}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    dt = time.perf_counter() - t0
    OUTCOMES[
        (os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split(" ")[0], outcome)
    ] += 1
    assert dt < TIME_S, f"{path.name}: {dt:.1f} s: {_show(path)}"
    assert peak < MEMORY_B, f"{path.name}: {peak / 2**20:.0f} MiB allocated: {_show(path)}"
    return outcome


def _show(path: Path) -> str:
    name = path.name
    if name.endswith((".sigmf-meta", ".sigmf-collection")):
        return repr(path.read_bytes()[:600])
    return f"{path.stat().st_size} bytes"


# --- JSON mutation ---------------------------------------------------------------------------

WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**5000 // 10**4990, 3, 4097]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([5e-324, 1e308, -0.0, 1e-300]),
    st.text(max_size=12),
    st.sampled_from(
        [
            "x",
            "../x",
            "a/b",
            "2020-13-01T00:00:00Z",
            "2020-02-30T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "cf32_le",
            "ci16_be",
            "cu8",
            "ri16_le",
            "cq7",
            "\x00",
        ]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
KEYS = [
    ("global", "core:datatype"),
    ("global", "core:sample_rate"),
    ("global", "core:num_channels"),
    ("global", "core:dataset"),
    ("global", "core:trailing_bytes"),
    ("global", "core:metadata_only"),
    ("global", "core:geolocation"),
    ("global", "core:version"),
    ("global", "core:sha512"),
    ("global",),
    ("captures",),
    ("annotations",),
    ("captures", 0),
    ("captures", 0, "core:sample_start"),
    ("captures", 0, "core:header_bytes"),
    ("captures", 0, "core:datetime"),
    ("captures", 0, "core:frequency"),
    ("captures", 1, "core:sample_start"),
    ("captures", 1, "core:header_bytes"),
    ("captures", 1, "core:datetime"),
    ("annotations", 0, "core:sample_start"),
    ("annotations", 0, "core:sample_count"),
]


def _seed_doc() -> dict:
    return {
        "global": {
            "core:datatype": "ci16_le",
            "core:sample_rate": 48000.0,
            "core:num_channels": 2,
            "core:version": "1.2.0",
        },
        "captures": [
            {
                "core:sample_start": 0,
                "core:datetime": "2020-08-13T06:52:20Z",
                "core:header_bytes": 8,
            },
            {"core:sample_start": 40, "core:frequency": 1e8, "core:header_bytes": 4},
        ],
        "annotations": [{"core:sample_start": 2, "core:sample_count": 10}],
    }


def _ncd(data: bytes) -> bytes:
    """The seed's data file: 8 header bytes, 40 samples (8 bytes each), 4 header bytes, rest."""
    return b"\0" * 8 + data[:320] + b"\0" * 4 + data[320:]


def _set(doc, path, value, delete):
    obj = doc
    for k in path[:-1]:
        try:
            obj = obj[k]
        except (KeyError, IndexError, TypeError):
            return
    try:
        if delete:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass


@pytest.fixture(scope="module")
def data_bytes():
    rng = np.random.default_rng(0)
    return rng.integers(-3000, 3000, 2 * 2 * 100, dtype=np.int16).tobytes()


@FUZZ
@given(
    edits=st.lists(st.tuples(st.sampled_from(KEYS), WEIRD, st.booleans()), min_size=0, max_size=3),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
    cut=st.one_of(st.none(), st.integers(0, 400)),
    extra=st.integers(0, 7),
)
def test_fuzz_sigmf_meta(tmp_path_factory, data_bytes, edits, flips, cut, extra):
    d = tmp_path_factory.mktemp("m")
    doc = _seed_doc()
    for path, value, delete in edits:
        _set(doc, path, value, delete)
    try:
        raw = bytearray(json.dumps(doc).encode())
    except (ValueError, OverflowError):
        raw = bytearray(json.dumps(_seed_doc()).encode())
    for pos, b in flips:
        if raw:
            raw[pos % len(raw)] = b
    if cut is not None:
        raw = raw[:cut]
    (d / "r.sigmf-meta").write_bytes(bytes(raw))
    (d / "r.sigmf-data").write_bytes(_ncd(data_bytes) + b"\1" * extra)
    check(d / "r.sigmf-meta")


def test_fuzz_seed_is_read(tmp_path, data_bytes):
    """The seed itself is valid: the 8 + 4 header bytes skipped, 100 two-channel samples."""
    (tmp_path / "r.sigmf-meta").write_text(json.dumps(_seed_doc()))
    (tmp_path / "r.sigmf-data").write_bytes(_ncd(data_bytes))
    assert check(tmp_path / "r.sigmf-meta") == "ok"
    rec = open_recording(tmp_path / "r.sigmf-meta")
    want = np.frombuffer(data_bytes, np.int16).reshape(100, 2, 2) / 32768
    np.testing.assert_allclose(rec.read().samples, (want[..., 0] + 1j * want[..., 1]).T)


_serial = itertools.count()


@pytest.fixture(scope="module")
def collection_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("c")
    for n in ("a", "b"):
        write_sigmf(d / n, np.ones((1, 64), np.complex64), 1e3, 1e6)
    return d


@FUZZ
@given(
    names=st.lists(
        st.one_of(st.sampled_from(["a", "b", "../a", "a/b", "", "c"]), WEIRD), max_size=3
    ),
    as_tuple=st.booleans(),
    shape=st.sampled_from(["ok", "no-collection", "streams-dict", "list"]),
    flips=st.lists(st.tuples(st.integers(0, 10**4), st.integers(0, 255)), max_size=2),
)
def test_fuzz_sigmf_collection(collection_dir, names, as_tuple, shape, flips):
    d = collection_dir
    streams = [[n, "0" * 128] if as_tuple else {"name": n} for n in names]
    doc = {"collection": {"core:version": "1.2.0", "core:streams": streams}}
    if shape == "no-collection":
        doc = {"streams": streams}
    elif shape == "streams-dict":
        doc["collection"]["core:streams"] = {"a": 1}
    elif shape == "list":
        doc = [doc]
    try:
        raw = bytearray(json.dumps(doc).encode())
    except (ValueError, OverflowError):
        raw = bytearray(b"{}")
    for pos, b in flips:
        raw[pos % len(raw)] = b
    path = d / f"x{next(_serial)}.sigmf-collection"
    path.write_bytes(bytes(raw))
    check(path)


@pytest.fixture(scope="module")
def archive_seed(tmp_path_factory):
    d = tmp_path_factory.mktemp("seed")
    p = write_sigmf(
        d / "arc", np.ones((2, 300), np.complex64) * 0.1, 1e4, 1e6, utc_ns=10**18, archive=True
    )
    return p.read_bytes()


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 20_000)),
    junk=st.booleans(),
)
def test_fuzz_sigmf_archive(tmp_path_factory, archive_seed, flips, cut, junk):
    d = tmp_path_factory.mktemp("a")
    raw = bytearray(b"this is not a tar file at all" * 40 if junk else archive_seed)
    for pos, b in flips:
        raw[pos % len(raw)] = b
    if cut is not None:
        raw = raw[:cut]
    (d / "x.sigmf").write_bytes(bytes(raw))
    check(d / "x.sigmf")


def test_archive_seed_is_read(tmp_path, archive_seed):
    (tmp_path / "x.sigmf").write_bytes(archive_seed)
    assert check(tmp_path / "x.sigmf") == "ok"


def test_archive_with_a_meta_but_no_data_and_odd_members(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        meta = json.dumps(_seed_doc()).encode()
        info = tarfile.TarInfo("r/r.sigmf-meta")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
        link = tarfile.TarInfo("r/r.sigmf-data")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    (tmp_path / "x.sigmf").write_bytes(buf.getvalue())
    assert check(tmp_path / "x.sigmf") == "error"


# --- WAV / KiwiSDR byte mutation ---------------------------------------------------------------


@pytest.fixture(scope="module")
def kiwi_seed():
    """The first ~10 blocks of a real KiwiSDR recording (fmt, kiwi and data chunks)."""
    wavs = sorted(DCF77.glob("*.wav")) if DCF77.exists() else []
    if not wavs:
        pytest.skip(f"{DCF77} absent")
    return wavs[0].read_bytes()[: 12 + 24 + 10 * (18 + 2056) + 200]


def _chunk_starts(raw: bytes) -> list[int]:
    out, pos = [], 12
    while pos + 8 <= len(raw):
        out.append(pos)
        size = int.from_bytes(raw[pos + 4 : pos + 8], "little")
        pos += 8 + size + (size & 1)
    return out


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), max_size=6),
    sizes=st.lists(
        st.tuples(
            st.integers(0, 30),
            st.sampled_from([0, 1, 7, 9, 10, 16, 2047, 2048, 2**31, 2**32 - 1, 2**32 - 2]),
        ),
        max_size=3,
    ),
    header_field=st.one_of(
        st.none(),
        st.tuples(st.sampled_from([22, 24, 34, 20]), st.integers(0, 2**16 - 1)),
    ),
    cut=st.one_of(st.none(), st.integers(0, 25_000)),
    no_fix=st.booleans(),
)
def test_fuzz_kiwisdr_wav(tmp_path_factory, kiwi_seed, flips, sizes, header_field, cut, no_fix):
    """Mutate chunk sizes, fmt fields (channels, rate, bits), GNSS bytes, any byte; truncate."""
    d = tmp_path_factory.mktemp("w")
    raw = bytearray(kiwi_seed)
    starts = _chunk_starts(bytes(raw))
    for k, size in sizes:
        p = starts[k % len(starts)]
        raw[p + 4 : p + 8] = size.to_bytes(4, "little")
    if header_field is not None:
        off, v = header_field
        raw[off : off + 2] = v.to_bytes(2, "little")
    if no_fix:
        for p in starts:
            if raw[p : p + 4] == b"kiwi":
                raw[p + 8] = 255
    for pos, b in flips:
        raw[pos % len(raw)] = b
    if cut is not None:
        raw = raw[:cut]
    path = d / "20200813T065220Z_77500_HB9ODP_iq.wav"
    path.write_bytes(bytes(raw))
    check(path)


def test_kiwi_seed_is_read(tmp_path, kiwi_seed):
    path = tmp_path / "20200813T065220Z_77500_HB9ODP_iq.wav"
    path.write_bytes(kiwi_seed)
    assert check(path) == "ok"


# --- raw --------------------------------------------------------------------------------------


@FUZZ
@given(
    nbytes=st.integers(0, 5000),
    ext=st.sampled_from([".cu8", ".cs8", ".cs16", ".cf32", ".cf64", ".cu16", ".bin", ".cs32"]),
    rate=st.one_of(
        st.sampled_from([1.0, 2.5e5, 2.4e6]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([5e-324, 1e300, -1.0, 0.0]),
    ),
    channels=st.integers(-2, 9),
    freq=st.one_of(st.none(), st.just(433.92e6), st.floats(allow_nan=True, allow_infinity=True)),
    whole=st.booleans(),
)
def test_fuzz_raw(tmp_path_factory, nbytes, ext, rate, channels, freq, whole):
    d = tmp_path_factory.mktemp("r")
    if whole:  # whole samples of 1 or 2 channels at a valid rate: must read
        nbytes, channels, rate = nbytes - nbytes % 32, 1 + channels % 2, 2.4e6
    path = d / f"x{ext}"
    path.write_bytes(np.random.default_rng(nbytes).integers(0, 256, nbytes, np.uint8).tobytes())
    out = check(path, sample_rate_hz=rate, num_channels=channels, center_freq_hz=freq)
    if whole and ext != ".bin" and (freq is None or np.isfinite(freq)):
        assert out == "ok"
