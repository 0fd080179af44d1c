"""First-run behaviour a newcomer sees: the kernel-compile notice, example files, grid refs."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_compile_notice_only_while_the_numba_cache_is_cold(tmp_path, monkeypatch, capsys):
    from unseen.cli.kernels import cold, notice

    (tmp_path / "tiny_kernels.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    mod = importlib.import_module("tiny_kernels")
    try:
        assert cold(("tiny_kernels",)) == ["tiny_kernels"]
        assert notice(("tiny_kernels",)) is True
        assert "compiling kernels (first run only" in capsys.readouterr().err
        assert mod.twice(21) == 42  # compiles and writes the on-disk cache
        assert cold(("tiny_kernels",)) == []
        assert notice(("tiny_kernels",)) is False
        assert capsys.readouterr().err == ""
    finally:
        sys.modules.pop("tiny_kernels", None)


@pytest.mark.parametrize(
    ("lat", "lon", "utm", "mgrs"),
    [
        # pyproj's UTM against the mgrs package: same zone, easting and northing digits
        (48.6493, -2.0257, "30U 571761 E 5388929 N", "30U WU 71761 88929"),
        (-33.86, 151.2, "56H 333491 E 6251909 N", "56H LH 33491 51909"),
        (60.0, 5.3, "32V 293694 E 6657183 N", "32V KM 93694 57183"),  # Norway exception
        # closed form: the equator at the prime meridian is 3° west of zone 31's central
        # meridian, E = 500 000 − k0·(the 3° arc) = 166 021 m, square AA (NGA lettering)
        (0.0, 0.0, "31N 166021 E 0 N", "31N AA 66021 00000"),
    ],
)
def test_grid_references_agree_between_utm_and_mgrs(lat, lon, utm, mgrs):
    from unseen.geo import gridref

    assert gridref.utm(lat, lon) == utm
    assert gridref.mgrs(lat, lon) == mgrs
    u, m = gridref.utm(lat, lon).split(), gridref.mgrs(lat, lon).split()
    assert u[0] == m[0]  # zone and latitude band
    assert u[1][-5:].zfill(5) == m[2] and u[3][-5:].zfill(5) == m[3]  # metres in the 100 km square


def test_grid_references_refuse_the_poles():
    from unseen.errors import InputError
    from unseen.geo import gridref

    with pytest.raises(InputError, match="latitudes"):
        gridref.mgrs(85.0, 0.0)


def test_examples_command_lists_and_prints(capsys):
    from unseen.examples.__main__ import main

    assert main([]) == 0
    assert "station.toml" in capsys.readouterr().out.split()
    assert main(["dcf77-stations.csv"]) == 0
    assert capsys.readouterr().out.startswith("station,lat,lon\n")
    assert main(["nope.csv"]) == 2
    assert "no example 'nope.csv'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["detect", "{rec}"],
        ["doa", "{rec}", "--frame", "1024"],
        ["calibrate", "{rec}", "--azimuth", "0", "--out", "{tmp}/cal.json"],
        ["tdoa", "{rec}", "{rec}"],
    ],
    ids=lambda a: a[0],
)
def test_every_option_an_error_suggests_exists_on_that_command(tmp_path, capsys, argv):
    """A recording without core:sample_rate: the one-line error names an option to give it,
    and that option is one of this command's."""
    import json
    import re

    from unseen.cli import _command, main

    base = tmp_path / "rec"
    assert main(["simulate", "doa", "--array", "uca:5:1.0", "--azimuth", "40",
                 "--samples", "2048", "--out", str(base)]) == 0  # fmt: skip
    meta = json.loads(base.with_suffix(".sigmf-meta").read_text())
    del meta["global"]["core:sample_rate"]
    base.with_suffix(".sigmf-meta").write_text(json.dumps(meta))
    capsys.readouterr()
    args = [a.format(rec=f"{base}.sigmf-meta", tmp=tmp_path) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    suggested = set(re.findall(r"(--[a-z][a-z-]+)", err))
    assert "--sample-rate-hz" in suggested, err
    options = {o for p in _command().commands[argv[0]].params for o in p.opts}
    assert suggested <= options, (err, suggested - options)


def test_every_command_help_uses_plain_type_names(capsys):
    """No `<bool>`, `<list[float]>` or `{choice}` in any command's help: every option's metavar
    is one of click's plain names."""
    import re

    import click

    from unseen.cli import _command, main

    def leaves(group: click.Group, path: list[str]):
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                yield from leaves(cmd, [*path, name])
            else:
                yield [*path, name]

    plain = {"TEXT", "FLOAT", "INTEGER", "PATH", "FILE", "FLOAT RANGE", "INTEGER RANGE"}
    seen = 0
    for cmd in leaves(_command(), []):
        assert main([*cmd, "--help"]) == 0
        text = capsys.readouterr().out
        assert "<" not in text.replace("<=", "") and "{" not in text, (cmd, text)
        for m in re.finditer(r"^\s+(?:-\w, )?--[\w-]+ ([A-Z][A-Z ]*?)(?:\s{2,}|$)", text, re.M):
            assert m.group(1).strip() in plain, (cmd, m.group(0))
            seen += 1
    assert seen > 50


def test_too_short_a_demo_says_when_the_pirate_comes_on_and_leaves_nothing(
    tmp_path, capsys, monkeypatch
):
    """Saint-Malo's pirate first transmits at t = 10 s (its schedule's offset_s): a 5 s demo
    is refused up front with an option `demo` has, and writes no report directory."""
    import tempfile

    from unseen.cli import _command, main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo", "--duration-s", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "first on the air at t = 10 s" in err and "--duration-s 20" in err, err
    options = {o for p in _command().commands["demo"].params for o in p.opts}
    assert "--duration-s" in options
    assert list(tmp_path.iterdir()) == []
