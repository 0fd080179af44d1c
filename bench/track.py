# ruff: noqa: E402  (BLAS threads are pinned before numpy is imported)
"""Tracking benchmark: unseen.track against Stone Soup (UKF, as its bearing-only example) and the
posterior Cramér–Rao bound, on identical simulated bearings (σ 2°, 1 Hz).

Scenario single: one transmitter on a nearly-constant-velocity path drawn from the model
(q = 0.1 m²/s³, initial speed ~ N(0, 10²) per axis), three fixed DF stations and one driving at
20 m/s, 200 s. Both filters use NCV with the same q and bearing σ and start from the same prior
(unseen's initiating fix at t = 0 plus a 10 m/s velocity prior). PCRB: Tichavský's recursion
J⁺ = (Q + F J⁻¹ Fᵀ)⁻¹ + E[Hᵀ R⁻¹ H], J₀ = the prior's information, expectation over the rounds.

Scenario crossing: two transmitters crossing on one channel, three fixed stations. unseen runs
from nothing (initiation, GNN, M-of-N); Stone Soup runs GNN (GNNWith2DAssignment, Mahalanobis
DistanceHypothesiser) per station scan from the true initial states (it has no initiator for
bearing lines from several sensors), i.e. with an advantage. GOSPA (c = 500 m, p = 2, α = 2).

Run: .venv/bin/python bench/track.py [--rounds 10] [--single-rounds 50]
(Times: wall and CPU per bearing, the least of --repeats identical runs per round for each
tracker as timeit does, so one scheduler stall on the shared box does not decide a round;
ratios per round, unseen and Stone Soup interleaved.)
"""

from __future__ import annotations

import os
import sys

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
# glibc reads its allocator thresholds at start-up: pin them (no trimming or mmap churn between
# rounds, so both trackers see the same heap behaviour) by re-executing once with them set
_MALLOC = {"MALLOC_TRIM_THRESHOLD_": "1073741824", "MALLOC_MMAP_THRESHOLD_": "1073741824"}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in _MALLOC.items()):
    os.environ.update(_MALLOC)
    os.execv(sys.executable, [sys.executable, *sys.argv])

import argparse
import datetime as dt
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from unseen.geo.frames import geodetic2enu
from unseen.locate.io import observation_to_row
from unseen.track import TrackOptions, run
from unseen.track.bounds import bearing_information, pcrb
from unseen.track.models import ncv
from unseen.track.simulate import ORIGIN, bearings, ncv_truth, route_truth

Q = 0.1
SIGMA_DEG = 2.0
SIGMA_V = 10.0
T_SINGLE = 200
REPEATS = 3  # per round, each tracker's time is the least of this many identical runs (timeit)
FIXED = {"A": np.array([-6000.0, 3000.0]), "B": np.array([6000.0, 4000.0]),
         "C": np.array([0.0, 8000.0])}  # fmt: skip


def mobile(n: int) -> np.ndarray:
    return np.stack([np.linspace(-2000.0, 2000.0, n), np.full(n, -5000.0)], axis=1)


def enu(u) -> np.ndarray:
    return geodetic2enu(u.lat, u.lon, 0.0, *ORIGIN)[:2]


