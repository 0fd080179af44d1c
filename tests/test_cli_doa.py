"""CLI round trips: simulate doa → doa (JSON lines), calibrate, and one-line errors."""

import json
import re

import numpy as np
import pytest

from unseen.cli import main
from unseen.sources import open_recording


def lines(capsys):
    return [json.loads(s) for s in capsys.readouterr().out.splitlines() if s.strip()]


def wrap(d):
    return (np.asarray(d) + 180.0) % 360.0 - 180.0


@pytest.mark.parametrize("datatype", ["cf32_le", "ci16_le", "ci8"])
def test_simulate_then_doa_recovers_the_azimuths(tmp_path, capsys, datatype):
    base = tmp_path / "two"
    rc = main(
        [
            "simulate",
            "doa",
            "--array",
            "uca:5:1.0",
            "--azimuth",
            "40",
            "--azimuth",
            "115",
            "--snr-db",
            "10",
            "--freq-hz",
            "94.2e6",
            "--samples",
            "16384",
            "--seed",
            "3",
            "--datatype",
            datatype,
            "--out",
            str(base),
        ]
    )
    assert rc == 0
    rec = open_recording(f"{base}.sigmf-meta")
    assert rec.num_channels == 5 and rec.extensions["unseen:array"]["kind"] == "uca"
    capsys.readouterr()
    assert (
        main(["doa", f"{base}.sigmf-meta", "--method", "music", "--frame", "4096", "--json"]) == 0
    )
    rows = lines(capsys)
    assert [r["frame"] for r in rows] == [0, 1, 2, 3]
    assert rows[1]["time_s"] == pytest.approx(4096 / 1e6)
    for r in rows:
        assert set(r) == {
            "frame",
            "time_s",
            "azimuths_deg",
            "sigma_deg",
            "confidence",
            "num_sources",
            "method",
        }
        assert r["num_sources"] == 2 and r["method"] == "music"
        for truth in (40.0, 115.0):
            k = int(np.argmin(np.abs(wrap(np.array(r["azimuths_deg"]) - truth))))
            # within 5 sigma of the truth (sigma ≈ 0.08° here)
            assert abs(wrap(r["azimuths_deg"][k] - truth)) < 5 * r["sigma_deg"][k]
            assert 0.9 < r["confidence"][k] <= 1.0


def test_ula_esprit_with_heading_and_explicit_array(tmp_path, capsys):
    base = tmp_path / "ula"
    main(
        [
            "simulate",
            "doa",
            "--array",
            "ula:8:1.5",
            "--heading-deg",
            "30",
            "--azimuth",
            "75",
            "--waveform",
            "fm",
            "--samples",
            "8192",
            "--out",
            str(base),
        ]
    )
    capsys.readouterr()
    assert (
        main(
            [
                "doa",
                f"{base}.sigmf-meta",
                "--array",
                "ula:8:1.5",
                "--heading-deg",
                "30",
                "--method",
                "esprit",
                "--frame",
                "8192",
                "--sources",
                "1",
                "--json",
            ]
        )
        == 0
    )
    (row,) = lines(capsys)
    assert abs(wrap(row["azimuths_deg"][0] - 75.0)) < 0.2


def test_calibrate_then_doa(tmp_path, capsys):
    common = [
        "--array",
        "uca:5:1.0",
        "--phase-error-deg",
        "30",
        "--phase-seed",
        "7",
        "--samples",
        "16384",
    ]
    main(
        [
            "simulate",
            "doa",
            *common,
            "--azimuth",
            "200",
            "--snr-db",
            "20",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "cal"),
        ]
    )
    main(
        [
            "simulate",
            "doa",
            *common,
            "--azimuth",
            "37",
            "--seed",
            "2",
            "--out",
            str(tmp_path / "obs"),
        ]
    )
    cal = tmp_path / "cal.json"
    assert (
        main(["calibrate", str(tmp_path / "cal.sigmf-meta"), "--azimuth", "200", "--out", str(cal)])
        == 0
    )
    assert json.loads(cal.read_text())["format"] == "unseen-calibration"
    capsys.readouterr()
    obs = str(tmp_path / "obs.sigmf-meta")
    main(["doa", obs, "--frame", "16384", "--sources", "1", "--json"])
    (raw,) = lines(capsys)
    main(["doa", obs, "--frame", "16384", "--sources", "1", "--json", "--calibration", str(cal)])
    (fixed,) = lines(capsys)
    assert abs(wrap(fixed["azimuths_deg"][0] - 37.0)) < 5 * fixed["sigma_deg"][0]
    assert abs(wrap(raw["azimuths_deg"][0] - 37.0)) > 10 * fixed["sigma_deg"][0]


def test_table_output(tmp_path, capsys):
    base = tmp_path / "t"
    main(
        [
            "simulate",
            "doa",
            "--array",
            "uca:5:1.0",
            "--azimuth",
            "300",
            "--samples",
            "4096",
            "--out",
            str(base),
        ]
    )
    capsys.readouterr()
    assert main(["doa", f"{base}.sigmf-meta", "--method", "capon", "--frame", "4096"]) == 0
    out = capsys.readouterr().out
    assert "capon" in out
    nums = [float(v) for v in re.findall(r"\b\d{3}\.\d\d\b", out)]
    assert any(abs(v - 300.0) < 0.5 for v in nums)


