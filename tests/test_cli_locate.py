"""`unseen locate`: the public CSV/JSONL contract, error lines and exit codes."""

import io
import json

import numpy as np
import pytest

from unseen.cli import main
from unseen.errors import FileFormatError
from unseen.geo import inverse
from unseen.locate import solve
from unseen.locate.io import fix_to_dict, observation_to_row, read_observations
from unseen.types import Bearing, SignalStrength, Site, Tdoa

TX = (48.64985, -2.02720)
STATIONS = [("dinard", 48.6325, -2.06), ("servan", 48.637, -2.028), ("parame", 48.657, -1.99)]
KEYS = {"group", "lat", "lon", "alt_m", "cov_enu_m2", "ellipse50", "ellipse95", "cep50_m",
        "method", "n_used", "rejected", "crb_rmse_m", "chi2", "dof", "p_value",
        "rejected_index"}  # fmt: skip


def bearing_csv(groups=("a",), with_group=True, extra_rows=""):
    head = "kind,group,station,lat,lon,bearing_deg,sigma_deg\n"
    if not with_group:
        head = "kind,station,lat,lon,bearing_deg,sigma_deg\n"
    rows = []
    for g in groups:
        for s, la, lo in STATIONS:
            az = float(inverse(la, lo, *TX)[0])
            rows.append(
                f"bearing,{g},{s},{la},{lo},{az:.4f},2"
                if with_group
                else f"bearing,{s},{la},{lo},{az:.4f},2"
            )
    return head + "\n".join(rows) + "\n" + extra_rows


