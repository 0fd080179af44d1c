"""Signals benchmarks: detection vs scipy.signal.spectrogram, GCC-PHAT vs scipy.signal.correlate,
`unseen detect` as a user runs it (in memory-sized and streamed multi-GB recordings).

    .venv/bin/python bench/signals.py [--rounds 3] [--gb 2] [--only detect|gcc|stream|dcf77]

Every timed figure is min / median / max over `--rounds` rounds, the peer timed in the same
rounds (interleaved, so a load spike hits both), wall and CPU time (on a shared machine CPU time
is the steadier figure), with per-round ratios. BLAS threads 1 and glibc's allocator pinned
(bench/_common.py). The CLI figures run `unseen detect REC --json` in a child: whole run, and per
sample once started = (t(long) - t(short)) / (n(long) - n(short)). The streaming test writes a
cf32 recording of --gb GiB in /tmp, runs `unseen detect` on it (peak RSS from /usr/bin/time:
the child's own high-water mark) and deletes it.
"""

from __future__ import annotations

import _common

if __name__ == "__main__":
    _common.pin()

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.signal

from _common import interleave, ratios, run, spread, unseen_cmd

FS = 2.4e6


def _block(seconds: float) -> np.ndarray:
    """FM + CW + noise at 2.4 MS/s, complex64."""
    from unseen.sim import waveforms as w

    n = int(seconds * FS)
    rng = np.random.default_rng(0)
    t = np.arange(n) / FS
    x = 1e-3 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    x += 1e-2 * w.fm(n, FS, 3, deviation_hz=5e3) * np.exp(2j * np.pi * 2e5 * t)
    x += 1e-2 * np.exp(2j * np.pi * -4e5 * t)
    return x.astype(np.complex64)


def _line(name: str, t: dict, n: float, unit: str = "MS/s") -> None:
    print(
        f"  {name:<46} wall {spread(t['wall'], 1, '{:.3f}')} s, CPU "
        f"{spread(t['cpu'], 1, '{:.3f}')} s = "
        f"{spread([n / c / 1e6 for c in t['cpu']], 1, '{:.1f}')} {unit} of CPU"
    )


