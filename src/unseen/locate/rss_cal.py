"""Signal-strength calibration from a survey: receiver gain offsets and the path-loss model.

Survey: `rssi` rows (the `unseen locate` format) plus `true_lat`, `true_lon`, the known
transmitter position of each group. Model, least squares over every row i of group j:
    p_ij = P0_j + g_i − 10 n log10 max(d_ij, d0) + e_ij,   e ~ N(0, s²),  Σ g_i = 0
P0_j (each transmission's power) is eliminated by centring within the group, so only g, n are
fitted: g_i is a gain relative to the mean receiver (dB), s the shadowing left after the gains.

CAL.json (validated on read; see the README, locate section):
    {"format": "unseen-rss-calibration", "version": 1,
     "path_loss_exponent": n, "path_loss_exponent_sd": σn, "shadowing_db": s, "ref_m": d0,
     "gain_spread_db": sd of the g_i (the prior for receivers the survey did not hear),
     "offset_drift_db": sd of an offset's change between survey and use (optional, 4 dB),
     "receivers": {station: {"offset_db": g, "sd_db": σg, "rows": k}, ...},
     "survey": {"groups": G, "rows": N, "beyond_horizon": rows `read_survey` left out (`unseen
     calibrate-rss` writes it)},
     "exponent_cv_db": {"one": rms, ridge: rms} (held-out residuals) where the exponents were
     tested, and where held-out survey blocks support them (`exponent_ridge`):
        "exponent_ref_m": d_ref, "exponent_ridge": s²/σu², and per receiver "exponent_dev": u_i,
        "exponent_range_m": [near, far]: p_ij = P0_j + g_i − 10 (n + u_i) log10 d_ij over the
        distances the survey saw (held constant beyond), g_i then at d_ref (`rssi.RssModel`),
     "shadow_map": optional (where held-out survey blocks support it, `map_evidence`, or
        `unseen calibrate-rss --shadow-map`; absent or null: none):
        {"lat0", "lon0": the map frame's origin, "east0_m", "north0_m": its first cell,
         "cell_m", "nx", "ny": the raster, "nugget_db2", "sill_db2", "corr_m": the fitted
         exponential variogram, "transfer": ρ between days (MAP_TRANSFER),
         "receivers": {station: {"mean_db": ny rows of nx, "var_db2": ny rows of nx}}}
        at most MAP_MAX_VALUES cells × receivers (`shadow_map`, `rssi.ShadowMap`).}
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from unseen import validate
from unseen.errors import ConfigError, FileFormatError, GeometryError, InputError
from unseen.locate.io import row_group, row_to_observation
from unseen.locate.reach import bounded, horizon_m
from unseen.locate.rssi import RssModel, fit_gains
from unseen.types import Observation, SignalStrength

FORMAT = "unseen-rss-calibration"
VERSION = 1
MIN_ROWS_PER_RECEIVER = 3
# Day-to-day drift of a receiver's offset (dB, sd): a survey of one session cannot measure it.
# Measured on POWDER (bench/real_rss.py --pairs): offsets learned on 2022-07-05 and 2022-07-06
# differ by 3.9 dB sd over 22 common receivers (their spread: 6–8 dB); 4.0 and 9.1 dB for the
# 6–7 receivers shared with 2022-04-25.
OFFSET_DRIFT_DB = 4.0


def read_survey(
    path: str | Path, excluded: list[str] | None = None
) -> tuple[dict[str, list[SignalStrength]], dict[str, tuple]]:
    """(groups of rssi observations, {group: (true_lat, true_lon)}) from a survey CSV/JSONL.

    A row whose receiver lies beyond the radio horizon of its transmitter (`beyond_horizon`)
    is left out with a warning naming its line, station and distance (also appended to
    `excluded`)."""
    name = str(path)
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise FileFormatError(f"{name}: not a UTF-8 text file") from None
    lines = text.splitlines()
    if not any(s.strip() for s in lines):
        raise FileFormatError(f"{name}: no survey rows (empty input)")
    if text.lstrip().startswith("{"):
        items = []
        for n, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise FileFormatError(f"{name}: line {n}: not valid JSON: {exc.msg}") from None
                if not isinstance(obj, dict):
                    raise FileFormatError(f"{name}: line {n}: expected a JSON object")
                items.append((obj, f"{name}: line {n}"))
    else:
        reader = csv.DictReader(lines)
        need = ("kind", "station", "lat", "lon", "rssi_dbm", "sigma_db", "true_lat", "true_lon")
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise FileFormatError(
                f"{name}: line 1: survey CSV header lacks column(s) {', '.join(missing)}"
            )
        items = [(r, f"{name}: line {reader.line_num}") for r in reader]
    groups: dict[str, list[SignalStrength]] = {}
    truth: dict[str, tuple] = {}
    lines: dict[str, list[str]] = {}
    for data, where in items:
        g = row_group(data, where)
        _, obs = row_to_observation(data, where)
        if not isinstance(obs, SignalStrength):
            raise FileFormatError(f"{where}: column 'kind': a survey has rssi rows only")
        t = _truth(data, where)
        if truth.setdefault(g, t) != t:
            raise FileFormatError(
                f"{where}: columns 'true_lat'/'true_lon': group {g!r} already has "
                f"{truth[g]}, got {t}; one transmitter position per group"
            )
        groups.setdefault(g, []).append(obs)
        lines.setdefault(g, []).append(where)
    if not groups:
        raise FileFormatError(f"{name}: no survey rows (a header but no rows)")
    far = beyond_horizon(groups, truth)
    whole = {g for g, k in Counter(f[0] for f in far).items() if k == len(groups[g])}
    for g in whole:
        warnings.warn(
            f"{lines[g][0]}: group {g!r}: all {len(groups[g])} receivers lie beyond the radio "
            f"horizon of the surveyed transmitter at {truth[g][0]:.5f}, {truth[g][1]:.5f} (a "
            "wrong true_lat/true_lon): group left out of the calibration",
            stacklevel=2,
        )
    for g, i, d, lim in far:
        o, where = groups[g][i], lines[g][i] + (f" (group {g!r})" if g else "")
        msg = (
            f"{where}: station {o.site.station!r} at {o.site.lat_deg:.5f}, "
            f"{o.site.lon_deg:.5f} is {d / 1e3:,.0f} km from the surveyed transmitter, beyond "
            f"the {lim / 1e3:,.0f} km radio horizon (a wrong receiver position): row left out "
            "of the calibration"
        )
        if g not in whole:
            warnings.warn(msg, stacklevel=2)
        if excluded is not None:
            excluded.append(msg)
    if far:
        groups, truth = without(groups, truth, far)
        if not groups:
            raise FileFormatError(
                f"{name}: no survey rows left: every receiver lies beyond the radio horizon of "
                "its transmitter"
            )
    return groups, truth


def without(
    groups: Mapping[str, Sequence[SignalStrength]],
    truth: Mapping[str, tuple[float, float]],
    far: Sequence[tuple],
) -> tuple[dict[str, list[SignalStrength]], dict[str, tuple]]:
    """(groups, truth) without the readings `far` names ((group, index, ...), as
    `beyond_horizon` gives them) and without the groups that leaves empty."""
    drop = {(g, i) for g, i, *_ in far}
    kept = {g: [o for i, o in enumerate(obs) if (g, i) not in drop] for g, obs in groups.items()}
    kept = {g: obs for g, obs in kept.items() if obs}
    return kept, {g: truth[g] for g in kept}


def beyond_horizon(
    groups: Mapping[str, Sequence[SignalStrength]],
    truth: Mapping[str, tuple[float, float]],
    dist_m: Mapping[str, np.ndarray] | None = None,
) -> list[tuple[str, int, float, float]]:
    """(group, index in the group, distance m, bound m) of each reading whose receiver lies
    farther from its group's known transmitter than any receiver can hear (`reach.horizon_m`;
    readings at a known HF `freq_hz` exempt). `dist_m`: the groups' `distances` where known."""
    if dist_m is None:
        dist_m = distances(groups, truth)
    out = []
    for g, obs in groups.items():
        for i, (o, dk) in enumerate(zip(obs, dist_m[g].tolist(), strict=True)):
            if bounded(o.freq_hz) and not dk <= (lim := horizon_m(o.site.alt_m)):
                out.append((g, i, dk, lim))
    return out


