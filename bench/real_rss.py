"""Real data, RSS: POWDER (462.7 MHz walkie-talkies, University of Utah), leave one day out.

For each campaign day in ../shared/data/powder-rss-dev, 300 transmissions (fixed seed; all when
fewer) are located by `solve_many` as `unseen locate` does: uncalibrated, and with a calibration
learned by `calibrate` (= `unseen calibrate-rss`) on the other two days (`--pairs`: on each other
day alone). Peers in the same run: the weighted centroid of the receivers (weights 10^(RSS/10))
and the per-group solve without pooling (`fix_rss_many(pool=False)`: each group's power and
exponent from its own readings). Figures: fixed %, truth inside the 95% ellipse, median error,
seconds per solve (min/median/max over `--rounds`), and `--cli` times `unseen locate` on one
day's file as a user runs it.

Run: python bench/real_rss.py [--per-day 300] [--pairs] [--rounds 1] [--cli]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import powder_rss
from unseen.errors import UnseenError
from unseen.geo import geodetic2enu
from unseen.locate import solve_many
from unseen.locate.io import row_to_observation
from unseen.locate.rss_cal import (
    apply,
    beyond_horizon,
    calibrate,
    map_evidence,
    shadow_map,
    without,
)

DAYS = ("2022-04-25", "2022-07-05", "2022-07-06")


def inside95(fix, lat: float, lon: float) -> tuple[bool, float]:
    """(truth inside the fix's 95% ellipse, distance fix → truth in metres)."""
    e, n, _ = geodetic2enu(lat, lon, fix.alt_m, fix.lat_deg, fix.lon_deg, fix.alt_m)
    el = fix.ellipse95
    t = np.radians(el.orientation_deg)
    u, v = e * np.sin(t) + n * np.cos(t), e * np.cos(t) - n * np.sin(t)
    return bool((u / el.semi_major_m) ** 2 + (v / el.semi_minor_m) ** 2 <= 1.0), float(
        np.hypot(e, n)
    )


def centroid_error(obs, lat: float, lon: float) -> float:
    w = np.array([10 ** (o.rssi_dbm / 10) for o in obs])
    la = float(np.sum(w * [o.site.lat_deg for o in obs]) / w.sum())
    lo = float(np.sum(w * [o.site.lon_deg for o in obs]) / w.sum())
    e, n, _ = geodetic2enu(lat, lon, 0.0, la, lo, 0.0)
    return float(np.hypot(e, n))


def _powder() -> tuple[dict, dict]:
    """Every POWDER transmission: {group: [SignalStrength]}, {group: (true lat, lon)}."""
    groups, truth = defaultdict(list), {}
    for r in powder_rss.rows():
        groups[r["group"]].append(row_to_observation(r)[1])
        truth[r["group"]] = (r["true_lat"], r["true_lon"])
    far = beyond_horizon(groups, truth)
    if far:
        print(f"{len(far)} readings left out: receiver beyond the radio horizon (shuttle GPS at "
              "0°, 0°), as `unseen calibrate-rss` does", flush=True)  # fmt: skip
        return without(groups, truth, far)
    return groups, truth


def evaluate(
    per_day: int = 300,
    seed: int = 0,
    pairs: bool = False,
    rounds: int = 1,
    days=DAYS,
    use_map: bool = False,
    uncal: bool = True,
    transfer: float | None = None,
    exponents: bool = False,
    default_only: bool = False,
) -> list[dict]:
    """Per test day: uncalibrated, and calibrated on the other days (or, with `pairs`, on each
    other day alone: all ordered pairs); `use_map` adds the calibration with its shadowing map
    (`shadow_map`), `uncal` False drops the uncalibrated modes; `default_only`: only the
    calibration `unseen calibrate-rss` makes by default (exponents and map where the survey's
    held-out blocks support them)."""
    groups, truth = _powder()
    rng = np.random.default_rng(seed)
    out = []
    for day in DAYS:
        names = sorted(k for k in groups if k.startswith(day))
        test = sorted(rng.choice(names, min(per_day, len(names)), replace=False))
        if day not in days:
            continue
        wc = float(np.median([centroid_error(groups[k], *truth[k]) for k in test]))
        sources = [d for d in DAYS if d != day] if pairs else ["+".join(d for d in DAYS
                                                                   if d != day)]  # fmt: skip
        raw = {k: groups[k] for k in test}
        modes: list[tuple[str, tuple]] = [
            ("uncalibrated, per group (no pooling)", (raw, "nopool")),
            ("uncalibrated", (raw, None)),
        ] if uncal else []  # fmt: skip
        for src in sources:
            survey = {k: v for k, v in groups.items() if k[:10] in src and k[:10] != day}
            if default_only:
                st = {k: truth[k] for k in survey}
                cal = calibrate(survey, st, exponents=True)
                sm, ev = map_evidence(survey, st, cal)
                print(f"default calibration on {src}: exponents "
                      f"{'kept' if 'exponent_ridge' in cal else 'not kept'}, map "
                      f"{'kept' if sm else 'not kept'} {ev}", flush=True)  # fmt: skip
                model = apply(raw, {**cal, "shadow_map": sm} if sm else cal)
                modes.append((f"calibrated (calibrate-rss default) on {src}", model))
                continue
            cal = calibrate(survey, {k: truth[k] for k in survey})
            modes.append((f"calibrated on {src}", apply({k: groups[k] for k in test}, cal)))
            if exponents:
                cal = calibrate(survey, {k: truth[k] for k in survey}, exponents=True)
                print(f"calibration on {src}: exponent {cal['path_loss_exponent']:.2f}, ridge "
                      f"{cal.get('exponent_ridge')}, held-out rms {cal.get('exponent_cv_db')}",
                      flush=True)  # fmt: skip
                modes.append((f"calibrated+exponents on {src}",
                              apply({k: groups[k] for k in test}, cal)))  # fmt: skip
            if use_map:
                sm = shadow_map(survey, {k: truth[k] for k in survey}, cal)
                if transfer is not None:
                    sm["transfer"] = transfer
                print(f"map of {src}: nugget {sm['nugget_db2']:.1f} dB², sill "
                      f"{sm['sill_db2']:.1f} dB², L {sm['corr_m']:.0f} m, "
                      f"cell {sm['cell_m']:.0f} m, "
                      f"{sm['nx']}×{sm['ny']} × {len(sm['receivers'])}", flush=True)  # fmt: skip
                modes.append(
                    (
                        f"calibrated+{'exponents+' if exponents else ''}map on {src}",
                        apply({k: groups[k] for k in test}, {**cal, "shadow_map": sm}),
                    )
                )
        for label, (gs, model) in modes:
            dts = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                res = _nopool(gs) if model == "nopool" else solve_many(gs, rss_model=model)
                dts.append(time.perf_counter() - t0)
            fixes = {k: f for k, f in res.items() if not isinstance(f, UnseenError)}
            hits = [inside95(f, *truth[k]) for k, f in fixes.items()]
            out.append({
                "day": day, "mode": label, "n": len(test), "fixed": len(fixes) / len(test),
                "coverage95": float(np.mean([h[0] for h in hits])) if hits else float("nan"),
                "median_m": float(np.median([h[1] for h in hits])) if hits else float("nan"),
                "centroid_median_m": wc, "seconds": sorted(dts),
            })  # fmt: skip
    return out


def offset_transfer() -> list[str]:
    """Do receiver offsets learned on one day hold on another? Per pair of days: the sd of the
    differences of the common receivers' offsets (each centred on those receivers) beside the
    offsets' own spread; a calibration helps only where the first is well below the second."""
    groups, truth = _powder()
    cal = {}
    for d in DAYS:
        sv = {k: v for k, v in groups.items() if k.startswith(d)}
        cal[d] = calibrate(sv, {k: truth[k] for k in sv})
    out = []
    for i, a in enumerate(DAYS):
        for b in DAYS[i + 1 :]:
            ra, rb = cal[a]["receivers"], cal[b]["receivers"]
            common = sorted(set(ra) & set(rb))
            x = np.array([ra[k]["offset_db"] for k in common])
            y = np.array([rb[k]["offset_db"] for k in common])
            x, y = x - x.mean(), y - y.mean()
            out.append(f"offsets {a} vs {b}: {len(common)} common receivers, difference sd "
                       f"{np.std(x - y):.1f} dB, spread {np.std(x):.1f} / {np.std(y):.1f} dB; "
                       f"exponent {cal[a]['path_loss_exponent']:.2f} / "
                       f"{cal[b]['path_loss_exponent']:.2f}")  # fmt: skip
    return out


def map_transfer(near_m: float = 25.0) -> list[str]:
    """How much of a receiver's shadowing field holds from one day to another? Residuals of each
    day's own truth-fitted calibration (`rss_cal.residuals`), correlation of one receiver's
    residuals at transmitter positions < `near_m` apart: within a day (c_AA, the structured
    share) and between days (c_AB); ρ = c_AB / sqrt(c_AA c_BB) (`rss_cal.MAP_TRANSFER`)."""
    from unseen.locate.rss_cal import residuals

    groups, truth = _powder()
    res = {}
    for d in DAYS:
        sv = {k: v for k, v in groups.items() if k.startswith(d)}
        res[d] = residuals(sv, truth, calibrate(sv, {k: truth[k] for k in sv}), 40.765, -111.845)

    def corr(a: dict, b: dict, same: bool) -> float:
        xs, ys = [], []
        for st in set(a) & set(b):
            p, q = a[st][:1500], b[st][:1500]
            h = np.hypot(*(p[:, None, :2] - q[None, :, :2]).transpose(2, 0, 1))
            i, j = np.nonzero((h < near_m) & (~np.eye(len(p), len(q), dtype=bool) if same
                                                else True))  # fmt: skip
            xs += list(p[i, 2] - p[:, 2].mean())
            ys += list(q[j, 2] - q[:, 2].mean())
        return float(np.corrcoef(xs, ys)[0, 1])

    c = {d: corr(res[d], res[d], True) for d in DAYS}
    out = [f"shadowing correlation < {near_m:.0f} m within a day: "
           + ", ".join(f"{d} {c[d]:.2f}" for d in DAYS)]  # fmt: skip
    for i, a in enumerate(DAYS):
        for b in DAYS[i + 1 :]:
            cab = corr(res[a], res[b], False)
            out.append(f"between {a} and {b}: {cab:.2f}, ρ = {cab / np.sqrt(c[a] * c[b]):.2f}")
    return out


def _nopool(gs: dict) -> dict:
    from unseen.locate.prepare import prepare
    from unseen.locate.rssi import RssModel, fix_rss_many

    return dict(zip(gs, fix_rss_many([prepare(v, k) for k, v in gs.items()], RssModel(),
                                     pool=False), strict=True))  # fmt: skip


def cli_seconds(day: str, per_day: int, tmp: Path) -> float:
    """Wall seconds of `unseen locate DAY.csv --json` (the day's first `per_day` transmissions)."""
    import subprocess

    rs = [r for r in powder_rss.rows(days={day})]
    keep = sorted({r["group"] for r in rs})[:per_day]
    rs = [r for r in rs if r["group"] in set(keep)]
    f = tmp / f"{day}.csv"
    powder_rss.write(f, rs)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "unseen", "locate", str(f), "--json"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - t0


def rows(per_day: int = 300) -> list[dict]:
    """Benchmark rows: dataset, figure, unseen, baseline (weighted centroid); the calibrated
    rows use what `unseen calibrate-rss` makes by default, learned on the two other days."""
    table = []
    for r in evaluate(per_day, default_only=True):
        ds = f"POWDER RSS {r['day']} ({r['n']} tx, {r['mode']})"
        table += [
            {"dataset": ds, "figure": "fixed %", "unseen": round(100 * r["fixed"], 1),
             "baseline": 100.0},
            {"dataset": ds, "figure": "truth in 95% ellipse %",
             "unseen": round(100 * r["coverage95"], 1), "baseline": None},
            {"dataset": ds, "figure": "median error m (baseline: weighted centroid)",
             "unseen": round(r["median_m"]), "baseline": round(r["centroid_median_m"])},
        ]  # fmt: skip
    return table


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-day", type=int, default=300)
    ap.add_argument("--pairs", action="store_true", help="calibrate on each other day alone")
    ap.add_argument("--rounds", type=int, default=1, help="timed solves per mode")
    ap.add_argument("--cli", action="store_true", help="also time `unseen locate` on each day")
    ap.add_argument("--day", action="append", choices=DAYS, help="test day(s) (default: all)")
    ap.add_argument("--map", action="store_true", help="also calibrate with a shadowing map")
    ap.add_argument("--no-uncal", action="store_true", help="skip the uncalibrated modes")
    ap.add_argument("--map-transfer", type=float, help="ρ of the map between days (sensitivity)")
    ap.add_argument(
        "--exponents",
        action="store_true",
        help="also calibrate with per-receiver exponents (the map, if any, on them)",
    )
    ap.add_argument(
        "--default-only", action="store_true", help="only calibrate-rss's default calibration"
    )
    a = ap.parse_args()
    print("command: python " + " ".join(sys.argv))
    print("| day | mode | tx | fixed % | truth in 95% ellipse % | median error m | "
          "weighted centroid m | ratio | s (min/median/max) | ms/group |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    days = tuple(a.day or DAYS)
    for r in evaluate(a.per_day, pairs=a.pairs, rounds=a.rounds, days=days, use_map=a.map,
                      uncal=not a.no_uncal, transfer=a.map_transfer,
                      exponents=a.exponents, default_only=a.default_only):  # fmt: skip
        t = r["seconds"]
        print(f"| {r['day']} | {r['mode']} | {r['n']} | {100 * r['fixed']:.1f} | "
              f"{100 * r['coverage95']:.1f} | {r['median_m']:.0f} | {r['centroid_median_m']:.0f} | "
              f"{r['median_m'] / r['centroid_median_m']:.2f} | "
              f"{t[0]:.1f}/{t[len(t) // 2]:.1f}/{t[-1]:.1f} | "
              f"{1000 * t[len(t) // 2] / r['n']:.0f} |", flush=True)  # fmt: skip
    if a.pairs:
        print("\n".join(offset_transfer()))
    if a.map:
        print("\n".join(map_transfer()))
    if a.cli:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            for day in days:
                s = cli_seconds(day, a.per_day, Path(d))
                print(f"CLI `unseen locate {day}.csv --json` ({a.per_day} tx, uncalibrated): "
                      f"{s:.1f} s wall")  # fmt: skip
