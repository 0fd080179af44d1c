"""Locate a file of any size in constant memory: groups are read, prepared and solved in chunks.

`locate_stream(source)` yields (group, Fix or error) in the file's group order. Bearing-only CSV
groups take a direct path from the row strings to arrays (Python's `float` on each field, the
same checks as `prepare`); any row that path does not accept goes through `row_to_observation`
and `prepare`, which give the usual one-line error naming line and column.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from itertools import chain
from pathlib import Path
from typing import IO, Any

import numpy as np

from unseen.errors import UnseenError
from unseen.locate.floors import MIN_SIGMA_DEG
from unseen.locate.io import FALSE, iter_groups, observations_of
from unseen.locate.prepare import DEFAULT_PATH_LOSS_EXPONENT, Prepared, prepare
from unseen.locate.solve import solve_prepared
from unseen.types import Fix

CHUNK = 2048  # groups solved together: large enough to amortise numpy, small enough for memory


def _floats(rows: list[list[str]], i: int) -> list[float]:
    return [float(r[i]) for r in rows]


def _optional(rows: list[list[str]], i: int | None) -> list[float]:
    if i is None:
        return [0.0] * len(rows)
    return [float(r[i]) if r[i] else 0.0 for r in rows]


def _bearings_fast(table, recs: list[tuple[Any, int]], group: str, dims: int) -> Prepared | None:
    """Prepared of a plain bearing-only CSV group straight from its strings, or None.

    The checks run on the parsed Python floats through C-level map/min/max (cheaper than numpy
    reductions on ten values): all finite, |lat| ≤ 90, |lon| ≤ 180, sigma > 0."""
    col, header = table.col, table.header
    if header is None or dims != 2:
        return None
    ki, si, la, lo = col["kind"], col["station"], col["lat"], col["lon"]
    bi, sgi = col.get("bearing_deg"), col.get("sigma_deg")
    if bi is None or sgi is None:
        return None
    ai, ti, fi, mi = (col.get(c) for c in ("alt_m", "time_s", "freq_hz", "magnetic"))
    width = len(header)
    rows = [r for r, _ in recs]
    if any(len(r) != width or r[ki] != "bearing" for r in rows):
        return None
    if mi is not None and any(r[mi] and r[mi].strip().lower() not in FALSE for r in rows):
        return None
    ids = [r[si].strip() for r in rows]
    if not all(ids):
        return None
    try:
        if fi is not None and not all(map(math.isfinite, _optional(rows, fi))):
            return None
        lat, lon, alt = _floats(rows, la), _floats(rows, lo), _optional(rows, ai)
        az, sigma, time_s = _floats(rows, bi), _floats(rows, sgi), _optional(rows, ti)
    except ValueError:
        return None
    # a NaN or ±inf anywhere makes the sum non-finite (an overflow only sends the group to
    # the general path, which gives the same answer)
    if not (
        math.isfinite(sum(chain(lat, lon, alt, az, sigma, time_s)))
        and max(map(abs, lat)) <= 90
        and max(map(abs, lon)) <= 180
        and min(sigma) > 0
    ):
        return None
    az = [a % 360.0 for a in az]
    sigma = [s if s >= MIN_SIGMA_DEG else MIN_SIGMA_DEG for s in sigma]
    b = np.array([lat, lon, alt, az, sigma, time_s], dtype=float).T
    return Prepared(
        group=group,
        b=b,
        b_ids=ids,
        t=np.zeros((0, 9)),
        t_ids=[],
        r=np.zeros((0, 6)),
        r_ids=[],
        ple=DEFAULT_PATH_LOSS_EXPONENT,
        alt=math.fsum(alt) / len(alt),
        dims=dims,
        time_s=max(time_s),
        index=list(range(len(rows))),
    )


def prepare_records(
    table,
    recs: list[tuple[Any, int]],
    group: str,
    *,
    dims: int = 2,
    year: float | None = None,
    rss_calibration: Mapping | None = None,
) -> Prepared:
    """One group's records → Prepared (InputError/GeometryError as `prepare` raises them);
    signal strengths corrected by `rss_calibration` (`rss_cal.load`) when given."""
    fast = _bearings_fast(table, recs, group, dims)
    if fast is not None:
        return fast
    obs = observations_of(table, recs)
    if rss_calibration is not None:
        from unseen.locate.rss_cal import apply

        obs = apply({group: obs}, rss_calibration)[0][group]
    return prepare(obs, group, dims=dims, year=year)


def locate_stream(
    source: str | Path | IO[str],
    *,
    robust: bool = True,
    dims: int = 2,
    year: float | None = None,
    chunk: int = CHUNK,
    rss_calibration: Mapping | None = None,
) -> Iterator[tuple[str, Fix | UnseenError]]:
    """(group, Fix or the error that group met) for every group of `source`, in file order.

    Structural faults of the file raise FileFormatError before anything is yielded.
    `rss_calibration` (from `unseen.locate.rss_cal.load`) corrects signal strengths and sets
    the RSS model.
    """
    rss_model = None
    if rss_calibration is not None:
        from unseen.locate.rss_cal import apply

        rss_model = apply({}, rss_calibration)[1]
    names: list[str] = []
    items: list[Prepared | UnseenError] = []

    def flush() -> Iterator[tuple[str, Fix | UnseenError]]:
        preps = [p for p in items if isinstance(p, Prepared)]
        solved = iter(solve_prepared(preps, robust=robust, rss_model=rss_model))
        for n, p in zip(names, items, strict=True):
            yield n, next(solved) if isinstance(p, Prepared) else p
        names.clear()
        items.clear()

    for g, recs, table in iter_groups(source):
        try:
            items.append(
                prepare_records(
                    table, recs, g, dims=dims, year=year, rss_calibration=rss_calibration
                )
            )
        except UnseenError as exc:
            items.append(exc)
        names.append(g)
        if len(names) >= chunk:
            yield from flush()
    yield from flush()
