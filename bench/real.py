"""Real-data table: every real recording in ../shared/data through unseen, beside a baseline.

    .venv/bin/python bench/real.py

Prints one table "data set | figure | unseen | baseline/peer". Rows come from every
`bench/real_*.py` module present (each has `rows() -> list[dict]` with keys dataset, figure,
unseen, baseline) plus this file's own: the DCF77 TDOA fix (`unseen tdoa … --json | unseen
locate - --json`, default options, run as a user runs it) against the KiwiSDR TDoA service's
method re-implemented here (per-pair cross-correlation of the IQ less its mean in 1 s windows
with a parabolic peak, TDOA = mean over windows, σ = spread/√K, and a χ² map over a 0.01°
grid; the same GNSS time alignment), and reader checks on the other real files.
"""

from __future__ import annotations

import _common

if __name__ == "__main__":
    _common.pin()

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "../shared/data"
DCF77 = DATA / "kiwisdr-dcf77-2020-08-13"
TRUTH = (50.0152, 9.0112)
STATIONS = {
    "HB9ODP": (46.499351, 8.798828),
    "JO51xl": (51.466044, 11.977189),
    "pa0rdt": (51.500500, 3.600690),
}
C = 299_792_458.0


def _km(lat: float, lon: float) -> float:
    from geographiclib.geodesic import Geodesic

    return Geodesic.WGS84.Inverse(lat, lon, *TRUTH)["s12"] / 1e3


def _m2(fix: dict) -> float:
    from unseen.geo.frames import geodetic2enu

    e, n, _ = geodetic2enu(TRUTH[0], TRUTH[1], 0.0, fix["lat"], fix["lon"], 0.0)
    v = np.array([float(e), float(n)])
    return float(v @ np.linalg.solve(np.array(fix["cov_enu_m2"])[:2, :2], v))