def detection(rounds: int, seconds: float = 4.0) -> None:
    from unseen.detect import detect
    from unseen.sources import write_sigmf
    from unseen.types import IqBlock

    x = _block(seconds)
    n = x.size
    blk = IqBlock(x[None], FS, 100e6)
    dets = detect(blk)
    t = interleave(
        {
            "detect": lambda: detect(blk),
            "spectrogram": lambda: scipy.signal.spectrogram(
                x, FS, window="hann", nperseg=1024, noverlap=512, return_onesided=False
            ),
        },
        rounds,
    )
    print(
        f"detect on a {seconds:.0f} s, 2.4 MS/s complex64 block in memory ({n / 1e6:.1f} MS, "
        f"{len(dets)} detections), {rounds} rounds interleaved, min / median / max:"
    )
    _line("unseen.detect.detect (in process)", t["detect"], n)
    _line("peer scipy.signal.spectrogram (nfft 1024, 50 %)", t["spectrogram"], n)
    print(
        f"  ratio detect / spectrogram time, per round: wall "
        f"{spread(ratios(t['detect']['wall'], t['spectrogram']['wall']), 1, '{:.2f}')}, CPU "
        f"{spread(ratios(t['detect']['cpu'], t['spectrogram']['cpu']), 1, '{:.2f}')}"
    )
    cmd, env = unseen_cmd()
    with tempfile.TemporaryDirectory() as tmp:
        short = x[: n // 20]
        big = write_sigmf(Path(tmp) / "long", x, FS, 100e6)
        small = write_sigmf(Path(tmp) / "short", short, FS, 100e6)
        run([*cmd, "detect", str(big), "--json"], env)  # page cache and .pyc warm, as a 2nd run
        wl, cl, ws, cs = [], [], [], []
        for _ in range(rounds):
            w, c, _ = run([*cmd, "detect", str(big), "--json"], env)
            wl.append(w)
            cl.append(c)
            w, c, _ = run([*cmd, "detect", str(small), "--json"], env)
            ws.append(w)
            cs.append(c)
    dn = n - short.size
    marg = [(a - b) / dn for a, b in zip(cl, cs, strict=True)]
    inproc = [c / n for c in t["detect"]["cpu"]]
    print(
        f"  `unseen detect REC.sigmf-meta --json` as a user runs it, whole run: wall "
        f"{spread(wl, 1, '{:.2f}')} s, CPU {spread(cl, 1, '{:.2f}')} s; "
        f"{short.size / 1e6:.2f} MS file (≈ start-up): CPU {spread(cs, 1, '{:.2f}')} s"
    )
    print(
        f"  CLI per sample once started (CPU, difference of the two files): "
        f"{spread([1e-6 / m for m in marg], 1, '{:.1f}')} MS/s; CLI / in-process CPU per "
        f"sample {spread(ratios(marg, inproc), 1, '{:.2f}')}"
    )


def gcc_vs_scipy(rounds: int, n: int = 1 << 20) -> None:
    from unseen.tdoa import measure
    from unseen.tdoa.gcc import fractional_shift, gcc

    rng = np.random.default_rng(1)
    s = rng.standard_normal(n + 64) + 1j * rng.standard_normal(n + 64)
    a = fractional_shift(s, 7.3)[32 : 32 + n] + 0.5 * rng.standard_normal(n)
    b = s[32 : 32 + n] + 0.5 * rng.standard_normal(n)
    a, b = a.astype(np.complex64), b.astype(np.complex64)  # IQ is complex64: both get the same
    fs = 1e6
    cr = gcc(a, b, fs, 100e-6)
    lag = int(np.argmax(np.abs(scipy.signal.correlate(a, b, mode="full", method="fft")))) - (n - 1)
    t = interleave(
        {
            "gcc": lambda: gcc(a, b, fs, 100e-6),
            "scipy": lambda: np.argmax(
                np.abs(scipy.signal.correlate(a, b, mode="full", method="fft"))
            ),
            "measure": lambda: measure(a, b, sample_rate_hz=fs, max_lag_s=100e-6, method="phat"),
        },
        rounds,
    )
    ms = "{:.0f}"
    print(
        f"GCC-PHAT, 2^20 complex64 pair, ±100 lags, {rounds} rounds interleaved, CPU ms "
        f"(wall ms) min / median / max:"
    )
    for k, what in (
        ("gcc", f"unseen gcc + sub-sample peak (lag {cr.peak_s * fs:.4f}, true 7.3)"),
        ("scipy", f"peer scipy.signal.correlate(fft) + argmax (lag {lag})"),
        ("measure", "unseen tdoa.measure (adds CRB, 8-segment scatter)"),
    ):
        print(f"  {what:<58} {spread(t[k]['cpu'], 1e3, ms)} ({spread(t[k]['wall'], 1e3, ms)})")
    print(
        f"  ratio gcc / scipy time, per round: CPU "
        f"{spread(ratios(t['gcc']['cpu'], t['scipy']['cpu']), 1, '{:.2f}')}, wall "
        f"{spread(ratios(t['gcc']['wall'], t['scipy']['wall']), 1, '{:.2f}')} "
        "(the CLI `unseen tdoa`: bench/tdoa.py)"
    )


def streaming(gb: float, rounds: int) -> None:
    fd, path = tempfile.mkstemp(suffix=".cf32", dir="/tmp")
    os.close(fd)
    try:
        chunk = (np.random.default_rng(2).standard_normal(2 * (1 << 22)) * 0.01).astype(np.float32)
        tone = np.exp(2j * np.pi * 3e5 * np.arange(1 << 22) / FS).astype(np.complex64) * 0.1
        chunk = (chunk.view(np.complex64) + tone).view(np.float32)
        with open(path, "wb") as fh:
            for _ in range(int(gb * 2**30 // chunk.nbytes)):
                chunk.tofile(fh)
        size = os.path.getsize(path)
        n = size // 8
        cmd, env = unseen_cmd()
        argv = [
            *cmd,
            "detect",
            path,
            "--sample-rate-hz",
            str(FS),
            "--center-freq-hz",
            "1e8",
            "--json",
        ]
        run(argv, env)  # the file into the page cache
        wall, cpu, rss = [], [], []
        for _ in range(rounds):
            w, c, _ = run(argv, env)
            _, mb = _common.peak_rss_mb(argv, env)
            wall.append(w)
            cpu.append(c)
            rss.append(mb)
    finally:
        os.unlink(path)
    print(
        f"`unseen detect` streaming a {size / 2**30:.2f} GiB cf32 file ({n / 1e6:.0f} MS) from "
        f"the page cache, as a user runs it, {rounds} rounds, min / median / max:"
    )
    print(
        f"  wall {spread(wall, 1, '{:.2f}')} s = {spread([n / w / 1e6 for w in wall], 1, '{:.0f}')}"
        f" MS/s; CPU {spread(cpu, 1, '{:.2f}')} s = "
        f"{spread([n / c / FS for c in cpu], 1, '{:.0f}')}× real time at 2.4 MS/s; "
        f"peak RSS {spread(rss, 1, '{:.0f}')} MB"
    )


def dcf77_multipath() -> None:
    """How far a sky-wave echo (relative amplitude β, excess delay d) moves the DCF77 phase-
    sequence arrival and the envelope TDOA: a receiver with the echo against one without."""
    import tempfile
    from pathlib import Path

    from unseen.sources import open_recording, write_sigmf
    from unseen.tdoa import measure
    from unseen.tdoa.dcf77 import arrivals
    from unseen.tdoa.sim import transmitted

    fs, up, n, t0 = 12_000.0, 8, 96_000, 1_600_000_000.3
    bits = [1, 0, 0, 1, 1, 0, 1, 0]
    t = t0 + np.arange(n * up) / (fs * up)

    def rx(tmp, name, beta, d):
        x = transmitted(t - 1e-3, bits) + (beta * transmitted(t - 1e-3 - d, bits) if beta else 0)
        x = scipy.signal.resample_poly(x, 1, up)[:n].astype(np.complex64)
        return open_recording(
            write_sigmf(Path(tmp) / name, x, fs, 77_500.0, utc_ns=round(t0 * 1e9))
        )

    with tempfile.TemporaryDirectory() as tmp:
        ref = rx(tmp, "ref", 0, 0)
        a_ref = arrivals(ref)
        print("dcf77 sky-wave echo → bias of the phase-sequence TOA and the envelope TDOA:")
        for beta in (0.2, -0.2, 0.2j):
            for d in (80e-6, 116e-6):
                r = rx(tmp, "echo", beta, d)
                pn = float(np.mean(arrivals(r).delay_s - a_ref.delay_s))
                env = measure(r.read(), ref.read(), method="envelope", max_lag_s=2e-3).tdoa_s
                print(
                    f"  β = {beta!s:>5}, d = {d * 1e6:3.0f} µs: phase sequence "
                    f"{pn * 1e6:+6.1f} µs, envelope {env * 1e6:+6.1f} µs"
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gb", type=float, default=2.0, help="size of the streamed recording")
    ap.add_argument("--only", choices=["detect", "gcc", "stream", "dcf77"], default=None)
    ap.add_argument("--dcf77-only", action="store_true", help="the same as --only dcf77")
    args = ap.parse_args()
    only = "dcf77" if args.dcf77_only else args.only
    _common.header("bench/signals.py")
    if only in (None, "dcf77"):
        dcf77_multipath()
    if only in (None, "detect"):
        detection(args.rounds)
    if only in (None, "gcc"):
        gcc_vs_scipy(args.rounds)
    if only in (None, "stream"):
        streaming(args.gb, args.rounds)
    print(_common.load() + " at the end")


if __name__ == "__main__":
    main()