def distances(
    groups: Mapping[str, Sequence[SignalStrength]], truth: Mapping[str, tuple[float, float]]
) -> dict[str, np.ndarray]:
    """Each group's geodesic distances (m) from its receivers to its known transmitter."""
    from unseen.geo.geodesic import distance

    obs = [(truth[g], o) for g, v in groups.items() for o in v]
    if not obs:
        return {g: np.zeros(0) for g in groups}
    d = np.atleast_1d(distance(
        np.array([o.site.lat_deg for _, o in obs]), np.array([o.site.lon_deg for _, o in obs]),
        np.array([t[0] for t, _ in obs]), np.array([t[1] for t, _ in obs]),
    ))  # fmt: skip
    return dict(zip(groups, np.split(d, np.cumsum([len(v) for v in groups.values()])[:-1]),
                    strict=True))  # fmt: skip


def _truth(data: Mapping, where: str) -> tuple[float, float]:
    out = []
    for key, lim in (("true_lat", 90.0), ("true_lon", 180.0)):
        v = data.get(key)
        try:
            x = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise FileFormatError(
                f"{where}: column {key!r}: expected a number, got {v!r}"
            ) from None
        if not math.isfinite(x) or abs(x) > lim:
            raise FileFormatError(
                f"{where}: column {key!r}: expected [-{lim:g}, {lim:g}], got {v!r}"
            )
        out.append(x)
    return out[0], out[1]