def single_round(seed: int):
    rng = np.random.default_rng(seed)
    tr = ncv_truth(rng, np.r_[0.0, 0.0, SIGMA_V * rng.standard_normal(2)], Q, 1.0, T_SINGLE)
    st = {**FIXED, "M": mobile(T_SINGLE)}
    obs = bearings(rng, [tr], st, SIGMA_DEG)
    opts = TrackOptions(model="ncv", process_noise_m_s2=np.sqrt(Q), init_speed_m_s=SIGMA_V)
    t_un = c_un = np.inf
    for _ in range(REPEATS):
        t0, c0 = time.perf_counter(), time.process_time()
        ups, _ = run(obs, opts)
        t_un, c_un = min(t_un, time.perf_counter() - t0), min(c_un, time.process_time() - c0)
    ups = [u for u in ups if u.status != "deleted"]
    assert len({u.track for u in ups}) == 1, "one transmitter gave several tracks"
    est = np.array([enu(u) for u in ups])
    cov = np.array([u.cov_enu_m2 for u in ups])
    k = np.array([round(u.time_s) for u in ups])
    # Stone Soup from the same prior: unseen's initiating fix and the velocity prior
    P0 = np.zeros((4, 4))
    P0[:2, :2] = cov[0]
    P0[2, 2] = P0[3, 3] = SIGMA_V**2
    t_ss = c_ss = np.inf
    for _ in range(REPEATS):
        ss_est, ss_cov, t, c = stonesoup_single(obs, est[0], P0, st)
        t_ss, c_ss = min(t_ss, t), min(c_ss, c)
    truth = tr.states[k, :2]
    return dict(k=k, truth=tr, err=est - truth, cov=cov, ss_err=ss_est - truth, ss_cov=ss_cov,
                t_un=t_un, t_ss=t_ss, c_un=c_un, c_ss=c_ss, n_obs=len(obs), P0=P0,
                stations=st)  # fmt: skip


def _ss_models(q: float):
    from stonesoup.models.transition.linear import (
        CombinedLinearGaussianTransitionModel,
        ConstantVelocity,
    )
    from stonesoup.predictor.kalman import UnscentedKalmanPredictor
    from stonesoup.updater.kalman import UnscentedKalmanUpdater

    tm = CombinedLinearGaussianTransitionModel([ConstantVelocity(q), ConstantVelocity(q)])
    return UnscentedKalmanPredictor(tm), UnscentedKalmanUpdater(measurement_model=None)


def _ss_detection(o, st_pos, t0):
    from stonesoup.models.measurement.nonlinear import Cartesian2DToBearing
    from stonesoup.types.angle import Bearing as SSBearing
    from stonesoup.types.detection import Detection

    mm = Cartesian2DToBearing(
        ndim_state=4, mapping=(0, 2),
        noise_covar=np.array([[np.radians(o.sigma_deg) ** 2]]),
        translation_offset=np.array([[st_pos[0]], [st_pos[1]]]),
    )  # fmt: skip
    phi = np.pi / 2 - np.radians(o.azimuth_deg)  # Stone Soup: counter-clockwise from +x
    ts = t0 + dt.timedelta(seconds=o.time_s)
    return Detection(np.array([[SSBearing(phi)]]), timestamp=ts, measurement_model=mm)


def _station_en(o, stations) -> np.ndarray:
    pos = np.asarray(stations[o.site.station], dtype=float)
    return pos[round(o.time_s)] if pos.ndim == 2 else pos


def stonesoup_single(obs, x0_en, P0, stations):
    from stonesoup.types.hypothesis import SingleHypothesis
    from stonesoup.types.state import GaussianState

    pred, upd = _ss_models(Q)
    t0 = dt.datetime(2026, 1, 1)
    dets = [_ss_detection(o, _station_en(o, stations), t0) for o in obs]
    # Stone Soup's state order is (x, vx, y, vy)
    perm = [0, 2, 1, 3]
    x = np.array([x0_en[0], 0.0, x0_en[1], 0.0])
    st = GaussianState(x.reshape(4, 1), P0[np.ix_(perm, perm)], timestamp=t0)
    times = np.array([o.time_s for o in obs])
    first = times == times[0]
    est, cov = [], []
    tic, cpu = time.perf_counter(), time.process_time()
    for i, d in enumerate(dets):
        if first[i]:
            continue  # the prior already holds the first scan (unseen's initiating fix)
        p = pred.predict(st, timestamp=d.timestamp)
        st = upd.update(SingleHypothesis(p, d))
        if i + 1 == len(dets) or times[i + 1] != times[i]:
            est.append([float(st.state_vector[0, 0]), float(st.state_vector[2, 0])])
            cov.append(np.asarray(st.covar)[np.ix_([0, 2], [0, 2])])
    t, c = time.perf_counter() - tic, time.process_time() - cpu
    return np.vstack([x0_en[None], est]), np.stack([P0[:2, :2], *cov]), t, c


