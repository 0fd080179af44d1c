"""Station agent: station.toml, back-off, a spool that survives kill -9, delivery after outage."""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from unseen.agent import Spool, backoff_s, load_config
from unseen.errors import ConfigError
from unseen.serve.process import ServerProcess, free_port

CONFIG = """
[station]
name = "parame"
lat = 48.657
lon = -1.99
heading_deg = 20

[server]
url = "{url}"
token = "{token}"
hunt = "h"

[spool]
path = "spool.sqlite"
batch = 7

[retry]
initial_s = 0.05
max_s = 0.4
timeout_s = 2

[source]
kind = "kraken"
url = "DOA_value.html"
format = "csv"
poll_s = 0.05
"""


def write_config(tmp_path, url="http://127.0.0.1:9", token="t", **replace):
    text = CONFIG.format(url=url, token=token)
    for k, v in replace.items():
        text = text.replace(k, v)
    p = tmp_path / "station.toml"
    p.write_text(text)
    return p


def test_config_loads_and_resolves_relative_paths(tmp_path):
    cfg = load_config(write_config(tmp_path))
    assert cfg.name == "parame" and cfg.heading_deg == 20.0 and cfg.batch == 7
    assert cfg.spool_path == tmp_path / "spool.sqlite"
    assert cfg.source["url"] == str(tmp_path / "DOA_value.html")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("lat = 48.657", "lat = 148.657", r"\[station\] lat = 148.657"),
        ('format = "csv"', 'format = "json"', r"\[source\] format = 'json'"),
        ('kind = "kraken"', 'kind = "radio"', r"\[source\] kind = 'radio'"),
        ("batch = 7", 'batch = "seven"', r"\[spool\] batch = 'seven': expected a int"),
        ('hunt = "h"', "", r"\[server\] hunt: missing"),
        ("[station]", "[stations]", r"missing section \[station\]"),
        ('url = "http://127.0.0.1:9"', 'url = "127.0.0.1:9"', r"\[server\] url"),
        ("max_s = 0.4", "max_s = 0.01", r"\[retry\] max_s"),
    ],
)
def test_config_errors_name_file_section_and_key(tmp_path, old, new, match):
    p = write_config(tmp_path, **{old: new})
    with pytest.raises(ConfigError, match=match) as exc:
        load_config(p)
    assert str(p) in str(exc.value)


def test_token_from_environment(tmp_path, monkeypatch):
    p = write_config(tmp_path, **{'token = "t"': 'token_env = "MY_TOKEN"'})
    with pytest.raises(ConfigError, match="MY_TOKEN"):
        load_config(p)
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    assert load_config(p).token == "s3cret"


