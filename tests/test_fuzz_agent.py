"""Fuzzing the station agent's inputs: station.toml and the KrakenSDR outputs.

Property: whatever the bytes, the parser returns a value or raises ConfigError/InputError with a
one-line message; never another exception, never a multi-line message. Cases are drawn by
hypothesis (structured values) and by mutating valid seeds (byte flips, cuts, duplications).
"""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unseen.agent import load_config
from unseen.agent.kraken import is_xml, parse_doa_xml, parse_kraken_csv
from unseen.errors import InputError

SEED_TOML = b"""
[station]
name = "dinard"
lat = 48.6325
lon = -2.06
alt_m = 12.0
heading_deg = 15.0
[server]
url = "http://127.0.0.1:8000"
token = "secret"
hunt = "saint-malo"
[spool]
path = "spool.sqlite"
batch = 100
[retry]
initial_s = 0.5
max_s = 60.0
timeout_s = 10.0
[source]
kind = "file"
path = "dinard.sigmf-meta"
registry = "registry.csv"
frame = 4096
min_sigma_deg = 0.5
sigma_floor_deg = 2.0
min_confidence = 0.0
"""

SEED_CSV = (
    "1700000000123, 60, 8.70, -37.5, 94200000, UCA, 102, parame, 48.657, -1.99, 20.0, 20.0, "
    "GPS, R, R, R, R, " + ", ".join("30.00" if k == 300 else "0.00" for k in range(360)) + " \n"
).encode()
SEED_XML = (
    b"<DATA><STATION_ID>parame</STATION_ID><TIME>1700000000123</TIME><GPS_TIME>0</GPS_TIME>"
    b"<FREQUENCY>94.2</FREQUENCY><LOCATION><LATITUDE>48.657</LATITUDE><LONGITUDE>-1.99"
    b"</LONGITUDE><HEADING>20</HEADING><SPEED>0.0</SPEED></LOCATION><DOA>300</DOA><PWR>62.5"
    b"</PWR><CONF>870</CONF></DATA>"
)
TOKENS = [b"nan", b"inf", b"-1e400", b"1e400", b'"', b"'", b"[", b"]", b"=", b",", b"\n",
          b"\xff", b"\x00", b"<", b">", b"..", b"/", b"-", b"true", b"0", b"-0.0", b"360",
          b"1e308"]  # fmt: skip


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """A few random edits of a valid input: flip, delete, duplicate, or splice in a token."""
    b = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(b) + 1)
        op = rng.randrange(4)
        if op == 0 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            del b[i : i + rng.randint(1, 20)]
        elif op == 2:
            j = rng.randrange(len(b) + 1)
            b[i:i] = b[min(i, j) : max(i, j)][:200]
        else:
            b[i:i] = rng.choice(TOKENS)
    return bytes(b)


def one_line_or_value(fn, *args):
    try:
        return fn(*args)
    except InputError as exc:  # ConfigError and FileFormatError are InputErrors
        msg = str(exc)
        assert msg and "\n" not in msg, repr(msg)
        return None


def check_config(path) -> bool:
    """True when the config loaded (and its IQ setup built)."""
    cfg = one_line_or_value(load_config, path)
    if cfg is None:
        return False
    for v in (cfg.lat_deg, cfg.lon_deg, cfg.alt_m, cfg.timeout_s):
        assert math.isfinite(v)
    assert cfg.heading_deg is None or 0 <= cfg.heading_deg < 360
    assert -1000 <= cfg.alt_m <= 100_000 and cfg.hunt not in (".", "..")
    if cfg.source["kind"] in ("file", "directory", "soapy"):
        from unseen.pipeline.station import setup_from_config

        setup = one_line_or_value(setup_from_config, cfg)
        if setup is None:
            return False
        assert setup.min_sigma_deg > 0 and math.isfinite(setup.sigma_floor_deg)
    return True


def check_kraken(text: str) -> bool:
    """True when the text parsed."""
    if is_xml(text):
        r = one_line_or_value(parse_doa_xml, text, "doa.xml")
        readings = [] if r is None else [r]
    else:
        readings = one_line_or_value(parse_kraken_csv, text, "DOA_value.html") or []
    for r in readings:
        assert 0.0 <= r.relative_deg < 360.0 and 0.0 <= r.confidence() <= 1.0
        assert r.lat_deg is None or (-90 <= r.lat_deg <= 90 and -180 <= r.lon_deg <= 180)
    return bool(readings)


def test_mutated_station_toml_loads_or_says_why_in_one_line(tmp_path):
    p = tmp_path / "station.toml"
    ok = 0
    for k in range(300):
        p.write_bytes(mutate(SEED_TOML, random.Random(k)))
        ok += check_config(p)
    assert 0 < ok < 300  # both outcomes exercised


def _toml_value():
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70),
        st.booleans(), st.text(max_size=80),
    )  # fmt: skip


def _toml_literal(v) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else
                                            "-inf" if v == -math.inf else repr(v))  # fmt: skip
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)  # a TOML basic string is a JSON string


KEYS = {
    "station": ["name", "lat", "lon", "alt_m", "heading_deg"],
    "server": ["url", "token", "hunt"],
    "spool": ["batch"],
    "retry": ["initial_s", "max_s", "timeout_s"],
    "source": ["kind", "frame", "freq_hz", "bandwidth_hz", "min_sigma_deg", "sigma_floor_deg",
               "min_confidence", "method", "calibration", "sources", "poll_s"],
}  # fmt: skip


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_station_toml_with_arbitrary_values(tmp_path, data):
    text = SEED_TOML.decode()
    section = data.draw(st.sampled_from(sorted(KEYS)))
    key = data.draw(st.sampled_from(KEYS[section]))
    value = data.draw(_toml_value())
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
    at = lines.index(f"[{section}]") + 1
    lines.insert(at, f"{key} = {_toml_literal(value)}")
    p = tmp_path / "station.toml"
    p.write_text("\n".join(lines), encoding="utf-8")
    check_config(p)


def test_mutated_kraken_outputs_parse_or_say_why_in_one_line():
    ok = 0
    for k in range(300):
        rng = random.Random(1000 + k)
        seed = SEED_XML if k % 2 else SEED_CSV * rng.randint(1, 3)
        ok += check_kraken(mutate(seed, rng).decode("utf-8", errors="replace"))
    assert 0 < ok < 300


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(st.one_of(st.text(max_size=12), st.floats().map(str),
                                 st.integers().map(str)), min_size=0, max_size=400))  # fmt: skip
def test_arbitrary_csv_fields(fields):
    check_kraken(", ".join(fields) + "\n")
