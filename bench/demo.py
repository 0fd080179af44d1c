"""The Saint-Malo demo end to end: time per stage, the CLI as a user runs it, and scaling.

    .venv/bin/python bench/demo.py [--rounds 3]   # demo + CLI + scaling in duration and stations
    .venv/bin/python bench/demo.py --quick        # the demo and the CLI only
    .venv/bin/python bench/demo.py --coverage 20  # errors and 95 % ellipse coverage, 20 seeds

Says whether numba's on-disk cache was cold (the untimed warm-up run then compiles), then per
stage of the hunt (simulate, open, detect, calibrate, bearings, tdoa, locate, report) min /
median / max seconds over `--rounds` in-process rounds, interleaved with `unseen demo --quiet`
as a user runs it (wall and CPU of the child): there is no peer for a whole hunt, so the ratios
are to the 60 s budget. Then simulate and hunt times for 30/60/120 s of scenario and 2/4/8
stations, one run each, with the CPU time per recorded frame (linear scaling: constant ratio;
CPU, since wall time on a shared machine moves with the load).
BLAS threads 1 and glibc's allocator pinned (bench/_common.py).
"""

from __future__ import annotations

import _common

if __name__ == "__main__":
    _common.pin()

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import ratios, run, spread, unseen_cmd
from unseen.geo import distance
from unseen.pipeline.hunt import hunt_dir, inside_ellipse, truth_of
from unseen.pipeline.layout import simulate_dir
from unseen.report import write_report
from unseen.sim.scenario import load_scenario

BUDGET_S = 60.0


def _frames(sc) -> int:
    from unseen.sim.scenario_geometry import frame_times

    return sum(len(frame_times(sc, s)) for s in sc.stations)


def run_demo(sc, keep_report: bool = False) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="unseen-bench-"))
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        simulate_dir(sc, tmp / "rec")
        t1 = time.perf_counter()
        result = hunt_dir(tmp / "rec")
        t2 = time.perf_counter()
        out = {"simulate": t1 - t0, **result.timings_s, "hunt": t2 - t1}
        if keep_report:
            result = replace(result, truth=truth_of(sc, result.target))
            write_report(result, tmp / "report")
            out["report"] = time.perf_counter() - t2
            f = result.final
            out["error_m"] = float(distance(f.lat_deg, f.lon_deg, result.truth.lat_deg,
                                            result.truth.lon_deg))  # fmt: skip
            out["inside95"] = float(
                inside_ellipse(f, result.truth.lat_deg, result.truth.lon_deg)[0]
            )
        out["total"] = time.perf_counter() - t0
        out["total_cpu"] = time.process_time() - c0
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def more_stations(sc, n: int):
    """`n` stations: the scenario's, plus copies of the fixed ones moved 300 m east."""
    fixed = [s for s in sc.stations if not s.mobile]
    extra = []
    k = 0
    while len(sc.stations) + len(extra) < n:
        s = fixed[k % len(fixed)]
        extra.append(
            replace(s, id=f"{s.id}{k + 2}", lon_deg=s.lon_deg + 0.004 * (k // len(fixed) + 1))
        )
        k += 1
    stations = (*sc.stations, *extra)
    if n < len(sc.stations):
        mobile = [s for s in sc.stations if s.mobile]
        stations = (*fixed[: n - len(mobile)], *mobile)
    return replace(sc, stations=tuple(stations))


def scaling(scenarios: dict) -> None:
    """One run per scenario; CPU ms per recorded frame and its ratio to the first scenario's."""
    base = None
    for name, s2 in scenarios.items():
        x = run_demo(s2)
        n = _frames(s2)
        per = 1e3 * x["total_cpu"] / n
        base = base or per
        print(f"  {name:<20} frames {n:4d}  wall: simulate {x['simulate']:6.2f}  hunt "
              f"{x['hunt']:6.2f};  CPU {x['total_cpu']:6.2f} s = {per:5.1f} ms/frame  "
              f"ratio {per / base:.2f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the demo only, no scaling runs")
    ap.add_argument(
        "--coverage",
        type=int,
        default=0,
        metavar="N",
        help="instead: run the demo for seeds 1..N, report errors and ellipse coverage",
    )
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the demo and of the CLI")
    args = ap.parse_args(argv)
    sc = load_scenario("saint-malo")
    if args.coverage:
        inside, errs = 0, []
        for seed in range(1, args.coverage + 1):
            x = run_demo(replace(sc, seed=seed), keep_report=True)
            inside += int(x["inside95"])
            errs.append(x["error_m"])
            print(
                f"seed {seed:3d}: {x['error_m']:5.1f} m, inside 95% ellipse: {bool(x['inside95'])}"
            )
        print(f"errors {min(errs):.1f}–{max(errs):.1f} m; inside {inside} of {args.coverage}")
        return 0
    _common.header("bench/demo.py")
    state = _common.numba_cache()
    t0 = time.perf_counter()
    run_demo(replace(sc, duration_s=12.0))
    print(f"numba cache before the untimed warm-up run: {state}; warm-up (12 s scenario) "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    cmd, env = unseen_cmd()
    rs, cli_w, cli_c = [], [], []
    for _ in range(args.rounds):
        rs.append(run_demo(sc, keep_report=True))
        with tempfile.TemporaryDirectory() as tmp:
            w, c, _ = run([*cmd, "demo", "--quiet", "--out", tmp], env)
        cli_w.append(w)
        cli_c.append(c)
    print(f"demo: {len(sc.stations)} stations, {sc.duration_s:.0f} s, {_frames(sc)} frames of "
          f"{sc.stations[0].receiver.frame_samples} samples at "
          f"{sc.stations[0].receiver.sample_rate_hz / 1e6:.1f} MS/s; {args.rounds} rounds, "
          "seconds min / median / max")  # fmt: skip
    for k in (k for k in rs[0] if k not in ("hunt", "total", "total_cpu", "error_m", "inside95")):
        print(f"  {k:<12} {spread([x[k] for x in rs], 1, '{:.2f}')}")
    tot = [x["total"] for x in rs]
    print(f"  {'total':<12} {spread(tot, 1, '{:.2f}')}   = "
          f"{spread(tot, 1 / BUDGET_S, '{:.3f}')} × the 60 s budget; CPU "
          f"{spread([x['total_cpu'] for x in rs], 1, '{:.2f}')} s")  # fmt: skip
    print(f"  `unseen demo --quiet` as a user runs it: wall {spread(cli_w, 1, '{:.2f}')} s "
          f"({spread(cli_w, 1 / BUDGET_S, '{:.3f}')} × budget), CPU {spread(cli_c, 1, '{:.2f}')} s;"
          f" CLI wall / in-process total {spread(ratios(cli_w, tot), 1, '{:.2f}')}")  # fmt: skip
    print(f"  final fix {spread([x['error_m'] for x in rs], 1, '{:.1f}')} m from the attic, inside "
          f"its 95% ellipse: {sum(bool(x['inside95']) for x in rs)} of {len(rs)}")  # fmt: skip
    if args.quick:
        return 0
    print("\nscaling, one run each: seconds, and CPU ms per recorded frame (simulate + hunt)")
    scaling({f"{d:.0f} s, 4 stations": replace(sc, duration_s=d) for d in (30.0, 60.0, 120.0)})
    scaling({f"60 s, {n} stations": more_stations(replace(sc, duration_s=60.0), n)
             for n in (2, 4, 8)})  # fmt: skip
    print(_common.load() + " at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