def single(rounds: int) -> dict:
    R = [single_round(100 + r) for r in range(rounds)]
    F, Qm = ncv(1.0, Q)
    T = T_SINGLE
    info = np.zeros((T, 4, 4))
    for r in R:
        info += bearing_information(r["truth"].states, r["stations"], np.radians(SIGMA_DEG))
    info /= rounds
    J0 = np.linalg.inv(R[0]["P0"])
    J0[:2, :2] = info[0][:2, :2]  # the prior holds the first scan's information
    bound = pcrb(F, Qm, J0, info[1:])
    crb = np.sqrt(np.einsum("kii->k", bound[:, :2, :2]))
    e2 = np.mean([np.sum(r["err"] ** 2, 1) for r in R], axis=0)
    s2 = np.mean([np.sum(r["ss_err"] ** 2, 1) for r in R], axis=0)
    late = slice(10, None)

    def cover(errs, covs):
        d2 = [
            np.einsum("ki,kij,kj->k", e, np.linalg.inv(c), e)
            for e, c in zip(errs, covs, strict=True)
        ]
        return float(np.mean(np.concatenate(d2)[:] <= 5.991))

    per = lambda key: [np.sqrt(np.mean(np.sum(r[key][late] ** 2, 1))) for r in R]  # noqa: E731
    return dict(
        rmse=float(np.sqrt(np.mean(e2[late]))), ss_rmse=float(np.sqrt(np.mean(s2[late]))),
        crb=float(np.sqrt(np.mean(crb[late] ** 2))),
        rmse_t={t: float(np.sqrt(e2[t])) for t in (0, 10, 50, 100, 199)},
        ss_rmse_t={t: float(np.sqrt(s2[t])) for t in (0, 10, 50, 100, 199)},
        crb_t={t: float(crb[t]) for t in (0, 10, 50, 100, 199)},
        per_round=per("err"), ss_per_round=per("ss_err"),
        cover=cover([r["err"] for r in R], [r["cov"] for r in R]),
        ss_cover=cover([r["ss_err"] for r in R], [r["ss_cov"] for r in R]),
        us=[r["t_un"] / r["n_obs"] * 1e6 for r in R],
        ss_us=[r["t_ss"] / (r["n_obs"] - 4) * 1e6 for r in R],
        cpu_us=[r["c_un"] / r["n_obs"] * 1e6 for r in R],
        ss_cpu_us=[r["c_ss"] / (r["n_obs"] - 4) * 1e6 for r in R],
    )  # fmt: skip


def crossing_truths(rng):
    c = np.array([0.0, 1000.0]) + 200 * rng.standard_normal(2)
    a = rng.uniform(0, np.pi)
    v1 = 15 * np.array([np.cos(a), np.sin(a)])
    v2 = 15 * np.array([np.cos(a + 1.2), np.sin(a + 1.2)])
    return [route_truth([(*(c - 60 * v), 0.0), (*(c + 60 * v), 120.0)], 1.0) for v in (v1, v2)]


def gospa(est: np.ndarray, truth: np.ndarray, c: float = 500.0) -> float:
    """GOSPA (p = 2, α = 2): sqrt(Σ assigned min(d, c)² + c²/2 · (missed + false))."""
    if len(est) == 0 or len(truth) == 0:
        return float(np.sqrt(c * c / 2 * (len(est) + len(truth))))
    D = np.minimum(np.linalg.norm(est[:, None] - truth[None], axis=-1), c) ** 2
    i, j = linear_sum_assignment(D)
    unassigned = len(est) + len(truth) - 2 * len(i)
    return float(np.sqrt(D[i, j].sum() + c * c / 2 * unassigned))


ASSOC = ("jpda", "jpda-star", "gnn")