def calibrate(
    groups: Mapping[str, Sequence[SignalStrength]],
    truth: Mapping[str, tuple[float, float]],
    ref_m: float = RssModel.ref_m,
    exponents: bool = False,
) -> dict:
    """Fit gain offsets, exponent and shadowing (the CAL.json object) from surveyed groups."""
    dist = distances(groups, truth)
    far = beyond_horizon(groups, truth, dist)
    if far:
        g, i, d, lim = far[0]
        raise InputError(
            f"group {g!r}: signal strength at station {groups[g][i].site.station!r} is "
            f"{d / 1e3:,.0f} km from the surveyed transmitter, beyond the {lim / 1e3:,.0f} km "
            f"radio horizon ({len(far)} such reading(s)): leave them out (`read_survey` does)"
        )
    st, grp, p, x = [], [], [], []
    for j, (g, obs) in enumerate(groups.items()):
        if len(obs) < 2:
            continue
        st += [o.site.station for o in obs]
        grp += [j] * len(obs)
        p += [o.rssi_dbm for o in obs]
        x += list(10.0 * np.log10(np.maximum(dist[g], ref_m)))
    names, sid = np.unique(np.array(st, dtype=object), return_inverse=True)
    gid = np.unique(np.array(grp), return_inverse=True)[1]
    G, S, N = int(gid.max()) + 1 if grp else 0, len(names), len(p)
    if G < 2 or N - G - S < 2:
        raise GeometryError(
            f"survey too small: {G} groups, {N} rows for {S} receiver offsets and the exponent"
        )
    p, x = np.asarray(p, dtype=float), np.asarray(x)
    gains, n, cov, s2, _ = fit_gains(sid, gid, p, x)
    rows = np.bincount(sid, minlength=S)
    well = rows >= MIN_ROWS_PER_RECEIVER
    if not well.any():
        raise GeometryError(
            f"survey too small: no receiver has {MIN_ROWS_PER_RECEIVER} readings to calibrate "
            f"(at most {int(rows.max())}, {G} groups)"
        )
    lam, cv = exponent_ridge(sid, gid, p, x, _blocks(groups, truth)) if exponents else (None, {})
    dev = np.zeros(S)
    x_ref = float(np.mean(x))
    if lam is not None:
        gains, n, dev, cov = fit_exponents(sid, gid, p, x - x_ref, lam, S)
    sd = np.sqrt(np.maximum(np.diag(cov)[:S], 0.0))
    out = {
        "format": FORMAT,
        "version": VERSION,
        "path_loss_exponent": n,
        "path_loss_exponent_sd": float(np.sqrt(cov[S, S])),
        "shadowing_db": float(np.sqrt(s2)),
        "ref_m": float(ref_m),
        "gain_spread_db": float(np.std(gains[well])) if well.sum() > 1 else 0.0,
        "offset_drift_db": OFFSET_DRIFT_DB,
        "receivers": {
            str(nm): {"offset_db": float(gains[i]), "sd_db": float(sd[i]), "rows": int(rows[i])}
            for i, nm in enumerate(names)
            if well[i]
        },
        "survey": {"groups": G, "rows": N},
    }
    if cv:
        out["exponent_cv_db"] = cv
    if lam is not None:
        out["exponent_ref_m"] = float(10.0 ** (x_ref / 10.0))
        out["exponent_ridge"] = lam
        for i, nm in enumerate(names):
            if well[i]:
                q = 10.0 ** (np.percentile(x[sid == i], EXP_RANGE_PCT) / 10.0)
                out["receivers"][str(nm)]["exponent_dev"] = float(dev[i])
                out["receivers"][str(nm)]["exponent_range_m"] = [float(q[0]), float(q[1])]
    return out


