"""`unseen track`: the JSONL contract, time order, error lines and exit codes."""

import io
import json

import numpy as np

from unseen.cli import main
from unseen.geo.frames import geodetic2enu
from unseen.locate.io import observation_to_row
from unseen.track.simulate import ORIGIN, bearings, route_truth

KEYS = {"track", "time_s", "lat", "lon", "alt_m", "vel_east_m_s", "vel_north_m_s", "cov_enu_m2",
        "ellipse95", "speed_m_s", "status", "n_obs", "freq_hz"}  # fmt: skip
FIXED = {"A": np.array([-6000.0, 3000.0]), "B": np.array([6000.0, 4000.0]),
         "C": np.array([0.0, 8000.0])}  # fmt: skip


def rows(stations=FIXED, freq=145.5e6, seed=0):
    tr = route_truth([(0, 0, 0), (400, 300, 40)], 1.0)
    obs = bearings(np.random.default_rng(seed), [tr], stations, 2.0, freq_hz=freq)
    return tr, "".join(json.dumps(observation_to_row(o)) + "\n" for o in obs)


def cli(capsys, args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_jsonl_contract_and_time_order(tmp_path, capsys):
    tr, text = rows()
    p = tmp_path / "obs.jsonl"
    p.write_text(text)
    rc, out, err = cli(capsys, ["track", str(p), "--json", "--model", "cv"])
    assert rc == 0 and err == ""
    lines = [json.loads(x) for x in out.splitlines()]
    assert all(set(d) == KEYS for d in lines)
    assert [d["time_s"] for d in lines] == sorted(d["time_s"] for d in lines) == list(range(41))
    assert {d["track"] for d in lines} == {1} and lines[2]["status"] == "confirmed"
    last = lines[-1]
    assert last["freq_hz"] == 145.5e6 and last["n_obs"] == 41 * 3
    e = geodetic2enu(last["lat"], last["lon"], 0.0, *ORIGIN)[:2] - tr.states[-1, :2]
    assert e @ np.linalg.solve(last["cov_enu_m2"], e) < 13.8  # χ²₂(0.999)
    assert abs(last["speed_m_s"] - 12.5) < 3.0
    assert last["ellipse95"]["semi_major_m"] >= last["ellipse95"]["semi_minor_m"] > 0


def test_stdin_csv_and_table(capsys, monkeypatch):
    _, text = rows()
    objs = [json.loads(x) for x in text.splitlines()]
    cols = list(objs[0])
    csv = ",".join(cols) + "\n" + "".join(",".join(str(o[c]) for c in cols) + "\n" for o in objs)
    rc, out, err = cli(capsys, ["track", "-", "--model", "imm"], csv, monkeypatch)
    assert rc == 0 and err == "" and "confirmed" in out and "MGRS" in out


def test_one_station_says_why_and_exits_1(tmp_path, capsys):
    _, text = rows({"A": FIXED["A"]})
    p = tmp_path / "one.jsonl"
    p.write_text(text)
    rc, out, err = cli(capsys, ["track", str(p), "--json"])
    assert rc == 1 and out == ""
    assert err.startswith(
        "unseen: error: channel 145500000 Hz: no track: bearings from one station"
    )


def test_bad_input_exit_2(tmp_path, capsys):
    p = tmp_path / "empty.csv"
    p.write_text("")
    rc, _, err = cli(capsys, ["track", str(p)])
    assert rc == 2 and err.strip() == f"unseen: error: {p}: no observations (empty input)"
    rc, _, err = cli(capsys, ["track", str(tmp_path / "missing.csv")])
    assert rc == 2 and "no such file" in err
    _, text = rows()
    q = tmp_path / "obs.jsonl"
    q.write_text(text)
    rc, _, err = cli(capsys, ["track", str(q), "--model", "kalman"])
    assert rc == 2 and "--model: expected cv, ncv or imm, got 'kalman'" in err
    rc, _, err = cli(capsys, ["track", str(q), "--process-noise-m-s2", "-1"])
    assert rc == 2 and "--process-noise-m-s2: expected a value in [0, 10000], got -1" in err


def test_bad_row_names_the_line_and_exits_1(tmp_path, capsys):
    _, text = rows()
    lines = text.splitlines()
    bad = json.loads(lines[5])
    bad["bearing_deg"] = "north"
    lines[5] = json.dumps(bad)
    p = tmp_path / "obs.jsonl"
    p.write_text("\n".join(lines) + "\n")
    rc, out, err = cli(capsys, ["track", str(p), "--json"])
    assert rc == 1 and out == ""
    assert "line 6: column 'bearing_deg': expected a number, got 'north'" in err
