"""The `unseen` command line: `main(argv=None) -> int` so tests call it directly.

Each command lives in a small module here and only calls the pipeline; errors from unseen become
one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import sys
import typing
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from unseen.cli.app import app
from unseen.errors import UnseenError

from . import doa, hunt, locate, rss, serve, signals, track  # noqa: F401  (registers commands)
from .kernels import announce
from .options import harden

announce(app)
harden(app)

if TYPE_CHECKING:
    import click


def _caught(own: type | None, name: str) -> tuple[type, ...]:
    """typer's exception class `own` and click's class `name` where click is loaded: typer >= 0.20
    vendors click (importing click itself would cost start-up), older typer raises click's."""
    click = sys.modules.get("click")
    theirs = getattr(click.exceptions, name) if click is not None else None
    return tuple({c for c in (own, theirs) if c is not None})


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Every warning as one line on stderr, `unseen: warning: ...` (no source path or code)."""
    text = " ".join(str(message).split())
    print(f"unseen: warning: {text}", file=sys.stderr)


_CLICK_NAMES = {bool: "BOOLEAN", int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH"}


def _click_name(annotation: object) -> str:
    """Click's name for one Python type (FLOAT, INTEGER, TEXT, PATH)."""
    if isinstance(annotation, type):
        for base, name in _CLICK_NAMES.items():
            if issubclass(annotation, base):
                return name
        return annotation.__name__.upper()
    return str(annotation).upper()


def _plain_type(param: Any, ctx: Any = None) -> str | None:
    """Click's own name for a parameter's type (FLOAT, PATH, [a|b]), None for a flag."""
    if getattr(param, "is_flag", False):
        return None
    desc = getattr(param, "type_descriptor", None)
    if desc is None:
        return None
    if desc.is_choice and desc.choices is not None:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices) + "]"
    if desc.is_ranged:
        return _click_name(desc.annotation) + " RANGE"
    if desc.is_path:
        return "PATH"
    if desc.is_tuple:
        return " ".join(_click_name(a) for a in typing.get_args(desc.annotation))
    ann = desc.annotation
    if desc.is_list:
        args = typing.get_args(ann)
        return _click_name(args[0] if args else str)
    return _click_name(ann)


def _plain(cmd: click.Command) -> click.Command:
    """Help that prints click's plain type names instead of typer's `<float>`/`{recording}`.

    typer >= 0.22 renders Python annotations (`<list[float]>`, `<bool>`); the names click prints
    (FLOAT, PATH, RECORDING...) are what other command-line tools show, so every parameter of
    every command gets its click type name, and arguments an upper-case metavar.
    """
    for param in cmd.params:
        if getattr(param, "param_type_name", "") == "argument" and param.metavar is None:
            param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
            usage = param.metavar if param.required else f"[{param.metavar}]"
            param.get_usage_pieces = lambda ctx, u=usage: [u]  # type: ignore[attr-defined]
        param.display_type_rich = functools.partial(_plain_type, param)  # type: ignore[attr-defined]
    get_help_option = cmd.get_help_option

    def plain_help_option(ctx: Any) -> Any:
        opt = get_help_option(ctx)
        if opt is not None:
            opt.display_type_rich = functools.partial(_plain_type, opt)
        return opt

    cmd.get_help_option = plain_help_option  # type: ignore[method-assign]
    for sub in getattr(cmd, "commands", {}).values():
        _plain(sub)
    return cmd


try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # typer < 0.29 coerces through click's types, without pydantic
    RuntimeParam = None
if RuntimeParam is not None and not (  # a private API: use it only in the shape it was written for
    dataclasses.is_dataclass(RuntimeParam)
    and [f.name for f in dataclasses.fields(RuntimeParam)][:2] == ["parameter_info", "annotation"]
    and callable(getattr(RuntimeParam, "_coerce_value", None))
):
    RuntimeParam = None


if RuntimeParam is not None:

    @dataclasses.dataclass(frozen=True)
    class _Deferred(RuntimeParam):
        """typer's coercion built on first need: a missing value (None), or a string for a plain
        `str` parameter (no parser or click type of its own), is returned as typer's pydantic
        adapter would return it, without importing pydantic (~0.1 s)."""

        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            own = (getattr(self.parameter_info, k, None) for k in ("parser", "click_type"))
            if self.annotation is str and type(value) is str and all(o is None for o in own):
                return value
            real = build_runtime_param(self.descriptor)
            param._runtime_param = real
            return real._coerce_value(value, param=param, ctx=ctx)


def _defer_param(param: Any) -> None:
    desc = getattr(param, "type_descriptor", None)
    if RuntimeParam is None or desc is None or desc.file_annotation is not None:
        return
    if getattr(param, "_runtime_param", 0) is None:
        param._runtime_param = _Deferred(desc.parameter_info, desc.annotation, desc)


def _defer(cmd: click.Command) -> click.Command:
    """Give every typer parameter of `cmd` (its --help and subcommands too) a `_Deferred`
    coercion."""
    for param in cmd.params:
        _defer_param(param)
    get_help_option = cmd.get_help_option

    def deferred_help_option(ctx: Any) -> Any:
        opt = get_help_option(ctx)
        if opt is not None:
            _defer_param(opt)
        return opt

    cmd.get_help_option = deferred_help_option  # type: ignore[method-assign]
    for sub in getattr(cmd, "commands", {}).values():
        _defer(sub)
    return cmd


def _name(info: Any) -> str:
    return info.name or info.callback.__name__.replace("_", "-")


@functools.cache
def _command(only: str | None = None) -> click.Command:
    """The click command typer builds from `app`, built once per process; with `only`, the group
    holding that one top-level command (building all of them costs ~0.1 s)."""
    if only is None:
        return _defer(_plain(typer.main.get_command(app)))
    one = copy.copy(app)
    one.registered_commands = [i for i in app.registered_commands if _name(i) == only]
    one.registered_groups = []
    return _defer(_plain(typer.main.get_command(one)))


def _only(args: list[str]) -> str | None:
    """The top-level command `args` run when it is a plain registered command, else None."""
    if args and any(_name(i) == args[0] for i in app.registered_commands):
        return args[0]
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]); return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            rv = _command(_only(args)).main(args=args, prog_name="unseen", standalone_mode=False)
    except UnseenError as exc:
        print(f"unseen: error: {exc}", file=sys.stderr)
        return 2
    except _caught(typer.Exit, "Exit") as exc:
        return int(getattr(exc, "exit_code", 0))
    except _caught(typer.Abort, "Abort"):
        print("unseen: aborted", file=sys.stderr)
        return 130
    except _caught(getattr(typer, "TyperException", None), "ClickException") as exc:
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