def crossing_round(seed: int, assocs=ASSOC, stonesoup: bool = True):
    rng = np.random.default_rng(seed)
    truths = crossing_truths(rng)
    obs = bearings(rng, truths, FIXED, SIGMA_DEG, freq_hz=446.00625e6)
    runs, out = {}, {}
    for assoc in assocs:
        opts = TrackOptions(model="ncv", process_noise_m_s2=np.sqrt(Q), init_speed_m_s=20.0,
                            association=assoc)  # fmt: skip
        out[f"t_{assoc}"] = out[f"c_{assoc}"] = np.inf
        for _ in range(REPEATS):
            tic, cpu = time.perf_counter(), time.process_time()
            ups, _ = run(obs, opts)
            out[f"t_{assoc}"] = min(out[f"t_{assoc}"], time.perf_counter() - tic)
            out[f"c_{assoc}"] = min(out[f"c_{assoc}"], time.process_time() - cpu)
        by_t: dict[int, list] = {}
        for u in ups:
            if u.status == "confirmed":
                by_t.setdefault(round(u.time_s), []).append(
                    (u.track, enu(u), np.array(u.cov_enu_m2))
                )
        runs[assoc] = by_t
    if stonesoup:
        out["t_ss"] = out["c_ss"] = np.inf
        for _ in range(REPEATS):
            runs["ss"], t, c = stonesoup_crossing(obs, truths)
            out["t_ss"], out["c_ss"] = min(out["t_ss"], t), min(out["c_ss"], c)
    for name, tracks in runs.items():
        out[name] = crossing_metrics(tracks, truths)
    out["n_obs"] = len(obs)
    return out


def crossing_metrics(tracks: dict, truths) -> dict:
    """Per time: optimal assignment of tracks to truths within 500 m; a break is a change of the
    track id following a truth (CLEAR-MOT's ID switch); `apart` counts only those at times when
    the truths are over 500 m apart (nearer, the assignment of tracks to truths is a coin toss
    and a label flip there says nothing); a swap is a truth followed at the end (its last 20 s
    followed) by another track than at its first; a ghost is a track assigned at under half its
    times; coverage: the nearest truth inside the track's 95 % ellipse."""
    T = len(truths[0].times_s)
    g, follow, seen, hit, cover = [], [[], []], {}, {}, []
    far: list[list[bool]] = [[], []]
    for k in range(T):
        tk = tracks.get(k, [])
        tru = np.array([tr.states[k, :2] for tr in truths])
        est = np.array([p for _, p, _ in tk]).reshape(-1, 2)
        g.append(gospa(est, tru))
        for tid, p, C in tk:
            seen[tid] = seen.get(tid, 0) + 1
            Ci = np.linalg.inv(C)
            cover.append(min((p - t) @ Ci @ (p - t) for t in tru) <= 5.991)
        if len(tk):
            D = np.linalg.norm(est[:, None] - tru[None], axis=-1)
            i, j = linear_sum_assignment(D)
            for a, b in zip(i, j, strict=True):
                if D[a, b] < 500:
                    follow[b].append(tk[a][0])
                    far[b].append(bool(np.linalg.norm(tru[0] - tru[1]) > 500))
                    hit[tk[a][0]] = hit.get(tk[a][0], 0) + 1
    breaks = sum(int(np.sum(np.diff(f) != 0)) for f in follow if len(f) > 1)
    apart = 0
    swaps = 0
    for f, w in zip(follow, far, strict=True):
        f2 = [x for x, ok in zip(f, w, strict=True) if ok]
        apart += int(np.sum(np.diff(f2) != 0)) if len(f2) > 1 else 0
        swaps += int(len(f2) > 1 and f2[0] != f2[-1])
    ghosts = sum(1 for tid, n in seen.items() if hit.get(tid, 0) < 0.5 * n)
    return dict(gospa=float(np.mean(g[10:])), breaks=breaks, apart=apart, swaps=swaps,
                ghosts=ghosts, cover=float(np.mean(cover)))  # fmt: skip


