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

from unseen.geo import distance
from unseen.report.model import HuntResult

LEAFLET_PKG = "js_lib_leaflet"
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
                f"{e.semi_major_m:.1f} m × {e.semi_minor_m:.1f} m, major axis {e.orientation_deg:.0f}°",
            )
        )
        rows.append(("CEP50", f"{f.cep50_m:.1f} m"))
    for sid, why in result.rejected.items():
        rows.append((f"rejected {sid}", why))
    if result.naive_fix is not None and f is not None:
        d = float(
            distance(f.lat_deg, f.lon_deg, result.naive_fix.lat_deg, result.naive_fix.lon_deg)
        )
        rows.append(("naive fix (no rejection)", f"{d:.0f} m from the robust fix"))
    if result.truth is not None and f is not None:
        d = float(distance(f.lat_deg, f.lon_deg, result.truth.lat_deg, result.truth.lon_deg))
        rows.append((f"distance to {result.truth.name}", f"{d:.1f} m"))
    return rows


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>__LEAFLET_CSS__</style>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:10px 18px;background:#1d2a3a;color:#fff}
header h1{font-size:20px;margin:0}
main{padding:12px 18px;max-width:1200px}
#map{height:560px;border:1px solid #999;background:#eef3f7}
table.summary td{padding:2px 10px 2px 0;vertical-align:top}
table.summary td:first-child{font-weight:600;white-space:nowrap}
figure{margin:14px 0} figure svg{max-width:100%;height:auto}
.legend{background:#fff;padding:6px 8px;border-radius:4px;font-size:12px;line-height:1.5}
.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}
#timebox{margin:6px 0} #timebox input{width:420px;vertical-align:middle}
.note{color:#555;font-size:12px}
</style></head><body>
<header><h1>__TITLE__</h1></header>
<main>
<table class="summary">__SUMMARY__</table>
<div id="timebox">time <input id="time" type="range" min="0" max="1" step="any" value="1">
<span id="timelabel"></span></div>
<div id="map"></div>
<p class="note">The map needs no network: it shows the hunt area, a graticule and the outlines
from the scenario. Map tiles (OpenStreetMap) are an optional online layer in the layer menu.</p>
__FIGURES__
<script>__LEAFLET_JS__</script>
<script id="hunt-data" type="application/json">__DATA__</script>
<script>
(function(){
const D = JSON.parse(document.getElementById('hunt-data').textContent);
const [S, W, N, E] = D.area;
const map = L.map('map', {zoomSnap: 0.25, preferCanvas: false});
map.fitBounds([[S, W], [N, E]]);
L.control.scale({imperial: false, maxWidth: 200}).addTo(map);
const tiles = L.tileLayer(D.tile_url, {maxZoom: 19,
  attribution: '&copy; OpenStreetMap contributors'});
const backdrop = L.layerGroup().addTo(map);
L.rectangle([[S, W], [N, E]], {color: '#557', weight: 1, fill: false, dashArray: '4 4'}).addTo(backdrop);
const step = D.graticule_deg;
for (let la = Math.ceil(S / step) * step; la <= N; la += step) {
  L.polyline([[la, W], [la, E]], {color: '#aab', weight: 0.6}).bindTooltip(la.toFixed(3) + '°N').addTo(backdrop);
}
for (let lo = Math.ceil(W / step) * step; lo <= E; lo += step) {
  L.polyline([[S, lo], [N, lo]], {color: '#aab', weight: 0.6}).bindTooltip(lo.toFixed(3) + '°E').addTo(backdrop);
}
const feats = D.geojson.features;
const by = r => feats.filter(f => f.properties.role === r);
const ll = c => [c[1], c[0]];
by('outline').forEach(f => L.polyline(f.geometry.coordinates.map(ll),
  {color: '#6b5b45', weight: 3}).bindTooltip(f.properties.name).addTo(backdrop));
const heat = L.layerGroup();
if (D.heatmap) { L.imageOverlay(D.heatmap.png, D.heatmap.bounds, {opacity: 0.85}).addTo(heat); heat.addTo(map); }
const rays = L.layerGroup().addTo(map), ells = L.layerGroup().addTo(map), fixes = L.layerGroup().addTo(map);
const routes = L.layerGroup().addTo(map), stations = L.layerGroup().addTo(map);
by('route').forEach(f => L.polyline(f.geometry.coordinates.map(ll),
  {color: f.properties.color, weight: 4, opacity: 0.8}).bindTooltip(f.properties.name + ' route').addTo(routes));
by('station').forEach(f => {
  const p = f.properties;
  L.circleMarker(ll(f.geometry.coordinates), {radius: 7, color: '#000', weight: 1.5,
    fillColor: p.color, fillOpacity: 1}).bindTooltip(p.name + (p.rejected ? ' — rejected: ' + p.reason : ''),
    {permanent: !p.mobile, direction: 'right'}).addTo(stations);
});
const times = feats.filter(f => f.properties.time_s !== undefined).map(f => f.properties.time_s);
const tmin = Math.min(...times, 0), tmax = Math.max(...times, 1);
const slider = document.getElementById('time');
slider.min = tmin; slider.max = tmax; slider.value = tmax;
const nfix = by('fix').length;
function draw(t) {
  rays.clearLayers(); ells.clearLayers(); fixes.clearLayers();
  by('bearing').filter(f => f.properties.time_s <= t).forEach(f => {
    const p = f.properties;
    L.polyline(f.geometry.coordinates.map(ll), {color: p.color, weight: p.rejected ? 2 : 1.2,
      opacity: p.rejected ? 0.9 : 0.55, dashArray: p.rejected ? '6 5' : null})
      .bindTooltip(p.station + ' ' + p.azimuth_deg.toFixed(1) + '° ± ' + p.sigma_deg.toFixed(1) +
        '° at ' + p.time_s.toFixed(0) + ' s' + (p.rejected ? ' (rejected)' : '')).addTo(rays);
  });
  const shown = by('ellipse95').filter(f => f.properties.time_s <= t);
  shown.forEach((f, i) => {
    const last = i === shown.length - 1;
    L.polygon(f.geometry.coordinates[0].map(ll), {color: last ? '#000' : '#444', weight: last ? 2.5 : 1,
      opacity: last ? 1 : 0.35 + 0.5 * i / Math.max(shown.length, 1), fill: last, fillOpacity: 0.08})
      .bindTooltip('95% ellipse at ' + f.properties.time_s.toFixed(0) + ' s: ' +
        f.properties.semi_major_m.toFixed(0) + ' × ' + f.properties.semi_minor_m.toFixed(0) + ' m').addTo(ells);
  });
  const fx = by('fix').filter(f => f.properties.time_s <= t);
  fx.forEach((f, i) => {
    const last = i === fx.length - 1;
    L.circleMarker(ll(f.geometry.coordinates), {radius: last ? 6 : 3, color: '#000', weight: 1,
      fillColor: last ? '#ffd400' : '#888', fillOpacity: 1})
      .bindTooltip((f.properties.final ? 'final fix' : 'fix') + ' at ' + f.properties.time_s.toFixed(0) + ' s').addTo(fixes);
  });
  document.getElementById('timelabel').textContent = Number(t).toFixed(0) + ' s · ' + fx.length + ' of ' + nfix + ' fixes';
}
slider.addEventListener('input', () => draw(Number(slider.value)));
draw(tmax);
by('naive-fix').forEach(f => L.circleMarker(ll(f.geometry.coordinates), {radius: 5, color: '#c00',
  weight: 2, fill: false}).bindTooltip('naive fix (no rejection)').addTo(map));
by('truth').forEach(f => L.circleMarker(ll(f.geometry.coordinates), {radius: 5, color: '#0a0',
  weight: 2, fillColor: '#0f0', fillOpacity: 0.6}).bindTooltip(f.properties.name).addTo(map));
L.control.layers({}, {'OpenStreetMap tiles (online)': tiles, 'likelihood heatmap': heat,
  'bearings': rays, '95% ellipses': ells, 'fixes': fixes, 'route': routes}, {collapsed: false}).addTo(map);
const legend = L.control({position: 'bottomleft'});
legend.onAdd = function () {
  const div = L.DomUtil.create('div', 'legend');
  div.innerHTML = by('station').map(f => '<i style="background:' + f.properties.color + '"></i>' +
    f.properties.name).join('<br>') + '<br><i style="background:#ffd400;border:1px solid #000"></i>fix';
  return div;
};
legend.addTo(map);
window.unseenReady = true;
})();
</script>
</main></body></html>
"""


def render_html(
    result: HuntResult, geojson: dict, figures: dict[str, str | None], heatmap_png: bytes | None
) -> str:
    """The report page as one string (no external references)."""
    css, js = leaflet_inline()
    s, w, n, e = result.area
    span = max(n - s, e - w)
    grat = min(
        (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0), key=lambda g: abs(span / g - 8)
    )
    data: dict = {
        "area": [s, w, n, e],
        "geojson": geojson,
        "tile_url": TILE_URL,
        "graticule_deg": grat,
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
        f'<figure id="fig-{k}"><figcaption><b>{html.escape(titles.get(k, k))}</b></figcaption>{svg}</figure>'
        for k, svg in figures.items()
        if svg
    )
    notes = "".join(f'<p class="note">{html.escape(t)}</p>' for t in result.notes)
    page = _PAGE
    for key, val in (
        ("__LEAFLET_CSS__", css),
        ("__SUMMARY__", summary),
        ("__FIGURES__", figs + notes),
        ("__DATA__", _json_script(data)),
        ("__TITLE__", html.escape(result.title)),
    ):
        page = page.replace(key, val)
    return page.replace("__LEAFLET_JS__", js.replace("</script", "<\\/script"))
