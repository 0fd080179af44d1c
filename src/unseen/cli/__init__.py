"""The `unseen` command line: `main(argv=None) -> int` so tests call it directly.

Each command lives in a small module here and only calls the pipeline; errors from unseen become
one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys

import click

from unseen.cli.app import app
from unseen.errors import UnseenError

from . import doa, hunt, locate, serve, signals  # noqa: F401  (registers commands)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]); return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        rv = app(args=args, prog_name="unseen", standalone_mode=False)
    except UnseenError as exc:
        print(f"unseen: error: {exc}", file=sys.stderr)
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        print("unseen: aborted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
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
