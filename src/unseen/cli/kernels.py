"""Say so when the numba kernels will compile on this run (a cold on-disk cache).

numba caches each `@njit(cache=True)` function in an index file (`*.nbi`) beside its module (or
under NUMBA_CACHE_DIR). The cache is cold when a kernel module's index files are missing: then
the first call compiles (tens of seconds) and the command would seem to freeze without a word.
A module counts as cold when none of its cached functions has an index yet (some, such as
helpers inlined into others, never get one): the first run after install or after the module
changed. A function compiled later for a new argument type (a new IQ datatype) is not announced.

The DOA kernels `unseen doa` runs (every method, the ML estimator `unseen.doa._ml_kernels`
included) are also compiled ahead of time at install (`unseen.doa._aot`); where that module is
usable, `unseen.doa._kernels` does not count as cold (checking it would import numba, the
start-up the AOT module saves). Without it, `--method ml` also compiles `_ml_kernels` on first
use, announced only when `_kernels` is cold too.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys

AOT = {"unseen.doa._kernels": "unseen.doa._aot"}
"""Kernel modules with an ahead-of-time twin that has `ready()`."""
MODULES = (
    "unseen.doa._kernels",
    "unseen.locate.grid",
    "unseen.tdoa.align",
    "unseen.track.kernels",
)


def cold(modules: tuple[str, ...] = MODULES) -> list[str]:
    """The kernel modules among `modules` none of whose cached functions is compiled on disk."""
    out = []
    for name in modules:
        try:
            if name in AOT and importlib.import_module(AOT[name]).ready():
                continue
            mod = importlib.import_module(name)
        except ImportError:
            continue
        indexes = [
            getattr(getattr(getattr(obj, "_cache", None), "_cache_file", None), "_index_path", None)
            for obj in vars(mod).values()
        ]
        indexes = [i for i in indexes if i is not None]
        if indexes and not any(os.path.exists(i) for i in indexes):
            out.append(name)
    return out


def notice(modules: tuple[str, ...] = MODULES) -> bool:
    """Print 'compiling kernels (first run only)' on stderr when `modules` need compiling."""
    todo = cold(modules)
    if todo:
        print(
            "unseen: compiling kernels (first run only, about 20-60 s; cached afterwards): "
            + ", ".join(n.removeprefix("unseen.") for n in todo),
            file=sys.stderr,
            flush=True,
        )
    return bool(todo)


# The kernel modules each command may compile on its first run.
USES = {
    ("doa",): ("unseen.doa._kernels",),
    ("calibrate",): ("unseen.doa._kernels",),
    ("tdoa",): ("unseen.tdoa.align",),
    ("track",): ("unseen.track.kernels",),
    ("hunt",): ("unseen.doa._kernels", "unseen.locate.grid", "unseen.tdoa.align"),
    ("demo",): ("unseen.doa._kernels", "unseen.locate.grid", "unseen.tdoa.align"),
}
# `station` calls `notice` itself once its config is read (a bad config is one line, no notice).


def announce(app) -> None:
    """Wrap the callbacks of the commands in USES so they call `notice` once arguments parsed."""
    from unseen.cli.options import commands

    for path, info in commands(app):
        mods = USES.get(path)
        if mods is None or info.callback is None or getattr(info.callback, "_announced", False):
            continue
        fn = info.callback

        @functools.wraps(fn)
        def wrapper(*args, _fn=fn, _mods=mods, **kwargs):
            if not kwargs.get("print_scenario"):
                notice(_mods)
            return _fn(*args, **kwargs)

        wrapper._announced = True  # type: ignore[attr-defined]
        info.callback = wrapper
