"""CLI commands: calibrate-rss."""

from __future__ import annotations

from typing import Annotated

import typer

from unseen.cli.app import app


@app.command("calibrate-rss")
def calibrate_rss(
    survey: Annotated[
        str,
        typer.Argument(
            help="Survey: `rssi` rows in the locate format plus true_lat, true_lon per group."
        ),
    ],
    out: Annotated[str, typer.Option("--out", help="CAL.json to write.")],
) -> int:
    """Learn receiver gain offsets and the path-loss model from groups with known positions."""
    import json
    from pathlib import Path

    from unseen.locate.rss_cal import calibrate, read_survey

    groups, truth = read_survey(survey)
    cal = calibrate(groups, truth)
    Path(out).write_text(json.dumps(cal, indent=1) + "\n", encoding="utf-8")
    print(
        f"{out}: {len(cal['receivers'])} receivers from {cal['survey']['groups']} groups; "
        f"exponent {cal['path_loss_exponent']:.2f} ± {cal['path_loss_exponent_sd']:.2f}, "
        f"shadowing {cal['shadowing_db']:.1f} dB, gain spread {cal['gain_spread_db']:.1f} dB"
    )
    return 0
