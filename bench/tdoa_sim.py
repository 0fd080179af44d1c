"""TDOA methods on simulated DCF77 with sky waves: bias, RMSE and σ coverage per method and sky-
wave level, and the fix each strategy gives (error, truth inside the 95 % ellipse).

    .venv/bin/python bench/tdoa_sim.py [--trials 6] [--seconds 12] [--levels 0,0.1,0.2,0.4]
                                       [--sferics 0] [--strategies default,kiwi]

Each trial draws 4 receivers 150–700 km from a transmitter at DCF77's site (uniform bearings),
an SNR of 15–35 dB (carrier to noise in 12 kHz) per receiver and, per receiver, a one-hop sky
wave of relative amplitude |β| = level·min(1, D/500 km), a uniform phase, a Doppler of
±0.05 Hz and a reflection height of 65–80 km (`unseen.tdoa.sim`). Recordings are written as
SigMF with GNSS-like time at random sub-sample starts and go through `on_grid` as the CLI does.
Truth is the ground-wave geodesic TDOA. Coverage = share of |error| ≤ 1.96 σ (goal 95 %).
`--sferics R`: a thunderstorm 300–1500 km from the transmitter sends R lightning sferics a
second (`unseen.tdoa.sim.sferics`, peak 10 dB over the carrier × lognormal(0, 1), 0.5 ms decay,
each receiver at its own range from the storm): impulsive noise common to the receivers at the
storm's TDOA, the normal case at LF in summer.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

TX = (50.0152, 9.0112)
FS = 12_000.0


def scenario(rng: np.random.Generator, level: float, n_rx: int = 4) -> list[dict]:
    from geographiclib.geodesic import Geodesic

    from unseen.tdoa.sim import Path as SimPath
    from unseen.tdoa.sim import skywave_delay_s

    out = []
    az0 = rng.uniform(0, 360)
    for i in range(n_rx):
        az = az0 + 360 * i / n_rx + rng.uniform(-40, 40)
        d = rng.uniform(150e3, 700e3)
        g = Geodesic.WGS84.Direct(*TX, az, d)
        beta = level * min(1.0, d / 500e3)
        paths = [SimPath(d / 299_792_458.0)]
        if beta > 0:
            paths.append(
                SimPath(
                    d / 299_792_458.0 + skywave_delay_s(d, rng.uniform(65e3, 80e3)),
                    beta * np.exp(2j * np.pi * rng.uniform()),
                    rng.uniform(-0.05, 0.05),
                )
            )
        out.append(
            {"name": f"R{i}", "lat": g["lat2"], "lon": g["lon2"], "paths": paths,
             "snr_db": rng.uniform(15, 35)}
        )  # fmt: skip
    return out


def kiwi(a: np.ndarray, b: np.ndarray, fs: float, max_lag_s: float, center_s: float):
    """KiwiSDR TDoA style: 1 s windows, cc of IQ less its mean, parabolic peak; mean, std/√K."""
    import scipy.signal

    win = int(fs)
    lag = int(np.ceil(max_lag_s * fs)) + 1
    c = round(center_s * fs)
    est = []
    for s in range(0, min(len(a), len(b)) - win + 1, win):
        x = a[s : s + win] - a[s : s + win].mean()
        y = b[s : s + win] - b[s : s + win].mean()
        r = np.abs(scipy.signal.correlate(x, y, mode="full", method="fft"))
        mid = win - 1 + c
        seg = r[mid - lag : mid + lag + 1]
        k = int(np.argmax(seg))
        f = float(k)
        if 0 < k < len(seg) - 1:
            den = seg[k - 1] - 2 * seg[k] + seg[k + 1]
            if den < 0:
                f = k + 0.5 * (seg[k - 1] - seg[k + 1]) / den
        est.append((f - lag + c) / fs)
    est = np.array(est)
    return float(est.mean()), float(est.std(ddof=1) / np.sqrt(len(est)))


def trial(seed: int, level: float, seconds: float, strategies, sferic_rate: float = 0.0) -> dict:
    from unseen.sources import open_recording, write_sigmf
    from unseen.tdoa import max_lag_from, on_grid, true_tdoa
    from unseen.tdoa.dcf77 import arrivals
    from unseen.tdoa.sim import received
    from unseen.types import Site

    rng = np.random.default_rng(seed)
    rx = scenario(rng, level)
    bits = rng.integers(0, 2, 60)
    n = int(seconds * FS)
    t0 = 1_600_000_000.3
    recs = []
    storm = None
    if sferic_rate > 0:
        from geographiclib.geodesic import Geodesic

        storm = Geodesic.WGS84.Direct(*TX, rng.uniform(0, 360), rng.uniform(300e3, 1500e3))
        k = rng.poisson(sferic_rate * (seconds + 1))
        sf_t = t0 - 0.5 + rng.uniform(0, seconds + 1, k)
        sf_a = 10 ** (10 / 20) * rng.lognormal(0, 1, k)
    with tempfile.TemporaryDirectory() as tmp:
        for r in rx:
            st_ns = round((t0 + rng.uniform(0, 1 / FS)) * 1e9)
            x = received(st_ns / 1e9, n, FS, r["paths"], snr_db=r["snr_db"], bits=bits, rng=rng)
            if storm is not None:
                from geographiclib.geodesic import Geodesic

                from unseen.tdoa.sim import sferics

                d = Geodesic.WGS84.Inverse(storm["lat2"], storm["lon2"], r["lat"], r["lon"])["s12"]
                x = (x + sferics(st_ns / 1e9, n, FS, sf_t, sf_a, d / 299_792_458.0, rng)).astype(
                    np.complex64
                )
            site = Site(r["name"], r["lat"], r["lon"], 0.0)
            meta = write_sigmf(Path(tmp) / r["name"], x, FS, 77_500.0, utc_ns=st_ns, site=site)
            rec = open_recording(meta)
            rec.site = site
            rec.station = r["name"]
            recs.append(rec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            blocks = on_grid(recs)
            arr = [arrivals(r) for r in recs]
            ctxs = []
            for i, j in itertools.combinations(range(len(recs)), 2):
                ctx = {"blocks": blocks, "arr": arr, "i": i, "j": j}
                off = (blocks[i].utc_ns - blocks[j].utc_ns) / 1e9
                ml = max_lag_from(recs[i].site, recs[j].site)
                tau, sig = kiwi(blocks[i].samples[0], blocks[j].samples[0], FS, ml, -off)
                ctx["kiwi"] = (tau + off, sig)
                ctx["truth"] = true_tdoa(recs[i].site, recs[j].site, *TX)
                ctx["sites"] = (recs[i].site, recs[j].site)
                ctxs.append(ctx)
            res = {}
            for name, f in strategies.items():
                res[name] = [
                    (*c["sites"], tau, sig, c["truth"])
                    for c, (tau, sig) in zip(ctxs, f(ctxs), strict=True)
                ]
    return res


def strategies():
    from dataclasses import replace

    from unseen.tdoa import cross_check, measure
    from unseen.tdoa.dcf77 import difference
    from unseen.tdoa.measure import pool_echo

    def m(ctx, method, echo=True):
        key = (method, echo)
        if key not in ctx:
            if method == "dcf77":
                ctx[key] = difference(ctx["arr"][ctx["i"]], ctx["arr"][ctx["j"]])
            else:
                ctx[key] = measure(
                    ctx["blocks"][ctx["i"]],
                    ctx["blocks"][ctx["j"]],
                    method=method,
                    echo_delay_s=100e-6 if echo else None,
                )
        return ctx[key]

    def each(f):
        return lambda ctxs: [f(c) for c in ctxs]

    def single(method, echo=True):
        return each(lambda c: (m(c, method, echo).tdoa_s, m(c, method, echo).sigma_s))

    def checked(method, check, echo=True):
        def f(c):
            out, _ = cross_check(m(c, method, echo), m(c, check))
            return out.tdoa_s, out.sigma_s

        return each(f)

    def pooled(ctxs, check=True):
        ms = pool_echo([m(c, "carrier") for c in ctxs])
        if check:
            ms = [cross_check(x, m(c, "envelope"))[0] for x, c in zip(ms, ctxs, strict=True)]
        return [(x.tdoa_s, x.sigma_s) for x in ms]

    def default(ctxs):  # as `unseen tdoa` with default options: + closure widening
        from unseen.tdoa import closures, suspect_receivers, widen_by_closures
        from unseen.types import Tdoa

        ts = [Tdoa(*c["sites"], t, s) for c, (t, s) in zip(ctxs, pooled(ctxs), strict=True)]
        checks = closures(ts)
        ts = widen_by_closures(ts, checks, suspect_receivers(checks))
        return [(t.tdoa_s, t.sigma_s) for t in ts]

    def choose(key):  # per pair the method whose own evidence looks best, then as default
        def f(ctxs):
            best = [min(("carrier", "cc", "envelope"), key=lambda k: key(m(c, k))) for c in ctxs]
            ms = pool_echo([replace(m(c, b), echo_s=m(c, "carrier").echo_s)
                            for c, b in zip(ctxs, best, strict=True)])  # fmt: skip
            ms = [cross_check(x, m(c, "envelope"))[0] for x, c in zip(ms, ctxs, strict=True)]
            return [(x.tdoa_s, x.sigma_s) for x in ms]

        return f

    def per_second(ctxs):  # mean of 1 s carrier lags, σ = 1.4826·MAD/√K_eff ⊕ CRB, as default
        from unseen.tdoa.measure import _corr, mean_sigma, prepare

        out = []
        for c in ctxs:
            bl, i, j = c["blocks"], c["i"], c["j"]
            a, b = (prepare(bl[k].samples[0], FS, "carrier") for k in (i, j))
            off = (bl[i].utc_ns - bl[j].utc_ns) / 1e9
            seg = int(FS)
            est = np.array([
                _corr(a[s : s + seg], b[s : s + seg], FS, "none", None, 4e-3, -off).peak_s + off
                for s in range(0, len(a) - seg + 1, seg)
            ])  # fmt: skip
            w = m(c, "carrier")
            sig = max(mean_sigma(est), w.crb_s)
            out.append(replace(w, tdoa_s=float(est.mean()), sigma_s=sig))
        ms = [cross_check(x, m(c, "envelope"))[0] for x, c in zip(pool_echo(out), ctxs)]  # noqa: B905
        return [(x.tdoa_s, x.sigma_s) for x in ms]

    return {
        "per-second carrier mean + pooled echo + env check": per_second,
        "choose per pair: min scatter/CRB": choose(lambda x: (x.scatter_s or 0) / x.crb_s),
        "choose per pair: min own σ": choose(lambda x: x.sigma_s),
        "carrier, no echo term": single("carrier", False),
        "carrier+env check, no echo term (main default)": checked("carrier", "envelope", False),
        "carrier + echo term": single("carrier"),
        "carrier + pooled echo": lambda ctxs: pooled(ctxs, False),
        "carrier + pooled echo + env check (new default)": pooled,
        "default: carrier + pooled echo + env check + closures": default,
        "envelope": single("envelope"),
        "dcf77": single("dcf77"),
        "dcf77+env check": checked("dcf77", "envelope"),
        "kiwi 1 s cc": each(lambda c: c["kiwi"]),
    }


def fix_stats(pairs, redundancy: bool) -> tuple[float, float]:
    from unseen.locate import solve
    from unseen.locate.coverage import inside_ellipse
    from unseen.tdoa.pairs import redundancy as red
    from unseen.types import Tdoa

    n = len({p[0].station for p in pairs} | {p[1].station for p in pairs})
    k = red(n) if redundancy else 1.0
    obs = [Tdoa(a, b, t, max(s * k, 1e-9)) for a, b, t, s, _ in pairs]
    try:
        fix = solve(obs)
    except Exception:
        return float("nan"), float("nan")
    from geographiclib.geodesic import Geodesic

    km = Geodesic.WGS84.Inverse(fix.lat_deg, fix.lon_deg, *TX)["s12"] / 1e3
    return km, float(inside_ellipse(fix, *TX)[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--levels", default="0,0.1,0.2,0.4")
    ap.add_argument("--sferics", type=float, default=0.0, help="lightning sferics per second")
    ap.add_argument("--strategies", default="", help="comma-separated name fragments (all)")
    args = ap.parse_args()
    strat = strategies()
    if args.strategies:
        keep = args.strategies.split(",")
        strat = {k: v for k, v in strat.items() if any(f in k for f in keep)}
    print("| sky wave | strategy | pair bias µs | pair RMSE µs | σ coverage | median fix km |"
          " fix in 95 % |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    t_start = time.perf_counter()
    for level in (float(v) for v in args.levels.split(",")):
        per: dict[str, list] = {}
        fixes: dict[str, list] = {}
        for k in range(args.trials):
            res = trial(1000 * k + int(level * 100), level, args.seconds, strat, args.sferics)
            for name, pairs in res.items():
                per.setdefault(name, []).extend(pairs)
                # the fix from the independent pairs (0, j), as locate gets them from the CLI
                fixes.setdefault(name, []).append(
                    fix_stats(pairs, "new" in name or "default" in name)
                )
        for name in strat:
            e = np.array([t - tr for _, _, t, _, tr in per[name]]) * 1e6
            s = np.array([s for _, _, _, s, _ in per[name]]) * 1e6
            f = np.array(fixes[name])
            print(
                f"| {level:.2f} | {name} | {np.mean(e):+.2f} | {np.sqrt(np.mean(e**2)):.2f} | "
                f"{np.mean(np.abs(e) <= 1.96 * s):.0%} | {np.nanmedian(f[:, 0]):.2f} | "
                f"{np.nanmean(f[:, 1]):.0%} |",
                flush=True,
            )
    print(f"({time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
