"""Observation CSV/JSONL parser: hardening cases, direct-path equivalence, and fuzzing.

Every input either parses or ends in one InputError (FileFormatError for structure, or the
group's own error), never another exception, within a time budget.
"""

import io
import json
import random
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unseen.cli import main
from unseen.errors import InputError, UnseenError
from unseen.geo import inverse
from unseen.locate.io import iter_groups, observations_of, read_observations
from unseen.locate.prepare import prepare
from unseen.locate.stream import _bearings_fast, locate_stream

H = "kind,group,station,lat,lon,bearing_deg,sigma_deg\n"
TX = (48.6499, -2.0272)
ST = (("x", 48.70, -2.10), ("y", 48.60, -2.00), ("z", 48.62, -1.95))
AZ = [float(inverse(la, lo, *TX)[0]) for _, la, lo in ST]
GOOD = H + "".join(
    f"bearing,a,{s},{la},{lo},{az:.3f},2\n" for (s, la, lo), az in zip(ST, AZ, strict=True)
)
ROW = {"kind": "bearing", "group": "a", "sigma_deg": 2}
JSONL = "".join(
    json.dumps({**ROW, "station": s, "lat": la, "lon": lo, "bearing_deg": az}) + "\n"
    for (s, la, lo), az in zip(ST, AZ, strict=True)
)
TDOA = (
    "kind,group,station,lat,lon,station_b,lat_b,lon_b,tdoa_s,sigma_s\n"
    "tdoa,t,b,48.70,-2.00,a,48.60,-2.10,1.5e-6,1e-8\n"
    "tdoa,t,c,48.62,-1.95,a,48.60,-2.10,-2.0e-6,1e-8\n"
    "tdoa,t,d,48.68,-2.12,a,48.60,-2.10,0.5e-6,1e-8\n"
)


def run(capsys, args):
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_utf8_bom_is_accepted(tmp_path, capsys):
    p = tmp_path / "excel.csv"
    p.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    rc, out, err = run(capsys, ["locate", str(p), "--json"])
    assert rc == 0 and json.loads(out)["group"] == "a", err
    groups = read_observations(io.StringIO("\ufeff" + GOOD))
    assert list(groups) == ["a"] and len(groups["a"]) == 3


@pytest.mark.parametrize(
    "text,needle,rc",
    [
        (
            "kind,group,station,lat,lon,lat,bearing_deg,sigma_deg\n"
            "bearing,a,x,48.7,-2.1,10,128.1,2\n",
            "line 1: CSV header repeats column(s) lat",
            2,
        ),
        (H + "bearing,a,x,48.7,-2.1," + "1" * 70_000 + ",2\n", "line 2: not valid CSV", 2),
        ('{"kind": ' * 100_000 + "\n", "line 1: JSON nested too deeply", 2),
        ('{"kind": "bearing", "lat": ' + "1" * 5000 + "}\n", "line 1: not valid JSON", 2),
        ("x" * (2 << 20) + "\n", "line 1: longer than", 2),
        (H + "bearing,a,x," + "1" * 5000 + ",-2.1,10,2\n", "line 2 (group 'a'): column 'lat'", 1),
        (
            '{"kind": "bearing", "station": "x", "lat": NaN, "lon": 1, "bearing_deg": 1, '
            '"sigma_deg": 1}\n',
            "line 1: column 'lat': expected a finite number",
            1,
        ),
        (
            '{"kind": "bearing", "station": "x", "lat": 1, "lon": 1, "bearing_deg": Infinity, '
            '"sigma_deg": 1}\n',
            "line 1: column 'bearing_deg': expected a finite number",
            1,
        ),
    ],
)
def test_hostile_inputs_end_in_one_line(tmp_path, capsys, text, needle, rc):
    p = tmp_path / "obs.txt"
    p.write_text(text)
    t = time.perf_counter()
    code, out, err = run(capsys, ["locate", str(p), "--json"])
    assert time.perf_counter() - t < 5.0
    assert code == rc and out == ""
    assert err.count("\n") == 1 and needle in err and str(p) in err, err