def test_backoff_is_exponential_jittered_and_capped():
    rng = random.Random(1)
    for attempt in range(12):
        d = min(30.0, 0.5 * 2**attempt)
        draws = [backoff_s(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(d / 2 <= x <= d for x in draws)
        # 200 uniform draws on [d/2, d]: the spread covers most of the interval
        assert max(draws) - min(draws) > 0.4 * d
    assert backoff_s(10_000, 0.5, 30.0, rng) <= 30.0


def test_spool_is_a_durable_fifo(tmp_path):
    s = Spool(tmp_path / "q.sqlite")
    rows = [{"id": str(uuid.uuid4()), "n": i} for i in range(10)]
    assert s.put(rows) == 10 and s.put(rows[:3]) == 0
    assert [r["n"] for r in s.peek(4)] == [0, 1, 2, 3]
    s.ack([r["id"] for r in rows[:4]])
    s.reject(rows[4:5], "HTTP 422: bad")
    s.close()
    again = Spool(tmp_path / "q.sqlite")
    assert len(again) == 5 and again.rejected() == 1
    assert [r["n"] for r in again.peek(100)] == [5, 6, 7, 8, 9]


WRITER = """
import sys, uuid
from unseen.agent import Spool
s = Spool(sys.argv[1])
i = 0
while True:
    rows = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{i}-{k}")), "n": i} for k in range(10)]
    s.put(rows)
    print(i, flush=True)
    i += 1
"""


@pytest.mark.slow
def test_spool_survives_kill_minus_9_of_its_writer(tmp_path):
    path = tmp_path / "q.sqlite"
    p = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    acked = []
    deadline = time.monotonic() + 30
    while len(acked) < 40 and time.monotonic() < deadline:
        acked.append(int(p.stdout.readline()))
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {r[0] for r in c.execute("SELECT id FROM outbox")}
    for i in acked:  # every put that returned is on disk
        assert all(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{i}-{k}")) in ids for k in range(10))


def kraken_lines(t_ms: int, n: int) -> str:
    """n VFO lines as the current DSP writes them: DOA = 360 − θ, PAPR 9 dB, 360 spectrum values
    peaking at θ."""
    out = []
    for k in range(n):
        theta = (7 * k) % 360
        spec = ", ".join("10.00" if b == theta else "0.00" for b in range(360))
        head = f"{t_ms}, {(360 - theta) % 360}, 9.00, -40.0, {93_000_000 + 100_000 * k}, UCA"
        out.append(f"{head}, 100, parame, 48.657, -1.99, 20, 20, GPS, R, R, R, R, {spec} \n")
    return "".join(out)


def all_ids(url: str, token: str) -> list[str]:
    got, after = [], 0
    while True:
        page = httpx.get(
            f"{url}/api/v1/hunts/h/observations",
            params={"after_seq": after, "limit": 1000},
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
        ).json()
        if not page:
            return got
        got += [r["id"] for r in page]
        after = page[-1]["seq"]


@pytest.mark.slow
def test_agent_spools_while_server_is_away_survives_kill_and_delivers_exactly_once(tmp_path):
    admin = secrets.token_urlsafe(32)
    db = tmp_path / "server.sqlite"
    port = free_port()
    with ServerProcess(db, admin, port=port) as srv:
        r = httpx.post(
            f"{srv.url}/api/v1/stations",
            json={"name": "parame", "lat": 48.657, "lon": -1.99},
            headers={"Authorization": f"Bearer {admin}"},
            trust_env=False,
        )
        token = r.json()["token"]
    # server is down now; the agent must spool
    cfg = write_config(tmp_path, url=f"http://127.0.0.1:{port}", token=token)
    out = tmp_path / "DOA_value.html"
    code = "import sys; from unseen.cli import main; sys.exit(main())"
    agent = subprocess.Popen(
        [sys.executable, "-c", code, "station", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        spool = tmp_path / "spool.sqlite"
        deadline = time.monotonic() + 30
        n = 0
        for step in range(4):
            out.write_text(kraken_lines(1_700_000_000_000 + 1000 * step, 20))
            while time.monotonic() < deadline:
                if spool.exists():
                    with sqlite3.connect(spool) as c, contextlib.suppress(sqlite3.OperationalError):
                        n = c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
                if n >= 20 * (step + 1):
                    break
                time.sleep(0.05)
        assert n == 80
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
    with sqlite3.connect(spool) as c:
        expected = {json.loads(r[0])["id"] for r in c.execute("SELECT row FROM outbox")}
    assert len(expected) == 80

    with ServerProcess(db, admin, port=port) as srv:
        # a second agent run delivers the spool; re-reading the same output adds nothing new
        from unseen.cli import main

        assert main(["station", "--config", str(cfg), "--once"]) == 0
        assert main(["station", "--config", str(cfg), "--once"]) == 0
        ids = all_ids(srv.url, admin)
    assert len(ids) == len(set(ids)) == 80
    assert set(ids) == expected
    with sqlite3.connect(spool) as c:
        assert c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_once_without_server_keeps_rows_spooled_and_says_so(tmp_path):
    cfg = write_config(tmp_path, url=f"http://127.0.0.1:{free_port()}")
    (tmp_path / "DOA_value.html").write_text(kraken_lines(1_700_000_000_000, 3))
    from unseen.cli import main

    assert main(["station", "--config", str(cfg), "--once"]) == 1
    assert len(Spool(tmp_path / "spool.sqlite")) == 3


def test_station_config_errors_are_one_line(tmp_path, capsys):
    from unseen.cli import main

    p = write_config(tmp_path, **{"lon = -1.99": "lon = 500"})
    assert main(["station", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[station] lon" in err


def test_array_file_heading_kept_unless_the_station_gives_one(tmp_path, caplog):
    from unseen.pipeline.station import setup_from_config

    arr = tmp_path / "array.json"
    arr.write_text('{"elements_enu_m": [[0, 0, 0], [0.5, 0, 0], [1.0, 0, 0]], "heading_deg": 35}')
    source = f'[source]\nkind = "file"\npath = "x.sigmf-meta"\narray = "{arr}"\n'
    base = write_config(tmp_path).read_text().split("[source]")[0]
    cfg_path = tmp_path / "station.toml"

    cfg_path.write_text(base.replace("heading_deg = 20\n", "") + source)
    cfg = load_config(cfg_path)
    assert cfg.heading_deg is None
    assert setup_from_config(cfg).array.heading_deg == 35.0

    cfg_path.write_text(base + source)
    with caplog.at_level("WARNING"):
        setup = setup_from_config(load_config(cfg_path))
    assert setup.array.heading_deg == 20.0
    assert "replaces the array file's heading_deg 35" in caplog.text
