"""Every numeric option of every command refuses hostile values with one line and exit 2.

The commands and their options are read from the typer app itself, so a new command or option
is covered without editing this file. Each option gets NaN, ±inf, a huge value and, where
`unseen.cli.options.LIMITS` bounds it, a value just outside its range.
"""

from __future__ import annotations

import inspect
import typing

import pytest
import typer

from unseen.cli import app, main
from unseen.cli.options import LIMITS, commands

HOSTILE = ["nan", "inf", "-inf", "-1e308", "1e308"]


def _numeric_options() -> list[tuple[tuple[str, ...], str, str, list[str]]]:
    group = typer.main.get_command(app)
    out = []
    for path, info in commands(app):
        click_cmd = group
        for name in path:
            click_cmd = click_cmd.commands[name]
        hints = typing.get_type_hints(info.callback, include_extras=True)
        required: list[str] = []
        for p in click_cmd.params:
            if p.required:
                if p.param_type_name == "argument":
                    required.append("x")
                else:
                    required += [p.opts[0], "1" if p.name == "azimuth" else "x"]
        for pname in inspect.signature(info.callback).parameters:
            hint = str(hints.get(pname, ""))
            if "float" not in hint and "int" not in hint.replace("print", ""):
                continue
            opt = next((q for q in click_cmd.params if q.name == pname), None)
            if opt is None or opt.param_type_name != "option":
                continue
            out.append((path, pname, opt.opts[0], required))
    return out


def _outside(lim: tuple[float | None, float | None, bool]) -> str:
    lo, hi, lo_open = lim
    if lo is not None:
        return repr(lo if lo_open else lo - 1)
    return repr(hi * 10 + 1)


OPTIONS = _numeric_options()


def test_every_command_has_been_seen():
    names = {" ".join(p) for p, *_ in OPTIONS}
    assert {"doa", "tdoa", "detect", "simulate doa", "locate"} <= names


@pytest.mark.parametrize(
    ("path", "pname", "flag", "required"),
    OPTIONS,
    ids=[f"{' '.join(p)} {f}" for p, _, f, _ in OPTIONS],
)
def test_numeric_option_refuses_hostile_values(path, pname, flag, required, capsys):
    bad_values = list(HOSTILE)
    if pname in LIMITS:
        bad_values.append(_outside(LIMITS[pname]))
    for bad in bad_values:
        rc = main([*path, *required, flag, bad])
        err = capsys.readouterr().err.strip()
        assert rc == 2, f"{' '.join(path)} {flag} {bad}: exit {rc}, {err!r}"
        assert "Traceback" not in err
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("unseen: error: "), err
        assert flag in lines[0] or "Invalid value" in lines[0], err
