"""The hunt's observations tracked over time (`unseen.track`): tracks.jsonl, GeoJSON, KML.

A transmitter that moves during the hunt is one track: its positions with 95 % ellipses against
time. GeoJSON roles: `track` (LineString per track), `track-point` (one per update, with time,
speed, UTM/MGRS and the ellipse) and `track-ellipse95` (the ellipse polygon every
`ELLIPSE_EVERY_S`).
"""

from __future__ import annotations

import json
from pathlib import Path

from unseen.geo.gridref import grid_refs
from unseen.report.geojson import ellipse_ring
from unseen.report.model import HuntResult
from unseen.track import TrackOptions, TrackUpdate, run, update_to_dict

ELLIPSE_EVERY_S = 10.0


def hunt_tracks(result: HuntResult) -> list[TrackUpdate]:
    """Track updates from the hunt's per-frame bearings (else its fix's bearings) and TDOAs (IMM:
    parked or driving); [] if none."""
    obs = [*(result.frame_bearings or result.bearings), *result.tdoas]
    if not obs:
        return []
    ups, _ = run(obs, TrackOptions(model="imm"))
    return ups


def write_tracks(updates: list[TrackUpdate], path: str | Path) -> Path:
    """tracks.jsonl: the `unseen track --json` output, one update per line in time order."""
    out = Path(path)
    with out.open("w", encoding="utf-8") as fh:
        for u in updates:
            fh.write(json.dumps(update_to_dict(u)) + "\n")
    return out


def track_features(updates: list[TrackUpdate]) -> list[dict]:
    """GeoJSON features of the tracks (confirmed and deleted updates only)."""
    feats: list[dict] = []
    by: dict[int, list[TrackUpdate]] = {}
    for u in updates:
        if u.status != "tentative":
            by.setdefault(u.track, []).append(u)
    for tid, us in by.items():
        pts = [u for u in us if u.status == "confirmed"]
        if not pts:
            continue
        feats.append({
            "type": "Feature",
            "geometry": {"type": "LineString",
                         "coordinates": [[round(u.lon, 7), round(u.lat, 7)] for u in pts]},
            "properties": {"role": "track", "track": tid, "freq_hz": pts[0].freq_hz,
                           "time_s": pts[0].time_s, "end_s": us[-1].time_s,
                           "deleted": us[-1].status == "deleted"},
        })  # fmt: skip
        last = -1e300
        for u in pts:
            e = u.ellipse95
            props = {"track": tid, "time_s": u.time_s, **grid_refs(u.lat, u.lon),
                     "speed_m_s": u.speed_m_s,
                     "semi_major_m": e.semi_major_m, "semi_minor_m": e.semi_minor_m,
                     "orientation_deg": e.orientation_deg}  # fmt: skip
            feats.append({"type": "Feature",
                          "geometry": {"type": "Point", "coordinates": [u.lon, u.lat]},
                          "properties": {"role": "track-point", **props}})  # fmt: skip
            if u.time_s - last >= ELLIPSE_EVERY_S or u is pts[-1]:
                last = u.time_s
                ring = ellipse_ring(u.lat, u.lon, e)
                feats.append({"type": "Feature",
                              "geometry": {"type": "Polygon", "coordinates": [ring]},
                              "properties": {"role": "track-ellipse95", **props}})  # fmt: skip
    return feats


def add_kml(kml, updates: list[TrackUpdate]) -> None:
    """A "Tracks" folder: each track's path and its 95 % ellipses every ELLIPSE_EVERY_S."""
    feats = track_features(updates)
    if not feats:
        return
    folder = kml.newfolder(name="Tracks")
    for f in feats:
        p = f["properties"]
        if p["role"] == "track":
            coords = [tuple(c) for c in f["geometry"]["coordinates"]]
            ls = folder.newlinestring(name=f"track {p['track']}", coords=coords)
            ls.style.linestyle.color = "ff00a5ff"
            ls.style.linestyle.width = 3
        elif p["role"] == "track-ellipse95":
            pol = folder.newpolygon(
                name=f"track {p['track']} 95% ellipse at {p['time_s']:.0f} s",
                outerboundaryis=[tuple(c) for c in f["geometry"]["coordinates"][0]],
            )
            pol.description = f"position {p.get('utm', '')} / {p.get('mgrs', '')}"
            pol.style.polystyle.color = "2000a5ff"
            pol.style.linestyle.color = "ff00a5ff"
