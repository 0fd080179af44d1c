"""Share of frames in which the default source count reports a single source, against SNR,
with and without integrating the count over frames (issue 15 item 4, second half).

    PYTHONPATH=src python bench/doa_threshold.py [--frames 400] [--noise-frames 20000]

UCA-5 (radius 1 m, 94.2 MHz), one source at 40°, complex Gaussian source and noise, 4,096
snapshots per frame (the CLI default), frames processed in blocks of 200 (as the CLI's read
windows), fixed seeds. Per SNR: share of frames reporting ≥ 1 source by MDL, TW per frame
(integrate = 1) and TW with the default integration (8 frames); the reported bearings' RMSE over
the CRB, their RMSE over the median stated sigma (honesty: ≤ ~1 means sigma is not too small),
and the share within 3 sigma. Then false alarms on pure noise (frames with K ≥ 1).
"""

from __future__ import annotations

import _common

if __name__ == "__main__":
    _common.pin()

import argparse

import numpy as np

from unseen.doa import Array, DoaOptions, crb_single, estimate_raw

FREQ_HZ = 94.2e6
AZ = 40.0
BLOCK = 200


def frames(arr: Array, snr_db: float | None, n: int, count: int, seed: int) -> np.ndarray:
    """(M, count·n) complex64: one Gaussian source at AZ of per-element SNR snr_db (None: noise)."""
    rng = np.random.default_rng(seed)
    M = arr.num_elements
    T = n * count
    x = rng.standard_normal((M, T), np.float32) + 1j * rng.standard_normal((M, T), np.float32)
    x *= np.float32(np.sqrt(0.5))
    if snr_db is not None:
        a = arr.steering(AZ, FREQ_HZ)[:, 0].astype(np.complex64)
        s = rng.standard_normal(T, np.float32) + 1j * rng.standard_normal(T, np.float32)
        x += np.outer(a, s * np.float32(np.sqrt(0.5 * 10 ** (snr_db / 10))))
    return x.astype(np.complex64)


def run(x: np.ndarray, arr: Array, n: int, opts: DoaOptions):
    Ks, az, sg = [], [], []
    per = BLOCK * n
    for c in range(0, x.shape[1], per):
        k, a, s, _ = estimate_raw(x[:, c : c + per], arr, FREQ_HZ, n, opts)
        Ks.append(k)
        az.append(a[:, 0])
        sg.append(s[:, 0])
    return np.concatenate(Ks), np.concatenate(az), np.concatenate(sg)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--noise-frames", type=int, default=20000)
    ap.add_argument("--snr", type=float, nargs="*", default=[-20, -19, -18, -17, -16, -15, -14])
    a = ap.parse_args()
    _common.header("bench/doa_threshold.py")
    arr = Array.uca(5, 1.0)
    n = 4096
    rules = {
        "MDL": DoaOptions(criterion="mdl", integrate=1),
        "TW per frame (integrate 1)": DoaOptions(integrate=1),
        "TW, integrate 8 (default)": DoaOptions(),
    }
    rows = {k: [] for k in rules}
    acc = {"RMSE/CRB (K=1)": [], "RMSE/CRB (reported, default)": [],
           "RMSE/median sigma (default)": [], "within 3 sigma (default)": []}  # fmt: skip
    for i, snr in enumerate(a.snr):
        x = frames(arr, snr, n, a.frames, 1000 + i)
        crb = np.sqrt(crb_single(arr, AZ, FREQ_HZ, snr, n))
        _, az1, _ = run(x, arr, n, DoaOptions(num_sources=1))
        e1 = (az1 - AZ + 180) % 360 - 180
        acc["RMSE/CRB (K=1)"].append(f"{np.sqrt(np.mean(e1**2)) / crb:.2f}")
        for name, o in rules.items():
            K, az, sg = run(x, arr, n, o)
            rows[name].append(f"{100 * np.mean(K >= 1):.1f} %")
        ok = K >= 1
        e = ((az - AZ + 180) % 360 - 180)[ok]
        if ok.any():
            rmse = np.sqrt(np.mean(e**2))
            acc["RMSE/CRB (reported, default)"].append(f"{rmse / crb:.2f}")
            acc["RMSE/median sigma (default)"].append(f"{rmse / np.median(sg[ok]):.2f}")
            acc["within 3 sigma (default)"].append(f"{100 * np.mean(abs(e) <= 3 * sg[ok]):.1f} %")
        else:
            for k in list(acc)[1:]:
                acc[k].append("-")
    print(f"UCA-5, one source at {AZ}°, N = {n}, {a.frames} frames per SNR")
    print("| SNR per element (dB) | " + " | ".join(f"{s:g}" for s in a.snr) + " |")
    print("| --- |" + " ---: |" * len(a.snr))
    for name, r in {**acc, **rows}.items():
        print(f"| {name} | " + " | ".join(r) + " |")
    print("\nfalse alarms on pure noise (frames reporting >= 1 source):")
    for N in (8, 64, 4096):
        F = a.noise_frames if N < 4096 else max(a.noise_frames // 10, 400)
        x = frames(arr, None, N, F, 7 + N)
        for name, o in rules.items():
            K, _, _ = run(x, arr, N, o)
            k = int(np.sum(K >= 1))
            print(f"  N = {N:5d}, {name}: {k} of {F} ({100 * k / F:.3f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
