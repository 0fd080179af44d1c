"""The CLI frame: usage errors and unseen errors are one clean message and a non-zero exit."""

import subprocess
import sys

from unseen.cli import main


def test_bad_option_value_is_a_usage_error(capsys):
    assert main(["doa", "missing.sigmf-meta", "--frame", "abc"]) == 2
    err = capsys.readouterr().err
    assert "--frame" in err and "Traceback" not in err


def test_unknown_command(capsys):
    assert main(["nosuch"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_missing_file_is_named_without_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "unseen", "doa", "no/such/file.sigmf-meta", "--array", "uca:5:1"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert "file.sigmf-meta" in out.stderr


def test_warnings_are_one_line(tmp_path, capsys):
    # λ/2 at 94.2 MHz is 1.59 m: a 2.5 m ULA has grating lobes and must say so in one line.
    base = tmp_path / "amb"
    rc = main(["simulate", "doa", "--array", "ula:4:2.5", "--azimuth", "20", "--freq-hz",
               "94.2e6", "--samples", "2048", "--out", str(base)])  # fmt: skip
    assert rc == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "grating" in ln]
    assert lines and all(ln.startswith("unseen: warning: ") for ln in lines)
    assert ".py:" not in err


def test_version_and_help_in_pipeline_order_with_plain_types(capsys):
    from unseen.cli import main
    from unseen.cli.app import PIPELINE_ORDER, package_version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"unseen {package_version()}"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    pos = [out.index(f" {name} ") for name in PIPELINE_ORDER]
    assert pos == sorted(pos)
    for cmd in (["tdoa"], ["simulate", "doa"], ["demo"], ["serve"], ["locate"]):
        assert main([*cmd, "--help"]) == 0
        text = capsys.readouterr().out
        assert "<" not in text.replace("<=", "").replace("</", "") and "{" not in text, text
    assert main(["tdoa", "--help"]) == 0
    assert "Usage: unseen tdoa [OPTIONS] RECORDINGS..." in capsys.readouterr().out


def test_demo_accepts_the_option_its_messages_suggest(capsys):
    from unseen.cli import main

    assert main(["demo", "--help"]) == 0
    assert "--target-freq-hz" in capsys.readouterr().out