def test_errors_are_one_line(tmp_path, capsys):
    base = tmp_path / "e"
    main(
        [
            "simulate",
            "doa",
            "--array",
            "uca:5:1.0",
            "--azimuth",
            "10",
            "--samples",
            "4096",
            "--out",
            str(base),
        ]
    )
    meta = f"{base}.sigmf-meta"
    cases = [
        (["doa", meta, "--method", "musik"], "--method 'musik'"),
        (["doa", meta, "--array", "ula:4:0.5"], "5 channels but the array has 4"),
        (["doa", meta, "--frame", "3"], "at least as many samples as elements"),
        (["doa", meta, "--calibration", str(tmp_path / "none.json")], "no such calibration file"),
        (["doa", str(tmp_path / "missing.sigmf-meta")], "missing"),
        (
            [
                "simulate",
                "doa",
                "--array",
                "uca:5:1",
                "--azimuth",
                "1",
                "--freq-hz",
                "0",
                "--out",
                str(tmp_path / "z"),
            ],
            "freq",
        ),
        (
            ["simulate", "doa", "--array", "hex:5:1", "--azimuth", "1", "--out", str(base)],
            "array spec",
        ),
        (["calibrate", meta, "--out", str(tmp_path / "c.json")], "--azimuth DEG or --noise"),
    ]
    for argv, msg in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert msg in err and err.count("\n") == 0 and "Traceback" not in err, (argv, err)


def test_errors_name_the_file_field_and_frame(tmp_path, capsys):
    from unseen.sources import write_sigmf

    x = (np.random.default_rng(0).standard_normal((4, 20000)) * 0.1).astype(np.complex64)
    x[2, 9000] = np.nan
    bad = write_sigmf(tmp_path / "nan", x, 1e6, 100e6, datatype="cf32_le")
    rc = main(["doa", str(bad), "--array", "ula:4:0.5", "--frame", "4096", "--json"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"{bad}: samples contain NaN or Inf" in err
    assert "frame 2 (channel 2, sample 9000)" in err
    meta = tmp_path / "nofreq.sigmf-meta"
    doc = json.loads(bad.read_text())
    for cap in doc["captures"]:
        cap.pop("core:frequency")
    meta.write_text(json.dumps(doc))
    (tmp_path / "nofreq.sigmf-data").write_bytes(np.nan_to_num(x).tobytes("F"))
    rc = main(["doa", str(meta), "--array", "ula:4:0.5", "--frame", "4096", "--json"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{meta}: core:frequency" in err and "missing" in err


def test_array_file_heading_is_honoured_by_simulate_and_doa(tmp_path, capsys):
    from unseen.doa import Array

    spec = tmp_path / "arr.json"
    spec.write_text(json.dumps(Array.uca(5, 1.0, heading_deg=30.0).to_dict()))
    base = tmp_path / "h"
    argv = ["--azimuth", "40", "--samples", "4096", "--snr-db", "20", "--out", str(base)]
    assert main(["simulate", "doa", "--array", str(spec), *argv]) == 0
    rec = open_recording(f"{base}.sigmf-meta")
    assert rec.extensions["unseen:array"]["heading_deg"] == 30.0
    # a recording made with an explicit heading, read with the file: both must mean 30°
    assert main(["simulate", "doa", "--array", "uca:5:1.0", "--heading-deg", "30", *argv]) == 0
    capsys.readouterr()
    assert main(["doa", f"{base}.sigmf-meta", "--array", str(spec), "--json"]) == 0
    for row in lines(capsys):
        assert abs(wrap(row["azimuths_deg"][0] - 40.0)) < 1.0, row


def test_calibrate_refuses_nan_azimuth_and_dead_channels(tmp_path, capsys):
    from unseen.sources import write_sigmf

    base = tmp_path / "c"
    sim = ["--array", "uca:5:1.0", "--azimuth", "40", "--samples", "4096", "--out", str(base)]
    assert main(["simulate", "doa", *sim]) == 0
    meta = f"{base}.sigmf-meta"
    out = tmp_path / "cal.json"
    capsys.readouterr()
    assert main(["calibrate", meta, "--azimuth", "nan", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "finite" in err and err.count("\n") == 0 and not out.exists(), err
    rec = open_recording(meta)
    x = rec.read().samples.copy()
    x[2] = 0
    write_sigmf(
        tmp_path / "dead", x, rec.sample_rate_hz, rec.center_freq_hz,
        extensions={"unseen:array": rec.extensions["unseen:array"]},
    )  # fmt: skip
    for extra in (["--azimuth", "40"], ["--noise-source"]):
        capsys.readouterr()
        assert (
            main(["calibrate", str(tmp_path / "dead.sigmf-meta"), *extra, "--out", str(out)]) == 2
        )
        err = capsys.readouterr().err.strip()
        assert "channel 2" in err and err.count("\n") == 0 and not out.exists(), err