def unseen_dcf77() -> tuple[dict, float]:
    """The default `unseen tdoa | unseen locate` fix and its wall time (s)."""
    wavs = sorted(str(p) for p in DCF77.glob("*.wav"))
    with tempfile.TemporaryDirectory() as tmp:
        st = Path(tmp) / "stations.csv"
        st.write_text(
            "station,lat,lon\n" + "".join(f"{k},{a},{b}\n" for k, (a, b) in STATIONS.items())
        )
        t0 = time.perf_counter()
        rows = subprocess.run(
            [sys.executable, "-m", "unseen", "tdoa", *wavs, "--stations", str(st), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        fix = subprocess.run(
            [sys.executable, "-m", "unseen", "locate", "-", "--json"],
            input=rows,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        dt = time.perf_counter() - t0
    return json.loads(fix.splitlines()[0]), dt


def _parabolic(r: np.ndarray, k: int) -> float:
    if 0 < k < len(r) - 1:
        den = r[k - 1] - 2 * r[k] + r[k + 1]
        if den < 0:
            return k + 0.5 * (r[k - 1] - r[k + 1]) / den
    return float(k)


def kiwi_baseline() -> tuple[tuple[float, float], float]:
    """The KiwiSDR-style fix (lat, lon) and wall time: 1 s windows, parabolic peak, χ² map."""
    import scipy.signal

    from unseen.sources import open_recording
    from unseen.tdoa import max_lag_from, on_grid
    from unseen.types import Site

    t0 = time.perf_counter()
    recs = []
    for p in sorted(DCF77.glob("*.wav")):
        r = open_recording(p)
        r.site = Site(r.station, *STATIONS[r.station], 0.0)
        recs.append(r)
    blocks = on_grid(recs)
    fs = blocks[0].sample_rate_hz
    win = int(fs)
    pairs = []
    for i in range(len(blocks)):
        for j in range(i + 1, len(blocks)):
            a, b = blocks[i].samples[0], blocks[j].samples[0]
            lag_max = int(np.ceil(max_lag_from(recs[i].site, recs[j].site) * fs)) + 1
            est = []
            for s in range(0, min(len(a), len(b)) - win + 1, win):
                x = a[s : s + win] - a[s : s + win].mean()
                y = b[s : s + win] - b[s : s + win].mean()
                r = np.abs(scipy.signal.correlate(x, y, mode="full", method="fft"))
                mid = win - 1
                seg = r[mid - lag_max : mid + lag_max + 1]
                k = int(np.argmax(seg))
                est.append((_parabolic(seg, k) - lag_max) / fs)
            est = np.array(est)
            pairs.append((i, j, float(est.mean()), float(est.std(ddof=1) / np.sqrt(len(est)))))
    lat = np.arange(44.0, 56.0, 0.01)
    lon = np.arange(0.0, 18.0, 0.01)
    LAT, LON = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    R = 6_371_000.0

    def dist(la, lo):
        la, lo = np.radians(la), np.radians(lo)
        h = np.sin((LAT - la) / 2) ** 2 + np.cos(LAT) * np.cos(la) * np.sin((LON - lo) / 2) ** 2
        return 2 * R * np.arcsin(np.sqrt(h))

    d = [dist(*STATIONS[r.station]) for r in recs]
    chi2 = np.zeros_like(LAT)
    for i, j, tau, sig in pairs:
        chi2 += ((tau - (d[i] - d[j]) / C) / max(sig, 1e-9)) ** 2
    k = np.unravel_index(np.argmin(chi2), chi2.shape)
    return (float(lat[k[0]]), float(lon[k[1]])), time.perf_counter() - t0


def own_rows() -> list[dict]:
    rows: list[dict] = []
    if DCF77.exists():
        fix, t_u = unseen_dcf77()
        (blat, blon), t_b = kiwi_baseline()
        rows.append(
            {
                "dataset": "kiwisdr-dcf77-2020-08-13",
                "figure": "TDOA fix error to DCF77 (default options)",
                "unseen": f"{_km(fix['lat'], fix['lon']):.2f} km (truth M² {_m2(fix):.2f}, "
                f"{'inside' if _m2(fix) < 5.991 else 'OUTSIDE'} the 95 % ellipse "
                f"{fix['ellipse95']['semi_major_m'] / 1e3:.1f} × "
                f"{fix['ellipse95']['semi_minor_m'] / 1e3:.1f} km), {t_u:.1f} s",
                "baseline": f"{_km(blat, blon):.2f} km (KiwiSDR-style 1 s cc + parabola + χ² map,"
                f" no ellipse), {t_b:.1f} s",
            }
        )
    rows += reader_rows()
    return rows


def reader_rows() -> list[dict]:
    import hashlib
    import warnings

    from unseen.sources import open_recording, read_sigmf

    rows = []
    logo = DATA / "sigmf-logo"
    if logo.exists():
        rec = read_sigmf(logo / "sigmf_logo.sigmf-meta", checksum=True)
        raw = (logo / "sigmf_logo.sigmf-data").read_bytes()
        want = np.frombuffer(raw, "<i2").reshape(-1, 2).T / 32768.0
        same = np.array_equal(rec.read().samples.real, want)
        sha = hashlib.sha512(raw).hexdigest()[:12]
        rows.append(
            {
                "dataset": "sigmf-logo",
                "figure": "reader: datatype, channels, samples, sha512, annotations",
                "unseen": f"{rec.datatype}, {rec.num_channels} ch, {rec.num_samples} samples, "
                f"checksum verified, {len(rec.annotations)} annotations, samples "
                f"{'identical' if same else 'DIFFER'}",
                "baseline": f"numpy int16 decode, sha512 {sha}… (hashlib)",
            }
        )
    rtl = DATA / "rtl433-433mhz"
    for p in sorted(rtl.glob("*.cu8")) if rtl.exists() else []:
        rec = open_recording(p, sample_rate_hz=250e3, center_freq_hz=433.92e6)
        c = np.frombuffer(p.read_bytes(), np.uint8).astype(np.float64)
        want = ((c[0::2] - 128) + 1j * (c[1::2] - 128)) / 128
        err = float(np.max(np.abs(rec.read().samples[0] - want)))
        rows.append(
            {
                "dataset": f"rtl433-433mhz/{p.name}",
                "figure": "reader: cu8 with --sample-rate-hz, max abs error vs numpy decode",
                "unseen": f"{rec.num_samples} samples, {err:.1e}",
                "baseline": "numpy (x − 128)/128",
            }
        )
    elo = DATA / "kiwisdr-eloran"
    for p in sorted(elo.glob("*.wav")) if elo.exists() else []:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rec = open_recording(p)
        nogps = any("not GNSS time" in str(w.message) for w in caught)
        rows.append(
            {
                "dataset": f"kiwisdr-eloran/{p.name[17:]}",
                "figure": "reader: GNSS state byte, fitted rate",
                "unseen": f"{'NO GNSS solution' if nogps else 'GNSS time'}, "
                f"{rec.sample_rate_hz:.3f} Hz",
                "baseline": "hcab14/TDoA rule: byte 255 = no solution",
            }
        )
    return rows


def collect() -> list[dict]:
    rows = []
    sys.path.insert(0, str(HERE))
    for path in sorted(HERE.glob("real_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
            rows += list(mod.rows())
        except Exception as exc:  # a broken module is a row, not a crash of the table
            rows.append(
                {"dataset": path.name, "figure": "error", "unseen": repr(exc), "baseline": ""}
            )
    return rows + own_rows()


def main() -> None:
    _common.header("bench/real.py")
    rows = collect()
    cols = ("dataset", "figure", "unseen", "baseline")
    print("| data set | figure | unseen | baseline/peer |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


if __name__ == "__main__":
    main()
