"""CLI command: track."""

from __future__ import annotations

from typing import Annotated

import typer

from unseen.cli.app import app


@app.command("track")
def track(
    obs: Annotated[
        str,
        typer.Argument(
            help="Observations (the `unseen locate` rows with time_s, optional freq_hz): "
            "CSV with a header or JSON Lines; '-' for stdin."
        ),
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per track update per line.")
    ] = False,
    model: Annotated[
        str, typer.Option(help="Motion model: cv, ncv or imm (stationary + NCV).")
    ] = "imm",
    process_noise_m_s2: Annotated[
        float,
        typer.Option(
            "--process-noise-m-s2", help="RMS acceleration of the NCV model, m/s² (q = σ²·1 s)."
        ),
    ] = 0.5,
    year: Annotated[
        float | None,
        typer.Option(help="Decimal year for the magnetic model (compass bearings); default today."),
    ] = None,
) -> int:
    """Track moving transmitters (per channel) from bearings, TDOAs, signal strengths over time."""
    import json
    import sys

    from unseen.errors import InputError, UnseenError
    from unseen.locate.io import read_observations
    from unseen.track import TrackOptions, run, unobservable, update_to_dict

    if model not in ("cv", "ncv", "imm"):
        raise InputError(f"--model: expected cv, ncv or imm, got {model!r}")
    opts = TrackOptions(model=model, process_noise_m_s2=process_noise_m_s2, year=year)
    bad: dict[str, UnseenError] = {}
    groups = read_observations(obs, errors=bad)
    for exc in bad.values():
        print(f"unseen: error: {exc}", file=sys.stderr)
    updates, state = run(groups, opts)
    notes = unobservable(state)
    for exc in notes.values():
        print(f"unseen: error: {exc}", file=sys.stderr)
    if json_out:
        for u in updates:
            sys.stdout.write(json.dumps(update_to_dict(u)) + "\n")
    elif updates:
        from rich.table import Table

        from unseen.cli.app import console
        from unseen.geo.gridref import covered, mgrs

        table = Table(
            "track", "time_s", "lat", "lon", "MGRS", "speed (m/s)", "95% ellipse (m)", "status"
        )
        for u in updates:
            e = u.ellipse95
            table.add_row(
                str(u.track), f"{u.time_s:.1f}", f"{u.lat:.6f}", f"{u.lon:.6f}",
                mgrs(u.lat, u.lon) if covered(u.lat) else "-",
                f"{u.speed_m_s:.1f}",
                f"{e.semi_major_m:.0f} × {e.semi_minor_m:.0f} @ {e.orientation_deg:.0f}°",
                u.status,
            )  # fmt: skip
        console().print(table)
    return 1 if (bad or notes) else 0
