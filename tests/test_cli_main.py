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
