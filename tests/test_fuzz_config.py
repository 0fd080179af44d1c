"""Fuzzing of the configuration parsers: scenario TOML, registry CSV, array and calibration JSON.

Each parser is fed mutations of a valid seed (values swapped for hostile ones, lines dropped or
doubled, bytes flipped) and free-form text from hypothesis. The contract under test: the input
parses, or the parser raises `InputError` with a one-line message; never another exception,
never a hang (each case within a time budget).
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unseen import validate
from unseen.detect.registry import load_registry
from unseen.doa.array import Array
from unseen.doa.calibrate import Calibration
from unseen.errors import InputError
from unseen.sim.scenario import builtin_text, parse_scenario

CASES = 300
BUDGET_S = 2.0

HOSTILE_TOML = [
    "nan",
    "inf",
    "-inf",
    "1e300",
    "-1e300",
    "5e-324",
    "0",
    "-1",
    "1e-300",
    '"x"',
    '""',
    "[]",
    "{}",
    "true",
    "9" * 40,
    "-" + "9" * 30,
    "1979-05-27T07:32:00Z",
    "9999-12-31T23:59:59Z",
    '"9999-12-31T23:59:59Z"',
    "[1, 2]",
    "[[1, 2], [3]]",
    '{ kind = "uca" }',
    "1e12",
    "100000",
]
HOSTILE_TEXT = [
    "nan",
    "inf",
    "-1",
    "0",
    "1e308",
    "1e-320",
    "x",
    "",
    "9" * 5000,
    "\x00",
    "é",
    '"',
    ",,",
    "1,2",
    "ｘ",
    "\ufeff1",
]
HOSTILE_JSON = [
    None,
    True,
    "x",
    "",
    [],
    {},
    -1,
    0,
    1e308,
    "NaN",
    10**70,
    [[]],
    [None],
    "1e6",
    [[1, 2, 3]] * 300,
    {"a": 1},
]

settings.register_profile(
    "fuzz",
    max_examples=CASES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _contract(parse, *args) -> None:
    t0 = time.perf_counter()
    try:
        parse(*args)
    except InputError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, f"error is not one line: {msg!r}"
    assert time.perf_counter() - t0 < BUDGET_S


SEED_TOML = builtin_text("saint-malo")
TOML_LINES = SEED_TOML.splitlines()


@st.composite
def toml_mutation(draw) -> str:
    lines = list(TOML_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "drop", "dup", "truncate", "bytes"]))
        line = lines[i]
        if op == "value" and "=" in line:
            key = line.split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.sampled_from(HOSTILE_TOML))}"
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "truncate":
            lines[i] = line[: draw(st.integers(0, max(len(line) - 1, 0)))]
        else:
            lines[i] = draw(st.text(max_size=20))
    return "\n".join(lines)


@settings(settings.get_profile("fuzz"))
@given(toml_mutation())
def test_scenario_mutations(text):
    _contract(parse_scenario, text, "fuzz.toml")


@settings(settings.get_profile("fuzz"))
@given(st.text(max_size=400))
def test_scenario_free_text(text):
    _contract(parse_scenario, text, "fuzz.toml")


SEED_CSV = "name,freq_hz,bandwidth_hz,lat,lon,erp_w\nA,93.5e6,200e3,48.58,-2.06,5000\n"


@st.composite
def csv_mutation(draw, seed: str = SEED_CSV) -> str:
    rows = [r.split(",") for r in seed.strip().splitlines()]
    for _ in range(draw(st.integers(1, 3))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(rows[r]) - 1))
        op = draw(st.sampled_from(["value", "drop", "add", "quote"]))
        if op == "value":
            rows[r][c] = draw(st.sampled_from([*HOSTILE_TEXT, "name", "freq_hz"]))
        elif op == "drop":
            del rows[r][c]
        elif op == "add":
            rows[r].insert(c, draw(st.sampled_from(HOSTILE_TEXT)))
        else:
            rows[r][c] = '"' + rows[r][c]
    prefix = draw(st.sampled_from(["", "\ufeff", "# comment\n"]))
    return prefix + "\n".join(",".join(r) for r in rows) + "\n"


@settings(settings.get_profile("fuzz"))
@given(st.one_of(csv_mutation(), st.text(max_size=300)))
def test_registry_fuzz(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("reg") / "reg.csv"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    _contract(load_registry, p)


SEED_ARRAY = {
    "kind": "custom",
    "heading_deg": 10.0,
    "elements_enu_m": [[0, 1, 0], [1, 0, 0], [0, -1, 0], [-1, 0, 0.5]],
}
SEED_CAL = {
    "format": "unseen-calibration",
    "version": 1,
    "num_channels": 3,
    "gain_db": [0.0, 0.7, -0.3],
    "phase_deg": [0.0, -23.1, 11.8],
    "method": "known-source",
    "azimuth_deg": 200.0,
    "freq_hz": 94.2e6,
    "num_snapshots": 65536,
}


def _paths(doc) -> list[tuple]:
    out: list[tuple] = [()]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += [(k, *p) for p in _paths(v)]
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += [(i, *p) for p in _paths(v)]
    return out


@st.composite
def json_mutation(draw, seed: dict) -> str:
    doc = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        value = json.loads(json.dumps(draw(st.sampled_from(HOSTILE_JSON))))
        if not path:
            doc = value
            continue
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if draw(st.booleans()):
            parent[path[-1]] = value
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    text = json.dumps(doc)
    if draw(st.integers(0, 9)) == 0:
        text = "[" * 100_000 + "]" * 100_000
    elif draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@settings(settings.get_profile("fuzz"))
@given(json_mutation(SEED_ARRAY))
def test_array_json_fuzz(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("arr") / "array.json"
    p.write_text(text)
    _contract(Array.from_spec, str(p))


@settings(settings.get_profile("fuzz"))
@given(json_mutation(SEED_CAL))
def test_calibration_json_fuzz(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("cal") / "cal.json"
    p.write_text(text)
    _contract(Calibration.load, p)


@pytest.mark.parametrize(
    ("value", "kw", "msg"),
    [
        ("nan", {}, "expected a finite number"),
        (float("inf"), {}, "expected a finite number"),
        ("9" * 5000, {}, "5000-character"),
        (10**80, {}, "81 digits"),
        (True, {}, "expected a finite number"),
        ("5", {"text": False}, "expected a finite number"),
        (0.0, {"lo": 0, "lo_open": True}, r"expected a value > 0, got 0"),
        (7, {"lo": 0, "hi": 5}, r"expected a value in \[0, 5\], got 7"),
        (2.5, {"integer": True}, "expected an integer"),
    ],
)
def test_number_refuses_with_one_line(value, kw, msg):
    with pytest.raises(InputError, match=msg):
        validate.number(value, "f.csv:3: x", **kw)


def test_json_depth_and_integer_size_are_bounded():
    with pytest.raises(InputError, match="nested deeper than 64"):
        validate.loads_json("[" * 100_000 + "]" * 100_000, "deep.json")
    with pytest.raises(InputError, match="integer of 5000 digits"):
        validate.loads_json('{"a": ' + "9" * 5000 + "}", "big.json")
    with pytest.raises(InputError, match="NaN is not a JSON number"):
        validate.loads_json('{"a": NaN}', "nan.json")


def test_budget_names_the_memory(monkeypatch):
    monkeypatch.setenv("UNSEEN_MAX_MEMORY_GB", "1")
    with pytest.raises(InputError, match=r"grid would take 2 GiB; the limit is 1 GiB"):
        validate.budget(2 * 1024**3, "grid")
    validate.budget(1024**3 - 1, "grid")


SEED_STATIONS = (
    "station,name,kind,lat_deg,lon_deg,alt_m,recording,gnss_sync\n"
    "dinard,Dinard,fixed,48.6325,-2.06,12,dinard.sigmf-meta,false\n"
    "werner,Werner,mobile,,,,werner.sigmf-meta,\n"
)


@settings(settings.get_profile("fuzz"))
@given(st.one_of(csv_mutation(SEED_STATIONS), st.text(max_size=200)))
def test_hunt_stations_csv_fuzz(tmp_path_factory, text):
    from unseen.pipeline.layout import load_dir

    d = tmp_path_factory.mktemp("hunt")
    (d / "stations.csv").write_text(text, encoding="utf-8", errors="surrogatepass")
    _contract(load_dir, d)


SEED_TDOA_STATIONS = "station,lat,lon,alt_m\nA,46.5,8.8,300\n"


@settings(settings.get_profile("fuzz"))
@given(st.one_of(csv_mutation(SEED_TDOA_STATIONS), st.text(max_size=200)))
def test_tdoa_stations_csv_fuzz(tmp_path_factory, text):
    from unseen.cli.signals import _stations

    p = tmp_path_factory.mktemp("st") / "st.csv"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    _contract(_stations, str(p))


SEED_RSS_CAL = {
    "format": "unseen-rss-calibration",
    "version": 1,
    "path_loss_exponent": 2.1,
    "path_loss_exponent_sd": 0.2,
    "shadowing_db": 7.0,
    "ref_m": 10.0,
    "gain_spread_db": 6.0,
    "receivers": {"a": {"offset_db": 1.5, "sd_db": 0.4}},
}


@settings(settings.get_profile("fuzz"))
@given(json_mutation(SEED_RSS_CAL))
def test_rss_calibration_json_fuzz(tmp_path_factory, text):
    from unseen.locate.rss_cal import load

    p = tmp_path_factory.mktemp("rsscal") / "cal.json"
    p.write_text(text)
    _contract(load, p)