EXP_RIDGES = (3e3, 1e3, 3e2, 1e2)  # candidate s²/σu² of the per-receiver exponent deviations
EXP_BLOCK_M = 400.0  # cross-validation blocks of transmitter positions (beyond shadowing's reach)
EXP_FOLDS = 5
EXP_RANGE_PCT = (0.0, 100.0)  # a receiver's deviation holds over the distances its survey saw
EXP_MIN_GAIN_DB = 0.1  # held-out rms gain (dB) the deviations must buy over one exponent


def fit_exponents(
    sid: np.ndarray, gid: np.ndarray, p: np.ndarray, x: np.ndarray, ridge: float, S: int
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """p_ij = P0_j + g_i − (n + u_i) x_ij + e over S receivers, u_i ~ N(0, s²/ridge) (x = 10
    log10 d − x_ref, so g_i is the gain at the reference distance): (g (S,), n, u (S,), cov of
    (g, n, u))."""
    G, N = int(gid.max()) + 1, len(p)
    A = np.zeros((N, 2 * S + 1))
    A[np.arange(N), sid] = 1.0
    A[:, S] = -x
    A[np.arange(N), S + 1 + sid] = -x
    y = p.copy()
    cnt = np.bincount(gid, minlength=G).astype(float)
    for col in (*A.T, y):
        col -= (np.bincount(gid, weights=col, minlength=G) / np.maximum(cnt, 1))[gid]
    H = A.T @ A + np.diag(np.r_[np.zeros(S + 1), np.full(S, ridge)])
    Hi = np.linalg.pinv(H)  # the gains' common level is not identified: minimum norm
    sol = Hi @ (A.T @ y)
    res = y - A @ sol
    s2 = float(res @ res) / max(N - G - S, 1)
    return sol[:S] - sol[:S].mean(), float(sol[S]), sol[S + 1 :], s2 * Hi


def _blocks(groups: Mapping, truth: Mapping) -> np.ndarray:
    """Fold (0..EXP_FOLDS−1) of each surveyed group (those `calibrate` keeps, in order): its
    transmitter's EXP_BLOCK_M square, so that held-out groups are far from the fitted ones."""
    from unseen.geo.frames import geodetic2enu

    keep = [g for g, obs in groups.items() if len(obs) >= 2]
    t = np.array([truth[g] for g in keep])
    en = geodetic2enu(t[:, 0], t[:, 1], np.zeros(len(t)), t[:, 0].mean(), t[:, 1].mean(), 0.0)
    return _fold(np.asarray(en)[:, :2])


def _fold(en: np.ndarray) -> np.ndarray:
    """Fold (0..EXP_FOLDS−1) of each point (k, 2: east, north m): its EXP_BLOCK_M square, hashed."""
    b = np.floor(en / EXP_BLOCK_M).astype(np.int64)
    return (b[:, 0] * 7919 + b[:, 1] * 104729) % EXP_FOLDS


def exponent_ridge(
    sid: np.ndarray, gid: np.ndarray, p: np.ndarray, x: np.ndarray, fold: np.ndarray
) -> tuple[float | None, dict]:
    """Per-receiver exponents or one? Held-out rms residual (dB, P0 re-centred per group) of
    the survey's groups in spatial blocks (`_blocks`), one exponent against deviations for each
    ridge in EXP_RIDGES: the best ridge where it beats one exponent by EXP_MIN_GAIN_DB, else
    None. Also {"one": rms, ridge: rms, ...}."""
    S, f = int(sid.max()) + 1, fold[gid]
    if len(np.unique(f)) < 2:
        return None, {}
    se = np.zeros(len(EXP_RIDGES) + 1)
    n_te = 0
    for k in np.unique(f):
        tr, te = f != k, f == k
        g_tr = np.unique(gid[tr], return_inverse=True)[1]
        g_te = np.unique(gid[te], return_inverse=True)[1]
        cnt = np.bincount(g_te).astype(float)
        for j, lam in enumerate((1e12, *EXP_RIDGES)):
            a, n, u, _ = fit_exponents(sid[tr], g_tr, p[tr], x[tr], lam, S)
            r = p[te] - a[sid[te]] + (n + u[sid[te]]) * x[te]
            r -= (np.bincount(g_te, weights=r) / cnt)[g_te]
            se[j] += float(r @ r)
        n_te += int(te.sum())
    rms = np.sqrt(se / max(n_te, 1))
    if not np.all(np.isfinite(rms)):  # a fold too small to fit (a survey of a few groups)
        return None, {}
    cv = {"one": round(float(rms[0]), 3)} | {
        f"{lam:g}": round(float(v), 3) for lam, v in zip(EXP_RIDGES, rms[1:], strict=True)
    }
    j = int(np.argmin(rms[1:]))
    return (EXP_RIDGES[j] if rms[0] - rms[1 + j] >= EXP_MIN_GAIN_DB else None), cv


MAP_MAX_POINTS = 1500  # survey points per receiver in its kriging system (evenly subsampled)
MAP_MAX_VALUES = 400_000  # raster cells × receivers in CAL.json (the cell grows to fit)
MAP_BIN_M = 25.0  # variogram bin width; pairs up to MAP_MAX_LAG_M
MAP_MAX_LAG_M = 1000.0
# Correlation of a receiver's structured shadowing between two survey days (0–1): a survey of one
# day cannot measure it. POWDER (bench/real_rss.py --pairs): residuals of one receiver at points
# < 25 m apart on two days correlate 0.33–0.40, while within a day the structured part is
# 50–70 % of the variance, so ρ ≈ 0.4 / 0.6 ≈ 0.6.
MAP_TRANSFER = 0.6


def residuals(
    groups: Mapping[str, Sequence[SignalStrength]],
    truth: Mapping[str, tuple[float, float]],
    cal: Mapping,
    lat0: float,
    lon0: float,
) -> dict[str, np.ndarray]:
    """{station: (k, 3) east, north (m, transmitter in the frame at lat0, lon0), residual dB}:
    each reading less its offset and the path loss, centred within its group (P0 removed)."""
    from unseen.geo.frames import geodetic2enu

    rx, n, d0 = cal["receivers"], cal["path_loss_exponent"], cal["ref_m"]
    out: dict[str, list] = {}
    for g, obs in groups.items():
        obs = [o for o in obs if o.site.station in rx]
        if len(obs) < 2:
            continue
        la, lo = truth[g]
        t = geodetic2enu(la, lo, 0.0, lat0, lon0, 0.0)
        s = geodetic2enu(np.array([o.site.lat_deg for o in obs]),
                         np.array([o.site.lon_deg for o in obs]), np.zeros(len(obs)),
                         lat0, lon0, 0.0)  # fmt: skip
        d = np.maximum(np.hypot(s[:, 0] - t[0], s[:, 1] - t[1]), d0)
        y = np.array([o.rssi_dbm - rx[o.site.station]["offset_db"] for o in obs])
        y = y + 10.0 * n * np.log10(d) + _tilt(cal, [o.site.station for o in obs], d)
        y -= y.mean()
        for o, v in zip(obs, y, strict=True):
            out.setdefault(o.site.station, []).append((t[0], t[1], v))
    return {k: np.array(v) for k, v in out.items()}


def _tilt(cal: Mapping, stations: list[str], d: np.ndarray) -> np.ndarray:
    """Each reading's gain from its receiver's exponent deviation (`RssModel`), dB."""
    out = np.zeros(len(stations))
    for k, s in enumerate(stations):
        r = cal["receivers"].get(s, {})
        if "exponent_dev" in r:
            a, b = r["exponent_range_m"]
            x = 10.0 * np.log10(np.clip(d[k], a, b) / cal["exponent_ref_m"])
            out[k] = r["exponent_dev"] * x
    return out


def _thin(a: np.ndarray, k: int) -> np.ndarray:
    return a if len(a) <= k else a[np.linspace(0, len(a) - 1, k).astype(int)]


def variogram(res: Mapping[str, np.ndarray]) -> tuple[float, float, float]:
    """(nugget dB², partial sill dB², correlation distance m): exponential model
    γ(h) = η² + σs² (1 − exp(−h/L)) least-squares fitted (weights: pairs per bin) to the
    empirical semivariogram of each receiver's residuals between transmitter positions, pooled."""
    from scipy.optimize import curve_fit

    edges = np.arange(0.0, MAP_MAX_LAG_M + MAP_BIN_M, MAP_BIN_M)
    acc, cnt = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    for a in res.values():
        a = _thin(a, 600)
        iu = np.triu_indices(len(a), 1)
        h = np.hypot(*(a[:, None, :2] - a[None, :, :2]).transpose(2, 0, 1))[iu]
        g = 0.5 * (a[:, None, 2] - a[None, :, 2])[iu] ** 2
        k = np.digitize(h, edges) - 1
        ok = k < len(acc)
        np.add.at(acc, k[ok], g[ok])
        np.add.at(cnt, k[ok], 1)
    use = cnt >= 30
    if use.sum() < 4:
        raise GeometryError(
            "survey too small for a shadowing map: fewer than 4 distance bins with 30 pairs of "
            "one receiver's readings"
        )
    h, gam = 0.5 * (edges[:-1] + edges[1:])[use], (acc / np.maximum(cnt, 1))[use]
    top = float(gam.max())

    def model(x, nug, sill, corr):
        return nug + sill * (1.0 - np.exp(-x / corr))

    try:
        (nug, sill, corr), _ = curve_fit(
            model, h, gam, p0=(gam[0], max(top - gam[0], 1e-3), 200.0),
            sigma=1.0 / np.sqrt(cnt[use]), bounds=([0.0, 0.0, 10.0], [2 * top, 2 * top, 5000.0]),
        )  # fmt: skip
    except (RuntimeError, ValueError) as exc:
        raise GeometryError(f"shadowing map: the variogram fit failed ({exc})") from None
    return float(nug), float(sill), float(corr)


def shadow_map(
    groups: Mapping[str, Sequence[SignalStrength]],
    truth: Mapping[str, tuple[float, float]],
    cal: Mapping,
) -> dict:
    """The CAL.json `shadow_map` object: each calibrated receiver's residual shadowing kriged
    (simple kriging, exponential covariance from `variogram`) on a raster over the survey's
    transmitter positions padded by 2 L; mean and kriging variance per cell (dB, dB²)."""
    res, lat0, lon0 = _centred_residuals(groups, truth, cal)
    return _kriged(res, *variogram(res), lat0, lon0)


def _centred_residuals(
    groups: Mapping[str, Sequence[SignalStrength]],
    truth: Mapping[str, tuple[float, float]],
    cal: Mapping,
) -> tuple[dict[str, np.ndarray], float, float]:
    """`residuals` in the frame at the mean surveyed transmitter position, and that origin."""
    lat0 = float(np.mean([t[0] for t in truth.values()]))
    lon0 = float(np.mean([t[1] for t in truth.values()]))
    return residuals(groups, truth, cal, lat0, lon0), lat0, lon0


MAP_MIN_GAIN_DB = 0.1  # held-out rms gain (dB) the map must buy for `calibrate-rss` to keep it


def map_evidence(
    groups: Mapping[str, Sequence[SignalStrength]],
    truth: Mapping[str, tuple[float, float]],
    cal: Mapping,
) -> tuple[dict | None, dict]:
    """The shadowing map where the survey shows it predicts: each receiver's residuals in one
    spatial block (`EXP_BLOCK_M` squares, `EXP_FOLDS` folds, as for the exponents) kriged from
    the other blocks; kept when the held-out rms falls by MAP_MIN_GAIN_DB. (map or None,
    {"none": rms dB, "map": rms dB} or {"why": reason})."""
    res, lat0, lon0 = _centred_residuals(groups, truth, cal)
    try:
        nug, sill, corr = variogram(res)
    except GeometryError as exc:
        return None, {"why": str(exc)}
    se0 = se1 = 0.0
    n = 0
    for a in res.values():
        fold = _fold(a[:, :2])
        for k in np.unique(fold):
            tr, te = _thin(a[fold != k], MAP_MAX_POINTS), a[fold == k]
            if len(tr) < 2:
                continue
            pred = _krige(tr, te[:, :2], nug, sill, corr)[0]
            se0 += float(te[:, 2] @ te[:, 2])
            se1 += float(np.sum((te[:, 2] - pred) ** 2))
            n += len(te)
    if n == 0:
        return None, {"why": "no receiver was surveyed in two blocks"}
    cv = {"none": round(float(np.sqrt(se0 / n)), 3), "map": round(float(np.sqrt(se1 / n)), 3)}
    if cv["none"] - cv["map"] < MAP_MIN_GAIN_DB:
        return None, cv
    return _kriged(res, nug, sill, corr, lat0, lon0), cv


def _krige(
    a: np.ndarray, q: np.ndarray, nug: float, sill: float, corr: float
) -> tuple[np.ndarray, np.ndarray]:
    """Simple kriging of residuals a (k, 3: east, north m, dB) at points q (m, 2): mean dB,
    variance dB² (exponential covariance sill·exp(−h/corr), nugget on the data)."""
    from scipy.linalg import cho_factor, cho_solve

    h = np.hypot(*(a[:, None, :2] - a[None, :, :2]).transpose(2, 0, 1))
    c = cho_factor(sill * np.exp(-h / corr) + nug * np.eye(len(a)))
    k = sill * np.exp(-np.hypot(*(q[:, None] - a[None, :, :2]).transpose(2, 0, 1)) / corr)
    sol = cho_solve(c, k.T)
    return sol.T @ a[:, 2], np.maximum(sill - np.einsum("qk,kq->q", k, sol), 0.0)


def _kriged(
    res: Mapping[str, np.ndarray], nug: float, sill: float, corr: float, lat0: float, lon0: float
) -> dict:
    pts = np.concatenate(list(res.values()))[:, :2]
    lo, hi = pts.min(0) - 2 * corr, pts.max(0) + 2 * corr
    cell = max(corr / 3.0, 10.0)
    while len(res) * np.prod(np.ceil((hi - lo) / cell) + 1) > MAP_MAX_VALUES:
        cell *= 1.25
    nx, ny = (np.ceil((hi - lo) / cell) + 1).astype(int)
    ge, gn = lo[0] + cell * np.arange(nx), lo[1] + cell * np.arange(ny)
    q = np.stack(np.meshgrid(ge, gn, indexing="xy"), -1).reshape(-1, 2)
    mean, var = {}, {}
    for st, a in sorted(res.items()):
        m, v = _krige(_thin(a, MAP_MAX_POINTS), q, nug, sill, corr)
        mean[st] = np.round(m, 2).reshape(ny, nx)
        var[st] = np.round(v, 2).reshape(ny, nx)
    return {
        "lat0": lat0, "lon0": lon0, "east0_m": float(lo[0]), "north0_m": float(lo[1]),
        "cell_m": float(cell), "nx": int(nx), "ny": int(ny),
        "nugget_db2": nug, "sill_db2": sill, "corr_m": corr, "transfer": MAP_TRANSFER,
        "receivers": {st: {"mean_db": mean[st].tolist(), "var_db2": var[st].tolist()}
                      for st in mean},
    }  # fmt: skip


def to_map(obj: Mapping):
    """A ShadowMap from a (validated) CAL.json `shadow_map` object."""
    from unseen.locate.rssi import ShadowMap

    st = tuple(sorted(obj["receivers"]))
    return ShadowMap(
        lat0=float(obj["lat0"]), lon0=float(obj["lon0"]), e0=float(obj["east0_m"]),
        n0=float(obj["north0_m"]), cell_m=float(obj["cell_m"]),
        nugget_db2=float(obj["nugget_db2"]), sill_db2=float(obj["sill_db2"]),
        transfer=float(obj["transfer"]), stations=st,
        mean_db=np.array([obj["receivers"][s]["mean_db"] for s in st], dtype=float),
        var_db2=np.array([obj["receivers"][s]["var_db2"] for s in st], dtype=float),
    )  # fmt: skip


def _field(obj: Mapping, key: str, name: str, lo: float, hi: float) -> float:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not (lo <= v <= hi):
        raise ConfigError(
            f"{name}: field {key!r}: expected a number in [{lo:g}, {hi:g}], got {v!r}"
        )
    return float(v)


def _check_map(sm, name: str) -> None:
    """ConfigError unless `sm` is a well-formed `shadow_map` object (bounded size)."""
    where = f"{name}: shadow_map"
    if not isinstance(sm, dict):
        raise ConfigError(f"{where}: expected an object, got {sm!r}")
    for key, lo, hi in (("lat0", -90, 90), ("lon0", -180, 180), ("east0_m", -1e6, 1e6),
                        ("north0_m", -1e6, 1e6), ("cell_m", 1, 1e4), ("nugget_db2", 0, 1600),
                        ("sill_db2", 0, 1600), ("corr_m", 1, 1e5), ("transfer", 0, 1),
                        ("nx", 2, 10_000), ("ny", 2, 10_000)):  # fmt: skip
        _field(sm, key, where, lo, hi)
    nx, ny, rx = sm["nx"], sm["ny"], sm.get("receivers")
    if not isinstance(nx, int) or not isinstance(ny, int):
        raise ConfigError(f"{where}: fields 'nx', 'ny': expected integers, got {nx!r}, {ny!r}")
    if not isinstance(rx, dict):
        raise ConfigError(f"{where}: field 'receivers': expected an object, got {rx!r}")
    if nx * ny * len(rx) > MAP_MAX_VALUES:
        raise ConfigError(
            f"{where}: {nx}×{ny} cells × {len(rx)} receivers exceeds {MAP_MAX_VALUES} values"
        )
    for st, r in rx.items():
        for key, lo, hi in (("mean_db", -100.0, 100.0), ("var_db2", 0.0, 1600.0)):
            v = r.get(key) if isinstance(r, dict) else None
            try:
                a = np.asarray(v, dtype=float)
            except (TypeError, ValueError):
                a = np.zeros(0)
            if a.shape != (ny, nx) or not np.all((a >= lo) & (a <= hi)):
                raise ConfigError(
                    f"{where}.receivers.{st}: field {key!r}: expected {ny} rows of {nx} numbers "
                    f"in [{lo:g}, {hi:g}]"
                )


def load(path: str | Path) -> dict:
    """A CAL.json, validated (ConfigError naming file, field and value)."""
    name = str(path)
    text = validate.read_text(path, "RSS calibration file", ConfigError, max_bytes=16 * 1024**2)
    obj = validate.loads_json(text, name, ConfigError)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise ConfigError(f"{name}: field 'format': expected {FORMAT!r}, got {got!r}")
    if obj.get("version") != VERSION:
        raise ConfigError(
            f"{name}: field 'version': expected {VERSION}, got {obj.get('version')!r}"
        )
    _field(obj, "path_loss_exponent", name, 0.5, 10.0)
    _field(obj, "path_loss_exponent_sd", name, 0.0, 10.0)
    _field(obj, "shadowing_db", name, 0.0, 40.0)
    _field(obj, "ref_m", name, 0.1, 1000.0)
    _field(obj, "gain_spread_db", name, 0.0, 60.0)
    if "offset_drift_db" in obj:
        _field(obj, "offset_drift_db", name, 0.0, 60.0)
    if "exponent_ref_m" in obj:
        _field(obj, "exponent_ref_m", name, 1.0, 1e5)
    if obj.get("shadow_map") is not None:
        _check_map(obj["shadow_map"], name)
    rx = obj.get("receivers")
    if not isinstance(rx, dict):
        raise ConfigError(f"{name}: field 'receivers': expected an object, got {rx!r}")
    for st, r in rx.items():
        if not isinstance(r, dict):
            raise ConfigError(f"{name}: field 'receivers.{st}': expected an object, got {r!r}")
        _field(r, "offset_db", f"{name}: receivers.{st}", -100.0, 100.0)
        _field(r, "sd_db", f"{name}: receivers.{st}", 0.0, 60.0)
        if "exponent_dev" in r:
            _field(r, "exponent_dev", f"{name}: receivers.{st}", -5.0, 5.0)
            v = r.get("exponent_range_m")
            if not (isinstance(v, list) and len(v) == 2
                    and all(isinstance(a, int | float) and 0.1 <= a <= 2.1e7 for a in v)
                    and v[0] <= v[1]):  # fmt: skip
                raise ConfigError(
                    f"{name}: receivers.{st}: field 'exponent_range_m': expected [near, far] "
                    f"metres, 0.1 ≤ near ≤ far ≤ 2.1e7 (half the Earth), got {v!r}"
                )
    return obj


def apply(
    groups: Mapping[str, Sequence[Observation]], cal: Mapping, model: RssModel | None = None
) -> tuple[dict[str, list[Observation]], RssModel]:
    """Groups with each receiver's offset removed and its uncertainty added to sigma_db: the
    fit's sd and the offset's drift since the survey (`offset_drift_db`, else OFFSET_DRIFT_DB).

    Receivers the survey did not calibrate keep their reading, with the survey's gain spread
    added to sigma_db. The model takes the survey's shadowing and reference distance.
    """
    rx = cal["receivers"]
    spread = float(cal["gain_spread_db"])
    drift = float(cal.get("offset_drift_db", OFFSET_DRIFT_DB))
    out: dict[str, list[Observation]] = {}
    for g, obs in groups.items():
        new: list[Observation] = []
        for o in obs:
            if isinstance(o, SignalStrength):
                r = rx.get(o.site.station)
                off, sd = (r["offset_db"], math.hypot(r["sd_db"], drift)) if r else (0.0, spread)
                o = replace(o, rssi_dbm=o.rssi_dbm - off, sigma_db=math.hypot(o.sigma_db, sd))
            new.append(o)
        out[g] = new
    base = model or RssModel()
    if not math.isfinite(cal["shadowing_db"]):
        raise InputError("calibration: shadowing_db must be finite")
    sm = to_map(cal["shadow_map"]) if cal.get("shadow_map") is not None else None
    dev = tuple((str(k), float(r["exponent_dev"]), *map(float, r["exponent_range_m"]))
                for k, r in rx.items() if "exponent_dev" in r)  # fmt: skip
    src = "calibration" + ("+exponents" if dev else "") + ("+map" if sm is not None else "")
    return out, replace(
        base, shadowing_db=float(cal["shadowing_db"]), ref_m=float(cal["ref_m"]),
        source=src, shadow_map=sm, exponent_dev=dev,
        exponent_ref_m=float(cal.get("exponent_ref_m", base.exponent_ref_m)),
    )  # fmt: skip
