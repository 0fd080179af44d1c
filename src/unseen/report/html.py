"""A self-contained HTML report: Leaflet (inlined from django-js-lib-leaflet), data and figures.

Opened from disk it makes no network request: the map draws a tile-free backdrop (area frame,
graticule, outlines, scale) and map tiles are an optional layer switched on by the reader.
"""

from __future__ import annotations

import base64
import html
import json
import re
from importlib import resources

import numpy as np

from unseen.geo import distance
from unseen.report.model import HuntResult

LEAFLET_PKG = "js_lib_leaflet"
_STEPS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


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


def summary_rows(result: HuntResult) -> list[tuple[str, str]]:
    """The summary as (label, value) rows, shared by the HTML report and the CLI."""
    rows: list[tuple[str, str]] = []
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
            ("final fix", f"{f.lat_deg:.6f}, {f.lon_deg:.6f} ({f.method}, {f.n_used} observations)")
        )
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
        rows.append((f"rejected {sid}", why))
    if result.fixes and result.naive_fixes:
        first, naive = result.fixes[0], result.naive_fixes[0]
        if naive is None:
            how = "fused without rejection the observations admit no consistent fix"
        else:
            d = float(distance(first.lat_deg, first.lon_deg, naive.lat_deg, naive.lon_deg))
            how = f"fused without rejection it would lie {d:.0f} m away"
        rows.append(
            ("first fix", f"t = {first.time_s:.0f} s from {first.n_used} observations; {how}")
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


def _template() -> str:
    return (resources.files("unseen.report") / "template.html").read_text(encoding="utf-8")


def render_html(
    result: HuntResult, geojson: dict, figures: dict[str, str | None], heatmap_png: bytes | None
) -> str:
    """The report page as one string (no external references)."""
    css, js = leaflet_inline()
    s, w, n, e = result.area
    span = max(n - s, e - w)
    grat = min(_STEPS, key=lambda g: abs(span / g - 8))
    f = result.final
    closeup = 400.0
    if f is not None:
        closeup = float(np.clip(3 * result.fixes[0].ellipse95.semi_major_m, 250.0, 3000.0))
    zgrat = min(_STEPS, key=lambda g: abs(2 * closeup / 111_200 / g - 8))
    data: dict = {
        "area": [s, w, n, e],
        "geojson": geojson,
        "tile_url": TILE_URL,
        "graticule_deg": grat,
        "closeup_m": closeup,
        "closeup_graticule_deg": zgrat,
    }
    hm = result.heatmap
    if hm is not None and heatmap_png is not None:
        lat, lon = hm.lat_deg, hm.lon_deg
        dlat = (lat[-1] - lat[0]) / max(len(lat) - 1, 1) / 2
        dlon = (lon[-1] - lon[0]) / max(len(lon) - 1, 1) / 2
        data["heatmap"] = {
            "png": "data:image/png;base64," + base64.b64encode(heatmap_png).decode("ascii"),
            "bounds": [
                [float(lat[0] - dlat), float(lon[0] - dlon)],
                [float(lat[-1] + dlat), float(lon[-1] + dlon)],
            ],
        }
    summary = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in summary_rows(result)
    )
    titles = {
        "spectrum": "Spectrum: carriers found and checked against the licence registry",
        "doa": "DOA pseudo-spectra per station (north up, clockwise)",
        "timeline": "Fix error and 95% ellipse size against time",
    }
    figs = "".join(
        f'<figure id="fig-{k}"><figcaption><b>{html.escape(titles.get(k, k))}</b>'
        f"</figcaption>{svg}</figure>"
        for k, svg in figures.items()
        if svg
    )
    notes = "".join(f'<p class="note">{html.escape(t)}</p>' for t in result.notes)
    page = _template()
    for key, val in (
        ("__LEAFLET_CSS__", css),
        ("__SUMMARY__", summary),
        ("__FIGURES__", figs + notes),
        ("__DATA__", _json_script(data)),
        ("__TITLE__", html.escape(result.title)),
    ):
        page = page.replace(key, val)
    return page.replace("__LEAFLET_JS__", js.replace("</script", "<\\/script"))