def run(capsys, args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_csv_json_output_contract(tmp_path, capsys):
    p = tmp_path / "obs.csv"
    p.write_text(bearing_csv(("a", "b")))
    rc, out, err = run(capsys, ["locate", str(p), "--json"])
    assert rc == 0 and err == ""
    lines = [json.loads(x) for x in out.splitlines()]
    assert [d["group"] for d in lines] == ["a", "b"]
    d = lines[0]
    assert set(d) == KEYS
    assert inverse(d["lat"], d["lon"], *TX)[2] < 1.0
    assert np.array(d["cov_enu_m2"]).shape == (2, 2)
    assert d["ellipse95"]["semi_major_m"] > d["ellipse50"]["semi_major_m"] > 0
    assert 0 <= d["ellipse95"]["orientation_deg"] < 180
    assert d["method"] == "ml-bearing" and d["n_used"] == 3 and d["rejected"] == []
    assert d["dof"] == 1 and d["chi2"] >= 0 and 0 < d["p_value"] <= 1 and d["rejected_index"] == []


def test_jsonl_from_stdin_without_group(capsys, monkeypatch):
    obs = [Bearing(Site(s, la, lo), float(inverse(la, lo, *TX)[0]), 2.0) for s, la, lo in STATIONS]
    text = "\n".join(
        json.dumps({k: v for k, v in observation_to_row(o).items() if k != "group"}) for o in obs
    )
    rc, out, _ = run(capsys, ["locate", "-", "--json"], text, monkeypatch)
    assert rc == 0
    (d,) = [json.loads(x) for x in out.splitlines()]
    assert d["group"] == ""
    assert d == json.loads(json.dumps(fix_to_dict(solve(obs))))


def test_rows_round_trip_all_kinds(tmp_path):
    a, b = Site("a", 48.6, -2.1, 5.0), Site("b", 48.61, -2.0)
    obs = [
        Bearing(a, 45.0, 2.0, 1.5, 94.2e6, True),
        Tdoa(a, b, 1.2e-6, 2e-8, 2.0),
        SignalStrength(b, -71.5, 4.0, 3.0, None, 2.7),
    ]
    p = tmp_path / "o.jsonl"
    p.write_text("\n".join(json.dumps(observation_to_row(o, "g")) for o in obs) + "\n")
    assert read_observations(p) == {"g": obs}
    import csv

    cols = sorted({k for o in obs for k in observation_to_row(o, "g")})
    q = tmp_path / "o.csv"
    with q.open("w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for o in obs:
            w.writerow(observation_to_row(o, "g"))
    assert read_observations(q) == {"g": obs}


def test_failed_group_prints_one_line_and_others_still_fix(tmp_path, capsys):
    bad = "bearing,z,x,48.6325,-2.06,10,2\nbearing,z,y,48.6325,-2.06,20,2\n"
    p = tmp_path / "obs.csv"
    p.write_text(bearing_csv(("a",), extra_rows=bad))
    rc, out, err = run(capsys, ["locate", str(p), "--json"])
    assert rc != 0
    assert [json.loads(x)["group"] for x in out.splitlines()] == ["a"]
    assert len(err.strip().splitlines()) == 1
    assert "group 'z'" in err and "one place" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "rows,reason",
    [
        ("bearing,z,x,48.60,-2.10,0,2\nbearing,z,y,48.60,-2.00,0,2\n", "parallel"),
        ("bearing,z,x,48.60,-2.10,300,2\nbearing,z,y,48.60,-2.00,60,2\n", "diverge"),
        ("bearing,z,x,48.60,-2.10,300,2\n", "too few"),
        ("bearing,z,x,48.60,-2.10,300,0\nbearing,z,y,48.60,-2.00,60,2\n", "sigma_deg must be > 0"),
    ],
)
def test_degenerate_groups_fail_cleanly(tmp_path, capsys, rows, reason):
    p = tmp_path / "obs.csv"
    p.write_text("kind,group,station,lat,lon,bearing_deg,sigma_deg\n" + rows)
    rc, out, err = run(capsys, ["locate", str(p), "--json"])
    assert rc != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and reason in err and "group 'z'" in err


H = "kind,group,station,lat,lon,bearing_deg,sigma_deg\n"


# issue 4: a bad value fails only its group (exit 1, the other groups are fixed); this test once
# expected exit 2 for the whole file and now follows the per-group contract
@pytest.mark.parametrize(
    "text,needle",
    [
        (
            H + "bearing,a,x,48.6,-2.1,abc,2\n",
            "line 2 (group 'a'): column 'bearing_deg': expected a number, got 'abc'",
        ),
        (
            H + "bearing,a,x,48.6,-2.1,10,2\nbearing,a,y,91,-2.0,10,2\n",
            "line 3 (group 'a'): column 'lat'",
        ),
        (
            H + "bearing,a,x,48.6,-2.1,10,2\nbearing,a,y,48,190,10,2\n",
            "line 3 (group 'a'): column 'lon'",
        ),
        (H + "bearing,a,x,48.6,-2.1,nan,2\n", "column 'bearing_deg': expected a finite number"),
        (
            "kind,group,station,lat,lon,bearing_deg\nbearing,a,x,48.6,-2.1,10\n",
            "line 2 (group 'a'): column 'sigma_deg' is missing",
        ),
        (H + "angle,a,x,48.6,-2.1,10,2\n", "line 2 (group 'a'): column 'kind'"),
        (
            '{"kind": "tdoa", "station": "x", "lat": 48.6, "lon": -2.1, "tdoa_s": 1e-6}\n',
            "line 1: column 'lat_b' is missing",
        ),
    ],
)
def test_bad_value_fails_its_group_naming_line_and_column(tmp_path, capsys, text, needle):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    rc, out, err = run(capsys, ["locate", str(p), "--json"])
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and needle in err and str(p) in err


@pytest.mark.parametrize(
    "text,needle",
    [
        ("group,station,lat,lon\na,x,1,2\n", "header lacks column(s) kind"),
        ("48.6,-2.1,10,2\n", "header lacks"),
        (
            '{"kind": "bearing", "station": "x", "lat": 48.6, "lon": -2.1, "bearing_deg": 1, '
            '"sigma_deg": 1}\n{"kind": ',
            "line 2: not valid JSON",
        ),
        (
            '{"kind": "bearing", "group": ["a"], "station": "x", "lat": 48.6, "lon": -2.1}\n',
            "line 1: column 'group': expected text",
        ),
        (H + "bearing,a,x,48.6,-2.1,10,2,extra\n", "line 2: more fields than the header"),
        ("", "empty input"),
    ],
)
def test_malformed_file_fails_whole_naming_line(tmp_path, capsys, text, needle):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    rc, out, err = run(capsys, ["locate", str(p), "--json"])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and needle in err and str(p) in err


BAD_ROWS = {
    "lat": ("bearing,lat,y,95,-2.0,10,2", "line {n} (group 'lat'): column 'lat': latitude"),
    "lon": ("bearing,lon,y,48.6,-182,10,2", "line {n} (group 'lon'): column 'lon': longitude"),
    "nan": (
        "bearing,nan,y,48.6,nan,10,2",
        "line {n} (group 'nan'): column 'lon': expected a finite",
    ),
    "inf": ("bearing,inf,y,48.6,-2.0,inf,2", "line {n} (group 'inf'): column 'bearing_deg'"),
    "text": ("bearing,text,y,48.6,-2.0,north,2", "line {n} (group 'text'): column 'bearing_deg'"),
    "kind": ("compass,kind,y,48.6,-2.0,10,2", "line {n} (group 'kind'): column 'kind'"),
    "gap": ("bearing,gap,y,48.6,-2.0,10,", "line {n} (group 'gap'): column 'sigma_deg' is missing"),
}


def test_bad_rows_fail_only_their_groups_and_the_others_are_fixed(tmp_path, capsys):
    # each bad group has two good rows around its bad one; good groups before and after
    lines = bearing_csv(("a",)).splitlines()
    good = [ln.split(",", 2)[2] for ln in lines[1:]]
    body, needles = [], []
    for g, (bad, needle) in BAD_ROWS.items():
        body += [f"bearing,{g},{good[0]}", bad, f"bearing,{g},{good[1]}"]
        needles.append(needle.format(n=len(body) + len(lines) - 1))
    p = tmp_path / "obs.csv"
    p.write_text("\n".join(lines + body) + "\n" + bearing_csv(("b",)).split("\n", 1)[1])
    rc, out, err = run(capsys, ["locate", str(p), "--json"])
    assert rc == 1
    fixes = [json.loads(x) for x in out.splitlines()]
    assert [d["group"] for d in fixes] == ["a", "b"]
    assert all(inverse(d["lat"], d["lon"], *TX)[2] < 1.0 for d in fixes)
    msgs = err.splitlines()
    assert len(msgs) == len(BAD_ROWS) and "Traceback" not in err
    for msg, needle in zip(msgs, needles, strict=True):
        assert msg.startswith(f"unseen: error: {p}: ") and needle in msg, (msg, needle)


def test_read_observations_raises_without_errors_and_collects_with_them(tmp_path):
    p = tmp_path / "obs.csv"
    p.write_text(bearing_csv(("a",), extra_rows="bearing,z,x,95,-2.0,10,2\n"))
    with pytest.raises(FileFormatError, match="line 5 \\(group 'z'\\): column 'lat'"):
        read_observations(p)
    errors: dict = {}
    groups = read_observations(p, errors=errors)
    assert list(groups) == ["a"] and len(groups["a"]) == 3
    assert list(errors) == ["z"] and isinstance(errors["z"], FileFormatError)
    q = tmp_path / "all_bad.csv"
    q.write_text(H + "bearing,z,x,95,-2.0,10,2\n")
    errors = {}
    assert read_observations(q, errors=errors) == {} and list(errors) == ["z"]


def test_diverging_third_bearing_message_makes_sense(tmp_path, capsys):
    # issue 4 review, group d4: a, b 2 km apart converge 1 km ahead; c points away
    from unseen.geo import forward

    def at(la, lo, az, d):
        r = forward(la, lo, az, d)
        return float(r[0]), float(r[1])

    a = (48.0, -2.0)
    b, mid = at(*a, 90.0, 2000.0), at(*a, 90.0, 1000.0)
    tx, c = at(*mid, 0.0, 1000.0), at(*mid, 180.0, 500.0)
    rows = [(s, p, float(inverse(*p, *tx)[0])) for s, p in (("a", a), ("b", b), ("c", c))]
    rows[2] = ("c", c, (rows[2][2] + 180.0) % 360.0)
    p = tmp_path / "d4.csv"
    p.write_text(H + "".join(f"bearing,d4,{s},{la},{lo},{az},2\n" for s, (la, lo), az in rows))
    # of the three pairs only a-b meets in front of its stations: c is named and left out
    rc, out, err = run(capsys, ["locate", str(p), "--json"])
    fix = json.loads(out)
    assert rc == 0 and fix["rejected"] == ["c"] and fix["n_used"] == 2
    assert inverse(fix["lat"], fix["lon"], *tx)[2] < 1.0
    # without rejection the χ² test refuses the group: one line, no nonsense
    rc, out, err = run(capsys, ["locate", str(p), "--json", "--no-robust"])
    assert rc == 1 and out == ""
    assert err.startswith("unseen: error: group 'd4': ") and "inconsistent" in err
    assert err.count("\n") == 1 and " 0.0 km" not in err and "parallel" not in err


def test_missing_file(capsys):
    rc, _, err = run(capsys, ["locate", "/nonexistent/obs.csv"])
    assert rc == 2 and "no such file" in err


def test_human_table_and_no_robust(tmp_path, capsys):
    more = [("x1", 48.70, -2.10), ("x2", 48.60, -2.00), ("x3", 48.62, -1.95)]
    az = [float(inverse(la, lo, *TX)[0]) for _, la, lo in more]
    az[0] += 40.0  # a reflection: confidently wrong
    wrong = "".join(
        f"bearing,a,{s},{la},{lo},{a:.4f},2\n" for (s, la, lo), a in zip(more, az, strict=True)
    )
    p = tmp_path / "obs.csv"
    p.write_text(bearing_csv(("a",), extra_rows=wrong))
    rc, out, _ = run(capsys, ["locate", str(p), "--json"])
    robust = json.loads(out)
    rc2, out2, err2 = run(capsys, ["locate", str(p), "--json", "--no-robust"])
    assert rc == 0 and rc2 == 1 and out2 == ""
    assert robust["rejected"] == ["x1"] and "bearing from 'x1'" in err2
    rc3, out3, _ = run(capsys, ["locate", str(p)])
    assert rc3 == 0 and "48.6" in out3


def test_tdoa_rows_in_3d(tmp_path, capsys):
    from unseen.doa.array import C_M_S
    from unseen.geo import geodetic2ecef

    st = [("a", 48.60, -2.10, 0.0), ("b", 48.70, -2.00, 900.0), ("c", 48.62, -1.95, 50.0),
          ("d", 48.68, -2.12, 1500.0), ("e", 48.66, -2.03, 400.0)]  # fmt: skip
    P = geodetic2ecef(*TX, 120.0)
    r = [np.linalg.norm(P - geodetic2ecef(la, lo, al)) for _, la, lo, al in st]
    head = "kind,station,lat,lon,alt_m,station_b,lat_b,lon_b,alt_b_m,tdoa_s,sigma_s\n"
    rows = [
        f"tdoa,{s[0]},{s[1]},{s[2]},{s[3]},a,48.60,-2.10,0,{float((r[i] - r[0]) / C_M_S)!r},1e-9"
        for i, s in enumerate(st) if i
    ]  # fmt: skip
    p = tmp_path / "t.csv"
    p.write_text(head + "\n".join(rows) + "\n")
    rc, out, err = run(capsys, ["locate", str(p), "--json", "--3d"])
    assert rc == 0, err
    d = json.loads(out)
    assert np.array(d["cov_enu_m2"]).shape == (3, 3) and d["method"] == "ml-tdoa"
    assert d["alt_m"] == pytest.approx(120.0, abs=1.0)
    assert inverse(d["lat"], d["lon"], *TX)[2] < 1.0
