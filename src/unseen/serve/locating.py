"""The bridge from stored API rows to the locate stage (`unseen.locate`).

API observation rows are `unseen locate` rows plus `id`, `hunt` (and `seq` once stored);
`detection` rows are not measurements of position and are left out of the fusion. Sigmas are
floored at fusion (`SIGMA_FLOOR`, the rows are stored as sent), and a warm-started solve is
checked against a cold one (`solve_rows`). Bearings that carry
`sigma_sys_deg` (a station agent's: the error its calibration leaves common to all of a
station's bearings) are fused as the hunt fuses them (`unseen.locate.aggregate`), so many
bearings from one site do not shrink the ellipse as if independent.
"""

from __future__ import annotations

import numpy as np

from unseen.errors import GeometryError
from unseen.locate.floors import FIELD_MIN_SIGMA_DEG, MIN_SIGMA_DB, MIN_SIGMA_S
from unseen.types import Observation

# Minima of a stated uncertainty (`unseen.locate.floors`: a field station's bearing, clocks,
# levels). A smaller sigma is floored here, so that one row with sigma_deg = 1e-300 cannot
# outweigh (or freeze) the rest of a hunt.
SIGMA_FLOOR = {"sigma_deg": FIELD_MIN_SIGMA_DEG, "sigma_s": MIN_SIGMA_S, "sigma_db": MIN_SIGMA_DB}


def floored(row: dict) -> dict:
    """`row` with each sigma raised to its `SIGMA_FLOOR` (a new dict when anything changed)."""
    low = {
        k: f for k, f in SIGMA_FLOOR.items() if isinstance(row.get(k), int | float) and row[k] < f
    }
    return {**row, **low} if low else row


def observations(rows: list[dict]) -> list[Observation]:
    """Typed observations of the bearing, TDOA and signal-strength rows; bearings with
    `sigma_sys_deg` aggregated per station first."""
    from unseen.locate.aggregate import aggregate_bearings
    from unseen.locate.io import row_to_observation

    shared, sys, rest = [], [], []
    for r in rows:
        if r.get("kind") not in ("bearing", "tdoa", "rssi"):
            continue
        r = floored(r)
        obs = row_to_observation(r, f"observation {r.get('id')}")[1]
        if r.get("kind") == "bearing" and r.get("sigma_sys_deg") is not None:
            shared.append(obs)
            sys.append(float(r["sigma_sys_deg"]))
        else:
            rest.append(obs)
    return [*aggregate_bearings(shared, sys), *rest] if shared else rest


def solve_rows(rows: list[dict], initial: tuple[float, float] | None, hunt: str) -> dict:
    """Fuse `rows` into a fix (the `unseen locate` output object), warm-started at `initial`.

    Every update is also solved cold (`unseen.locate.solve` with `cold_check`): the warm answer
    is kept only inside the cold fix's 95 % ellipse, so a warm start that settled in another
    minimum (a reflected bearing fitting beside the others) never outvotes the cold solve.
    """
    from unseen.locate import solve
    from unseen.locate.io import fix_to_dict

    obs = observations(rows)
    if not obs:
        raise GeometryError(f"hunt {hunt!r}: no bearings, TDOAs or signal strengths to locate")
    fix = solve(obs, robust=True, group=hunt, initial=initial, cold_check=True)
    out = fix_to_dict(fix)
    out["time_s"] = max(o.time_s for o in obs)
    return out


def warm_up() -> None:
    """Import the locate stage and run each solve path once (start-up, not the first request)."""
    from geographiclib.geodesic import Geodesic

    target = (48.64985, -2.02720)
    sites = [(48.6325, -2.06), (48.637, -2.028), (48.657, -1.99)]
    rows = [
        {"id": str(i), "kind": "bearing", "station": f"s{i}", "time_s": 0.0, "lat": la,
         "lon": lo, "sigma_deg": 1.0,
         "bearing_deg": Geodesic.WGS84.Inverse(la, lo, *target)["azi1"] % 360.0}
        for i, (la, lo) in enumerate(sites)
    ]  # fmt: skip
    first = solve_rows(rows, None, "warm-up")
    solve_rows(rows, (first["lat"], first["lon"]), "warm-up")
    heatmap(rows, target, 100.0, 8)


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