def test_not_utf8_and_directory(tmp_path, capsys):
    p = tmp_path / "latin1.csv"
    p.write_bytes(GOOD.replace("x,", "\xe9,").encode("latin-1"))
    rc, _, err = run(capsys, ["locate", str(p)])
    assert rc == 2 and "not a UTF-8 text file" in err and err.count("\n") == 1
    rc, _, err = run(capsys, ["locate", str(tmp_path)])
    assert rc == 2 and err.count("\n") == 1


def _direct_and_general(text):
    out = []
    for g, recs, table in iter_groups(io.StringIO(text)):
        fast = _bearings_fast(table, recs, g, 2)
        slow = prepare(observations_of(table, recs), g)
        out.append((fast, slow))
    return out


coord = st.floats(-89.9, 89.9, allow_nan=False)
lon = st.floats(-179.9, 179.9, allow_nan=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            coord,
            lon,
            st.floats(-720, 720, allow_nan=False),
            st.floats(1e-9, 90, allow_nan=False),
            st.sampled_from(["", "0", "12.5", "-3"]),
            st.sampled_from(["", "false", "0", " no "]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_direct_bearing_path_equals_the_general_path(rows):
    """The direct string→array path gives exactly what row_to_observation + prepare give."""
    text = "kind,group,station,lat,lon,alt_m,bearing_deg,sigma_deg,magnetic\n" + "".join(
        f"bearing,g,s{i},{la!r},{lo!r},{alt},{az!r},{sg!r},{mag}\n"
        for i, (la, lo, az, sg, alt, mag) in enumerate(rows)
    )
    for fast, slow in _direct_and_general(text):
        assert fast is not None
        np.testing.assert_array_equal(fast.b, slow.b)
        assert fast.b_ids == slow.b_ids and fast.index == slow.index
        assert fast.alt == pytest.approx(slow.alt, rel=1e-15, abs=1e-12)
        assert fast.time_s == slow.time_s and fast.ple == slow.ple
        assert fast.signature == slow.signature


def _mutate(rng: random.Random, text: str) -> str:
    """One random edit: flip, insert or delete characters, duplicate, drop or swap lines."""
    ops = rng.randrange(7)
    if ops == 0 and text:
        i = rng.randrange(len(text))
        return text[:i] + chr(rng.choice([0, 9, 10, 13, 34, 44, 123, 0xFEFF, 0xE9])) + text[i + 1 :]
    if ops == 1:
        i = rng.randrange(len(text) + 1)
        junk = rng.choice(["nan", "inf", "-1e400", "1" * 400, '"', ",", "{", "}", "\n", "true"])
        return text[:i] + junk + text[i:]
    if ops == 2 and text:
        i = rng.randrange(len(text))
        return text[:i] + text[i + rng.randrange(1, 20) :]
    lines = text.split("\n")
    if ops == 3:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif ops == 4 and len(lines) > 1:
        lines.pop(rng.randrange(len(lines)))
    elif ops == 5 and len(lines) > 2:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        i = rng.randrange(len(lines))
        fields = lines[i].split(",")
        k = rng.randrange(len(fields))
        fields[k] = rng.choice(["", "-0", "1e308", "bearing", "tdoa", "rssi", "91", "x" * 50])
        lines[i] = ",".join(fields)
    return "\n".join(lines)


def _parse_or_input_error(text: str) -> None:
    t = time.perf_counter()
    try:
        errs: dict = {}
        read_observations(io.StringIO(text), errors=errs)
        for _, r in locate_stream(io.StringIO(text)):
            assert isinstance(r, UnseenError) or np.isfinite(r.lat_deg)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc)
    assert time.perf_counter() - t < 5.0


def test_mutation_fuzz_from_valid_seeds():
    """400 seeded mutations (1–4 edits each) of CSV, JSONL and TDOA seeds."""
    rng = random.Random(14)
    seeds = [GOOD, JSONL, TDOA, GOOD.replace("\n", "\r\n")]
    for n in range(400):
        text = seeds[n % len(seeds)]
        for _ in range(rng.randint(1, 4)):
            text = _mutate(rng, text)
        try:
            _parse_or_input_error(text)
        except AssertionError:
            raise
        except Exception as exc:  # pragma: no cover - the failure report
            raise AssertionError(f"case {n}: {type(exc).__name__}: {exc}\n{text!r}") from exc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_property_any_text_parses_or_fails_in_one_line(text):
    _parse_or_input_error(H + text)
    _parse_or_input_error(text)