def stonesoup_crossing(obs, truths):
    from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
    from stonesoup.hypothesiser.distance import DistanceHypothesiser
    from stonesoup.measures import Mahalanobis
    from stonesoup.types.state import GaussianState
    from stonesoup.types.track import Track

    pred, upd = _ss_models(Q)
    hyp = DistanceHypothesiser(pred, upd, measure=Mahalanobis(), missed_distance=3)
    assoc = GNNWith2DAssignment(hyp)
    t0 = dt.datetime(2026, 1, 1)
    P0 = np.diag([200.0**2, 20.0**2, 200.0**2, 20.0**2])
    tracks = set()
    for tr in truths:
        x = tr.states[0]
        s0 = GaussianState(np.array([[x[0]], [x[2]], [x[1]], [x[3]]]), P0, timestamp=t0)
        tracks.add(Track([s0]))
    scans: dict[tuple[float, str], list] = {}
    for o in obs:
        d = _ss_detection(o, FIXED[o.site.station], t0)
        scans.setdefault((o.time_s, o.site.station), []).append(d)
    by_t: dict[int, list] = {}
    tic, cpu = time.perf_counter(), time.process_time()
    for (ts, _), dets in sorted(scans.items()):
        hyps = assoc.associate(tracks, set(dets), t0 + dt.timedelta(seconds=ts))
        for track in tracks:
            h = hyps[track]
            track.append(upd.update(h) if h.measurement else h.prediction)
        by_t[round(ts)] = [
            (id(t), np.array([t.state_vector[0, 0], t.state_vector[2, 0]]),
             np.asarray(t.covar)[np.ix_([0, 2], [0, 2])])
            for t in tracks
        ]  # fmt: skip
    return by_t, time.perf_counter() - tic, time.process_time() - cpu


def crossing(rounds: int) -> dict:
    R = [crossing_round(500 + r) for r in range(rounds)]
    names = (*ASSOC, "ss")
    out = {f"{n}_{k}": [r[n][k] for r in R] for n in names
           for k in ("gospa", "breaks", "apart", "swaps", "ghosts", "cover")}  # fmt: skip
    for n in names:
        out[f"{n}_us"] = [r[f"t_{n}"] / r["n_obs"] * 1e6 for r in R]
        out[f"{n}_cpu_us"] = [r[f"c_{n}"] / r["n_obs"] * 1e6 for r in R]
    return out


def cli_time() -> float:
    rng = np.random.default_rng(7)
    tr = ncv_truth(rng, np.r_[0.0, 0.0, 5.0, 5.0], Q, 1.0, T_SINGLE)
    obs = bearings(rng, [tr], {**FIXED, "M": mobile(T_SINGLE)}, SIGMA_DEG)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "obs.jsonl"
        p.write_text("".join(json.dumps(observation_to_row(o)) + "\n" for o in obs))
        tic = time.perf_counter()
        cmd = [sys.executable, "-m", "unseen", "track", str(p), "--json", "--model", "ncv"]
        r = subprocess.run(cmd, check=True, capture_output=True)
        cpu = os.times()
        del r
        return time.perf_counter() - tic, len(obs), cpu.children_user + cpu.children_system


