"""The `unseen` command line: `main(argv=None) -> int` so tests call it directly.

Each command lives in a small module here and only calls the pipeline; errors from unseen become
one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import sys
import warnings

import click
import typer

from unseen.cli.app import app
from unseen.errors import UnseenError

from . import doa, hunt, locate, rss, serve, signals, track  # noqa: F401  (registers commands)
from .options import harden

harden(app)

# typer >= 0.20 vendors click; older typer raises click's own exceptions. Catch both.
_EXIT = tuple({typer.Exit, click.exceptions.Exit})
_ABORT = tuple({typer.Abort, click.exceptions.Abort})
_USAGE = tuple({getattr(typer, "TyperException", click.ClickException), click.ClickException})


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Every warning as one line on stderr, `unseen: warning: ...` (no source path or code)."""
    text = " ".join(str(message).split())
    print(f"unseen: warning: {text}", file=sys.stderr)


@functools.cache
def _command() -> click.Command:
    """The click command typer builds from `app`, built once per process (it costs ~0.2 s)."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]); return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            rv = _command().main(args=args, prog_name="unseen", standalone_mode=False)
    except UnseenError as exc:
        print(f"unseen: error: {exc}", file=sys.stderr)
        return 2
    except _EXIT as exc:
        return int(getattr(exc, "exit_code", 0))
    except _ABORT:
        print("unseen: aborted", file=sys.stderr)
        return 130
    except _USAGE as exc:
        msg = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "unseen"
        print(f"unseen: error: {' '.join(msg.split())} (see '{where} --help')", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    except FileNotFoundError as exc:
        print(f"unseen: error: {exc.filename}: no such file", file=sys.stderr)
        return 2
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            return 0
        name = f"{exc.filename}: " if exc.filename else ""
        print(f"unseen: error: {name}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return rv if isinstance(rv, int) else 0
