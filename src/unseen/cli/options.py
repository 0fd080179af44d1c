"""Numeric command-line options checked once, by name, before any command runs.

Options carry their unit in their name (`--bandwidth-hz`, `--max-duration-s`), so the limits
follow from the name: every number must be finite, and the table below bounds the ones whose
physics bounds them. A bad value is a one-line `InputError` naming the option (exit 2).
`harden(app)` wraps every registered command's callback with this check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from unseen import validate

SampleRateHz = Annotated[
    float | None, typer.Option(help="Sample rate (Hz) where the recording lacks it (raw files).")
]
CenterFreqHz = Annotated[
    float | None, typer.Option(help="Centre frequency (Hz) where the recording lacks it.")
]
"""The two options every command reading recordings takes for what their metadata lacks."""

# name: (lo, hi, lo_open) — a value outside is refused; names not listed need only be finite.
LIMITS: dict[str, tuple[float | None, float | None, bool]] = {
    "freq_hz": (0.0, 1e12, True),
    "center_freq_hz": (0.0, 1e12, True),
    "target_freq_hz": (0.0, 1e12, True),
    "reference_freq_hz": (0.0, 1e12, True),
    "sample_rate_hz": (0.0, 1e10, True),
    "bandwidth_hz": (0.0, 1e10, True),
    "reference_bandwidth_hz": (0.0, 1e10, True),
    "min_bandwidth_hz": (0.0, 1e10, False),
    "duration_s": (0.0, 1e7, True),
    "max_duration_s": (0.0, 1e7, True),
    "start_s": (0.0, 1e9, False),
    "stop_s": (0.0, 1e9, True),
    "sigma_sys_s": (0.0, 1.0, False),
    "sigma_floor_deg": (0.0, 180.0, False),
    "min_sigma_deg": (0.0, 180.0, False),
    "heading_deg": (-360.0, 360.0, False),
    "azimuth": (-360.0, 360.0, False),
    "step_deg": (1e-3, 10.0, False),
    "phase_error_deg": (0.0, 180.0, False),
    "snr_db": (-100.0, 200.0, False),
    "pfa": (0.0, 0.5, True),
    "year": (1900.0, 2100.0, False),
    "nfft": (16.0, 2.0**24, False),
    "frame": (2.0, 2.0**24, False),
    "samples": (1.0, 2.0**31, False),
    "smoothing": (2.0, 256.0, False),
    "sources": (0.0, 255.0, False),
    "process_noise_m_s2": (0.0, 1e4, False),
}


def check(name: str, value: Any) -> None:
    """Refuse a non-finite or out-of-range numeric option `name` (Python name) with one line."""
    if isinstance(value, bool) or value is None:
        return
    values = value if isinstance(value, list | tuple) else [value]
    flag = "--" + name.replace("_", "-")
    lo, hi, lo_open = LIMITS.get(name, (None, None, False))
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool):
            validate.number(v, flag, lo=lo, hi=hi, lo_open=lo_open)


def checked(fn: Callable) -> Callable:
    """`fn` with its numeric keyword arguments checked by `check` first."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            check(name, value)
        return fn(*args, **kwargs)

    return wrapper


def commands(app: typer.Typer, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(command path, CommandInfo) of every command registered on `app` and its sub-apps."""
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        yield (*path, name), info
    for group in app.registered_groups:
        yield from commands(group.typer_instance, (*path, group.name))


def harden(app: typer.Typer) -> None:
    """Wrap every command callback of `app` (once) with the numeric option check."""
    for _, info in commands(app):
        if info.callback is not None and not getattr(info.callback, "_checked", False):
            info.callback = checked(info.callback)
            info.callback._checked = True  # type: ignore[attr-defined]
