"""The hunt report: `index.html` (self-contained, offline), `hunt.geojson`, `hunt.kml`,
`observations.csv` (the `unseen locate` input format), `fixes.jsonl` (its output format) and
`tracks.jsonl` (the `unseen track --json` output on the same observations)."""

from __future__ import annotations

import json
from pathlib import Path

from unseen.report.model import HuntResult


def write_report(result: HuntResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every report file into `out_dir` (created); return their paths by name."""
    from unseen.report import figures
    from unseen.report.geojson import to_geojson
    from unseen.report.html import render_html
    from unseen.report.kml import write_kml
    from unseen.report.tables import write_fixes, write_observations

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gj = to_geojson(result)
    paths = {
        "geojson": out / "hunt.geojson",
        "kml": out / "hunt.kml",
        "observations": out / "observations.csv",
        "fixes": out / "fixes.jsonl",
        "html": out / "index.html",
    }
    from unseen.report.tracks import hunt_tracks, track_features, write_tracks

    tracks = hunt_tracks(result)
    gj["features"].extend(track_features(tracks))
    paths["tracks"] = write_tracks(tracks, out / "tracks.jsonl")
    paths["geojson"].write_text(json.dumps(gj, indent=1), encoding="utf-8")
    write_kml(result, paths["kml"], tracks)
    write_observations(result, paths["observations"])
    write_fixes(result, paths["fixes"])
    figs = {
        "spectrum": figures.spectrum_svg(result),
        "doa": figures.doa_svg(result),
        "timeline": figures.timeline_svg(result),
    }
    exports = tuple(p.name for k, p in paths.items() if k != "html")
    page = render_html(
        result,
        gj,
        figs,
        figures.heatmap_png(result),
        figures.heatmap_png(result.heatmap_first) if result.heatmap_first else None,
        exports=exports,
        tracks=tracks,
    )
    paths["html"].write_text(page, encoding="utf-8")
    return paths


__all__ = ["HuntResult", "write_report"]
