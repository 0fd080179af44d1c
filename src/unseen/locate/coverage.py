"""Does a fix's confidence ellipse cover a point? (For checks against truth and reports.)"""

from __future__ import annotations

import numpy as np

from unseen.types import Fix


def inside_ellipse(fix: Fix, lat_deg: float, lon_deg: float, p: float = 0.95) -> tuple[bool, float]:
    """Is (lat, lon) inside the fix's p-confidence ellipse? Returns (inside, Mahalanobis d²),
    d² = vᵀ C⁻¹ v with v the point's east/north offset from the fix (m), C the fix's 2×2 cov."""
    from unseen.geo import chi2_2, geodetic2enu

    e, n, _ = geodetic2enu(lat_deg, lon_deg, fix.alt_m, fix.lat_deg, fix.lon_deg, fix.alt_m)
    C = np.asarray(fix.cov_enu_m2, dtype=float)[:2, :2]
    v = np.array([e, n])
    d2 = float(v @ np.linalg.solve(C, v))
    return d2 <= chi2_2(p), d2
