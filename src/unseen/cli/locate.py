"""CLI commands: locate."""

from __future__ import annotations

from typing import Annotated

import typer

from unseen.cli.app import app, console, simulate_app  # noqa: F401


@app.command("locate")
def locate(
    obs: Annotated[
        str, typer.Argument(help="Observations: CSV with a header or JSON Lines; '-' for stdin.")
    ],
    robust: Annotated[
        bool, typer.Option("--robust/--no-robust", help="Reject inconsistent observations.")
    ] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per fix per line.")
    ] = False,
    three_d: Annotated[
        bool, typer.Option("--3d", help="Estimate altitude too (needs TDOA or RSSI rows).")
    ] = False,
    year: Annotated[
        float | None,
        typer.Option(help="Decimal year for the magnetic model (compass bearings); default today."),
    ] = None,
    rss_calibration: Annotated[
        str | None,
        typer.Option(help="CAL.json from `unseen calibrate-rss`: receiver offsets, path loss."),
    ] = None,
) -> int:
    """Fuse bearings, TDOAs and signal strengths into one fix per group, with error ellipses."""
    import gc

    was = gc.isenabled()
    gc.disable()  # numpy, scipy and pyproj load ~10^5 objects: no collections while they do
    try:
        import unseen.locate.io
        import unseen.locate.stream  # noqa: F401
    finally:
        if was:
            gc.enable()
    gc.freeze()  # and none of them rescanned by each full collection while groups stream
    try:
        return _locate(obs, robust, json_out, three_d, year, rss_calibration)
    finally:
        gc.unfreeze()


def _locate(
    obs: str,
    robust: bool,
    json_out: bool,
    three_d: bool,
    year: float | None,
    rss_calibration: str | None,
) -> int:
    import json
    import sys

    from unseen.errors import FileFormatError, UnseenError
    from unseen.locate.io import fix_to_dict
    from unseen.locate.stream import locate_stream

    cal = None
    if rss_calibration is not None:
        from unseen.locate.rss_cal import load

        cal = load(rss_calibration)
    failed = 0
    rows = []
    out: list[str] = []
    stream = locate_stream(
        obs, robust=robust, dims=3 if three_d else 2, year=year, rss_calibration=cal
    )
    for name, r in stream:
        if isinstance(r, UnseenError):
            failed += 1
            text = str(r)
            plain = isinstance(r, FileFormatError) or text.startswith("group") or not name
            if out:
                sys.stdout.write("".join(out))
                out.clear()
            sys.stdout.flush()
            print(f"unseen: error: {text if plain else f'group {name!r}: {text}'}", file=sys.stderr)
            continue
        if json_out:
            out.append(json.dumps(fix_to_dict(r)) + "\n")
            if len(out) >= 1024:
                sys.stdout.write("".join(out))
                out.clear()
        else:
            rows.append(r)
    if out:
        sys.stdout.write("".join(out))
    if rows:
        from rich.table import Table

        from unseen.geo.gridref import covered, mgrs

        table = Table(
            "group", "lat", "lon", "MGRS", "95% ellipse (m)", "CEP50 (m)", "used", "rejected"
        )
        for f in rows:
            e = f.ellipse95
            table.add_row(
                f.group or "-",
                f"{f.lat_deg:.6f}",
                f"{f.lon_deg:.6f}",
                mgrs(f.lat_deg, f.lon_deg) if covered(f.lat_deg) else "-",
                f"{e.semi_major_m:.0f} × {e.semi_minor_m:.0f} @ {e.orientation_deg:.0f}°",
                f"{f.cep50_m:.0f}",
                str(f.n_used),
                ", ".join(f.rejected) or "-",
            )
        console().print(table)
    return 1 if failed else 0
