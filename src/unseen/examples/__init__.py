"""Example files that ship with unseen: `python -m unseen.examples NAME > NAME` writes one.

`names()` lists them, `text(name)` returns one; the documentation's examples use these files.
"""

from __future__ import annotations

from importlib.resources import files

from unseen.errors import InputError


def names() -> list[str]:
    """The example files' names, sorted."""
    root = files(__name__)
    return sorted(p.name for p in root.iterdir() if p.name.endswith((".csv", ".toml", ".json")))


def text(name: str) -> str:
    """The text of example `name` (one of `names()`)."""
    if name not in names():
        raise InputError(f"no example {name!r}; expected one of {', '.join(names())}")
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
