"""TDOA speed at real sample rates: `unseen tdoa` on two 10 s recordings at 2.4 MS/s, one core.

    .venv/bin/python bench/tdoa.py [--seconds 10] [--rate 2.4e6] [--rounds 3]

Writes two ci16_le SigMF recordings (a noise-like 1 MHz-wide signal, the second receiver 12.3
samples later, with core:datetime and core:geolocation) in a temporary folder, times the CLI as a
user runs it (`unseen tdoa A B --json`, child process pinned to one core, OMP/MKL threads 1) and
in process `measure` per method on the gridded blocks (and the CLI's CPU time: on a shared
machine wall time includes waiting for the core), beside the peer: scipy.signal.correlate
(FFT, full lags, integer peak) on the same blocks. BLAS threads 1 and glibc's allocator pinned
(bench/_common.py re-execs). Prints min/median/max over rounds and ratios.
Also times the former carrier estimate (np.convolve with the 50 ms boxcar, O(N·K)) on 0.1 s and
extrapolates it to the full length.
"""

from __future__ import annotations

import _common

if __name__ == "__main__":
    _common.pin()

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal

from _common import run, spread, unseen_cmd

DELAY_SAMPLES = 12.3


def _stats(ts: list[float]) -> str:
    return f"{spread(ts, 1, '{:.2f}')} s (min / median / max)"


def write_pair(folder: Path, seconds: float, fs: float) -> tuple[Path, Path, float]:
    """Two recordings of one band-limited noise signal, b = a delayed by DELAY_SAMPLES."""
    from unseen.sources import write_sigmf
    from unseen.tdoa.gcc import fractional_shift
    from unseen.types import Site

    n = int(seconds * fs)
    rng = np.random.default_rng(3)
    s = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    S = np.fft.fft(s)
    S[np.abs(np.fft.fftfreq(n)) > 0.5e6 / fs] = 0
    s = np.fft.ifft(S).astype(np.complex64)
    del S
    s *= 0.1 / np.sqrt(np.mean(np.abs(s) ** 2))
    b = fractional_shift(s, DELAY_SAMPLES).astype(np.complex64)
    a = s + (0.02 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)
    b += (0.02 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))).astype(np.complex64)
    t0 = 1_700_000_000 * 10**9
    sa = Site("A", 48.0, 11.0, 0.0)
    sb = Site("B", 48.05, 11.05, 0.0)
    pa = write_sigmf(folder / "A", a, fs, 433e6, datatype="ci16_le", utc_ns=t0, site=sa)
    pb = write_sigmf(folder / "B", b, fs, 433e6, datatype="ci16_le", utc_ns=t0, site=sb)
    # a[n] = s[n], b[n] = s[n - d]: b arrives d samples later, tdoa_ab = −d/fs
    return pa, pb, -DELAY_SAMPLES / fs


def cli_round(pa: Path, pb: Path, method: str) -> tuple[float, dict]:
    unseen, env = unseen_cmd()
    cmd = [*unseen, "tdoa", str(pa), str(pb), "--json", "--method", method]
    if hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *cmd]
    dt, cpu, out = run(cmd, env, stdout=subprocess.PIPE, text=True)
    return dt, cpu, json.loads(out.stdout.splitlines()[0])


def old_carrier_extrapolated(fs: float, n: int) -> float:
    """Seconds the former O(N·K) carrier estimate (np.convolve, K = 0.05·fs) would take on n."""
    m = int(0.1 * fs)
    k = round(0.05 * fs)
    x = np.random.default_rng(0).standard_normal(m)
    t0 = time.perf_counter()
    np.convolve(x, np.ones(k) / k, "same")
    dt = time.perf_counter() - t0
    # real and imaginary parts, two receivers, main + check method use it once each (carrier)
    return dt * (n / m) * 2 * 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=2.4e6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--methods", default="carrier,phat")
    args = ap.parse_args()
    _common.header("bench/tdoa.py")
    fs, n = args.rate, int(args.seconds * args.rate)
    from unseen.sources import open_recording
    from unseen.tdoa import measure, on_grid

    with tempfile.TemporaryDirectory() as tmp:
        pa, pb, truth = write_pair(Path(tmp), args.seconds, fs)
        print(f"two {args.seconds:g} s recordings at {fs / 1e6:g} MS/s ({n / 1e6:.1f} MS each)")
        recs = [open_recording(p) for p in (pa, pb)]
        t0 = time.perf_counter()
        blocks = on_grid(recs)
        t_grid = time.perf_counter() - t0
        print(f"on_grid (read + interpolate both, in process): {t_grid:.2f} s")
        xa, xb = blocks[0].samples[0], blocks[1].samples[0]
        peer_t = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            r = scipy.signal.correlate(xa, xb, mode="full", method="fft")
            lag = int(np.argmax(np.abs(r))) - (len(xb) - 1)
            peer_t.append(time.perf_counter() - t0)
            del r
        print(
            f"peer scipy.signal.correlate (fft, full, integer peak): {_stats(peer_t)}; "
            f"lag {lag} samples (truth {truth * fs:+.2f})"
        )
        for method in args.methods.split(","):
            ts = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                m = measure(blocks[0], blocks[1], method=method)
                ts.append(time.perf_counter() - t0)
            print(
                f"measure {method:8s} in process: {_stats(ts)}; ratio to peer "
                f"{np.median(ts) / np.median(peer_t):.1f}×; error "
                f"{(m.tdoa_s - truth) * 1e9:+.2f} ns (σ {m.sigma_s * 1e9:.2f} ns)"
            )
        del blocks, xa, xb, recs
        for method in args.methods.split(","):
            ts, cpus, row = [], [], {}
            for _ in range(args.rounds):
                dt, cpu, row = cli_round(pa, pb, method)
                ts.append(dt)
                cpus.append(cpu)
            print(
                f"CLI `unseen tdoa A B --json --method {method}` (one core, check envelope): "
                f"wall {_stats(ts)}; CPU time {_stats(cpus)} (= wall on an idle core); "
                f"error {(row['tdoa_s'] - truth) * 1e9:+.2f} ns "
                f"(σ {row['sigma_s'] * 1e9:.2f} ns)"
            )
        est = old_carrier_extrapolated(fs, n)
        print(
            f"former carrier estimate (np.convolve, 50 ms boxcar) extrapolated to these "
            f"recordings: {est:.0f} s ({est / 3600:.1f} h) for the carrier step alone"
        )


if __name__ == "__main__":
    main()
