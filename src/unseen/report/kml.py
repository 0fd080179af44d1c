"""The hunt as KML for Google Earth and friends (simplekml): stations, route, rays, fixes."""

from __future__ import annotations

from pathlib import Path

import simplekml

from unseen.geo.gridref import grid_refs
from unseen.report.geojson import ellipse_ring, ray_length, station_colors
from unseen.report.model import HuntResult


def _kml_color(hex_rgb: str, alpha: int = 255) -> str:
    """'#rrggbb' → KML 'aabbggrr'."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha:02x}{b}{g}{r}"


def _utc(result: HuntResult, time_s: float) -> str:
    from unseen.report.figures import utc_text

    utc = utc_text(result, time_s)
    return f" ({utc} UTC)" if utc else ""


def write_kml(result: HuntResult, path: str | Path, tracks=()) -> Path:
    """Write `result` as KML: folders Stations, Route, Bearings, Fixes and 95 % ellipses (and
    Tracks, given the track updates)."""
    from unseen.geo import forward

    colors = station_colors(result)
    names = {st.id: st.name for st in result.stations}
    kml = simplekml.Kml(name=result.title)
    fs = kml.newfolder(name="Stations")
    for st in result.stations:
        p = fs.newpoint(name=st.name, coords=[(st.lon_deg[0], st.lat_deg[0])])
        p.description = f"station {st.id}" + (
            f"; rejected: {result.rejected[st.id]}" if st.id in result.rejected else ""
        )
        p.style.iconstyle.color = _kml_color(colors[st.id])
        if st.mobile and len(st.times_s) > 1:
            ls = kml.newfolder(name="Route").newlinestring(
                name=f"{st.name} route",
                coords=list(zip(st.lon_deg, st.lat_deg, strict=True)),
            )
            ls.style.linestyle.color = _kml_color(colors[st.id])
            ls.style.linestyle.width = 3
    fb = kml.newfolder(name="Bearings")
    for b in result.bearings:
        lat2, lon2, _ = forward(
            b.site.lat_deg, b.site.lon_deg, b.azimuth_deg, ray_length(result, b)
        )
        ls = fb.newlinestring(
            name=f"{names.get(b.site.station, b.site.station)} {b.azimuth_deg:.1f}° at "
            f"{b.time_s:.0f} s" + (" (rejected)" if b.site.station in result.rejected else ""),
            coords=[(b.site.lon_deg, b.site.lat_deg), (float(lon2), float(lat2))],
        )
        rejected = b.site.station in result.rejected
        ls.style.linestyle.color = _kml_color(
            colors.get(b.site.station, "#1f77b4"), 90 if rejected else 200
        )
        ls.style.linestyle.width = 1
    ff = kml.newfolder(name="Fixes")
    fe = kml.newfolder(name="95% ellipses")
    for i, f in enumerate(result.fixes):
        final = i == len(result.fixes) - 1
        p = ff.newpoint(
            name=("final fix" if final else f"fix {i}"), coords=[(f.lon_deg, f.lat_deg)]
        )
        g = grid_refs(f.lat_deg, f.lon_deg)
        p.description = (
            (f"UTM {g['utm']}, MGRS {g['mgrs']}; " if g else "")
            + f"t = {f.time_s:.1f} s{_utc(result, f.time_s)}, {f.method}, {f.n_used} observations, "
            f"95% ellipse {f.ellipse95.semi_major_m:.0f} × {f.ellipse95.semi_minor_m:.0f} m"
            + (f", rejected {', '.join(names.get(r, r) for r in f.rejected)}" if f.rejected else "")
        )
        pol = fe.newpolygon(
            name=f"95% ellipse at {f.time_s:.0f} s",
            outerboundaryis=[tuple(c) for c in ellipse_ring(f.lat_deg, f.lon_deg, f.ellipse95)],
        )
        pol.style.polystyle.color = _kml_color("#000000", 40 if final else 0)
        pol.style.linestyle.color = _kml_color("#000000", 255 if final else 120)
    if result.truth is not None:
        kml.newpoint(name=result.truth.name, coords=[(result.truth.lon_deg, result.truth.lat_deg)])
    if tracks:
        from unseen.report.tracks import add_kml

        add_kml(kml, list(tracks))
    out = Path(path)
    kml.save(str(out))
    return out
