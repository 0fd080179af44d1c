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
    shadow_map: Annotated[
        bool | None,
        typer.Option(
            "--shadow-map/--no-shadow-map",
            help="Learn each receiver's shadowing as a map of transmitter position (kriged "
            "survey residuals), applied by locate --rss-calibration. Default: kept where "
            "held-out blocks of the survey are predicted better with it; --shadow-map: always "
            "(an error if the survey is too small for one).",
            show_default=False,
        ),
    ] = None,
    receiver_exponents: Annotated[
        bool,
        typer.Option(
            "--receiver-exponents/--no-receiver-exponents",
            help="Learn each receiver's own path-loss exponent (shrunk toward the common "
            "one; kept only where held-out blocks of the survey fit better with them).",
        ),
    ] = True,
) -> int:
    """Learn receiver gain offsets and the path-loss model from groups with known positions."""
    import json
    from pathlib import Path

    from unseen.locate.rss_cal import calibrate, read_survey

    excluded: list[str] = []
    groups, truth = read_survey(survey, excluded)
    cal = calibrate(groups, truth, exponents=receiver_exponents)
    cal["survey"]["beyond_horizon"] = len(excluded)
    evidence: dict = {}
    if shadow_map:
        from unseen.locate.rss_cal import shadow_map as learn_map

        cal["shadow_map"] = learn_map(groups, truth, cal)
    elif shadow_map is None:
        from unseen.locate.rss_cal import map_evidence

        sm, evidence = map_evidence(groups, truth, cal)
        if sm is not None:
            cal["shadow_map"] = sm
    Path(out).write_text(json.dumps(cal, indent=1) + "\n", encoding="utf-8")
    print(
        f"{out}: {len(cal['receivers'])} receivers from {cal['survey']['groups']} groups; "
        f"exponent {cal['path_loss_exponent']:.2f} ± {cal['path_loss_exponent_sd']:.2f}, "
        f"shadowing {cal['shadowing_db']:.1f} dB, gain spread {cal['gain_spread_db']:.1f} dB"
    )
    if excluded:
        print(
            f"{len(excluded)} survey row(s) left out: receiver beyond the radio horizon of its "
            "transmitter (warnings above)"
        )
    if receiver_exponents and "exponent_cv_db" not in cal:
        print("receiver exponents: not kept (the survey spans too few 400 m blocks to test them)")
    elif receiver_exponents:
        cv = cal["exponent_cv_db"]
        print(
            f"receiver exponents: {'kept' if 'exponent_ridge' in cal else 'not kept'} (held-out "
            f"rms one exponent {cv.get('one', float('nan')):.2f} dB, per receiver "
            f"{min((v for k, v in cv.items() if k != 'one'), default=float('nan')):.2f} dB)"
        )
    if "why" in evidence:
        print(f"shadow map: not kept ({evidence['why']})")
    elif evidence:
        print(
            f"shadow map: {'kept' if 'shadow_map' in cal else 'not kept'} (held-out rms without "
            f"{evidence['none']:.2f} dB, with {evidence['map']:.2f} dB)"
        )
    if "shadow_map" in cal:
        m = cal["shadow_map"]
        print(
            f"shadow map: {m['nx']}×{m['ny']} cells of {m['cell_m']:.0f} m; variogram nugget "
            f"{m['nugget_db2']:.1f} dB², sill {m['sill_db2']:.1f} dB², range {m['corr_m']:.0f} m"
        )
    return 0
