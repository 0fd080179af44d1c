"""Signals benchmarks: detection throughput, GCC-PHAT vs scipy.signal.correlate, streaming RSS.

    .venv/bin/python bench/signals.py [--gb 2]

Prints MS/s and ratios measured in this run. The streaming test writes a cf32 recording of
--gb GB in /tmp, runs `detect` over it in a child process (peak RSS: the child's VmHWM — not
getrusage, whose ru_maxrss survives exec and would report the parent's peak), deletes it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.signal

os.environ.setdefault("OMP_NUM_THREADS", "1")


def detection_throughput(seconds: float = 4.0, fs: float = 2.4e6) -> float:
    from unseen.detect import detect
    from unseen.sim import waveforms as w
    from unseen.types import IqBlock

    n = int(seconds * fs)
    rng = np.random.default_rng(0)
    t = np.arange(n) / fs
    x = 1e-3 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    x += 1e-2 * w.fm(n, fs, 3, deviation_hz=5e3) * np.exp(2j * np.pi * 2e5 * t)
    x += 1e-2 * np.exp(2j * np.pi * -4e5 * t)
    blk = IqBlock(x[None].astype(np.complex64), fs, 100e6)
    detect(blk)
    t0 = time.perf_counter()
    dets = detect(blk)
    dt = time.perf_counter() - t0
    rate = n / dt / 1e6
    print(
        f"detect: {n / 1e6:.1f} MS in {dt:.3f} s = {rate:.1f} MS/s "
        f"({rate / 2.4:.1f}× real time for 2.4 MS/s), {len(dets)} detections"
    )
    return rate


def gcc_vs_scipy(n: int = 1 << 20) -> None:
    from unseen.tdoa import measure
    from unseen.tdoa.gcc import correlate, cross_spectrum, fractional_shift

    rng = np.random.default_rng(1)
    s = rng.standard_normal(n + 64) + 1j * rng.standard_normal(n + 64)
    a = fractional_shift(s, 7.3)[32 : 32 + n] + 0.5 * rng.standard_normal(n)
    b = s[32 : 32 + n] + 0.5 * rng.standard_normal(n)
    fs = 1e6
    t0 = time.perf_counter()
    G, f = cross_spectrum(a, b, fs, weighting="phat")
    cr = correlate(G, f, fs, 100e-6)
    t_gcc = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = scipy.signal.correlate(a, b, mode="full", method="fft")
    lag = int(np.argmax(np.abs(r))) - (n - 1)
    t_sp = time.perf_counter() - t0
    t0 = time.perf_counter()
    measure(a, b, sample_rate_hz=fs, max_lag_s=100e-6, method="phat")
    t_meas = time.perf_counter() - t0
    print(
        f"gcc-phat 2^20 pair (with sub-sample refinement): {t_gcc * 1e3:.0f} ms, lag "
        f"{cr.peak_s * fs:.4f} samples (true 7.3); scipy.signal.correlate(fft): "
        f"{t_sp * 1e3:.0f} ms, lag {lag} (integer); ratio ours/scipy = {t_gcc / t_sp:.2f}; "
        f"full measure() incl. CRB and 8-segment scatter: {t_meas * 1e3:.0f} ms"
    )


def streaming_rss(gb: float) -> None:
    from unseen.sources import write_sigmf  # noqa: F401  (imported for parity of start-up)

    fd, path = tempfile.mkstemp(suffix=".cf32", dir="/tmp")
    os.close(fd)
    try:
        chunk = (np.random.default_rng(2).standard_normal(2 * (1 << 22)) * 0.01).astype(np.float32)
        t = np.arange(1 << 22) / 2.4e6
        tone = np.exp(2j * np.pi * 3e5 * t).astype(np.complex64) * 0.1
        chunk = (chunk.view(np.complex64) + tone).view(np.float32)
        nchunks = int(gb * 2**30 // chunk.nbytes)
        with open(path, "wb") as fh:
            for _ in range(nchunks):
                chunk.tofile(fh)
        size = os.path.getsize(path)
        code = (
            "import sys, time\n"
            "from unseen.sources import open_recording\n"
            "from unseen.detect import detect\n"
            "rec = open_recording(sys.argv[1], sample_rate_hz=2.4e6, center_freq_hz=1e8)\n"
            "t0 = time.perf_counter()\n"
            "d = detect(rec)\n"
            "dt = time.perf_counter() - t0\n"
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]\n"
            "print(rec.num_samples, dt, len(d), hwm.split()[1])\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, path], capture_output=True, text=True, check=True
        ).stdout.split()
        n, dt, nd, rss_kb = int(out[0]), float(out[1]), int(out[2]), int(out[3])
        print(
            f"stream+detect {size / 2**30:.2f} GiB ({n / 1e6:.0f} MS cf32): {dt:.1f} s = "
            f"{n / dt / 1e6:.1f} MS/s, {nd} detections, peak RSS {rss_kb / 1024:.0f} MB"
        )
    finally:
        os.unlink(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=2.0)
    args = ap.parse_args()
    detection_throughput()
    gcc_vs_scipy()
    streaming_rss(args.gb)


if __name__ == "__main__":
    main()