def mmm(v) -> str:
    v = np.asarray(v, dtype=float)
    return f"{v.min():.3g} / {np.median(v):.3g} / {v.max():.3g}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10, help="crossing rounds")
    ap.add_argument(
        "--single-rounds",
        type=int,
        default=50,
        help="single-transmitter rounds (paired RMSE differences need ~50)",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=REPEATS,
        help="runs per round and tracker; the least time counts (both trackers)",
    )
    a = ap.parse_args()
    globals()["REPEATS"] = max(a.repeats, 1)
    warm = ncv_truth(np.random.default_rng(0), np.zeros(4), Q, 1, 5)
    run(bearings(np.random.default_rng(0), [warm], FIXED, 2.0))  # numba
    s = single(a.single_rounds)
    print(f"## single transmitter, 3 fixed + 1 mobile station, {a.single_rounds} rounds × "
          f"{T_SINGLE} s")  # fmt: skip
    print(f"position RMSE (t ≥ 10 s): unseen {s['rmse']:.1f} m, "
          f"Stone Soup UKF {s['ss_rmse']:.1f} m, PCRB {s['crb']:.1f} m → "
          f"unseen/PCRB {s['rmse'] / s['crb']:.2f}, "
          f"unseen/StoneSoup {s['rmse'] / s['ss_rmse']:.2f}")  # fmt: skip
    print("RMSE at t = 0/10/50/100/199 s: unseen", [round(v, 1) for v in s["rmse_t"].values()],
          " Stone Soup", [round(v, 1) for v in s["ss_rmse_t"].values()],
          " PCRB", [round(v, 1) for v in s["crb_t"].values()])  # fmt: skip
    print(
        f"per-round RMSE min/median/max: unseen {mmm(s['per_round'])} m, "
        f"Stone Soup {mmm(s['ss_per_round'])} m"
    )
    d = np.subtract(s["per_round"], s["ss_per_round"])
    print(f"paired per-round RMSE difference unseen − Stone Soup: mean {d.mean():+.2f} m, "
          f"standard error {d.std(ddof=1) / np.sqrt(len(d)):.2f} m, unseen lower in "
          f"{int(np.sum(d < 0))} of {len(d)} rounds")  # fmt: skip
    print(f"95 % ellipse coverage: unseen {s['cover']:.3f}, Stone Soup {s['ss_cover']:.3f}")
    print(f"µs per bearing (whole tracker vs predict+update), wall: unseen {mmm(s['us'])}, "
          f"Stone Soup {mmm(s['ss_us'])}; CPU: unseen {mmm(s['cpu_us'])}, "
          f"Stone Soup {mmm(s['ss_cpu_us'])}")  # fmt: skip
    print(f"Stone Soup / unseen time per bearing, per round (min/median/max): "
          f"CPU {mmm(np.divide(s['ss_cpu_us'], s['cpu_us']))}×, "
          f"wall {mmm(np.divide(s['ss_us'], s['us']))}×")  # fmt: skip
    c = crossing(a.rounds)
    print(f"## two transmitters crossing on one channel, 3 stations, {a.rounds} rounds × 120 s")
    print("tracker | GOSPA mean m (min/median/max) | ID switches (all / truths > 500 m apart) | "
          "swapped truths (end ≠ start) | ghosts | 95 % coverage | "
          "µs/bearing wall | µs/bearing CPU")  # fmt: skip
    for n, label in (
        ("jpda", "unseen JPDA"),
        ("jpda-star", "unseen JPDA*"),
        ("gnn", "unseen GNN"),
        ("ss", "Stone Soup GNN"),
    ):
        print(
            f"{label} | {mmm(c[n + '_gospa'])} | {sum(c[n + '_breaks'])} / "
            f"{sum(c[n + '_apart'])} | {sum(c[n + '_swaps'])} of {2 * len(c[n + '_swaps'])} | "
            f"{sum(c[n + '_ghosts'])} | {np.mean(c[n + '_cover']):.3f} | {mmm(c[n + '_us'])} | "
            f"{mmm(c[n + '_cpu_us'])}"
        )
    print(f"Stone Soup / unseen JPDA time per bearing, per round (min/median/max): "
          f"CPU {mmm(np.divide(c['ss_cpu_us'], c['jpda_cpu_us']))}×, "
          f"wall {mmm(np.divide(c['ss_us'], c['jpda_us']))}×")  # fmt: skip
    t, n, cpu = cli_time()
    print(
        f"CLI `unseen track OBS --json --model ncv` on {n} bearings: {t:.2f} s wall, "
        f"{cpu:.2f} s CPU (incl. start-up), {t / n * 1e6:.0f} µs per bearing wall"
    )


if __name__ == "__main__":
    main()
