"""The bridge from stored API rows to the locate stage (`unseen.locate`).

API observation rows are `unseen locate` rows plus `id`, `hunt` (and `seq` once stored);
`detection` rows are not measurements of position and are left out of the fusion. Bearings that
carry `sigma_sys_deg` (a station agent's: the error its calibration leaves common to all of a
station's bearings) are fused as the hunt fuses them (`unseen.locate.aggregate`), so many
bearings from one site do not shrink the ellipse as if independent.
"""

from __future__ import annotations

import numpy as np

from unseen.errors import GeometryError
from unseen.types import Observation


def observations(rows: list[dict]) -> list[Observation]:
    """Typed observations of the bearing, TDOA and signal-strength rows; bearings with
    `sigma_sys_deg` aggregated per station first."""
    from unseen.locate.aggregate import aggregate_bearings
    from unseen.locate.io import row_to_observation

    shared, sys, rest = [], [], []
    for r in rows:
        if r.get("kind") not in ("bearing", "tdoa", "rssi"):
            continue
        obs = row_to_observation(r, f"observation {r.get('id')}")[1]
        if r.get("kind") == "bearing" and r.get("sigma_sys_deg") is not None:
            shared.append(obs)
            sys.append(float(r["sigma_sys_deg"]))
        else:
            rest.append(obs)
    return [*aggregate_bearings(shared, sys), *rest] if shared else rest


def solve_rows(rows: list[dict], initial: tuple[float, float] | None, hunt: str) -> dict:
    """Fuse `rows` into a fix (the `unseen locate` output object), warm-started at `initial`."""
    from unseen.locate import solve
    from unseen.locate.io import fix_to_dict

    obs = observations(rows)
    if not obs:
        raise GeometryError(f"hunt {hunt!r}: no bearings, TDOAs or signal strengths to locate")
    out = fix_to_dict(solve(obs, robust=True, group=hunt, initial=initial))
    out["time_s"] = max(o.time_s for o in obs)
    return out


def heatmap(
    rows: list[dict], center: tuple[float, float], half_m: float, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative likelihood exp(L − max L) on an n×n grid ±half_m around `center` (lat, lon)."""
    from unseen.locate.grid import likelihood_grid

    lat0, lon0 = center
    dlat = half_m / 111_132.0
    dlon = half_m / (111_320.0 * max(np.cos(np.radians(lat0)), 1e-6))
    lat = np.linspace(lat0 - dlat, lat0 + dlat, n)
    lon = np.linspace(lon0 - dlon, lon0 + dlon, n)
    loglik = np.asarray(likelihood_grid(observations(rows), lat, lon), dtype=float)
    values = np.exp(loglik - np.nanmax(loglik))
    return lat, lon, np.nan_to_num(values)
