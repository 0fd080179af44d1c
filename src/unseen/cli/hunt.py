"""CLI commands: `unseen simulate SCENARIO`, `unseen hunt DIR`, `unseen demo`."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from unseen.cli.app import app, console, simulate_app

STAGES = {
    "simulate": "Simulating what the stations record",
    "detect": "Scanning the band",
    "calibrate": "Calibrating the arrays",
    "bearings": "Taking bearings",
    "locate": "Locating",
}


@contextmanager
def _progress(enabled: bool = True):
    """A rich progress display with one bar per pipeline stage; yields the pipeline callback."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<36}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _load(scenario: str):
    from unseen.sim.scenario import load_scenario

    return load_scenario(scenario)


@simulate_app.command("scenario")
def simulate_scenario(
    scenario: Annotated[str, typer.Argument(help="Scenario TOML file, or 'saint-malo'.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the station recordings.")],
    duration_s: Annotated[
        float | None, typer.Option(help="Override the scenario's duration_s.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> int:
    """Write what each station would record: one SigMF per station, stations.csv, registry.csv."""
    from dataclasses import replace

    from unseen.pipeline.layout import simulate_dir

    sc = _load(scenario)
    if duration_s is not None:
        sc = replace(sc, duration_s=_positive(duration_s, "--duration-s"))
    with _progress(not quiet) as cb:
        written = simulate_dir(sc, out, progress=cb)
    for sid, path in written.items():
        typer.echo(f"{sid}: {path}")
    return 0


def _positive(v: float, name: str) -> float:
    from unseen.errors import InputError

    if not v > 0:
        raise InputError(f"{name} must be > 0, got {v}")
    return v


@app.command("hunt")
def hunt(
    directory: Annotated[Path, typer.Argument(help="Hunt directory (stations.csv + recordings).")],
    out: Annotated[Path, typer.Option("--out", help="Report directory (index.html, ...).")],
    target_freq_hz: Annotated[
        float | None, typer.Option(help="Hunt this carrier instead of the strongest unlicensed.")
    ] = None,
    method: Annotated[str, typer.Option(help="DOA method: music, capon, bartlett, ...")] = "music",
    sigma_floor_deg: Annotated[
        float, typer.Option(help="Smallest bearing sigma trusted (array/site errors), degrees.")
    ] = 2.0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> int:
    """Run the hunt on recordings: detect, flag unlicensed, bearings, TDOAs, robust fixes."""
    from unseen.pipeline.hunt import HuntOptions, hunt_dir
    from unseen.report import write_report

    opt = HuntOptions(
        method=method,
        sigma_floor_deg=_positive(sigma_floor_deg, "--sigma-floor-deg"),
        target_freq_hz=target_freq_hz,
    )
    with _progress(not quiet) as cb:
        result = hunt_dir(directory, opt, progress=cb)
    paths = write_report(result, out)
    _summary(result, paths["html"])
    return 0


@app.command("demo")
def demo(
    out: Annotated[
        Path | None, typer.Option("--out", help="Report directory (default: a new temp dir).")
    ] = None,
    print_scenario: Annotated[
        bool, typer.Option("--print-scenario", help="Print the Saint-Malo scenario TOML and exit.")
    ] = False,
    scenario: Annotated[
        str, typer.Option(help="Scenario to replay (file or built-in name).")
    ] = "saint-malo",
    recordings: Annotated[
        Path | None,
        typer.Option(help="Keep the simulated recordings here (default: a temp dir, removed)."),
    ] = None,
    duration_s: Annotated[
        float | None, typer.Option(help="Override the scenario's duration_s (shorter demo).")
    ] = None,
    target_freq_hz: Annotated[
        float | None, typer.Option(help="Hunt this carrier instead of the strongest unlicensed.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> int:
    """Replay the Saint-Malo hunt: simulate the stations, hunt the pirate, write the report."""
    import tempfile
    import time
    from dataclasses import replace

    from unseen.pipeline.hunt import HuntOptions, hunt_dir, truth_of
    from unseen.pipeline.layout import simulate_dir
    from unseen.report import write_report

    if print_scenario:
        from unseen.sim.scenario import builtin_text

        path = Path(scenario)
        typer.echo(path.read_text() if path.is_file() else builtin_text(scenario), nl=False)
        return 0
    sc = _load(scenario)
    if duration_s is not None:
        sc = replace(sc, duration_s=_positive(duration_s, "--duration-s"))
    if target_freq_hz is None:
        _check_on_air(sc)
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unseen-rec-") as tmp:
        rec_dir = recordings or Path(tmp)
        with _progress(not quiet) as cb:
            simulate_dir(sc, rec_dir, progress=cb)
            result = hunt_dir(
                rec_dir,
                HuntOptions(target_freq_hz=target_freq_hz),
                progress=cb,
                title=f"The {sc.name.title()} hunt",
            )
        result = replace(result, truth=truth_of(sc, result.target))
        report_dir = out or Path(tempfile.mkdtemp(prefix="unseen-demo-"))
        paths = write_report(result, report_dir)
    _summary(result, paths["html"], elapsed_s=time.perf_counter() - tic)
    return 0


def _check_on_air(sc) -> None:
    """Refuse a demo too short to hear any unlicensed emitter (none of its on-air intervals
    starts before `duration_s`), naming when the first one comes on."""
    from unseen.errors import InputError
    from unseen.sim.scenario_sim import gates

    pirates = [
        e
        for e in sc.emitters
        if not any(abs(e.freq_hz - lic.freq_hz) <= lic.bandwidth_hz / 2 for lic in sc.registry)
    ]
    if not pirates or any(gates(e, 0.0, sc.duration_s) != () for e in pirates):
        return
    first = min(
        ((g[0][0] if g else float("inf")), e.name)
        for e in pirates
        for g in [gates(e, 0.0, sc.duration_s + 3600.0)]
    )
    raise InputError(
        f"--duration-s {sc.duration_s:g}: {first[1]} (unlicensed) is first on the air at "
        f"t = {first[0]:g} s; give --duration-s {first[0] + 10:g} or more"
    )


def _summary(result, html: Path, elapsed_s: float | None = None) -> None:
    """The short end-of-hunt summary (rich table), then the report's path whole on its own line."""
    from rich.table import Table

    from unseen.report.html import summary_rows

    table = Table(title=result.title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for k, v in summary_rows(result):
        table.add_row(k, v)
    if elapsed_s is not None:
        table.add_row("run time", f"{elapsed_s:.1f} s")
    console().print(table)
    typer.echo("report:")
    typer.echo(str(Path(html).resolve()))
