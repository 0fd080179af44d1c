"""The bridge from stored API rows to the locate stage (`unseen.locate`)."""

from __future__ import annotations

from unseen.errors import GeometryError
from unseen.types import Bearing, Observation, SignalStrength, Site, Tdoa


def row_to_observation(row: dict) -> Observation | None:
    """An API observation row as a typed observation; None for kinds that are not measurements."""
    site = Site(row["station"], float(row["lat"]), float(row["lon"]), float(row.get("alt_m", 0.0)))
    kind = row["kind"]
    t = float(row["time_s"])
    f = row.get("freq_hz")
    if kind == "bearing":
        return Bearing(
            site,
            float(row["azimuth_deg"]),
            float(row["sigma_deg"]),
            t,
            f,
            bool(row.get("magnetic")),
        )
    if kind == "tdoa":
        b = Site(
            row["station_b"], float(row["lat_b"]), float(row["lon_b"]), float(row.get("alt_b_m", 0))
        )
        return Tdoa(site, b, float(row["tdoa_s"]), float(row["sigma_s"]), t, f)
    if kind == "rssi":
        return SignalStrength(
            site,
            float(row["rssi_dbm"]),
            float(row["sigma_db"]),
            t,
            f,
            row.get("path_loss_exponent"),
        )
    return None


def observations(rows: list[dict]) -> list[Observation]:
    return [o for o in map(row_to_observation, rows) if o is not None]


def solve_rows(rows: list[dict], initial: tuple[float, float] | None, hunt: str) -> dict:
    """Fuse `rows` into a fix (the `unseen locate` output object), warm-started at `initial`."""
    from unseen.locate import solve
    from unseen.locate.io import fix_to_dict

    obs = observations(rows)
    if not obs:
        raise GeometryError(f"hunt {hunt!r}: no bearings, TDOAs or signal strengths to locate")
    fix = solve(obs, robust=True, group=hunt, initial=initial)
    return fix_to_dict(fix)


def heatmap(rows: list[dict], center: tuple[float, float], half_m: float, n: int):
    """Likelihood of the transmitter on an n×n grid ±half_m around `center` (lat, lon)."""
    import numpy as np

    from unseen.locate.grid import likelihood_grid

    lat0, lon0 = center
    dlat = half_m / 111_132.0
    dlon = half_m / (111_320.0 * max(np.cos(np.radians(lat0)), 1e-6))
    lat = np.linspace(lat0 - dlat, lat0 + dlat, n)
    lon = np.linspace(lon0 - dlon, lon0 + dlon, n)
    values = np.asarray(likelihood_grid(observations(rows), lat, lon), dtype=float)
    if values.shape != (n, n):
        values = values.reshape(n, n)
    peak = float(np.nanmax(values)) if values.size else 0.0
    if peak > 0:
        values = values / peak
    return lat, lon, np.nan_to_num(values)
