"""Validation shared by every parser: numbers, choices, text, CSV, JSON and memory budgets.

Each function either returns the checked value or raises `InputError` (or the `error` class
given) with one line that names where the value came from (`where`: file, line, field) and what
was expected. Limits are stated here once:

- `MAX_TEXT_BYTES` (64 MiB): a configuration, registry or observation text file read whole;
- `MAX_FIELD_CHARS` (64 KiB): one CSV cell;
- `MAX_JSON_DEPTH` (64): nesting of a JSON document or JSONL line;
- `MAX_INT_DIGITS` (64): digits of an integer literal in JSON;
- `memory_budget_bytes()` (`UNSEEN_MAX_MEMORY_GB`, default 4 GiB): what one allocation that a
  user's numbers size (simulated samples, grids) may take.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from unseen.errors import InputError

MAX_TEXT_BYTES = 64 * 1024**2
MAX_FIELD_CHARS = 64 * 1024
MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 64
DEFAULT_MEMORY_GB = 4.0


def number(
    value: Any,
    where: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    integer: bool = False,
    text: bool = True,
    error: type[InputError] = InputError,
) -> float:
    """`value` as a finite float (or int when `integer`) within [lo, hi] (open ends if asked).

    Strings are parsed when `text` (CSV cells), refused otherwise (typed TOML/JSON); booleans are
    refused; `where` names the field in errors.
    """
    v = value
    kind = "an integer" if integer else "a finite number"
    if isinstance(v, str) and text:
        text = v.strip()
        if len(text) > 64:
            raise error(f"{where}: expected a number, got a {len(text)}-character value")
        try:
            v = int(text) if integer else float(text)
        except ValueError:
            raise error(f"{where}: expected {kind}, got {value!r}") from None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise error(f"{where}: expected {kind}, got {_fmt(value)}")
    if integer and not (isinstance(v, int) or (math.isfinite(v) and float(v).is_integer())):
        raise error(f"{where}: expected an integer, got {value!r}")
    if isinstance(v, int) and abs(v) > 2**63:
        raise error(
            f"{where}: expected a number of sane size, got an integer of {len(str(abs(v)))} digits"
        )
    f = float(v)
    if not math.isfinite(f):
        raise error(f"{where}: expected a finite number, got {value!r}")
    if (lo is not None and (f < lo or (lo_open and f == lo))) or (
        hi is not None and (f > hi or (hi_open and f == hi))
    ):
        what = "an integer" if integer else "a value"
        rng = _interval(lo, hi, lo_open, hi_open)
        raise error(f"{where}: expected {what} {rng}, got {_fmt(value)}")
    return int(v) if integer else f


def choice(
    value: Any, where: str, choices: Sequence[str], error: type[InputError] = InputError
) -> str:
    """`value` if it is one of `choices`, else an error listing them."""
    if not isinstance(value, str) or value not in choices:
        raise error(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def read_text(
    path: str | Path,
    what: str = "file",
    error: type[InputError] = InputError,
    max_bytes: int = MAX_TEXT_BYTES,
) -> str:
    """A UTF-8 text file (a leading BOM, as Excel writes, is dropped), at most `max_bytes`."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise error(
                f"{p}: {what} of {size / 1024**2:.1f} MiB is larger than the "
                f"{max_bytes / 1024**2:.0f} MiB limit"
            )
        data = p.read_bytes()
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{p}: is a directory, expected a {what}") from None
    except OSError as exc:
        raise error(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    return decode(data, str(p), what, error)


def decode(
    data: bytes, source: str, what: str = "file", error: type[InputError] = InputError
) -> str:
    """Bytes as UTF-8 text, BOM dropped; a bad byte is named by its offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{source}: {what} is not UTF-8 text (byte {exc.start}: "
            f"{data[exc.start : exc.start + 1]!r})"
        ) from None


def csv_rows(
    text: str,
    source: str,
    *,
    required: Sequence[str] = (),
    error: type[InputError] = InputError,
    comments: bool = True,
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs of CSV `text`; names stripped, cells stripped.

    Blank lines and (when `comments`) lines starting with `#` are skipped. A duplicated or
    empty column name, a missing required column, a cell over `MAX_FIELD_CHARS`, or a row with
    more cells than the header is an error naming `source:line`.
    """
    lines = text.splitlines()
    keep = [
        (no, ln)
        for no, ln in enumerate(lines, start=1)
        if ln.strip() and not (comments and ln.lstrip().startswith("#"))
    ]
    if not keep:
        raise error(f"{source}: no header line; expected columns {', '.join(required)}")
    buf = io.StringIO("\n".join(ln for _, ln in keep))
    reader = csv.reader(buf, strict=True)
    numbers = [no for no, _ in keep]
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise error(f"{source}:{numbers[0]}: header is not valid CSV: {exc}") from None
    seen: set[str] = set()
    for h in header:
        if len(h) > 256:
            raise error(f"{source}:{numbers[0]}: a column name of {len(h)} characters")
        if h in seen:
            raise error(
                f"{source}:{numbers[0]}: column {h!r} appears twice; expected each column once"
            )
        seen.add(h)
    missing = [c for c in required if c not in seen]
    if missing:
        raise error(
            f"{source}:{numbers[0]}: header lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(required)}"
        )

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        idx = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                no = numbers[min(reader.line_num - 1, len(numbers) - 1)]
                raise error(f"{source}:{no}: not valid CSV: {exc}") from None
            no = numbers[min(reader.line_num - 1, len(numbers) - 1)]
            idx += 1
            if len(cells) > len(header):
                raise error(
                    f"{source}:{no}: {len(cells)} cells but the header has {len(header)} columns"
                )
            for c in cells:
                if len(c) > MAX_FIELD_CHARS:
                    raise error(
                        f"{source}:{no}: a cell of {len(c)} characters is over the "
                        f"{MAX_FIELD_CHARS}-character limit"
                    )
            yield (
                no,
                {
                    h: (cells[i].strip() if i < len(cells) else "")
                    for i, h in enumerate(header)
                    if h
                },
            )

    return header, rows()


def loads_json(text: str, source: str, error: type[InputError] = InputError) -> Any:
    """A JSON document with bounded nesting and integer size; errors name `source`."""
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth(text) > MAX_JSON_DEPTH:
        raise error(f"{source}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise error(f"{source}: not valid JSON: {exc}") from None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _depth(text: str) -> int:
    """Deepest bracket nesting of JSON `text`, strings ignored."""
    import numpy as np

    b = np.frombuffer(_STRING.sub("", text).encode(), np.uint8)
    step = np.isin(b, (91, 123)).astype(np.int64) - np.isin(b, (93, 125))
    return int(np.cumsum(step).max(initial=0))


def _parse_int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(s)} digits")
    return int(s)


def _no_constant(s: str) -> float:
    raise ValueError(f"{s} is not a JSON number")


def memory_budget_bytes() -> int:
    """The most one sized allocation may take: UNSEEN_MAX_MEMORY_GB (default 4) GiB."""
    raw = os.environ.get("UNSEEN_MAX_MEMORY_GB", "")
    try:
        gb = float(raw) if raw.strip() else DEFAULT_MEMORY_GB
    except ValueError:
        gb = DEFAULT_MEMORY_GB
    if not math.isfinite(gb) or gb <= 0:
        gb = DEFAULT_MEMORY_GB
    return int(gb * 1024**3)


def budget(nbytes: float, what: str, error: type[InputError] = InputError) -> None:
    """Refuse up front an allocation of `nbytes` over `memory_budget_bytes()`, naming `what`."""
    limit = memory_budget_bytes()
    if not math.isfinite(nbytes) or nbytes > limit:
        size = f"{nbytes / 1024**3:.3g} GiB" if math.isfinite(nbytes) else "unbounded memory"
        raise error(
            f"{what} would take {size}; the limit is {limit / 1024**3:.3g} GiB "
            "(set UNSEEN_MAX_MEMORY_GB to change it)"
        )


def _interval(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if hi is None and lo is not None:
        return f"{'>' if lo_open else '>='} {_fmt(lo)}"
    if lo is None and hi is not None:
        return f"{'<' if hi_open else '<='} {_fmt(hi)}"
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    return f"in {left}{_fmt(lo)}, {_fmt(hi)}{right}"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str) and len(v) > 40:
        return repr(v[:40] + "…")
    return str(v) if isinstance(v, int) else repr(v)
